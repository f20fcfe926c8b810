"""Dense factorisations on any array namespace: truncated and randomized SVD, QR, LQ.

Every function takes arrays and returns arrays of the same library, on the same device,
in the same dtype. Small control decisions (a truncation rank) read a few scalars back to
the host; the large data never leaves the device.

References
----------
.. [EY] C. Eckart and G. Young, "The approximation of one matrix by another of lower
   rank", Psychometrika 1, 211 (1936).
.. [HMT] N. Halko, P.-G. Martinsson and J. A. Tropp, "Finding structure with
   randomness", SIAM Review 53, 217 (2011).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from tnkit import backend
from tnkit.backend import adjoint as _adjoint
from tnkit.backend import namespace
from tnkit.checks import check_nonempty
from tnkit.linalg.scaling import array_exponent, scale_pow2, square_exponent
from tnkit.types import RNG, Array, Namespace

__all__ = ["truncated_svd", "qr", "lq", "randomized_svd", "truncation_rank", "CutoffMode"]

CutoffMode = Literal["rel", "abs", "discarded", "rel_discarded"]
_CUTOFF_MODES = ("rel", "abs", "discarded", "rel_discarded")


def _check_matrix(a: Array, fname: str) -> Namespace:
    xp = namespace(a)
    if a.ndim != 2:
        raise ValueError(f"{fname}: expected a 2-d matrix, got shape {tuple(a.shape)}")
    if not xp.isdtype(a.dtype, ("real floating", "complex floating")):
        raise TypeError(f"{fname}: expected a floating or complex dtype, got {a.dtype}")
    return xp


def _check_finite(xp: Namespace, a: Array, fname: str) -> None:
    if not bool(xp.all(xp.isfinite(a))):
        raise ValueError(f"{fname}: input contains NaN or Inf")


# --------------------------------------------------------------------------------------
# Truncated SVD


def truncation_rank(s_host: np.ndarray, max_rank: int | None, cutoff: float, mode: str) -> int:
    """How many of the descending singular values ``s_host`` a truncation keeps.

    Parameters
    ----------
    s_host : numpy.ndarray, shape (n,)
        Singular values in descending order, on the host.
    max_rank : int or None
        Upper bound on the count.
    cutoff : float
        Threshold; its meaning is set by ``mode``.
    mode : {"rel", "abs", "discarded", "rel_discarded"}
        Keep values above ``cutoff * s[0]`` / above ``cutoff``, or the fewest whose
        discarded squared weight is at most ``cutoff`` / ``cutoff * sum(s**2)``.

    Returns
    -------
    int
        The count, at least one while any value is non-zero. The same for ``s`` and
        ``c * s`` at any magnitude (``cutoff`` scaled with the values for ``"abs"`` and
        ``"discarded"``): squares that would leave float64 are taken in units of a
        power of two (:mod:`tnkit.linalg.scaling`).

    Examples
    --------
    >>> import numpy as np
    >>> truncation_rank(np.array([1.0, 0.1, 0.001]), None, 1e-2, "rel")
    2
    """
    n = s_host.shape[0]
    keep = n
    if cutoff > 0.0 and n:
        if mode == "rel":
            keep = int(np.count_nonzero(s_host > cutoff * s_host[0]))
        elif mode == "abs":
            keep = int(np.count_nonzero(s_host > cutoff))
        else:
            # Squares of values beyond ~1e154 (or below ~1e-154) leave float64: weights and
            # budget are then both taken in units of 4**e, exactly (e = 0 for other data).
            s64 = s_host.astype(np.float64)
            e = square_exponent(float(np.max(np.abs(s64))), count=n)
            w = (np.ldexp(s64, -e) if e else s64) ** 2
            # tail[k] = sum_{i >= k} s_i^2, the weight discarded when keeping k values
            tail = np.concatenate([np.cumsum(w[::-1])[::-1], [0.0]])
            if mode == "discarded":
                with np.errstate(over="ignore", under="ignore"):
                    budget = float(np.ldexp(cutoff, -2 * e)) if e else cutoff
            else:
                budget = cutoff * tail[0]
            keep = int(np.argmax(tail <= budget))
        keep = max(keep, 1)
    if max_rank is not None:
        keep = min(keep, max_rank)
    return keep


def truncated_svd(
    a: Array,
    *,
    max_rank: int | None = None,
    cutoff: float = 0.0,
    cutoff_mode: CutoffMode = "rel",
) -> tuple[Array, Array, Array, Array]:
    """Thin SVD truncated by rank and/or by a singular-value cutoff.

    Parameters
    ----------
    a : array, shape (m, n)
        Real or complex matrix of any supported library.
    max_rank : int, optional
        Keep at most this many singular values (a positive integer).
    cutoff : float
        Truncation threshold, interpreted by ``cutoff_mode``; 0 disables it.
    cutoff_mode : {"rel", "abs", "discarded", "rel_discarded"}
        ``"rel"``: keep ``s_i > cutoff * s_0``. ``"abs"``: keep ``s_i > cutoff``.
        ``"discarded"``: keep the fewest values such that the discarded weight
        ``sum_{i>=k} s_i**2`` is at most ``cutoff``. ``"rel_discarded"``: the same with
        the budget ``cutoff * ||a||_F**2``. At least one value is kept.

    Returns
    -------
    u : array, shape (m, k)
    s : array, shape (k,)
        Kept singular values, descending, real dtype.
    vh : array, shape (k, n)
    discarded_weight : 0-d array
        ``sum`` of the discarded ``s_i**2``, equal to ``||a - u @ diag(s) @ vh||_F**2``
        (Eckart–Young [EY]_). Summed in units of a power of two, so it is inf only
        where the weight itself exceeds the dtype's largest number (float64: ~1.8e308)
        and loses digits only below its smallest normal one (~2.2e-308). The rank never
        depends on that: every cutoff mode picks the same rank for ``a`` and ``c * a``
        (with ``cutoff`` scaled by ``c`` for ``"abs"`` and ``c**2`` for ``"discarded"``).

    Raises
    ------
    ValueError
        Non-finite or empty input, ``max_rank < 1``, negative ``cutoff`` or an unknown mode.

    References
    ----------
    .. [EY] C. Eckart and G. Young, "The approximation of one matrix by another of lower
       rank", Psychometrika 1, 211 (1936).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.diag([3.0, 2.0, 1.0])
    >>> u, s, vh, dw = truncated_svd(a, max_rank=2)
    >>> s.tolist(), float(dw)
    ([3.0, 2.0], 1.0)
    """
    fname = "truncated_svd"
    xp = _check_matrix(a, fname)
    check_nonempty(tuple(a.shape), fname, what="a")
    if max_rank is not None:
        if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)):
            raise TypeError(f"{fname}: max_rank must be an int or None, got {type(max_rank).__name__}")
        if max_rank < 1:
            raise ValueError(f"{fname}: max_rank must be >= 1, got {max_rank}")
    if cutoff_mode not in _CUTOFF_MODES:
        raise ValueError(f"{fname}: unknown cutoff_mode {cutoff_mode!r}; use one of {_CUTOFF_MODES}")
    if not (cutoff >= 0.0 and math.isfinite(cutoff)):
        raise ValueError(f"{fname}: cutoff must be a finite number >= 0, got {cutoff}")
    _check_finite(xp, a, fname)

    u, s, vh = backend.lookup("thin_svd", xp)(xp, a)
    full = s.shape[0]
    s_host = None
    if cutoff == 0.0:
        keep = full if max_rank is None else min(max_rank, full)
    else:
        s_host = backend.to_host(s)
        keep = truncation_rank(s_host, max_rank, cutoff, cutoff_mode)
    if keep < full:
        tail = s[keep:]
        e = array_exponent(xp, tail, largest=None if s_host is None else float(s_host[keep]))
        if e:
            tail = scale_pow2(xp, tail, -e)
            with np.errstate(over="ignore"):  # a weight beyond the dtype's range is inf, as documented
                discarded = scale_pow2(xp, xp.sum(tail * tail), 2 * e)
        else:
            discarded = xp.sum(tail * tail)
        u, s, vh = u[:, :keep], s[:keep], vh[:keep, :]
    else:
        discarded = xp.zeros((), dtype=s.dtype, device=backend.device_of(s))
    return u, s, vh, discarded


# --------------------------------------------------------------------------------------
# QR and LQ with a non-negative diagonal


def _diag_phase(xp: Namespace, d: Array) -> Array:
    """d / |d|, with 1 where d == 0 (so the factorisation stays exact)."""
    mag = xp.abs(d)
    one = xp.ones_like(mag)
    safe = xp.where(mag == 0, one, mag)
    phase = d / xp.astype(safe, d.dtype) if xp.isdtype(d.dtype, "complex floating") else d / safe
    return xp.where(mag == 0, xp.astype(one, d.dtype), phase)


def qr(a: Array) -> tuple[Array, Array]:
    """Reduced QR ``a = q @ r`` with ``r``'s diagonal real and non-negative.

    The sign (phase) fix makes the factorisation unique for full-rank ``a``, which keeps
    canonical forms of tensor networks reproducible across libraries.

    Parameters
    ----------
    a : array, shape (m, n)

    Returns
    -------
    q : array, shape (m, k)
        Orthonormal columns, ``k = min(m, n)``.
    r : array, shape (k, n)
        Upper triangular, real non-negative diagonal.

    Examples
    --------
    >>> import numpy as np
    >>> q, r = qr(np.array([[-2.0, 1.0], [0.0, 3.0]]))
    >>> bool(np.all(np.diag(r) >= 0)) and bool(np.allclose(q @ r, [[-2.0, 1.0], [0.0, 3.0]]))
    True
    """
    xp = _check_matrix(a, "qr")
    q, r = xp.linalg.qr(a, mode="reduced")
    phase = _diag_phase(xp, xp.linalg.diagonal(r))
    q = q * phase[None, :]
    r = xp.conj(phase)[:, None] * r if xp.isdtype(a.dtype, "complex floating") else phase[:, None] * r
    return q, r


def lq(a: Array) -> tuple[Array, Array]:
    """Reduced LQ ``a = l @ q`` with ``l`` lower triangular, real non-negative diagonal.

    Parameters
    ----------
    a : array, shape (m, n)

    Returns
    -------
    l : array, shape (m, k)
    q : array, shape (k, n)
        Orthonormal rows, ``k = min(m, n)``.
    """
    xp = _check_matrix(a, "lq")
    q, r = qr(_adjoint(xp, a))
    return _adjoint(xp, r), _adjoint(xp, q)


# --------------------------------------------------------------------------------------
# Randomized SVD


def randomized_svd(
    a: Array,
    rank: int,
    *,
    n_oversamples: int = 10,
    n_iter: int = 2,
    rng: RNG = None,
) -> tuple[Array, Array, Array]:
    """Rank-``rank`` SVD by randomized range finding with power iterations [HMT]_.

    Parameters
    ----------
    a : array, shape (m, n)
    rank : int
        Number of singular triplets returned (``1 <= rank <= min(m, n)``).
    n_oversamples : int
        Extra random directions; the sketch has ``rank + n_oversamples`` columns.
    n_iter : int
        Power (subspace) iterations, each re-orthonormalised by QR; more iterations
        sharpen slowly decaying spectra.
    rng : numpy.random.Generator, int or None
        Source of the Gaussian test matrix (drawn on the host, moved once).

    Returns
    -------
    u : array, shape (m, rank)
    s : array, shape (rank,)
    vh : array, shape (rank, n)

    References
    ----------
    .. [HMT] N. Halko, P.-G. Martinsson and J. A. Tropp, "Finding structure with
       randomness", SIAM Review 53, 217 (2011).
    """
    fname = "randomized_svd"
    xp = _check_matrix(a, fname)
    check_nonempty(tuple(a.shape), fname, what="a")
    m, n = a.shape
    if not (1 <= rank <= min(m, n)):
        raise ValueError(f"{fname}: rank must be in [1, {min(m, n)}] for shape {(m, n)}, got {rank}")
    if n_oversamples < 0 or n_iter < 0:
        raise ValueError(f"{fname}: n_oversamples and n_iter must be >= 0")
    _check_finite(xp, a, fname)
    width = min(rank + n_oversamples, min(m, n))
    omega = backend.random_normal(xp, (n, width), dtype=a.dtype, device=backend.device_of(a), rng=rng)
    ah = _adjoint(xp, a)
    y = a @ omega
    q, _ = xp.linalg.qr(y, mode="reduced")
    for _ in range(n_iter):
        z, _ = xp.linalg.qr(ah @ q, mode="reduced")
        q, _ = xp.linalg.qr(a @ z, mode="reduced")
    qh = _adjoint(xp, q)
    ub, s, vh = backend.lookup("thin_svd", xp)(xp, qh @ a)
    u = q @ ub
    return u[:, :rank], s[:rank], vh[:rank, :]
