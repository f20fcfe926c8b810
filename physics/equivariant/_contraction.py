"""Equivariant layers of the MACE family: irreps-wise linear maps and the symmetric contraction.

MACE (Batatia et al., NeurIPS 2022) raises the body order of atomic features ``A`` (each
channel a vector of irreps ``0e + 1o + 2e + ...``) by the symmetric products
``A (x) A (x) ... (x) A`` of up to ``correlation`` copies, projected onto output irreps by
coupling tensors ``U`` and mixed by learnable, per-element weights. The coupling tensors
here are built from the Clebsch–Gordan tables of :func:`~physics.equivariant.wigner_3j`:
every coupling tree of the input degrees to the output irrep, symmetrised over the copies
and orthonormalised by Gram–Schmidt in a fixed order (so the basis — and the meaning of
saved weights — does not depend on the LAPACK build). The weights may instead multiply
mace-torch's unreduced set of coupling trees (``basis="paths"``: one weight per tree,
linearly dependent ones included), mapped onto the orthonormal basis by a fixed matrix:
the same functions, but the optimiser sees mace-torch's parametrisation.

The contraction is evaluated from the symmetric pair products ``A_a A_b`` (``a <= b``):
``d (d + 1) / 2`` numbers per channel instead of the ``d^2`` of a dense contraction, and
the weights are folded into the coupling tensors per element before they meet the atoms,
so no ``(atoms, channels, d, d)`` intermediate exists. Correlation up to 3.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import torch
from torch import nn

from physics.equivariant._backends import _from_compact, _to_compact
from physics.equivariant._products import Irrep, Irreps
from physics.equivariant._so3 import wigner_3j
from tnkit.decompositions import CP, Tucker

__all__ = ["IrrepsLinear", "SymmetricContraction", "element_groups", "symmetric_coupling_basis"]

MAX_CORRELATION = 3
# up to this many atoms per element the contraction runs over its nonzero couplings with
# per-atom weights (measured on one core for l <= 3, 32 channels: faster up to ~10 atoms per element)
PER_ATOM_ROWS = 8
_GATHER_LIMIT = 1 << 22  # per-atom weight entries gathered at most (else element by element)
WEIGHT_FORMATS = ("cp", "tucker")
BASES = ("orthonormal", "paths")


def element_groups(species: torch.Tensor | None, n_elements: int) -> list[tuple[int, torch.Tensor | None]]:
    """The rows of each element present: ``[(element, rows), ...]``; ``rows`` is ``None`` for all.

    Per-element weights are applied group by group (a handful of elements), not gathered
    per atom: a gathered ``(atoms, channels, channels)`` weight tensor would dwarf the features.

    Parameters
    ----------
    species : torch.Tensor, shape (N,), optional
        Element row of each atom, ``0 <= species < n_elements``; not needed when ``n_elements == 1``.
    n_elements : int
        Number of elements the layer has weights for.

    Examples
    --------
    >>> [(e, r.tolist()) for e, r in element_groups(torch.tensor([1, 0, 1]), 2)]
    [(0, [1]), (1, [0, 2])]
    """
    if n_elements == 1 or species is None:
        return [(0, None)]
    present = torch.unique(species)
    return [(int(e), torch.nonzero(species == e).flatten()) for e in present.tolist()]


def _slot_irreps(irreps: Irreps) -> tuple[int, tuple[Irrep, ...]]:
    """``(mul, slots)`` of irreps whose slots all have one multiplicity (channelwise layers)."""
    muls = {mul for mul, _ in irreps}
    if len(muls) != 1:
        raise ValueError(f"irreps {irreps} must give every slot the same multiplicity (channels), e.g. '8x0e+8x1o'")
    return muls.pop(), tuple(ir for _, ir in irreps)


def _coupled(slots: tuple[Irrep, ...], component: bool = False) -> list[tuple[torch.Tensor, int, int]]:
    """Every coupling tree of ``slots`` in order: ``(tensor (d_1, ..., d_n, 2l + 1), l, parity)``.

    ``component``: each coupling scaled by ``sqrt(2l + 1)`` of its output (e3nn's "component"
    normalisation, mace-torch's trees)."""
    first = slots[0]
    trees = [(torch.eye(first.dim, dtype=torch.float64), first.l, first.p)]
    for ir in slots[1:]:
        grown = []
        for T, l12, p12 in trees:
            for l in range(abs(l12 - ir.l), l12 + ir.l + 1):  # noqa: E741 - the degree
                C = wigner_3j(l12, ir.l, l) * (math.sqrt(2 * l + 1) if component else 1.0)
                grown.append((torch.tensordot(T, C, dims=([T.ndim - 1], [0])), l, p12 * ir.p))
        trees = grown
    return trees


def _trees(slots: tuple[Irrep, ...], correlation: int, out: Irrep, ordered: bool) -> list[torch.Tensor]:
    """The coupling trees of ``correlation`` copies of ``slots`` into ``out``, each placed in the
    full ``(d, ..., d, 2L + 1)`` tensor and symmetrised over the copies. ``ordered``: every
    ordered tuple of slots with component-normalised couplings (mace-torch's set, linearly
    dependent); else one tuple per multiset with plain Clebsch–Gordan tables."""
    starts = [0]
    for ir in slots:
        starts.append(starts[-1] + ir.dim)
    d = starts[-1]
    tuples = (
        itertools.product(range(len(slots)), repeat=correlation)
        if ordered
        else itertools.combinations_with_replacement(range(len(slots)), correlation)
    )
    perms = list(itertools.permutations(range(correlation)))
    found: list[torch.Tensor] = []
    for combo in tuples:
        for T, l, p in _coupled(tuple(slots[s] for s in combo), component=ordered):
            if l != out.l or p != out.p:
                continue
            full = torch.zeros((d,) * correlation + (out.dim,), dtype=torch.float64)
            full[tuple(slice(starts[s], starts[s + 1]) for s in combo)] = T
            found.append(torch.stack([full.permute(*perm, correlation) for perm in perms]).mean(dim=0))
    return found


@functools.lru_cache(maxsize=None)
def _paths(slots: tuple[Irrep, ...], correlation: int, out: Irrep) -> torch.Tensor:
    d = sum(ir.dim for ir in slots)
    found = _trees(slots, correlation, out, ordered=True)
    return torch.stack(found) if found else torch.zeros((0,) + (d,) * correlation + (out.dim,), dtype=torch.float64)


@functools.lru_cache(maxsize=None)
def _basis(slots: tuple[Irrep, ...], correlation: int, out: Irrep) -> torch.Tensor:
    d = sum(ir.dim for ir in slots)
    found = [v.reshape(-1) for v in _trees(slots, correlation, out, ordered=False)]
    # Gram-Schmidt (twice) in the order found: a basis fixed by the tables, not by a library's SVD
    basis: list[torch.Tensor] = []
    for v in found:
        for _ in range(2):
            for b in basis:
                v = v - (b @ v) * b
        norm = float(v.norm())
        if norm > 1e-9:
            basis.append(v / norm)
    shape = (len(basis),) + (d,) * correlation + (out.dim,)
    return torch.stack(basis).reshape(shape) if basis else torch.zeros(shape, dtype=torch.float64)


def symmetric_coupling_basis(
    irreps: Irreps | str, correlation: int, irrep_out: Irrep | str, kind: str = "orthonormal"
) -> torch.Tensor:
    """Coupling tensors of the equivariant maps from ``Sym^correlation(V)`` to one irrep.

    ``V`` is the space of one channel of ``irreps`` (multiplicities ignored: ``"0e+1o+2e"``
    has ``d = 9``). Each tensor ``U[k]`` of shape ``(d, ..., d, 2L + 1)`` is symmetric in
    its ``correlation`` input axes and equivariant: ``U[k]`` contracted with ``D(g) x`` on every
    input axis equals ``D_L(g)`` times ``U[k]`` contracted with ``x``, for all ``g`` in O(3).

    ``kind="orthonormal"``: a basis, orthonormal as flat vectors; its size is the
    multiplicity of the irrep in the symmetric power. ``kind="paths"``: mace-torch's
    (``use_reduced_cg=False``) generalised Clebsch–Gordan trees, one per ordered tuple of
    input irreps and intermediate degree, component-normalised, symmetrised over the copies:
    they span the same space but are linearly dependent (some are zero), so there are more
    of them (mace-torch's number of product-basis weights per channel).

    Parameters
    ----------
    irreps : Irreps or str
        One channel's irreps, e.g. ``"0e+1o+2e+3o"``.
    correlation : int
        Number of copies, 1..3.
    irrep_out : Irrep or str
        The output irrep, e.g. ``"0e"``.
    kind : {"orthonormal", "paths"}
        Which set (default ``"orthonormal"``).

    Returns
    -------
    torch.Tensor, float64, shape ``(K, d, ..., d, 2L + 1)``
        Cached: do not modify it in place.

    Examples
    --------
    >>> U = symmetric_coupling_basis("0e+1o", 2, "0e")   # 1 * 1 and the dot product of two vectors
    >>> U.shape
    torch.Size([2, 4, 4, 1])
    >>> symmetric_coupling_basis("1o", 2, "1e").shape[0]   # a x a = 0: no symmetric pseudovector
    0
    >>> symmetric_coupling_basis("1o", 2, "1e", kind="paths").shape[0]   # mace-torch keeps its (zero) tree
    1
    """
    ir = Irreps(irreps)
    if not 1 <= correlation <= MAX_CORRELATION:
        raise ValueError(f"correlation must be 1..{MAX_CORRELATION}, got {correlation}")
    if kind not in BASES:
        raise ValueError(f"symmetric_coupling_basis: kind must be one of {BASES}, got {kind!r}")
    out = irrep_out if isinstance(irrep_out, Irrep) else Irreps(irrep_out)[0][1]
    build = _basis if kind == "orthonormal" else _paths
    return build(tuple(i for _, i in ir), int(correlation), out)


class IrrepsLinear(nn.Module):
    """Equivariant linear map between irreps: each output slot mixes the input slots of its irrep.

    e3nn's ``o3.Linear`` in layout, weights and normalisation: ``out_o = sum_i x_i W_io /
    sqrt(fan_in(o))`` over input slots ``i`` with the output's irrep, ``fan_in(o)`` the sum of
    their multiplicities, weights initialised standard normal. Optionally one weight set per
    element (MACE's element-dependent skip connection: e3nn's fully connected product with a
    one-hot species is this map) and biases on the scalar (``0e``) outputs.

    Parameters
    ----------
    irreps_in, irreps_out : Irreps or str
    n_elements : int, optional
        Weight sets; default 1 (``forward``'s ``species`` then not needed).
    bias : bool, optional
        Biases on ``0e`` outputs (default False).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> lin = IrrepsLinear("4x0e+4x1o", "2x0e+3x1o+1x2e")
    >>> lin(torch.randn(5, 16)).shape    # the 2e slot has no input of its irrep: zeros
    torch.Size([5, 16])
    """

    def __init__(
        self, irreps_in: Irreps | str, irreps_out: Irreps | str, *, n_elements: int = 1, bias: bool = False
    ) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        if n_elements < 1:
            raise ValueError(f"IrrepsLinear: n_elements must be >= 1, got {n_elements}")
        self.n_elements = int(n_elements)
        self.paths: list[tuple[int, int, float]] = []  # (in slot, out slot, 1/sqrt(fan_in))
        weights = []
        s_in = self.irreps_in.slices()
        self.gathers: list[torch.Tensor | None] = []  # per output slot: flat input entries, (sum mul_i, 2l + 1)
        for o, (mul_o, ir_o) in enumerate(self.irreps_out):
            sources = [i for i, (_, ir) in enumerate(self.irreps_in) if ir == ir_o]
            fan_in = sum(self.irreps_in[i][0] for i in sources)
            for i in sources:
                self.paths.append((i, o, 1.0 / math.sqrt(fan_in)))
                weights.append(torch.randn(self.n_elements, self.irreps_in[i][0], mul_o))
            parts = [torch.arange(s_in[i].start, s_in[i].stop) for i in sources]
            self.gathers.append(torch.cat(parts) if parts else None)
        # per output slot: its paths, and its input entries as a range when they are one (a slice, no gather)
        self.slot_paths = [
            [p for p, (_, oo, _) in enumerate(self.paths) if oo == o] for o in range(len(self.irreps_out))
        ]
        self.spans = [
            (int(g[0]), int(g[-1]) + 1) if g is not None and bool((g.diff() == 1).all()) else None for g in self.gathers
        ]
        self.weights = nn.ParameterList(nn.Parameter(w) for w in weights)
        scalars = [o for o, (_, ir) in enumerate(self.irreps_out) if ir.l == 0 and ir.p == 1]
        self.bias_slots = scalars if bias else []
        self.biases = nn.ParameterList(
            nn.Parameter(torch.zeros(self.n_elements, self.irreps_out[o][0])) for o in self.bias_slots
        )
        self._index: dict[torch.device, list[torch.Tensor | None]] = {}

    def forward(self, x: torch.Tensor, species: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, irreps_in.dim)`` -> ``(N, irreps_out.dim)``.

        Every output slot is one product with all the input slots of its irrep at once (their
        entries gathered by one ``index_select``); per-element weights are gathered per atom
        for batches of moderate size, applied element by element for large ones.

        Parameters
        ----------
        x : torch.Tensor, shape (N, irreps_in.dim)
            Features in e3nn's flat layout.
        species : torch.Tensor, shape (N,), optional
            Weight set of each row (needed with ``n_elements > 1``).
        """
        if x.shape[-1] != self.irreps_in.dim:
            raise ValueError(
                f"IrrepsLinear: input has {x.shape[-1]} features, irreps_in {self.irreps_in} needs {self.irreps_in.dim}"
            )
        if self.n_elements > 1 and species is None:
            raise ValueError("IrrepsLinear: this layer has per-element weights; pass species=")
        N = x.shape[0]
        if x.device not in self._index:
            self._index[x.device] = [None if g is None else g.to(x.device) for g in self.gathers]
        outs: list[torch.Tensor | None] = []
        for o, ((mul_o, ir), index) in enumerate(zip(self.irreps_out, self._index[x.device])):
            if index is None:
                outs.append(None)
                continue
            paths = self.slot_paths[o]
            if len(paths) == 1:
                W = self.weights[paths[0]] * self.paths[paths[0]][2]
            else:
                W = torch.cat([self.weights[p] * self.paths[p][2] for p in paths], dim=1)
            span = self.spans[o]
            xo = x[:, span[0] : span[1]] if span is not None else x.index_select(1, index)
            xo = xo.reshape(N, -1, ir.dim)  # (N, sum mul_i, 2l + 1)
            if species is None or self.n_elements == 1:
                # (N (2l + 1), u) @ (u, w) as one matrix product, back to (N, w, 2l + 1)
                y = xo.transpose(1, 2).reshape(-1, xo.shape[1]) @ W[0]
                outs.append(y.reshape(N, ir.dim, mul_o).transpose(1, 2))
            elif N * W.shape[1] * mul_o <= _GATHER_LIMIT:
                outs.append(torch.bmm(W[species].transpose(1, 2), xo))  # (N, w, u) @ (N, u, 2l + 1)
            else:
                y = x.new_zeros((N, mul_o, ir.dim))
                for e, rows in element_groups(species, self.n_elements):
                    assert rows is not None
                    y = y.index_copy(0, rows, torch.einsum("nui,uw->nwi", xo[rows], W[e]))
                outs.append(y)
        for o, b in zip(self.bias_slots, self.biases):
            bias = b[0].reshape(1, -1, 1) if species is None else b[species].reshape(N, -1, 1)
            previous = outs[o]
            outs[o] = bias.expand(N, -1, 1) if previous is None else previous + bias
        pieces = [
            y.reshape(N, -1) if y is not None else x.new_zeros((N, mul * ir.dim))
            for y, (mul, ir) in zip(outs, self.irreps_out)
        ]
        return torch.cat(pieces, dim=1) if pieces else x.new_zeros((N, 0))


class SymmetricContraction(nn.Module):
    """MACE's product basis: channelwise symmetric powers of ``A`` up to ``correlation``, per element.

    ``out[n, c, L M] = sum_{nu <= correlation} sum_k W_nu^L[z_n, k, c] sum_{a...} U_nu^L[k, a..., M] A[n, c, a] ...``

    with ``U`` from :func:`symmetric_coupling_basis` (one basis per output slot and ``nu``),
    ``z_n`` the atom's element and ``c`` the channel. Weights are initialised standard
    normal over ``K``, as mace-torch's (fits start faster than from the ``1 / sqrt(K)`` that
    would keep the output at unit scale).

    With ``basis="paths"`` the parameters are one weight per coupling tree of mace-torch
    (``symmetric_coupling_basis(..., kind="paths")``, ``K_paths >= K``), mapped onto the
    orthonormal weights by the fixed ``(K, K_paths)`` overlaps of the two sets before the
    contraction: the same functions at the same cost, with mace-torch's parameter count and
    initialisation (and a layout its weights map onto one to one).

    Parameters
    ----------
    irreps_in : Irreps or str
        ``C x`` each input irrep, e.g. ``"8x0e+8x1o+8x2e+8x3o"`` (one multiplicity for all).
    irreps_out : Irreps or str
        ``C x`` each output irrep, e.g. ``"8x0e+8x1o"``.
    correlation : int, optional
        Body order minus one, 1..3 (default 3, MACE's).
    n_elements : int, optional
        Weight sets, one per element (default 1).
    weight_rank : int, optional
        Factorise each term's ``(elements, K, channels)`` weight tensor with this rank
        (default: full weights). Fewer parameters when elements and channels are many.
    weight_format : {"cp", "tucker"}
        The factorisation (:class:`tnkit.decompositions.CP`: ``sum_r a[z, r] b[k, r] c[c, r]``;
        :class:`tnkit.decompositions.Tucker`: a core of ranks ``min(rank, n)`` per mode and
        three factor matrices); the dense weights are formed by tnkit at each call.
    basis : {"orthonormal", "paths"}
        What the weights multiply (default ``"orthonormal"``; ``"paths"``: mace-torch's
        coupling trees, see above).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> layer = SymmetricContraction("4x0e+4x1o+4x2e", "4x0e+4x1o", correlation=3, n_elements=2)
    >>> [w.shape[1] for w in layer.dense_weights()]    # K per (output slot, nu): nu = 1, 2, 3 for 0e, then 1o
    [1, 3, 5, 1, 2, 5]
    >>> layer(torch.randn(6, 36), species=torch.tensor([0, 1, 1, 0, 0, 1])).shape
    torch.Size([6, 16])
    >>> sum(p.numel() for p in layer.parameters())           # 2 elements x 17 x 4 channels
    136
    >>> cp = SymmetricContraction("4x0e+4x1o+4x2e", "4x0e+4x1o", n_elements=2, weight_rank=1)
    >>> sum(p.numel() for p in cp.parameters())               # per term (2 + K + 4) x 1
    53
    >>> paths = SymmetricContraction("4x0e+4x1o+4x2e", "4x0e+4x1o", n_elements=2, basis="paths")
    >>> paths.param_sizes                                     # mace-torch's weights per term
    [1, 3, 11, 1, 4, 21]
    """

    def __init__(
        self,
        irreps_in: Irreps | str,
        irreps_out: Irreps | str,
        *,
        correlation: int = 3,
        n_elements: int = 1,
        weight_rank: int | None = None,
        weight_format: str = "cp",
        basis: str = "orthonormal",
    ) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        C, slots = _slot_irreps(self.irreps_in)
        C_out, slots_out = _slot_irreps(self.irreps_out)
        if C_out != C:
            raise ValueError(
                f"SymmetricContraction is channelwise: irreps_out {irreps_out} needs {C} channels like irreps_in"
            )
        if not 1 <= correlation <= MAX_CORRELATION:
            raise ValueError(f"SymmetricContraction: correlation must be 1..{MAX_CORRELATION}, got {correlation}")
        if n_elements < 1:
            raise ValueError(f"SymmetricContraction: n_elements must be >= 1, got {n_elements}")
        self.channels, self.correlation, self.n_elements = C, int(correlation), int(n_elements)
        self.d = sum(ir.dim for ir in slots)
        if weight_format not in WEIGHT_FORMATS:
            raise ValueError(
                f"SymmetricContraction: weight_format must be one of {WEIGHT_FORMATS}, got {weight_format!r}"
            )
        if weight_rank is not None and weight_rank < 1:
            raise ValueError(
                f"SymmetricContraction: weight_rank must be >= 1 (or None for full weights), got {weight_rank}"
            )
        if basis not in BASES:
            raise ValueError(f"SymmetricContraction: basis must be one of {BASES}, got {basis!r}")
        self.weight_rank, self.weight_format, self.basis = weight_rank, weight_format, basis
        self.terms: list[tuple[int, int]] = []  # (output slot, nu)
        self.sizes: list[int] = []  # K per term (the orthonormal basis the contraction runs in)
        self.param_sizes: list[int] = []  # weights per term (K, or K_paths with basis="paths")
        overlaps = []
        for o, ir in enumerate(slots_out):
            for nu in range(1, self.correlation + 1):
                self.terms.append((o, nu))
                U = _basis(slots, nu, ir)
                self.sizes.append(U.shape[0])
                if basis == "orthonormal":
                    self.param_sizes.append(U.shape[0])
                    continue
                V = _paths(slots, nu, ir)
                flat = math.prod(U.shape[1:])
                overlaps.append(U.reshape(U.shape[0], flat) @ V.reshape(V.shape[0], flat).t())  # (K, K_paths)
                self.param_sizes.append(V.shape[0])
        # the paths' weights -> the orthonormal ones: one block-diagonal matrix for all terms,
        # float64 here, cast per dtype and device when used (as the coupling tables)
        self.path_map = torch.block_diag(*overlaps) if basis == "paths" else None
        # full: (elements, K, channels) ~ N(0, 1/K^2), mace-torch's initialisation (smaller than the
        # 1/K that keeps the output's scale: the fits train faster from it); factorised: factors
        # whose product has that variance
        self.weights = nn.ParameterList()
        self.factors = nn.ModuleList()
        for K in self.param_sizes:
            if weight_rank is None:
                self.weights.append(nn.Parameter(torch.randn(self.n_elements, K, C) / max(K, 1)))
                continue
            shape = (self.n_elements, K, C)
            ranks: tuple[int, ...]
            core: list[nn.Parameter]
            if weight_format == "cp":
                ranks, core = (weight_rank,) * 3, []
            else:
                ranks = tuple(min(weight_rank, n) for n in shape)
                core = [nn.Parameter(torch.randn(ranks))]
            terms = math.prod(ranks) if weight_format == "tucker" else weight_rank
            scale = (1.0 / (max(K, 1) ** 2 * terms)) ** (1 / 6)
            mats = [nn.Parameter(torch.randn(n, r) * scale) for n, r in zip(shape, ranks)]
            self.factors.append(nn.ParameterList(core + mats))
        self._slots, self._slots_out = slots, slots_out
        # (dtype, device), ("sparse", dtype, device) and ("paths", dtype, device)
        self._tables: dict[tuple[Any, ...], list[torch.Tensor]] = {}

    def dense_weights(self) -> list[torch.Tensor]:
        """Per term (in :attr:`terms` order), the ``(n_elements, K, channels)`` weights of the
        orthonormal basis.

        The parameters themselves for full weights; formed from the factors
        (:class:`tnkit.decompositions.CP` / :class:`~tnkit.decompositions.Tucker`) otherwise;
        with ``basis="paths"``, mapped from the paths' weights.
        """
        if self.weight_rank is None:
            out = list(self.weights)
        else:
            out = []
            for factors in self.factors:
                if self.weight_format == "cp":
                    mats = list(factors.parameters())
                    out.append(CP(mats[0].new_ones(self.weight_rank), mats).to_dense())
                else:
                    core, *mats = list(factors.parameters())
                    out.append(Tucker(core, mats).to_dense())
        if self.path_map is None:
            return out
        dtype, device = out[0].dtype, out[0].device
        key = ("paths", dtype, device)
        if key not in self._tables:
            self._tables[key] = [self.path_map.to(dtype=dtype, device=device)]
        W = self._tables[key][0] @ torch.cat(out, dim=1)  # (elements, sum K, C)
        return list(W.split(self.sizes, dim=1))

    def _pair_tables(self, dtype: torch.dtype, device: torch.device) -> list[torch.Tensor]:
        """Per term, ``U`` reduced to symmetric pairs: ``nu = 3``: ``(pairs, d * M, K)``,
        ``nu = 2``: ``(pairs, M, K)``, ``nu = 1``: ``(d, M, K)``; plus the pair indices last."""
        key = (dtype, device)
        if key not in self._tables:
            ia, ib = torch.triu_indices(self.d, self.d)
            twice = torch.where(ia == ib, 1.0, 2.0).to(torch.float64)
            tables = []
            for o, nu in self.terms:
                U = _basis(self._slots, nu, self._slots_out[o])  # (K, d, ..., M)
                U = U.movedim(0, -1)  # (d, ..., M, K)
                if nu >= 2:
                    U = U[ia, ib] * twice.reshape(-1, *([1] * (U.ndim - 2)))  # (pairs, [d,] M, K)
                middle = math.prod(U.shape[1:-1])
                tables.append(U.reshape(U.shape[0], middle, U.shape[-1]).to(dtype=dtype, device=device))
            tables.append(torch.stack([ia, ib]).to(device))
            self._tables[key] = tables
        return self._tables[key]

    def _sparse_table(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
        """All terms' couplings as one list of their nonzero rows, for :meth:`_per_atom`.

        Row ``r`` reads two columns ``i_r, j_r`` of ``X = [1, A, A_a A_b (a <= b)]`` (``nu = 1``:
        ``A_a`` and the 1; ``nu = 2``: a pair and the 1; ``nu = 3``: a pair and ``A_c``), adds
        into output column ``col_r`` and carries its coupling coefficients ``U_r`` over all
        terms' weight rows (``sum K``; zero outside its own term's). About 1 % of the entries
        of the coupling tensors are nonzero (13 % of their rows for ``l <= 3``)."""
        key = ("sparse", dtype, device)
        if key not in self._tables:
            *tables, _ = self._pair_tables(torch.float64, torch.device("cpu"))
            d, pairs = self.d, self.d * (self.d + 1) // 2
            offsets = [0]
            for ir in self._slots_out:
                offsets.append(offsets[-1] + ir.dim)
            K_all, k0 = sum(self.sizes), 0
            parts: list[tuple[torch.Tensor, ...]] = []
            for (o, nu), U in zip(self.terms, tables):
                K = U.shape[-1]
                if K == 0:  # no invariant coupling of this order into this irrep
                    continue
                U4 = U.reshape(U.shape[0], d if nu == 3 else 1, -1, K)  # (X rows, [A_c], M, K)
                p, c, m = torch.nonzero(U4.abs().sum(-1) > 0).unbind(1)
                block = torch.zeros((p.shape[0], K_all), dtype=torch.float64)
                block[:, k0 : k0 + K] = U4[p, c, m]
                parts.append(
                    (p + (1 if nu == 1 else 1 + d), c + 1 if nu == 3 else torch.zeros_like(c), m + offsets[o], block)
                )
                k0 += K
            if not parts:  # nothing couples into the output irreps
                none = torch.zeros(0, dtype=torch.long)
                parts.append((none, none, none, torch.zeros((0, K_all), dtype=torch.float64)))
            i, j, col, U_all = (torch.cat(t) for t in zip(*parts))
            assert i.numel() == 0 or int(i.max()) < 1 + d + pairs
            index = [t.to(device) for t in (i, j, col)]
            self._tables[key] = [*index, U_all.to(dtype=dtype, device=device)]
        return tuple(self._tables[key])

    def forward(self, x: torch.Tensor, species: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, irreps_in.dim)`` -> ``(N, irreps_out.dim)``.

        Parameters
        ----------
        x : torch.Tensor, shape (N, irreps_in.dim)
            The atomic basis ``A`` in e3nn's flat layout.
        species : torch.Tensor, shape (N,), optional
            Weight set (element row) of each atom (needed with ``n_elements > 1``).
        """
        if x.shape[-1] != self.irreps_in.dim:
            raise ValueError(
                f"SymmetricContraction: input has {x.shape[-1]} features, "
                f"irreps_in {self.irreps_in} needs {self.irreps_in.dim}"
            )
        if self.n_elements > 1 and species is None:
            raise ValueError("SymmetricContraction: this layer has per-element weights; pass species=")
        N, C, d = x.shape[0], self.channels, self.d
        *tables, pairs = self._pair_tables(x.dtype, x.device)
        weights = self.dense_weights()
        A = _to_compact(self.irreps_in, x, C).transpose(0, 1)  # (C, N, d)
        dims = [ir.dim for ir in self._slots_out]
        # a few atoms (one molecule): the nonzero couplings with per-atom weights beat a product
        # per element and term (the dense per-element form's flops only pay off for more atoms)
        if N <= PER_ATOM_ROWS * self.n_elements:
            out = self._per_atom(A, species, pairs, weights)
            return _from_compact(self.irreps_out, out.transpose(0, 1))
        out = x.new_zeros((C, N, sum(dims)))
        for e, rows in element_groups(species, self.n_elements):
            Ae = A if rows is None else A[:, rows]
            n = Ae.shape[1]
            P2 = Ae[..., pairs[0]] * Ae[..., pairs[1]]  # (C, n, pairs): A_a A_b for a <= b
            per_slot: list[torch.Tensor | None] = [None] * len(dims)
            for (o, nu), U, W in zip(self.terms, tables, weights):
                if U.shape[-1] == 0:
                    continue
                # the element's weights folded into the coupling tensor: (C, rows of U, columns of U)
                # (C, K) @ (K, rows x columns): contiguous per channel, as bmm's batched kernels need
                B = (W[e].t() @ U.reshape(-1, U.shape[-1]).t()).reshape(C, U.shape[0], U.shape[1])
                if nu == 1:
                    y = torch.bmm(Ae, B)  # (C, n, M)
                elif nu == 2:
                    y = torch.bmm(P2, B)
                else:
                    y = (torch.bmm(P2, B).reshape(C, n, d, -1) * Ae[..., None]).sum(dim=2)
                previous = per_slot[o]
                per_slot[o] = y if previous is None else previous + y
            block = torch.cat([y if y is not None else Ae.new_zeros((C, n, m)) for y, m in zip(per_slot, dims)], dim=2)
            out = block if rows is None else out.index_copy(1, rows, block)
        return _from_compact(self.irreps_out, out.transpose(0, 1))

    def _per_atom(
        self, A: torch.Tensor, species: torch.Tensor | None, pairs: torch.Tensor, weights: list[torch.Tensor]
    ) -> torch.Tensor:
        """A few atoms: the nonzero couplings as one list (:meth:`_sparse_table`), each atom's weights.

        ``B[c, n, r] = sum_k U[r, k] W[z_n, k, c]`` by one matrix product, then
        ``y[c, n, col_r] += X[c, n, i_r] X[c, n, j_r] B[c, n, r]`` by one ``index_add``: a
        dozen operations for all terms (their count, not their size, costs at small batches)
        and only the nonzero couplings' flops."""
        C, N, d = A.shape
        i, j, col, U = self._sparse_table(A.dtype, A.device)
        W = torch.cat(weights, dim=1)  # (elements, sum K, C)
        Wn = W[species] if species is not None else W.expand(N, -1, -1)
        # rows first throughout: gathers, products and the sum move whole contiguous rows of N C
        B = U @ Wn.transpose(0, 1).reshape(U.shape[1], N * C)  # (R, N C)
        a = A.permute(2, 1, 0).reshape(d, N * C)
        X = torch.cat([a.new_ones((1, N * C)), a, a[pairs[0]] * a[pairs[1]]], dim=0)
        terms = X.index_select(0, i) * X.index_select(0, j) * B
        y = a.new_zeros((sum(ir.dim for ir in self._slots_out), N * C)).index_add(0, col, terms)
        return y.reshape(-1, N, C).permute(2, 1, 0)
