"""The shape of a tree tensor network: :class:`Tree`, a rooted tree whose leaves are the
tensor modes and whose inner nodes hold the transfer tensors (Tucker is one inner node
over all leaves; a tensor train is a caterpillar; balanced binary trees are the HT
format).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tnkit.checks import is_int

__all__ = ["Tree"]


class Tree:
    """A rooted tree whose leaves are the modes ``0..d-1`` of a tensor.

    Parameters
    ----------
    spec : nested sequence of int
        An inner node is a sequence of its children, a leaf is its mode number:
        ``((0, 1), (2, 3))`` is the balanced binary tree on four modes. Every mode
        ``0..d-1`` must appear exactly once.

    Attributes
    ----------
    children : tuple of tuple of int
        Child node ids per node (empty for leaves). Nodes are numbered in post-order,
        so children come before their parent and the root is the last node.
    parent : tuple of int
        Parent node id per node, -1 for the root.
    mode : tuple of int
        The tensor mode of each leaf, -1 for inner nodes.
    leaf_of : tuple of int
        The node id of each mode's leaf.

    Examples
    --------
    >>> t = Tree.balanced(4)
    >>> t.spec, t.num_modes, t.num_nodes, t.root
    (((0, 1), (2, 3)), 4, 7, 6)
    >>> Tree.caterpillar(4).spec
    (((0, 1), 2), 3)
    >>> Tree.tucker(3).spec
    (0, 1, 2)
    >>> Tree.from_parents([4, 4, 5, 5, 6, 6, -1]).spec
    ((0, 1), (2, 3))
    """

    def __init__(self, spec: Any) -> None:
        if is_int(spec):
            raise ValueError("Tree: the root must be an inner node (a sequence of children), not a single mode")
        children: list[tuple[int, ...]] = []
        mode: list[int] = []
        seen: set[int] = set()

        def visit(node: Any) -> int:
            if is_int(node):
                m = int(node)
                if m < 0:
                    raise ValueError(f"Tree: leaf modes must be non-negative integers, got {m}")
                if m in seen:
                    raise ValueError(f"Tree: mode {m} appears twice; a tree holds every leaf exactly once")
                seen.add(m)
                children.append(())
                mode.append(m)
                return len(children) - 1
            if isinstance(node, (str, bytes)):
                raise ValueError(f"Tree: a node must be a mode number or a sequence of children, got {node!r}")
            try:
                items = list(node)
            except TypeError:
                raise ValueError(
                    f"Tree: a node must be a mode number or a sequence of children, got {node!r}"
                ) from None
            if not items:
                raise ValueError("Tree: an inner node needs at least one child")
            ids = tuple(visit(item) for item in items)
            children.append(ids)
            mode.append(-1)
            return len(children) - 1

        visit(spec)
        d = len(seen)
        if seen != set(range(d)):
            missing = sorted(set(range(max(seen) + 1)) - seen)
            raise ValueError(f"Tree: leaves must be the modes 0..{d - 1} exactly once; missing {missing}")
        parent = [-1] * len(children)
        for node, ch in enumerate(children):
            for c in ch:
                parent[c] = node
        leaf_of = [0] * d
        for node, m in enumerate(mode):
            if m >= 0:
                leaf_of[m] = node
        self.children: tuple[tuple[int, ...], ...] = tuple(children)
        self.parent: tuple[int, ...] = tuple(parent)
        self.mode: tuple[int, ...] = tuple(mode)
        self.leaf_of: tuple[int, ...] = tuple(leaf_of)
        modes_below: list[tuple[int, ...]] = []
        for node, ch in enumerate(children):
            if not ch:
                modes_below.append((mode[node],))
            else:
                modes_below.append(tuple(m for c in ch for m in modes_below[c]))
        # modes in the order a bottom-up contraction produces them
        self.modes_below: tuple[tuple[int, ...], ...] = tuple(modes_below)
        self.spec = _canonical(self, len(children) - 1)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def balanced(cls, num_modes: int) -> "Tree":
        """Balanced binary tree (left half, right half, recursively).

        Parameters
        ----------
        num_modes : int
            Number of leaves (tensor modes), >= 1.
        """
        _check_num_modes(num_modes, "Tree.balanced")

        def build(lo: int, hi: int) -> Any:
            if hi - lo == 1:
                return lo
            mid = (lo + hi + 1) // 2
            return (build(lo, mid), build(mid, hi))

        return cls(build(0, num_modes) if num_modes > 1 else (0,))

    @classmethod
    def caterpillar(cls, num_modes: int) -> "Tree":
        """The tree of a matrix product state: ``((((0, 1), 2), 3), ...)``.

        Parameters
        ----------
        num_modes : int
            Number of leaves (tensor modes), >= 1.
        """
        _check_num_modes(num_modes, "Tree.caterpillar")
        spec: Any = (0, 1) if num_modes > 1 else (0,)
        for m in range(2, num_modes):
            spec = (spec, m)
        return cls(spec)

    @classmethod
    def tucker(cls, num_modes: int) -> "Tree":
        """Depth-1 tree: the root's children are all the leaves (Tucker format).

        Parameters
        ----------
        num_modes : int
            Number of leaves (tensor modes), >= 1.
        """
        _check_num_modes(num_modes, "Tree.tucker")
        return cls(tuple(range(num_modes)))

    @classmethod
    def from_parents(cls, parents: Sequence[int], modes: Sequence[int] | None = None) -> "Tree":
        """A tree from a parent array (``-1`` marks the root).

        Parameters
        ----------
        parents : sequence of int
            Parent of every node; ``-1`` for the root.
        modes : sequence of int, optional
            Modes of the leaves (the nodes without children), one per leaf in increasing node
            id; default ``0, 1, ...`` in that order.

        Raises
        ------
        ValueError
            No root or several, a cycle, a parent out of range, or a disconnected node.
        """
        parents = [int(p) for p in parents]
        n = len(parents)
        roots = [i for i, p in enumerate(parents) if p == -1]
        if len(roots) != 1:
            raise ValueError(f"Tree.from_parents: need exactly one root (parent -1), found {len(roots)}")
        for i, p in enumerate(parents):
            if p != -1 and not 0 <= p < n:
                raise ValueError(f"Tree.from_parents: node {i} has parent {p} outside 0..{n - 1}")
            if p == i:
                raise ValueError(f"Tree.from_parents: node {i} is its own parent (a cycle, not a tree)")
        for i in range(n):
            node, steps = i, 0
            while parents[node] != -1:
                node = parents[node]
                steps += 1
                if steps > n:
                    raise ValueError(f"Tree.from_parents: node {i} lies on a cycle; a tree has none")
        kids: list[list[int]] = [[] for _ in range(n)]
        for i, p in enumerate(parents):
            if p != -1:
                kids[p].append(i)
        leaves = [i for i in range(n) if not kids[i]]
        if modes is None:
            mode_of = {leaf: m for m, leaf in enumerate(leaves)}
        else:
            modes = [int(m) for m in modes]
            if len(modes) != len(leaves):
                raise ValueError(f"Tree.from_parents: {len(leaves)} leaves but {len(modes)} modes given")
            mode_of = dict(zip(leaves, modes))

        def build(i: int) -> Any:
            return mode_of[i] if not kids[i] else tuple(build(c) for c in kids[i])

        if not kids[roots[0]]:
            raise ValueError("Tree.from_parents: the root must have children")
        return cls(build(roots[0]))

    # ------------------------------------------------------------------ queries
    @property
    def num_modes(self) -> int:
        """Number of leaves (tensor modes)."""
        return len(self.leaf_of)

    @property
    def num_nodes(self) -> int:
        """Number of nodes, leaves included."""
        return len(self.children)

    @property
    def root(self) -> int:
        """Node id of the root (the last node)."""
        return len(self.children) - 1

    @property
    def edges(self) -> tuple[int, ...]:
        """Every non-root node (each names the edge to its parent)."""
        return tuple(range(self.num_nodes - 1))

    def is_leaf(self, node: int) -> bool:
        """Whether ``node`` has no children.

        Parameters
        ----------
        node : int
            Node id.
        """
        return not self.children[node]

    def inner_nodes(self) -> tuple[int, ...]:
        """Ids of the nodes with children, ascending."""
        return tuple(i for i in range(self.num_nodes) if self.children[i])

    def depth(self) -> int:
        """Largest number of edges from the root to a leaf."""
        depth = [0] * self.num_nodes
        for node in reversed(range(self.num_nodes)):
            if self.parent[node] >= 0:
                depth[node] = depth[self.parent[node]] + 1
        return max(depth)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tree) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    def __repr__(self) -> str:
        return f"Tree({self.spec!r})"


def _check_num_modes(d: Any, where: str) -> None:
    if not is_int(d) or d < 1:
        raise ValueError(f"{where}: number of modes must be a positive integer, got {d!r}")


def _canonical(tree: Tree, node: int) -> Any:
    if tree.is_leaf(node):
        return tree.mode[node]
    return tuple(_canonical(tree, c) for c in tree.children[node])
