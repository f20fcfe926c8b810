"""Canonical polyadic (CP, CANDECOMP/PARAFAC) format and its alternating least squares fit.

A CP tensor writes an order-N tensor ``X`` of shape ``(n_1, ..., n_N)`` as a sum of
``R`` rank-one terms::

    X[i_1, ..., i_N] = sum_r weights[r] * A_1[i_1, r] * ... * A_N[i_N, r]

with factor matrices ``A_k`` of shape ``(n_k, R)``. It stores ``R (1 + sum_k n_k)``
numbers, linear in the order. Unlike Tucker or TT, the best rank-``R`` approximation
has no closed form (and need not exist for ``R >= 2`` [dSL]_); :func:`cp_als` fits it
by alternating least squares [KB]_. ``R`` may exceed the mode sizes: CP ranks are
not bounded by them.

Norms and inner products never form the dense tensor:

    <X, Y> = sum_{r,s} conj(w_r) v_s prod_k (A_k^H B_k)[r, s]

Every array stays in the input's library, on its device, in its dtype;
:meth:`CP.to_dense`, :meth:`CP.norm` and :meth:`CP.inner` are differentiable on
PyTorch.

References
----------
.. [KB] T. G. Kolda, B. W. Bader, "Tensor decompositions and applications", SIAM
   Review 51 (2009) 455-500 (CP-ALS: Section 3.4).
.. [dSL] V. de Silva, L.-H. Lim, "Tensor rank and the ill-posedness of the best
   low-rank approximation problem", SIAM J. Matrix Anal. Appl. 30 (2008) 1084-1127.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from tnkit import backend
from tnkit.backend import adjoint as _adjoint
from tnkit.backend import conj as _conj
from tnkit.backend import namespace
from tnkit.checks import check_tensor
from tnkit.contract import contract
from tnkit.decompositions.modes import _leading_left, _unfold
from tnkit.io import register_type
from tnkit.linalg.scaling import array_exponent, scale_pow2

__all__ = ["CP", "cp_als"]

# Einsum labels: one per mode, and the rank index.
_MODE_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY"
_RANK_LETTER = "Z"
# Diagonal shift of the normal equations, in units of eps * max(diag): above the
# rounding error of the R x R Gram product (so an exactly singular system, e.g. with
# more terms than the tensor's rank, still solves), far below any real conditioning.
_SHIFT = 100.0
# Below this squared relative error (in units of the dtype's eps) the cheap error
# formula ||x||^2 - 2 Re<X, x> + ||X||^2 is dominated by cancellation, so cp_als
# measures the dense residual instead.
_DENSE_RESIDUAL_BELOW = 1e4


def _mode_letters(n: int, fname: str) -> str:
    if n > len(_MODE_LETTERS):
        raise ValueError(f"{fname}: at most {len(_MODE_LETTERS)} modes are supported, got {n}")
    return _MODE_LETTERS[:n]


def _host_real(v: Any) -> float:
    """Real part of a 0-d array as a Python float (detached from any autograd graph)."""
    return float(np.real(backend.to_host(v)))


# --------------------------------------------------------------------------------------
# The CP object


class CP:
    """A tensor in CP format: ``X[i_1..i_N] = sum_r weights[r] * prod_k factors[k][i_k, r]``.

    Parameters
    ----------
    weights : array, shape (R,)
        Weight of each rank-one term.
    factors : sequence of arrays, shapes (n_k, R)
        One per mode; same library, device and dtype as ``weights``.

    Raises
    ------
    ValueError
        No factors, ``weights`` not 1-d, ``R < 1``, a factor that is not a matrix or
        whose column count differs from ``R``.
    TypeError
        A non-array argument, mixed libraries, devices or dtypes, or an integer dtype.

    Examples
    --------
    >>> import numpy as np
    >>> a, b, c = np.ones((2, 1)), np.arange(3.0).reshape(3, 1), np.ones((4, 1))
    >>> t = CP(np.array([2.0]), [a, b, c])
    >>> t.shape, t.rank, t.n_params
    ((2, 3, 4), 1, 10)
    >>> float(t.to_dense()[1, 2, 3])
    4.0
    >>> bool(np.isclose(t.norm(), np.linalg.norm(t.to_dense())))
    True
    """

    def __init__(self, weights: Any, factors: Sequence[Any]) -> None:
        factors = list(factors)
        if not factors:
            raise ValueError("CP: need at least one factor matrix")
        for what, a in [("weights", weights), *((f"factor {k}", u) for k, u in enumerate(factors))]:
            if backend._array_library(a) is None:
                raise TypeError(f"CP: {what} must be an array, got {type(a).__name__}")
        xp = namespace(weights, *factors)  # one library, one device
        if weights.ndim != 1:
            raise ValueError(f"CP: weights must have shape (R,), got shape {tuple(weights.shape)}")
        rank = int(weights.shape[0])
        if rank < 1:
            raise ValueError("CP: rank must be >= 1, got weights of shape (0,)")
        for k, u in enumerate(factors):
            if u.ndim != 2:
                raise ValueError(f"CP: factor {k} has shape {tuple(u.shape)}, expected (n_{k}, {rank})")
            if int(u.shape[1]) != rank:
                raise ValueError(
                    f"CP: factor {k} has {u.shape[1]} columns but weights has {rank} entries; "
                    f"every factor needs R = {rank} columns"
                )
        dtypes = {str(a.dtype) for a in (weights, *factors)}
        if len(dtypes) > 1:
            raise TypeError(f"CP: weights and factors must share one dtype, got {sorted(dtypes)}")
        if not xp.isdtype(weights.dtype, ("real floating", "complex floating")):
            raise TypeError(f"CP: expected a floating or complex dtype, got {weights.dtype}; convert with astype")
        self.weights = weights
        self.factors = factors

    # ------------------------------------------------------------------ structure

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the represented dense tensor ``(n_1, ..., n_N)``."""
        return tuple(int(u.shape[0]) for u in self.factors)

    @property
    def ndim(self) -> int:
        """Number of modes ``N``."""
        return len(self.factors)

    @property
    def rank(self) -> int:
        """Number of rank-one terms ``R``."""
        return int(self.weights.shape[0])

    @property
    def n_params(self) -> int:
        """Stored numbers: ``R + R * sum(n_k)``."""
        return self.rank * (1 + sum(self.shape))

    @property
    def dtype(self) -> Any:
        """Dtype of the weights."""
        return self.weights.dtype

    @property
    def xp(self) -> Any:
        """Array namespace of the weights and factors."""
        return namespace(self.weights, *self.factors)

    def __repr__(self) -> str:
        return f"CP(shape={self.shape}, rank={self.rank}, dtype={self.dtype})"

    # ------------------------------------------------------------------ dense, norm, inner

    def to_dense(self) -> Any:
        """The full tensor, shape ``self.shape`` (differentiable on PyTorch)."""
        letters = _mode_letters(self.ndim, "CP.to_dense")
        z = _RANK_LETTER
        expr = z + "," + ",".join(f"{c}{z}" for c in letters) + "->" + letters
        return contract(expr, self.weights, *self.factors)

    def inner(self, other: CP) -> Any:
        """``<self, other> = sum conj(self) * other`` as a 0-d array, without densifying.

        Costs ``O(R S sum_k n_k)`` for ranks ``R`` and ``S``.

        Parameters
        ----------
        other : CP
            Decomposition of a tensor of the same shape.
        """
        if not isinstance(other, CP):
            raise TypeError(f"CP.inner: expected a CP, got {type(other).__name__}")
        if self.shape != other.shape:
            raise ValueError(f"CP.inner: shapes differ: {self.shape} and {other.shape}")
        xp = namespace(self.weights, other.weights, *self.factors, *other.factors)
        h = _overlap_hadamard(xp, self.factors, other.factors)
        return contract("r,rs,s->", _conj(xp, self.weights), h, other.weights)

    def norm(self) -> Any:
        """Frobenius norm as a 0-d real array, from the Hadamard product of the Gram matrices."""
        xp = self.xp
        # The Hermitian form is real and >= 0; abs drops rounding (a tiny imaginary
        # part, or a tiny negative value when the terms nearly cancel).
        return xp.sqrt(xp.abs(self.inner(self)))

    def normalize(self) -> CP:
        """The same tensor with unit-norm factor columns, the norms absorbed into ``weights``.

        Zero columns stay zero (and zero their term's weight).

        Examples
        --------
        >>> import numpy as np
        >>> t = CP(np.array([1.0]), [np.array([[3.0], [4.0]]), np.array([[0.0], [2.0]])])
        >>> u = t.normalize()
        >>> float(u.weights[0]), u.factors[0].ravel().tolist(), bool(np.allclose(u.to_dense(), t.to_dense()))
        (10.0, [0.6, 0.8], True)
        """
        xp = self.xp
        weights = self.weights
        factors = []
        for u in self.factors:
            unit, norms = _normalize_columns(xp, u)
            factors.append(unit)
            weights = weights * norms
        return CP(weights, factors)


