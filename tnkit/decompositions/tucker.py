"""Tucker decomposition: HOSVD, sequentially truncated HOSVD and HOOI.

A Tucker tensor writes an order-N tensor ``X`` of shape ``(n_1, ..., n_N)`` as a
small core ``G`` of shape ``(r_1, ..., r_N)`` multiplied along every mode by a
factor matrix ``U_k`` of shape ``(n_k, r_k)``::

    X ~= G x_1 U_1 x_2 U_2 ... x_N U_N

The factors produced by the algorithms here have orthonormal columns, so the
core carries the norm. Every array stays in the input's library, on its device,
in its dtype; :meth:`Tucker.to_dense` is differentiable on PyTorch.

Rank choice follows the classical error bound of the (ST-)HOSVD [DDV]_ [VVM]_:
truncating mode ``k`` to rank ``r_k`` discards the tail ``sum_{i>r_k} s_i^2`` of
that mode's unfolding spectrum, and the squared reconstruction error is at most
the sum of the discarded tails. With ``tol`` the squared budget ``tol**2 ||X||^2``
is split evenly over the modes, which guarantees ``||X - X_hat|| <= tol ||X||``.

References
----------
.. [DDV] L. De Lathauwer, B. De Moor, J. Vandewalle, "A multilinear singular
   value decomposition", SIAM J. Matrix Anal. Appl. 21 (2000) 1253-1278; and "On
   the best rank-1 and rank-(R1,...,RN) approximation of higher-order tensors",
   ibid. 1324-1342 (HOOI).
.. [VVM] N. Vannieuwenhoven, R. Vandebril, K. Meerbergen, "A new truncation
   strategy for the higher-order singular value decomposition", SIAM J. Sci.
   Comput. 34 (2012) A1027-A1052 (ST-HOSVD).
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
from tnkit.decompositions.modes import (
    _LETTERS,
    _UPPER,
    _block_diagonal,
    _leading_left,
    _mode_product,
    _multi_mode_product,
    _squared_norm,
    _unfold,
)
from tnkit.io import register_type
from tnkit.linalg import qr
from tnkit.linalg.scaling import array_exponent, scale_pow2

__all__ = ["Tucker", "hosvd", "sthosvd", "hooi"]

RanksArg = int | Sequence[int] | None


# --------------------------------------------------------------------------------------
# The Tucker object


class Tucker:
    """A tensor in Tucker format: ``core`` times ``factors[k]`` along every mode ``k``.

    Parameters
    ----------
    core : array, shape (r_1, ..., r_N)
    factors : sequence of arrays, shapes (n_k, r_k)
        One per mode, all from the core's library, device and dtype.
    orthonormal : bool
        Whether every factor has orthonormal columns (then :meth:`norm` reads the
        core alone). Set by the algorithms; False for user-built and summed objects.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(24.0).reshape(2, 3, 4)
    >>> t = sthosvd(x, ranks=(2, 2, 2))
    >>> t.shape, t.ranks
    ((2, 3, 4), (2, 2, 2))
    >>> bool(np.allclose(t.to_dense(), x))
    True
    """

    def __init__(self, core: Any, factors: Sequence[Any], *, orthonormal: bool = False) -> None:
        factors = list(factors)
        if core.ndim != len(factors):
            raise ValueError(f"Tucker: core has {core.ndim} modes but {len(factors)} factors were given")
        namespace(core, *factors)  # one library, one device
        for k, u in enumerate(factors):
            if u.ndim != 2 or u.shape[1] != core.shape[k]:
                raise ValueError(f"Tucker: factor {k} has shape {tuple(u.shape)}, expected (n_{k}, {core.shape[k]})")
        self.core = core
        self.factors = factors
        self.orthonormal = bool(orthonormal)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the represented dense tensor ``(n_1, ..., n_N)``."""
        return tuple(int(u.shape[0]) for u in self.factors)

    @property
    def ranks(self) -> tuple[int, ...]:
        """Multilinear rank of the representation ``(r_1, ..., r_N)``."""
        return tuple(int(r) for r in self.core.shape)

    @property
    def ndim(self) -> int:
        """Number of modes."""
        return len(self.factors)

    @property
    def n_params(self) -> int:
        """Stored numbers: ``prod(r_k) + sum(n_k r_k)``."""
        return math.prod(self.ranks) + sum(n * r for n, r in zip(self.shape, self.ranks))

    def __repr__(self) -> str:
        return f"Tucker(shape={self.shape}, ranks={self.ranks}, orthonormal={self.orthonormal})"

    def to_dense(self) -> Any:
        """The full tensor, shape ``(n_1, ..., n_N)`` (differentiable on PyTorch)."""
        return _multi_mode_product(self.core, self.factors, adjoint=False)

    def norm(self) -> Any:
        """Frobenius norm as a 0-d real array (from the core when factors are orthonormal)."""
        xp = namespace(self.core)
        if self.orthonormal:
            return xp.linalg.vector_norm(self.core)
        return xp.sqrt(xp.abs(self.inner(self)))

    def inner(self, other: Tucker) -> Any:
        """``<self, other> = sum conj(self) * other`` as a 0-d array, without densifying.

        Parameters
        ----------
        other : Tucker
            Decomposition of a tensor of the same shape.
        """
        if not isinstance(other, Tucker):
            raise TypeError(f"Tucker.inner: expected a Tucker, got {type(other).__name__}")
        if self.shape != other.shape:
            raise ValueError(f"Tucker.inner: shapes differ: {self.shape} and {other.shape}")
        xp = namespace(self.core, other.core)
        # Overlaps of the factor bases (r_k x s_k), then one contraction of both cores.
        overlaps = [_adjoint(xp, a) @ b for a, b in zip(self.factors, other.factors)]
        n = self.ndim
        left, right = _LETTERS[:n], _UPPER[:n]
        terms = ",".join(f"{left[k]}{right[k]}" for k in range(n))
        return contract(f"{left},{right},{terms}->", _conj(xp, self.core), other.core, *overlaps)

    def __add__(self, other: Tucker) -> Tucker:
        """Exact sum: block-diagonal core, factors side by side (ranks add)."""
        if not isinstance(other, Tucker):
            return NotImplemented
        if self.shape != other.shape:
            raise ValueError(f"Tucker +: shapes differ: {self.shape} and {other.shape}")
        xp = namespace(self.core, other.core)
        factors = [xp.concat([a, b], axis=1) for a, b in zip(self.factors, other.factors)]
        core = _block_diagonal(xp, self.core, other.core)
        return Tucker(core, factors, orthonormal=False)

    def __neg__(self) -> Tucker:
        return Tucker(-self.core, self.factors, orthonormal=self.orthonormal)

    def __sub__(self, other: Tucker) -> Tucker:
        if not isinstance(other, Tucker):
            return NotImplemented
        return self + (-other)

    def __mul__(self, scalar: float | complex) -> Tucker:
        return Tucker(self.core * scalar, self.factors, orthonormal=self.orthonormal)

    __rmul__ = __mul__

    def round(self, tol: float | None = None, ranks: RanksArg = None) -> Tucker:
        """Recompress: orthonormalise the factors by QR, then ST-HOSVD the small core.

        Parameters
        ----------
        tol : float, optional
            Relative error bound in ``(0, 1)``: the result is within
            ``tol * ||self||`` of ``self``.
        ranks : int or sequence of int, optional
            Target multilinear rank (at most the current one per mode).

        Returns
        -------
        Tucker
            Orthonormal factors. With neither argument only the exact rank
            redundancy (e.g. after ``+``) is removed, to working precision.
        """
        xp = namespace(self.core)
        qs, rs = [], []
        for u in self.factors:
            q, r = qr(u)
            qs.append(q)
            rs.append(r)
        # QR gives min(n_k, r_k) columns, so the core is contracted down to that size.
        small = _multi_mode_product(self.core, rs, adjoint=False)
        if tol is None and ranks is None:
            eps = backend.dtype_eps(xp, self.core.dtype)
            tol = 10.0 * eps * math.sqrt(math.prod(small.shape))
            tol = min(max(tol, 1e-15), 0.5)
        inner = sthosvd(small, ranks=ranks, tol=tol)
        factors = [q @ u for q, u in zip(qs, inner.factors)]
        return Tucker(inner.core, factors, orthonormal=True)


