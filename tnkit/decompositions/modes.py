"""Mode algebra of dense tensors shared by the Tucker and CP decompositions: unfoldings,
mode products, block layouts, and the dominant left subspace of an unfolding (by SVD, or
through its Gram matrix when that is accurate enough and much cheaper).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.backend import adjoint as _adjoint
from tnkit.backend import conj as _conj
from tnkit.backend import namespace
from tnkit.contract import contract
from tnkit.linalg import qr, randomized_svd, truncated_svd

__all__: list[str] = []

# Below these sizes a thin SVD of the unfolding is cheap and the most accurate;
# above them the Gram matrix (n x n) and its eigendecomposition cost far less.
_GRAM_MIN_DIM = 64


_GRAM_MIN_ASPECT = 4

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _unfold(xp: Any, x: Any, mode: int) -> Any:
    """Mode-``mode`` unfolding, shape ``(n_mode, prod of the other dims)``."""
    perm = (mode,) + tuple(i for i in range(x.ndim) if i != mode)
    moved = xp.permute_dims(x, perm) if mode else x
    return xp.reshape(moved, (x.shape[mode], -1))


def _mode_product(x: Any, m: Any, mode: int) -> Any:
    """``x x_mode m`` for a matrix ``m`` of shape ``(p, n_mode)``."""
    n = x.ndim
    src = _LETTERS[:n]
    dst = src[:mode] + "Z" + src[mode + 1 :]
    return contract(f"Z{src[mode]},{src}->{dst}", m, x)


def _multi_mode_product(x: Any, mats: Sequence[Any], *, adjoint: bool, skip: int | None = None) -> Any:
    """``x`` times ``mats[k]`` (or its adjoint) along every mode ``k != skip``, in one contraction.

    ``mats[k]`` has shape ``(n_k, r_k)``: ``adjoint=False`` maps mode size ``r_k`` to
    ``n_k``; ``adjoint=True`` maps ``n_k`` to ``r_k`` with the conjugate transpose.
    """
    xp = namespace(x)
    n = x.ndim
    src = _LETTERS[:n]
    out = list(src)
    terms, ops = [], []
    for k, m in enumerate(mats):
        if k == skip:
            continue
        big = _UPPER[k]
        if adjoint:
            terms.append(f"{src[k]}{big}")
            ops.append(_conj(xp, m))
        else:
            terms.append(f"{big}{src[k]}")
            ops.append(m)
        out[k] = big
    if not ops:
        return x
    return contract(f"{src}," + ",".join(terms) + "->" + "".join(out), x, *ops)


def _block_diagonal(xp: Any, a: Any, b: Any) -> Any:
    """Order-N block diagonal of two cores: ``a`` in the leading corner, ``b`` in the trailing one."""
    pad_a = [(0, int(s)) for s in b.shape]
    pad_b = [(int(s), 0) for s in a.shape]
    return _zero_pad(xp, a, pad_a) + _zero_pad(xp, b, pad_b)


def _zero_pad(xp: Any, a: Any, pads: Sequence[tuple[int, int]]) -> Any:
    """``a`` with zeros added before/after along each axis (concat only: differentiable)."""
    dev = backend.device_of(a)
    out = a
    for axis, (before, after) in enumerate(pads):
        parts = []
        if before:
            shape = list(out.shape)
            shape[axis] = before
            parts.append(xp.zeros(tuple(shape), dtype=a.dtype, device=dev))
        parts.append(out)
        if after:
            shape = list(out.shape)
            shape[axis] = after
            parts.append(xp.zeros(tuple(shape), dtype=a.dtype, device=dev))
        if len(parts) > 1:
            out = xp.concat(parts, axis=axis)
    return out


def _squared_norm(xp: Any, x: Any) -> float:
    return float(xp.linalg.vector_norm(x)) ** 2


def _leading_left(
    a: Any,
    rank: int | None,
    budget: float | None,
    *,
    method: str,
    oversample: int,
    n_iter: int,
    rng: np.random.Generator,
    min_aspect: int = _GRAM_MIN_ASPECT,
) -> Any:
    """Orthonormal ``(n, r)`` basis of ``a``'s dominant left singular subspace.

    ``rank`` fixes ``r``; otherwise ``r`` is the smallest rank whose discarded weight
    ``sum_{i>r} s_i^2`` is at most ``budget`` (absolute). When ``a`` has fewer
    columns than ``rank`` the basis is completed with orthonormal directions
    (which then carry zero weight), so requested ranks are always honoured.
    """
    xp = namespace(a)
    n, m = int(a.shape[0]), int(a.shape[1])
    if method == "randomized" and rank is not None and rank < min(n, m):
        u, _, _ = randomized_svd(a, rank, n_oversamples=oversample, n_iter=n_iter, rng=rng)
    elif n >= _GRAM_MIN_DIM and m >= min_aspect * n and _gram_accurate(xp, a, budget):
        u = _gram_left(xp, a, rank, budget)
    elif rank is not None:
        u = truncated_svd(a, max_rank=rank)[0]
    else:
        u = truncated_svd(a, cutoff=budget if budget is not None and budget > 0 else 0.0, cutoff_mode="discarded")[0]
    if rank is not None and u.shape[1] < rank:
        u = _complete_basis(xp, u, rank, rng)
    return u


def _gram_accurate(xp: Any, a: Any, budget: float | None) -> bool:
    """Whether eigenvalues of ``a a^H`` resolve the tail to ``budget``.

    The Gram eigenvalues carry an absolute error of about ``n eps ||a||_2^2``; a
    tolerance-driven truncation must not hinge on weights below that.
    """
    if budget is None:
        return True
    eps = backend.dtype_eps(xp, a.dtype)
    return budget > 1e3 * eps * int(a.shape[0]) * _squared_norm(xp, a)


def _gram_left(xp: Any, a: Any, rank: int | None, budget: float | None) -> Any:
    gram = a @ _adjoint(xp, a)
    w, v = xp.linalg.eigh(gram)
    w = xp.flip(w, axis=0)
    v = xp.flip(v, axis=1)
    if rank is None:
        wh = np.clip(backend.to_host(w).astype(np.float64), 0.0, None)
        tail = np.concatenate([np.cumsum(wh[::-1])[::-1], [0.0]])
        rank = max(int(np.argmax(tail <= budget)), 1)
    return v[:, :rank]


def _complete_basis(xp: Any, u: Any, rank: int, rng: np.random.Generator) -> Any:
    """Append orthonormal columns to ``u`` (orthogonal to it) until it has ``rank``."""
    n, have = int(u.shape[0]), int(u.shape[1])
    g = backend.random_normal(xp, (n, rank - have), dtype=u.dtype, device=backend.device_of(u), rng=rng)
    g = g - u @ (_adjoint(xp, u) @ g)
    q, _ = qr(g)
    q = q - u @ (_adjoint(xp, u) @ q)
    q, _ = qr(q)
    return xp.concat([u, q], axis=1)