def _overlap_hadamard(xp: Any, left: Sequence[Any], right: Sequence[Any], skip: int | None = None) -> Any:
    """Elementwise product over modes ``k != skip`` of ``left[k]^H right[k]``, shape (R, S)."""
    h = None
    for k, (a, b) in enumerate(zip(left, right)):
        if k == skip:
            continue
        g = _adjoint(xp, a) @ b
        h = g if h is None else h * g
    return h


def _hadamard(mats: Sequence[Any], skip: int) -> Any:
    """Elementwise product of ``mats[k]`` over ``k != skip`` (at least one factor)."""
    out = None
    for k, m in enumerate(mats):
        if k != skip:
            out = m if out is None else out * m
    return out


def _normalize_columns(xp: Any, u: Any) -> tuple[Any, Any]:
    """``u`` with unit-norm columns, and those norms in ``u``'s dtype (zero columns kept)."""
    norms = xp.linalg.vector_norm(u, axis=0)
    safe = xp.where(norms > 0, norms, xp.ones_like(norms))
    return u / xp.astype(safe, u.dtype), xp.astype(norms, u.dtype)


# --------------------------------------------------------------------------------------
# Alternating least squares


Init = Literal["svd", "random"]


def _check_rank(rank: int, fname: str) -> int:
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)):
        raise TypeError(f"{fname}: rank must be an int, got {type(rank).__name__}")
    if rank < 1:
        raise ValueError(f"{fname}: rank must be >= 1, got {rank}")
    return int(rank)


