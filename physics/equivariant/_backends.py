"""Tensor-product backends: one class per algorithm, all computing the same :class:`ProductPlan`.

Each backend is built once per plan and called with flat e3nn-layout arrays::

    backend = DenseBackend(plan)
    out = backend(x1, x2, weights, vectors)   # (Z, dim1), (Z, dim2) | None, (B, numel), (Z, 3) | None

``weights`` has ``B = 1`` (shared) or ``B = Z`` rows, in the plan's weighting layout.
``vectors`` is given instead of ``x2`` when the second input is the spherical harmonics of
edge vectors (``x2 = spherical_harmonics(irreps_in2's degrees, vectors)``, component
normalisation); backends that only need ``x2`` compute it. :meth:`refusal` says in one
line why a backend cannot compute a plan (``None`` when it can).
"""

from __future__ import annotations

import functools
import math
from typing import Any, ClassVar

import torch

from physics.equivariant._graph import scatter_sum
from physics.equivariant._products import Irreps, Path, ProductPlan
from physics.equivariant._so3 import edge_rotation, fit_harmonics, gaunt, wigner_3j, wigner_D_from_matrix, wigner_D_rows
from physics.equivariant._spherical import spherical_harmonics
from tnkit.contract import contract

_EDGE_CHUNK = 4096  # edges per block of the fused convolution

__all__ = ["Backend", "DenseBackend", "SO2Backend", "degree_to_path_weights", "edge_harmonics", "gaunt_ratio"]


@functools.lru_cache(maxsize=None)
def gaunt_ratio(l1: int, l2: int, l3: int) -> float:
    """``gamma`` with ``(1/4π) ∫ Y_l1 Y_l2 Y_l3 dΩ = gamma * wigner_3j(l1, l2, l3)`` (component harmonics).

    ``sqrt(4π)`` times the Gaunt tensor's projection on the unit-norm coupling tensor:
    ``± sqrt((2l1+1)(2l2+1)(2l3+1)) (l1 l2 l3; 0 0 0)``, zero for odd ``l1 + l2 + l3``.

    Parameters
    ----------
    l1, l2, l3 : int
        Degrees obeying the triangle rule.

    Returns
    -------
    float

    Examples
    --------
    >>> round(gaunt_ratio(1, 1, 2), 12), gaunt_ratio(1, 1, 1)   # sqrt(6); no odd path
    (2.449489742783, 0.0)
    """
    G = gaunt(l1, l2, l3)
    return float(math.sqrt(4 * math.pi) * (G * wigner_3j(l1, l2, l3)).sum())


def degree_to_path_weights(plan: ProductPlan, weights: torch.Tensor) -> torch.Tensor:
    """Expand factorised ``"degree"`` weights ``(B, numel)`` to e3nn's per-path layout.

    ``w_path[u, v(, w)] = gamma_path a[slot1, u] b[slot2, v] c[slot_out, u, v(, w)]`` with
    ``gamma_path`` from :func:`gaunt_ratio`: the degree weighting is the product of whole
    functions on the sphere, so each path carries its Gaunt factor (zero on odd paths).
    e3nn's ``TensorProduct`` given these weights computes the same product.

    Parameters
    ----------
    plan : ProductPlan
        A plan with ``weighting="degree"``.
    weights : torch.Tensor, shape ``(B, plan.weight_numel)``
        Rows of factorised weights ``[a | b | c]`` (see ``plan.degree_layout``).

    Returns
    -------
    torch.Tensor, shape ``(B, plan.path_weight_numel)``

    Examples
    --------
    >>> import torch
    >>> from physics.equivariant import ProductPlan
    >>> plan = ProductPlan("2x0e+2x1o", "0e+1o", "2x0e+2x1o", weighting="degree")
    >>> plan.weight_numel, plan.path_weight_numel   # a: 2 slots x 2, b: 2 x 1, c: 2 x (2 x 1)
    (10, 8)
    >>> degree_to_path_weights(plan, torch.ones(1, 10))   # the Gaunt factors of the 4 paths, per channel
    tensor([[1.0000, 1.0000, 1.7321, 1.7321, 1.7321, 1.7321, 1.7321, 1.7321]])
    """
    sa, sb, sc = plan.degree_layout
    B = weights.shape[0]
    u = plan.irreps_in1[0][0] if len(plan.irreps_in1) else 0
    v = plan.irreps_in2[0][0] if len(plan.irreps_in2) else 0
    a = weights[:, sa].reshape(B, len(plan.irreps_in1), u)
    b = weights[:, sb].reshape(B, len(plan.irreps_in2), v)
    c_blocks, start = [], sc.start
    for mul, _ in plan.irreps_out:
        size = u * v * (1 if plan.mode == "uvu" else mul)
        c_blocks.append(weights[:, start : start + size])
        start += size
    pieces = []
    for p in plan.paths:
        c = c_blocks[p.i_out].reshape(B, *p.weight_shape)
        ab = a[:, p.i1, :, None] * b[:, p.i2, None, :]
        pieces.append((ab if plan.mode == "uvu" else ab[..., None]) * c * gaunt_ratio(p.l1, p.l2, p.l3))
    if not pieces:
        return weights.new_zeros((B, 0))
    return torch.cat([q.reshape(B, -1) for q in pieces], dim=1)