# --------------------------------------------------------------------------------------
# Input checks


def _check_ranks(ranks: RanksArg, shape: tuple[int, ...], fname: str) -> tuple[int, ...] | None:
    if ranks is None:
        return None
    if isinstance(ranks, (int, np.integer)) and not isinstance(ranks, bool):
        ranks = (int(ranks),) * len(shape)
    ranks = tuple(ranks)  # type: ignore[arg-type]  # an int was expanded above
    if len(ranks) != len(shape):
        raise ValueError(f"{fname}: got {len(ranks)} ranks for a tensor with {len(shape)} modes {shape}")
    for k, (r, n) in enumerate(zip(ranks, shape)):
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)):
            raise TypeError(f"{fname}: rank for mode {k} must be an int, got {type(r).__name__}")
        if r < 1:
            raise ValueError(f"{fname}: rank {r} for mode {k} must be >= 1")
        if r > n:
            raise ValueError(f"{fname}: rank {r} for mode {k} exceeds its dimension {n}")
    return tuple(int(r) for r in ranks)


def _check_tol(tol: float | None, fname: str) -> float | None:
    if tol is None:
        return None
    if not (isinstance(tol, (int, float, np.floating)) and 0.0 < float(tol) < 1.0):
        raise ValueError(f"{fname}: tol must be in (0, 1) (a relative error), got {tol}")
    return float(tol)