def _initial_factors(xp: Any, x: Any, rank: int, init: str, gen: np.random.Generator) -> list[Any]:
    """Unit-column starting factors: leading left singular vectors, or Gaussian.

    With ``init="svd"`` a mode with ``n_k < rank`` is completed with Gaussian
    columns. Mode 0 is always Gaussian: the first ALS update overwrites it
    without reading it, so its SVD would be wasted.
    """
    dev = backend.device_of(x)
    factors = []
    for k, nk in enumerate(x.shape):
        nk = int(nk)
        if init == "svd" and k > 0:
            keep = min(rank, nk)
            u = _leading_left(_unfold(xp, x, k), keep, None, method="svd", oversample=0, n_iter=0, rng=gen)
            if keep < rank:
                extra = backend.random_normal(xp, (nk, rank - keep), dtype=x.dtype, device=dev, rng=gen)
                u = xp.concat([u, extra], axis=1)
        else:
            u = backend.random_normal(xp, (nk, rank), dtype=x.dtype, device=dev, rng=gen)
        factors.append(_normalize_columns(xp, u)[0])
    return factors


def _mttkrp(x: Any, factors: Sequence[Any], k: int, letters: str) -> Any:
    """``sum_{i_j, j != k} x[i_1..i_N] prod_{j != k} conj(A_j[i_j, r])``, shape (n_k, R).

    ``x`` is contracted with one factor at a time (an explicit path), so the
    Khatri-Rao product of the other factors, of size ``R prod_{j != k} n_j``, is
    never formed.
    """
    xp = namespace(x)
    z = _RANK_LETTER
    others = [j for j in range(len(factors)) if j != k]
    expr = letters + "," + ",".join(f"{letters[j]}{z}" for j in others) + "->" + letters[k] + z
    m = len(others)
    # Operands [x, f_1, ..., f_m]; each step contracts the next factor (position 0
    # after the first step) with the running intermediate (always appended last).
    path = [(0, 1)] + [(0, m - j) for j in range(1, m)]
    return contract(expr, x, *(_conj(xp, factors[j]) for j in others), optimize=path)


