"""Greedy rank growth [HLMR]_: start from the fully connected network with all ranks one
and repeatedly grow the edge whose increment lowers the error most per added parameter,
refitting from the previous cores each time.

References
----------
.. [HLMR] M. Hashemizadeh, M. Liu, J. Miller and G. Rabusseau, "Adaptive learning of
   tensor network structures", arXiv:2008.05437 (2020).
"""

from __future__ import annotations

import math
import numbers
import time
from pathlib import Path
from typing import Any

import numpy as np

from tnkit import backend, io
from tnkit.checks import is_int
from tnkit.network import (
    Structure,
    TensorNetwork,
)
from tnkit.search.engine import _check_common, _progress, _Runner, _seed, _warm_task
from tnkit.search.objective import Objective, _as_objective, _loss
from tnkit.search.records import Evaluation, SearchResult, _save_record, load_record

__all__ = ["greedy"]


# --------------------------------------------------------------------------------------
# Greedy rank growth


def _greedy_start(start: Any, shape: tuple[int, ...], internal: int, fname: str) -> Structure:
    if not is_int(internal) or internal < 0:
        raise ValueError(f"{fname}: internal must be an int >= 0, got {internal!r}")
    if isinstance(start, Structure):
        if start.shape != shape:
            raise ValueError(f"{fname}: start shape {start.shape} differs from the target's {shape}")
        return start
    if start == "full":
        return Structure.full(shape, 1, internal=internal)
    if start == "star":
        return Structure.tucker(shape, (1,) * len(shape))
    raise ValueError(f"{fname}: start must be 'full', 'star' or a Structure, got {start!r}")