# --------------------------------------------------------------------------------------
# Leading left singular vectors of one unfolding


# --------------------------------------------------------------------------------------
# Algorithms


Method = Literal["svd", "randomized"]


def _prepare(
    x: Any, ranks: RanksArg, tol: float | None, fname: str, method: str
) -> tuple[Any, tuple[int, ...] | None, float | None]:
    xp = check_tensor(x, fname, what="x")
    shape = tuple(int(s) for s in x.shape)
    ranks_t = _check_ranks(ranks, shape, fname)
    tol = _check_tol(tol, fname)
    if ranks_t is None and tol is None:
        raise ValueError(f"{fname}: give ranks=... or tol=... (neither was given)")
    if ranks_t is not None and tol is not None:
        raise ValueError(f"{fname}: give either ranks or tol, not both")
    if method not in ("svd", "randomized"):
        raise ValueError(f"{fname}: unknown method {method!r}; use 'svd' or 'randomized'")
    if method == "randomized" and ranks_t is None:
        raise ValueError(f"{fname}: method='randomized' needs ranks=... (the sketch width)")
    return xp, ranks_t, tol


def sthosvd(
    x: Any,
    ranks: RanksArg = None,
    tol: float | None = None,
    *,
    method: Method = "svd",
    oversample: int = 10,
    n_iter: int = 2,
    rng: np.random.Generator | int | None = None,
    order: Sequence[int] | None = None,
) -> Tucker:
    """Sequentially truncated HOSVD: truncate one mode, project, move to the next.

    Parameters
    ----------
    x : array, shape (n_1, ..., n_N)
        Real or complex tensor of any supported library.
    ranks : int or sequence of int, optional
        Multilinear rank to produce exactly (an int applies to every mode).
    tol : float, optional
        Relative error target in ``(0, 1)``: guarantees
        ``||x - t.to_dense()||_F <= tol * ||x||_F``. Each mode may discard a squared
        weight of ``tol**2 ||x||^2 / N``; ranks are the smallest that fit.
    method : {"svd", "randomized"}
        ``"svd"``: exact leading singular vectors of each unfolding (a thin SVD,
        or for wide unfoldings with ``n_k >= 64`` columns ``>= 4 n_k`` the
        eigendecomposition of the ``n_k x n_k`` Gram matrix, which is much
        cheaper and accurate to ``~ eps ||x||^2`` in the discarded weight).
        ``"randomized"``: :func:`tnkit.linalg.randomized_svd` of each unfolding,
        a Gaussian sketch with ``rank + oversample`` columns and ``n_iter`` power
        iterations [HMT]_; needs ``ranks``.
    oversample, n_iter, rng
        Sketch parameters for ``method="randomized"`` (``rng`` also seeds the
        rare completion of a basis when an unfolding has fewer columns than the
        requested rank).
    order : sequence of int, optional
        Order in which the modes are truncated (default ``0, 1, ..., N-1``).

    Returns
    -------
    Tucker
        Orthonormal factors; ``core = x x_1 U_1^H ... x_N U_N^H``.

    Raises
    ------
    ValueError
        NaN/Inf input, a zero-length axis, a rank above its mode's dimension, a wrong
        number of ranks, ``tol`` outside ``(0, 1)``, both or neither of ``ranks``/``tol``.

    Notes
    -----
    Data whose squared norm would leave the dtype's range (float64 entries beyond
    ~1e150 or below ~1e-139) are decomposed after an exact rescaling by a power of two
    (:mod:`tnkit.linalg.scaling`), so the ranks are those of the data scaled to unit size.

    References
    ----------
    .. [HMT] N. Halko, P.-G. Martinsson, J. A. Tropp, "Finding structure with
       randomness", SIAM Review 53 (2011) 217-288.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> g = rng.standard_normal((2, 3, 2))
    >>> us = [np.linalg.qr(rng.standard_normal((n, r)))[0] for n, r in [(6, 2), (7, 3), (5, 2)]]
    >>> x = np.einsum("abc,ia,jb,kc->ijk", g, *us)
    >>> t = sthosvd(x, tol=1e-8)
    >>> t.ranks
    (2, 3, 2)
    >>> bool(np.linalg.norm(t.to_dense() - x) <= 1e-8 * np.linalg.norm(x))
    True
    """
    xp, ranks_t, tol = _prepare(x, ranks, tol, "sthosvd", method)
    x = backend.c_contiguous(x)  # at most one copy, into the layout every unfolding wants
    n = x.ndim
    order = list(range(n)) if order is None else [int(k) for k in order]
    if sorted(order) != list(range(n)):
        raise ValueError(f"sthosvd: order must be a permutation of 0..{n - 1}, got {order}")
    e = array_exponent(xp, x)
    if e:
        # Squared norms of x would leave the dtype's range: decompose x / 2**e (exact),
        # whose ranks are those of x, and put 2**e back into the core.
        t = sthosvd(
            scale_pow2(xp, x, -e),
            ranks_t,
            tol,
            method=method,
            oversample=oversample,
            n_iter=n_iter,
            rng=rng,
            order=order,
        )
        return Tucker(scale_pow2(xp, t.core, e), t.factors, orthonormal=True)
    gen = backend.make_rng(rng)
    budget = None if tol is None else tol * tol * _squared_norm(xp, x) / n
    core = x
    factors: list[Any] = [None] * n
    for k in order:
        u = _leading_left(
            _unfold(xp, core, k),
            None if ranks_t is None else ranks_t[k],
            budget,
            method=method,
            oversample=oversample,
            n_iter=n_iter,
            rng=gen,
        )
        factors[k] = u
        core = _mode_product(core, _adjoint(xp, u), k)
    return Tucker(core, factors, orthonormal=True)