def edge_harmonics(irreps: Irreps, vectors: torch.Tensor) -> torch.Tensor:
    """``x2`` for edge vectors: each slot of ``irreps`` (``1 x l`` with parity ``(-1)^l``) gets ``Y_l(v / |v|)``."""
    return spherical_harmonics([ir.l for _, ir in irreps], vectors)


def _harmonics_refusal(irreps: Irreps) -> str | None:
    for mul, ir in irreps:
        if mul != 1 or ir.p != (1 if ir.l % 2 == 0 else -1):
            return f"irreps_in2 must be spherical harmonics (1x0e+1x1o+1x2e+...) to take edge vectors, got {irreps}"
    return None


class Backend:
    """Base class: validation of the plan and the shared weight stage."""

    name: ClassVar[str] = ""
    needs_vectors: ClassVar[bool] = False

    def __init__(self, plan: ProductPlan) -> None:
        reason = self.refusal(plan)
        if reason is not None:
            raise ValueError(f"TensorProduct backend {self.name!r}: {reason}")
        self.plan = plan
        self._tables: dict[tuple[torch.dtype, torch.device], Any] = {}

    @classmethod
    def refusal(cls, plan: ProductPlan) -> str | None:
        """Why this backend cannot compute ``plan``, in one line (``None`` if it can)."""
        return None

    def tables(self, dtype: torch.dtype, device: torch.device) -> Any:
        key = (dtype, device)
        if key not in self._tables:
            self._tables[key] = self.build_tables(dtype, device)
        return self._tables[key]

    def build_tables(self, dtype: torch.dtype, device: torch.device) -> Any:
        return None

    def __call__(
        self, x1: torch.Tensor, x2: torch.Tensor | None, weights: torch.Tensor, vectors: torch.Tensor | None
    ) -> torch.Tensor:
        raise NotImplementedError

    def convolve(
        self,
        x1: torch.Tensor,
        x2: torch.Tensor | None,
        weights: torch.Tensor,
        vectors: torch.Tensor | None,
        receivers: torch.Tensor,
        n: int,
    ) -> torch.Tensor:
        """The products summed into ``n`` rows by ``receivers`` (a graph convolution): ``(n, dim_out)``.

        This default forms the per-edge products and sums them (:func:`scatter_sum`); a backend
        may fuse the two so that no per-edge output exists.
        """
        return scatter_sum(self(x1, x2, weights, vectors), receivers, n)


