"""Tensor-network structure search: which network fits a tensor with the fewest parameters?

Three searches over :class:`tnkit.network.Structure` graphs:

* :func:`greedy` — start from the fully connected network with all ranks one and
  repeatedly grow the edge whose increment lowers the error most per added parameter,
  refitting from the previous cores each time [HLMR]_;
* :func:`tnls` — local sampling: draw structures (ranks and mode permutation) around the
  current centre, move to the best one when it improves the objective [TNLS]_;
* :func:`tnale` — alternating local enumeration: update one structure variable at a time
  (one edge rank, or the permutation) by enumerating its neighbourhood with the rest
  fixed, shrinking the radius once a round brings no improvement [TnALE]_.

Every evaluated structure is recorded (:class:`Evaluation`: structure, parameters,
relative error, loss, fit time). Candidates are fitted through any
:class:`concurrent.futures.Executor` — a process pool by default, ``"serial"`` in the
calling process, or anything with ``submit`` returning futures with ``result()``
(a ``dask.distributed.Client`` works unchanged). With ``record=path`` the record is
written to HDF5 (atomically) after every batch, and ``resume=path`` continues a search
from it: TNLS and TnALE replay their seeded path using the recorded fits instead of
refitting, greedy restarts from its stored network.

The objective of TNLS/TnALE is an :class:`Objective`: parameters per tensor entry plus
``lam`` times the relative error (RSE = ``||X - target||_F / ||target||_F``, the papers'
name), or the
fewest parameters subject to RSE <= ``eps``; any callable ``f(structure, rse)`` works.

References
----------
.. [HLMR] M. Hashemizadeh, M. Liu, J. Miller and G. Rabusseau, "Adaptive learning of
   tensor network structures", arXiv:2008.05437 (2020).
.. [TNLS] C. Li, J. Zeng, Z. Tao and Q. Zhao, "Permutation search of tensor network
   structures via local sampling", ICML 2022.
.. [TnALE] C. Li, J. Zeng, C. Li, C. Caiafa and Q. Zhao, "Alternating local enumeration
   (TnALE): solving tensor network structure search with fewer evaluations", ICML 2023.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import numbers
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from tnkit import backend, io
from tnkit.network import FitResult, Structure, TensorNetwork, _check_target, _is_int, fit

__all__ = ["Objective", "Evaluation", "SearchResult", "greedy", "tnls", "tnale"]


# --------------------------------------------------------------------------------------
# Objective


class Objective:
    """Loss of a structure from its parameter count and relative error.

    Parameters
    ----------
    kind : {"penalty", "constraint"}
        ``"penalty"``: ``params / numel + lam * rse``; ``"constraint"``: ``params / numel``
        when ``rse <= eps``, otherwise ``params / numel + 1 + log10(rse / eps)``: an
        infeasible structure pays at least one tensor's worth of parameters, so it loses
        to every feasible structure that is not larger than the tensor itself.
    lam : float
        Weight of the error in ``"penalty"``.
    eps : float
        Error bound of ``"constraint"``.

    Examples
    --------
    >>> s = Structure.tt((4, 4, 4), (2, 2))
    >>> Objective("penalty", lam=10.0)(s, 0.01)
    0.6
    >>> Objective("constraint", eps=1e-3)(s, 1e-4)
    0.5
    """

    def __init__(self, kind: str = "penalty", *, lam: float = 10.0, eps: float = 1e-4) -> None:
        if kind not in ("penalty", "constraint"):
            raise ValueError(f"Objective: kind must be 'penalty' or 'constraint', got {kind!r}")
        for name, v in (("lam", lam), ("eps", eps)):
            if not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"Objective: {name} must be a finite number > 0, got {v!r}")
        self.kind, self.lam, self.eps = kind, float(lam), float(eps)

    def __call__(self, structure: Structure, rse: float) -> float:
        frac = structure.num_params / structure.numel
        if self.kind == "penalty":
            return frac + self.lam * rse
        if rse <= self.eps:
            return frac
        return frac + 1.0 + math.log10(rse / self.eps)

    def __repr__(self) -> str:
        return f"Objective({self.kind!r}, lam={self.lam}, eps={self.eps})"


def _as_objective(objective: Any, fname: str) -> Callable[[Structure, float], float]:
    if objective is None:
        return Objective()
    if isinstance(objective, str):
        return Objective(objective)
    if callable(objective):
        return objective
    raise TypeError(f"{fname}: objective must be an Objective, 'penalty', 'constraint' or a callable, "
                    f"got {type(objective).__name__}")


def _loss(objective: Callable[[Structure, float], float], s: Structure, rse: float, fname: str) -> float:
    val = objective(s, rse)
    if not isinstance(val, numbers.Real) or isinstance(val, bool):
        raise TypeError(f"{fname}: objective returned {type(val).__name__}, not a number, for {s!r}")
    val = float(val)
    if math.isnan(val):
        raise ValueError(f"{fname}: objective returned NaN for {s!r} (rse={rse:.3g})")
    return val


# --------------------------------------------------------------------------------------
# Records


@dataclasses.dataclass
class Evaluation:
    """One fitted structure: its error, loss and the wall time of its fit."""

    index: int
    structure: Structure
    rse: float
    loss: float
    seconds: float
    step: int

    @property
    def params(self) -> int:
        return self.structure.num_params


@dataclasses.dataclass
class SearchResult:
    """What a search found and everything it evaluated.

    Attributes
    ----------
    best : Evaluation
        The lowest-loss evaluation (for :func:`greedy`: the final structure).
    network : TensorNetwork or None
        Fitted cores of ``best`` in the target's library (refitted when the search
        only kept errors).
    evaluations : list of Evaluation
        Every distinct structure fitted, in order.
    method : str
    stopped : str
        Why the search ended ("stop_when", "converged", "max_evals", "n_iter", ...).
    seconds : float
        Wall time of the search (this call; a resumed search counts from its restart).
    """

    best: Evaluation
    network: TensorNetwork | None
    evaluations: list[Evaluation]
    method: str
    stopped: str
    seconds: float

    @property
    def num_evaluations(self) -> int:
        return len(self.evaluations)

    def first(self, predicate: Callable[[Evaluation], bool]) -> int | None:
        """Number of evaluations up to and including the first one satisfying ``predicate``
        (None if none does)."""
        for k, e in enumerate(self.evaluations):
            if predicate(e):
                return k + 1
        return None

    def plot(self, ax: Any = None) -> Any:
        """Loss of every evaluation and the running best, against evaluations (matplotlib)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        loss = np.array([e.loss for e in self.evaluations])
        ax.plot(np.arange(1, len(loss) + 1), loss, ".", alpha=0.5, label="evaluated")
        ax.plot(np.arange(1, len(loss) + 1), np.minimum.accumulate(loss), "-", label="best so far")
        ax.set_xlabel("evaluations")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.set_title(f"{self.method}: best {self.best.structure.num_params} parameters, "
                     f"RSE {self.best.rse:.2g}")
        ax.legend()
        return ax


