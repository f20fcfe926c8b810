"""Einsum-style tensor contraction on any array library.

:func:`contract` takes an einsum expression and arrays from one library (NumPy,
CuPy, PyTorch, or any array API standard namespace) and returns the result in that
library, on the arrays' device. The contraction order is planned from the shapes
alone with opt_einsum and cached, so repeated calls with the same shapes -- the
normal case inside sweeps and training loops -- cost only the execution.

A plan has three parts:

1. a *unary* reduction per operand: diagonals of indices repeated within one
   operand, then sums over indices that occur nowhere else and not in the output;
2. a list of *pairwise* steps, each a batched matrix product (or a broadcast
   product when nothing is summed) with its axis permutations and reshape sizes
   precomputed;
3. a final permutation into the requested output order.

Each library executes the plan with what it does fastest: PyTorch and CuPy run
every step through their native ``einsum`` (which dispatches to BLAS / cuBLAS),
NumPy uses ``matmul`` on reshaped views (``numpy.einsum`` without ``optimize``
does not call BLAS), and any other namespace uses standard operations only
(``permute_dims``, ``reshape``, ``matmul``, ``sum``, ``linalg.diagonal``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import opt_einsum

from tnkit.backend import GENERIC, lookup, namespace, register
from tnkit.types import Array, Namespace

__all__ = ["ContractionPlan", "PathSpec", "contract", "contraction_plan", "cache_info", "clear_cache"]

# Labels handed to native einsum implementations; torch.einsum accepts these only.
_EINSUM_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

_PLAN_CACHE_SIZE = 1024

#: How to find the contraction order: an opt_einsum strategy name (``"auto"``,
#: ``"greedy"``, ``"optimal"``, ``"dp"``, ...), ``True`` (``"auto"``), ``False``
#: (left to right), an explicit path, or an opt_einsum ``PathOptimizer``.
PathSpec: TypeAlias = str | bool | Sequence[Sequence[int]] | opt_einsum.paths.PathOptimizer


# --------------------------------------------------------------------------------------
# Plan data


@dataclasses.dataclass(frozen=True, slots=True)
class _Unary:
    """Reduce one operand: diagonals, then sums, then a permutation.

    ``diagonals`` holds, for each diagonal to take, the permutation that moves the
    two axes of a repeated index last (``linalg.diagonal`` acts on the last two
    axes and appends the diagonal as the new last axis).
    """

    subscripts: str | None
    diagonals: tuple[tuple[int, ...], ...]
    sum_axes: tuple[int, ...]
    perm: tuple[int, ...] | None


@dataclasses.dataclass(frozen=True, slots=True)
class _Pair:
    """Contract slots ``left`` and ``right`` into slot ``out``.

    ``a`` is permuted to (batch, free_a, summed) and reshaped to
    ``(nb, L, C)``; ``b`` to (batch, summed, free_b) and ``(nb, C, R)``; the
    product ``(nb, L, R)`` is reshaped to the separate output axes. ``None``
    marks a permutation or reshape that would be a no-op.
    """

    left: int
    right: int
    out: int
    subscripts: str | None
    perm_a: tuple[int, ...] | None
    shape_a: tuple[int, ...] | None
    perm_b: tuple[int, ...] | None
    shape_b: tuple[int, ...] | None
    out_shape: tuple[int, ...] | None
    broadcast: bool


@dataclasses.dataclass(frozen=True)
class ContractionPlan:
    """A contraction planned for one expression and one set of operand shapes.

    Attributes
    ----------
    subscripts : str
        The expression in explicit form, e.g. ``"ab,bc->ac"``.
    shapes : tuple of tuple of int
        Operand shapes the plan was made for.
    output_shape : tuple of int
        Shape of the result.
    path : tuple of tuple of int
        The opt_einsum contraction path (positions into the list of remaining
        operands; each contraction removes its operands and appends the result).
    flops : int
        opt_einsum's operation count for the path.
    largest_intermediate : int
        Number of elements of the largest intermediate tensor.
    unary : tuple
        Execution detail: per operand, the reduction (diagonals, sums, permutation)
        applied before any pairwise step, or None.
    steps : tuple
        Execution detail: the pairwise contractions, in order.
    final_perm : tuple of int or None
        Execution detail: permutation of the last slot into the output order (None: none).
    result_slot : int
        Execution detail: the slot holding the result.
    """

    subscripts: str
    shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    path: tuple[tuple[int, ...], ...]
    flops: int
    largest_intermediate: int
    unary: tuple[_Unary | None, ...] = dataclasses.field(repr=False)
    steps: tuple[_Pair, ...] = dataclasses.field(repr=False)
    final_perm: tuple[int, ...] | None = dataclasses.field(repr=False)
    result_slot: int = dataclasses.field(repr=False)


# --------------------------------------------------------------------------------------
# Parsing and validation


def _parse(subscripts: str, n_operands: int) -> tuple[list[str], str]:
    """Split an expression into input terms and the output term (implicit form resolved)."""
    if not isinstance(subscripts, str):
        raise TypeError(f"subscripts must be a str, got {type(subscripts).__name__}")
    expr = "".join(subscripts.split())
    if "." in expr:
        raise ValueError(f"ellipsis ('...') is not supported in {subscripts!r}; name every index explicitly")
    if expr.count("->") > 1:
        raise ValueError(f"more than one '->' in {subscripts!r}")
    lhs, arrow, rhs = expr.partition("->")
    terms = lhs.split(",")
    for label in lhs.replace(",", "") + rhs:
        if not label.isalpha():
            raise ValueError(f"invalid index {label!r} in {subscripts!r}: indices must be letters")
    if len(terms) != n_operands:
        raise ValueError(f"{subscripts!r} has {len(terms)} operand term(s) but {n_operands} array(s) were given")
    if not arrow:
        # Implicit form (as numpy.einsum): indices that occur once, in sorted order.
        flat = "".join(terms)
        return terms, "".join(sorted(label for label in set(flat) if flat.count(label) == 1))
    if len(set(rhs)) != len(rhs):
        raise ValueError(f"output {rhs!r} of {subscripts!r} repeats an index")
    missing = set(rhs) - set("".join(terms))
    if missing:
        raise ValueError(f"output index {sorted(missing)[0]!r} of {subscripts!r} appears in no input term")
    return terms, rhs


def _index_sizes(terms: list[str], shapes: tuple[tuple[int, ...], ...]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for k, (term, shape) in enumerate(zip(terms, shapes)):
        if len(term) != len(shape):
            raise ValueError(
                f"operand {k} has {len(shape)} axes (shape {tuple(shape)}) but its term {term!r} names {len(term)}"
            )
        for label, size in zip(term, shape):
            known = sizes.setdefault(label, size)
            if known != size:
                raise ValueError(
                    f"index {label!r} has size {known} in one operand and {size} in operand {k}; "
                    "every occurrence of an index must have the same size"
                )
    return sizes


def _letters(labels: Sequence[str]) -> dict[str, str] | None:
    """Map labels to a-zA-Z for native einsum calls; None when there are too many."""
    unique = list(dict.fromkeys(labels))
    if len(unique) > len(_EINSUM_LETTERS):
        return None
    return {label: _EINSUM_LETTERS[i] for i, label in enumerate(unique)}


def _einsum_string(inputs: Sequence[Sequence[str]], output: Sequence[str]) -> str | None:
    letters = _letters([label for term in inputs for label in term])
    if letters is None:
        return None
    lhs = ",".join("".join(letters[label] for label in term) for term in inputs)
    return lhs + "->" + "".join(letters[label] for label in output)


def _perm_or_none(perm: list[int]) -> tuple[int, ...] | None:
    return None if perm == list(range(len(perm))) else tuple(perm)


# --------------------------------------------------------------------------------------
# Planning


def _make_unary(term: str, target: list[str]) -> _Unary | None:
    """Steps turning an operand labelled ``term`` into one labelled ``target``."""
    if list(term) == target:
        return None
    current = list(term)
    diagonals: list[tuple[int, ...]] = []
    while len(set(current)) != len(current):
        label = next(lab for lab in current if current.count(lab) > 1)
        first = current.index(label)
        second = current.index(label, first + 1)
        others = [i for i in range(len(current)) if i not in (first, second)]
        diagonals.append(tuple(others + [first, second]))
        current = [current[i] for i in others] + [label]
    sum_axes = tuple(i for i, label in enumerate(current) if label not in target)
    current = [label for label in current if label in target]
    perm = _perm_or_none([current.index(label) for label in target])
    return _Unary(_einsum_string([term], target), tuple(diagonals), sum_axes, perm)


def _make_pair(
    left: int, right: int, out: int, la: list[str], lb: list[str], keep: set[str], sizes: dict[str, int]
) -> tuple[_Pair, list[str]]:
    in_b = set(lb)
    in_a = set(la)
    # Every label of a live operand is in the output or in another live operand, so
    # an index of one side only is always kept (see the invariant in _plan).
    assert all(lab in keep for lab in la if lab not in in_b)
    assert all(lab in keep for lab in lb if lab not in in_a)
    # Follow the larger operand's axis order so its permute + reshape stays a view.
    major = la if math.prod(sizes[x] for x in la) >= math.prod(sizes[x] for x in lb) else lb
    shared = [lab for lab in major if lab in in_a and lab in in_b]
    batch = [lab for lab in shared if lab in keep]
    summed = [lab for lab in shared if lab not in keep]
    free_a = [lab for lab in la if lab not in in_b]
    free_b = [lab for lab in lb if lab not in in_a]
    out_labels = batch + free_a + free_b

    nb = math.prod(sizes[x] for x in batch)
    n_l = math.prod(sizes[x] for x in free_a)
    n_c = math.prod(sizes[x] for x in summed)
    n_r = math.prod(sizes[x] for x in free_b)
    lead = (nb,) if batch else ()
    shape_a = lead + (n_l, n_c)
    shape_b = lead + (n_c, n_r)
    order_a = batch + free_a + summed
    order_b = batch + summed + free_b
    out_shape = tuple(sizes[x] for x in out_labels)

    def unless_same(target: tuple[int, ...], labels: list[str]) -> tuple[int, ...] | None:
        return None if target == tuple(sizes[x] for x in labels) else target

    step = _Pair(
        left=left,
        right=right,
        out=out,
        subscripts=_einsum_string([la, lb], out_labels),
        perm_a=_perm_or_none([la.index(x) for x in order_a]),
        shape_a=unless_same(shape_a, order_a),
        perm_b=_perm_or_none([lb.index(x) for x in order_b]),
        shape_b=unless_same(shape_b, order_b),
        out_shape=None if out_shape == lead + (n_l, n_r) else out_shape,
        broadcast=not summed,
    )
    return step, out_labels


@functools.lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _cached_plan(subscripts: str, shapes: tuple[tuple[int, ...], ...], optimize: Any) -> ContractionPlan:
    terms, output = _parse(subscripts, len(shapes))
    sizes = _index_sizes(terms, shapes)
    explicit = ",".join(terms) + "->" + output
    output_shape = tuple(sizes[x] for x in output)
    n = len(terms)

    if n == 1:
        only = _make_unary(terms[0], list(output))
        return ContractionPlan(
            explicit,
            shapes,
            output_shape,
            ((0,),),
            math.prod(shapes[0]),
            math.prod(output_shape),
            (only,),
            (),
            None,
            0,
        )

    # Unary phase. Afterwards every label of an operand is in the output or in
    # another operand; pairwise steps keep a label exactly while that holds, so the
    # invariant survives every step.
    unary: list[_Unary | None] = []
    labels: list[list[str]] = []
    for k, term in enumerate(terms):
        elsewhere = set(output).union(*(terms[j] for j in range(n) if j != k))
        target = [lab for lab in dict.fromkeys(term) if lab in elsewhere]
        unary.append(_make_unary(term, target))
        labels.append(target)

    # opt_einsum plans on the reduced operands, relabelled with its own symbols so
    # any letter the user chose is acceptable to it.
    symbols = {lab: opt_einsum.get_symbol(i) for i, lab in enumerate(sizes)}
    reduced = ",".join("".join(symbols[x] for x in t) for t in labels)
    reduced += "->" + "".join(symbols[x] for x in output)
    reduced_shapes = [tuple(sizes[x] for x in t) for t in labels]
    opt = list(optimize) if isinstance(optimize, tuple) else optimize
    path, info = opt_einsum.contract_path(reduced, *reduced_shapes, shapes=True, optimize=opt)

    live = list(range(n))
    steps: list[_Pair] = []
    for contraction in path:
        ids = [live[p] for p in contraction]
        for p in sorted(contraction, reverse=True):
            del live[p]
        acc = ids[0]
        for j, other in enumerate(ids[1:], start=1):
            keep = set(output).union(*(labels[s] for s in live), *(labels[s] for s in ids[j + 1 :]))
            out = len(labels)
            step, out_labels = _make_pair(acc, other, out, labels[acc], labels[other], keep, sizes)
            steps.append(step)
            labels.append(out_labels)
            acc = out
        live.append(acc)
    (result_slot,) = live
    final_perm = _perm_or_none([labels[result_slot].index(x) for x in output])
    return ContractionPlan(
        explicit,
        shapes,
        output_shape,
        tuple(tuple(int(i) for i in c) for c in path),
        int(info.opt_cost),
        int(info.largest_intermediate),
        tuple(unary),
        tuple(steps),
        final_perm,
        result_slot,
    )


def _hashable_optimize(optimize: PathSpec) -> Any:
    if isinstance(optimize, (list, tuple)):
        return tuple(tuple(int(i) for i in step) for step in optimize)
    return optimize


def contraction_plan(subscripts: str, *shapes: Sequence[int], optimize: PathSpec = "auto") -> ContractionPlan:
    """Plan a contraction from operand shapes alone (cached).

    Parameters
    ----------
    subscripts : str
        Einsum expression, explicit (``"ab,bc->ac"``) or implicit (``"ab,bc"``).
    *shapes : sequence of int
        One shape per operand.
    optimize : str, bool, sequence of tuple of int, or opt_einsum PathOptimizer
        Path strategy passed to :func:`opt_einsum.contract_path`: ``"auto"``,
        ``"greedy"``, ``"optimal"``, ``"dp"``, ..., or an explicit path. Part of
        the cache key, so a stateful ``PathOptimizer`` is consulted once per shapes.

    Returns
    -------
    ContractionPlan
        The path, its cost, and the precomputed pairwise steps.

    Raises
    ------
    ValueError
        If the expression is malformed, names the wrong number of operands or
        axes, or gives one index two different sizes.

    Examples
    --------
    Contracting the short side first is cheaper:

    >>> plan = contraction_plan("ab,bc,cd->ad", (2, 8), (8, 8), (8, 8))
    >>> plan.path
    ((0, 1), (0, 1))
    >>> plan.output_shape
    (2, 8)
    """
    key = tuple(tuple(int(d) for d in s) for s in shapes)
    return _cached_plan(subscripts, key, _hashable_optimize(optimize))


def cache_info() -> Any:
    """Hit and miss counts of the plan cache (``functools.lru_cache`` statistics)."""
    return _cached_plan.cache_info()


def clear_cache() -> None:
    """Forget every cached contraction plan."""
    _cached_plan.cache_clear()


# --------------------------------------------------------------------------------------
# Execution


def contract(subscripts: str, *arrays: Array, optimize: PathSpec = "auto") -> Array:
    """Contract arrays according to an einsum expression.

    The pairwise contraction order is planned from the shapes with opt_einsum and
    cached per (expression, shapes, optimize), then executed with the arrays' own
    library. Works for NumPy, CuPy, PyTorch and any array API standard library;
    stays differentiable for PyTorch tensors.

    Parameters
    ----------
    subscripts : str
        Einsum expression. Explicit form ``"ab,bc->ac"`` fixes the output order;
        implicit form ``"ab,bc"`` keeps the indices that occur exactly once, in
        sorted order (as :func:`numpy.einsum`). An index repeated within one
        operand takes a diagonal; an index absent from the output is summed.
        Indices are letters; ellipsis is not supported.
    *arrays : array
        Operands, all from one library and on one device.
    optimize : str, bool, sequence of tuple of int, or opt_einsum PathOptimizer
        Path strategy for :func:`opt_einsum.contract_path` (default ``"auto"``).

    Returns
    -------
    array
        The contraction, in the operands' library, on their device, in their
        promoted dtype. Its shape is the sizes of the output indices.

    Raises
    ------
    ValueError
        If the number of terms differs from the number of arrays, a term names a
        different number of axes than its array has, an index has two different
        sizes, or the expression is malformed.
    TypeError
        If the arrays come from different libraries or devices.

    See Also
    --------
    contraction_plan : the cached plan, with the path and its flop count.

    Examples
    --------
    A matrix chain and a trace:

    >>> import numpy as np
    >>> a = np.arange(6.0).reshape(2, 3)
    >>> b = np.ones((3, 4))
    >>> contract("ij,jk->ik", a, b)
    array([[ 3.,  3.,  3.,  3.],
           [12., 12., 12., 12.]])
    >>> float(contract("ii", np.eye(3)))
    3.0

    The squared norm of a three-site matrix product state:

    >>> rng = np.random.default_rng(0)
    >>> a1, a2, a3 = rng.normal(size=(2, 4)), rng.normal(size=(4, 2, 4)), rng.normal(size=(4, 2))
    >>> psi = contract("pa,aqb,br->pqr", a1, a2, a3)
    >>> norm2 = contract("pa,aqb,br,pc,cqd,dr->", a1, a2, a3, a1, a2, a3)
    >>> bool(np.isclose(norm2, np.sum(psi**2)))
    True
    """
    xp = namespace(*arrays)
    try:
        shapes = tuple(tuple(a.shape) for a in arrays)
    except AttributeError:
        bad = next(k for k, a in enumerate(arrays) if not hasattr(a, "shape"))
        raise TypeError(
            f"operand {bad} is a {type(arrays[bad]).__name__}, not an array; "
            "convert it with the operands' library (e.g. xp.asarray)"
        ) from None
    plan = _cached_plan(subscripts, shapes, _hashable_optimize(optimize))
    dtype = arrays[0].dtype
    if any(a.dtype != dtype for a in arrays[1:]):
        dtype = xp.result_type(*arrays)
        arrays = tuple(a if a.dtype == dtype else xp.astype(a, dtype) for a in arrays)
    return lookup("execute_contraction", xp)(xp, plan, arrays)


def _unary_generic(xp: Namespace, u: _Unary, x: Array) -> Array:
    for perm in u.diagonals:
        x = xp.linalg.diagonal(xp.permute_dims(x, perm))
    if u.sum_axes:
        x = xp.sum(x, axis=u.sum_axes)
    if u.perm is not None:
        x = xp.permute_dims(x, u.perm)
    return x


def _pair_generic(xp: Namespace, s: _Pair, a: Array, b: Array) -> Array:
    if s.perm_a is not None:
        a = xp.permute_dims(a, s.perm_a)
    if s.shape_a is not None:
        a = xp.reshape(a, s.shape_a)
    if s.perm_b is not None:
        b = xp.permute_dims(b, s.perm_b)
    if s.shape_b is not None:
        b = xp.reshape(b, s.shape_b)
    c = xp.multiply(a, b) if s.broadcast else xp.matmul(a, b)
    if s.out_shape is not None:
        c = xp.reshape(c, s.out_shape)
    return c


def _finish(xp: Namespace, plan: ContractionPlan, slots: list[Array]) -> Array:
    result = slots[plan.result_slot]
    if plan.final_perm is not None:
        result = xp.permute_dims(result, plan.final_perm)
    return result


@register("execute_contraction", GENERIC)
def _execute_generic(xp: Namespace, plan: ContractionPlan, arrays: Sequence[Array]) -> Array:
    """Standard operations only: permute_dims, reshape, matmul, multiply, sum, diagonal."""
    slots: list[Array] = list(arrays) + [None] * len(plan.steps)
    for k, u in enumerate(plan.unary):
        if u is not None:
            slots[k] = _unary_generic(xp, u, slots[k])
    for s in plan.steps:
        slots[s.out] = _pair_generic(xp, s, slots[s.left], slots[s.right])
        slots[s.left] = slots[s.right] = None  # free intermediates early
    return _finish(xp, plan, slots)


@register("execute_contraction", "torch")
@register("execute_contraction", "cupy")
def _execute_native_einsum(xp: Namespace, plan: ContractionPlan, arrays: Sequence[Array]) -> Array:
    """Every step through the library's einsum, which calls (batched) BLAS itself."""
    einsum = lookup("einsum", xp)
    slots: list[Array] = list(arrays) + [None] * len(plan.steps)
    for k, u in enumerate(plan.unary):
        if u is not None:
            x = slots[k]
            slots[k] = einsum(u.subscripts, x) if u.subscripts else _unary_generic(xp, u, x)
    for s in plan.steps:
        a, b = slots[s.left], slots[s.right]
        slots[s.left] = slots[s.right] = None
        slots[s.out] = einsum(s.subscripts, a, b) if s.subscripts else _pair_generic(xp, s, a, b)
    return _finish(xp, plan, slots)


