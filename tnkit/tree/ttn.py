"""Tree tensor networks on arbitrary rooted trees.

A tree tensor network (TTN, hierarchical Tucker) stores an order-``d`` tensor on a
rooted tree whose leaves are the tensor's modes ``0..d-1`` [HK]_ [CLW]_. Every node
carries one array, with the bond to its parent as the **last** axis:

* a leaf for mode ``l``: a basis matrix ``U_l`` of shape ``(n_l, r_l)``;
* an inner node ``tau`` with children ``c_1..c_m``: a connecting tensor ``C_tau`` of
  shape ``(r_{c_1}, ..., r_{c_m}, r_tau)``; the root's last axis ``r_root`` is 1 for a
  plain tensor (larger values hold a block of tensors, used inside integrators).

The subtree below ``tau`` spans the columns of its basis
``U_tau = (U_{c_1} (x) ... (x) U_{c_m}) Mat(C_tau)``. A TTN is *orthonormal* when every
non-root node has orthonormal columns (``reshape(C, (-1, r)) ^H reshape(C, (-1, r)) = I``);
the root then carries the norm. Tucker is the depth-1 tree (:meth:`Tree.tucker`), a
matrix factorisation ``U S V^T`` the tree ``(0, 1)``, and an MPS the caterpillar
(:meth:`Tree.caterpillar`).

Truncation (:meth:`TTN.truncate`) takes the exact singular values of every edge's
matricisation (moving the norm down the tree with QR factors) and projects all edges
at once; the squared error is at most the sum of the discarded squared singular
values [Gr]_. The same per-edge rule builds a TTN from a dense tensor
(:meth:`TTN.from_dense`, leaves-to-root hierarchical SVD).

References
----------
.. [HK] W. Hackbusch, S. Kühn, "A new scheme for the tensor representation",
   J. Fourier Anal. Appl. 15 (2009) 706-722.
.. [Gr] L. Grasedyck, "Hierarchical singular value decomposition of tensors",
   SIAM J. Matrix Anal. Appl. 31 (2010) 2029-2054.
.. [CLW] G. Ceruti, Ch. Lubich, H. Walach, "Time integration of tree tensor networks",
   SIAM J. Numer. Anal. 59 (2021) 289-313.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.backend import adjoint, conj, namespace
from tnkit.checks import check_tensor
from tnkit.decompositions.tucker import Tucker
from tnkit.io import register_type
from tnkit.linalg import qr, truncated_svd
from tnkit.linalg.scaling import array_exponent, scale_pow2
from tnkit.tree.cores import (
    _block_diag,
    _check_rank,
    _check_tol,
    _edge_budget,
    _einsum,
    _host_norm,
    _keep,
    _mode_multiply,
    _rank_cap,
    _scaled_tol,
    expand_cores,
)
from tnkit.tree.topology import Tree

__all__ = ["TTN"]


# --------------------------------------------------------------------------------------
# Trees


# --------------------------------------------------------------------------------------
# Tree tensor networks


class TTN:
    """A tensor stored on a :class:`Tree` (see the module docstring for the layout).

    Parameters
    ----------
    tree : Tree
    tensors : sequence of arrays
        One per node id: leaves ``(n_l, r_l)``, inner nodes ``(r_c1, ..., r_cm, r)``.
    orthonormal : bool
        Whether every non-root node has orthonormal columns (set by the algorithms).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.einsum("i,j,k,l->ijkl", *rng.standard_normal((4, 3)))   # rank one
    >>> y = TTN.from_dense(x, Tree.balanced(4), tol=1e-12)
    >>> y.bond_dims, y.dims
    ((1, 1, 1, 1, 1, 1), (3, 3, 3, 3))
    >>> bool(np.allclose(y.to_dense(), x)), bool(np.isclose(float(y.norm()), np.linalg.norm(x)))
    (True, True)
    """

    def __init__(self, tree: Tree, tensors: Sequence[Any], *, orthonormal: bool = False) -> None:
        if not isinstance(tree, Tree):
            raise TypeError(f"TTN: tree must be a tnkit.tree.ttn.Tree, got {type(tree).__name__}")
        tensors = list(tensors)
        if len(tensors) != tree.num_nodes:
            raise ValueError(f"TTN: the tree has {tree.num_nodes} nodes but {len(tensors)} tensors were given")
        xp = namespace(*tensors)
        dtype = tensors[0].dtype
        for node, (t, ch) in enumerate(zip(tensors, tree.children)):
            want = 2 if not ch else len(ch) + 1
            if t.ndim != want:
                kind = "leaf" if not ch else f"inner node with {len(ch)} children"
                raise ValueError(f"TTN: node {node} ({kind}) needs a {want}-d array, got shape {tuple(t.shape)}")
            if t.dtype != dtype:
                raise TypeError(f"TTN: mixed dtypes {dtype} and {t.dtype} (node {node})")
            for axis, c in enumerate(ch):
                if t.shape[axis] != tensors[c].shape[-1]:
                    raise ValueError(
                        f"TTN: bond between node {node} and its child {c} has sizes "
                        f"{t.shape[axis]} and {tensors[c].shape[-1]}"
                    )
        self.tree = tree
        self.tensors = tensors
        self.orthonormal = orthonormal
        self._xp = xp

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dense(
        cls,
        x: Any,
        tree: Tree,
        *,
        tol: float | None = None,
        max_rank: int | None = None,
        relative: bool = True,
    ) -> "TTN":
        """Hierarchical SVD, leaves to root, truncated edge by edge.

        Parameters
        ----------
        x : array, shape (n_0, ..., n_{d-1})
        tree : Tree
            Its leaves are ``x``'s modes.
        tol : float, optional
            Bound on the Frobenius error ``||x - y||`` (relative to ``||x||`` when
            ``relative``); the squared budget is split evenly over the edges.
        max_rank : int, optional
            Largest bond dimension.
        relative : bool, optional
            Read ``tol`` relative to the norm (default True) or as an absolute bound.

        Returns
        -------
        TTN
            Orthonormal.
        """
        xp = check_tensor(x, "TTN.from_dense", what="x")
        _check_tol(tol, "TTN.from_dense")
        _check_rank(max_rank, "TTN.from_dense")
        if x.ndim != tree.num_modes:
            raise ValueError(f"TTN.from_dense: tensor has {x.ndim} modes, the tree has {tree.num_modes} leaves")
        e = array_exponent(xp, x)
        if e:
            # Squared norms of x would leave the dtype's range: decompose x / 2**e (exact),
            # whose ranks are those of x, and put 2**e back into the root.
            y = cls.from_dense(
                scale_pow2(xp, x, -e), tree, tol=_scaled_tol(tol, relative, e), max_rank=max_rank, relative=relative
            )
            return y._root_scaled(e)
        budget = _edge_budget(tol, relative, _host_norm(xp, x), len(tree.edges))
        tensors: list[Any] = [None] * tree.num_nodes
        cur = x
        axis_node = [tree.leaf_of[m] for m in range(tree.num_modes)]  # node held by each axis of cur
        for node in range(tree.num_nodes - 1):
            ch = tree.children[node]
            if not ch:
                lead = [axis_node.index(node)]
            else:
                lead = [axis_node.index(c) for c in ch]
            rest = [a for a in range(cur.ndim) if a not in lead]
            moved = xp.permute_dims(cur, tuple(lead + rest))
            lead_shape = tuple(moved.shape[: len(lead)])
            mat = xp.reshape(moved, (math.prod(lead_shape), -1))
            u, s, vh, _ = truncated_svd(mat, max_rank=max_rank, cutoff=budget, cutoff_mode="discarded")
            tensors[node] = xp.reshape(u, lead_shape + (u.shape[1],))
            cur = xp.astype(s, vh.dtype)[:, None] * vh
            cur = xp.reshape(cur, (u.shape[1],) + tuple(moved.shape[len(lead) :]))
            axis_node = [node] + [axis_node[a] for a in rest]
        root = tree.root
        order = [axis_node.index(c) for c in tree.children[root]]
        core = xp.permute_dims(cur, tuple(order))
        tensors[root] = xp.reshape(core, tuple(core.shape) + (1,))
        return cls(tree, tensors, orthonormal=True)

    @classmethod
    def product(cls, vectors: Sequence[Any], tree: Tree) -> "TTN":
        """The rank-one tensor ``v_0 (x) v_1 (x) ... (x) v_{d-1}``.

        Parameters
        ----------
        vectors : sequence of array
            One vector per mode, ``v_k`` of length ``n_k``, of one library.
        tree : Tree
            Tree whose leaves are the modes.

        Examples
        --------
        >>> import numpy as np
        >>> y = TTN.product([np.array([1.0, 0.0]), np.array([0.6, 0.8])], Tree.tucker(2))
        >>> y.to_dense().tolist()
        [[0.6, 0.8], [0.0, 0.0]]
        """
        if len(vectors) != tree.num_modes:
            raise ValueError(f"TTN.product: {len(vectors)} vectors for a tree with {tree.num_modes} leaves")
        xp = namespace(*vectors)
        like = vectors[0]
        tensors: list[Any] = []
        for node, ch in enumerate(tree.children):
            if not ch:
                v = vectors[tree.mode[node]]
                if v.ndim != 1:
                    raise ValueError(f"TTN.product: mode {tree.mode[node]} vector has shape {tuple(v.shape)}")
                tensors.append(xp.reshape(v, (v.shape[0], 1)))
            else:
                tensors.append(xp.ones((1,) * (len(ch) + 1), dtype=like.dtype, device=backend.device_of(like)))
        return cls(tree, tensors)

    @classmethod
    def from_tucker(cls, t: Any) -> "TTN":
        """A :class:`tnkit.Tucker` as a depth-one TTN (a matrix ``U S V^T`` is the 2-mode case).

        Parameters
        ----------
        t : Tucker
            Tucker decomposition with core of shape ``(R_0, ..., R_{d-1})``.

        Examples
        --------
        >>> import numpy as np
        >>> from tnkit import sthosvd
        >>> x = np.random.default_rng(0).standard_normal((4, 5, 6))
        >>> y = TTN.from_tucker(sthosvd(x, ranks=(2, 3, 3)))
        >>> y.tree.spec, y.bond_dims
        ((0, 1, 2), (2, 3, 3))
        >>> bool(np.allclose(y.to_dense(), y.to_tucker().to_dense()))
        True
        """
        xp = namespace(t.core)
        tensors = list(t.factors) + [xp.reshape(t.core, tuple(t.core.shape) + (1,))]
        return cls(Tree.tucker(len(t.factors)), tensors, orthonormal=bool(getattr(t, "orthonormal", False)))

    def to_tucker(self) -> Any:
        """This depth-one TTN as a :class:`tnkit.Tucker` (root bond dimension 1)."""
        tree = self.tree
        if tree.depth() != 1 or self.root_dim != 1:
            raise ValueError("TTN.to_tucker: needs a depth-one tree (Tree.tucker) with root bond dimension 1")
        order = [tree.mode[c] for c in tree.children[tree.root]]
        core = self.tensors[tree.root]
        core = self.xp.reshape(core, tuple(core.shape[:-1]))
        core = self.xp.permute_dims(core, tuple(order.index(m) for m in range(len(order))))
        factors = [self.tensors[tree.leaf_of[m]] for m in range(tree.num_modes)]
        return Tucker(core, factors, orthonormal=self.orthonormal)

    @classmethod
    def random(
        cls,
        tree: Tree,
        dims: Sequence[int],
        bond_dim: int,
        *,
        like: Any = None,
        dtype: Any = None,
        rng: np.random.Generator | int | None = None,
    ) -> "TTN":
        """Orthonormal TTN with Gaussian tensors and bonds ``min(bond_dim, possible)``, unit norm.

        Parameters
        ----------
        tree : Tree
            Tree whose leaves are the modes.
        dims : sequence of int
            Mode sizes, one per leaf.
        bond_dim : int
            Largest bond dimension.
        like : array, optional
            Array whose library and device the tensors use; default NumPy.
        dtype : dtype, optional
            Dtype of the tensors; default ``like.dtype`` (float64 without ``like``).
        rng : numpy.random.Generator, int or None, optional
            Source of the entries (see :func:`tnkit.backend.make_rng`).
        """
        if len(dims) != tree.num_modes:
            raise ValueError(f"TTN.random: {len(dims)} dimensions for {tree.num_modes} leaves")
        xp = namespace(like) if like is not None else namespace(np.zeros(1))
        dtype = dtype if dtype is not None else (like.dtype if like is not None else xp.float64)
        device = backend.device_of(like) if like is not None else None
        gen = backend.make_rng(rng)
        ranks = [_rank_cap(tree, dims, node, bond_dim) for node in range(tree.num_nodes)]
        ranks[tree.root] = 1
        tensors = []
        for node, ch in enumerate(tree.children):
            shape = (dims[tree.mode[node]],) if not ch else tuple(ranks[c] for c in ch)
            tensors.append(backend.random_normal(xp, shape + (ranks[node],), dtype=dtype, device=device, rng=gen))
        y = cls(tree, tensors).orthonormalize()
        return y * (1.0 / float(y.norm()))

    # ------------------------------------------------------------------ properties
    @property
    def xp(self) -> Any:
        """Array namespace of the tensors."""
        return self._xp

    @property
    def dtype(self) -> Any:
        """Dtype of the tensors."""
        return self.tensors[0].dtype

    @property
    def dims(self) -> tuple[int, ...]:
        """Leaf dimensions in mode order."""
        return tuple(int(self.tensors[node].shape[0]) for node in self.tree.leaf_of)

    @property
    def bond_dims(self) -> tuple[int, ...]:
        """Bond dimension of every edge (node id order, root excluded)."""
        return tuple(int(self.tensors[node].shape[-1]) for node in self.tree.edges)

    @property
    def max_bond(self) -> int:
        """Largest bond dimension (1 for a rank-one tensor)."""
        return max(self.bond_dims, default=1)

    @property
    def root_dim(self) -> int:
        """Size of the root tensor's last (outgoing) axis; 1 for a single tensor."""
        return int(self.tensors[self.tree.root].shape[-1])

    def num_params(self) -> int:
        """Number of tensor entries."""
        return sum(math.prod(t.shape) for t in self.tensors)

    def copy(self) -> "TTN":
        """A TTN sharing the tensors (a shallow copy; the tensor list is new)."""
        return TTN(self.tree, list(self.tensors), orthonormal=self.orthonormal)

    def __repr__(self) -> str:
        return f"TTN(tree={self.tree.spec!r}, dims={self.dims}, bond_dims={self.bond_dims})"

    # ------------------------------------------------------------------ dense and inner products
    def subtree_dense(self, node: int) -> Any:
        """Basis of the subtree below ``node``, shape ``(*n_{modes_below}, r_node)``.

        Parameters
        ----------
        node : int
            Tree node.
        """
        tree = self.tree
        ch = tree.children[node]
        if not ch:
            return self.tensors[node]
        parts = [self.subtree_dense(c) for c in ch]
        labels_core = list(range(len(ch))) + [len(ch)]
        nxt = len(ch) + 1
        operands: list[tuple[Any, list[int]]] = []
        out: list[int] = []
        for i, part in enumerate(parts):
            lab = list(range(nxt, nxt + part.ndim - 1)) + [i]
            nxt += part.ndim - 1
            operands.append((part, lab))
            out.extend(lab[:-1])
        operands.append((self.tensors[node], labels_core))
        out.append(len(ch))
        return _einsum(operands, out)

    def to_dense(self) -> Any:
        """The full tensor, shape ``dims`` (plus ``(r_root,)`` when ``r_root > 1``)."""
        full = self.subtree_dense(self.tree.root)
        order = self.tree.modes_below[self.tree.root]
        perm = tuple(order.index(m) for m in range(len(order))) + (len(order),)
        full = self.xp.permute_dims(full, perm)
        if self.root_dim == 1:
            full = self.xp.reshape(full, tuple(full.shape[:-1]))
        return full

    def _overlaps(self, other: "TTN") -> list[Any]:
        """Bottom-up overlap matrices ``M_node = U_node^H V_node``."""
        if other.tree != self.tree:
            raise ValueError("TTN: the two networks live on different trees")
        if other.dims != self.dims:
            raise ValueError(f"TTN: dimensions differ ({self.dims} vs {other.dims})")
        xp = self.xp
        mats: list[Any] = [None] * self.tree.num_nodes
        for node, ch in enumerate(self.tree.children):
            a, b = self.tensors[node], other.tensors[node]
            if not ch:
                mats[node] = adjoint(xp, a) @ b
                continue
            m = len(ch)
            # labels: a's child axes 0..m-1, parent m; b's child axes m+1..2m, parent 2m+1
            operands = [(conj(xp, a), list(range(m)) + [m]), (b, list(range(m + 1, 2 * m + 1)) + [2 * m + 1])]
            operands += [(mats[c], [i, m + 1 + i]) for i, c in enumerate(ch)]
            mats[node] = _einsum(operands, [m, 2 * m + 1])
        return mats

    def inner(self, other: "TTN") -> Any:
        """``<self, other> = sum conj(self) * other`` without forming either tensor.

        Parameters
        ----------
        other : TTN
            Network on the same tree with the same mode sizes.
        """
        m = self._overlaps(other)[self.tree.root]
        return self.xp.sum(self.xp.linalg.diagonal(m))

    def norm(self) -> Any:
        """Frobenius norm (read from the root when orthonormal)."""
        xp = self.xp
        if self.orthonormal:
            return xp.linalg.vector_norm(self.tensors[self.tree.root])
        val = self.inner(self)
        if backend.is_complex_dtype(xp, val.dtype):
            val = xp.real(val)
        return xp.sqrt(xp.abs(val))

    # ------------------------------------------------------------------ algebra
    def __mul__(self, alpha: Any) -> "TTN":
        if not isinstance(alpha, numbers.Number):
            return NotImplemented
        root = self.tree.root
        tensors = list(self.tensors)
        a = complex(alpha)  # type: ignore[call-overload]  # numbers.Number: int, float or complex
        if a.imag != 0 and not backend.is_complex_dtype(self.xp, self.dtype):
            tensors = [self.xp.astype(t, backend.complex_dtype(self.xp, self.dtype)) for t in tensors]
            tensors[root] = tensors[root] * a
        else:
            tensors[root] = tensors[root] * (a if a.imag != 0 else a.real)
        return TTN(self.tree, tensors, orthonormal=self.orthonormal)

    __rmul__ = __mul__

    def __neg__(self) -> "TTN":
        return self * -1.0

    def __add__(self, other: "TTN") -> "TTN":
        """Exact sum; bond dimensions add (block-diagonal connecting tensors)."""
        if not isinstance(other, TTN):
            return NotImplemented
        if other.tree != self.tree or other.dims != self.dims:
            raise ValueError("TTN: can only add networks on the same tree and dimensions")
        if other.root_dim != self.root_dim:
            raise ValueError("TTN: root dimensions differ")
        xp, tree = self.xp, self.tree
        dtype = xp.result_type(self.dtype, other.dtype)
        tensors = []
        for node, ch in enumerate(tree.children):
            a = xp.astype(self.tensors[node], dtype)
            b = xp.astype(other.tensors[node], dtype)
            if not ch:
                tensors.append(xp.concat([a, b], axis=1))
                continue
            if node == tree.root:
                tensors.append(_block_diag(xp, a, b, stack_last=False))
            else:
                tensors.append(_block_diag(xp, a, b, stack_last=True))
        return TTN(tree, tensors)

    def __sub__(self, other: "TTN") -> "TTN":
        return self + (-other)

    # ------------------------------------------------------------------ gauges and truncation
    def orthonormalize(self) -> "TTN":
        """QR from the leaves to the root: every non-root node gets orthonormal columns.

        Bonds larger than the rank the children allow shrink on the way.
        """
        xp, tree = self.xp, self.tree
        tensors = list(self.tensors)
        for node in tree.edges:
            t = tensors[node]
            head = tuple(t.shape[:-1])
            q, r = qr(xp.reshape(t, (math.prod(head), t.shape[-1])))
            tensors[node] = xp.reshape(q, head + (q.shape[1],))
            parent = tree.parent[node]
            tensors[parent] = _mode_multiply(xp, tensors[parent], r, tree.children[parent].index(node))
        return TTN(tree, tensors, orthonormal=True)

    def edge_singular_values(self) -> dict[int, np.ndarray]:
        """Singular values of the matricisation at every edge (node id -> host array)."""
        y = self if self.orthonormal else self.orthonormalize()
        return {node: backend.to_host(s) for node, (_, s) in y._edge_svds().items()}

    def _edge_svds(self) -> dict[int, tuple[Any, Any]]:
        """``node -> (P, s)``: left singular vectors and values of each edge (orthonormal TTN).

        The parent weight ``R`` (``R R^H`` = Gram matrix of the parent side) moves down
        by QR so the singular values come from SVDs, accurate to machine precision
        relative to the largest, not from Gram eigenvalues.
        """
        xp, tree = self.xp, self.tree
        weight: dict[int, Any] = {tree.root: None}
        out: dict[int, tuple[Any, Any]] = {}
        for node in reversed(range(tree.num_nodes)):
            ch = tree.children[node]
            if not ch:
                continue
            core = self.tensors[node]
            if weight[node] is not None:
                core = _mode_multiply(xp, core, xp.matrix_transpose(weight[node]), len(ch))
            for i, c in enumerate(ch):
                moved = xp.moveaxis(core, i, -1)
                mat = xp.reshape(moved, (-1, moved.shape[-1]))  # (others, r_c) = Mat_i^T
                _, r = qr(mat)
                w = xp.matrix_transpose(r)  # (r_c, k): w w^H = Mat_i Mat_i^H
                p, s, _ = backend.thin_svd(w)
                out[c] = (p, s)
                weight[c] = p * xp.astype(s, p.dtype)
        return out

    def truncate(
        self,
        tol: float | None = None,
        max_rank: int | None = None,
        *,
        relative: bool = True,
    ) -> "TTN":
        """Best-edge truncation of every bond at once.

        Parameters
        ----------
        tol : float, optional
            Bound on ``||self - result||`` (relative to the norm when ``relative``); the
            squared budget is split evenly over the edges.
        max_rank : int, optional
            Largest bond dimension.
        relative : bool, optional
            Read ``tol`` relative to the norm (default True) or as an absolute bound.

        Returns
        -------
        TTN
            Orthonormal; ``||self - result||^2 <= sum of discarded squared singular values``.

        Examples
        --------
        >>> import numpy as np
        >>> y = TTN.random(Tree.balanced(6), [3] * 6, 8, rng=1)
        >>> z = y.truncate(max_rank=3)
        >>> z.max_bond
        3
        >>> err = float((y - z).norm())
        >>> bound = float(y.truncation_error_bound(max_rank=3))
        >>> err <= bound + 1e-12
        True
        """
        _check_tol(tol, "TTN.truncate")
        _check_rank(max_rank, "TTN.truncate")
        y, e = self._unit_root()
        budget = _edge_budget(_scaled_tol(tol, relative, e), relative, float(y.norm()), len(self.tree.edges))
        return y._truncate_edges(budget, max_rank)[0]._root_scaled(e)

    def truncation_error_bound(
        self, tol: float | None = None, max_rank: int | None = None, *, relative: bool = True
    ) -> float:
        """``sqrt(sum of discarded squared singular values)`` that :meth:`truncate` would drop.

        Parameters
        ----------
        tol : float, optional
            Error budget, as in :meth:`truncate`.
        max_rank : int, optional
            Largest bond dimension, as in :meth:`truncate`.
        relative : bool, optional
            Read ``tol`` relative to the norm (default True) or as an absolute bound.
        """
        y, e = self._unit_root()
        budget = _edge_budget(_scaled_tol(tol, relative, e), relative, float(y.norm()), len(self.tree.edges))
        with np.errstate(over="ignore"):  # a bound beyond float64 is inf
            return float(np.ldexp(math.sqrt(y._truncate_edges(budget, max_rank)[1]), e))

    def _unit_root(self) -> tuple["TTN", int]:
        """Orthonormal form, its root divided by ``2**e`` (exact) when squared norms of the
        root would leave the dtype's range (``e = 0`` otherwise), and ``e``."""
        y = self if self.orthonormal else self.orthonormalize()
        e = array_exponent(y.xp, y.tensors[y.tree.root])
        return y._root_scaled(-e), e

    def _root_scaled(self, e: int) -> "TTN":
        """The network times ``2**e`` (exact), the factor in the root; ``self`` when ``e == 0``."""
        if not e:
            return self
        tensors = list(self.tensors)
        tensors[self.tree.root] = scale_pow2(self.xp, tensors[self.tree.root], e)
        return TTN(self.tree, tensors, orthonormal=self.orthonormal)

    def _truncate_edges(self, budget: float, max_rank: int | None) -> tuple["TTN", float]:
        """Project every edge on its leading singular vectors (discarded ``s^2`` per edge <= budget)."""
        xp, tree = self.xp, self.tree
        svds = self._edge_svds()
        proj: dict[int, Any] = {}
        discarded = 0.0
        for node, (p, s) in svds.items():
            s_host = backend.to_host(s).astype(np.float64)
            keep = _keep(s_host, budget, max_rank)
            discarded += float(np.sum(s_host[keep:] ** 2))
            proj[node] = p[:, :keep]
        tensors = list(self.tensors)
        for node in tree.edges:
            p = proj[node]
            t = tensors[node]
            head = tuple(t.shape[:-1])
            tensors[node] = xp.reshape(xp.reshape(t, (-1, t.shape[-1])) @ p, head + (p.shape[1],))
        for node in tree.inner_nodes():
            for i, c in enumerate(tree.children[node]):
                tensors[node] = _mode_multiply(xp, tensors[node], adjoint(xp, proj[c]), i)
        return TTN(tree, tensors).orthonormalize(), discarded

    def expand(self, bond_dim: int, *, rng: np.random.Generator | int | None = None) -> "TTN":
        """The same tensor with every bond enlarged to ``min(bond_dim, possible)``.

        The new basis directions are random, orthonormal to the old ones and carry zero
        weight: fixed-rank integrators (``method="fixed"``, ``"ksl"``) started from a
        low-rank state need this room to grow into.

        Parameters
        ----------
        bond_dim : int
            Target bond dimension.
        rng : numpy.random.Generator, int or None, optional
            Source of the new directions (see :func:`tnkit.backend.make_rng`).

        Examples
        --------
        >>> import numpy as np
        >>> up = np.array([1.0, 0.0])
        >>> y = TTN.product([up] * 4, Tree.balanced(4)).expand(3, rng=0)
        >>> y.bond_dims, bool(np.allclose(y.to_dense()[0, 0, 0, 0], 1.0))
        ((2, 2, 3, 2, 2, 3), True)
        """
        _check_rank(bond_dim, "TTN.expand")
        y = self if self.orthonormal else self.orthonormalize()
        return TTN(y.tree, expand_cores(y.tree, list(y.tensors), y.dims, bond_dim, rng), orthonormal=True)

    def to(self, like: Any) -> "TTN":
        """The same network on ``like``'s library/device (dtype kept, complex kept).

        Parameters
        ----------
        like : array
            Array whose library and device the tensors take.
        """
        xp = namespace(like)
        out = []
        for t in self.tensors:
            host = backend.to_host(t)
            out.append(xp.asarray(host, device=backend.device_of(like)))
        return TTN(self.tree, out, orthonormal=self.orthonormal)


# --------------------------------------------------------------------------------------
# tnkit.io


def _ttn_to_dict(y: TTN) -> dict[str, Any]:
    tree = y.tree
    return {
        "parents": np.asarray(tree.parent, dtype=np.int64),
        "modes": np.asarray(tree.mode, dtype=np.int64),
        "tensors": {f"{i:05d}": t for i, t in enumerate(y.tensors)},
        "orthonormal": int(y.orthonormal),
    }


def _ttn_from_dict(data: dict[str, Any]) -> TTN:
    parents = [int(p) for p in np.asarray(data["parents"])]
    modes = [int(m) for m in np.asarray(data["modes"]) if m >= 0]
    tree = Tree.from_parents(parents, modes)
    if list(tree.parent) != parents:
        raise ValueError("stored tree is not in post-order")
    tensors = [data["tensors"][k] for k in sorted(data["tensors"])]
    return TTN(tree, tensors, orthonormal=bool(int(data["orthonormal"])))


register_type(TTN, "ttn", _ttn_to_dict, _ttn_from_dict, version=1)