def cp_als(
    x: Any,
    rank: int,
    *,
    n_iter_max: int = 100,
    tol: float = 1e-8,
    init: Init = "svd",
    rng: np.random.Generator | int | None = None,
) -> CP:
    """Rank-``rank`` CP fit of a dense tensor by alternating least squares [KB]_.

    Each update fixes all factors but ``A_k`` and solves the linear least-squares
    problem ``min ||X_(k) - A_k K_k^T||`` (``K_k`` the Khatri-Rao product of the
    other factors) through its normal equations::

        A_k conj(H_k) = M_k,   H_k = *_{j != k} A_j^H A_j   (Hadamard product),

    where ``M_k = X_(k) conj(K_k)`` (the MTTKRP) is contracted from ``x`` one factor
    at a time, never forming ``K_k``. The ``R x R`` system is regularised by
    ``100 eps * max(diag H_k)``, so rank-deficient problems (``rank`` above the tensor's
    CP rank) stay solvable. Columns are renormalised after every update and their
    norms kept as the weights.

    Parameters
    ----------
    x : array, shape (n_1, ..., n_N), N >= 2
        Real or complex tensor of any supported library.
    rank : int
        Number of rank-one terms ``R >= 1`` (may exceed the mode sizes).
    n_iter_max : int
        Most sweeps over all modes (>= 1).
    tol : float
        Stop when the fit ``1 - ||x - X||_F / ||x||_F`` changes by less than ``tol``
        relative to the previous sweep's fit (0: run all ``n_iter_max`` sweeps).
        ALS converges linearly, so the error left at the stop can exceed ``tol``
        (by ``rho / (1 - rho)`` for a contraction factor ``rho`` per sweep); ask
        for a smaller ``tol`` than the error you need. The
        error comes from the Gram matrices and the last MTTKRP; once it is within
        ``~100 sqrt(eps)`` of zero, where that formula cancels, from the dense
        residual.
    init : {"svd", "random"}
        Starting factors: the leading left singular vectors of each unfolding
        (completed with Gaussian columns where ``n_k < rank``), or Gaussian.
    rng : numpy.random.Generator, int or None
        Source of the Gaussian starting columns.

    Returns
    -------
    CP
        Unit-norm factor columns, the scale in ``weights``; arrays in ``x``'s
        library, device and dtype.

    Raises
    ------
    ValueError
        NaN/Inf input, fewer than 2 modes, an empty (zero-length) mode, ``rank < 1``,
        ``n_iter_max < 1``, a negative or non-finite ``tol``, an unknown ``init``.
    TypeError
        A non-integer ``rank``, an integer-dtype tensor.

    References
    ----------
    .. [KB] T. G. Kolda, B. W. Bader, "Tensor decompositions and applications", SIAM
       Review 51 (2009) 455-500 (CP-ALS: Section 3.4).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b, c = (rng.standard_normal((n, 2)) for n in (4, 5, 6))
    >>> x = np.einsum("ir,jr,kr->ijk", a, b, c)
    >>> t = cp_als(x, rank=2, tol=1e-12)
    >>> t.rank, bool(np.linalg.norm(t.to_dense() - x) <= 1e-10 * np.linalg.norm(x))
    (2, True)
    """
    fname = "cp_als"
    xp = check_tensor(x, fname, what="x")
    x = backend.c_contiguous(x)  # at most one copy, into the layout every unfolding wants
    n = x.ndim
    if n < 2:
        raise ValueError(f"{fname}: need a tensor with at least 2 modes, got shape {tuple(x.shape)}")
    r = _check_rank(rank, fname)
    if isinstance(n_iter_max, bool) or not isinstance(n_iter_max, (int, np.integer)) or n_iter_max < 1:
        raise ValueError(f"{fname}: n_iter_max must be an int >= 1, got {n_iter_max!r}")
    if not (isinstance(tol, (int, float, np.floating)) and math.isfinite(tol) and tol >= 0.0):
        raise ValueError(f"{fname}: tol must be a finite number >= 0, got {tol!r}")
    if init not in ("svd", "random"):
        raise ValueError(f"{fname}: unknown init {init!r}; use 'svd' or 'random'")
    letters = _mode_letters(n, fname)
    e = array_exponent(xp, x)
    if e:
        # Squared norms (and the Gram products of the fit) would leave the dtype's range:
        # fit x / 2**e (exact) and put 2**e back into the weights.
        t = cp_als(scale_pow2(xp, x, -e), r, n_iter_max=n_iter_max, tol=tol, init=init, rng=rng)
        return CP(scale_pow2(xp, t.weights, e), t.factors)
    gen = backend.make_rng(rng)
    dev = backend.device_of(x)
    xnorm2 = float(backend.to_host(xp.linalg.vector_norm(x))) ** 2
    if xnorm2 == 0.0:
        factors = [
            _normalize_columns(xp, backend.random_normal(xp, (int(nk), r), dtype=x.dtype, device=dev, rng=gen))[0]
            for nk in x.shape
        ]
        return CP(xp.zeros((r,), dtype=x.dtype, device=dev), factors)

    factors = _initial_factors(xp, x, r, init, gen)
    grams = [_adjoint(xp, u) @ u for u in factors]
    eye = xp.eye(r, dtype=x.dtype, device=dev)
    eps = backend.dtype_eps(xp, x.dtype)
    tiny = float(xp.finfo(backend.real_dtype(xp, x.dtype)).smallest_normal)
    weights = None
    fit_prev = None
    for _ in range(n_iter_max):
        for k in range(n):
            h = _hadamard(grams, skip=k)
            mk = _mttkrp(x, factors, k, letters)
            shift = _SHIFT * eps * xp.max(xp.abs(xp.linalg.diagonal(h))) + tiny
            # h is Hermitian, so A conj(h) = M  <=>  h A^T = M^T.
            a = xp.matrix_transpose(xp.linalg.solve(h + xp.astype(shift, h.dtype) * eye, xp.matrix_transpose(mk)))
            if k == n - 1:
                # <X, x> = sum conj(A) * M and ||X||^2 = sum (A^H A) * h for the
                # unnormalised last factor, the others having unit columns.
                cross = xp.sum((_adjoint(xp, a) @ a) * h) - 2 * xp.sum(_conj(xp, a) * mk)
                rel2 = max(xnorm2 + _host_real(cross), 0.0) / xnorm2
            factors[k], weights = _normalize_columns(xp, a)
            grams[k] = _adjoint(xp, factors[k]) @ factors[k]
        if rel2 < _DENSE_RESIDUAL_BELOW * eps:
            resid = x - CP(weights, factors).to_dense()
            rel = float(backend.to_host(xp.linalg.vector_norm(resid))) / math.sqrt(xnorm2)
        else:
            rel = math.sqrt(rel2)
        fit = 1.0 - rel
        if fit_prev is not None and abs(fit - fit_prev) < tol * abs(fit_prev):
            break
        fit_prev = fit
    return CP(weights, factors)


# --------------------------------------------------------------------------------------
# tnkit.io


def _cp_to_dict(t: CP) -> dict[str, Any]:
    return {"weights": t.weights, "factors": {f"{k:05d}": u for k, u in enumerate(t.factors)}}


def _cp_from_dict(data: dict[str, Any]) -> CP:
    return CP(data["weights"], [data["factors"][k] for k in sorted(data["factors"])])


register_type(CP, "cp", _cp_to_dict, _cp_from_dict, version=1)
