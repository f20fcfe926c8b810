"""Exact sparse Hamiltonians of spin-1/2 chains, for exact-diagonalisation references.

Basis states are integers ``s`` in ``[0, 2**L)``; bit ``i`` of ``s`` is 1 when site ``i``
is up (``S^z_i = +1/2``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

__all__ = ["heisenberg_hamiltonian", "HEISENBERG_OBC_L12_ENERGY"]

#: Ground-state energy of the S=1/2 Heisenberg open chain with L=12, J=1 (exact diagonalisation).
HEISENBERG_OBC_L12_ENERGY = -5.142090632841


def heisenberg_hamiltonian(
    length: int,
    *,
    coupling: float = 1.0,
    anisotropy: float = 1.0,
    field: float = 0.0,
    periodic: bool = False,
) -> scipy.sparse.csr_array:
    r"""XXZ Heisenberg chain as a sparse matrix in the :math:`S^z` product basis.

    .. math::
        H = J \sum_{\langle i j \rangle} \left[\tfrac12 (S^+_i S^-_j + S^-_i S^+_j)
            + \Delta S^z_i S^z_j\right] - h \sum_i S^z_i

    Parameters
    ----------
    length : int
        Number of sites ``L`` (dimension ``2**L``; ``L <= 24``).
    coupling : float
        Exchange ``J`` (positive: antiferromagnet).
    anisotropy : float
        ``Delta``; 1 is the isotropic Heisenberg model.
    field : float
        Longitudinal field ``h``.
    periodic : bool
        Add the bond ``(L-1, 0)``.

    Returns
    -------
    scipy.sparse.csr_array, shape (2**L, 2**L)
        Real symmetric Hamiltonian.

    Examples
    --------
    >>> h = heisenberg_hamiltonian(2)
    >>> sorted(np.linalg.eigvalsh(h.toarray()).round(6).tolist())
    [-0.75, 0.25, 0.25, 0.25]
    """
    if not (2 <= length <= 24):
        raise ValueError(f"heisenberg_hamiltonian: length must be in [2, 24], got {length}")
    dim = 1 << length
    states = np.arange(dim, dtype=np.int64)
    bonds = [(i, i + 1) for i in range(length - 1)]
    if periodic and length > 2:
        bonds.append((length - 1, 0))
    diag = np.zeros(dim)
    rows, cols, vals = [states], [states], []
    for i, j in bonds:
        bi = (states >> i) & 1
        bj = (states >> j) & 1
        diag += coupling * anisotropy * (bi - 0.5) * (bj - 0.5)
        flip = bi != bj
        src = states[flip]
        rows.append(src ^ ((1 << i) | (1 << j)))
        cols.append(src)
        vals.append(np.full(src.shape[0], 0.5 * coupling))
    if field:
        for i in range(length):
            diag -= field * (((states >> i) & 1) - 0.5)
    data = np.concatenate([diag, *vals])
    h = scipy.sparse.coo_array((data, (np.concatenate(rows), np.concatenate(cols))), shape=(dim, dim))
    return h.tocsr()
