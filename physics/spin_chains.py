"""Exact Hamiltonians of spin-1/2 chains, for exact-diagonalisation references.

Conventions
-----------
The same as :mod:`tnkit.mps.models` (the README's "Conventions" section states them once),
so that a vector or matrix from here compares entry by entry with ``MPS.to_dense`` and
``MPO.to_dense`` of a model built there:

* basis index 0 of a site is up (``S^z = +1/2``, ``sigma^z = +1``), index 1 is down;
* a chain state is an integer ``s`` in ``[0, 2**L)`` whose binary digits are the sites,
  site 0 the most significant (bit ``L - 1 - i`` of ``s`` is site ``i``, and it is 0 when
  site ``i`` is up) — the Kronecker order of :class:`~tnkit.tree.kron.KronOperator` and
  of the MPS/MPO dense forms;
* a longitudinal field enters as ``-h sum_i S^z_i`` (``h > 0`` favours up);
* the Heisenberg/XXZ parameters are ``J`` (exchange), ``delta`` (anisotropy) and ``h``
  (field), as in :func:`tnkit.mps.models.heisenberg`: the letters of the textbook
  Hamiltonian, so the code reads like the formula. The long-range Ising problem keeps the
  letters of the paper it reproduces (``omega``, ``nu``, ``alpha``), with its detuning
  spelled out as ``detuning`` so that ``delta`` means the anisotropy everywhere.

Examples
--------
>>> from tnkit.mps import models
>>> dense = heisenberg_hamiltonian(4, J=0.7, delta=0.3, h=0.2).toarray()
>>> bool(np.allclose(dense, models.heisenberg(4, J=0.7, delta=0.3, h=0.2).to_dense()))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from tnkit.mps.models import pauli
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
    J: float = 1.0,
    delta: float = 1.0,
    h: float = 0.0,
    *,
    periodic: bool = False,
) -> scipy.sparse.csr_array:
    r"""XXZ Heisenberg chain as a sparse matrix in the :math:`S^z` product basis.

    .. math::
        H = J \sum_{\langle i j \rangle} \left[\tfrac12 (S^+_i S^-_j + S^-_i S^+_j)
            + \Delta S^z_i S^z_j\right] - h \sum_i S^z_i

    The same Hamiltonian, parameters and basis order as :func:`tnkit.mps.models.heisenberg`
    (spin 1/2), built directly in sparse form for chains too long for a dense matrix.

    Parameters
    ----------
    length : int
        Number of sites ``L`` (dimension ``2**L``; ``L <= 24``).
    J : float
        Exchange (positive: antiferromagnet).
    delta : float
        Anisotropy ``Delta``; 1 is the isotropic Heisenberg model.
    h : float
        Longitudinal field; ``h > 0`` favours up spins.
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
    >>> float(heisenberg_hamiltonian(2, h=1.0)[0, 0])  # both up (state 0): J/4 - h
    -0.75
    """
    if not (2 <= length <= 24):
        raise ValueError(f"heisenberg_hamiltonian: length must be in [2, 24], got {length}")
    dim = 1 << length
    states = np.arange(dim, dtype=np.int64)
    bonds = [(i, i + 1) for i in range(length - 1)]
    if periodic and length > 2:
        bonds.append((length - 1, 0))

    def down(site: int) -> np.ndarray:
        # 1 where the site is down: site 0 is the most significant bit.
        return (states >> (length - 1 - site)) & 1

    diag = np.zeros(dim)
    rows, cols, vals = [states], [states], []
    for i, j in bonds:
        di, dj = down(i), down(j)
        diag += J * delta * (0.5 - di) * (0.5 - dj)
        src = states[di != dj]
        rows.append(src ^ ((1 << (length - 1 - i)) | (1 << (length - 1 - j))))
        cols.append(src)
        vals.append(np.full(src.shape[0], 0.5 * J))
    if h:
        for i in range(length):
            diag -= h * (0.5 - down(i))
    data = np.concatenate([diag, *vals])
    mat = scipy.sparse.coo_array((data, (np.concatenate(rows), np.concatenate(cols))), shape=(dim, dim))
    return mat.tocsr()


# ---------------------------------------------------------------------------------------------
# Long-range interacting Ising chain (test problem of the tree-tensor-network BUG integrators)
# ---------------------------------------------------------------------------------------------
#
# The Pauli matrices of tnkit.mps.models, so the local basis is the one MPS/MPO use by
# construction: index 0 is the "excited"/up state (sigma_z = +1, n = 1), index 1 down.
_PAULI = pauli()
#: n = (1 + sigma_z) / 2, the projector onto the excited state |0> = |up>.
_EXCITED = (_PAULI["id"] + _PAULI["z"]) / 2


def _check_long_range_params(length: Any, alpha: float) -> int:
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)):
        raise ValueError(f"long-range Ising: length must be an integer, got {length!r}")
    if length < 2:
        raise ValueError(f"long-range Ising: needs length >= 2, got {length}")
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"long-range Ising: alpha must be finite and >= 0, got {alpha}")
    return int(length)


def long_range_ising_operator(
    length: int = 16,
    omega: float = 1.0,
    detuning: float = 1.0,
    nu: float = 2.0,
    alpha: float = 1.0,
) -> KronOperator:
    r"""Hamiltonian of the long-range interacting quantum Ising chain as a :class:`KronOperator`.

    .. math::
        H = \sum_{i=1}^{L} \left(\Omega\,\sigma^x_i + \Delta\,n_i\right)
            + \sum_{i<j} \frac{\nu}{|i-j|^{\alpha}}\, n_i n_j,
        \qquad n_i = \tfrac12 (1 + \sigma^z_i),

    the test problem of the tree-tensor-network BUG integrators of Ceruti, Kusch, Lubich
    and Sulz (parallel BUG for TTNs, arXiv:2412.00858) and of the TTNO construction of
    Sulz et al.; defaults ``Omega = Delta = 1``, ``nu = 2``, ``alpha = 1``, 16 spins.
    The detuning ``Delta`` is the argument ``detuning`` (``delta`` is the XXZ anisotropy in
    this package). ``n_i`` is the projector onto the excited state, local basis index 0
    (up, ``sigma_z = +1``), as everywhere in tnkit and physics.
    Each unordered pair ``{i, j}`` is counted **once** with coupling ``nu / |i - j|**alpha``
    (equivalently ``(nu / 2) sum_{i != j}``), as in the authors' reference code, whose
    operator builder sums ``V_ij A_i A_j`` over ``i < j`` with ``V_ij = nu / |i - j|**alpha``.

    Parameters
    ----------
    length : int
        Number of spins ``L >= 2``; the operator acts on tensors of shape ``(2,) * L``.
    omega : float
        Transverse field (Rabi frequency) ``Omega``.
    detuning : float
        Detuning ``Delta``, the coefficient of ``n_i``.
    nu : float
        Interaction strength.
    alpha : float
        Power-law exponent, ``>= 0`` (``0``: all-to-all with equal couplings).

    Returns
    -------
    KronOperator
        ``L`` one-site terms ``Omega sigma_x + Delta n`` plus ``L (L - 1) / 2`` couplings
        (none when ``nu == 0``).

    Raises
    ------
    ValueError
        ``length < 2`` or not an integer, ``alpha < 0`` or not finite.

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
    d = _check_long_range_params(length, alpha)
    op = KronOperator([2] * d)
    local = omega * _PAULI["x"] + detuning * _EXCITED
    for i in range(d):
        op.add({i: local})
    if nu != 0:
        for i in range(d):
            for j in range(i + 1, d):
                op.add({i: _EXCITED, j: _EXCITED}, coef=nu / float(j - i) ** alpha)
    return op


