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

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tnkit.checks import is_int
from tnkit.network import (
    Structure,
)
from tnkit.run import Run, as_run
from tnkit.search.engine import _check_common, _Engine, _fit_options
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


@dataclasses.dataclass(frozen=True)
class _Space:
    """Where a local search moves: one rank per template edge within ``[min_rank, max_rank]``
    and mode permutations reached by swapping the modes of two cores at most
    ``perm_radius`` template hops apart (``pairs``; empty when the permutation is fixed)."""

    template: Structure
    edges: list[tuple[int, int]]
    min_rank: int
    max_rank: int
    pairs: list[tuple[int, int]]

    @classmethod
    def create(
        cls,
        fname: str,
        shape: tuple[int, ...],
        template: Any,
        bounds: tuple[int, int],
        perm_radius: Any,
        search_perm: bool,
    ) -> _Space:
        tmpl = _template(template, shape, fname)
        min_rank, max_rank = bounds
        if not is_int(min_rank) or min_rank < 1:
            raise ValueError(f"{fname}: min_rank must be an int >= 1, got {min_rank!r}")
        if not is_int(max_rank) or max_rank < min_rank:
            raise ValueError(f"{fname}: max_rank must be an int >= min_rank ({min_rank}), got {max_rank!r}")
        if not is_int(perm_radius) or perm_radius < 0:
            raise ValueError(f"{fname}: perm_radius must be an int >= 0, got {perm_radius!r}")
        pairs = _swap_pairs(tmpl, perm_radius) if search_perm and perm_radius > 0 else []
        return cls(tmpl, [(i, j) for i, j, _ in tmpl.edges], int(min_rank), int(max_rank), pairs)

    def start(self, fname: str, init_ranks: Any, init_perm: Any) -> tuple[np.ndarray, tuple[int, ...]]:
        """The starting ranks (checked against the bounds) and permutation."""
        if init_ranks is None:
            ranks = np.array([int(self.template.ranks[i, j]) for i, j in self.edges])
            ranks = np.clip(ranks, self.min_rank, self.max_rank)
        else:
            ranks = np.asarray(init_ranks)
            if ranks.shape != (len(self.edges),) or ranks.dtype.kind not in "iu":
                raise ValueError(
                    f"{fname}: init_ranks must be {len(self.edges)} ints (one per template edge), got {init_ranks!r}"
                )
            if ranks.min() < 1:
                raise ValueError(f"{fname}: ranks must be >= 1, got {tuple(int(r) for r in ranks)}")
            if ranks.min() < self.min_rank or ranks.max() > self.max_rank:
                raise ValueError(f"{fname}: init_ranks must lie in [{self.min_rank}, {self.max_rank}]")
        perm = self.template.perm if init_perm is None else tuple(init_perm)
        self.template.with_perm(perm)  # checks the permutation
        return ranks.astype(np.int64), perm

    def build(self, ranks: np.ndarray, perm: tuple[int, ...]) -> Structure:
        """The structure with these edge ranks and this mode permutation."""
        n = self.template.num_nodes
        mat = np.zeros((n, n), dtype=np.int64)
        for (i, j), r in zip(self.edges, ranks):
            mat[i, j] = mat[j, i] = int(r)
        return Structure(self.template.shape, mat, perm)


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


