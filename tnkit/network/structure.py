"""Tensor-network structures: which cores a network has, which modes they carry and the
bond dimension of every edge.

A :class:`Structure` describes a tensor network on ``N`` nodes for an order-``d``
tensor of shape ``(n_0, ..., n_{d-1})``:

* nodes ``0..d-1`` are *physical* cores, one per tensor mode; with a mode permutation
  ``perm``, core ``i`` carries mode ``perm[i]``;
* nodes ``d..N-1`` are *internal* cores without a physical leg (the Tucker core, the
  inner nodes of a tree network);
* a symmetric integer matrix ``ranks`` gives the bond dimension of every edge, 0 meaning
  no edge. A rank-1 edge costs nothing and changes nothing (an outer product), so the
  searches of :mod:`tnkit.search` treat rank 1 as "no edge" as the papers do.

Tensor trains, tensor rings, Tucker and tree networks are special cases
(:meth:`Structure.tt`, :meth:`Structure.tr`, :meth:`Structure.tucker`); the fully
connected graph (:meth:`Structure.full`) is the search space of greedy rank growth [HLMR]_.

References
----------
.. [HLMR] M. Hashemizadeh, M. Liu, J. Miller and G. Rabusseau, "Adaptive learning of
   tensor network structures", arXiv:2008.05437 (2020).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tnkit.checks import is_int

__all__ = ["Structure"]


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


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
        if not all(is_int(n) and n >= 1 for n in shape):
            raise ValueError(f"Structure: mode sizes must be ints >= 1, got {shape!r}")
        d = len(shape)
        self.shape = tuple(int(n) for n in shape)
        if isinstance(ranks, Mapping):
            n = d if num_nodes is None else num_nodes
            if not is_int(n) or n < d:
                raise ValueError(f"Structure: num_nodes must be an int >= {d}, got {num_nodes!r}")
            mat = np.zeros((n, n), dtype=np.int64)
            for edge, r in ranks.items():
                if not (isinstance(edge, tuple) and len(edge) == 2 and all(is_int(v) for v in edge)):
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
                if not is_int(r) or r < 0:
                    raise ValueError(f"Structure: rank of edge {edge!r} must be an int >= 0, got {r!r}")
                mat[i, j] = mat[j, i] = int(r)
        else:
            try:
                mat = np.asarray(ranks)
            except Exception as exc:  # noqa: BLE001 - report any conversion failure in one line
                raise ValueError(f"Structure: ranks must be a square int matrix or a mapping ({exc})") from None
            if mat.ndim != 2 or mat.shape[0] != mat.shape[1] or mat.shape[0] < d:
                raise ValueError(
                    f"Structure: ranks must be a square matrix of size >= {d} (one row per node), got shape {mat.shape}"
                )
            if mat.dtype.kind not in "iu" and not (mat.dtype.kind == "f" and np.all(mat == np.round(mat))):
                raise ValueError(f"Structure: ranks must be integers, got dtype {mat.dtype}")
            mat = mat.astype(np.int64)
            if np.any(mat < 0):
                i, j = np.argwhere(mat < 0)[0]
                raise ValueError(f"Structure: rank of edge ({i}, {j}) is {mat[i, j]}; ranks must be >= 0")
            if np.any(np.diag(mat) != 0):
                i = int(np.flatnonzero(np.diag(mat))[0])
                raise ValueError(
                    f"Structure: self-loop on node {i} (ranks[{i}, {i}] = {mat[i, i]}); the diagonal must be 0"
                )
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
        if not all(is_int(p) for p in perm) or sorted(perm) != list(range(d)):
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

        Parameters
        ----------
        shape : sequence of int
            Mode sizes ``(n_0, ..., n_{d-1})``.
        ranks : sequence of int
            The ``d - 1`` bond dimensions, each >= 1.

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

        Parameters
        ----------
        shape : sequence of int
            Mode sizes ``(n_0, ..., n_{d-1})``.
        ranks : sequence of int
            The ``d`` bond dimensions, each >= 1.
        perm : sequence of int, optional
            Core ``i`` carries tensor mode ``perm[i]`` (identity by default).

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

        Parameters
        ----------
        shape : sequence of int
            Mode sizes ``(n_0, ..., n_{d-1})``.
        ranks : sequence of int
            The ``d`` Tucker ranks, each >= 1.

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

        Parameters
        ----------
        shape : sequence of int
            Mode sizes ``(n_0, ..., n_{d-1})``.
        rank : int, optional
            Rank of every edge, >= 1 (default 1).
        internal : int, optional
            Number of internal nodes (no physical leg) added after the ``d`` physical ones;
            default 0.

        Examples
        --------
        >>> len(Structure.full((2, 2, 2, 2)).edges)
        6
        """
        _check_positive((rank,), "Structure.full")
        if not is_int(internal) or internal < 0:
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
        """Number of tensor modes ``d``."""
        return len(self.shape)

    @property
    def num_nodes(self) -> int:
        """Number of cores: the ``d`` physical nodes and the internal ones."""
        return int(self._ranks.shape[0])

    @property
    def edges(self) -> tuple[tuple[int, int, int], ...]:
        """``(i, j, rank)`` with ``i < j`` for every edge of rank >= 1."""
        return self._edges

    def neighbours(self, node: int) -> tuple[int, ...]:
        """Nodes joined to ``node`` by an edge, ascending.

        Parameters
        ----------
        node : int
            Node index.
        """
        return self._nbrs[node]

    def phys_dim(self, node: int) -> int | None:
        """Size of the physical leg of ``node`` (None for internal nodes).

        Parameters
        ----------
        node : int
            Node index.
        """
        return self.shape[self.perm[node]] if node < self.ndim else None

    def core_shape(self, node: int) -> tuple[int, ...]:
        """Shape of ``node``'s core: physical size first (if any), then the bond ranks in
        the order of :meth:`neighbours`.

        Parameters
        ----------
        node : int
            Node index.
        """
        bonds = tuple(int(self._ranks[node, j]) for j in self.neighbours(node))
        p = self.phys_dim(node)
        return bonds if p is None else (p, *bonds)

    @property
    def num_params(self) -> int:
        """Number of entries in all cores."""
        return sum(math.prod(self.core_shape(v)) for v in range(self.num_nodes))

    @property
    def numel(self) -> int:
        """Number of entries of the full tensor."""
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
        """A copy with edge ``(i, j)`` set to ``rank`` (0 removes it).

        Parameters
        ----------
        i, j : int
            Nodes joined by the edge.
        rank : int
            New rank, >= 0.
        """
        mat = self._ranks.copy()
        mat[i, j] = mat[j, i] = rank
        return Structure(self.shape, mat, self.perm)

    def with_perm(self, perm: Sequence[int]) -> "Structure":
        """A copy with another mode permutation.

        Parameters
        ----------
        perm : sequence of int
            Core ``i`` carries tensor mode ``perm[i]``.
        """
        return Structure(self.shape, self._ranks.copy(), perm)

    def to_dict(self) -> dict[str, Any]:
        """The structure as int64 arrays ``shape``, ``ranks`` and ``perm`` (for HDF5)."""
        return {
            "shape": np.asarray(self.shape, dtype=np.int64),
            "ranks": np.asarray(self._ranks),
            "perm": np.asarray(self.perm, dtype=np.int64),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Structure":
        """The structure written by :meth:`to_dict`.

        Parameters
        ----------
        data : mapping
            With keys ``"shape"``, ``"ranks"`` (the ``(n, n)`` rank matrix) and ``"perm"``.
        """
        return cls(tuple(int(n) for n in data["shape"]), np.asarray(data["ranks"]), tuple(int(p) for p in data["perm"]))

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
            out = "".join(
                phys[m] for m in range(self.ndim) if skip is None or skip >= self.ndim or m != self.perm[skip]
            )
        if skip is not None:
            out += "".join(bond[(skip, j)] for j in self.neighbours(skip))
        return ",".join(terms) + "->" + out, nodes


def _check_positive(ranks: Sequence[Any], where: str) -> None:
    for r in ranks:
        if not is_int(r) or r < 1:
            raise ValueError(f"{where}: ranks must be ints >= 1, got {tuple(ranks)!r}")
