"""Core-shape selection for Tucker decompositions under a parameter budget.

Given the higher-order singular values ``s^(k)_i`` of a tensor (the singular
values of its mode-``k`` unfoldings), choose the multilinear rank ``r`` that
minimises the HOSVD error bound

    E(r) = sum_k sum_{i > r_k} (s^(k)_i)^2      (>= ||X - ST-HOSVD_r(X)||_F^2)

subject to the Tucker parameter count ``prod(r_k) + sum(n_k r_k) <= budget``.
Ghadiri, Fahrbach, Fu and Mirrokni [GFFM]_ pose exactly this surrogate as a
packing problem over per-mode rank choices. The objective is separable over the
modes and non-increasing in each rank; only the budget couples them. Here it is
solved *exactly* by enumerating the ranks of all modes but one (pruned by the
budget left for the remaining modes at rank 1) and giving the last mode -- the
largest -- the biggest rank that still fits, which is optimal for it because its
tail is non-increasing. The greedy baseline grows one rank at a time, taking the
mode with the largest bound decrease per added parameter.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from tnkit import backend
from tnkit.backend import namespace
from tnkit.decompositions.tucker import sthosvd
from tnkit.types import Array

__all__ = ["CoreShape", "core_shape", "core_shape_from_spectra", "mode_spectra"]

_MAX_STATES = 20_000_000


@dataclasses.dataclass(frozen=True)
class CoreShape:
    """A chosen multilinear rank.

    Attributes
    ----------
    ranks : tuple of int
        ``(r_1, ..., r_N)``.
    params : int
        ``prod(r_k) + sum(n_k r_k)``.
    estimated_rre : float
        ``sqrt(E(r)) / ||X||_F`` from the higher-order singular values: an upper
        bound on the relative error of :func:`tnkit.decompositions.tucker.sthosvd` at these ranks.
    """

    ranks: tuple[int, ...]
    params: int
    estimated_rre: float


def mode_spectra(x: Array) -> list[np.ndarray]:
    """Squared singular values of every mode unfolding, on the host, descending.

    Parameters
    ----------
    x : array, shape (n_1, ..., n_N)

    Returns
    -------
    list of numpy.ndarray
        Entry ``k`` has length ``n_k`` (zero-padded when the unfolding has fewer
        columns than rows); each sums to ``||x||_F^2``. Unfoldings with
        ``n_k >= 64`` and at least ``4 n_k`` columns use the eigenvalues of the
        ``n_k x n_k`` Gram matrix (absolute error ``~ eps ||x||^2``, so estimated
        relative errors below ``~ sqrt(eps)`` are not resolved there).

    Examples
    --------
    >>> import numpy as np
    >>> [s.round(6).tolist() for s in mode_spectra(np.ones((2, 2)))]
    [[4.0, 0.0], [4.0, 0.0]]
    """
    xp = namespace(x)
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError("mode_spectra: input contains NaN or Inf; clean the data first")
    out = []
    for k in range(x.ndim):
        perm = (k,) + tuple(i for i in range(x.ndim) if i != k)
        a = xp.reshape(xp.permute_dims(x, perm), (x.shape[k], -1))
        n, m = int(a.shape[0]), int(a.shape[1])
        if n >= 64 and m >= 4 * n:
            ah = xp.conj(xp.matrix_transpose(a)) if xp.isdtype(a.dtype, "complex floating") else xp.matrix_transpose(a)
            w = backend.to_host(xp.linalg.eigvalsh(a @ ah)).astype(np.float64)[::-1]
            w = np.clip(w, 0.0, None)
        else:
            s = backend.to_host(xp.linalg.svdvals(a)).astype(np.float64)
            w = s * s
        full = np.zeros(n)
        full[: min(n, w.shape[0])] = w[:n]
        out.append(full)
    return out


def _tails(spectra: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``tails[k][r] = sum_{i >= r} s_i^2``: the bound's mode-k term at rank r (index 0..n_k)."""
    return [np.concatenate([np.cumsum(w[::-1])[::-1], [0.0]]) for w in spectra]


def _params(ranks: Sequence[int], shape: Sequence[int]) -> int:
    return math.prod(ranks) + sum(n * r for n, r in zip(shape, ranks))