def _prepare(
    fname: str, target: Any, run: Run | None, space: dict[str, Any], start: dict[str, Any], evaluation: dict[str, Any]
) -> tuple[_Space, np.ndarray, tuple[int, ...], _Engine]:
    """Checks and set-up shared by TNLS and TnALE: the search space, the start and the
    evaluation engine (which the caller closes)."""
    max_evals, stop_when = evaluation["max_evals"], evaluation["stop_when"]
    _, host = _check_common(target, fname, max_evals)
    sp = _Space.create(fname, tuple(int(n) for n in host.shape), **space)
    ranks, perm = sp.start(fname, **start)
    opts = _fit_options(evaluation["fit_options"], fname)
    eng = _Engine(
        fname, target, host, evaluation["objective"], opts, evaluation["seed"], as_run(run), max_evals, stop_when
    )
    return sp, ranks, perm, eng


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
    seed: int = 0,
    run: Run | None = None,
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
    seed : int
        Seeds the sampling and every fit (a structure's fit seed depends only on
        ``seed`` and the structure, so a resumed search retraces the same path).
    run : tnkit.Run, optional
        ``executor``: where fits run (an Executor, a dask Client, ``"serial"``; default a
        process pool with a worker per core); ``checkpoint``: the HDF5 record, rewritten
        after every batch; ``resume=True``: continue from that record; ``progress``.

    Returns
    -------
    SearchResult

    References
    ----------
    .. [TNLS] C. Li, J. Zeng, Z. Tao and Q. Zhao, "Permutation search of tensor network
       structures via local sampling", ICML 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from tnkit.network import TensorNetwork
    >>> x = TensorNetwork.random(Structure.tr((3, 3, 3, 3), (2, 1, 2, 1)), rng=0).to_dense()
    >>> res = tnls(x, init_ranks=(3, 3, 3, 3), search_perm=False, n_iter=8,
    ...            seed=1, run=Run(executor="serial"))
    >>> res.best.params <= Structure.tr((3,) * 4, (3, 3, 3, 3)).num_params
    True
    """
    fname = "tnls"
    for name, v in (("n_iter", n_iter), ("patience", patience), ("rank_radius", rank_radius)):
        if not is_int(v) or v < 1:
            raise ValueError(f"{fname}: {name} must be an int >= 1, got {v!r}")
    space = dict(template=template, bounds=(min_rank, max_rank), perm_radius=perm_radius, search_perm=search_perm)
    start = dict(init_ranks=init_ranks, init_perm=init_perm)
    if n_samples is not None and (not is_int(n_samples) or n_samples < 1):
        raise ValueError(f"{fname}: n_samples must be an int >= 1, got {n_samples!r}")
    evaluation = dict(objective=objective, fit_options=fit_options, max_evals=max_evals, stop_when=stop_when, seed=seed)
    sp, ranks, perm, eng = _prepare(fname, target, run, space, start, evaluation)
    n_samples = 2 * (len(sp.edges) + 1) if n_samples is None else n_samples
    gen = np.random.default_rng(seed)
    t0 = time.perf_counter()
    stopped = "n_iter"
    with eng:
        first = eng.evaluate([sp.build(ranks, perm)], 0)[0]
        assert first is not None  # the first evaluation always runs (max_evals >= 1)
        best = first
        stale = 0
        for it in range(1, n_iter + 1):
            if eng.stopped:
                break
            samples = []
            for _ in range(n_samples):
                steps = gen.integers(-rank_radius, rank_radius + 1, size=len(ranks))
                r = np.clip(ranks + steps, sp.min_rank, sp.max_rank)
                p = perm
                if sp.pairs and gen.random() < 0.5:  # keep the permutation, or make one swap
                    p = _swap(p, *sp.pairs[int(gen.integers(len(sp.pairs)))])
                samples.append((r, p, sp.build(r, p)))
            evals = eng.evaluate([s for _, _, s in samples], it)
            cands = [(e.loss, e.index, k, e) for k, e in enumerate(evals) if e is not None]
            if cands and min(cands)[0] < best.loss:
                k, best = min(cands, key=lambda c: (c[0], c[1]))[2:]
                ranks, perm, _ = samples[k]
                stale = 0
            else:
                stale += 1
                if stale >= patience:
                    stopped = "converged"
                    break
        return eng.result(stopped, t0)


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
    seed: int = 0,
    run: Run | None = None,
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

    The enumeration is a local method: a wrong permutation can trap it where no single
    swap or rank step lowers the objective, and a new start (``restarts``) is the cheap
    way out when the evaluation budget (``max_evals``) allows it.

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
        What is minimised, as in :func:`tnls`.
    radius : int
        Starting rank radius.
    perm_radius : int
        Template hops within which two cores may swap.
    n_rounds : int
        Most rounds per start.
    restarts : int
        After the search ends, start again this many times from ``init_ranks`` and a
        random permutation (drawn from ``seed``; the same permutation when
        ``search_perm`` is off, so restarts only make sense with it), keeping the cache
        and the best structure over all starts.
    max_evals : int, optional
        Most fits.
    stop_when : callable, optional
        Stop as soon as an evaluation satisfies ``stop_when(evaluation)``.
    fit_options : dict, optional
        Passed to :func:`tnkit.network.fit`, as in :func:`tnls`.
    seed : int
        Seeds the restarts' permutations and every fit.
    run : tnkit.Run, optional
        ``executor``, ``checkpoint``, ``resume`` and ``progress``, as in :func:`tnls`.

    Returns
    -------
    SearchResult

    References
    ----------
    .. [TnALE] C. Li, J. Zeng, C. Li, C. Caiafa and Q. Zhao, "Alternating local enumeration
       (TnALE): solving tensor network structure search with fewer evaluations", ICML 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from tnkit.network import TensorNetwork
    >>> x = TensorNetwork.random(Structure.tr((3, 3, 3, 3), (2, 1, 2, 1)), rng=0).to_dense()
    >>> res = tnale(x, init_ranks=(3, 3, 3, 3), search_perm=False, seed=1, run=Run(executor="serial"))
    >>> res.best.params <= Structure.tr((3,) * 4, (2, 1, 2, 1)).num_params, res.best.rse < 1e-6
    (True, True)
    """
    fname = "tnale"
    for name, v in (("n_rounds", n_rounds), ("radius", radius)):
        if not is_int(v) or v < 1:
            raise ValueError(f"{fname}: {name} must be an int >= 1, got {v!r}")
    if not is_int(restarts) or restarts < 0:
        raise ValueError(f"{fname}: restarts must be an int >= 0, got {restarts!r}")
    space = dict(template=template, bounds=(min_rank, max_rank), perm_radius=perm_radius, search_perm=search_perm)
    start = dict(init_ranks=init_ranks, init_perm=init_perm)
    evaluation = dict(objective=objective, fit_options=fit_options, max_evals=max_evals, stop_when=stop_when, seed=seed)
    sp, ranks, perm0, eng = _prepare(fname, target, run, space, start, evaluation)
    t0 = time.perf_counter()
    stopped = "n_rounds"
    gen = np.random.default_rng(seed)
    rnd = 0
    with eng:
        for restart in range(restarts + 1):
            if eng.stopped:
                break
            n = sp.template.num_nodes
            perm = perm0 if restart == 0 or not sp.pairs else tuple(int(p) for p in gen.permutation(n))
            stopped = _enumerate(eng, sp, ranks, perm, radius, n_rounds, rnd)
            rnd = max(e.step for e in eng.evals) + 1 if eng.evals else rnd
        return eng.result(stopped, t0)