@register("execute_contraction", "numpy")
def _execute_numpy(xp: Namespace, plan: ContractionPlan, arrays: Sequence[Array]) -> Array:
    """matmul on reshaped views, as numpy.einsum(optimize=True) does with tensordot.

    NumPy's batched matmul calls BLAS per batch entry and beats its C einsum loop
    even for small matrices, so every summed step goes through it.
    """
    slots: list[Array] = list(arrays) + [None] * len(plan.steps)
    for k, u in enumerate(plan.unary):
        if u is not None:
            x = slots[k]
            slots[k] = np.einsum(u.subscripts, x) if u.subscripts else _unary_generic(xp, u, x)
    for s in plan.steps:
        a, b = slots[s.left], slots[s.right]
        slots[s.left] = slots[s.right] = None
        if s.perm_a is not None:
            a = a.transpose(s.perm_a)
        if s.shape_a is not None:
            a = a.reshape(s.shape_a)
        if s.perm_b is not None:
            b = b.transpose(s.perm_b)
        if s.shape_b is not None:
            b = b.reshape(s.shape_b)
        c = np.multiply(a, b) if s.broadcast else np.matmul(a, b)
        slots[s.out] = c if s.out_shape is None else c.reshape(s.out_shape)
    result = slots[plan.result_slot]
    if plan.final_perm is not None:
        result = result.transpose(plan.final_perm)
    # numpy.einsum returns NumPy scalars for 0-d results; keep arrays arrays.
    return np.asarray(result)