def long_range_ising_initial(length: int = 16) -> np.ndarray:
    """Initial state of the long-range Ising test problem: every spin in local state 0.

    The authors' reference code starts from the product state whose leaf bases all carry
    ``[1, 0]`` as the selected basis vector, i.e. every spin in the excited state
    (``sigma_z = +1``, ``n_i = 1``) in the convention of :func:`long_range_ising_operator`.

    Parameters
    ----------
    length : int
        Number of spins ``L >= 2``.

    Returns
    -------
    numpy.ndarray, shape (2,) * L, complex
        The normalised product state ``|0 0 ... 0>``.

    Examples
    --------
    >>> psi = long_range_ising_initial(3)
    >>> psi.shape, complex(psi[0, 0, 0]), float(np.linalg.norm(psi))
    ((2, 2, 2), (1+0j), 1.0)
    """
    d = _check_long_range_params(length, 0.0)
    psi = np.zeros((2,) * d, dtype=complex)
    psi[(0,) * d] = 1.0
    return psi


def sigma_z_profile(psi: np.ndarray, length: int) -> np.ndarray:
    """``<sigma^z_i>`` at every site of a normalised state vector of ``2**length`` amplitudes.

    Parameters
    ----------
    psi : numpy.ndarray
        State vector, any shape with ``2**length`` entries; site 0 is the most significant
        digit and local index 0 is up (the conventions of :mod:`tnkit.mps.models`).
    length : int
        Number of sites.

    Returns
    -------
    numpy.ndarray, shape (length,)
        ``P(up) - P(down)`` per site (twice ``<S^z_i>``).

    Examples
    --------
    >>> import tnkit
    >>> up_down_up = tnkit.MPS.product([0, 1, 0], local_dim=2).to_dense()
    >>> sigma_z_profile(up_down_up, 3).tolist()
    [1.0, -1.0, 1.0]
    """
    prob = np.abs(psi) ** 2
    out = np.empty(length)
    for i in range(length):
        p = prob.reshape(2**i, 2, 2 ** (length - i - 1)).sum(axis=(0, 2))
        out[i] = p[0] - p[1]
    return out


def long_range_ising_exact(
    length: int = 16,
    times: Sequence[float] | np.ndarray = (1.0,),
    **params: float,
) -> dict[str, np.ndarray]:
    """Exact time evolution ``psi(t) = exp(-i t H) psi(0)`` of the long-range Ising problem.

    Uses the sparse Hamiltonian (:meth:`KronOperator.to_sparse`) and Krylov/Taylor action
    of the exponential (:func:`scipy.sparse.linalg.expm_multiply`), stepping from one
    requested time to the next; ``psi(0)`` is :func:`long_range_ising_initial`.

    Parameters
    ----------
    length : int
        Number of spins (``2**length`` amplitudes are stored per time; 16 spins take a
        few seconds).
    times : sequence of float
        Output times (any order; the evolution starts at ``t = 0``).
    **params
        ``omega``, ``detuning``, ``nu``, ``alpha`` for :func:`long_range_ising_operator`.

    Returns
    -------
    dict
        ``"times"`` (as given, float array), ``"states"`` (``(len(times), 2**L)`` complex;
        reshape a row to ``(2,) * L``), ``"sz"`` (``(len(times), L)``, ``<sigma_z_i>(t)``)
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
    d = _check_long_range_params(length, float(params.get("alpha", 1.0)))
    unknown = set(params) - {"omega", "detuning", "nu", "alpha"}
    if unknown:
        hint = " ('delta' is now 'detuning')" if "delta" in unknown else ""
        raise ValueError(f"long_range_ising_exact: unknown parameters {sorted(unknown)}{hint}")
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
