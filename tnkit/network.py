"""General tensor networks on a graph: structure, contraction and fitting.

A :class:`Structure` describes a tensor network on ``N`` nodes for an order-``d``
tensor of shape ``(n_0, ..., n_{d-1})``:

* nodes ``0..d-1`` are *physical* cores, one per tensor mode; with a mode permutation
  ``perm``, core ``i`` carries mode ``perm[i]``;
* nodes ``d..N-1`` are *internal* cores without a physical leg (the Tucker core, the
  inner nodes of a tree network);
* a symmetric integer matrix ``ranks`` gives the bond dimension of every edge, 0 meaning
  no edge. A rank-1 edge costs nothing and changes nothing (an outer product), so the
  searches of :mod:`tnkit.search` treat rank 1 as "no edge" as the papers do.

Core ``i`` is an array whose axes are its physical leg (if any) followed by one axis per
edge, in increasing order of the neighbour's node number. Tensor trains, tensor rings,
Tucker and the tree networks of :mod:`tnkit.ttn` are special cases
(:meth:`Structure.tt`, :meth:`Structure.tr`, :meth:`Structure.tucker`,
:meth:`TensorNetwork.from_ttn`); the fully connected graph
(:meth:`Structure.full`) is the search space of greedy rank growth [HLMR]_.

:func:`fit` fits a structure to a target tensor by alternating least squares (each core
in turn from the normal equations of its environment) or by gradient descent with
PyTorch autograd, with random restarts and early stopping; a boolean ``mask`` restricts
the fit to observed entries (tensor completion).

References
----------
.. [HLMR] M. Hashemizadeh, M. Liu, J. Miller and G. Rabusseau, "Adaptive learning of
   tensor network structures", arXiv:2008.05437 (2020).
.. [TRALS] Q. Zhao, G. Zhou, S. Xie, L. Zhang and A. Cichocki, "Tensor ring
   decomposition", arXiv:1606.05535 (2016).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tnkit import backend
from tnkit._contract import contract
from tnkit.backend import namespace
from tnkit.linalg import qr

__all__ = ["Structure", "TensorNetwork", "FitResult", "fit"]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


# --------------------------------------------------------------------------------------
# Structure


class Structure:
    """The graph of a tensor network: mode sizes, edge ranks, mode permutation.

    Parameters
    ----------
    shape : sequence of int
        Sizes ``(n_0, ..., n_{d-1})`` of the tensor the network represents.
    ranks : square matrix of int, or mapping ``{(i, j): rank}``
        Bond dimensions, symmetric, 0 for no edge, zero diagonal. A matrix of size
        ``N > d`` adds ``N - d`` internal nodes. A mapping lists each edge once.
    perm : sequence of int, optional
        Core ``i`` carries tensor mode ``perm[i]`` (identity by default).
    num_nodes : int, optional
        Number of nodes when ``ranks`` is a mapping (default ``d``).

    Raises
    ------
    ValueError
        Non-positive sizes, negative ranks, a non-symmetric matrix or an edge to a
        node that does not exist (a dangling edge), a self-loop, an internal node
        without edges, a ``perm`` that is not a permutation of ``0..d-1``, or more
        legs than the 52 contraction labels.

    Examples
    --------
    >>> s = Structure.tr((3, 3, 3, 3), (2, 2, 2, 2))
    >>> s.num_params, round(s.compression_ratio, 3)
    (48, 1.688)
    >>> Structure((4, 5), {(0, 1): 3}).core_shape(1)
    (5, 3)
    """

    def __init__(
        self,
        shape: Sequence[int],
        ranks: Any,
        perm: Sequence[int] | None = None,
        *,
        num_nodes: int | None = None,
    ) -> None:
        shape = tuple(shape) if isinstance(shape, Sequence) else shape
        if not isinstance(shape, tuple) or len(shape) == 0:
            raise ValueError(f"Structure: shape must be a non-empty sequence of int, got {shape!r}")
        if not all(_is_int(n) and n >= 1 for n in shape):
            raise ValueError(f"Structure: mode sizes must be ints >= 1, got {shape!r}")
        d = len(shape)
        self.shape = tuple(int(n) for n in shape)
        if isinstance(ranks, Mapping):
            n = d if num_nodes is None else num_nodes
            if not _is_int(n) or n < d:
                raise ValueError(f"Structure: num_nodes must be an int >= {d}, got {num_nodes!r}")
            mat = np.zeros((n, n), dtype=np.int64)
            for edge, r in ranks.items():
                if not (isinstance(edge, tuple) and len(edge) == 2 and all(_is_int(v) for v in edge)):
                    raise ValueError(f"Structure: dangling edge {edge!r}: an edge joins exactly two nodes")
                i, j = (int(v) for v in edge)
                for v in (i, j):
                    if not 0 <= v < n:
                        raise ValueError(
                            f"Structure: dangling edge {edge!r}: node {v} does not exist "
                            f"(the network has nodes 0..{n - 1})"
                        )
                if i == j:
                    raise ValueError(f"Structure: self-loop on node {i}; an edge joins two different nodes")
                if not _is_int(r) or r < 0:
                    raise ValueError(f"Structure: rank of edge {edge!r} must be an int >= 0, got {r!r}")
                mat[i, j] = mat[j, i] = int(r)
        else:
            try:
                mat = np.asarray(ranks)
            except Exception as exc:  # noqa: BLE001 - report any conversion failure in one line
                raise ValueError(f"Structure: ranks must be a square int matrix or a mapping ({exc})") from None
            if mat.ndim != 2 or mat.shape[0] != mat.shape[1] or mat.shape[0] < d:
                raise ValueError(
                    f"Structure: ranks must be a square matrix of size >= {d} (one row per node), "
                    f"got shape {mat.shape}"
                )
            if mat.dtype.kind not in "iu" and not (mat.dtype.kind == "f" and np.all(mat == np.round(mat))):
                raise ValueError(f"Structure: ranks must be integers, got dtype {mat.dtype}")
            mat = mat.astype(np.int64)
            if np.any(mat < 0):
                i, j = np.argwhere(mat < 0)[0]
                raise ValueError(f"Structure: rank of edge ({i}, {j}) is {mat[i, j]}; ranks must be >= 0")
            if np.any(np.diag(mat) != 0):
                i = int(np.flatnonzero(np.diag(mat))[0])
                raise ValueError(f"Structure: self-loop on node {i} (ranks[{i}, {i}] = {mat[i, i]}); the diagonal must be 0")
            bad = np.argwhere(mat != mat.T)
            if len(bad):
                i, j = (int(v) for v in bad[0])
                raise ValueError(
                    f"Structure: dangling edge ({i}, {j}): rank {mat[i, j]} at node {i} but "
                    f"{mat[j, i]} at node {j}; the rank matrix must be symmetric"
                )
        n = mat.shape[0]
        for v in range(d, n):
            if not np.any(mat[v] > 0):
                raise ValueError(f"Structure: internal node {v} has no edges")
        self._ranks = mat
        self._ranks.setflags(write=False)
        self._edges = tuple((i, j, int(mat[i, j])) for i in range(n) for j in range(i + 1, n) if mat[i, j] > 0)
        self._nbrs = tuple(tuple(int(j) for j in np.flatnonzero(mat[v] > 0)) for v in range(n))
        if perm is None:
            perm = tuple(range(d))
        perm = tuple(perm)
        if not all(_is_int(p) for p in perm) or sorted(perm) != list(range(d)):
            raise ValueError(f"Structure: perm must be a permutation of 0..{d - 1}, got {perm!r}")
        self.perm = tuple(int(p) for p in perm)
        n_labels = d + len(self.edges)
        if n_labels > len(_LETTERS) - 1:  # one label is kept for the batch index of sampled entries
            raise ValueError(
                f"Structure: {n_labels} legs (modes + edges) exceed the {len(_LETTERS) - 1} contraction labels"
            )

    # -- constructors -----------------------------------------------------------------

    @classmethod
    def tt(cls, shape: Sequence[int], ranks: Sequence[int]) -> "Structure":
        """Tensor train: ``ranks`` are the ``d - 1`` inner bond dimensions.

        Examples
        --------
        >>> Structure.tt((7, 7, 7, 7, 7), (2, 3, 6, 5)).num_params
        427
        """
        d = len(shape)
        ranks = tuple(ranks)
        if len(ranks) != d - 1:
            raise ValueError(f"Structure.tt: need {d - 1} ranks for {d} modes, got {len(ranks)}")
        _check_positive(ranks, "Structure.tt")
        return cls(shape, {(k, k + 1): r for k, r in enumerate(ranks)})

    @classmethod
    def tr(cls, shape: Sequence[int], ranks: Sequence[int], perm: Sequence[int] | None = None) -> "Structure":
        """Tensor ring: ``ranks[k]`` joins core ``k`` and core ``k + 1 (mod d)``.

        Examples
        --------
        >>> Structure.tr((7,) * 5, (2, 3, 4, 5, 5)).num_params
        511
        """
        d = len(shape)
        ranks = tuple(ranks)
        if d < 3:
            raise ValueError(f"Structure.tr: a ring needs at least 3 modes, got {d}")
        if len(ranks) != d:
            raise ValueError(f"Structure.tr: need {d} ranks for {d} modes, got {len(ranks)}")
        _check_positive(ranks, "Structure.tr")
        return cls(shape, {(k, (k + 1) % d): r for k, r in enumerate(ranks)}, perm)

    @classmethod
    def tucker(cls, shape: Sequence[int], ranks: Sequence[int]) -> "Structure":
        """Tucker: one internal core (node ``d``) joined to every factor with its rank.

        Examples
        --------
        >>> Structure.tucker((7,) * 5, (2, 3, 4, 3, 2)).num_params
        242
        """
        d = len(shape)
        ranks = tuple(ranks)
        if len(ranks) != d:
            raise ValueError(f"Structure.tucker: need {d} ranks for {d} modes, got {len(ranks)}")
        _check_positive(ranks, "Structure.tucker")
        return cls(shape, {(k, d): r for k, r in enumerate(ranks)}, num_nodes=d + 1)

    @classmethod
    def full(cls, shape: Sequence[int], rank: int = 1, *, internal: int = 0) -> "Structure":
        """Every pair of the ``d + internal`` nodes joined with the same rank.

        Examples
        --------
        >>> len(Structure.full((2, 2, 2, 2)).edges)
        6
        """
        _check_positive((rank,), "Structure.full")
        if not _is_int(internal) or internal < 0:
            raise ValueError(f"Structure.full: internal must be an int >= 0, got {internal!r}")
        n = len(shape) + internal
        mat = np.full((n, n), int(rank), dtype=np.int64)
        np.fill_diagonal(mat, 0)
        return cls(shape, mat)

    # -- properties -------------------------------------------------------------------

    @property
    def ranks(self) -> np.ndarray:
        """The symmetric rank matrix (read-only)."""
        return self._ranks

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def num_nodes(self) -> int:
        return int(self._ranks.shape[0])

    @property
    def edges(self) -> tuple[tuple[int, int, int], ...]:
        """``(i, j, rank)`` with ``i < j`` for every edge of rank >= 1."""
        return self._edges

    def neighbours(self, node: int) -> tuple[int, ...]:
        return self._nbrs[node]

    def phys_dim(self, node: int) -> int | None:
        """Size of the physical leg of ``node`` (None for internal nodes)."""
        return self.shape[self.perm[node]] if node < self.ndim else None

    def core_shape(self, node: int) -> tuple[int, ...]:
        bonds = tuple(int(self._ranks[node, j]) for j in self.neighbours(node))
        p = self.phys_dim(node)
        return bonds if p is None else (p, *bonds)

    @property
    def num_params(self) -> int:
        """Number of entries in all cores."""
        return sum(math.prod(self.core_shape(v)) for v in range(self.num_nodes))

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def compression_ratio(self) -> float:
        """Entries of the full tensor per network parameter (larger is more compact)."""
        return self.numel / self.num_params

    @property
    def key(self) -> tuple:
        """Hashable identity: shape, edges and perm."""
        return (self.shape, self.num_nodes, self.edges, self.perm)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Structure) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        edges = ", ".join(f"{i}-{j}:{r}" for i, j, r in self.edges)
        perm = "" if self.perm == tuple(range(self.ndim)) else f", perm={self.perm}"
        internal = self.num_nodes - self.ndim
        extra = f", internal={internal}" if internal else ""
        return f"Structure(shape={self.shape}, edges=[{edges}]{perm}{extra}, params={self.num_params})"

    # -- derived structures -----------------------------------------------------------

    def with_rank(self, i: int, j: int, rank: int) -> "Structure":
        """A copy with edge ``(i, j)`` set to ``rank`` (0 removes it)."""
        mat = self._ranks.copy()
        mat[i, j] = mat[j, i] = rank
        return Structure(self.shape, mat, self.perm)

    def with_perm(self, perm: Sequence[int]) -> "Structure":
        return Structure(self.shape, self._ranks.copy(), perm)

    def to_dict(self) -> dict[str, Any]:
        return {"shape": np.asarray(self.shape, dtype=np.int64), "ranks": np.asarray(self._ranks),
                "perm": np.asarray(self.perm, dtype=np.int64)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Structure":
        return cls(tuple(int(n) for n in data["shape"]), np.asarray(data["ranks"]),
                   tuple(int(p) for p in data["perm"]))

    # -- contraction labels -----------------------------------------------------------

    def _labels(self) -> tuple[list[str], dict[tuple[int, int], str]]:
        """Physical label per tensor mode and bond label per edge."""
        d = self.ndim
        phys = [_LETTERS[m] for m in range(d)]
        bond = {}
        for k, (i, j, _) in enumerate(self.edges):
            bond[(i, j)] = bond[(j, i)] = _LETTERS[d + k]
        return phys, bond

    def _term(self, node: int, phys: list[str], bond: dict[tuple[int, int], str]) -> str:
        head = phys[self.perm[node]] if node < self.ndim else ""
        return head + "".join(bond[(node, j)] for j in self.neighbours(node))

    def _expression(self, skip: int | None = None, batch: bool = False) -> tuple[str, list[int]]:
        """Contraction of all cores but ``skip`` (its bonds left open, after the physical
        legs); with ``batch`` the physical legs are one shared sample index."""
        phys, bond = self._labels()
        nodes = [v for v in range(self.num_nodes) if v != skip]
        terms = []
        for v in nodes:
            term = self._term(v, phys, bond)
            if batch and v < self.ndim:
                term = "Z" + term[1:]
            terms.append(term)
        if batch:
            out = "Z"
        else:
            out = "".join(phys[m] for m in range(self.ndim)
                          if skip is None or skip >= self.ndim or m != self.perm[skip])
        if skip is not None:
            out += "".join(bond[(skip, j)] for j in self.neighbours(skip))
        return ",".join(terms) + "->" + out, nodes


def _check_positive(ranks: Sequence[Any], where: str) -> None:
    for r in ranks:
        if not _is_int(r) or r < 1:
            raise ValueError(f"{where}: ranks must be ints >= 1, got {tuple(ranks)!r}")


# --------------------------------------------------------------------------------------
# Networks


class TensorNetwork:
    """A :class:`Structure` with its cores.

    Parameters
    ----------
    structure : Structure
    cores : sequence of arrays
        One per node, of shape ``structure.core_shape(i)``; one library and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> s = Structure.tt((2, 3, 4), (2, 2))
    >>> tn = TensorNetwork.random(s, rng=0)
    >>> tn.to_dense().shape, tn.num_params
    ((2, 3, 4), 24)
    """

    def __init__(self, structure: Structure, cores: Sequence[Any]) -> None:
        if not isinstance(structure, Structure):
            raise TypeError(f"TensorNetwork: structure must be a Structure, got {type(structure).__name__}")
        cores = list(cores)
        if len(cores) != structure.num_nodes:
            raise ValueError(f"TensorNetwork: {structure.num_nodes} nodes but {len(cores)} cores")
        namespace(*cores)
        for v, c in enumerate(cores):
            if tuple(c.shape) != structure.core_shape(v):
                raise ValueError(
                    f"TensorNetwork: core {v} has shape {tuple(c.shape)}, the structure needs "
                    f"{structure.core_shape(v)}"
                )
        self.structure = structure
        self.cores = cores

    @classmethod
    def random(
        cls,
        structure: Structure,
        rng: np.random.Generator | int | None = None,
        *,
        like: Any = None,
        dtype: Any = None,
    ) -> "TensorNetwork":
        """Gaussian cores scaled so the dense tensor has entries of order one.

        ``like`` (an array) picks the library, device and dtype (NumPy float64 by default).
        """
        gen = backend.make_rng(rng)
        if like is None:
            like = np.zeros(0)
        xp = namespace(like)
        dt = like.dtype if dtype is None else dtype
        dev = backend.device_of(like)
        cores = []
        for v in range(structure.num_nodes):
            shp = structure.core_shape(v)
            bonds = shp[1:] if v < structure.ndim else shp
            scale = 1.0 / math.sqrt(max(1, math.prod(bonds)) ** 0.5) if bonds else 1.0
            cores.append(backend.random_normal(xp, shp, dtype=dt, device=dev, rng=gen) * scale)
        return cls(structure, cores)

    @classmethod
    def from_tt(cls, t: Any) -> "TensorNetwork":
        """From a :class:`tnkit.tt.TT` (or an MPS-like object with ``cores`` ``(r, n, r')``)."""
        cores = list(t.cores)
        xp = namespace(*cores)
        d = len(cores)
        shape = tuple(int(c.shape[1]) for c in cores)
        if d == 1:
            return cls(Structure(shape, {}), [xp.reshape(cores[0], (shape[0],))])
        s = Structure.tt(shape, tuple(int(c.shape[2]) for c in cores[:-1]))
        out = [xp.reshape(cores[0], cores[0].shape[1:])]
        out += [xp.permute_dims(cores[k], (1, 0, 2)) for k in range(1, d - 1)]
        out.append(xp.reshape(cores[-1], cores[-1].shape[:2]).T)
        return cls(s, out)

    @classmethod
    def from_tr(cls, t: Any) -> "TensorNetwork":
        """From a :class:`tnkit.tr.TR`; core ``k``'s axes become ``(n_k, left, right)``."""
        cores = list(t.cores)
        xp = namespace(*cores)
        d = len(cores)
        s = Structure.tr(tuple(int(c.shape[1]) for c in cores), tuple(int(c.shape[2]) for c in cores))
        out = []
        for k, c in enumerate(cores):
            c = xp.permute_dims(c, (1, 0, 2))  # (n, left=bond to k-1, right=bond to k+1)
            left, right = (k - 1) % d, (k + 1) % d
            # axes go in increasing neighbour order; the wrap-around puts "right" first for k = d-1
            out.append(c if left < right else xp.permute_dims(c, (0, 2, 1)))
        return cls(s, out)

    @classmethod
    def from_tucker(cls, t: Any) -> "TensorNetwork":
        """From a :class:`tnkit.tucker.Tucker`: factors are the physical cores, the core node ``d``."""
        s = Structure.tucker(t.shape, t.ranks)
        return cls(s, [*t.factors, t.core])

    @classmethod
    def from_ttn(cls, y: Any) -> "TensorNetwork":
        """From a :class:`tnkit.ttn.TTN` with root dimension 1: leaves become the physical
        cores, inner tree nodes the internal nodes ``d, d+1, ...`` (in the tree's post-order)."""
        tree = y.tree
        if y.root_dim != 1:
            raise ValueError(f"TensorNetwork.from_ttn: root dimension must be 1, got {y.root_dim}")
        xp = y.xp
        d = tree.num_modes
        inner = [v for v in range(tree.num_nodes) if not tree.is_leaf(v)]
        number = {v: tree.mode[v] for v in range(tree.num_nodes) if tree.is_leaf(v)}
        number.update({v: d + k for k, v in enumerate(inner)})
        edges = {}
        for v in range(tree.num_nodes):
            p = tree.parent[v]
            if p >= 0:
                edges[(number[v], number[p])] = int(y.tensors[v].shape[-1])
        s = Structure(y.dims, edges, num_nodes=d + len(inner))
        cores: list[Any] = [None] * s.num_nodes
        for v in range(tree.num_nodes):
            t = y.tensors[v]
            if tree.is_leaf(v):
                cores[number[v]] = t
                continue
            if tree.parent[v] < 0:
                t = xp.reshape(t, t.shape[:-1])
                axes_nodes = [number[c] for c in tree.children[v]]
            else:
                axes_nodes = [number[c] for c in tree.children[v]] + [number[tree.parent[v]]]
            order = sorted(range(len(axes_nodes)), key=lambda a: axes_nodes[a])
            cores[number[v]] = xp.permute_dims(t, tuple(order))
        return cls(s, cores)

    # -- properties -------------------------------------------------------------------

    @property
    def xp(self) -> Any:
        return namespace(*self.cores)

    @property
    def dtype(self) -> Any:
        return self.cores[0].dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self.structure.shape

    @property
    def num_params(self) -> int:
        return self.structure.num_params

    @property
    def compression_ratio(self) -> float:
        return self.structure.compression_ratio

    def __repr__(self) -> str:
        return f"TensorNetwork({self.structure!r}, dtype={self.dtype})"

    def to_dense(self) -> Any:
        """The full tensor, modes in the target's order (differentiable on torch)."""
        expr, nodes = self.structure._expression()
        return contract(expr, *(self.cores[v] for v in nodes))

    def entries(self, index: Any) -> Any:
        """Entries at integer positions ``index`` of shape ``(m, d)`` (an array of the cores'
        library), without forming the full tensor."""
        s = self.structure
        expr, nodes = self.structure._expression(batch=True)
        ops = [self.cores[v] if v >= s.ndim else _gather(self.xp, self.cores[v], index[:, s.perm[v]])
               for v in nodes]
        return contract(expr, *ops)

    def rse(self, target: Any, mask: Any = None) -> float:
        """Relative error ``||target - X||_F / ||target||_F`` (over ``mask`` when given)."""
        xp = namespace(target, *self.cores)
        diff = target - self.to_dense()
        if mask is not None:
            diff = xp.where(mask, diff, xp.zeros_like(diff))
            target = xp.where(mask, target, xp.zeros_like(target))
        num, den = float(xp.linalg.vector_norm(diff)), float(xp.linalg.vector_norm(target))
        if den == 0.0:
            return 0.0 if num == 0.0 else math.inf
        return num / den

    def copy(self) -> "TensorNetwork":
        xp = self.xp
        return TensorNetwork(self.structure, [xp.asarray(c, copy=True) for c in self.cores])

    def to(self, like: Any) -> "TensorNetwork":
        """The same network with cores in ``like``'s library, device and dtype."""
        return TensorNetwork(self.structure, [backend.asarray_like(backend.to_host(c), like) for c in self.cores])

    # -- edge surgery -----------------------------------------------------------------

    def _bond_axis(self, node: int, other: int) -> int:
        s = self.structure
        return (1 if node < s.ndim else 0) + s.neighbours(node).index(other)

    def expand_edge(
        self, i: int, j: int, rank: int, *, noise: float = 1e-2, rng: np.random.Generator | int | None = None
    ) -> "TensorNetwork":
        """Grow edge ``(i, j)`` (creating it if absent) to ``rank``: the old slices are
        kept, the new ones are small random numbers (relative size ``noise``) on one side
        and zero-mean random numbers of full size on the other, so the tensor changes by
        ``O(noise)`` and the new directions can be learned [HLMR]_."""
        s = self.structure
        old = int(s.ranks[i, j])
        if rank < max(old, 1):
            raise ValueError(f"expand_edge: new rank {rank} is below the current rank {old} of edge ({i}, {j})")
        if rank == old:
            return self.copy()
        xp = self.xp
        gen = backend.make_rng(rng)
        new = s.with_rank(i, j, rank)
        cores = list(self.cores)
        for v, w, scale in ((i, j, noise), (j, i, 1.0)):
            c = cores[v]
            if old == 0:  # create the axis
                ax = (1 if v < s.ndim else 0) + sum(1 for u in s.neighbours(v) if u < w)
                c = xp.expand_dims(c, axis=ax)
            else:
                ax = self._bond_axis(v, w)
            shp = list(c.shape)
            shp[ax] = rank - max(old, 1)
            ref = float(xp.linalg.vector_norm(c)) / math.sqrt(max(1, math.prod(c.shape)))
            extra = backend.random_normal(xp, tuple(shp), dtype=c.dtype, device=backend.device_of(c), rng=gen)
            cores[v] = xp.concat([c, extra * (scale * (ref if ref > 0 else 1.0))], axis=ax)
        return TensorNetwork(new, cores)

    def truncate_edge(self, i: int, j: int, rank: int) -> "TensorNetwork":
        """Cut edge ``(i, j)`` to ``rank`` by an SVD of the bond between the two cores'
        QR factors (optimal when the rest of the network is orthonormal about the edge,
        as in a tree; a good start for a refit otherwise)."""
        s = self.structure
        old = int(s.ranks[i, j])
        if not 1 <= rank <= old:
            raise ValueError(f"truncate_edge: rank must be in 1..{old} for edge ({i}, {j}), got {rank}")
        xp = self.xp
        mats, shapes = [], []
        for v, w in ((i, j), (j, i)):
            ax = self._bond_axis(v, w)
            c = xp.moveaxis(self.cores[v], ax, -1)
            shapes.append((ax, c.shape))
            mats.append(xp.reshape(c, (-1, old)))
        qi, ri = qr(mats[0])
        qj, rj = qr(mats[1])
        u, sv, vh = backend.thin_svd(ri @ rj.T)
        keep = min(rank, int(sv.shape[0]))
        root = xp.sqrt(sv[:keep])
        new_i = (qi @ u[:, :keep]) * root[None, :]
        new_j = (qj @ vh[:keep, :].T) * root[None, :]
        if keep < rank:  # the bond carries fewer directions than asked for: pad with zeros
            new_i = xp.concat([new_i, xp.zeros((new_i.shape[0], rank - keep), dtype=new_i.dtype,
                                                device=backend.device_of(new_i))], axis=1)
            new_j = xp.concat([new_j, xp.zeros((new_j.shape[0], rank - keep), dtype=new_j.dtype,
                                                device=backend.device_of(new_j))], axis=1)
        cores = list(self.cores)
        for v, m, (ax, shp) in ((i, new_i, shapes[0]), (j, new_j, shapes[1])):
            cores[v] = xp.moveaxis(xp.reshape(m, (*shp[:-1], rank)), -1, ax)
        return TensorNetwork(s.with_rank(i, j, rank), cores)


def _gather(xp: Any, core: Any, idx: Any) -> Any:
    return xp.take(core, idx, axis=0)


# --------------------------------------------------------------------------------------
# Fitting


@dataclasses.dataclass
class FitResult:
    """Outcome of :func:`fit`.

    Attributes
    ----------
    network : TensorNetwork
        The best network over all restarts.
    rse : float
        Its relative error on the fitted entries.
    history : list of float
        Relative error after every sweep (ALS) or check (gradient) of the best run.
    iterations : int
        Sweeps or optimizer steps of the best run.
    converged : bool
        Stopped by ``rse_tol``, ``tol`` or ``patience`` rather than ``n_iter``.
    seconds : float
        Wall time of all restarts.
    restarts : list of float
        Final relative error of every restart.
    """

    network: TensorNetwork
    rse: float
    history: list[float]
    iterations: int
    converged: bool
    seconds: float
    restarts: list[float]


def _check_target(target: Any, fname: str) -> Any:
    if not hasattr(target, "shape"):
        raise TypeError(f"{fname}: target must be an array, got {type(target).__name__}")
    xp = namespace(target)
    if math.prod(target.shape) == 0 or target.ndim == 0:
        raise ValueError(f"{fname}: target is empty (shape {tuple(target.shape)})")
    if backend.is_complex_dtype(xp, target.dtype):
        raise ValueError(f"{fname}: complex targets are not supported; fit real and imaginary parts")
    if not bool(xp.all(xp.isfinite(target))):
        raise ValueError(f"{fname}: target contains NaN or Inf")
    return xp


def fit(
    target: Any,
    structure: Structure | TensorNetwork,
    *,
    method: str = "als",
    mask: Any = None,
    n_iter: int = 200,
    tol: float = 1e-9,
    rse_tol: float = 0.0,
    restarts: int = 1,
    patience: int = 20,
    lr: float = 1e-2,
    ridge: float = 0.0,
    anneal: int = 0,
    rng: np.random.Generator | int | None = None,
) -> FitResult:
    """Fit a tensor network to ``target`` (or to its entries where ``mask`` is True).

    Parameters
    ----------
    target : array
        The tensor, of shape ``structure.shape``; real, finite, not empty.
    structure : Structure or TensorNetwork
        What to fit. A :class:`TensorNetwork` is the starting point of the first run
        (a warm start); later restarts begin from random cores.
    method : {"als", "gradient"}
        ``"als"``: alternating least squares, one core at a time from the normal
        equations of its environment (QR least squares, or
        ridge-regularised normal equations); ``"gradient"``: Adam on all cores through PyTorch autograd (NumPy
        input is converted to torch and back).
    mask : boolean array, optional
        Observed entries; the fit and the reported error use only these.
    n_iter : int
        Most ALS sweeps, or most Adam steps.
    tol : float
        ALS stops when the error changes by less than ``tol`` (relative) between sweeps.
    rse_tol : float
        Stop as soon as the relative error is at most this.
    restarts : int
        Independent runs; the one with the lowest error is returned.
    patience : int
        Gradient: stop after this many checks (every 10 steps) without improvement.
    lr : float
        Gradient: Adam learning rate.
    ridge : float
        ALS Tikhonov regularisation relative to the mean diagonal of the normal
        equations (0: plain least squares by QR, robust to ill-conditioning; a small
        value such as 1e-6 regularises tensor completion).
    anneal : int
        ALS: ``anneal`` extra sweeps at the start of each run, with a ridge that decays
        geometrically from 1 to 1e-2 (relative, as ``ridge``) before the plain sweeps.
        Strong early regularisation keeps ALS out of the poor local minima that graphs
        with loops fall into from random cores (on a 7^5 triangle network: exact fits
        from about 30 % of random starts without, about 90 % with ``anneal=50``).
    rng : numpy.random.Generator, int or None
        Random initial cores.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        Empty, complex or non-finite target; shape mismatch with the structure; a mask
        of the wrong shape or with no observed entry; bad option values.

    Examples
    --------
    >>> import numpy as np
    >>> s = Structure.tr((4, 4, 4, 4), (2, 2, 2, 2))
    >>> x = TensorNetwork.random(s, rng=1).to_dense()
    >>> res = fit(x, s, rng=2, restarts=3, rse_tol=1e-8)
    >>> bool(res.rse < 1e-6), res.network.num_params
    (True, 64)
    """
    fname = "fit"
    xp = _check_target(target, fname)
    warm = structure if isinstance(structure, TensorNetwork) else None
    s = warm.structure if warm is not None else structure
    if not isinstance(s, Structure):
        raise TypeError(f"{fname}: structure must be a Structure or TensorNetwork, got {type(structure).__name__}")
    if tuple(target.shape) != s.shape:
        raise ValueError(f"{fname}: target shape {tuple(target.shape)} differs from the structure's {s.shape}")
    if method not in ("als", "gradient"):
        raise ValueError(f"{fname}: method must be 'als' or 'gradient', got {method!r}")
    for name, val in (("n_iter", n_iter), ("restarts", restarts), ("patience", patience)):
        if not _is_int(val) or val < 1:
            raise ValueError(f"{fname}: {name} must be an int >= 1, got {val!r}")
    if not _is_int(anneal) or anneal < 0:
        raise ValueError(f"{fname}: anneal must be an int >= 0, got {anneal!r}")
    for name, val in (("tol", tol), ("rse_tol", rse_tol), ("ridge", ridge), ("lr", lr)):
        if not isinstance(val, numbers.Real) or not math.isfinite(val) or val < 0:
            raise ValueError(f"{fname}: {name} must be a finite number >= 0, got {val!r}")
    if mask is not None:
        if tuple(mask.shape) != s.shape:
            raise ValueError(f"{fname}: mask shape {tuple(mask.shape)} differs from the target's {s.shape}")
        if backend.library_name(namespace(mask)) != backend.library_name(xp):
            mask = backend.asarray_like(backend.to_host(mask), target)
        mask = xp.astype(mask, xp.bool) if mask.dtype != xp.bool else mask
        if not bool(xp.any(mask)):
            raise ValueError(f"{fname}: mask observes no entry")
    gen = backend.make_rng(rng)
    t0 = time.perf_counter()
    best = None
    finals = []
    for run in range(restarts):
        start = warm.to(target) if (run == 0 and warm is not None) else TensorNetwork.random(s, gen, like=target)
        if method == "als":
            out = _als(xp, target, start, mask, n_iter, tol, rse_tol, ridge, anneal)
        else:
            out = _gradient(target, start, mask, n_iter, rse_tol, patience, lr)
        finals.append(out[1])
        if best is None or out[1] < best[1]:
            best = out
        if best[1] <= rse_tol:
            break
    net, err, hist, its, conv = best
    return FitResult(net, err, hist, its, conv, time.perf_counter() - t0, finals)


def _als(
    xp: Any, target: Any, net: TensorNetwork, mask: Any, n_iter: int, tol: float, rse_tol: float, ridge: float,
    anneal: int = 0,
) -> tuple[TensorNetwork, float, list[float], int, bool]:
    s = net.structure
    d = s.ndim
    cores = list(net.cores)
    tnorm = float(xp.linalg.vector_norm(target if mask is None else xp.where(mask, target, xp.zeros_like(target))))
    if tnorm == 0.0:
        zero = TensorNetwork(s, [xp.zeros_like(c) for c in cores])
        return zero, 0.0, [0.0], 0, True
    # Per physical node: the target with that node's mode last, flattened to (rows, n).
    if mask is None:
        unfold = {}
        for v in range(d):
            m = s.perm[v]
            order = [k for k in range(d) if k != m] + [m]
            unfold[v] = xp.reshape(xp.permute_dims(target, tuple(order)), (-1, s.shape[m]))
        vec = xp.reshape(target, (-1, 1))
    else:
        index = xp.stack(xp.nonzero(mask), axis=1)
        values = target[mask]
        by_value = {}
        for v in range(d):
            col = index[:, s.perm[v]]
            by_value[v] = [xp.nonzero(col == i)[0] for i in range(s.shape[s.perm[v]])]
    plans = [s._expression(skip=v, batch=mask is not None) for v in range(s.num_nodes)]
    history: list[float] = []
    converged = False
    sweeps = 0
    err = math.inf
    total = anneal + n_iter
    for sweep in range(total):
        sweeps = sweep + 1
        sq = 0.0
        lam = 10.0 ** (-2.0 * sweep / max(anneal - 1, 1)) if sweep < anneal else ridge
        for v in range(s.num_nodes):
            expr, nodes = plans[v]
            shp = s.core_shape(v)
            bonds = shp[1:] if v < d else shp
            nb = math.prod(bonds)
            if mask is None:
                env = xp.reshape(contract(expr, *(cores[u] for u in nodes)), (-1, nb))
                rhs_t = unfold[v] if v < d else vec
                w, resid = _solve(xp, env, rhs_t, lam)
                cores[v] = xp.reshape(w.T, shp) if v < d else xp.reshape(w[:, 0], shp)
            else:
                ops = [cores[u] if u >= d else _gather(xp, cores[u], index[:, s.perm[u]]) for u in nodes]
                env = xp.reshape(contract(expr, *ops), (-1, nb))
                if v < d:
                    cols, resid = [], 0.0
                    for rows in by_value[v]:
                        if rows.shape[0] == 0:
                            cols.append(xp.zeros((nb,), dtype=env.dtype, device=backend.device_of(env)))
                            continue
                        w, r = _solve(xp, xp.take(env, rows, axis=0), xp.take(values, rows, axis=0)[:, None], lam)
                        cols.append(w[:, 0])
                        resid += r
                    cores[v] = xp.reshape(xp.stack(cols, axis=0), shp)
                else:
                    w, resid = _solve(xp, env, values[:, None], lam)
                    cores[v] = xp.reshape(w[:, 0], shp)
            sq = resid
        new = math.sqrt(max(sq, 0.0)) / tnorm
        if not math.isfinite(new):
            raise ValueError("fit: ALS produced NaN/Inf (ill-conditioned structure); raise ridge")
        history.append(new)
        if new <= rse_tol or (sweep >= anneal and math.isfinite(err) and abs(err - new) <= tol * max(err, 1e-300)):
            err = new
            converged = True
            break
        err = new
    return TensorNetwork(s, cores), err, history, sweeps, converged


def _solve(xp: Any, env: Any, rhs: Any, ridge: float) -> tuple[Any, float]:
    """Least squares ``min ||env @ w - rhs||^2 + ridge * mean(diag(env^T env)) ||w||^2``.

    Without ridge: Householder QR ``env = Q R`` (the normal equations square the
    condition number, and the environments of an un-gauged network are often ill
    conditioned), then ``R w = Q^T rhs``; a rank-deficient ``R`` is solved by its
    truncated pseudo-inverse (an SVD of the small ``R``, not of ``env``), a wide ``env``
    by its own. Returns ``w`` and the squared residual of the unregularised problem.
    """
    m, nb = env.shape
    if ridge > 0.0:
        gram = env.T @ env
        shift = ridge * float(xp.sum(xp.linalg.diagonal(gram))) / nb
        eye = xp.eye(nb, dtype=gram.dtype, device=backend.device_of(gram))
        w = xp.linalg.solve(gram + max(shift, 1e-300) * eye, env.T @ rhs)
    else:
        if m >= nb:
            q, r = xp.linalg.qr(env, mode="reduced")
            a, b = r, q.T @ rhs
            dg = backend.to_host(xp.abs(xp.linalg.diagonal(r)))
            w = xp.linalg.solve(r, b) if dg.min() > 1e-12 * dg.max() else None
        else:
            a, b, w = env, rhs, None
        if w is None:
            u, sv, vh = backend.thin_svd(a)
            sh = backend.to_host(sv)
            keep = int(np.count_nonzero(sh > 1e-13 * sh[0])) if sh.size and sh[0] > 0 else 0
            if keep == 0:
                w = xp.zeros((nb, rhs.shape[1]), dtype=env.dtype, device=backend.device_of(env))
            else:
                w = vh[:keep, :].T @ ((u[:, :keep].T @ b) / sv[:keep][:, None])
    res = rhs - env @ w
    return w, float(xp.sum(res * res))


def _gradient(
    target: Any, net: TensorNetwork, mask: Any, n_iter: int, rse_tol: float, patience: int, lr: float
) -> tuple[TensorNetwork, float, list[float], int, bool]:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is in the test extra
        raise ImportError("fit(method='gradient') needs PyTorch: pip install 'tnkit[torch]'") from None
    is_torch = isinstance(target, torch.Tensor)
    tt = target if is_torch else torch.as_tensor(backend.to_host(target))
    mm = None
    if mask is not None:
        mm = mask if isinstance(mask, torch.Tensor) else torch.as_tensor(backend.to_host(mask))
    params = [torch.as_tensor(backend.to_host(c)).to(tt).detach().clone().requires_grad_(True) for c in net.cores]
    s = net.structure
    expr, nodes = s._expression()
    goal = tt if mm is None else tt[mm]
    tnorm2 = float((goal * goal).sum())
    opt = torch.optim.Adam(params, lr=lr)
    history: list[float] = []
    best, best_params, bad = math.inf, [p.detach().clone() for p in params], 0
    converged, steps = False, 0
    for step in range(n_iter):
        steps = step + 1
        opt.zero_grad()
        dense = contract(expr, *(params[v] for v in nodes))
        diff = (dense - tt) if mm is None else (dense[mm] - goal)
        loss = (diff * diff).sum() / tnorm2
        loss.backward()
        opt.step()
        val = math.sqrt(float(loss.detach()))
        if not math.isfinite(val):
            raise ValueError("fit: gradient descent diverged (NaN/Inf loss); lower lr")
        if val < best:
            best, best_params = val, [p.detach().clone() for p in params]
        if step % 10 == 0 or step == n_iter - 1:
            history.append(val)
            if len(history) > 1 and history[-1] >= min(history[:-1]) * (1 - 1e-4):
                bad += 1
            else:
                bad = 0
            if best <= rse_tol or bad >= patience:
                converged = True
                break
    cores = best_params if is_torch else [backend.asarray_like(p.numpy(), target) for p in best_params]
    out = TensorNetwork(s, cores)
    return out, out.rse(target, mask), history, steps, converged