def _record_payload(evals: Sequence[Evaluation], method: str, extra: dict[str, Any]) -> dict[str, Any]:
    n = len(evals)
    nodes = max((e.structure.num_nodes for e in evals), default=0)
    ranks = np.zeros((n, nodes, nodes), dtype=np.int64)
    for k, e in enumerate(evals):
        m = e.structure.num_nodes
        ranks[k, :m, :m] = e.structure.ranks
    shape = evals[0].structure.shape if evals else ()
    d = len(shape)
    return {
        "method": method,
        "shape": np.asarray(shape, dtype=np.int64),
        "ranks": ranks,
        "num_nodes": np.asarray([e.structure.num_nodes for e in evals], dtype=np.int64),
        "perm": np.asarray([e.structure.perm for e in evals], dtype=np.int64).reshape(n, d),
        "rse": np.asarray([e.rse for e in evals], dtype=float),
        "loss": np.asarray([e.loss for e in evals], dtype=float),
        "seconds": np.asarray([e.seconds for e in evals], dtype=float),
        "step": np.asarray([e.step for e in evals], dtype=np.int64),
        **extra,
    }


def _save_record(path: str | Path, evals: Sequence[Evaluation], method: str, extra: dict[str, Any]) -> None:
    io.save(path, _record_payload(evals, method, extra), schema="search_record",
            generator={"function": f"tnkit.search.{method}"})


def load_record(path: str | Path) -> tuple[str, list[Evaluation], dict[str, Any]]:
    """Read a search record: method name, evaluations and extra state."""
    data = io.load(path, schema="search_record")
    try:
        method = str(data["method"])
        shape = tuple(int(n) for n in np.asarray(data["shape"]))
        ranks = np.asarray(data["ranks"])
        nodes = np.asarray(data["num_nodes"])
        perm = np.asarray(data["perm"])
        evals = []
        for k in range(len(nodes)):
            m = int(nodes[k])
            s = Structure(shape, ranks[k, :m, :m], tuple(int(p) for p in perm[k]))
            evals.append(Evaluation(k, s, float(data["rse"][k]), float(data["loss"][k]),
                                    float(data["seconds"][k]), int(data["step"][k])))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise io.DataError(f"{path}: not a complete search record ({type(exc).__name__}: {exc})") from None
    extra = {k: v for k, v in data.items()
             if k not in ("method", "shape", "ranks", "num_nodes", "perm", "rse", "loss", "seconds", "step")}
    return method, evals, extra


