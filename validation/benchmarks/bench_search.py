"""Structure search (:mod:`tnkit.search`): time to solution and parallel evaluation.

``search tnale vs tnls`` (size = tensor order; peer: TNLS)
    The order-6, size-3 tensor ring with ranks (3, 3, 2, 3, 3, 2) (126 parameters) under
    a hidden mode permutation (seed 100, as in ``validation/search/search_tnale_vs_tnls.py``).
    Both searches start from ranks 3 and the identity permutation, use the same objective,
    neighbourhoods (perm_radius 2) and ALS fits (2 restarts, <= 60 sweeps), run serially,
    and stop at the first structure with <= 126 parameters and RSE <= 1e-4 (budget 2000
    fits). Timed: the whole search. ``details`` hold each search's evaluations.

``search greedy`` (size = tensor order; no peer)
    Greedy rank growth (full graph, pruning on), serially: size 5 is the 7^5 TR target
    with ranks (2, 3, 4, 5, 5) to RSE <= 1e-6; size 6 the order-6 ring above to RSE
    <= 1e-4 (the full graph holds every ring, whatever the permutation). Time and
    evaluations of the whole search; ``details`` say whether it reached the planted size.

``search process pool`` (size = workers; peer: the same search run serially)
    TnALE on the order-6 ring above with a fixed budget of 120 fits (no early stop), with
    ``concurrent.futures.ProcessPoolExecutor(2)`` (created in ``prepare``, so worker
    start-up is not timed) against ``Run(executor="serial")``. Both evaluate the same
    structures; ratio < 1 is a speed-up (``details["speedup"]`` its inverse).

No targets: these ratios are reported, not asserted. Full run:
``python validation/benchmarks/run.py -k search --json results/bench_search.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _cases import Case, Contenders, Skip

FIT = {"n_iter": 60, "tol": 1e-6, "restarts": 2}


def _ring() -> tuple[Any, np.ndarray]:
    try:
        from tnkit.network import Structure, TensorNetwork
    except ImportError as exc:  # pragma: no cover
        raise Skip(f"tnkit.network not importable: {exc}") from None
    rng = np.random.default_rng(100)
    hidden = tuple(int(p) for p in rng.permutation(6))
    s = Structure.tr((3,) * 6, (3, 3, 2, 3, 3, 2), perm=hidden)
    return s, TensorNetwork.random(s, rng=0).to_dense()


def _prepare_tnale_vs_tnls() -> Contenders:
    from tnkit.run import Run
    from tnkit.search import tnale, tnls

    planted, x = _ring()
    p_max = planted.num_params
    counts: dict[str, Any] = {}

    def hit(e: Any) -> bool:
        return e.params <= p_max and e.rse <= 1e-4

    def make(name: str, fn: Any, extra: dict[str, Any]) -> Any:
        def call() -> Any:
            res = fn(
                x,
                init_ranks=(3,) * 6,
                perm_radius=2,
                max_evals=2000,
                stop_when=hit,
                run=Run(executor="serial"),
                seed=0,
                fit_options=FIT,
                **extra,
            )
            counts[name] = res.first(hit) or f">{res.num_evaluations}"
            return res

        return call

    # TnALE restarts from a random permutation when it converges, within the same budget

    def details() -> dict[str, Any]:
        return {
            "evaluations_tnale": counts.get("tnale"),
            "evaluations_tnls": counts.get("tnls"),
            "planted": repr(planted),
        }

    return Contenders(
        tnkit=make("tnale", tnale, {"restarts": 20}),
        peer=make("tnls", tnls, {"n_iter": 10_000, "patience": 10_000}),
        details=details,
    )


def _prepare_greedy(order: int) -> Contenders:
    from tnkit.network import Structure, TensorNetwork
    from tnkit.run import Run
    from tnkit.search import greedy

    if order == 5:
        planted = Structure.tr((7,) * 5, (2, 3, 4, 5, 5))
        x = TensorNetwork.random(planted, rng=1000).to_dense()
        tol = 1e-6
    else:
        planted, x = _ring()
        tol = 1e-4
    out: dict[str, Any] = {}

    def call() -> Any:
        res = greedy(x, tol=tol, run=Run(executor="serial"), seed=0)
        out.update(
            evaluations=res.num_evaluations,
            params=res.best.params,
            rse=res.best.rse,
            planted_params=planted.num_params,
            reached=bool(res.best.rse <= tol and res.best.params <= planted.num_params),
        )
        return res

    return Contenders(tnkit=call, peer=None, details=lambda: dict(out))


def _prepare_pool() -> Contenders:
    from concurrent.futures import ProcessPoolExecutor

    from tnkit.run import Run
    from tnkit.search import tnale

    _, x = _ring()
    pool = ProcessPoolExecutor(2)
    pool.submit(int, 0).result()  # start the workers outside the timing
    runs: dict[str, Any] = {}

    def make(name: str, executor: Any) -> Any:
        def call() -> Any:
            res = tnale(
                x,
                init_ranks=(3,) * 6,
                perm_radius=2,
                max_evals=120,
                run=Run(executor=executor),
                seed=0,
                fit_options=FIT,
            )
            runs[name] = res
            return res

        return call

    def diff() -> float | None:
        if "pool" not in runs or "serial" not in runs:
            return None
        a = [e.rse for e in runs["pool"].evaluations]
        b = [e.rse for e in runs["serial"].evaluations]
        if len(a) != len(b):
            return float("inf")
        return float(max(abs(u - v) for u, v in zip(a, b)))

    return Contenders(
        tnkit=make("pool", pool),
        peer=make("serial", "serial"),
        max_rel_diff=diff,
        details=lambda: {"workers": 2, "fits": 120},
    )


def cases(quick: bool) -> list[Case]:
    slow = (0, 0.0, 1, 1)
    out = [
        Case("search tnale vs tnls", "numpy", 6, "tnls", _prepare_tnale_vs_tnls, effort=slow),
        Case("search process pool", "numpy", 2, "serial", _prepare_pool, effort=(0, 0.0, 1, 3)),
    ]
    if not quick:
        out += [Case("search greedy", "numpy", n, None, lambda n=n: _prepare_greedy(n), effort=slow) for n in (5, 6)]
    return out