class _PathGroups:
    """Paths grouped by ``(in1 slot, in2 multiplicity, output multiplicity)``, with stacked tables.

    In a group all in2 slots of one multiplicity are concatenated (``j`` runs over them) and
    the outputs of all its paths are stacked along ``K``; the group's CG tensor is
    ``(d1, D2, K)`` with each path's block at its in2 slot's ``j`` range and its ``K`` range.
    The weight stage is vectorised per group: ``index`` gathers each ``K`` column's path
    weights from the flat weight vector (scaled by the path's ``alpha``), and ``position``
    says where each column lands in the output buffer of its multiplicity.
    """

    def __init__(self, plan: ProductPlan) -> None:
        self.plan = plan
        self.groups: list[dict[str, Any]] = []
        by_key: dict[tuple[int, int, int], list[Path]] = {}
        for p in plan.paths:
            by_key.setdefault((p.i1, p.mul2, p.mul_out), []).append(p)
        # output buffers: one per output multiplicity, slots of that multiplicity side by side
        self.buffers: dict[int, int] = {}
        self.slot_position: list[tuple[int, int]] = []
        for mul, ir in plan.irreps_out:
            self.slot_position.append((mul, self.buffers.get(mul, 0)))
            self.buffers[mul] = self.buffers.get(mul, 0) + ir.dim
        for (i1, mul2, mul_out), paths in by_key.items():
            slots2 = sorted({p.i2 for p in paths})
            offsets, j = {}, 0
            for s in slots2:
                offsets[s] = j
                j += plan.irreps_in2[s][1].dim
            ks, k = [], 0
            for p in paths:
                ks.append(slice(k, k + 2 * p.l3 + 1))
                k += 2 * p.l3 + 1
            self.groups.append(
                {
                    "i1": i1,
                    "mul2": mul2,
                    "mul_out": mul_out,
                    "paths": paths,
                    "slots2": slots2,
                    "j": offsets,
                    "D2": j,
                    "k": ks,
                    "K": k,
                }
            )

    def cg(self, group: dict[str, Any], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        plan = self.plan
        d1 = plan.irreps_in1[group["i1"]][1].dim
        C = torch.zeros((d1, group["D2"], group["K"]), dtype=dtype, device=device)
        for p, ks in zip(group["paths"], group["k"]):
            j0 = group["j"][p.i2]
            C[:, j0 : j0 + 2 * p.l2 + 1, ks] = wigner_3j(p.l1, p.l2, p.l3, dtype=dtype, device=device)
        return C

    def weight_stage(self, group: dict[str, Any], dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
        """``index`` (u, v[, w], K) into the flat path weights, ``alpha`` (K,), ``position`` (K,)."""
        index, alpha, position = [], [], []
        for p, ks in zip(group["paths"], group["k"]):
            n = ks.stop - ks.start
            block = torch.arange(p.weight_slice.start, p.weight_slice.stop).reshape(p.weight_shape)
            index.append(block[..., None].expand(*p.weight_shape, n))
            alpha.append(torch.full((n,), p.alpha, dtype=torch.float64))
            _, start = self.slot_position[p.i_out]
            position.append(torch.arange(start, start + n))
        return (
            torch.cat(index, dim=-1).to(device),
            torch.cat(alpha).to(dtype=dtype, device=device),
            torch.cat(position).to(device),
        )

    def tables(self, dtype: torch.dtype, device: torch.device) -> list[tuple[torch.Tensor, ...]]:
        return [(self.cg(g, dtype, device), *self.weight_stage(g, dtype, device)) for g in self.groups]

    def weighted(
        self, group: dict[str, Any], P: torch.Tensor, weights: torch.Tensor, index: torch.Tensor, alpha: torch.Tensor
    ) -> torch.Tensor:
        """Apply the path weights (B, numel) to ``P (Z, u, v, K)``: ``(Z, u or w, K)``."""
        W = weights[:, index] * alpha  # (B, u, v[, w], K)
        if self.plan.mode == "uvu":
            if group["mul2"] == 1:
                return P[:, :, 0, :] * W[:, :, 0, :]
            return (P * W).sum(dim=2)
        if W.shape[0] == 1:
            return torch.einsum("zuvk,uvwk->zwk", P, W[0])
        return torch.einsum("zuvk,zuvwk->zwk", P, W)

    def assemble(
        self, results: list[tuple[dict[str, Any], torch.Tensor, torch.Tensor]], Z: int, like: torch.Tensor
    ) -> list[torch.Tensor | None]:
        """Sum the groups' weighted outputs into per-multiplicity buffers; return each output slot
        as ``(Z, mul, 2l + 1)`` (``None`` for a slot no path reaches)."""
        buffers: dict[int, torch.Tensor] = {}
        for mul, size in self.buffers.items():
            parts = [(Y, pos) for g, Y, pos in results if g["mul_out"] == mul]
            if parts:
                Y = torch.cat([y for y, _ in parts], dim=-1) if len(parts) > 1 else parts[0][0]
                pos = torch.cat([q for _, q in parts]) if len(parts) > 1 else parts[0][1]
                buffers[mul] = like.new_zeros((Z, mul, size)).index_add(2, pos, Y)
        slots: list[torch.Tensor | None] = []
        reached = {p.i_out for p in self.plan.paths}
        for o, ((mul, ir), (_, start)) in enumerate(zip(self.plan.irreps_out, self.slot_position)):
            slots.append(buffers[mul][:, :, start : start + ir.dim] if o in reached else None)
        return slots


def _flat(plan: ProductPlan, slots: list[torch.Tensor | None], Z: int, like: torch.Tensor) -> torch.Tensor:
    pieces = [
        s.reshape(Z, mul * ir.dim) if s is not None else like.new_zeros((Z, mul * ir.dim))
        for s, (mul, ir) in zip(slots, plan.irreps_out)
    ]
    return torch.cat(pieces, dim=1) if pieces else like.new_zeros((Z, 0))


def _path_weights(plan: ProductPlan, weights: torch.Tensor) -> torch.Tensor:
    return degree_to_path_weights(plan, weights) if plan.weighting == "degree" else weights


def _compact_starts(irreps: Irreps) -> list[int]:
    """Where each slot starts in the per-channel compact layout (``sum(2 l_s + 1)`` components)."""
    starts, start = [], 0
    for _, ir in irreps:
        starts.append(start)
        start += ir.dim
    return starts


@functools.lru_cache(maxsize=None)
def _compact_order(irreps: Irreps, device: torch.device) -> torch.Tensor:
    """Flat e3nn position of each compact-layout entry ``(channel, component)``, row-major.

    One multiplicity across ``irreps``; with it the layout change is a single ``index_select``
    each way (its backward one ``index_add``), not a slice per slot and a concatenation.
    """
    mul = irreps[0][0] if len(irreps) else 0
    pieces = []
    for sl, (_, ir) in zip(irreps.slices(), irreps):
        pieces.append(torch.arange(sl.start, sl.stop).reshape(mul, ir.dim))
    order = torch.cat(pieces, dim=1) if pieces else torch.zeros((0, 0), dtype=torch.long)
    return order.reshape(-1).to(device)


@functools.lru_cache(maxsize=None)
def _flat_order(irreps: Irreps, device: torch.device) -> torch.Tensor:
    """Inverse permutation of :func:`_compact_order`: compact position of each flat entry."""
    return torch.argsort(_compact_order(irreps, torch.device("cpu"))).to(device)


def _to_compact(irreps: Irreps, x: torch.Tensor, mul: int) -> torch.Tensor:
    """``(Z, irreps.dim)`` flat e3nn layout with one multiplicity ``mul`` -> ``(Z, mul, sum(2l + 1))``."""
    return x.index_select(1, _compact_order(irreps, x.device)).view(x.shape[0], mul, -1)


def _from_compact(irreps: Irreps, compact: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_to_compact`: ``(Z, mul, sum(2l + 1))`` -> ``(Z, irreps.dim)``."""
    return compact.reshape(compact.shape[0], -1).index_select(1, _flat_order(irreps, compact.device))


class _FusedConvolution(torch.autograd.Function):
    """``sum_e -> receivers[e]`` of ``gather((A @ M) * (W @ E))`` over edge chunks: no per-edge output in memory.

    The channelwise matrix-product form with one path per output component, fused with the
    sum over each atom's edges: per chunk of edges the coupled ``(chunk, u, K)`` block is
    formed, put in the output layout (``order``) and added into its receivers' rows; backward
    recomputes each chunk's factors from the saved inputs. Peak memory scales with the chunk,
    not with the edge count, and the chunks stay in cache. Differentiable twice.
    """

    @staticmethod
    def forward(
        ctx: Any,
        A: torch.Tensor,
        M: torch.Tensor,
        W: torch.Tensor,
        E: torch.Tensor,
        order: torch.Tensor,
        receivers: torch.Tensor,
        n: int,
    ) -> torch.Tensor:
        u, K, Z = A.shape[1], E.shape[1], A.shape[0]
        per_edge = W.shape[0] != u
        out = A.new_zeros((n, u * K))
        for start in range(0, Z, _EDGE_CHUNK):
            e = slice(start, min(Z, start + _EDGE_CHUNK))
            w = W[e.start * u : e.stop * u] if per_edge else W
            y = (A[e] @ M[e]) * (w @ E).reshape(-1, u, K)
            out.index_add_(0, receivers[e], y.reshape(-1, u * K).index_select(1, order))
        ctx.save_for_backward(A, M, W, E, order, receivers)
        return out

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        A, M, W, E, order, receivers = ctx.saved_tensors
        u, K, Z = A.shape[1], E.shape[1], A.shape[0]
        per_edge = W.shape[0] != u
        inverse = torch.argsort(order)  # (u, K) entry -> its column of the output layout
        grads_A, grads_M, grads_W = [], [], []
        for start in range(0, Z, _EDGE_CHUNK):
            e = slice(start, min(Z, start + _EDGE_CHUNK))
            w = W[e.start * u : e.stop * u] if per_edge else W
            gc = g.index_select(0, receivers[e]).index_select(1, inverse).reshape(-1, u, K)
            weighted = gc * (w @ E).reshape(-1, u, K)
            if ctx.needs_input_grad[0]:
                grads_A.append(weighted @ M[e].transpose(1, 2))
            if ctx.needs_input_grad[1]:
                grads_M.append(A[e].transpose(1, 2) @ weighted)
            if ctx.needs_input_grad[2]:
                gP = gc * (A[e] @ M[e])
                grads_W.append((gP.reshape(-1, K) if per_edge else gP.sum(dim=0)) @ E.t())
        grad_A = torch.cat(grads_A) if grads_A else None
        grad_M = torch.cat(grads_M) if grads_M else None
        grad_W = None
        if grads_W:
            grad_W = torch.cat(grads_W) if per_edge else torch.stack(grads_W).sum(dim=0)
        return grad_A, grad_M, grad_W, None, None, None, None


class DenseBackend(Backend):
    """Clebsch–Gordan contraction, one planned contraction per (in1 slot, in2 multiplicity).

    For each in1 slot, ``P[z, u, v, K] = sum_ij x1[z, u, i] x2[z, v, j] C[i, j, K]`` with the
    CG blocks of all its paths stacked (:func:`tnkit.contract` picks the order — for a
    single-channel ``x2`` it contracts ``x2`` with the table first, which removes the channel
    count from the cost of the three-index contraction); the weights act on ``P`` per path.
    Expresses every path, both modes, both weightings.
    """

    name = "dense"

    def _matrix_tables(self, dtype: torch.dtype, device: torch.device) -> dict[str, Any] | None:
        """Tables of the matrix-product form: channelwise, one in1 multiplicity, single-channel x2.

        ``M[z, i, K] = sum_j x2[z, j] C[j, (i, K)]`` is one matrix product with all paths' CG
        blocks side by side (``K`` runs over every path's output components); then
        ``P = x1 M`` (one batched product) and the path weights reach ``K`` through a fixed
        ``expand`` matrix (``alpha`` included). When every output component receives one path
        (e.g. MACE's one output slot per path) a single ``index_select`` puts ``K`` in the
        output layout; otherwise a fixed ``scatter`` matrix sums ``K`` into the output
        components. Few, large operations: the fastest form at low degrees, where the
        per-operation cost dominates; ``M`` grows as ``L^5`` per edge, so it is used up to ``L = 3``.
        """
        plan = self.plan
        muls1 = {m for m, _ in plan.irreps_in1}
        if plan.mode != "uvu" or len(muls1) != 1 or any(m != 1 for m, _ in plan.irreps_in2) or not plan.paths:
            return None
        if max(plan.irreps_in1.lmax, plan.irreps_in2.lmax, plan.irreps_out.lmax) > 3:
            return None
        u = next(iter(muls1))
        d1 = plan.irreps_in1.dim // max(u, 1)
        d2 = plan.irreps_in2.dim
        d_out = sum(ir.dim for _, ir in plan.irreps_out)
        start1, start2, start_o = (
            _compact_starts(irreps) for irreps in (plan.irreps_in1, plan.irreps_in2, plan.irreps_out)
        )
        K = sum(2 * p.l3 + 1 for p in plan.paths)
        C = torch.zeros((d2, d1, K), dtype=torch.float64)
        expand = torch.zeros((len(plan.paths), K), dtype=torch.float64)
        scatter = torch.zeros((K, d_out), dtype=torch.float64)
        k = 0
        for q, p in enumerate(plan.paths):
            n = 2 * p.l3 + 1
            block = wigner_3j(p.l1, p.l2, p.l3).permute(1, 0, 2)  # (j, i, k)
            C[start2[p.i2] : start2[p.i2] + 2 * p.l2 + 1, start1[p.i1] : start1[p.i1] + 2 * p.l1 + 1, k : k + n] = block
            expand[q, k : k + n] = p.alpha
            scatter[torch.arange(k, k + n), torch.arange(start_o[p.i_out], start_o[p.i_out] + n)] = 1.0
            k += n
        tables: dict[str, Any] = {
            "C": C.reshape(d2, d1 * K).to(dtype=dtype, device=device),
            "expand": expand.to(dtype=dtype, device=device),
            "shape": (u, d1, K),
        }
        if K == d_out and bool((scatter.sum(dim=0) == 1).all()):
            # one path per output component: the flat output is a gather of the (channel, K) entries
            source = scatter.argmax(dim=0)  # output component -> K column
            in_uk = (torch.arange(u)[:, None] * K + source[None, :]).reshape(-1)  # compact entry -> (u, K) entry
            tables["gather"] = in_uk[_flat_order(plan.irreps_out, torch.device("cpu"))].to(device)
        else:
            tables["scatter"] = scatter.to(dtype=dtype, device=device)
        return tables

    def build_tables(self, dtype: torch.dtype, device: torch.device) -> Any:
        matrix = self._matrix_tables(dtype, device)
        if matrix is not None:
            return None, matrix
        groups = _PathGroups(self.plan)
        return groups, groups.tables(dtype, device)

    def _matrix_product(
        self, x1: torch.Tensor, x2: torch.Tensor, weights: torch.Tensor, T: dict[str, Any]
    ) -> torch.Tensor:
        plan = self.plan
        Z, B = x1.shape[0], weights.shape[0]
        u, d1, K = T["shape"]
        P = len(plan.paths)
        compact = _to_compact(plan.irreps_in1, x1, u)  # (Z, u, d1)
        M = (x2 @ T["C"]).reshape(Z, d1, K)
        W = weights.reshape(B, P, u).transpose(1, 2).reshape(B * u, P)
        coupled = (compact @ M) * (W @ T["expand"]).reshape(B, u, K)  # (Z, u, K)
        if "gather" in T:
            return coupled.reshape(Z, u * K).index_select(1, T["gather"])
        return _from_compact(plan.irreps_out, coupled @ T["scatter"])  # (Z, u, d_out) summed over paths

    def convolve(
        self,
        x1: torch.Tensor,
        x2: torch.Tensor | None,
        weights: torch.Tensor,
        vectors: torch.Tensor | None,
        receivers: torch.Tensor,
        n: int,
    ) -> torch.Tensor:
        groups, T = self.tables(x1.dtype, x1.device)
        if groups is not None or "gather" not in T:
            return super().convolve(x1, x2, weights, vectors, receivers, n)
        plan = self.plan
        if x2 is None:
            assert vectors is not None
            x2 = edge_harmonics(plan.irreps_in2, vectors)
        weights = _path_weights(plan, weights)
        Z, B = x1.shape[0], weights.shape[0]
        u, d1, K = T["shape"]
        compact = _to_compact(plan.irreps_in1, x1, u)
        M = (x2 @ T["C"]).reshape(Z, d1, K)
        W = weights.reshape(B, len(plan.paths), u).transpose(1, 2).reshape(B * u, len(plan.paths))
        return _FusedConvolution.apply(compact, M, W, T["expand"], T["gather"], receivers, int(n))

    def __call__(
        self, x1: torch.Tensor, x2: torch.Tensor | None, weights: torch.Tensor, vectors: torch.Tensor | None
    ) -> torch.Tensor:
        plan = self.plan
        if x2 is None:
            assert vectors is not None
            x2 = edge_harmonics(plan.irreps_in2, vectors)
        Z = x1.shape[0]
        groups, tables = self.tables(x1.dtype, x1.device)
        weights = _path_weights(plan, weights)
        if groups is None:
            return self._matrix_product(x1, x2, weights, tables)
        s1, s2 = plan.irreps_in1.slices(), plan.irreps_in2.slices()
        results = []
        for group, (C, index, alpha, position) in zip(groups.groups, tables):
            mul1, ir1 = plan.irreps_in1[group["i1"]]
            a = x1[:, s1[group["i1"]]].reshape(Z, mul1, ir1.dim)
            parts = [x2[:, s2[s]].reshape(Z, group["mul2"], plan.irreps_in2[s][1].dim) for s in group["slots2"]]
            b = torch.cat(parts, dim=2) if len(parts) > 1 else parts[0]
            P = contract("zui,zvj,ijk->zuvk", a, b, C)
            results.append((group, groups.weighted(group, P, weights, index, alpha), position))
        return _flat(plan, groups.assemble(results, Z, x1), Z, x1)


class SO2Backend(Backend):
    """The edge-frame product (eSCN): rotate each edge onto ``+y``, couple per ``m``, rotate back.

    In the frame where the edge points along ``+y`` its harmonics are non-zero only at
    ``m = 0`` (``Y_l = sqrt(2l + 1)`` there), so the CG contraction with them maps component
    ``m`` of ``x1`` to component ``±m`` of each output degree alone: a fixed gather-and-scale
    per path instead of a ``(2l1+1)(2l2+1)(2l3+1)`` contraction per edge. The rotation is
    :func:`~physics.equivariant.edge_rotation` (differentiable, no detached or random frame,
    no polar singularity) and its Wigner matrices are polynomial in it. Every path, odd ones
    included; needs ``irreps_in2`` to be the spherical harmonics of the edge vectors. The
    frames are computed in float64 for float32 features too (then cast), so the float32
    product is as accurate as the dense one.
    """

    name = "so2"
    needs_vectors = True

    @classmethod
    def refusal(cls, plan: ProductPlan) -> str | None:
        return _harmonics_refusal(plan.irreps_in2)

    def _couplings(self) -> list[torch.Tensor]:
        """Per path, the edge-frame map ``(2l1+1, 2l3+1)``: ``sum_j Y_j(+y) C[i, j, k]`` (float64)."""
        out = []
        for p in self.plan.paths:
            C = wigner_3j(p.l1, p.l2, p.l3)
            out.append(C[:, p.l2, :] * (2 * p.l2 + 1) ** 0.5)  # Y(+y) is sqrt(2l+1) at m = 0
        return out

    def _kernel_tables(self, dtype: torch.dtype, device: torch.device) -> dict[str, Any] | None:
        """Tables of the matrix-product form (one multiplicity per irreps), else None.

        In the edge frame, output component ``m3`` of slot ``o`` receives component ``m1 = ±m3``
        of in1 slot ``s``. The distinct couplings ``q = (s, o, m3, m1)`` are the columns of three
        fixed matrices: ``coupling`` (paths -> q: ``alpha`` times the edge-frame CG entry),
        ``gather`` (rotated input component ``(s, m1)`` -> q) and ``scatter`` (q -> output
        component ``(o, m3)``). Per edge ``out = (((x D_in^T) gather) * (W coupling)) scatter D_out``: the
        fixed matrices act on all edges and channels at once as plain matrix products, the
        Wigner matrices as one batched product each way; no gathers on the batch. Fully
        connected with shared weights: per coupling ``q`` a channel matrix
        ``M_q = sum_paths coupling[p, q] W_p`` (one product of the tables with the weights),
        applied to all edges as one batched product over ``q``.
        """
        plan = self.plan
        muls = {m for m, _ in plan.irreps_in1}
        muls_out = {m for m, _ in plan.irreps_out}
        if len(muls) != 1 or not plan.paths or (plan.mode == "uvw" and len(muls_out) != 1):
            return None
        lm = max(plan.irreps_in1.lmax, plan.irreps_out.lmax)
        columns: dict[tuple[int, int, int, int], int] = {}
        entries: list[tuple[int, int, float]] = []  # (path, column, value)
        for q, (p, M) in enumerate(zip(plan.paths, self._couplings())):
            for k in range(2 * p.l3 + 1):
                nz = torch.nonzero(M[:, k].abs() > 1e-14).flatten()
                if nz.numel() == 0:
                    continue
                assert nz.numel() == 1, "edge-frame coupling is not a permutation"
                m1, m3 = int(nz[0]) - p.l1, k - p.l3
                key = (p.i1, p.i_out, m3, m1)
                column = columns.setdefault(key, len(columns))
                entries.append((q, column, p.alpha * float(M[nz[0], k])))
        coupling = torch.zeros((len(plan.paths), len(columns)), dtype=torch.float64)
        for q, column, value in entries:
            coupling[q, column] += value
        # compact layouts: in1 slot s's component m at start1[s] + l_s + m, likewise for the output
        start1, start_o = _compact_starts(plan.irreps_in1), _compact_starts(plan.irreps_out)
        gather = torch.zeros((plan.irreps_in1.dim // max(next(iter(muls)), 1), len(columns)), dtype=torch.float64)
        scatter = torch.zeros((len(columns), sum(ir.dim for _, ir in plan.irreps_out)), dtype=torch.float64)
        for (s1, o, m3, m1), column in columns.items():
            gather[start1[s1] + plan.irreps_in1[s1][1].l + m1, column] = 1.0
            scatter[column, start_o[o] + plan.irreps_out[o][1].l + m3] = 1.0
        return {
            "lmax": lm,
            "rows_in": [(s1, m) for s1, (_, ir) in enumerate(plan.irreps_in1) for m in range(-ir.l, ir.l + 1)],
            "rows_out": [(o, m) for o, (_, ir) in enumerate(plan.irreps_out) for m in range(-ir.l, ir.l + 1)],
            "coupling": coupling.to(dtype=dtype, device=device),
            "gather": gather.to(dtype=dtype, device=device),
            "scatter": scatter.to(dtype=dtype, device=device),
        }

    def build_tables(self, dtype: torch.dtype, device: torch.device) -> Any:
        lmax = max(self.plan.irreps_in1.lmax, self.plan.irreps_out.lmax, 0)
        kernel = self._kernel_tables(dtype, device)
        if kernel is not None and self.plan.mode == "uvu":
            return None, None, lmax, kernel
        groups = _PathGroups(self.plan)
        coupling = {id(p): M for p, M in zip(self.plan.paths, self._couplings())}
        tables = []
        for g in groups.groups:
            M = torch.cat([coupling[id(p)] for p in g["paths"]], dim=1)  # (d1, K): at most one non-zero per column
            nonzero = (M.abs() > 1e-14).sum(dim=0)
            assert nonzero.numel() == 0 or int(nonzero.max()) <= 1, "edge-frame coupling is not a permutation"
            source = M.abs().argmax(dim=0)
            scale = M.gather(0, source[None, :])[0]
            tables.append(
                (source.to(device), scale.to(dtype=dtype, device=device), *groups.weight_stage(g, dtype, device))
            )
        return groups, tables, lmax, kernel  # fully connected: the kernel form for shared weights only

    def _kernel_product(
        self, x1: torch.Tensor, weights: torch.Tensor, R: torch.Tensor, kernel: dict[str, Any]
    ) -> torch.Tensor:
        plan = self.plan
        B = weights.shape[0]
        u, P = plan.irreps_in1[0][0], len(plan.paths)
        Y = fit_harmonics(kernel["lmax"], R)
        degrees_in, degrees_out = [ir.l for _, ir in plan.irreps_in1], [ir.l for _, ir in plan.irreps_out]
        lm = kernel["lmax"]
        D_in = wigner_D_rows(degrees_in, kernel["rows_in"], R, Y=Y, lmax=lm)  # (Z, dim1 / u, dim1 / u)
        if degrees_out == degrees_in:
            D_out = D_in = D_in.to(x1.dtype)
        else:
            D_in = D_in.to(x1.dtype)
            D_out = wigner_D_rows(degrees_out, kernel["rows_out"], R, Y=Y, lmax=lm).to(x1.dtype)
        compact = _to_compact(plan.irreps_in1, x1, u)
        framed = compact @ D_in.transpose(1, 2)  # (Z, u, dim1 / u)
        Z, Q = x1.shape[0], kernel["gather"].shape[1]
        if plan.mode == "uvu":
            W = weights.reshape(B, P, u).transpose(1, 2).reshape(B * u, P)
            coupled = (framed @ kernel["gather"]) * (W @ kernel["coupling"]).reshape(B, u, Q)  # (Z, u, Q)
            back = coupled @ kernel["scatter"]
        else:  # shared fully connected weights: one (u, w) channel matrix per coupling q
            w = plan.irreps_out[0][0]
            M = (kernel["coupling"].t() @ weights.reshape(P, u * w)).reshape(Q, u, w)
            # coupling-major (Q, Z * u) straight from the matrix product (BLAS takes the
            # transposed operands as they are), so the batched product over q copies nothing
            rotated = kernel["gather"].t() @ framed.reshape(Z * u, -1).t()
            coupled = torch.bmm(rotated.view(Q, Z, u), M)  # (Q, Z, w)
            back = (coupled.view(Q, Z * w).t() @ kernel["scatter"]).view(Z, w, -1)
        back = back @ D_out  # (Z, w, dim_out / w)
        return _from_compact(plan.irreps_out, back)

    def __call__(
        self, x1: torch.Tensor, x2: torch.Tensor | None, weights: torch.Tensor, vectors: torch.Tensor | None
    ) -> torch.Tensor:
        if vectors is None:
            raise ValueError(
                "TensorProduct backend 'so2' multiplies by the harmonics of edge vectors: pass vectors=..., not x2"
            )
        plan = self.plan
        Z = x1.shape[0]
        groups, tables, lmax, kernel = self.tables(x1.dtype, x1.device)
        weights = _path_weights(plan, weights)
        # The frame and its Wigner matrices in float64 whatever the features' dtype: in float32
        # they would carry the fit's rounding into every product (twice the dense error).
        R = edge_rotation(vectors.to(torch.float64))
        if kernel is not None and (plan.mode == "uvu" or weights.shape[0] == 1):
            return self._kernel_product(x1, weights, R, kernel)
        D = [d.to(x1.dtype) for d in wigner_D_from_matrix(lmax, R)]
        s1 = plan.irreps_in1.slices()
        rotated: dict[int, torch.Tensor] = {}
        results = []
        for group, (source, scale, index, alpha, position) in zip(groups.groups, tables):
            i1 = group["i1"]
            if i1 not in rotated:
                mul1, ir1 = plan.irreps_in1[i1]
                a = x1[:, s1[i1]].reshape(Z, mul1, ir1.dim)
                rotated[i1] = torch.einsum("zij,zuj->zui", D[ir1.l], a)
            P = (rotated[i1][:, :, source] * scale)[:, :, None, :]
            results.append((group, groups.weighted(group, P, weights, index, alpha), position))
        slots = groups.assemble(results, Z, x1)
        back = [
            torch.einsum("zji,zuj->zui", D[ir.l], s) if s is not None else None
            for s, (_, ir) in zip(slots, plan.irreps_out)
        ]
        return _flat(plan, back, Z, x1)