# --------------------------------------------------------------------------------------
# Evaluation through executors


def _fit_task(structure: dict[str, Any], target: np.ndarray, cores: list[np.ndarray] | None,
              options: dict[str, Any], seed: int, keep: bool) -> tuple[float, float, list[np.ndarray] | None]:
    """Worker: fit one structure; returns (rse, seconds, cores or None). Module level so it
    pickles for process pools and dask."""
    s = Structure.from_dict(structure)
    start: Structure | TensorNetwork = s if cores is None else TensorNetwork(s, cores)
    t0 = time.perf_counter()
    res: FitResult = fit(target, start, rng=seed, **options)
    return res.rse, time.perf_counter() - t0, (list(res.network.cores) if keep else None)


class _Runner:
    """Submits fits to an executor (or runs them inline) and returns results in order."""

    def __init__(self, executor: Any, workers: int | None, fname: str) -> None:
        self.own = None
        if executor is None:
            n = workers if workers is not None else (os.cpu_count() or 1)
            if not _is_int(n) or n < 1:
                raise ValueError(f"{fname}: workers must be an int >= 1, got {workers!r}")
            self.own = ProcessPoolExecutor(max_workers=n) if n > 1 else None
            self.executor = self.own
        elif executor == "serial":
            self.executor = None
        elif hasattr(executor, "submit"):
            self.executor = executor
        else:
            raise TypeError(f"{fname}: executor must be a concurrent.futures.Executor, a dask Client, "
                            f"'serial' or None, got {type(executor).__name__}")

    def run(self, tasks: Sequence[tuple]) -> list[tuple]:
        if self.executor is None or len(tasks) == 1:
            return [_fit_task(*t) for t in tasks]
        futures = [self.executor.submit(_fit_task, *t) for t in tasks]
        return [f.result() for f in futures]

    def close(self) -> None:
        if self.own is not None:
            self.own.shutdown()


def _warm_task(net: TensorNetwork, host: np.ndarray, options: dict[str, Any], seed: int, keep: bool) -> tuple:
    """A :func:`_fit_task` argument tuple that starts from ``net``'s cores."""
    return (net.structure.to_dict(), host, [backend.to_host(c) for c in net.cores], options, seed, keep)


def _seed(base: int, s: Structure) -> int:
    h = hashlib.sha256(repr((base, s.key)).encode()).digest()
    return int.from_bytes(h[:8], "little")


def _check_common(target: Any, fname: str, max_evals: Any) -> tuple[Any, np.ndarray]:
    xp = _check_target(target, fname)
    if target.ndim < 2:
        raise ValueError(f"{fname}: target must have at least 2 modes, got shape {tuple(target.shape)}")
    if max_evals is not None and (not _is_int(max_evals) or max_evals < 1):
        raise ValueError(f"{fname}: max_evals must be an int >= 1 or None, got {max_evals!r}")
    return xp, backend.to_host(target)


def _progress(progress: bool, total: int | None, desc: str) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="fit", leave=False)


# --------------------------------------------------------------------------------------
# Local searches (TNLS, TnALE) share the evaluation engine


