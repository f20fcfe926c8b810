"""BUG integrators (:mod:`tnkit.tree.bug`): cost of one step against the full-tensor solve, and parallel BUG.

Every case times **one integrator step** on a "realistic" state -- one reached by
integrating from the problem's initial state in ``prepare`` (not timed) -- so the ranks
are those of a running simulation, not of the rank-one start. The projector (the tree
tensor network operator and its dtype casts) is built once in ``prepare`` and handed to
:func:`tnkit.tree.bug.step`, as :func:`tnkit.tree.bug.integrate` does; a step called with a
:class:`~tnkit.KronOperator` would rebuild it every call. NumPy only.

``bug step, long-range Ising`` (size = spins; peer: the full state vector)
    The long-range Ising chain of ``physics.spin_chains.long_range_ising_operator`` on
    ``Tree.balanced(n)``, n = 16 (quick: 8), state integrated from ``|0...0>`` with
    ``-1j * H`` to t = 0.5 (rank-adaptive BUG, Krylov, dt = 0.01, tol 1e-8, rank <= 40).
    Timed: ``bug.step(y, proj, 0.5, 0.01, method="adaptive", tol=1e-8, max_rank=40,
    inner="krylov")``. Peer: ``scipy.sparse.linalg.expm_multiply(-1j * 0.01 * H, psi)``
    on the ``2^n`` vector of the same state (CSR ``H`` from ``op.to_sparse()`` built
    in ``prepare``). ``max_rel_diff``: relative 2-norm difference of the two new states
    (the step's projection and truncation error).

``bug step, radiative transfer`` (size = nx; peer: one dense RK4 step)
    ``physics.pde.radiative_transfer.radiative_transfer_problem()`` at its default size
    600 x 30 x 10 x 10 (1.8 million unknowns; quick: ``quick=True``, 32 x 4 x 3 x 3) on
    ``Tree(((0, 1), (2, 3)))``, state integrated from
    ``TTN.from_dense(p.initial, tol=1e-12).expand(2)`` to t = 0.5
    (adaptive BUG, RK4, dt = ``p.cfl_dt()``, tol = 1e-4 ||Y0||). Timed: one adaptive BUG
    step with the same settings. Peer: one classical RK4 step of the same size on the
    raveled full tensor, four products with the CSR matrix ``p.operator.to_sparse()``
    (built in ``prepare``). ``max_rel_diff`` as above (the one-step truncation and
    splitting difference).

``bug parallel, 2 threads`` (size = spins; peer: the same step without an executor)
    The Ising state of the first case; ``method="parallel"`` with
    ``executor=concurrent.futures.ThreadPoolExecutor(2)`` against ``method="parallel"``
    run sequentially (no executor). Both give the same numbers exactly (``max_rel_diff``
    should be 0). ratio < 1 is a speed-up; ``details["speedup"]`` is its inverse.

``bug parallel vs adaptive`` (size = spins; peer: the rank-adaptive step)
    Sequential ``method="parallel"`` against ``method="adaptive"``, one step each on the
    same state. ``details`` also hold each method's error against the exact state
    (``physics.spin_chains.long_range_ising_exact``) after integrating the whole problem
    from ``|0...0>`` to T = 0.25 with the settings above, and their ratio
    ``error_ratio_parallel_over_adaptive``.

No targets: these ratios are reported, not asserted. Full run:
``python validation/benchmarks/run.py -k bug --json results/bench_bug.json``.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np
from _cases import Case, Contenders, Skip

DT = 0.01
TOL = 1e-8
MAX_RANK = 40
T_SETUP = 0.5  # the timed step starts from the state at this time
T_ERROR = 0.25  # parallel vs adaptive: errors against the exact state at this time
SPINS = {False: 16, True: 8}
RT_SIZES = {False: {"nx": 600, "n_moments": 30, "n_xi": 10, "n_eta": 10}, True: {"quick": True}}
RT_TOL = 1e-4  # relative to ||Y0||


def _imports() -> tuple[Any, Any, Any, Any]:
    try:
        from tnkit.tree import TTN, Tree, bug
        from tnkit.tree.projectors import OperatorProjector
    except ImportError as exc:
        raise Skip(f"tnkit.tree.bug not importable: {exc}") from None
    return bug, OperatorProjector, TTN, Tree


def _rel(a: Any, b: Any) -> float:
    a = np.asarray(a).reshape(-1)
    b = np.asarray(b).reshape(-1)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# --------------------------------------------------------------------------------------
# Long-range Ising: shared setup (cached: the three Ising cases run in one process)


@functools.lru_cache(maxsize=2)
def _ising(n: int) -> dict[str, Any]:
    """Operator, tree, the state at T_SETUP, and its projector."""
    bug, OperatorProjector, TTN, Tree = _imports()
    try:
        from physics.spin_chains import long_range_ising_operator
    except ImportError as exc:
        raise Skip(f"physics.spin_chains not importable: {exc}") from None
    h = long_range_ising_operator(n)
    tree = Tree.balanced(n)
    y0 = TTN.product([np.array([1.0, 0.0])] * n, tree)
    start = time.perf_counter()
    res = bug.integrate(y0, -1j * h, T_SETUP, DT, method="adaptive", tol=TOL, max_rank=MAX_RANK, inner="krylov")
    seconds = time.perf_counter() - start
    y = res.state
    return {
        "h": h,
        "tree": tree,
        "y0": y0,
        "y": y,
        "proj": OperatorProjector(-1j * h, tree, y),
        "setup": {
            "spins": n,
            "tree": f"Tree.balanced({n})",
            "state": f"adaptive BUG from |0...0> to t={T_SETUP} (dt={DT}, tol={TOL:g}, max_rank={MAX_RANK}, krylov)",
            "state_bond_dims": list(y.bond_dims),
            "state_max_bond": int(y.max_bond),
            "setup_seconds": round(seconds, 3),
            "dt": DT,
        },
    }


def _ising_step(n: int, method: str, executor: Any = None) -> Any:
    bug, *_ = _imports()
    s = _ising(n)
    y, proj = s["y"], s["proj"]

    def call() -> Any:
        return bug.step(
            y, proj, T_SETUP, DT, method=method, tol=TOL, max_rank=MAX_RANK, inner="krylov", executor=executor
        )

    return call


def _prepare_ising_full(n: int) -> Contenders:
    import scipy.sparse.linalg as sla

    s = _ising(n)
    ours = _ising_step(n, "adaptive")
    a = (-1j * DT) * s["h"].to_sparse()
    psi = np.asarray(s["y"].to_dense()).reshape(-1)

    def theirs() -> Any:
        return sla.expm_multiply(a, psi)

    diff = _rel(ours().to_dense(), theirs())
    facts = dict(
        s["setup"],
        full_dim=int(psi.size),
        sparse_nnz=int(a.nnz),
        peer_call="scipy.sparse.linalg.expm_multiply(-1j*dt*H_csr, psi)",
    )
    return Contenders(tnkit=ours, peer=theirs, max_rel_diff=diff, details=lambda: dict(facts))


def _prepare_parallel_threads(n: int) -> Contenders:
    from concurrent.futures import ThreadPoolExecutor

    s = _ising(n)
    pool = ThreadPoolExecutor(2)
    threaded = _ising_step(n, "parallel", pool)
    sequential = _ising_step(n, "parallel")
    diff = _rel(threaded().to_dense(), sequential().to_dense())
    seconds: dict[str, list[float]] = {"threaded": [], "sequential": []}

    def timed(fn: Any, log: list[float]) -> Any:
        def call() -> Any:
            t0 = time.perf_counter()
            out = fn()
            log.append(time.perf_counter() - t0)
            return out

        return call

    ours = timed(threaded, seconds["threaded"])
    theirs = timed(sequential, seconds["sequential"])

    def details() -> dict[str, Any]:
        # warm-up calls included; medians are robust to them
        speedup = float(np.median(seconds["sequential"]) / np.median(seconds["threaded"]))
        return dict(s["setup"], workers=2, executor="concurrent.futures.ThreadPoolExecutor(2)", speedup=speedup)

    return Contenders(tnkit=ours, peer=theirs, max_rel_diff=diff, details=details)


@functools.lru_cache(maxsize=2)
def _errors_at(n: int) -> dict[str, Any]:
    """Adaptive and parallel BUG from |0...0> to T_ERROR against the exact state."""
    bug, *_ = _imports()
    from physics.spin_chains import long_range_ising_exact

    s = _ising(n)
    exact = long_range_ising_exact(n, [T_ERROR])["states"][-1]
    out: dict[str, Any] = {"T": T_ERROR}
    for method in ("adaptive", "parallel"):
        res = bug.integrate(
            s["y0"],
            -1j * s["h"],
            T_ERROR,
            DT,
            method=method,
            tol=TOL,
            max_rank=MAX_RANK,
            inner="krylov",
        )
        out[f"{method}_state_error"] = float(np.linalg.norm(np.asarray(res.state.to_dense()).reshape(-1) - exact))
        out[f"{method}_max_bond"] = int(res.max_bond.max())
        out[f"{method}_seconds_to_T"] = round(res.seconds, 3)
    out["error_ratio_parallel_over_adaptive"] = out["parallel_state_error"] / out["adaptive_state_error"]
    return out


def _prepare_parallel_vs_adaptive(n: int) -> Contenders:
    s = _ising(n)
    ours = _ising_step(n, "parallel")
    theirs = _ising_step(n, "adaptive")
    diff = _rel(ours().to_dense(), theirs().to_dense())
    errors = _errors_at(n)
    return Contenders(
        tnkit=ours,
        peer=theirs,
        max_rel_diff=diff,
        details=lambda: dict(
            s["setup"],
            errors_vs_exact=errors,
            error_ratio_parallel_over_adaptive=errors["error_ratio_parallel_over_adaptive"],
        ),
    )


# --------------------------------------------------------------------------------------
# Radiative transfer


def _prepare_radiative(quick: bool) -> Contenders:
    bug, OperatorProjector, TTN, Tree = _imports()
    try:
        from physics.pde.radiative_transfer import radiative_transfer_problem
    except ImportError as exc:
        raise Skip(f"physics.pde.radiative_transfer not importable: {exc}") from None
    p = radiative_transfer_problem(**RT_SIZES[quick])
    tree = Tree(((0, 1), (2, 3)))
    dt = p.cfl_dt()
    tol = RT_TOL * float(np.linalg.norm(p.initial))
    # padded to rank 2 as in validation/tree/bug_radiative_transfer.py: from the rank-one plane
    # source alone the K-steps cannot create the x/angle pair that transport couples
    y0 = TTN.from_dense(p.initial, tree, tol=1e-12).expand(2, rng=0)
    start = time.perf_counter()
    res = bug.integrate(y0, p.operator, T_SETUP, dt, method="adaptive", tol=tol, inner="rk4")
    seconds = time.perf_counter() - start
    y = res.state
    proj = OperatorProjector(p.operator, tree, y)
    a = p.operator.to_sparse()
    v = np.asarray(y.to_dense()).reshape(-1)

    def ours() -> Any:
        return bug.step(y, proj, T_SETUP, dt, method="adaptive", tol=tol, inner="rk4")

    def theirs() -> Any:
        k1 = a @ v
        k2 = a @ (v + 0.5 * dt * k1)
        k3 = a @ (v + 0.5 * dt * k2)
        k4 = a @ (v + dt * k3)
        return v + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    diff = _rel(ours().to_dense(), theirs())
    facts = {
        "dims": list(p.dims),
        "unknowns": int(v.size),
        "tree": "Tree(((0, 1), (2, 3)))",
        "dt": dt,
        "tol": tol,
        "state": f"adaptive BUG (rk4) from TTN.from_dense(p.initial).expand(2) to t={T_SETUP}, {res.steps} steps",
        "state_bond_dims": list(y.bond_dims),
        "setup_seconds": round(seconds, 3),
        "sparse_nnz": int(a.nnz),
        "peer_call": "classical RK4 step: 4 CSR mat-vecs with p.operator.to_sparse()",
    }
    return Contenders(tnkit=ours, peer=theirs, max_rel_diff=diff, details=lambda: dict(facts))


# --------------------------------------------------------------------------------------


def cases(quick: bool) -> list[Case]:
    """NumPy cases; run.py filters and skips."""
    n = SPINS[quick]
    nx = 32 if quick else RT_SIZES[False]["nx"]
    return [
        Case(
            name="bug step, long-range Ising",
            backend="numpy",
            size=n,
            peer="scipy expm_multiply (full 2^n state)",
            prepare=lambda: _prepare_ising_full(n),
        ),
        Case(
            name="bug step, radiative transfer",
            backend="numpy",
            size=nx,
            peer="dense RK4 step (scipy CSR)",
            prepare=lambda: _prepare_radiative(quick),
        ),
        Case(
            name="bug parallel, 2 threads",
            backend="numpy",
            size=n,
            peer="tnkit.tree.bug parallel, no executor",
            prepare=lambda: _prepare_parallel_threads(n),
        ),
        Case(
            name="bug parallel vs adaptive",
            backend="numpy",
            size=n,
            peer="tnkit.tree.bug adaptive step",
            prepare=lambda: _prepare_parallel_vs_adaptive(n),
        ),
    ]
