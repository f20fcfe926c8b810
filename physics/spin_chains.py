"""Exact sparse Hamiltonians of spin-1/2 chains, for exact-diagonalisation references.

Basis states are integers ``s`` in ``[0, 2**L)``; bit ``i`` of ``s`` is 1 when site ``i``
is up (``S^z_i = +1/2``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from tnkit.tree.kron import KronOperator

__all__ = [
    "heisenberg_hamiltonian",
    "HEISENBERG_OBC_L12_ENERGY",
    "long_range_ising_operator",
    "long_range_ising_initial",
    "long_range_ising_exact",
    "sigma_z_profile",
]

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


# ---------------------------------------------------------------------------------------------
# Long-range interacting Ising chain (test problem of the tree-tensor-network BUG integrators)
# ---------------------------------------------------------------------------------------------
#
# Local basis of every spin, shared with tnkit.KronOperator (mode 0 = most significant digit):
# index 0 is the "excited"/up state (sigma_z = +1, n = 1), index 1 the down state.
_PAULI_X = np.array([[0.0, 1.0], [1.0, 0.0]])
_PAULI_Z = np.array([[1.0, 0.0], [0.0, -1.0]])
#: n = (1 + sigma_z) / 2, the projector onto the excited state |0> = |up>.
_EXCITED = np.array([[1.0, 0.0], [0.0, 0.0]])


def _check_long_range_params(n_spins: Any, alpha: float) -> int:
    if isinstance(n_spins, bool) or not isinstance(n_spins, (int, np.integer)):
        raise ValueError(f"long-range Ising: n_spins must be an integer, got {n_spins!r}")
    if n_spins < 2:
        raise ValueError(f"long-range Ising: needs n_spins >= 2, got {n_spins}")
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"long-range Ising: alpha must be finite and >= 0, got {alpha}")
    return int(n_spins)


def long_range_ising_operator(
    n_spins: int = 16,
    omega: float = 1.0,
    delta: float = 1.0,
    nu: float = 2.0,
    alpha: float = 1.0,
) -> KronOperator:
    r"""Hamiltonian of the long-range interacting quantum Ising chain as a :class:`KronOperator`.

    .. math::
        H = \sum_{i=1}^{d} \left(\Omega\,\sigma^x_i + \Delta\,n_i\right)
            + \sum_{i<j} \frac{\nu}{|i-j|^{\alpha}}\, n_i n_j,
        \qquad n_i = \tfrac12 (1 + \sigma^z_i),

    the test problem of the tree-tensor-network BUG integrators of Ceruti, Kusch, Lubich
    and Sulz (parallel BUG for TTNs, arXiv:2412.00858) and of the TTNO construction of
    Sulz et al.; defaults ``Omega = Delta = 1``, ``nu = 2``, ``alpha = 1``, 16 spins.
    ``n_i`` is the projector onto the excited state, local basis index 0 (``sigma_z = +1``).
    Each unordered pair ``{i, j}`` is counted **once** with coupling ``nu / |i - j|**alpha``
    (equivalently ``(nu / 2) sum_{i != j}``), as in the authors' reference code, whose
    operator builder sums ``V_ij A_i A_j`` over ``i < j`` with ``V_ij = nu / |i - j|**alpha``.

    Parameters
    ----------
    n_spins : int
        Number of spins ``d >= 2``; the operator acts on tensors of shape ``(2,) * d``.
    omega, delta : float
        Transverse field ``Omega`` and detuning ``Delta``.
    nu : float
        Interaction strength.
    alpha : float
        Power-law exponent, ``>= 0`` (``0``: all-to-all with equal couplings).

    Returns
    -------
    KronOperator
        ``d`` one-site terms ``Omega sigma_x + Delta n`` plus ``d (d - 1) / 2`` couplings
        (none when ``nu == 0``).

    Raises
    ------
    ValueError
        ``n_spins < 2`` or not an integer, ``alpha < 0`` or not finite.

    Examples
    --------
    >>> h = long_range_ising_operator(3)
    >>> h.num_terms, h.shape
    (6, (8, 8))
    >>> dense = h.to_dense()
    >>> bool(np.allclose(dense, dense.conj().T))
    True
    >>> float(dense[0, 0])  # all spins excited: 3 * Delta + nu * (1 + 1 + 1/2)
    8.0
    """
    d = _check_long_range_params(n_spins, alpha)
    op = KronOperator([2] * d)
    local = omega * _PAULI_X + delta * _EXCITED
    for i in range(d):
        op.add({i: local})
    if nu != 0:
        for i in range(d):
            for j in range(i + 1, d):
                op.add({i: _EXCITED, j: _EXCITED}, coef=nu / float(j - i) ** alpha)
    return op


def long_range_ising_initial(n_spins: int = 16) -> np.ndarray:
    """Initial state of the long-range Ising test problem: every spin in local state 0.

    The authors' reference code starts from the product state whose leaf bases all carry
    ``[1, 0]`` as the selected basis vector, i.e. every spin in the excited state
    (``sigma_z = +1``, ``n_i = 1``) in the convention of :func:`long_range_ising_operator`.

    Parameters
    ----------
    n_spins : int
        Number of spins ``d >= 2``.

    Returns
    -------
    numpy.ndarray, shape (2,) * d, complex
        The normalised product state ``|0 0 ... 0>``.

    Examples
    --------
    >>> psi = long_range_ising_initial(3)
    >>> psi.shape, complex(psi[0, 0, 0]), float(np.linalg.norm(psi))
    ((2, 2, 2), (1+0j), 1.0)
    """
    d = _check_long_range_params(n_spins, 0.0)
    psi = np.zeros((2,) * d, dtype=complex)
    psi[(0,) * d] = 1.0
    return psi


def sigma_z_profile(psi: np.ndarray, d: int) -> np.ndarray:
    """<sigma_z_i> for all sites of a state vector of length 2**d (mode 0 most significant)."""
    prob = np.abs(psi) ** 2
    out = np.empty(d)
    for i in range(d):
        p = prob.reshape(2**i, 2, 2 ** (d - i - 1)).sum(axis=(0, 2))
        out[i] = p[0] - p[1]
    return out


def long_range_ising_exact(
    n_spins: int = 16,
    times: Sequence[float] | np.ndarray = (1.0,),
    **params: float,
) -> dict[str, np.ndarray]:
    """Exact time evolution ``psi(t) = exp(-i t H) psi(0)`` of the long-range Ising problem.

    Uses the sparse Hamiltonian (:meth:`KronOperator.to_sparse`) and Krylov/Taylor action
    of the exponential (:func:`scipy.sparse.linalg.expm_multiply`), stepping from one
    requested time to the next; ``psi(0)`` is :func:`long_range_ising_initial`.

    Parameters
    ----------
    n_spins : int
        Number of spins (``2**n_spins`` amplitudes are stored per time; 16 spins take a
        few seconds).
    times : sequence of float
        Output times (any order; the evolution starts at ``t = 0``).
    **params
        ``omega``, ``delta``, ``nu``, ``alpha`` for :func:`long_range_ising_operator`.

    Returns
    -------
    dict
        ``"times"`` (as given, float array), ``"states"`` (``(len(times), 2**d)`` complex;
        reshape a row to ``(2,) * d``), ``"sz"`` (``(len(times), d)``, ``<sigma_z_i>(t)``)
        and ``"norm"`` (``(len(times),)``, should stay 1).

    Examples
    --------
    >>> ref = long_range_ising_exact(4, [0.0, 0.5])
    >>> ref["states"].shape, ref["sz"].shape
    ((2, 16), (2, 4))
    >>> ref["sz"][0].tolist()
    [1.0, 1.0, 1.0, 1.0]
    >>> bool(np.allclose(ref["norm"], 1.0))
    True
    """
    d = _check_long_range_params(n_spins, float(params.get("alpha", 1.0)))
    unknown = set(params) - {"omega", "delta", "nu", "alpha"}
    if unknown:
        raise ValueError(f"long_range_ising_exact: unknown parameters {sorted(unknown)}")
    times = np.asarray(times, dtype=float).reshape(-1)
    if not np.all(np.isfinite(times)):
        raise ValueError("long_range_ising_exact: times must be finite")
    gen = (-1j * long_range_ising_operator(d, **params).to_sparse()).tocsr()
    psi = long_range_ising_initial(d).reshape(-1)
    states = np.empty((times.size, 2**d), dtype=complex)
    t_now = 0.0
    for k in np.argsort(times, kind="stable"):
        dt = times[k] - t_now
        if dt != 0.0:
            psi = scipy.sparse.linalg.expm_multiply(gen * dt, psi)
            t_now = times[k]
        states[k] = psi
    sz = np.array([sigma_z_profile(s, d) for s in states]).reshape(times.size, d)
    return {"times": times, "states": states, "sz": sz, "norm": np.linalg.norm(states, axis=1)}