class _Engine:
    def __init__(self, fname: str, target: Any, host: np.ndarray, objective: Any, fit_options: dict[str, Any],
                 seed: int, runner: _Runner, record: Any, resume: Any, max_evals: int | None,
                 stop_when: Callable[[Evaluation], bool] | None, bar: Any) -> None:
        self.fname, self.target, self.host = fname, target, host
        self.objective = _as_objective(objective, fname)
        self.options, self.seed, self.runner = fit_options, seed, runner
        self.record, self.max_evals, self.stop_when, self.bar = record, max_evals, stop_when, bar
        self.evals: list[Evaluation] = []
        self.cache: dict[tuple, Evaluation] = {}
        self.replay: dict[tuple, Evaluation] = {}
        self.stopped: str | None = None
        if resume is not None:
            method, old, _ = load_record(resume)
            if method != fname:
                raise io.DataError(f"{resume}: record of a {method!r} search, cannot resume {fname!r}")
            if old and old[0].structure.shape != tuple(host.shape):
                raise io.DataError(f"{resume}: record for shape {old[0].structure.shape}, target has "
                                   f"{tuple(host.shape)}")
            self.replay = {e.structure.key: e for e in old}

    def evaluate(self, structures: Sequence[Structure], step: int) -> list[Evaluation | None]:
        """Losses of ``structures`` (cached ones are free); None for those past a stop."""
        out: list[Evaluation | None] = [None] * len(structures)
        todo: list[int] = []
        for k, s in enumerate(structures):
            if s.key in self.cache:
                out[k] = self.cache[s.key]
            else:
                todo.append(k)
        if self.stopped:
            return out
        seen: dict[tuple, int] = {}
        fresh = []
        for k in todo:
            if structures[k].key not in seen:
                seen[structures[k].key] = k
                fresh.append(k)
        if self.max_evals is not None:
            fresh = fresh[: max(0, self.max_evals - len(self.evals))]
        new = [k for k in fresh if structures[k].key not in self.replay]
        results = dict(zip(new, self.runner.run(
            [(structures[k].to_dict(), self.host, None, self.options, _seed(self.seed, structures[k]), False)
             for k in new])))
        for k in fresh:
            s = structures[k]
            if k in results:
                rse, sec, _ = results[k]
            else:
                old = self.replay[s.key]
                rse, sec = old.rse, old.seconds
            e = Evaluation(len(self.evals), s, rse, _loss(self.objective, s, rse, self.fname), sec, step)
            self.evals.append(e)
            self.cache[s.key] = e
            if self.bar is not None:
                self.bar.update(1)
                self.bar.set_postfix(best=f"{min(v.loss for v in self.evals):.4g}")
            if self.stop_when is not None and self.stop_when(e) and not self.stopped:
                self.stopped = "stop_when"
                break  # the rest of the batch is not recorded: the search ends at its first hit
        for k in todo:
            out[k] = self.cache.get(structures[k].key)
        if self.max_evals is not None and len(self.evals) >= self.max_evals and not self.stopped:
            self.stopped = "max_evals"
        if self.record is not None and new:
            _save_record(self.record, self.evals, self.fname, {})
        return out

    def result(self, stopped: str, t0: float) -> SearchResult:
        if self.record is not None:
            _save_record(self.record, self.evals, self.fname, {})
        best = min(self.evals, key=lambda e: (e.loss, e.index))
        res = fit(self.target, best.structure, rng=_seed(self.seed, best.structure), **self.options)
        return SearchResult(best, res.network, self.evals, self.fname, self.stopped or stopped,
                            time.perf_counter() - t0)


def _template(template: Any, shape: tuple[int, ...], fname: str) -> Structure:
    if isinstance(template, Structure):
        if template.shape != shape:
            raise ValueError(f"{fname}: template shape {template.shape} differs from the target's {shape}")
        if template.num_nodes != len(shape):
            raise ValueError(f"{fname}: templates with internal nodes are not supported; use greedy")
        return template
    d = len(shape)
    if template == "ring":
        if d < 3:
            raise ValueError(f"{fname}: a ring template needs at least 3 modes")
        return Structure.tr(shape, (2,) * d)
    if template == "full":
        return Structure.full(shape, 2)
    if template == "chain":
        return Structure.tt(shape, (2,) * (d - 1))
    raise ValueError(f"{fname}: template must be 'ring', 'chain', 'full' or a Structure, got {template!r}")


def _local_setup(fname: str, target: Any, template: Any, init_ranks: Any, min_rank: int, max_rank: int,
                 perm: Any) -> tuple[Structure, list[tuple[int, int]], np.ndarray]:
    shape = tuple(int(n) for n in target.shape)
    tmpl = _template(template, shape, fname)
    edges = [(i, j) for i, j, _ in tmpl.edges]
    if not _is_int(min_rank) or min_rank < 1:
        raise ValueError(f"{fname}: min_rank must be an int >= 1, got {min_rank!r}")
    if not _is_int(max_rank) or max_rank < min_rank:
        raise ValueError(f"{fname}: max_rank must be an int >= min_rank ({min_rank}), got {max_rank!r}")
    if init_ranks is None:
        ranks = np.array([int(tmpl.ranks[i, j]) for i, j in edges])
        ranks = np.clip(ranks, min_rank, max_rank)
    else:
        ranks = np.asarray(init_ranks)
        if ranks.shape != (len(edges),) or ranks.dtype.kind not in "iu":
            raise ValueError(f"{fname}: init_ranks must be {len(edges)} ints (one per template edge), got {init_ranks!r}")
        if ranks.min() < 1:
            raise ValueError(f"{fname}: ranks must be >= 1, got {tuple(int(r) for r in ranks)}")
        if ranks.min() < min_rank or ranks.max() > max_rank:
            raise ValueError(f"{fname}: init_ranks must lie in [{min_rank}, {max_rank}]")
    p = tmpl.perm if perm is None else tuple(perm)
    return tmpl.with_perm(p), edges, ranks.astype(np.int64)


