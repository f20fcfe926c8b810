"""Tensor rings (TR): TT-like cores closed into a loop by a trace.

A :class:`TR` stores a ``d``-way tensor as cores ``G_k`` of shape ``(r_k, n_k, r_{k+1})``
with ``r_d = r_0``:

    X[i_0, ..., i_{d-1}] = trace(G_0[:, i_0, :] @ G_1[:, i_1, :] @ ... @ G_{d-1}[:, i_{d-1}, :])

A TT is the special case ``r_0 = 1``. Built from dense data by :func:`tr_svd` (one pass
of sequential SVDs) or :func:`tr_als` (alternating least squares at fixed ranks).

References
----------
.. [ZZXZC] Q. Zhao, G. Zhou, S. Xie, L. Zhang and A. Cichocki, "Tensor ring
   decomposition", arXiv:1606.05535 (2016).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.backend import namespace
from tnkit.checks import check_tensor
from tnkit.decompositions.chain import Chain
from tnkit.decompositions.tt import _check_tol, _host_float
from tnkit.io import register_type
from tnkit.linalg import truncated_svd
from tnkit.linalg.scaling import array_exponent, scale_pow2

__all__ = ["TR", "tr_svd", "tr_als"]


class TR(Chain):
    """A tensor in tensor-ring format.

    Parameters
    ----------
    cores : sequence of arrays
        ``G_k`` of shape ``(r_k, n_k, r_{k+1})`` with ``r_d = r_0``; one library and dtype.

    Raises
    ------
    ValueError
        Wrong number of axes or mismatched bonds (including the closing one).

    Examples
    --------
    >>> import numpy as np
    >>> g = np.ones((2, 3, 2))
    >>> float(TR([g, g]).to_dense()[0, 0])  # trace of (all-ones 2x2)^2
    4.0
    """

    def __init__(self, cores: Sequence[Any]) -> None:
        super().__init__(cores, "TR", closed=True)

    @property
    def ranks(self) -> tuple[int, ...]:
        """Ring ranks ``(r_0, ..., r_{d-1})`` (``r_d = r_0`` is not repeated)."""
        return tuple(int(g.shape[0]) for g in self.cores)

    def __repr__(self) -> str:
        return f"TR(shape={self.shape}, ranks={self.ranks}, dtype={self.dtype})"

    def to_dense(self) -> Any:
        """The full tensor (differentiable on torch).

        Examples
        --------
        >>> import numpy as np
        >>> x = np.arange(24.0).reshape(2, 3, 4)
        >>> bool(np.allclose(tr_svd(x, tol=1e-12).to_dense(), x))
        True
        """
        xp = namespace(*self.cores)
        chain = _chain(xp, self.cores)  # (r_0, N, r_0)
        r0 = chain.shape[0]
        eye = xp.eye(r0, dtype=chain.dtype, device=backend.device_of(chain))
        dense = xp.sum(chain * eye[:, None, :], axis=(0, 2))
        return xp.reshape(dense, self.shape)

    def norm(self) -> Any:
        """Frobenius norm (0-d real array) from the dense tensor."""
        xp = namespace(*self.cores)
        return xp.linalg.vector_norm(self.to_dense())


def _chain(xp: Any, cores: Sequence[Any]) -> Any:
    """Open chain ``G_a ... G_b`` as an array (r_left, prod n, r_right), C order."""
    acc = cores[0]
    for g in cores[1:]:
        r, n, r2 = acc.shape
        rg, ng, rg2 = g.shape
        prod = xp.reshape(acc, (r * n, r2)) @ xp.reshape(g, (rg, ng * rg2))
        acc = xp.reshape(prod, (r, n * ng, rg2))
    return acc


def _check_ranks(ranks: Sequence[int], d: int, fname: str) -> list[int]:
    ranks = [int(r) for r in ranks]
    if len(ranks) != d:
        raise ValueError(f"{fname}: need {d} ring ranks (r_0, ..., r_{d - 1}) for a {d}-way tensor, got {len(ranks)}")
    if any(r < 1 for r in ranks):
        raise ValueError(f"{fname}: ranks must be >= 1, got {ranks}")
    return ranks


def _balanced_split(r: int) -> tuple[int, int]:
    """``r = a * b`` with ``a <= b`` as close as possible."""
    a = int(math.isqrt(r))
    while r % a:
        a -= 1
    return a, r // a


def tr_svd(x: Any, tol: float | None = None, ranks: Sequence[int] | None = None) -> TR:
    """Tensor-ring decomposition by sequential SVDs (TR-SVD of [ZZXZC]_).

    The first unfolding ``(n_0, n_1 ... n_{d-1})`` is split at rank ``r_0 r_1`` and the
    factor reshaped into the first core and the ring-closing bond; the remainder is
    decomposed by TT-style sequential SVDs.

    Parameters
    ----------
    x : array, shape (n_0, ..., n_{d-1}), d >= 2
    tol : float, optional
        Relative accuracy ``||x - X||_F <= tol ||x||_F``: the first truncation may
        discard ``2 tol^2 ||x||^2 / d``, each later one ``tol^2 ||x||^2 / d``. The
        first rank is split as evenly as possible into ``r_0 * r_1``.
    ranks : sequence of int, optional
        Fixed ring ranks ``(r_0, ..., r_{d-1})``. Give exactly one of ``tol``, ``ranks``.

    Returns
    -------
    TR

    Raises
    ------
    ValueError
        NaN/Inf input, a zero-length axis, both or neither of ``tol``/``ranks``,
        ``len(ranks) != d``, or a rank larger than its unfolding allows.

    References
    ----------
    .. [ZZXZC] Q. Zhao, G. Zhou, S. Xie, L. Zhang and A. Cichocki, "Tensor ring
       decomposition", arXiv:1606.05535 (2016).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ring = TR([rng.standard_normal((2, 6, 3)), rng.standard_normal((3, 5, 2)),
    ...            rng.standard_normal((2, 6, 2))])
    >>> t = tr_svd(ring.to_dense(), tol=1e-12)
    >>> err = np.linalg.norm(t.to_dense() - ring.to_dense()) / np.linalg.norm(ring.to_dense())
    >>> bool(err < 1e-12)
    True
    """
    fname = "tr_svd"
    xp = check_tensor(x, fname, what="x", min_ndim=2)
    x = backend.c_contiguous(x)  # at most one copy, into the layout every unfolding wants
    _check_tol(tol, fname)
    shape = tuple(int(n) for n in x.shape)
    d = len(shape)
    if (tol is None) == (ranks is None):
        raise ValueError(f"{fname}: give exactly one of tol (accuracy) or ranks (fixed ring ranks)")
    fixed = None if ranks is None else _check_ranks(ranks, d, fname)
    e = array_exponent(xp, x)
    if e:
        # Squared norms of x would leave the dtype's range: decompose x / 2**e (exact),
        # whose ranks are those of x, and put 2**e back into the first core.
        t = tr_svd(scale_pow2(xp, x, -e), tol, fixed)
        return TR([scale_pow2(xp, t.cores[0], e)] + t.cores[1:])
    total = _host_float(xp.linalg.vector_norm(x)) ** 2
    budget = (tol or 0.0) ** 2 * total / d

    carry = xp.reshape(x, (shape[0], -1))
    if fixed is not None:
        r0, r1 = fixed[0], fixed[1]
        if r0 * r1 > min(carry.shape):
            raise ValueError(
                f"{fname}: r_0 * r_1 = {r0 * r1} exceeds min{tuple(carry.shape)} of the first "
                f"unfolding; lower ranks[0] or ranks[1]"
            )
        u, s, vh, _ = truncated_svd(carry, max_rank=r0 * r1)
        if u.shape[1] < r0 * r1:
            raise ValueError(f"{fname}: first unfolding has rank {u.shape[1]} < r_0 * r_1 = {r0 * r1}")
    else:
        u, s, vh, _ = truncated_svd(carry, cutoff=2.0 * budget, cutoff_mode="discarded")
        r0, r1 = _balanced_split(u.shape[1])
    first = xp.permute_dims(xp.reshape(u, (shape[0], r0, r1)), (1, 0, 2))
    cores = [first]
    rest = xp.astype(s, vh.dtype)[:, None] * vh  # (r0 r1, n_1 ... n_{d-1})
    rest = xp.permute_dims(xp.reshape(rest, (r0, r1, -1)), (1, 2, 0))  # (r1, n_1..., r0)
    r = r1
    carry = xp.reshape(rest, (r * shape[1], -1))
    for k in range(1, d - 1):
        if fixed is not None:
            cap = fixed[k + 1]
            if cap > min(carry.shape):
                raise ValueError(f"{fname}: rank r_{k + 1} = {cap} exceeds min{tuple(carry.shape)} of unfolding {k}")
            u, s, vh, _ = truncated_svd(carry, max_rank=cap)
        else:
            u, s, vh, _ = truncated_svd(carry, cutoff=budget, cutoff_mode="discarded")
        r2 = u.shape[1]
        cores.append(xp.reshape(u, (r, shape[k], r2)))
        carry = xp.reshape(xp.astype(s, vh.dtype)[:, None] * vh, (r2 * shape[k + 1], -1))
        r = r2
    cores.append(xp.reshape(carry, (r, shape[-1], r0)))
    return TR(cores)


def tr_als(
    x: Any,
    ranks: Sequence[int],
    n_iter: int = 100,
    tol: float = 1e-8,
    rng: np.random.Generator | int | None = None,
    *,
    return_errors: bool = False,
) -> TR | tuple[TR, list[float]]:
    """Tensor-ring decomposition at fixed ranks by alternating least squares [ZZXZC]_.

    Each update solves for one core with the others fixed: with the subchain
    ``Q = G_{k+1} ... G_{k-1}`` the mode-k unfolding (remaining modes in cyclic
    order) reads ``X_(k) = G_k,(2) Q_(2)``, a linear least-squares problem solved by
    the normal equations.

    Parameters
    ----------
    x : array, shape (n_0, ..., n_{d-1}), d >= 2
    ranks : sequence of int
        Ring ranks ``(r_0, ..., r_{d-1})``.
    n_iter : int
        Most sweeps over all cores.
    tol : float
        Stop when the relative error changes by less than ``tol`` between sweeps.
    rng : numpy.random.Generator, int or None
        Source of the random initial cores.
    return_errors : bool
        Also return the relative error ``||x - X||_F / ||x||_F`` after each sweep.

    Returns
    -------
    TR, or (TR, list of float) when ``return_errors``.

    Raises
    ------
    ValueError
        NaN/Inf input, a zero-length axis, ``len(ranks) != d``, ranks < 1, ``n_iter < 1``.

    References
    ----------
    .. [ZZXZC] Q. Zhao, G. Zhou, S. Xie, L. Zhang and A. Cichocki, "Tensor ring
       decomposition", arXiv:1606.05535 (2016).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> ring = TR([rng.standard_normal((2, 6, 2)) for _ in range(4)])
    >>> t, errs = tr_als(ring.to_dense(), (2, 2, 2, 2), rng=1, return_errors=True)
    >>> bool(errs[-1] < 1e-3), bool(errs[-1] <= errs[0])
    (True, True)
    """
    fname = "tr_als"
    xp = check_tensor(x, fname, what="x", min_ndim=2)
    x = backend.c_contiguous(x)  # at most one copy, into the layout every unfolding wants
    shape = tuple(int(n) for n in x.shape)
    d = len(shape)
    rk = _check_ranks(ranks, d, fname)
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ValueError(f"{fname}: n_iter must be an int >= 1, got {n_iter!r}")
    _check_tol(tol, fname)
    e = array_exponent(xp, x)
    if e:  # as in tr_svd; the relative errors are those of the rescaled problem
        res = tr_als(scale_pow2(xp, x, -e), rk, n_iter, tol, rng, return_errors=True)
        assert isinstance(res, tuple)  # return_errors=True
        t, errs = res
        t = TR([scale_pow2(xp, t.cores[0], e)] + t.cores[1:])
        return (t, errs) if return_errors else t
    dev = backend.device_of(x)
    gen = backend.make_rng(rng)
    cores = [
        backend.random_normal(xp, (rk[k], shape[k], rk[(k + 1) % d]), dtype=x.dtype, device=dev, rng=gen)
        / math.sqrt(rk[k] * rk[(k + 1) % d])
        for k in range(d)
    ]
    xnorm = _host_float(xp.linalg.vector_norm(x))
    if xnorm == 0.0:
        zero = TR([xp.zeros_like(g) for g in cores])
        return (zero, [0.0]) if return_errors else zero
    unfoldings = [
        xp.reshape(xp.permute_dims(x, tuple((k + j) % d for j in range(d))), (shape[k], -1)) for k in range(d)
    ]
    cplx = xp.isdtype(x.dtype, "complex floating")
    eps = backend.dtype_eps(xp, x.dtype)
    errors: list[float] = []
    for _ in range(n_iter):
        err = 0.0
        for k in range(d):
            others = [cores[(k + j) % d] for j in range(1, d)]
            sub = _chain(xp, others)  # (r_{k+1}, N, r_k)
            rb, big, ra = sub.shape
            # q[(a, b), j] = sub[b, j, a], so X_(k)[i, j] = sum_{a,b} G_k[a, i, b] q[(a, b), j]
            q = xp.reshape(xp.permute_dims(sub, (2, 0, 1)), (ra * rb, big))
            qc = xp.conj(q) if cplx else q
            gram = qc @ xp.matrix_transpose(q)  # conj(q q^H), Hermitian positive semidefinite
            shift = 1e-14 * _host_float(xp.max(xp.abs(xp.linalg.diagonal(gram)))) + 1e-300
            gram = gram + shift * xp.eye(ra * rb, dtype=gram.dtype, device=dev)
            # min ||X_(k) - G q||  <=>  G (q q^H) = X q^H  <=>  conj(q q^H) G^T = conj(q) X^T
            gmat_t = xp.linalg.solve(gram, qc @ xp.matrix_transpose(unfoldings[k]))
            gmat = xp.matrix_transpose(gmat_t)  # (n_k, ra rb)
            cores[k] = xp.permute_dims(xp.reshape(gmat, (shape[k], ra, rb)), (1, 0, 2))
            if k == d - 1:
                resid = unfoldings[k] - gmat @ q
                err = _host_float(xp.linalg.vector_norm(resid)) / xnorm
        errors.append(err)
        if len(errors) > 1 and abs(errors[-2] - errors[-1]) <= tol * errors[-2]:
            break
        if err <= 100 * eps:
            break
    result = TR(cores)
    return (result, errors) if return_errors else result


# --------------------------------------------------------------------------------------
# tnkit.io


def _tr_to_dict(t: TR) -> dict[str, Any]:
    return {"cores": {f"{k:05d}": g for k, g in enumerate(t.cores)}}


def _tr_from_dict(data: dict[str, Any]) -> TR:
    return TR([data["cores"][k] for k in sorted(data["cores"])])


register_type(TR, "tr", _tr_to_dict, _tr_from_dict, version=1)
