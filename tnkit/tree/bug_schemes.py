"""The step schemes of the BUG integrators: the small ODE solves of each node, the
rank-adaptive and fixed-rank basis-update & Galerkin sweeps, the parallel variant and
the projector-splitting (KSL) scheme. :func:`tnkit.tree.bug.step` chooses among them.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.backend import adjoint
from tnkit.linalg import ConvergenceError, expm_multiply, qr
from tnkit.tree.cores import _mode_multiply, _pad_children
from tnkit.tree.projectors import DenseProjector, NodeRHS
from tnkit.tree.ttn import TTN

__all__: list[str] = []

# Relative norm growth per step tolerated beyond the operator's log-norm bound (the
# parallel integrator is not exactly norm-preserving); unstable RK4 steps grow by far more.
_GROWTH_SLACK = 1e-2


class _Runner:
    """Solves the small ODEs of one step from ``t0`` to ``t0 + h``."""

    def __init__(self, proj: Any, inner: str, substeps: int, t0: float, h: float) -> None:
        self.proj, self.inner, self.substeps, self.t0, self.h = proj, inner, substeps, t0, h

    def solve(self, f: NodeRHS, x0: Any) -> Any:
        return _solve(f, x0, self.t0, self.h, self.inner, self.substeps)


def _solve(f: NodeRHS, x0: Any, t0: float, h: float, inner: str, substeps: int) -> Any:
    xp = backend.namespace(x0)
    if inner == "krylov":
        mv = f.matvec(t0 + 0.5 * h)
        x = expm_multiply(mv, x0, h)
        if x.dtype != x0.dtype:
            x = xp.astype(x, x0.dtype)
    else:
        x = x0
        tau = h / substeps
        t = t0
        for _ in range(substeps):
            k1 = f(t, x)
            k2 = f(t + 0.5 * tau, x + (0.5 * tau) * k1)
            k3 = f(t + 0.5 * tau, x + (0.5 * tau) * k2)
            k4 = f(t + tau, x + tau * k3)
            x = x + (tau / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            t += tau
    if not bool(backend.to_host(xp.all(xp.isfinite(x)))):
        raise ConvergenceError(
            f"bug: the inner {inner} solver produced NaN/Inf on the step from t={t0:g} with dt={h:g}; "
            "reduce dt, raise substeps or use inner='krylov'"
        )
    return x


def _check_growth(y: TTN, before: float, mu: float, h: float, t: float, inner: str) -> None:
    """The exact flow cannot grow the norm by more than ``exp(h mu)``; an unstable inner solver does."""
    after = float(backend.to_host(y.norm()))
    if not math.isfinite(after) or after > before * math.exp(h * mu) * (1.0 + _GROWTH_SLACK) + 1e-300:
        raise ConvergenceError(
            f"bug: the norm grew from {before:.6g} to {after:.6g} on the step from t={t:g} (dt={h:g}), more than "
            f"the operator allows (log-norm bound {mu:.3g}): the inner {inner} solver is unstable at this step; "
            "reduce dt, raise substeps or use inner='krylov'"
        )


def _run_task(task: tuple[NodeRHS, Any, float, float, str, int]) -> Any:
    return _solve(*task)


def _split(core: Any, i: int) -> tuple[Any, Any]:
    """QR of ``Mat_i(core)^T``: returns ``q`` shaped like ``core`` (axis ``i`` -> k) and ``r^T``."""
    xp = backend.namespace(core)
    moved = xp.moveaxis(core, i, -1)
    head = tuple(moved.shape[:-1])
    q, r = qr(xp.reshape(moved, (math.prod(head), moved.shape[-1])))
    qt = xp.moveaxis(xp.reshape(q, head + (q.shape[1],)), -1, i)
    return qt, xp.matrix_transpose(r)


def _absorb(tensor: Any, rt: Any) -> Any:
    """``tensor`` with its parent axis multiplied by ``rt`` (shape (r, k)): ``(..., r) -> (..., k)``."""
    xp = backend.namespace(tensor)
    head = tuple(tensor.shape[:-1])
    return xp.reshape(xp.reshape(tensor, (-1, tensor.shape[-1])) @ rt, head + (rt.shape[1],))


def _augment(old: Any, new: Any) -> Any:
    """Orthonormal directions of ``new`` outside ``span(old)`` (both orthonormal-column matrices / any)."""
    xp = backend.namespace(old)
    w = new - old @ (adjoint(xp, old) @ new)
    w = w - old @ (adjoint(xp, old) @ w)
    u, s, _ = backend.thin_svd(w)
    s_host = backend.to_host(s)
    scale = float(backend.to_host(xp.linalg.matrix_norm(new, ord=2))) if new.shape[1] else 0.0
    eps = 100.0 * backend.dtype_eps(xp, new.dtype)
    keep = int(np.count_nonzero(s_host > eps * max(scale, 1e-300)))
    keep = min(keep, old.shape[0] - old.shape[1])
    return u[:, :keep]


def _leaf_or_node_data(proj: Any, tree: Any, node: int, tensor: Any, data: list[Any]) -> Any:
    if tree.is_leaf(node):
        return proj.leaf_data(node, tensor)
    return proj.node_data(node, tensor, [data[c] for c in tree.children[node]])


def _bug(y: TTN, run: _Runner, *, augment: bool, tol: float, max_rank: int | None) -> TTN:
    proj, tree = run.proj, y.tree
    old_data = proj.data(y)
    new_tensors = list(y.tensors)
    new_data = list(old_data)
    mats_of: dict[int, list[Any]] = {}

    def subtree(node: int, core0: Any, env: Any) -> Any:
        ch = tree.children[node]
        mats: list[Any] = []
        mats_of[node] = mats
        for i, c in enumerate(ch):
            q, rt = _split(core0, i)
            env_c = proj.child_env(node, env, q, i, [old_data[j] for j in ch])
            old = y.tensors[c]
            if tree.is_leaf(c):
                k1 = run.solve(proj.leaf_rhs(c, env_c), old @ rt)
                basis_old = old
                head = (old.shape[0],)
            else:
                core_c1 = subtree(c, _absorb(old, rt), env_c)
                head = tuple(core_c1.shape[:-1])
                k1 = y.xp.reshape(core_c1, (-1, core_c1.shape[-1]))
                if augment:
                    old_in_new = _pad_children(old, head)
                else:
                    old_in_new = old
                    for j, m in enumerate(mats_of[c]):
                        old_in_new = _mode_multiply(y.xp, old_in_new, m, j)
                basis_old = y.xp.reshape(old_in_new, (-1, old.shape[-1]))
            xp = y.xp
            if augment:
                extra = _augment(basis_old, k1)
                basis = xp.concat([basis_old, extra], axis=1)
                mats.append(None)
            else:
                basis, _ = qr(k1)
                basis = basis[:, : old.shape[-1]]
                mats.append(adjoint(xp, basis) @ basis_old)
            new_tensors[c] = xp.reshape(basis, head + (basis.shape[1],))
            new_data[c] = _leaf_or_node_data(proj, tree, c, new_tensors[c], new_data)
        sizes = tuple(int(new_tensors[c].shape[-1]) for c in ch)
        if augment:
            start = _pad_children(core0, sizes)
        else:
            start = core0
            for i, m in enumerate(mats):
                start = _mode_multiply(y.xp, start, m, i)
        return run.solve(proj.node_rhs(node, env, [new_data[c] for c in ch]), start)

    root = tree.root
    new_tensors[root] = subtree(root, y.tensors[root], proj.root_env(y))
    out = TTN(tree, new_tensors, orthonormal=True)
    if augment:
        out = out._truncate_edges(tol * tol, max_rank)[0]
    return out


def _parallel_bug(y: TTN, run: _Runner, tol: float, max_rank: int | None, executor: Executor | None) -> TTN:
    proj, tree, xp = run.proj, y.tree, y.xp
    data = proj.data(y)
    n = tree.num_nodes
    core0: list[Any] = [None] * n
    env: list[Any] = [None] * n
    qs: list[Any] = [None] * n  # per child: the parent's q for that child's axis
    root = tree.root
    core0[root] = y.tensors[root]
    env[root] = proj.root_env(y)
    for node in reversed(range(n)):  # parents before children
        ch = tree.children[node]
        for i, c in enumerate(ch):
            q, rt = _split(core0[node], i)
            qs[c] = q
            env[c] = proj.child_env(node, env[node], q, i, [data[j] for j in ch])
            core0[c] = y.tensors[c] @ rt if tree.is_leaf(c) else _absorb(y.tensors[c], rt)
    tasks = []
    for node in range(n):
        if tree.is_leaf(node):
            f = proj.leaf_rhs(node, env[node])
        else:
            f = proj.node_rhs(node, env[node], [data[c] for c in tree.children[node]])
        tasks.append((f, core0[node], run.t0, run.h, run.inner, run.substeps))
    if executor is None:
        results = [_run_task(task) for task in tasks]
    else:
        results = [fut.result() for fut in [executor.submit(_run_task, task) for task in tasks]]
    new_tensors = list(y.tensors)
    blocks: list[Any] = [None] * n
    for node in range(n):
        ch = tree.children[node]
        if not ch:
            k1 = results[node]
            basis_old = y.tensors[node]
            head = (basis_old.shape[0],)
        else:
            old_sizes = tuple(int(y.tensors[c].shape[-1]) for c in ch)
            sizes = tuple(int(new_tensors[c].shape[-1]) for c in ch)
            full = _pad_children(results[node], sizes)
            for i, c in enumerate(ch):
                if blocks[c] is None or blocks[c].shape[0] == 0:
                    continue
                q = qs[c]  # shaped like core0[node] with axis i the child's k
                moved = xp.moveaxis(q, i, -1)
                other = tuple(moved.shape[:-1])
                blk = blocks[c] @ xp.matrix_transpose(xp.reshape(moved, (-1, moved.shape[-1])))
                blk = xp.moveaxis(xp.reshape(blk, (blocks[c].shape[0],) + other), 0, i)
                index = tuple(
                    slice(old_sizes[j], sizes[j]) if j == i else slice(0, old_sizes[j]) for j in range(len(ch))
                ) + (slice(None),)
                full[index] = full[index] + blk
            if node == root:
                new_tensors[root] = full
                break
            head = tuple(full.shape[:-1])
            k1 = xp.reshape(full, (-1, full.shape[-1]))
            basis_old = xp.reshape(_pad_children(y.tensors[node], head), (-1, y.tensors[node].shape[-1]))
        extra = _augment(basis_old, k1)
        blocks[node] = adjoint(xp, extra) @ k1
        basis = xp.concat([basis_old, extra], axis=1)
        new_tensors[node] = xp.reshape(basis, head + (basis.shape[1],))
    out = TTN(tree, new_tensors, orthonormal=True)
    return out._truncate_edges(tol * tol, max_rank)[0]


def _ksl(y: TTN, run: _Runner) -> TTN:
    proj, tree, xp = run.proj, y.tree, y.xp
    data = proj.data(y)
    tensors = list(y.tensors)

    def subtree(node: int, core: Any, env: Any) -> Any:
        ch = tree.children[node]
        for i, c in enumerate(ch):
            q, rt = _split(core, i)
            env_c = proj.child_env(node, env, q, i, [data[j] for j in ch])
            if tree.is_leaf(c):
                k1 = run.solve(proj.leaf_rhs(c, env_c), tensors[c] @ rt)
                head = (k1.shape[0],)
            else:
                core_c1 = subtree(c, _absorb(tensors[c], rt), env_c)
                head = tuple(core_c1.shape[:-1])
                k1 = xp.reshape(core_c1, (-1, core_c1.shape[-1]))
            u1, s1 = qr(k1)
            tensors[c] = xp.reshape(u1, head + (u1.shape[1],))
            data[c] = _leaf_or_node_data(proj, tree, c, tensors[c], data)
            if isinstance(proj, DenseProjector):
                f_s = proj.bond_rhs(data[c], env_c, sign=-1.0, node=c)
            else:
                f_s = proj.bond_rhs(data[c], env_c, sign=-1.0)
            s0 = run.solve(f_s, s1)
            core = _mode_multiply(xp, q, s0, i)
        return run.solve(proj.node_rhs(node, env, [data[c] for c in ch]), core)

    root = tree.root
    tensors[root] = subtree(root, tensors[root], proj.root_env(y))
    return TTN(tree, tensors, orthonormal=True)