def _build(tmpl: Structure, edges: list[tuple[int, int]], ranks: np.ndarray, perm: tuple[int, ...]) -> Structure:
    n = tmpl.num_nodes
    mat = np.zeros((n, n), dtype=np.int64)
    for (i, j), r in zip(edges, ranks):
        mat[i, j] = mat[j, i] = int(r)
    return Structure(tmpl.shape, mat, perm)


def _swap_pairs(tmpl: Structure, distance: int) -> list[tuple[int, int]]:
    """Node pairs within graph ``distance`` of each other in the template: the moves of
    the permutation neighbourhood (swapping the modes two cores carry)."""
    n = tmpl.num_nodes
    adj = [set(tmpl.neighbours(v)) for v in range(n)]
    pairs = []
    for a in range(n):
        dist = {a: 0}
        frontier = [a]
        while frontier:
            nxt = []
            for v in frontier:
                for w in adj[v]:
                    if w not in dist:
                        dist[w] = dist[v] + 1
                        nxt.append(w)
            frontier = nxt
        pairs += [(a, b) for b, dd in dist.items() if b > a and 1 <= dd <= distance]
    return pairs


def _swap(perm: tuple[int, ...], a: int, b: int) -> tuple[int, ...]:
    p = list(perm)
    p[a], p[b] = p[b], p[a]
    return tuple(p)


_FIT_DEFAULTS = {"n_iter": 100, "restarts": 2, "tol": 1e-7, "rse_tol": 1e-8}


def _fit_options(fit_options: dict[str, Any] | None, fname: str) -> dict[str, Any]:
    opts = dict(_FIT_DEFAULTS)
    if fit_options:
        bad = set(fit_options) - {"method", "n_iter", "tol", "rse_tol", "restarts", "patience", "lr", "ridge", "mask",
                                  "anneal"}
        if bad:
            raise ValueError(f"{fname}: unknown fit option(s) {sorted(bad)}")
        opts.update(fit_options)
    return opts


