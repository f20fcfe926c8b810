"""Projected right-hand sides for the tree integrators in :mod:`tnkit.tree.bug`.

Every integrator step reduces ``dY/dt = F(t, Y)`` to small ODEs on single node
tensors: the K-step of a leaf (``K`` of shape ``(n, r)``), the Galerkin step of a
connecting tensor and, for the projector-splitting integrator, the backward S-step of
a bond. A *projector* supplies those small right-hand sides from two kinds of cached
data:

* bottom-up data of a subtree (``pdata``), computed from its orthonormal basis;
* top-down data of the rest of the tree (``env``), from the parent's environment and
  the siblings' bottom-up data.

Two projectors share that interface:

* :class:`OperatorProjector` for linear ``F(t, Y) = sum_g c_g(t) A_g Y`` given as a
  :class:`~tnkit.KronOperator`. The operator is first compressed into a tree tensor
  network operator (TTNO) on the state's tree; ``pdata`` is the stack of projected
  subtree operators ``U^H A[a] U`` (one per TTNO bond index ``a``) and ``env`` the
  stack of projected outer operators. Nothing of size ``prod n_l`` is formed.
* :class:`DenseProjector` for a callable ``F(t, Y)`` on dense tensors (non-linear
  problems of moderate size): ``pdata`` is the dense subtree basis and ``env`` the
  dense outer basis; each evaluation assembles the full tensor, applies ``F`` and
  projects back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.backend import conj
from tnkit.tree.cores import _einsum
from tnkit.tree.kron import KronOperator
from tnkit.tree.topology import Tree
from tnkit.tree.ttn import TTN

__all__ = ["OperatorProjector", "DenseProjector", "NodeRHS"]


class NodeRHS:
    """``f(t, x)`` of one small ODE; ``linear`` ones expose ``matvec(t)`` for Krylov.

    Parameters
    ----------
    parts : sequence of (callable, callable), optional
        Terms ``(c, apply)`` of a linear right-hand side ``x -> sum c(t) apply(x)``.
    func : callable, optional
        ``func(t, x)`` of a non-linear right-hand side; when given, ``parts`` is unused.
    sign : float, optional
        Factor applied to the result (``-1`` for the backward S-step); default 1.
    """

    def __init__(
        self,
        parts: Sequence[tuple[Callable[[float], complex], Callable[[Any], Any]]] | None = None,
        func: Callable[[float, Any], Any] | None = None,
        sign: float = 1.0,
    ) -> None:
        self.parts = list(parts or [])
        self.func = func
        self.sign = sign

    @property
    def linear(self) -> bool:
        """Whether the right-hand side is linear (given by ``parts``)."""
        return self.func is None

    def matvec(self, t: float) -> Callable[[Any], Any]:
        """The linear map ``x -> sign * sum c(t) apply(x)`` at time ``t`` (linear only).

        Parameters
        ----------
        t : float
            Time at which the coefficients are evaluated.
        """
        coefs = [self.sign * c(t) for c, _ in self.parts]

        def apply(x: Any) -> Any:
            out = None
            for coef, (_, f) in zip(coefs, self.parts):
                y = f(x)
                y = y * (coef if coef.imag != 0 else coef.real)
                out = y if out is None else out + y
            return out

        return apply

    def __call__(self, t: float, x: Any) -> Any:
        if self.func is not None:
            return self.sign * self.func(t, x) if self.sign != 1.0 else self.func(t, x)
        return self.matvec(t)(x)


# --------------------------------------------------------------------------------------
# Linear operators through a TTNO


class OperatorProjector:
    """Projected pieces of ``sum_g c_g(t) A_g`` with each ``A_g`` a TTNO on ``tree``.

    Parameters
    ----------
    op : KronOperator
        The operator; terms sharing a callable coefficient become one TTNO.
    tree : Tree
        Tree of the state.
    like : TTN
        State whose library, device and dtype the TTNO tensors take.
    tol : float, optional
        Relative truncation tolerance of the TTNO compression; default ``1e-13``.
    """

    linear = True

    def __init__(self, op: KronOperator, tree: Tree, like: Any, *, tol: float = 1e-13) -> None:
        self.tree = tree
        self.op = op
        xp = backend.namespace(like.tensors[0])
        self.xp = xp
        self.dtype = like.dtype
        # one TTNO per distinct coefficient: constants share one
        groups: dict[int, list[int]] = {}
        coef_of: dict[int, Callable[[float], complex]] = {}
        for k, term in enumerate(op.terms):
            key = id(term.coef) if callable(term.coef) else -1
            groups.setdefault(key, []).append(k)
            if callable(term.coef):
                coef_of[key] = _Scaled(term.coef, op.scale)
            else:
                coef_of[key] = _Const(op.scale)
        self.groups: list[tuple[Callable[[float], complex], list[Any]]] = []
        for key, idx in groups.items():
            weights = [1.0 if callable(c) else complex(c) for c in (op.terms[k].coef for k in idx)]
            ttno = _build_ttno(op, idx, weights, tree, tol)
            host_dtype = backend.dtype_name(xp, self.dtype)
            tensors = [xp.asarray(t.astype(host_dtype), device=backend.device_of(like.tensors[0])) for t in ttno]
            self.groups.append((coef_of[key], tensors))
        self.bond_dims = tuple(tuple(int(t.shape[-1]) for t in ts[:-1]) for _, ts in self.groups)
        self._lognorm = None if op.time_dependent else op.lognorm_bound()

    # bottom-up ---------------------------------------------------------------------
    def leaf_data(self, node: int, u: Any) -> list[Any]:
        """Bottom-up data of a leaf from its orthonormal basis.

        Parameters
        ----------
        node : int
            Tree node.
        u : array, shape (n, r)
            The leaf's basis.
        """
        xp = self.xp
        return [_einsum([(conj(xp, u), [0, 1]), (w[node], [0, 2, 3]), (u, [2, 4])], [3, 1, 4]) for _, w in self.groups]

    def node_data(self, node: int, core: Any, child_data: Sequence[list[Any]]) -> list[Any]:
        """Bottom-up data of an inner node from its core and its children's data.

        Parameters
        ----------
        node : int
            Tree node.
        core : array
            The node's orthonormal core, children's bonds first, parent bond last.
        child_data : sequence
            Bottom-up data of the children, in order.
        """
        xp = self.xp
        m = core.ndim - 1
        out = []
        for g, (_, w) in enumerate(self.groups):
            # core bra: 0..m-1, parent m; ket: m+1..2m, parent 2m+1; ttno bonds 2m+2..3m+1, out 3m+2
            ops = [(conj(xp, core), list(range(m + 1))), (core, list(range(m + 1, 2 * m + 2)))]
            ops.append((w[node], list(range(2 * m + 2, 3 * m + 2)) + [3 * m + 2]))
            ops += [(child_data[i][g], [2 * m + 2 + i, i, m + 1 + i]) for i in range(m)]
            out.append(_einsum(ops, [3 * m + 2, m, 2 * m + 1]))
        return out

    def data(self, y: TTN) -> list[list[Any]]:
        """Bottom-up data of every node of an orthonormal ``y``.

        Parameters
        ----------
        y : TTN
            The state, orthonormal.
        """
        out: list[Any] = [None] * self.tree.num_nodes
        for node, ch in enumerate(self.tree.children):
            if not ch:
                out[node] = self.leaf_data(node, y.tensors[node])
            else:
                out[node] = self.node_data(node, y.tensors[node], [out[c] for c in ch])
        return out

    # top-down ----------------------------------------------------------------------
    def root_env(self, y: TTN) -> list[Any]:
        """Environment of the root.

        Parameters
        ----------
        y : TTN
            The state.
        """
        xp = self.xp
        r = y.root_dim
        eye = xp.eye(r, dtype=self.dtype, device=backend.device_of(y.tensors[0]))
        return [xp.reshape(eye, (1, r, r)) for _ in self.groups]

    def child_env(self, node: int, env: list[Any], q: Any, i: int, child_data: Sequence[list[Any] | None]) -> list[Any]:
        """Environment of child ``i`` given the node's orthonormal ``q`` (axis ``i`` = new bond).

        Parameters
        ----------
        node : int
            Inner tree node.
        env : object
            Environment of ``node``.
        q : array
            The node's orthonormal core; axis ``i`` is the new bond.
        i : int
            Position of the child among ``node``'s children.
        child_data : sequence
            Bottom-up data of the children (entry ``i`` is not used).
        """
        xp = self.xp
        m = q.ndim - 1
        out = []
        for g, (_, w) in enumerate(self.groups):
            ops = [(conj(xp, q), list(range(m + 1))), (q, list(range(m + 1, 2 * m + 2)))]
            ops.append((w[node], list(range(2 * m + 2, 3 * m + 2)) + [3 * m + 2]))
            ops.append((env[g], [3 * m + 2, m, 2 * m + 1]))
            ops += [(_data(child_data, j)[g], [2 * m + 2 + j, j, m + 1 + j]) for j in range(m) if j != i]
            out.append(_einsum(ops, [2 * m + 2 + i, i, m + 1 + i]))
        return out

    # small right-hand sides --------------------------------------------------------
    def leaf_rhs(self, node: int, env: list[Any]) -> NodeRHS:
        """Right-hand side of a leaf's K-step.

        Parameters
        ----------
        node : int
            Tree node.
        env : object
            Environment of the leaf.
        """
        parts = []
        for g, (coef, w) in enumerate(self.groups):
            parts.append((coef, _leaf_apply(w[node], env[g])))
        return NodeRHS(parts)

    def bond_rhs(self, data: list[Any], env: list[Any], sign: float = 1.0) -> NodeRHS:
        """``S -> sum_a P[a] S O[a]^T`` on a bond (the S-step of projector splitting).

        Parameters
        ----------
        data : object
            Bottom-up data of the subtree below the bond.
        env : object
            Environment of the bond.
        sign : float, optional
            Factor on the result; ``-1`` for the backward S-step. Default 1.
        """
        parts = []
        for g, (coef, _) in enumerate(self.groups):
            parts.append((coef, _bond_apply(data[g], env[g])))
        return NodeRHS(parts, sign=sign)

    def node_rhs(self, node: int, env: list[Any], child_data: Sequence[list[Any]]) -> NodeRHS:
        """Right-hand side of the Galerkin step of an inner node's core.

        Parameters
        ----------
        node : int
            Tree node.
        env : object
            Environment of the node.
        child_data : sequence
            Bottom-up data of the children, in order.
        """
        parts = []
        for g, (coef, w) in enumerate(self.groups):
            parts.append((coef, _node_apply(w[node], env[g], [cd[g] for cd in child_data])))
        return NodeRHS(parts)

    def lognorm_bound(self, t: float) -> float:
        """The operator's log-norm bound (computed once when no coefficient depends on t).

        Parameters
        ----------
        t : float
            Time at which the coefficients are evaluated.
        """
        return self._lognorm if self._lognorm is not None else self.op.lognorm_bound(t)


class _Const:
    def __init__(self, value: complex) -> None:
        self.value = complex(value)

    def __call__(self, t: float) -> complex:
        return self.value


class _Scaled:
    def __init__(self, f: Callable[[float], complex], scale: complex) -> None:
        self.f, self.scale = f, complex(scale)

    def __call__(self, t: float) -> complex:
        return self.scale * complex(self.f(t))


def _leaf_apply(w: Any, env: Any) -> Callable[[Any], Any]:
    def apply(k: Any) -> Any:
        return _einsum([(w, [0, 1, 2]), (k, [1, 3]), (env, [2, 4, 3])], [0, 4])

    return apply


def _bond_apply(p: Any, env: Any) -> Callable[[Any], Any]:
    def apply(s: Any) -> Any:
        return _einsum([(p, [2, 0, 1]), (s, [1, 3]), (env, [2, 4, 3])], [0, 4])

    return apply


def _node_apply(w: Any, env: Any, child_data: Sequence[Any]) -> Callable[[Any], Any]:
    m = w.ndim - 1

    def apply(c: Any) -> Any:
        # c: in-labels m+1..2m, parent 2m+1; out: 0..m-1, parent m; ttno 2m+2..3m+1, parent 3m+2
        ops = [(c, list(range(m + 1, 2 * m + 2)))]
        ops += [(child_data[i], [2 * m + 2 + i, i, m + 1 + i]) for i in range(m)]
        ops.append((w, list(range(2 * m + 2, 3 * m + 2)) + [3 * m + 2]))
        ops.append((env, [3 * m + 2, m, 2 * m + 1]))
        return _einsum(ops, list(range(m + 1)))

    return apply


def _build_ttno(op: KronOperator, idx: Sequence[int], weights: Sequence[complex], tree: Tree, tol: float) -> list[Any]:
    """Compressed TTNO (host NumPy) of ``sum_k weights[k] term_k``: leaves ``(n, n, w)``."""
    dims = op.dims
    is_complex = any(complex(w).imag != 0 for w in weights) or any(
        np.iscomplexobj(f) for k in idx for f in op.terms[k].factors.values()
    )
    dtype = np.complex128 if is_complex else np.float64
    batch = 24
    total: TTN | None = None
    for start in range(0, len(idx), batch):
        part: TTN | None = None
        for k, wgt in zip(idx[start : start + batch], weights[start : start + batch]):
            term = op.terms[k]
            vecs = []
            for mode, n in enumerate(dims):
                f = term.factors.get(mode)
                mat = np.eye(n, dtype=dtype) if f is None else np.asarray(f, dtype=dtype)
                vecs.append(mat.reshape(-1))
            rank1 = TTN.product(vecs, tree)
            root = tree.root
            rank1.tensors[root] = rank1.tensors[root] * (wgt if is_complex else complex(wgt).real)
            part = rank1 if part is None else part + rank1
        assert part is not None
        total = part if total is None else total + part
        total = total.orthonormalize()
        total = total._truncate_edges(_budget(total, tol), None)[0]
    assert total is not None
    out = []
    for node, t in enumerate(total.tensors):
        if tree.is_leaf(node):
            n = dims[tree.mode[node]]
            out.append(t.reshape(n, n, t.shape[-1]))
        else:
            out.append(t)
    return out


def _budget(y: TTN, tol: float) -> float:
    return (tol * float(y.norm())) ** 2 / max(len(y.tree.edges), 1)


# --------------------------------------------------------------------------------------
# Callables on dense tensors


class DenseProjector:
    """Projected pieces of a callable ``F(t, Y)`` acting on dense tensors of shape ``dims``.

    Bottom-up data are dense subtree bases ``(*n_below, r)``, environments dense outer
    bases ``(*n_rest, r)`` (modes in increasing order); every evaluation forms the full
    tensor, so this path suits problems whose full tensor fits in memory.

    Parameters
    ----------
    func : callable
        ``func(t, Y)`` returning an array of ``Y``'s shape, library and device.
    tree : Tree
        Tree of the state.
    like : TTN
        State whose library, device, dtype and mode sizes are used.
    """

    linear = False

    def __init__(self, func: Callable[[float, Any], Any], tree: Tree, like: TTN) -> None:
        self.func = func
        self.tree = tree
        self.xp = like.xp
        self.dtype = like.dtype
        self.dims = like.dims
        d = tree.num_modes
        self._rest = [tuple(m for m in range(d) if m not in tree.modes_below[node]) for node in range(tree.num_nodes)]

    def leaf_data(self, node: int, u: Any) -> Any:
        """Bottom-up data of a leaf from its orthonormal basis.

        Parameters
        ----------
        node : int
            Tree node.
        u : array, shape (n, r)
            The leaf's basis.
        """
        return u

    def node_data(self, node: int, core: Any, child_data: Sequence[Any]) -> Any:
        """Bottom-up data of an inner node from its core and its children's data.

        Parameters
        ----------
        node : int
            Tree node.
        core : array
            The node's orthonormal core, children's bonds first, parent bond last.
        child_data : sequence
            Bottom-up data of the children, in order.
        """
        m = core.ndim - 1
        ops = [(core, [100 + i for i in range(m)] + [200])]
        out: list[int] = []
        for i, c in enumerate(self.tree.children[node]):
            modes = self.tree.modes_below[c]
            ops.append((child_data[i], list(modes) + [100 + i]))
            out.extend(modes)
        return _einsum(ops, out + [200])

    def data(self, y: TTN) -> list[Any]:
        """Bottom-up data of every node of an orthonormal ``y``.

        Parameters
        ----------
        y : TTN
            The state, orthonormal.
        """
        out: list[Any] = [None] * self.tree.num_nodes
        for node, ch in enumerate(self.tree.children):
            out[node] = y.tensors[node] if not ch else self.node_data(node, y.tensors[node], [out[c] for c in ch])
        return out

    def root_env(self, y: TTN) -> Any:
        """Environment of the root.

        Parameters
        ----------
        y : TTN
            The state.
        """
        if y.root_dim != 1:
            raise ValueError("a callable right-hand side needs a plain tensor (root bond dimension 1)")
        return self.xp.ones((1,), dtype=self.dtype, device=backend.device_of(y.tensors[0]))

    def child_env(self, node: int, env: Any, q: Any, i: int, child_data: Sequence[Any | None]) -> Any:
        """Environment of child ``i`` given the node's orthonormal ``q`` (axis ``i`` = new bond).

        Parameters
        ----------
        node : int
            Inner tree node.
        env : object
            Environment of ``node``.
        q : array
            The node's orthonormal core; axis ``i`` is the new bond.
        i : int
            Position of the child among ``node``'s children.
        child_data : sequence
            Bottom-up data of the children (entry ``i`` is not used).
        """
        m = q.ndim - 1
        ch = self.tree.children[node]
        ops = [(q, [100 + j for j in range(m)] + [200])]
        ops.append((env, list(self._rest[node]) + [200]))
        for j, c in enumerate(ch):
            if j != i:
                ops.append((child_data[j], list(self.tree.modes_below[c]) + [100 + j]))
        return _einsum(ops, list(self._rest[ch[i]]) + [100 + i])

    def _full(self, parts: Sequence[tuple[Any, Sequence[int]]]) -> Any:
        return _einsum(parts, list(range(len(self.dims))))

    def _project(self, z: Any, parts: Sequence[tuple[Any, Sequence[int]]], out: Sequence[int]) -> Any:
        xp = self.xp
        ops = [(z, list(range(len(self.dims))))] + [(conj(xp, a), labs) for a, labs in parts]
        return _einsum(ops, out)

    def _wrap(
        self, build: Callable[[Any], list[tuple[Any, Sequence[int]]]], out: Sequence[int], sign: float = 1.0
    ) -> NodeRHS:
        xp, dims = self.xp, self.dims

        def f(t: float, x: Any) -> Any:
            parts = build(x)
            y = self._full(parts)
            z = self.func(t, y)
            try:
                backend.namespace(z)  # an array at all
                backend.namespace(y, z)  # of the state's library, on its device
            except TypeError as err:
                raise TypeError(f"F(t, Y) must return an array of the state's library and device: {err}") from None
            if tuple(z.shape) != tuple(dims):
                raise ValueError(f"F(t, Y) returned shape {tuple(z.shape)}, expected {tuple(dims)}")
            if z.dtype != y.dtype:
                if backend.is_complex_dtype(xp, z.dtype) and not backend.is_complex_dtype(xp, y.dtype):
                    raise TypeError("F(t, Y) returned complex values for a real state; start from a complex y0")
                z = xp.astype(z, y.dtype)
            return self._project(z, parts[1:], out)

        return NodeRHS(func=f, sign=sign)

    def leaf_rhs(self, node: int, env: Any) -> NodeRHS:
        """Right-hand side of a leaf's K-step.

        Parameters
        ----------
        node : int
            Tree node.
        env : object
            Environment of the leaf.
        """
        mode = self.tree.mode[node]
        rest = list(self._rest[node])

        def build(k: Any) -> list[tuple[Any, Sequence[int]]]:
            return [(k, [mode, 300]), (env, rest + [300])]

        return self._wrap(build, [mode, 300])

    def bond_rhs(self, data: Any, env: Any, sign: float = 1.0, *, node: int | None = None) -> NodeRHS:
        """Right-hand side of a bond's S-step (projector splitting): ``F`` projected onto the subtree and outer bases.

        Parameters
        ----------
        data : object
            Bottom-up data of the subtree below the bond.
        env : object
            Environment of the bond.
        sign : float, optional
            Factor on the result; ``-1`` for the backward S-step. Default 1.
        node : int
            Node below the bond (required).
        """
        if node is None:
            raise ValueError("DenseProjector.bond_rhs needs the node")
        below = list(self.tree.modes_below[node])
        rest = list(self._rest[node])

        def build(s: Any) -> list[tuple[Any, Sequence[int]]]:
            return [(s, [300, 301]), (data, below + [300]), (env, rest + [301])]

        return self._wrap(build, [300, 301], sign=sign)

    def node_rhs(self, node: int, env: Any, child_data: Sequence[Any]) -> NodeRHS:
        """Right-hand side of the Galerkin step of an inner node's core.

        Parameters
        ----------
        node : int
            Tree node.
        env : object
            Environment of the node.
        child_data : sequence
            Bottom-up data of the children, in order.
        """
        ch = self.tree.children[node]
        m = len(ch)

        def build(c: Any) -> list[tuple[Any, Sequence[int]]]:
            parts: list[tuple[Any, Sequence[int]]] = [(c, [100 + i for i in range(m)] + [200])]
            parts += [(child_data[i], list(self.tree.modes_below[cn]) + [100 + i]) for i, cn in enumerate(ch)]
            parts.append((env, list(self._rest[node]) + [200]))
            return parts

        return self._wrap(build, [100 + i for i in range(m)] + [200])


def _data(child_data: Sequence[list[Any] | None], j: int) -> list[Any]:
    """The data of child ``j``, which the caller has computed for every child but one."""
    d = child_data[j]
    if d is None:
        raise RuntimeError(f"projector: no data for child {j}")
    return d
