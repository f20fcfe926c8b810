"""Evaluating candidate structures: fits on any :class:`concurrent.futures.Executor`
(a process pool by default, ``"serial"``, or a ``dask.distributed.Client``), seeded per
structure so results do not depend on the executor, with the record kept up to date.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from tnkit import backend, io
from tnkit.checks import check_tensor, is_int
from tnkit.network import (
    FitResult,
    Structure,
    TensorNetwork,
    fit,
)
from tnkit.run import Run
from tnkit.search.objective import _as_objective, _loss
from tnkit.search.records import Evaluation, SearchResult, _save_record, load_record

__all__ = []


# --------------------------------------------------------------------------------------
# Evaluation through executors


def _fit_task(
    structure: dict[str, Any],
    target: np.ndarray,
    cores: list[np.ndarray] | None,
    options: dict[str, Any],
    seed: int,
    keep: bool,
) -> tuple[float, float, list[np.ndarray] | None]:
    """Worker: fit one structure; returns (rse, seconds, cores or None). Module level so it
    pickles for process pools and dask."""
    s = Structure.from_dict(structure)
    start: Structure | TensorNetwork = s if cores is None else TensorNetwork(s, cores)
    t0 = time.perf_counter()
    res: FitResult = fit(target, start, rng=seed, **options)
    return res.rse, time.perf_counter() - t0, (list(res.network.cores) if keep else None)


class _Runner:
    """Submits fits to an executor (or runs them inline) and returns results in order.

    ``executor=None`` means a process pool with one worker per core (none on one core),
    owned and shut down here; ``"serial"`` runs every fit in the calling process.
    """

    def __init__(self, executor: Any, fname: str) -> None:
        self.own = None
        if executor is None:
            n = os.cpu_count() or 1
            self.own = ProcessPoolExecutor(max_workers=n) if n > 1 else None
            self.executor = self.own
        elif executor == "serial":
            self.executor = None
        elif hasattr(executor, "submit"):
            self.executor = executor
        else:
            raise TypeError(
                f"{fname}: executor must be a concurrent.futures.Executor, a dask Client, "
                f"'serial' or None, got {type(executor).__name__}"
            )

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
    xp = check_tensor(target, fname, what="target", complex_ok=False)
    if target.ndim < 2:
        raise ValueError(f"{fname}: target must have at least 2 modes, got shape {tuple(target.shape)}")
    if max_evals is not None and (not is_int(max_evals) or max_evals < 1):
        raise ValueError(f"{fname}: max_evals must be an int >= 1 or None, got {max_evals!r}")
    return xp, backend.to_host(target)


# --------------------------------------------------------------------------------------
# Local searches (TNLS, TnALE) share the evaluation engine


class _Engine:
    """The evaluations of one local search: the cache of fitted structures, the record
    (written to ``run.checkpoint``), replay of a resumed record, progress and the stop
    conditions. Close it (or use it in a ``with``) to shut its executor down."""

    def __init__(
        self,
        fname: str,
        target: Any,
        host: np.ndarray,
        objective: Any,
        fit_options: dict[str, Any],
        seed: int,
        run: Run,
        max_evals: int | None,
        stop_when: Callable[[Evaluation], bool] | None,
    ) -> None:
        self.fname, self.target, self.host = fname, target, host
        self.objective = _as_objective(objective, fname)
        self.options, self.seed = fit_options, seed
        self.record, self.max_evals, self.stop_when = run.checkpoint, max_evals, stop_when
        self.evals: list[Evaluation] = []
        self.cache: dict[tuple, Evaluation] = {}
        self.replay: dict[tuple, Evaluation] = {}
        self.stopped: str | None = None
        resume = run.resume_from()
        if resume is not None:
            method, old, _ = load_record(resume)
            if method != fname:
                raise io.DataError(f"{resume}: record of a {method!r} search, cannot resume {fname!r}")
            if old and old[0].structure.shape != tuple(host.shape):
                raise io.DataError(
                    f"{resume}: record for shape {old[0].structure.shape}, target has {tuple(host.shape)}"
                )
            self.replay = {e.structure.key: e for e in old}
        self.runner = _Runner(run.executor, fname)
        self.bar = run.bar(max_evals, fname, unit="fit")

    def __enter__(self) -> _Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
        self.runner.close()

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
        results = dict(
            zip(
                new,
                self.runner.run(
                    [
                        (structures[k].to_dict(), self.host, None, self.options, _seed(self.seed, structures[k]), False)
                        for k in new
                    ]
                ),
            )
        )
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
        return SearchResult(
            best, res.network, self.evals, self.fname, self.stopped or stopped, time.perf_counter() - t0
        )


_FIT_DEFAULTS = {"n_iter": 100, "restarts": 2, "tol": 1e-7, "rse_tol": 1e-8}


def _fit_options(fit_options: dict[str, Any] | None, fname: str) -> dict[str, Any]:
    opts = dict(_FIT_DEFAULTS)
    if fit_options:
        bad = set(fit_options) - {
            "method",
            "n_iter",
            "tol",
            "rse_tol",
            "restarts",
            "patience",
            "lr",
            "ridge",
            "mask",
            "anneal",
        }
        if bad:
            raise ValueError(f"{fname}: unknown fit option(s) {sorted(bad)}")
        opts.update(fit_options)
    return opts