def _exact(tails: list[np.ndarray], shape: tuple[int, ...], budget: int, top: int = 1) -> list[tuple[int, ...]]:
    n = len(shape)
    order = sorted(range(n), key=lambda k: shape[k])
    last = order[-1]
    rest = order[:-1]
    # Cost of giving every not-yet-assigned mode rank 1 (their n_k each, product factor 1).
    later = [sum(shape[j] for j in order[i + 1 :]) for i in range(n)]
    prod = np.ones(1, dtype=np.int64)
    lin = np.zeros(1, dtype=np.int64)
    err = np.zeros(1)
    chosen = np.zeros((1, 0), dtype=np.int64)
    for i, k in enumerate(rest):
        r = np.arange(1, shape[k] + 1, dtype=np.int64)
        p2 = (prod[:, None] * r[None, :]).ravel()
        c2 = (lin[:, None] + shape[k] * r[None, :]).ravel()
        ok = p2 + c2 + later[i] <= budget
        rows = np.repeat(np.arange(prod.shape[0]), r.shape[0])[ok]
        cols = np.tile(r, prod.shape[0])[ok]
        prod, lin = p2[ok], c2[ok]
        err = err[rows] + tails[k][cols]
        chosen = np.concatenate([chosen[rows], cols[:, None]], axis=1)
        if prod.shape[0] > _MAX_STATES:
            raise ValueError(
                f"core_shape: exact search needs over {_MAX_STATES} states for shape {shape}; use method='greedy'"
            )
    r_last = np.minimum((budget - lin) // (prod + shape[last]), shape[last])
    total = err + tails[last][r_last]
    params = prod * r_last + lin + shape[last] * r_last
    out = []
    for best in np.lexsort((params, total))[:top]:
        ranks = [0] * n
        for i, k in enumerate(rest):
            ranks[k] = int(chosen[best, i])
        ranks[last] = int(r_last[best])
        out.append(tuple(ranks))
    return out


def _greedy(tails: list[np.ndarray], shape: tuple[int, ...], budget: int) -> tuple[int, ...]:
    ranks = [1] * len(shape)
    used = _params(ranks, shape)
    while True:
        best_k, best_score = -1, 0.0
        for k, n in enumerate(shape):
            if ranks[k] >= n:
                continue
            trial = ranks.copy()
            trial[k] += 1
            cost = _params(trial, shape) - used
            if used + cost > budget:
                continue
            gain = tails[k][ranks[k]] - tails[k][ranks[k] + 1]
            if gain / cost > best_score:
                best_k, best_score = k, gain / cost
        if best_k < 0:
            return tuple(ranks)
        ranks[best_k] += 1
        used = _params(ranks, shape)


def core_shape_from_spectra(
    spectra: Sequence[np.ndarray],
    budget: int,
    *,
    method: Literal["exact", "greedy"] = "exact",
) -> CoreShape:
    """:func:`core_shape` from precomputed :func:`mode_spectra` (shape ``n_k = len(spectra[k])``).

    Parameters
    ----------
    spectra : sequence of numpy.ndarray
        Per mode, the spectrum from :func:`mode_spectra`.
    budget : int
        Most stored numbers, ``prod(r_k) + sum(n_k r_k) <= budget``.
    method : {"exact", "greedy"}
        As in :func:`core_shape`.
    """
    spectra = [np.asarray(w, dtype=np.float64) for w in spectra]
    shape = tuple(int(w.shape[0]) for w in spectra)
    if method not in ("exact", "greedy"):
        raise ValueError(f"core_shape: unknown method {method!r}; use 'exact' or 'greedy'")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise TypeError(f"core_shape: budget must be an int (a parameter count), got {type(budget).__name__}")
    minimum = _params((1,) * len(shape), shape)
    if budget < minimum:
        raise ValueError(f"core_shape: budget {budget} is below the minimum {minimum} (all ranks 1) for shape {shape}")
    tails = _tails(spectra)
    ranks = _exact(tails, shape, int(budget))[0] if method == "exact" else _greedy(tails, shape, int(budget))
    return _shape_of(tails, shape, ranks)


def _shape_of(tails: list[np.ndarray], shape: tuple[int, ...], ranks: tuple[int, ...]) -> CoreShape:
    total = float(tails[0][0])
    bound = sum(float(t[r]) for t, r in zip(tails, ranks))
    rre = math.sqrt(max(bound, 0.0) / total) if total > 0 else 0.0
    return CoreShape(ranks=tuple(ranks), params=_params(ranks, shape), estimated_rre=rre)


def core_shape(
    x: Array,
    budget: int,
    *,
    method: Literal["exact", "greedy"] = "exact",
    refine: int = 0,
) -> CoreShape:
    """Multilinear rank within a parameter budget minimising the HOSVD error bound [GFFM]_.

    Parameters
    ----------
    x : array, shape (n_1, ..., n_N)
        The tensor (its unfolding spectra are computed once).
    budget : int
        Most stored numbers, ``prod(r_k) + sum(n_k r_k) <= budget``.
    method : {"exact", "greedy"}
        ``"exact"``: the optimum of the bound under the budget (pruned
        enumeration; the largest mode is solved in closed form). ``"greedy"``:
        grow the rank with the best bound decrease per added parameter.
    refine : int
        With ``method="exact"``: run :func:`tnkit.decompositions.tucker.sthosvd` at the
        ``refine`` best rank tuples of the bound and keep the one with the
        smallest actual error (the bound ignores how modes interact; this costs
        ``refine`` decompositions). 0 (default): the bound's optimum.

    Returns
    -------
    CoreShape
        ``ranks``, ``params`` and ``estimated_rre`` (the bound, relative).

    Raises
    ------
    ValueError
        ``budget`` below the all-ones core (the message names the minimum),
        NaN/Inf input, an unknown method.

    References
    ----------
    .. [GFFM] M. Ghadiri, M. Fahrbach, G. Fu, V. Mirrokni, "Approximately optimal
       core shapes for tensor decompositions", ICML 2023, arXiv:2302.03886.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.einsum("i,j,k->ijk", np.ones(5), np.arange(1.0, 7.0), np.ones(4))
    >>> cs = core_shape(x, 20)
    >>> cs.ranks, cs.params, round(cs.estimated_rre, 12)
    ((1, 1, 1), 16, 0.0)
    """
    if refine < 0:
        raise ValueError(f"core_shape: refine must be >= 0, got {refine}")
    spectra = mode_spectra(x)
    best = core_shape_from_spectra(spectra, budget, method=method)
    if refine <= 1 or method != "exact":
        return best
    shape = tuple(int(w.shape[0]) for w in spectra)
    tails = _tails(spectra)
    xp = namespace(x)
    norm = float(xp.linalg.vector_norm(x))
    errors = []
    candidates = _exact(tails, shape, int(budget), top=refine)
    for ranks in candidates:
        # ||x - x_hat||^2 = ||x||^2 - ||core||^2 for orthonormal factors
        core_norm = float(xp.linalg.vector_norm(sthosvd(x, ranks=ranks).core))
        errors.append(max(norm * norm - core_norm * core_norm, 0.0))
    return _shape_of(tails, shape, candidates[int(np.argmin(errors))])
