"""Built-in lattice models as MPOs (with the :class:`~tnkit.OpSum` they come from).

Conventions
-----------
One spin convention holds across the package and the models built on it (stated once in
the README, "Conventions"), so that states and operators from different builders compare
entry by entry:

* **Local basis.** Spin-``s`` sites use ``|m = s>, |m = s-1>, ..., |m = -s>``: index 0 is
  "up", and ``S^z = diag(s, s-1, ..., -s)``; for ``s = 1/2`` the Pauli ``Z`` is
  ``diag(1, -1)``. Index 0 = up is what quimb and ITensor use, and it makes the Néel
  product state ``[0, 1, 0, 1, ...]`` start with an up spin.
* **Chain basis.** Dense vectors and matrices (``MPS.to_dense``, ``MPO.to_dense``,
  :class:`~tnkit.tree.kron.KronOperator`) order sites as Kronecker factors, site 0 the
  most significant digit.
* **Signs.** A longitudinal field enters as ``-h sum_i S^z_i``, so ``h > 0`` favours up
  spins and gives a positive magnetisation; a positive exchange ``J`` is antiferromagnetic.
* **Names.** ``J`` (exchange), ``delta`` (anisotropy, ``J_z = J * delta``) and ``h``
  (field): the letters of the textbook XXZ Hamiltonian
  ``J sum (S^x S^x + S^y S^y + Delta S^z S^z) - h sum S^z`` (quimb's ``ham_XXZ`` also
  calls the anisotropy ``delta``), short enough to read like the formula; every model
  here uses them, and the exact-diagonalisation chains built on tnkit use the same ones.

Examples
--------
>>> import numpy as np
>>> h = heisenberg(4)
>>> e = np.linalg.eigvalsh(h.to_dense())
>>> round(float(e[0]), 10)
-1.6160254038
>>> spin_operators(0.5)["z"].diagonal().tolist()  # index 0 is up
[0.5, -0.5]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tnkit.mps.mpo import MPO
from tnkit.mps.mps import _target
from tnkit.mps.opsum import OpSum

__all__ = [
    "spin_operators",
    "pauli",
    "heisenberg",
    "xxz",
    "tfim",
    "long_range_ising",
    "fit_exponentials",
    "total_sz",
]


def spin_operators(spin: float = 0.5) -> dict[str, np.ndarray]:
    """``{"z", "+", "-", "x", "y", "id"}`` spin-``s`` matrices (``y`` complex).

    Parameters
    ----------
    spin : float
        ``s``, a positive multiple of 1/2; the matrices are ``(2s + 1) x (2s + 1)`` in the
        basis ``m = s, s - 1, ..., -s`` (index 0 is the highest ``m``, "up").

    Examples
    --------
    >>> spin_operators(1.0)["z"].diagonal().tolist()
    [1.0, 0.0, -1.0]
    """
    twice = round(2 * spin)
    if twice < 1 or abs(2 * spin - twice) > 1e-12:
        raise ValueError(f"spin must be a positive multiple of 1/2, got {spin}")
    s = twice / 2
    m = s - np.arange(twice + 1)
    sz = np.diag(m)
    sp = np.zeros((twice + 1, twice + 1))
    for k in range(1, twice + 1):
        # <m+1|S+|m> = sqrt(s(s+1) - m(m+1)), with |m> at index k and |m+1> at k-1.
        sp[k - 1, k] = np.sqrt(s * (s + 1) - m[k] * (m[k] + 1))
    sm = sp.T.copy()
    return {"z": sz, "+": sp, "-": sm, "x": (sp + sm) / 2, "y": (sp - sm) / 2j, "id": np.eye(twice + 1)}


def pauli() -> dict[str, np.ndarray]:
    """Pauli matrices ``{"x", "y", "z", "id"}`` in the basis (up, down)."""
    return {
        "x": np.array([[0.0, 1.0], [1.0, 0.0]]),
        "y": np.array([[0.0, -1j], [1j, 0.0]]),
        "z": np.array([[1.0, 0.0], [0.0, -1.0]]),
        "id": np.eye(2),
    }


def _check_length(length: int, minimum: int = 2) -> int:
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < minimum:
        raise ValueError(f"need an integer number of sites >= {minimum}, got {length!r}")
    return int(length)


def heisenberg(
    length: int,
    J: float = 1.0,
    delta: float = 1.0,
    h: float = 0.0,
    *,
    spin: float = 0.5,
    periodic: bool = False,
    like: Any = None,
    dtype: str | None = None,
) -> MPO:
    r"""Heisenberg / XXZ chain of spin-``s`` sites.

    .. math::
        H = J \sum_{\langle ij \rangle} \left[ S^x_i S^x_j + S^y_i S^y_j + \Delta S^z_i S^z_j \right]
            - h \sum_i S^z_i

    built from ``S^+ S^- / 2 + S^- S^+ / 2`` so it stays real. Minimal MPO bond
    dimension 5 (open chain). Basis and signs follow the module's conventions.

    Parameters
    ----------
    length : int
        Number of sites ``L >= 2``.
    J : float
        Exchange (positive: antiferromagnet).
    delta : float
        Anisotropy ``Delta``: the ``S^z S^z`` coupling is ``J * delta``; 1 is the isotropic chain.
    h : float
        Longitudinal field; ``h > 0`` favours up spins.
    spin : float
        Spin ``s`` of every site (a positive multiple of 1/2).
    periodic : bool
        Add the bond ``(L-1, 0)`` (for ``L > 2``).
    like : array, optional
        An array of the library and device the MPO should live on (default NumPy).
    dtype : str, optional
        Name of the dtype (default ``"float64"``).

    Returns
    -------
    MPO
        With the :class:`~tnkit.OpSum` it was built from as ``.opsum``.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linalg.eigvalsh(heisenberg(2, delta=0.5).to_dense())
    >>> e.round(6).tolist()  # singlet -J/2 - J delta/4, triplet m = +-1 at J delta/4, m = 0 at J/2 - J delta/4
    [-0.625, 0.125, 0.125, 0.375]
    """
    L = _check_length(length)
    ops = spin_operators(spin)
    terms = OpSum(ops["z"].shape[0], L)
    bonds = [(i, i + 1) for i in range(L - 1)] + ([(L - 1, 0)] if periodic and L > 2 else [])
    jz = J * delta
    for i, j in bonds:
        if J:
            terms.add(J / 2, (ops["+"], i), (ops["-"], j))
            terms.add(J / 2, (ops["-"], i), (ops["+"], j))
        if jz:
            terms.add(jz, (ops["z"], i), (ops["z"], j))
    if h:
        for i in range(L):
            terms.add(-h, (ops["z"], i))
    return MPO.from_opsum(terms, like=like, dtype=dtype)


def xxz(length: int, J: float = 1.0, delta: float = 1.0, h: float = 0.0, **kwargs: Any) -> MPO:
    """XXZ chain: the same Hamiltonian as :func:`heisenberg`, under the name the anisotropic case goes by.

    Parameters
    ----------
    length, J, delta, h
        As in :func:`heisenberg`; ``**kwargs`` (``spin``, ``periodic``, ``like``,
        ``dtype``) too.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = xxz(4, delta=0.5, h=0.3), heisenberg(4, delta=0.5, h=0.3)
    >>> bool(np.array_equal(a.to_dense(), b.to_dense()))
    True
    """
    return heisenberg(length, J=J, delta=delta, h=h, **kwargs)


def tfim(
    length: int,
    J: float = 1.0,
    h: float = 1.0,
    *,
    periodic: bool = False,
    like: Any = None,
    dtype: str | None = None,
) -> MPO:
    r"""Transverse-field Ising chain ``H = -J sum Z_i Z_{i+1} - h sum X_i`` (Pauli matrices).

    Critical at ``J = h``. MPO bond dimension 3.

    Parameters
    ----------
    length : int
        Number of sites ``L >= 2``.
    J : float
        Ising coupling (positive: ferromagnet).
    h : float
        Transverse field.
    periodic : bool
        Add the bond ``(L-1, 0)`` (for ``L > 2``).
    like : array, optional
        An array of the library and device the MPO should live on (default NumPy).
    dtype : str, optional
        Name of the dtype (default ``"float64"``).

    Returns
    -------
    MPO
        With the :class:`~tnkit.OpSum` it was built from as ``.opsum``.

    Examples
    --------
    >>> tfim(4, h=0.5).bond_dims
    [3, 3, 3]
    """
    L = _check_length(length)
    p = pauli()
    terms = OpSum(2, L)
    bonds = [(i, i + 1) for i in range(L - 1)] + ([(L - 1, 0)] if periodic and L > 2 else [])
    for i, j in bonds:
        terms.add(-J, (p["z"], i), (p["z"], j))
    for i in range(L):
        terms.add(-h, (p["x"], i))
    return MPO.from_opsum(terms, like=like, dtype=dtype)


def fit_exponentials(func: Any, length: int, n_exp: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Fit ``f(r) ~ sum_k c_k lam_k**r`` for ``r = 1 .. length - 1`` by the matrix-pencil
    method (Hua & Sarkar 1990) with a least-squares solve for the weights.

    Returns ``(c, lam, max_abs_error)``; complex pairs are allowed and come out
    conjugate, so the fitted couplings are real.

    Parameters
    ----------
    func : callable
        ``f(r)`` for an integer array ``r``.
    length : int
        Chain length; distances ``1 .. length - 1`` are fitted.
    n_exp : int
        Number of exponentials.
    """
    r = np.arange(1, length, dtype=float)
    f = np.asarray([func(x) for x in r], dtype=float)
    n = f.shape[0]
    if n_exp < 1 or n_exp > n // 2:
        raise ValueError(f"fit_exponentials: n_exp must be in [1, {n // 2}] for {length} sites, got {n_exp}")
    rows = n - n_exp
    hankel = np.array([f[i : i + n_exp + 1] for i in range(rows)])
    # Dominant n_exp-dimensional signal subspace, then the pencil's eigenvalues.
    u, s, vh = np.linalg.svd(hankel, full_matrices=False)
    v = vh[:n_exp].conj().T
    v1, v2 = v[:-1], v[1:]
    lam = np.linalg.eigvals(np.linalg.pinv(v1) @ v2)
    basis = lam[None, :] ** r[:, None]
    c = np.linalg.lstsq(basis, f.astype(complex), rcond=None)[0]
    fitted = (basis @ c).real
    return c, lam, float(np.max(np.abs(fitted - f)))