def greedy(
    target: Any,
    *,
    tol: float = 1e-6,
    max_params: int | None = None,
    max_steps: int = 100,
    rank_step: int = 1,
    internal: int = 0,
    start: Any = "full",
    prune: bool = True,
    score: str = "per_param",
    holdout: Any = None,
    patience: int = 3,
    candidate_sweeps: int = 10,
    sweeps: int = 200,
    refits: int = 2,
    noise: float = 1e-2,
    objective: Any = None,
    fit_options: dict[str, Any] | None = None,
    executor: Any = None,
    workers: int | None = None,
    record: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = False,
    seed: int = 0,
) -> SearchResult:
    """Greedy rank growth on the fully connected network [HLMR]_.

    Start from the network of ``d`` cores (plus ``internal`` cores without a physical
    leg, e.g. one for Tucker-like hubs) joined pairwise by rank-1 edges, fitted by ALS.
    Each step grows every edge in turn by ``rank_step`` (the new slices start small, the
    old cores are kept), fits every candidate for ``candidate_sweeps`` ALS sweeps from
    there, and keeps the edge with the largest drop in squared error per added parameter;
    the winner is then fitted for up to ``sweeps`` sweeps. Stops when the relative error
    reaches ``tol``, the next step would exceed ``max_params``, after ``max_steps``, or
    when no candidate lowers the error — single-edge growth first, then (fitted warm and
    from fresh starts) growth of two edges of one core at once, which is how a hub such as
    Tucker's core starts to pay. Drops in squared error below ``1e-8`` of the current
    one count as fitting noise.

    Parameters
    ----------
    target : array
        Real, finite tensor with at least two modes.
    tol : float
        Relative error to reach.
    max_params : int, optional
        Parameter budget.
    max_steps : int
        Most growth steps.
    rank_step : int
        Rank increment of a step.
    internal : int
        Extra cores without physical legs in the fully connected start.
    start : "full", "star" or Structure
        The graph whose edges may grow: every pair of cores (``"full"``), a star around
        one internal hub (``"star"``: Tucker with ranks one), or the edges of a given
        structure, starting from its ranks. A single edge of a hub gains nothing on its
        own, so hub structures such as Tucker are only found from a hub template.
    prune : bool
        Once ``tol`` is reached, try every lower rank (in steps of ``rank_step``) of every
        edge — bond SVD truncation, then a warm refit and ``refits`` fresh ones — and keep
        the most compact candidate within ``tol``; repeat until none is. This undoes
        growth steps that later ones made redundant (a loop edge grown past its true rank
        is cut back in one step: fits of an over-parameterised loop converge slowly, fits
        at the true rank quickly).
    score : {"per_param", "error"}
        Rank candidates by the drop in squared error per added parameter, or by the
        error alone.
    holdout : boolean array, optional
        Held-out entries for early stopping (tensor completion): after every step the
        chosen network's relative error on them is measured; the search stops after
        ``patience`` steps without improvement and returns the network that was best
        there. Fit the rest with ``fit_options={"mask": observed}``.
    patience : int
        Steps without holdout improvement before stopping.
    candidate_sweeps, sweeps : int
        ALS sweeps for candidates and for the chosen network.
    refits : int
        When the warm-started fit of the chosen structure misses ``tol``, it is also
        fitted from this many fresh random starts (the first by ALS with ``anneal=50``,
        see :func:`tnkit.network.fit`, the others plain); the lowest error wins. ALS on
        graphs with loops can stall far from the exact solution from a warm start while
        a fresh one reaches it, so this keeps a correct structure from being grown past.
        Pruning candidates get half as many (rounded up).
    noise : float
        Relative size of the new slices.
    objective : Objective, str or callable, optional
        Only used to fill :attr:`Evaluation.loss` (default: the constraint objective
        with ``eps = tol``).
    fit_options : dict, optional
        Extra options for :func:`tnkit.network.fit` (e.g. ``{"mask": observed}`` for
        completion; the error and ``tol`` then refer to the observed entries).
    executor, workers, record, resume, progress, seed
        As in :func:`tnls`; ``resume`` restarts from the network stored in the record.

    Returns
    -------
    SearchResult
        ``best`` and ``network`` are the final structure and its cores.

    Examples
    --------
    >>> import numpy as np
    >>> from tnkit.network import TensorNetwork
    >>> planted = Structure.tt((4, 4, 4), (2, 3))
    >>> x = TensorNetwork.random(planted, rng=0).to_dense()
    >>> res = greedy(x, tol=1e-8, executor="serial")
    >>> res.best.rse < 1e-8, res.best.params <= planted.num_params
    (True, True)
    """
    fname = "greedy"
    xp, host = _check_common(target, fname, None)
    for name, v in (("tol", tol), ("noise", noise)):
        if not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{fname}: {name} must be a finite number >= 0, got {v!r}")
    for name, v in (
        ("max_steps", max_steps),
        ("rank_step", rank_step),
        ("candidate_sweeps", candidate_sweeps),
        ("sweeps", sweeps),
    ):
        if not is_int(v) or v < 1:
            raise ValueError(f"{fname}: {name} must be an int >= 1, got {v!r}")
    if not is_int(refits) or refits < 0:
        raise ValueError(f"{fname}: refits must be an int >= 0, got {refits!r}")
    if max_params is not None and (not is_int(max_params) or max_params < 1):
        raise ValueError(f"{fname}: max_params must be an int >= 1 or None, got {max_params!r}")
    hold = None
    if holdout is not None:
        hold = backend.to_host(holdout).astype(bool)
        if hold.shape != tuple(host.shape) or not hold.any():
            raise ValueError(f"{fname}: holdout must be a boolean array of the target's shape with an entry set")
    if not is_int(patience) or patience < 1:
        raise ValueError(f"{fname}: patience must be an int >= 1, got {patience!r}")
    if score not in ("per_param", "error"):
        raise ValueError(f"{fname}: score must be 'per_param' or 'error', got {score!r}")
    obj = _as_objective(objective if objective is not None else Objective("constraint", eps=max(tol, 1e-300)), fname)
    opts = dict(fit_options or {})
    bad = set(opts) - {"ridge", "mask", "tol"}
    if bad:
        raise ValueError(f"{fname}: unsupported fit option(s) {sorted(bad)} (greedy fits by warm-started ALS)")
    mask = opts.get("mask")
    if mask is not None:
        opts["mask"] = backend.to_host(mask).astype(bool)
    opts.setdefault("tol", 1e-10)
    shape = tuple(int(n) for n in host.shape)
    gen = np.random.default_rng(seed)
    runner = _Runner(executor, workers, fname)
    bar = _progress(progress, None, fname)
    evals: list[Evaluation] = []
    t0 = time.perf_counter()

    def add(s: Structure, rse: float, sec: float, step: int) -> Evaluation:
        e = Evaluation(len(evals), s, rse, _loss(obj, s, rse, fname), sec, step)
        evals.append(e)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(rse=f"{rse:.3g}", params=s.num_params)
        return e

    def save(net: TensorNetwork, step: int) -> None:
        if record is None:
            return
        extra = {
            "state": {
                "ranks": np.asarray(net.structure.ranks),
                "perm": np.asarray(net.structure.perm),
                "step": step,
                "rse": current.rse,
                "cores": {str(k): backend.to_host(c) for k, c in enumerate(net.cores)},
            }
        }
        _save_record(record, evals, fname, extra)

    def settle(nets: list[TensorNetwork], fresh: int, salt: int) -> list[tuple[float, float, list[np.ndarray]]]:
        """Fit each network warm; those that miss ``tol`` also from ``fresh`` random starts
        (in one batch). Per network: the best (rse, summed seconds, cores)."""
        o = {**opts, "n_iter": sweeps, "restarts": 1, "rse_tol": tol}
        bases = [_seed(seed, c.structure) + salt for c in nets]
        out = [[r] for r in runner.run([_warm_task(c, host, o, b, True) for c, b in zip(nets, bases)])]
        redo = [k for k, r in enumerate(out) if r[0][0] > tol]
        tasks = [
            (
                nets[k].structure.to_dict(),
                host,
                None,
                {**o, "anneal": 50 if m == 0 else 0},
                bases[k] + 10 * (m + 1),
                True,
            )
            for k in redo
            for m in range(fresh)
        ]
        for n, r in enumerate(runner.run(tasks) if tasks else []):
            out[redo[n // fresh]].append(r)
        best = [min(rs, key=lambda t: t[0]) for rs in out]
        return [(b[0], sum(t[1] for t in rs), b[2]) for b, rs in zip(best, out)]

    floor = 1e-8  # squared-error drops below this fraction are fitting noise, not gains

    def pick(cands: list[TensorNetwork], results: list, step: int) -> tuple[int, Evaluation] | None:
        """Record the candidates; the best by ``score`` among those whose squared error
        drops by more than ``floor`` of the current one (None if none does)."""
        best = None
        for k, (c, (rse, sec, _)) in enumerate(zip(cands, results)):
            e = add(c.structure, rse, sec, step)
            drop = current.rse**2 - rse**2
            gain = drop / (c.num_params - net.num_params) if score == "per_param" else drop
            if drop > floor * current.rse**2 and (best is None or gain > best[0]):
                best = (gain, k, e)
        return None if best is None else best[1:]

    def pair_moves(s: Structure) -> list[TensorNetwork]:
        out = []
        for v in range(s.num_nodes):
            inc = [(i, j, r) for i, j, r in s.edges if v in (i, j)]
            for a in range(len(inc)):
                for b in range(a + 1, len(inc)):
                    (i1, j1, r1), (i2, j2, r2) = inc[a], inc[b]
                    new = s.with_rank(i1, j1, r1 + rank_step).with_rank(i2, j2, r2 + rank_step)
                    if max_params is None or new.num_params <= max_params:
                        out.append(
                            net.expand_edge(i1, j1, r1 + rank_step, noise=noise, rng=gen).expand_edge(
                                i2, j2, r2 + rank_step, noise=noise, rng=gen
                            )
                        )
        return out

    try:
        start_step = 0
        if resume is not None:
            method, old, extra = load_record(resume)
            if method != fname or "state" not in extra:
                raise io.DataError(f"{resume}: not a greedy search record")
            st = extra["state"]
            s0 = Structure(shape, np.asarray(st["ranks"]), tuple(int(p) for p in np.asarray(st["perm"])))
            net = TensorNetwork(s0, [np.asarray(st["cores"][str(k)]) for k in range(s0.num_nodes)])
            evals.extend(old)
            start_step = int(st["step"])
            current = next((e for e in reversed(evals) if e.structure == s0), None)
            if current is None:
                raise io.DataError(f"{resume}: the stored network is not among the recorded evaluations")
        else:
            s0 = _greedy_start(start, shape, internal, fname)
            if max_params is not None and s0.num_params > max_params:
                raise ValueError(
                    f"{fname}: the start structure already has {s0.num_params} parameters > max_params={max_params}"
                )
            rse, sec, cores = runner.run(
                [(s0.to_dict(), host, None, {**opts, "n_iter": sweeps, "restarts": 2}, _seed(seed, s0), True)]
            )[0]
            net = TensorNetwork(s0, cores)
            current = add(s0, rse, sec, 0)
            save(net, 0)
        kept = [math.inf, net, current, 0]  # holdout error, network, evaluation, steps since it improved

        def watch(net: TensorNetwork, e: Evaluation) -> bool:
            """Track the holdout error; True when patience has run out."""
            if hold is None:
                return False
            err = float(np.linalg.norm((net.to_dense() - host)[hold]) / np.linalg.norm(host[hold]))
            if err < kept[0]:
                kept[:] = [err, net, e, 0]
            else:
                kept[3] += 1
            return kept[3] >= patience

        watch(net, current)
        stopped = "max_steps"
        last = start_step
        for step in range(start_step + 1, max_steps + 1):
            if current.rse <= tol:
                stopped = "converged"
                break
            s = net.structure
            cands = []
            for i, j, r in s.edges:
                new = s.with_rank(i, j, r + rank_step)
                if max_params is not None and new.num_params > max_params:
                    continue
                grown = net.expand_edge(i, j, r + rank_step, noise=noise, rng=gen)
                cands.append(grown)
            if not cands:
                stopped = "max_params"
                break
            results = runner.run(
                [
                    _warm_task(
                        c, host, {**opts, "n_iter": candidate_sweeps, "restarts": 1}, _seed(seed, c.structure), False
                    )
                    for c in cands
                ]
            )
            found = pick(cands, results, step)
            if found is not None:
                chosen = cands[found[0]]
                rse, sec, cores = settle([chosen], refits, 1)[0]
                net = TensorNetwork(chosen.structure, cores)
                current = add(chosen.structure, rse, sec, step)
            else:
                # No single edge helps (an edge of a hub whose other edges have rank one
                # adds nothing, and a warm start can sit on the saddle): grow two edges
                # of one core at once, fitted warm and from fresh starts.
                cands = pair_moves(s)
                results = settle(cands, refits, 3)
                found = pick(cands, results, step)
                if found is None:
                    stopped = "no_improvement"
                    break
                k, current = found
                net = TensorNetwork(cands[k].structure, results[k][2])
            last = step
            save(net, step)
            if watch(net, current):
                stopped = "holdout"
                break
        else:
            if current.rse <= tol:
                stopped = "converged"
        if hold is not None:
            _, net, current, _ = kept
        if prune and hold is None and current.rse <= tol:
            step = last + 1
            while True:
                cands = [
                    net.truncate_edge(i, j, q)
                    for i, j, r in net.structure.edges
                    for q in range(r - rank_step, 0, -rank_step)
                ]
                if not cands:
                    break
                results = settle(cands, (refits + 1) // 2, 2)
                ok = []
                for c, (rse, sec, cores) in zip(cands, results):
                    e = add(c.structure, rse, sec, step)
                    if rse <= tol:
                        ok.append((c.num_params, e.index, e, cores))
                if not ok:
                    break
                _, _, current, cores = min(ok, key=lambda t: (t[0], t[1]))
                net = TensorNetwork(current.structure, cores)
                last = step
                save(net, step)
                step += 1
        save(net, last)
        out_net = TensorNetwork(net.structure, [backend.asarray_like(c, target) for c in net.cores])
        return SearchResult(current, out_net, evals, fname, stopped, time.perf_counter() - t0)
    finally:
        if bar is not None:
            bar.close()
        runner.close()