def hosvd(
    x: Any,
    ranks: RanksArg = None,
    tol: float | None = None,
    *,
    method: Method = "svd",
    oversample: int = 10,
    n_iter: int = 2,
    rng: np.random.Generator | int | None = None,
) -> Tucker:
    """Truncated HOSVD: every factor from the unfolding of the full tensor [DDV]_.

    The same guarantee and errors as :func:`sthosvd`; costlier (every SVD sees the
    full tensor) and usually slightly less accurate, but the factors do not depend on
    a processing order.

    Parameters
    ----------
    x : array, shape (n_1, ..., n_N)
        Real or complex tensor of any supported library.
    ranks : int or sequence of int, optional
        Multilinear rank to produce exactly (an int applies to every mode).
    tol : float, optional
        Relative error target in ``(0, 1)``: guarantees
        ``||x - t.to_dense()||_F <= tol * ||x||_F``.
    method : {"svd", "randomized"}
        How each unfolding's leading singular vectors are found, as in :func:`sthosvd`.
    oversample, n_iter, rng
        Sketch parameters for ``method="randomized"``, as in :func:`sthosvd`.

    References
    ----------
    .. [DDV] L. De Lathauwer, B. De Moor, J. Vandewalle, "A multilinear singular
       value decomposition", SIAM J. Matrix Anal. Appl. 21 (2000) 1253-1278; and "On
       the best rank-1 and rank-(R1,...,RN) approximation of higher-order tensors",
       ibid. 1324-1342 (HOOI).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(1).standard_normal((4, 5, 6))
    >>> t = hosvd(x, tol=0.3)
    >>> bool(np.linalg.norm(t.to_dense() - x) <= 0.3 * np.linalg.norm(x))
    True
    """
    xp, ranks_t, tol = _prepare(x, ranks, tol, "hosvd", method)
    x = backend.c_contiguous(x)  # at most one copy, into the layout every unfolding wants
    n = x.ndim
    e = array_exponent(xp, x)
    if e:  # as in sthosvd
        t = hosvd(scale_pow2(xp, x, -e), ranks_t, tol, method=method, oversample=oversample, n_iter=n_iter, rng=rng)
        return Tucker(scale_pow2(xp, t.core, e), t.factors, orthonormal=True)
    gen = backend.make_rng(rng)
    budget = None if tol is None else tol * tol * _squared_norm(xp, x) / n
    factors = [
        _leading_left(
            _unfold(xp, x, k),
            None if ranks_t is None else ranks_t[k],
            budget,
            method=method,
            oversample=oversample,
            n_iter=n_iter,
            rng=gen,
        )
        for k in range(n)
    ]
    core = _multi_mode_product(x, factors, adjoint=True)
    return Tucker(core, factors, orthonormal=True)