def _enumerate(
    eng: _Engine, sp: _Space, ranks: np.ndarray, perm: tuple[int, ...], radius: int, n_rounds: int, step0: int
) -> str:
    """One TnALE start: alternating enumeration from (ranks, perm) until converged; the
    reason it ended."""
    best = eng.evaluate([sp.build(ranks, perm)], step0)[0]
    if best is None:
        return "stopped"
    stopped = "n_rounds"
    rad = radius
    for rnd in range(step0 + 1, step0 + n_rounds + 1):
        improved = False
        variables: list[Any] = (["perm"] if sp.pairs else []) + list(range(len(sp.edges)))
        for var in variables:
            if eng.stopped:
                break
            if var == "perm":
                options = [(ranks, _swap(perm, a, b)) for a, b in sp.pairs]
            else:
                options = []
                for delta in range(-rad, rad + 1):
                    r = int(ranks[var]) + delta
                    if delta != 0 and sp.min_rank <= r <= sp.max_rank:
                        nr = ranks.copy()
                        nr[var] = r
                        options.append((nr, perm))
            if not options:
                continue
            evals = eng.evaluate([sp.build(r, p) for r, p in options], rnd)
            cands = [(e.loss, e.index, k, e) for k, e in enumerate(evals) if e is not None]
            if cands and min(cands)[0] < best.loss:
                k, best = min(cands, key=lambda c: (c[0], c[1]))[2:]
                ranks, perm = options[k]
                improved = True
        if eng.stopped:
            break
        if not improved:
            if rad == 1:
                stopped = "converged"
                break
            rad = max(1, rad // 2)
    return stopped
