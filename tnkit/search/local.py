"""Local structure searches around a centre: TNLS (local sampling) and TnALE
(alternating local enumeration).

* :func:`tnls` draws structures (ranks and mode permutation) around the current centre
  and moves to the best one when it improves the objective [TNLS]_;
* :func:`tnale` updates one structure variable at a time (one edge rank, or the
  permutation) by enumerating its neighbourhood with the rest fixed, shrinking the radius
  once a round brings no improvement [TnALE]_.

References
----------
.. [TNLS] C. Li, J. Zeng, Z. Tao and Q. Zhao, "Permutation search of tensor network
   structures via local sampling", ICML 2022.
.. [TnALE] C. Li, J. Zeng, C. Li, C. Caiafa and Q. Zhao, "Alternating local enumeration
   (TnALE): solving tensor network structure search with fewer evaluations", ICML 2023.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tnkit.checks import is_int
from tnkit.network import (
    Structure,
)
from tnkit.search.engine import _check_common, _Engine, _fit_options, _progress, _Runner
from tnkit.search.records import Evaluation, SearchResult

__all__ = ["tnls", "tnale"]


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


def _local_setup(
    fname: str, target: Any, template: Any, init_ranks: Any, min_rank: int, max_rank: int, perm: Any
) -> tuple[Structure, list[tuple[int, int]], np.ndarray]:
    shape = tuple(int(n) for n in target.shape)
    tmpl = _template(template, shape, fname)
    edges = [(i, j) for i, j, _ in tmpl.edges]
    if not is_int(min_rank) or min_rank < 1:
        raise ValueError(f"{fname}: min_rank must be an int >= 1, got {min_rank!r}")
    if not is_int(max_rank) or max_rank < min_rank:
        raise ValueError(f"{fname}: max_rank must be an int >= min_rank ({min_rank}), got {max_rank!r}")
    if init_ranks is None:
        ranks = np.array([int(tmpl.ranks[i, j]) for i, j in edges])
        ranks = np.clip(ranks, min_rank, max_rank)
    else:
        ranks = np.asarray(init_ranks)
        if ranks.shape != (len(edges),) or ranks.dtype.kind not in "iu":
            raise ValueError(
                f"{fname}: init_ranks must be {len(edges)} ints (one per template edge), got {init_ranks!r}"
            )
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
        if not is_int(v) or v < 1:
            raise ValueError(f"{fname}: {name} must be an int >= 1, got {v!r}")
    tmpl, edges, ranks, pairs, runner, bar, eng = _local_prelude(
        fname,
        target,
        template,
        init_ranks,
        min_rank,
        max_rank,
        init_perm,
        search_perm,
        perm_radius,
        objective,
        fit_options,
        executor,
        workers,
        record,
        resume,
        max_evals,
        stop_when,
        progress,
        seed,
    )
    n_samples = 2 * (len(edges) + 1) if n_samples is None else n_samples
    if not is_int(n_samples) or n_samples < 1:
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
        if not is_int(v) or v < 1:
            raise ValueError(f"{fname}: {name} must be an int >= 1, got {v!r}")
    if not is_int(restarts) or restarts < 0:
        raise ValueError(f"{fname}: restarts must be an int >= 0, got {restarts!r}")
    tmpl, edges, ranks, pairs, runner, bar, eng = _local_prelude(
        fname,
        target,
        template,
        init_ranks,
        min_rank,
        max_rank,
        init_perm,
        search_perm,
        perm_radius,
        objective,
        fit_options,
        executor,
        workers,
        record,
        resume,
        max_evals,
        stop_when,
        progress,
        seed,
    )
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


def _enumerate(
    eng: _Engine,
    tmpl: Structure,
    edges: list[tuple[int, int]],
    ranks: np.ndarray,
    perm: tuple[int, ...],
    pairs: list[tuple[int, int]],
    radius: int,
    n_rounds: int,
    min_rank: int,
    max_rank: int,
    step0: int,
) -> str:
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


def _local_prelude(
    fname: str,
    target: Any,
    template: Any,
    init_ranks: Any,
    min_rank: int,
    max_rank: int,
    init_perm: Any,
    search_perm: bool,
    perm_radius: Any,
    objective: Any,
    fit_options: Any,
    executor: Any,
    workers: Any,
    record: Any,
    resume: Any,
    max_evals: Any,
    stop_when: Any,
    progress: bool,
    seed: int,
) -> tuple:
    """Checks and set-up shared by TNLS and TnALE."""
    _, host = _check_common(target, fname, max_evals)
    tmpl, edges, ranks = _local_setup(fname, target, template, init_ranks, min_rank, max_rank, init_perm)
    if not is_int(perm_radius) or perm_radius < 0:
        raise ValueError(f"{fname}: perm_radius must be an int >= 0, got {perm_radius!r}")
    opts = _fit_options(fit_options, fname)
    pairs = _swap_pairs(tmpl, perm_radius) if search_perm and perm_radius > 0 else []
    runner = _Runner(executor, workers, fname)
    bar = _progress(progress, max_evals, fname)
    try:
        eng = _Engine(fname, target, host, objective, opts, seed, runner, record, resume, max_evals, stop_when, bar)
    except BaseException:
        runner.close()
        if bar is not None:
            bar.close()
        raise
    return tmpl, edges, ranks, pairs, runner, bar, eng