def tnls(
    target: Any,
    *,
    template: Any = "ring",
    init_ranks: Sequence[int] | None = None,
    min_rank: int = 1,
    max_rank: int = 8,
    search_perm: bool = True,
    init_perm: Sequence[int] | None = None,
    objective: Any = None,
    n_samples: int | None = None,
    rank_radius: int = 1,
    perm_radius: int = 1,
    n_iter: int = 100,
    patience: int = 10,
    max_evals: int | None = None,
    stop_when: Callable[[Evaluation], bool] | None = None,
    fit_options: dict[str, Any] | None = None,
    executor: Any = None,
    workers: int | None = None,
    record: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = False,
    seed: int = 0,
) -> SearchResult:
    """Structure search by local sampling (TNLS) [TNLS]_.

    The centre is a structure on the template graph (one rank per template edge and a
    mode permutation). Each iteration draws ``n_samples`` structures around it: every
    rank moves by a uniform integer in ``[-rank_radius, rank_radius]`` (kept in
    ``[min_rank, max_rank]``), and with probability 1/2 the permutation takes one swap of
    two cores at most ``perm_radius`` template hops apart (uniformly; the neighbourhood
    TnALE enumerates). The samples are fitted (in parallel); the centre moves to
    the best one when it lowers the objective. Structures already fitted are not refitted.

    Parameters
    ----------
    target : array
        Real, finite tensor with at least two modes.
    template : {"ring", "chain", "full"} or Structure
        The graph whose edge ranks are searched (a Structure's ranks are the start).
    init_ranks : sequence of int, optional
        Starting rank per template edge (default: the template's ranks, 2 for the named
        templates).
    min_rank, max_rank : int
        Rank bounds (rank 1 means "no edge").
    search_perm : bool
        Also search the mode permutation.
    init_perm : sequence of int, optional
        Starting permutation (identity by default).
    objective : Objective, "penalty", "constraint" or callable ``f(structure, rse)``
    n_samples : int, optional
        Samples per iteration (default ``2 * (edges + 1)``).
    rank_radius, perm_radius : int
        Neighbourhood sizes.
    n_iter : int
        Most iterations.
    patience : int
        Stop after this many iterations without improvement.
    max_evals : int, optional
        Most fits.
    stop_when : callable, optional
        Stop as soon as an evaluation satisfies ``stop_when(evaluation)``.
    fit_options : dict, optional
        Passed to :func:`tnkit.network.fit` (default ALS, 100 sweeps, 2 restarts).
    executor : Executor, dask Client, "serial" or None
        Where fits run; None makes a process pool of ``workers`` (default: CPU count).
    record, resume : path, optional
        Write the record after every batch / continue from one.
    progress : bool
        tqdm bar over fits.
    seed : int
        Seeds the sampling and every fit (a structure's fit seed depends only on
        ``seed`` and the structure, so a resumed search retraces the same path).

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> import numpy as np
    >>> from tnkit.network import TensorNetwork
    >>> x = TensorNetwork.random(Structure.tr((3, 3, 3, 3), (2, 1, 2, 1)), rng=0).to_dense()
    >>> res = tnls(x, init_ranks=(3, 3, 3, 3), search_perm=False, n_iter=8,
    ...            executor="serial", seed=1)
    >>> res.best.params <= Structure.tr((3,) * 4, (3, 3, 3, 3)).num_params
    True
    """
    fname = "tnls"
    for name, v in (("n_iter", n_iter), ("patience", patience), ("rank_radius", rank_radius)):
        if not _is_int(v) or v < 1:
            raise ValueError(f"{fname}: {name} must be an int >= 1, got {v!r}")
    tmpl, edges, ranks, pairs, runner, bar, eng = _local_prelude(
        fname, target, template, init_ranks, min_rank, max_rank, init_perm, search_perm, perm_radius, objective,
        fit_options, executor, workers, record, resume, max_evals, stop_when, progress, seed)
    n_samples = 2 * (len(edges) + 1) if n_samples is None else n_samples
    if not _is_int(n_samples) or n_samples < 1:
        runner.close()
        raise ValueError(f"{fname}: n_samples must be an int >= 1, got {n_samples!r}")
    gen = np.random.default_rng(seed)
    t0 = time.perf_counter()
    stopped = "n_iter"
    try:
        perm = tmpl.perm
        centre = _build(tmpl, edges, ranks, perm)
        best = eng.evaluate([centre], 0)[0]
        stale = 0
        for it in range(1, n_iter + 1):
            if eng.stopped:
                break
            samples = []
            for _ in range(n_samples):
                r = np.clip(ranks + gen.integers(-rank_radius, rank_radius + 1, size=len(ranks)), min_rank, max_rank)
                p = perm
                if pairs and gen.random() < 0.5:  # keep the permutation, or make one swap
                    p = _swap(p, *pairs[int(gen.integers(len(pairs)))])
                samples.append((r, p, _build(tmpl, edges, r, p)))
            evals = eng.evaluate([s for _, _, s in samples], it)
            cands = [(e.loss, e.index, k) for k, e in enumerate(evals) if e is not None]
            if cands and min(cands)[0] < best.loss:
                k = min(cands)[2]
                ranks, perm, _ = samples[k]
                best = evals[k]
                stale = 0
            else:
                stale += 1
                if stale >= patience:
                    stopped = "converged"
                    break
        return eng.result(stopped, t0)
    finally:
        if bar is not None:
            bar.close()
        runner.close()


