"""Operations on the cores of a tree tensor network shared by :class:`~tnkit.tree.ttn.TTN`,
the projectors and the BUG integrators: contractions by node labels, mode products,
block layouts, padding, and the truncation budgets and rank caps of each edge.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.backend import namespace
from tnkit.checks import is_int
from tnkit.contract import contract
from tnkit.linalg import qr, truncation_rank
from tnkit.tree.topology import Tree

__all__: list[str] = []

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum(operands: Sequence[tuple[Any, Sequence[int]]], out: Sequence[int]) -> Any:
    """``contract`` with integer labels (at most 52 distinct)."""
    labels = sorted({lab for _, labs in operands for lab in labs})
    if len(labels) > len(_LETTERS):
        raise ValueError("TTN: contraction needs more than 52 indices")
    letter = {lab: _LETTERS[i] for i, lab in enumerate(labels)}
    subs = ",".join("".join(letter[lab] for lab in labs) for _, labs in operands)
    subs += "->" + "".join(letter[lab] for lab in out)
    return contract(subs, *[a for a, _ in operands])


def _mode_multiply(xp: Any, t: Any, m: Any, axis: int) -> Any:
    """``t x_axis m``: axis ``axis`` of ``t`` (size ``m.shape[1]``) becomes ``m @ .``."""
    moved = xp.moveaxis(t, axis, 0)
    shape = tuple(moved.shape)
    res = m @ xp.reshape(moved, (shape[0], -1))
    return xp.moveaxis(xp.reshape(res, (m.shape[0],) + shape[1:]), 0, axis)


def _block_diag(xp: Any, a: Any, b: Any, *, stack_last: bool) -> Any:
    """Direct sum of two connecting tensors over the child axes (and the last when asked)."""
    nd = a.ndim
    grow = nd if stack_last else nd - 1
    shape = tuple(a.shape[k] + b.shape[k] if k < grow else a.shape[k] for k in range(nd))
    out = xp.zeros(shape, dtype=a.dtype, device=backend.device_of(a))
    sa = tuple(slice(0, a.shape[k]) for k in range(nd))
    sb = tuple(slice(a.shape[k], None) if k < grow else slice(None) for k in range(nd))
    out[sa] = a
    out[sb] = b
    return out


def _rank_cap(tree: Tree, dims: Sequence[int], node: int, bond_dim: int) -> int:
    """Largest useful bond above ``node``: ``min(bond_dim, n_below, n_rest)``."""
    below = math.prod(dims[m] for m in tree.modes_below[node])
    return min(bond_dim, below, math.prod(dims) // below)


def _pad_children(core: Any, sizes: tuple[int, ...]) -> Any:
    """Zero-pad the child axes of a connecting tensor to ``sizes`` (old entries lead)."""
    xp = namespace(core)
    if tuple(core.shape[:-1]) == sizes:
        return core
    out = xp.zeros(sizes + (core.shape[-1],), dtype=core.dtype, device=backend.device_of(core))
    out[tuple(slice(0, n) for n in core.shape)] = core
    return out


def _host_norm(xp: Any, x: Any) -> float:
    return float(backend.to_host(xp.linalg.vector_norm(xp.reshape(x, (-1,)))))


def _edge_budget(tol: float | None, relative: bool, norm: float, num_edges: int) -> float:
    """Discarded squared weight allowed per edge."""
    if not tol:
        return 0.0
    try:
        total = (tol * norm) ** 2 if relative else tol**2
    except OverflowError:  # a budget beyond float64 truncates every edge to rank one anyway
        total = sys.float_info.max
    return total / max(num_edges, 1)


def _keep(s: np.ndarray, budget: float, max_rank: int | None) -> int:
    """Rank kept on an edge with singular values ``s``: the discarded squared weight within
    ``budget`` (:func:`tnkit.linalg.truncation_rank`), or every non-zero value when it is 0."""
    if budget > 0:
        return truncation_rank(s, max_rank, budget, "discarded")
    keep = max(int(np.count_nonzero(s > 0)), 1)
    return keep if max_rank is None else min(keep, max_rank)


def _check_tol(tol: float | None, where: str) -> None:
    if tol is not None and (not isinstance(tol, numbers.Real) or not math.isfinite(tol) or tol < 0):
        raise ValueError(f"{where}: tol must be a non-negative finite number, got {tol!r}")


def _check_rank(max_rank: int | None, where: str) -> None:
    if max_rank is not None and (not is_int(max_rank) or max_rank < 1):
        raise ValueError(f"{where}: max_rank must be a positive integer, got {max_rank!r}")


def _scaled_tol(tol: float | None, relative: bool, e: int) -> float | None:
    """``tol`` for the network divided by ``2**e``: unchanged when relative, else divided too."""
    if relative or not e or not tol:
        return tol
    with np.errstate(over="ignore", under="ignore"):
        return min(float(np.ldexp(tol, -e)), sys.float_info.max)


def expand_cores(
    tree: Tree, tensors: list[Any], dims: Sequence[int], bond_dim: int, rng: np.random.Generator | int | None
) -> list[Any]:
    """The cores of an orthonormal TTN with every bond enlarged to ``min(bond_dim, possible)``:
    random new directions, orthonormal to the old ones, with zero weight."""
    xp = namespace(tensors[0])
    gen = backend.make_rng(rng)
    for node in range(tree.num_nodes):
        t = tensors[node]
        ch = tree.children[node]
        if ch:
            t = _pad_children(t, tuple(int(tensors[c].shape[-1]) for c in ch))
        if node == tree.root:
            tensors[node] = t
            break
        head = tuple(t.shape[:-1])
        rows = math.prod(head)
        target = min(_rank_cap(tree, dims, node, bond_dim), rows)
        basis = xp.reshape(t, (rows, t.shape[-1]))
        if target > basis.shape[1]:
            extra = backend.random_normal(
                xp, (rows, target - basis.shape[1]), dtype=t.dtype, device=backend.device_of(t), rng=gen
            )
            for _ in range(2):
                extra = extra - basis @ (backend.adjoint(xp, basis) @ extra)
            q, _ = qr(extra)
            basis = xp.concat([basis, q], axis=1)
        tensors[node] = xp.reshape(basis, head + (basis.shape[1],))
    return tensors