def hooi(
    x: Any,
    ranks: RanksArg,
    *,
    n_iter_max: int = 50,
    tol: float = 1e-10,
    init: Tucker | None = None,
    return_info: bool = False,
) -> Tucker | tuple[Tucker, dict[str, Any]]:
    """Higher-order orthogonal iteration: alternating best rank-``ranks`` fit [DDV]_.

    Starting from :func:`sthosvd` (or ``init``), each sweep replaces factor ``k``
    by the leading ``r_k`` left singular vectors of the mode-``k`` unfolding of
    ``x x_{j != k} U_j^H`` (the small factors are contracted into ``x`` first).
    The squared error is ``||x||^2 - ||core||^2``; iteration stops when the
    relative error changes by less than ``tol`` between sweeps.

    Parameters
    ----------
    x : array, shape (n_1, ..., n_N)
    ranks : int or sequence of int
        Multilinear rank (exactly honoured).
    n_iter_max : int
        Most sweeps.
    tol : float
        Stopping threshold on the change of the relative error.
    init : Tucker, optional
        Starting point with orthonormal factors of the requested ranks.
    return_info : bool
        Also return ``{"n_iter": ..., "rel_errors": [...]}``.

    Returns
    -------
    Tucker, or (Tucker, dict)
        Orthonormal factors; never worse than its initialisation.

    References
    ----------
    .. [DDV] L. De Lathauwer, B. De Moor, J. Vandewalle, "A multilinear singular
       value decomposition", SIAM J. Matrix Anal. Appl. 21 (2000) 1253-1278; and "On
       the best rank-1 and rank-(R1,...,RN) approximation of higher-order tensors",
       ibid. 1324-1342 (HOOI).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(2).standard_normal((6, 7, 8))
    >>> t0, t1 = sthosvd(x, ranks=3), hooi(x, ranks=3)
    >>> bool(np.linalg.norm(t1.to_dense() - x) <= np.linalg.norm(t0.to_dense() - x) + 1e-12)
    True
    """
    fname = "hooi"
    xp = check_tensor(x, fname, what="x")
    x = backend.c_contiguous(x)  # at most one copy, into the layout every unfolding wants
    shape = tuple(int(s) for s in x.shape)
    if ranks is None:
        raise ValueError(f"{fname}: ranks are required")
    ranks_t = _check_ranks(ranks, shape, fname)
    assert ranks_t is not None  # ranks were given
    if n_iter_max < 0 or not (tol >= 0.0):
        raise ValueError(f"{fname}: n_iter_max and tol must be >= 0, got {n_iter_max}, {tol}")
    e = array_exponent(xp, x)
    if e:  # as in sthosvd; the relative errors are those of the rescaled problem
        if init is not None:
            init = Tucker(scale_pow2(xp, init.core, -e), init.factors, orthonormal=init.orthonormal)
        res = hooi(scale_pow2(xp, x, -e), ranks_t, n_iter_max=n_iter_max, tol=tol, init=init, return_info=True)
        assert isinstance(res, tuple)  # return_info=True
        t, info = res
        out = Tucker(scale_pow2(xp, t.core, e), t.factors, orthonormal=True)
        return (out, info) if return_info else out
    if init is None:
        t = sthosvd(x, ranks=ranks_t)
    else:
        if init.shape != shape or init.ranks != ranks_t:
            raise ValueError(
                f"{fname}: init has shape {init.shape} and ranks {init.ranks}, expected {shape} and {ranks_t}"
            )
        t = init
    factors = list(t.factors)
    n = x.ndim
    norm2 = _squared_norm(xp, x)
    scale = math.sqrt(norm2) if norm2 > 0 else 1.0
    core = _multi_mode_product(x, factors, adjoint=True) if init is not None else t.core
    errors = [math.sqrt(max(norm2 - _squared_norm(xp, core), 0.0)) / scale]
    best = (errors[0], core, list(factors))
    gen = backend.make_rng(0)
    it = 0
    for it in range(1, n_iter_max + 1):
        for k in range(n):
            y = _multi_mode_product(x, factors, adjoint=True, skip=k)
            factors[k] = _leading_left(
                _unfold(xp, y, k),
                ranks_t[k],
                None,
                method="svd",
                oversample=0,
                n_iter=0,
                rng=gen,
                min_aspect=1,  # sweeps refine the subspace, so the cheaper Gram route suffices
            )
        core = _mode_product(y, _adjoint(xp, factors[n - 1]), n - 1)
        err = math.sqrt(max(norm2 - _squared_norm(xp, core), 0.0)) / scale
        errors.append(err)
        if err <= best[0]:
            best = (err, core, list(factors))
        if abs(errors[-2] - err) <= tol:
            break
    out = Tucker(best[1], best[2], orthonormal=True)
    if return_info:
        return out, {"n_iter": it, "rel_errors": errors}
    return out


# --------------------------------------------------------------------------------------
# tnkit.io


def _tucker_to_dict(t: Tucker) -> dict[str, Any]:
    return {
        "core": t.core,
        "factors": {f"{k:05d}": u for k, u in enumerate(t.factors)},
        "orthonormal": int(t.orthonormal),
    }


def _tucker_from_dict(data: dict[str, Any]) -> Tucker:
    factors = [data["factors"][k] for k in sorted(data["factors"])]
    return Tucker(data["core"], factors, orthonormal=bool(int(data["orthonormal"])))


register_type(Tucker, "tucker", _tucker_to_dict, _tucker_from_dict, version=1)