def long_range_ising(
    length: int,
    J: float = 1.0,
    h: float = 1.0,
    *,
    alpha: float | None = None,
    decay: float | None = None,
    n_exp: int = 6,
    like: Any = None,
    dtype: str | None = None,
) -> MPO:
    r"""Long-range transverse-field Ising chain

    .. math:: H = -J \sum_{i<j} f(j - i) Z_i Z_j - h \sum_i X_i

    with ``f(r) = decay**(r-1)`` (exponential; exact MPO of bond dimension 3) or
    ``f(r) = r**(-alpha)`` (power law, fitted by ``n_exp`` exponentials; bond
    dimension ``n_exp + 2``). The attached :class:`OpSum` holds the couplings the
    MPO represents (fitted ones for a power law); ``mpo.fit_error`` is the largest
    coupling error of the fit.

    Parameters
    ----------
    length : int
        Number of sites ``L >= 2``.
    J : float
        Coupling scale (positive: ferromagnet).
    h : float
        Transverse field.
    alpha : float, optional
        Power-law exponent (> 0). Give exactly one of ``alpha`` and ``decay``.
    decay : float, optional
        Exponential decay per site, ``0 < |decay| < 1``.
    n_exp : int
        Exponentials fitted to a power law (capped at ``(L - 1) // 2``).
    like : array, optional
        An array of the library and device the MPO should live on (default NumPy).
    dtype : str, optional
        Name of the dtype (default ``"float64"``).

    Returns
    -------
    MPO
        With ``.opsum`` and ``.fit_error``.
    """
    L = _check_length(length)
    if (alpha is None) == (decay is None):
        raise ValueError("long_range_ising: give exactly one of alpha (power law) or decay (exponential)")
    if decay is not None:
        if not (0 < abs(decay) < 1):
            raise ValueError(f"long_range_ising: need 0 < |decay| < 1, got {decay}")
        coeffs, lams, err = np.array([1.0 / decay]), np.array([decay]), 0.0
    elif alpha is not None:  # always true here; spelled out so type checkers narrow it
        if alpha <= 0:
            raise ValueError(f"long_range_ising: alpha must be positive, got {alpha}")
        k = min(n_exp, (L - 1) // 2) if L > 2 else 1
        exponent = -alpha
        coeffs, lams, err = (
            fit_exponentials(lambda r: r**exponent, L, k) if L > 2 else (np.array([1.0]), np.array([1.0]), 0.0)
        )
    p = pauli()
    cplx = bool(np.abs(np.imag(lams)).max() > 1e-14)
    if not cplx:
        lams, coeffs = np.real(lams), np.real(coeffs)
    dt = np.complex128 if cplx else np.float64
    K = lams.shape[0]
    D = K + 2
    tensors = []
    for i in range(L):
        w = np.zeros((D, 2, 2, D), dtype=dt)
        w[0, :, :, 0] = np.eye(2)
        w[D - 1, :, :, D - 1] = np.eye(2)
        w[0, :, :, D - 1] = -h * p["x"]
        for k in range(K):
            w[0, :, :, 1 + k] = lams[k] * p["z"]  # open a string: Z_i with weight lam
            w[1 + k, :, :, 1 + k] = lams[k] * np.eye(2)  # carry: lam per site
            w[1 + k, :, :, D - 1] = -J * coeffs[k] * p["z"]  # close: coefficient c_k
        if i == 0:
            w = w[:1]
        if i == L - 1:
            w = w[..., D - 1 :]
        tensors.append(w)
    # The opsum with the couplings this MPO represents: sum_k c_k lam_k^r.
    terms = OpSum(2, L)
    r = np.arange(1, L)
    fr = np.real((lams[None, :] ** r[:, None]) @ coeffs)
    for i in range(L):
        for j in range(i + 1, L):
            terms.add(-J * fr[j - i - 1], (p["z"], i), (p["z"], j))
        terms.add(-h, (p["x"], i))
    xp, device = _target(like)
    name = dtype or "float64"
    host = np.dtype(name)
    if host.kind != "c":
        if cplx and max(np.abs(t.imag).max() for t in tensors) > 0:
            # Complex-pair exponentials: bring to a real gauge by a unitary on the bond.
            tensors = _real_gauge(tensors)
        tensors = [t.real for t in tensors]
    mpo = MPO(
        [xp.asarray(np.ascontiguousarray(t).astype(host), dtype=getattr(xp, name), device=device) for t in tensors],
        opsum=terms,
    )
    mpo.fit_error = err  # type: ignore[attr-defined]
    return mpo


def _real_gauge(tensors: list[np.ndarray]) -> list[np.ndarray]:
    """Make an MPO with complex-conjugate exponential pairs real by a fixed bond gauge.

    For a conjugate pair of carry states with weights (lam, conj(lam)) the change of
    basis ``G = [[1, i], [1, -i]] / sqrt(2)`` turns ``G^-1 diag(lam, conj lam) G`` into
    the real rotation-scaling block ``[[Re, -Im], [Im, Re]]``, and the opening row and
    closing column into real vectors. Every bond gets ``W_i -> G^-1 W_i G``.
    """
    D = tensors[len(tensors) // 2].shape[3]
    mid = tensors[len(tensors) // 2]
    weights = np.array([mid[k, 0, 0, k] if k < mid.shape[0] else 0 for k in range(D)])
    g = np.eye(D, dtype=complex)
    used: set[int] = set()
    for a in range(1, D - 1):
        if a in used or abs(weights[a].imag) < 1e-14:
            continue
        b = next(
            k for k in range(1, D - 1) if k not in used and k != a and abs(weights[k] - np.conj(weights[a])) < 1e-10
        )
        used |= {a, b}
        g[np.ix_([a, b], [a, b])] = np.array([[1, 1j], [1, -1j]]) / np.sqrt(2)
    ginv = np.linalg.inv(g)
    out = []
    for i, w in enumerate(tensors):
        if i > 0:
            w = np.einsum("ab,bstc->astc", ginv, w)
        if i < len(tensors) - 1:
            w = np.einsum("astb,bc->astc", w, g)
        out.append(w)
    return out


def total_sz(length: int, *, spin: float = 0.5, like: Any = None, dtype: str | None = None) -> MPO:
    """``S^z_total = sum_i S^z_i`` as an MPO (bond dimension 2).

    Parameters
    ----------
    length : int
        Number of sites (>= 1).
    spin : float
        Spin ``s`` of every site.
    like : array, optional
        An array of the library and device the MPO should live on (default NumPy).
    dtype : str, optional
        Name of the dtype (default ``"float64"``).

    Examples
    --------
    >>> import tnkit
    >>> up_down_up = tnkit.MPS.product([0, 1, 0], local_dim=2)  # index 0 is up
    >>> float(total_sz(3).expectation(up_down_up))
    0.5
    """
    L = _check_length(length, 1)
    ops = spin_operators(spin)
    terms = OpSum(ops["z"].shape[0], L)
    for i in range(L):
        terms.add(1.0, (ops["z"], i))
    return MPO.from_opsum(terms, like=like, dtype=dtype)