def tnale(
    target: Any,
    *,
    template: Any = "ring",
    init_ranks: Sequence[int] | None = None,
    min_rank: int = 1,
    max_rank: int = 8,
    search_perm: bool = True,
    init_perm: Sequence[int] | None = None,
    objective: Any = None,
    radius: int = 2,
    perm_radius: int = 1,
    n_rounds: int = 30,
    restarts: int = 0,
    max_evals: int | None = None,
    stop_when: Callable[[Evaluation], bool] | None = None,
    fit_options: dict[str, Any] | None = None,
    executor: Any = None,
    workers: int | None = None,
    record: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = False,
    seed: int = 0,
) -> SearchResult:
    """Structure search by alternating local enumeration (TnALE) [TnALE]_.

    A round visits the structure variables one after another — the permutation (when
    ``search_perm``), then each template edge's rank — and for each enumerates its
    neighbourhood with all other variables fixed: ranks ``r - radius .. r + radius``
    within bounds, permutations one swap of cores within ``perm_radius`` template
    hops. The variable takes the best value found before the next is visited. A round
    without improvement halves the radius (down to 1); a round without improvement at
    radius 1 ends the search. Fitted structures are remembered, so revisiting a
    structure costs nothing.

    Parameters are those of :func:`tnls` except ``radius`` (the starting rank radius),
    ``n_rounds`` (most rounds per start) and ``restarts``: after the search ends, start
    again this many times from ``init_ranks`` and a random permutation (drawn from
    ``seed``; the same permutation when ``search_perm`` is off, so restarts only make
    sense with it), keeping the cache and the best structure over all starts. The
    enumeration is a local method: a wrong permutation can trap it where no single swap
    or rank step lowers the objective, and a new start is the cheap way out when the
    evaluation budget (``max_evals``) allows it.

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> import numpy as np
    >>> from tnkit.network import TensorNetwork
    >>> x = TensorNetwork.random(Structure.tr((3, 3, 3, 3), (2, 1, 2, 1)), rng=0).to_dense()
    >>> res = tnale(x, init_ranks=(3, 3, 3, 3), search_perm=False, executor="serial", seed=1)
    >>> res.best.params <= Structure.tr((3,) * 4, (2, 1, 2, 1)).num_params, res.best.rse < 1e-6
    (True, True)
    """
    fname = "tnale"
    for name, v in (("n_rounds", n_rounds), ("radius", radius)):
        if not _is_int(v) or v < 1:
            raise ValueError(f"{fname}: {name} must be an int >= 1, got {v!r}")
    if not _is_int(restarts) or restarts < 0:
        raise ValueError(f"{fname}: restarts must be an int >= 0, got {restarts!r}")
    tmpl, edges, ranks, pairs, runner, bar, eng = _local_prelude(
        fname, target, template, init_ranks, min_rank, max_rank, init_perm, search_perm, perm_radius, objective,
        fit_options, executor, workers, record, resume, max_evals, stop_when, progress, seed)
    t0 = time.perf_counter()
    stopped = "n_rounds"
    gen = np.random.default_rng(seed)
    rnd = 0
    try:
        for start in range(restarts + 1):
            if eng.stopped:
                break
            perm = tmpl.perm if start == 0 or not pairs else tuple(int(p) for p in gen.permutation(tmpl.num_nodes))
            stopped = _enumerate(eng, tmpl, edges, ranks, perm, pairs, radius, n_rounds, min_rank, max_rank, rnd)
            rnd = max(e.step for e in eng.evals) + 1 if eng.evals else rnd
        return eng.result(stopped, t0)
    finally:
        if bar is not None:
            bar.close()
        runner.close()


