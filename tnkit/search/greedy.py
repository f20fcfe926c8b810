"""Greedy rank growth [HLMR]_: start from the fully connected network with all ranks one
and repeatedly grow the edge whose increment lowers the error most per added parameter,
refitting from the previous cores each time.

References
----------
.. [HLMR] M. Hashemizadeh, M. Liu, J. Miller and G. Rabusseau, "Adaptive learning of
   tensor network structures", arXiv:2008.05437 (2020).
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import time
from typing import Any

import numpy as np

from tnkit import backend, io
from tnkit.checks import is_int
from tnkit.network import Structure, TensorNetwork
from tnkit.run import Run, as_run
from tnkit.search.engine import _check_common, _Runner, _seed, _warm_task
from tnkit.search.objective import Objective, _as_objective, _loss
from tnkit.search.records import Evaluation, SearchResult, _save_record, load_record

__all__ = ["greedy"]

# Squared-error drops below this fraction of the current one are fitting noise, not gains.
_NOISE_FLOOR = 1e-8


@dataclasses.dataclass(frozen=True)
class _Settings:
    """The checked knobs of one greedy search (see :func:`greedy` for their meaning)."""

    tol: float
    max_params: int | None
    max_steps: int
    rank_step: int
    score: str
    candidate_sweeps: int
    sweeps: int
    refits: int
    noise: float
    seed: int
    fit: dict[str, Any]  # options for tnkit.network.fit shared by every fit

    def affordable(self, s: Structure) -> bool:
        return self.max_params is None or s.num_params <= self.max_params


@dataclasses.dataclass
class _Holdout:
    """Early stopping on held-out entries: the network that was best there, and how many
    steps ago it was found."""

    mask: np.ndarray
    patience: int
    error: float = math.inf
    net: TensorNetwork | None = None
    evaluation: Evaluation | None = None
    stale: int = 0

    def exhausted(self, host: np.ndarray, net: TensorNetwork, e: Evaluation) -> bool:
        """Track the holdout error of ``net``; True when patience has run out."""
        err = float(np.linalg.norm((net.to_dense() - host)[self.mask]) / np.linalg.norm(host[self.mask]))
        if err < self.error:
            self.error, self.net, self.evaluation, self.stale = err, net, e, 0
        else:
            self.stale += 1
        return self.stale >= self.patience


class _GreedySearch:
    """The state of one greedy search: the current network and its evaluation, every
    evaluation so far, the random slices' generator, and where fits run."""

    fname = "greedy"

    def __init__(self, host: np.ndarray, settings: _Settings, objective: Any, run: Run) -> None:
        self.host, self.cfg, self.objective = host, settings, objective
        self.record = run.checkpoint
        self.gen = np.random.default_rng(settings.seed)
        self.evals: list[Evaluation] = []
        self._net: TensorNetwork | None = None
        self._current: Evaluation | None = None
        # Why a resumed record's search had stopped (None: it was saved mid-search).
        self.stopped: str | None = None
        self.runner = _Runner(run.executor, self.fname)
        self.bar = run.bar(None, self.fname, unit="fit")

    @property
    def net(self) -> TensorNetwork:
        """The current network (set by :meth:`begin` or :meth:`resume`)."""
        if self._net is None:
            raise RuntimeError("greedy: no network yet; begin or resume first")
        return self._net

    @net.setter
    def net(self, value: TensorNetwork) -> None:
        self._net = value

    @property
    def current(self) -> Evaluation:
        """The evaluation of the current network."""
        if self._current is None:
            raise RuntimeError("greedy: no evaluation yet; begin or resume first")
        return self._current

    @current.setter
    def current(self, value: Evaluation) -> None:
        self._current = value

    def __enter__(self) -> _GreedySearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
        self.runner.close()

    # ------------------------------------------------------------------ bookkeeping

    def add(self, s: Structure, rse: float, sec: float, step: int) -> Evaluation:
        e = Evaluation(len(self.evals), s, rse, _loss(self.objective, s, rse, self.fname), sec, step)
        self.evals.append(e)
        self.bar.update(1)
        self.bar.set_postfix(rse=f"{rse:.3g}", params=s.num_params)
        return e

    def save(self, step: int, stopped: str = "") -> None:
        """Rewrite the record with the evaluations, the current network, the new slices'
        generator (a resumed search draws what the uninterrupted one would) and, once the
        search has ended, why it stopped."""
        if self.record is None:
            return
        net = self.net
        state = {
            "ranks": np.asarray(net.structure.ranks),
            "perm": np.asarray(net.structure.perm),
            "step": step,
            "rse": self.current.rse,
            "cores": {str(k): backend.to_host(c) for k, c in enumerate(net.cores)},
            "rng": json.dumps(self.gen.bit_generator.state),
            "stopped": stopped,
        }
        _save_record(self.record, self.evals, self.fname, {"state": state})

    # ------------------------------------------------------------------ start

    def begin(self, s0: Structure) -> int:
        """Fit the start structure; the step to continue from (0)."""
        if not self.cfg.affordable(s0):
            raise ValueError(
                f"{self.fname}: the start structure already has {s0.num_params} parameters "
                f"> max_params={self.cfg.max_params}"
            )
        task = (s0.to_dict(), self.host, None, {**self.cfg.fit, "n_iter": self.cfg.sweeps, "restarts": 2})
        rse, sec, cores = self.runner.run([(*task, _seed(self.cfg.seed, s0), True)])[0]
        self.net = TensorNetwork(s0, cores)
        self.current = self.add(s0, rse, sec, 0)
        self.save(0)
        return 0

    def resume(self, path: Any) -> int:
        """Continue from the network stored in a record; the step it was saved at."""
        method, old, extra = load_record(path)
        if method != self.fname or "state" not in extra:
            raise io.DataError(f"{path}: not a greedy search record")
        st = extra["state"]
        shape = tuple(int(n) for n in self.host.shape)
        s0 = Structure(shape, np.asarray(st["ranks"]), tuple(int(p) for p in np.asarray(st["perm"])))
        self.net = TensorNetwork(s0, [np.asarray(st["cores"][str(k)]) for k in range(s0.num_nodes)])
        self.evals.extend(old)
        stored = next((e for e in reversed(self.evals) if e.structure == s0), None)
        if stored is None:
            raise io.DataError(f"{path}: the stored network is not among the recorded evaluations")
        self.current = stored
        if "rng" in st:  # records of older tnkit start the generator afresh
            self.gen.bit_generator.state = json.loads(str(st["rng"]))
        self.stopped = str(st.get("stopped", "")) or None
        return int(st["step"])

    def still_stopped(self, step: int) -> bool:
        """Whether the search of a finished record, resumed at ``step``, stops there again
        (growing on would repeat its last, failed, round); False when the settings now
        allow more (a larger ``max_steps``, budget, or a smaller ``tol``)."""
        if self.stopped == "converged":
            return self.current.rse <= self.cfg.tol
        if self.stopped == "max_steps":
            return step >= self.cfg.max_steps
        if self.stopped == "max_params":
            s = self.net.structure
            return not any(self.cfg.affordable(s.with_rank(i, j, r + self.cfg.rank_step)) for i, j, r in s.edges)
        return self.stopped is not None

    # ------------------------------------------------------------------ fits

    def settle(self, nets: list[TensorNetwork], fresh: int, salt: int) -> list[tuple[float, float, list[np.ndarray]]]:
        """Fit each network warm; those that miss ``tol`` also from ``fresh`` random starts
        (in one batch). Per network: the best (rse, summed seconds, cores)."""
        cfg = self.cfg
        o = {**cfg.fit, "n_iter": cfg.sweeps, "restarts": 1, "rse_tol": cfg.tol}
        bases = [_seed(cfg.seed, c.structure) + salt for c in nets]
        out = [[r] for r in self.runner.run([_warm_task(c, self.host, o, b, True) for c, b in zip(nets, bases)])]
        redo = [k for k, r in enumerate(out) if r[0][0] > cfg.tol]
        tasks = [
            (
                nets[k].structure.to_dict(),
                self.host,
                None,
                {**o, "anneal": 50 if m == 0 else 0},
                bases[k] + 10 * (m + 1),
                True,
            )
            for k in redo
            for m in range(fresh)
        ]
        for n, r in enumerate(self.runner.run(tasks) if tasks else []):
            out[redo[n // fresh]].append(r)
        best = [min(rs, key=lambda t: t[0]) for rs in out]
        return [(b[0], sum(t[1] for t in rs), b[2]) for b, rs in zip(best, out)]

    def pick(self, cands: list[TensorNetwork], results: list, step: int) -> tuple[int, Evaluation] | None:
        """Record the candidates; the best by ``score`` among those whose squared error
        drops by more than the noise floor (None if none does)."""
        best = None
        cur = self.current.rse
        for k, (c, (rse, sec, _)) in enumerate(zip(cands, results)):
            e = self.add(c.structure, rse, sec, step)
            drop = cur**2 - rse**2
            gain = drop / (c.num_params - self.net.num_params) if self.cfg.score == "per_param" else drop
            if drop > _NOISE_FLOOR * cur**2 and (best is None or gain > best[0]):
                best = (gain, k, e)
        return None if best is None else best[1:]

    # ------------------------------------------------------------------ moves

    def single_moves(self) -> list[TensorNetwork]:
        """The network with one edge grown by ``rank_step``, for every affordable edge."""
        s, step = self.net.structure, self.cfg.rank_step
        return [
            self.net.expand_edge(i, j, r + step, noise=self.cfg.noise, rng=self.gen)
            for i, j, r in s.edges
            if self.cfg.affordable(s.with_rank(i, j, r + step))
        ]

    def pair_moves(self) -> list[TensorNetwork]:
        """The network with two edges of one core grown at once."""
        s, step, noise = self.net.structure, self.cfg.rank_step, self.cfg.noise
        out = []
        for v in range(s.num_nodes):
            inc = [(i, j, r) for i, j, r in s.edges if v in (i, j)]
            for a in range(len(inc)):
                for b in range(a + 1, len(inc)):
                    (i1, j1, r1), (i2, j2, r2) = inc[a], inc[b]
                    if self.cfg.affordable(s.with_rank(i1, j1, r1 + step).with_rank(i2, j2, r2 + step)):
                        grown = self.net.expand_edge(i1, j1, r1 + step, noise=noise, rng=self.gen)
                        out.append(grown.expand_edge(i2, j2, r2 + step, noise=noise, rng=self.gen))
        return out

    def grow_once(self, step: int, cands: list[TensorNetwork]) -> bool:
        """One growth step: the best of the single-edge moves ``cands``, else the best pair
        move. False when no candidate lowers the error."""
        cfg = self.cfg
        opts = {**cfg.fit, "n_iter": cfg.candidate_sweeps, "restarts": 1}
        results = self.runner.run([_warm_task(c, self.host, opts, _seed(cfg.seed, c.structure), False) for c in cands])
        found = self.pick(cands, results, step)
        if found is not None:
            chosen = cands[found[0]]
            rse, sec, cores = self.settle([chosen], cfg.refits, 1)[0]
            self.net = TensorNetwork(chosen.structure, cores)
            self.current = self.add(chosen.structure, rse, sec, step)
            return True
        # No single edge helps (an edge of a hub whose other edges have rank one adds
        # nothing, and a warm start can sit on the saddle): grow two edges of one core at
        # once, fitted warm and from fresh starts.
        cands = self.pair_moves()
        results = self.settle(cands, cfg.refits, 3)
        found = self.pick(cands, results, step)
        if found is None:
            return False
        k, self.current = found
        self.net = TensorNetwork(cands[k].structure, results[k][2])
        return True

    def grow(self, start_step: int, holdout: _Holdout | None) -> tuple[str, int]:
        """Grow until ``tol``, the budget, ``max_steps``, no improvement or the holdout
        stops it; the reason and the last step taken."""
        if holdout is not None:
            holdout.exhausted(self.host, self.net, self.current)
        last = start_step
        for step in range(start_step + 1, self.cfg.max_steps + 1):
            if self.current.rse <= self.cfg.tol:
                return "converged", last
            cands = self.single_moves()
            if not cands:
                return "max_params", last
            if not self.grow_once(step, cands):
                return "no_improvement", last
            last = step
            self.save(step)
            if holdout is not None and holdout.exhausted(self.host, self.net, self.current):
                return "holdout", last
        return ("converged" if self.current.rse <= self.cfg.tol else "max_steps"), last

    def prune(self, last: int) -> int:
        """Cut every edge back to the lowest rank that still fits within ``tol``, until no
        cut does; the last step taken."""
        cfg, step = self.cfg, last + 1
        while True:
            cands = [
                self.net.truncate_edge(i, j, q)
                for i, j, r in self.net.structure.edges
                for q in range(r - cfg.rank_step, 0, -cfg.rank_step)
            ]
            if not cands:
                return last
            ok = []
            for c, (rse, sec, cores) in zip(cands, self.settle(cands, (cfg.refits + 1) // 2, 2)):
                e = self.add(c.structure, rse, sec, step)
                if rse <= cfg.tol:
                    ok.append((c.num_params, e.index, e, cores))
            if not ok:
                return last
            _, _, self.current, cores = min(ok, key=lambda t: (t[0], t[1]))
            self.net = TensorNetwork(self.current.structure, cores)
            last = step
            self.save(step)
            step += 1


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


def _check_settings(fname: str, numbers_: dict[str, Any], counts: dict[str, Any], score: str) -> None:
    for name, v in numbers_.items():
        if not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{fname}: {name} must be a finite number >= 0, got {v!r}")
    for name, (v, low) in counts.items():
        if not is_int(v) or v < low:
            raise ValueError(f"{fname}: {name} must be an int >= {low}, got {v!r}")
    if score not in ("per_param", "error"):
        raise ValueError(f"{fname}: score must be 'per_param' or 'error', got {score!r}")


def _fit_settings(fname: str, fit_options: dict[str, Any] | None) -> dict[str, Any]:
    opts = dict(fit_options or {})
    bad = set(opts) - {"ridge", "mask", "tol"}
    if bad:
        raise ValueError(f"{fname}: unsupported fit option(s) {sorted(bad)} (greedy fits by warm-started ALS)")
    if opts.get("mask") is not None:
        opts["mask"] = backend.to_host(opts["mask"]).astype(bool)
    opts.setdefault("tol", 1e-10)
    return opts


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
    seed: int = 0,
    run: Run | None = None,
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
    seed : int
        Seeds the new slices and every fit.
    run : tnkit.Run, optional
        As in :func:`tnls`: ``executor``, ``checkpoint`` (the record, rewritten after
        every step with the current network), ``resume=True`` (restart from the network
        stored in the record: the same settings give the uninterrupted search's result
        exactly, except that a ``holdout``'s patience count restarts; a finished record is
        returned as it is unless a larger ``max_steps`` or ``max_params`` or a smaller
        ``tol`` lets it go on), ``progress``.

    Returns
    -------
    SearchResult
        ``best`` and ``network`` are the final structure and its cores.

    References
    ----------
    .. [HLMR] M. Hashemizadeh, M. Liu, J. Miller and G. Rabusseau, "Adaptive learning of
       tensor network structures", arXiv:2008.05437 (2020).

    Examples
    --------
    >>> import numpy as np
    >>> from tnkit.network import TensorNetwork
    >>> planted = Structure.tt((4, 4, 4), (2, 3))
    >>> x = TensorNetwork.random(planted, rng=0).to_dense()
    >>> res = greedy(x, tol=1e-8, run=Run(executor="serial"))
    >>> res.best.rse < 1e-8, res.best.params <= planted.num_params
    (True, True)
    """
    fname = "greedy"
    run = as_run(run)
    xp, host = _check_common(target, fname, None)
    counts = {"max_steps": (max_steps, 1), "rank_step": (rank_step, 1), "candidate_sweeps": (candidate_sweeps, 1)}
    counts.update({"sweeps": (sweeps, 1), "refits": (refits, 0)})
    _check_settings(fname, {"tol": tol, "noise": noise}, counts, score)
    if max_params is not None and (not is_int(max_params) or max_params < 1):
        raise ValueError(f"{fname}: max_params must be an int >= 1 or None, got {max_params!r}")
    hold = None
    if holdout is not None:
        mask = backend.to_host(holdout).astype(bool)
        if mask.shape != tuple(host.shape) or not mask.any():
            raise ValueError(f"{fname}: holdout must be a boolean array of the target's shape with an entry set")
        hold = _Holdout(mask, patience)
    if not is_int(patience) or patience < 1:
        raise ValueError(f"{fname}: patience must be an int >= 1, got {patience!r}")
    obj = _as_objective(objective if objective is not None else Objective("constraint", eps=max(tol, 1e-300)), fname)
    cfg = _Settings(
        tol,
        max_params,
        max_steps,
        rank_step,
        score,
        candidate_sweeps,
        sweeps,
        refits,
        noise,
        seed,
        _fit_settings(fname, fit_options),
    )
    t0 = time.perf_counter()
    with _GreedySearch(host, cfg, obj, run) as search:
        resume = run.resume_from()
        if resume is not None:
            start_step = search.resume(resume)
        else:
            start_step = search.begin(_greedy_start(start, tuple(int(n) for n in host.shape), internal, fname))
        if search.stopped is not None and search.still_stopped(start_step):
            stopped, last = search.stopped, start_step  # a finished search: nothing to redo
        else:
            stopped, last = search.grow(start_step, hold)
            if hold is not None and hold.net is not None and hold.evaluation is not None:
                search.net, search.current = hold.net, hold.evaluation
            if prune and hold is None and search.current.rse <= tol:
                last = search.prune(last)
        search.save(last, stopped)
        net = TensorNetwork(search.net.structure, [backend.asarray_like(c, target) for c in search.net.cores])
        return SearchResult(search.current, net, search.evals, fname, stopped, time.perf_counter() - t0)