def _enumerate(eng: _Engine, tmpl: Structure, edges: list[tuple[int, int]], ranks: np.ndarray,
               perm: tuple[int, ...], pairs: list[tuple[int, int]], radius: int, n_rounds: int, min_rank: int,
               max_rank: int, step0: int) -> str:
    """One TnALE start: alternating enumeration from (ranks, perm) until converged; the
    reason it ended."""
    best = eng.evaluate([_build(tmpl, edges, ranks, perm)], step0)[0]
    if best is None:
        return "stopped"
    stopped = "n_rounds"
    rad = radius
    for rnd in range(step0 + 1, step0 + n_rounds + 1):
        improved = False
        variables: list[Any] = (["perm"] if pairs else []) + list(range(len(edges)))
        for var in variables:
            if eng.stopped:
                break
            if var == "perm":
                options = [(ranks, _swap(perm, a, b)) for a, b in pairs]
            else:
                options = []
                for delta in range(-rad, rad + 1):
                    r = int(ranks[var]) + delta
                    if delta != 0 and min_rank <= r <= max_rank:
                        nr = ranks.copy()
                        nr[var] = r
                        options.append((nr, perm))
            if not options:
                continue
            evals = eng.evaluate([_build(tmpl, edges, r, p) for r, p in options], rnd)
            cands = [(e.loss, e.index, k) for k, e in enumerate(evals) if e is not None]
            if cands and min(cands)[0] < best.loss:
                k = min(cands)[2]
                ranks, perm = options[k]
                best = evals[k]
                improved = True
        if eng.stopped:
            break
        if not improved:
            if rad == 1:
                stopped = "converged"
                break
            rad = max(1, rad // 2)
    return stopped


def _local_prelude(fname: str, target: Any, template: Any, init_ranks: Any, min_rank: int, max_rank: int,
                   init_perm: Any, search_perm: bool, perm_radius: Any, objective: Any, fit_options: Any,
                   executor: Any, workers: Any, record: Any, resume: Any, max_evals: Any, stop_when: Any,
                   progress: bool, seed: int) -> tuple:
    """Checks and set-up shared by TNLS and TnALE."""
    _, host = _check_common(target, fname, max_evals)
    tmpl, edges, ranks = _local_setup(fname, target, template, init_ranks, min_rank, max_rank, init_perm)
    if not _is_int(perm_radius) or perm_radius < 0:
        raise ValueError(f"{fname}: perm_radius must be an int >= 0, got {perm_radius!r}")
    opts = _fit_options(fit_options, fname)
    pairs = _swap_pairs(tmpl, perm_radius) if search_perm and perm_radius > 0 else []
    runner = _Runner(executor, workers, fname)
    bar = _progress(progress, max_evals, fname)
    try:
        eng = _Engine(fname, target, host, objective, opts, seed, runner, record, resume, max_evals, stop_when,
                      bar)
    except BaseException:
        runner.close()
        if bar is not None:
            bar.close()
        raise
    return tmpl, edges, ranks, pairs, runner, bar, eng


# --------------------------------------------------------------------------------------
# Greedy rank growth


def _greedy_start(start: Any, shape: tuple[int, ...], internal: int, fname: str) -> Structure:
    if not _is_int(internal) or internal < 0:
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
    for name, v in (("max_steps", max_steps), ("rank_step", rank_step), ("candidate_sweeps", candidate_sweeps),
                    ("sweeps", sweeps)):
        if not _is_int(v) or v < 1:
            raise ValueError(f"{fname}: {name} must be an int >= 1, got {v!r}")
    if not _is_int(refits) or refits < 0:
        raise ValueError(f"{fname}: refits must be an int >= 0, got {refits!r}")
    if max_params is not None and (not _is_int(max_params) or max_params < 1):
        raise ValueError(f"{fname}: max_params must be an int >= 1 or None, got {max_params!r}")
    hold = None
    if holdout is not None:
        hold = backend.to_host(holdout).astype(bool)
        if hold.shape != tuple(host.shape) or not hold.any():
            raise ValueError(f"{fname}: holdout must be a boolean array of the target's shape with an entry set")
    if not _is_int(patience) or patience < 1:
        raise ValueError(f"{fname}: patience must be an int >= 1, got {patience!r}")
    if score not in ("per_param", "error"):
        raise ValueError(f"{fname}: score must be 'per_param' or 'error', got {score!r}")
    obj = _as_objective(objective if objective is not None else Objective("constraint", eps=max(tol, 1e-300)),
                        fname)
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
        extra = {"state": {"ranks": np.asarray(net.structure.ranks), "perm": np.asarray(net.structure.perm),
                           "step": step, "rse": current.rse,
                           "cores": {str(k): backend.to_host(c) for k, c in enumerate(net.cores)}}}
        _save_record(record, evals, fname, extra)

    def settle(nets: list[TensorNetwork], fresh: int, salt: int) -> list[tuple[float, float, list[np.ndarray]]]:
        """Fit each network warm; those that miss ``tol`` also from ``fresh`` random starts
        (in one batch). Per network: the best (rse, summed seconds, cores)."""
        o = {**opts, "n_iter": sweeps, "restarts": 1, "rse_tol": tol}
        bases = [_seed(seed, c.structure) + salt for c in nets]
        out = [[r] for r in runner.run([_warm_task(c, host, o, b, True) for c, b in zip(nets, bases)])]
        redo = [k for k, r in enumerate(out) if r[0][0] > tol]
        tasks = [(nets[k].structure.to_dict(), host, None, {**o, "anneal": 50 if m == 0 else 0}, bases[k] + 10 * (m + 1),
                  True)
                 for k in redo for m in range(fresh)]
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
            drop = current.rse ** 2 - rse ** 2
            gain = drop / (c.num_params - net.num_params) if score == "per_param" else drop
            if drop > floor * current.rse ** 2 and (best is None or gain > best[0]):
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
                        out.append(net.expand_edge(i1, j1, r1 + rank_step, noise=noise, rng=gen)
                                   .expand_edge(i2, j2, r2 + rank_step, noise=noise, rng=gen))
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
                raise ValueError(f"{fname}: the start structure already has {s0.num_params} parameters "
                                 f"> max_params={max_params}")
            rse, sec, cores = runner.run([(s0.to_dict(), host, None, {**opts, "n_iter": sweeps, "restarts": 2},
                                           _seed(seed, s0), True)])[0]
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
            results = runner.run([_warm_task(c, host, {**opts, "n_iter": candidate_sweeps, "restarts": 1},
                                             _seed(seed, c.structure), False) for c in cands])
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
                cands = [net.truncate_edge(i, j, q) for i, j, r in net.structure.edges
                         for q in range(r - rank_step, 0, -rank_step)]
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
