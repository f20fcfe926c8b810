"""Core-shape selection: exact optimum of the HOSVD bound vs the greedy baseline.

Claim (issue 4, "selection never worse than greedy by more than 5% and at least
10x faster"), read as:

1. at every budget, the reconstruction error of ``sthosvd`` at the ranks chosen
   by ``core_shape(method="exact")`` is at most 1.05x the error at the ranks
   chosen by ``method="greedy"`` (both within the same parameter budget). The
   exact selector is ``core_shape(x, budget, refine=8)``: the optimum of the
   HOSVD bound, then the best actual ST-HOSVD error among the bound's 8 best
   tuples. The pure bound optimum (``refine=0``) is reported too: it can lose
   to greedy by a few percent where the bound misjudges mode interactions
   (6% once on the synthetic tensor);
2. the exact selection (including computing the higher-order spectra) is at
   least 10x faster than the brute-force alternative it replaces: running
   ``sthosvd`` for every rank tuple that fits the budget and keeping the best.
   The brute-force time is the number of feasible tuples times the median time
   of ``sthosvd`` on a sample of them (running all of them would take minutes).
   Speed is compared over the whole budget sweep of each tensor (total exact
   selection time vs total brute-force time): at the smallest budgets only a
   handful of tuples fit and there is nothing to search.

Tensors: (a) a synthetic 3-way tensor whose higher-order spectra are known in
closed form -- a core with non-zeros only at ``(a, b, (a + b) mod m)`` with values
``alpha**a beta**b``, so that any two indices fix the third and the unfoldings of
the core have orthogonal rows; mode-1 weights are ``alpha**(2a) sum_b beta**(2b)``,
and so on -- embedded by random orthonormal factors; (b) the smooth 4-way
function tensor ``1 / (1 + i + j + k + l)`` on a ``20^4`` grid (quick: ``12^4``).
RRE is the relative Frobenius error of ``sthosvd`` at the selected ranks.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import numpy as np

from tnkit.decompositions.core_shape import core_shape, core_shape_from_spectra, mode_spectra
from tnkit.decompositions.tucker import sthosvd
from tnkit.validation import Case, Outcome

RRE_SLACK = 1.05
REFINE = 8
MIN_SPEEDUP = 10.0


def _tucker_params(ranks: tuple[int, ...], shape: tuple[int, ...]) -> int:
    """Stored numbers of a Tucker format: the core plus one factor per mode."""
    return math.prod(ranks) + sum(n * r for n, r in zip(shape, ranks))


def _synthetic(m: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    alpha, beta = 0.75, 0.55
    wa, wb = alpha ** np.arange(m), beta ** np.arange(m)
    core = np.zeros((m, m, m))
    a, b = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    core[a, b, (a + b) % m] = np.outer(wa, wb)
    x = core
    for k in range(3):
        q, _ = np.linalg.qr(rng.standard_normal((n, m)))
        x = np.moveaxis(np.tensordot(q, x, axes=([1], [k])), 0, k)
    sq = np.outer(wa, wb) ** 2
    mode3 = np.array([sq[(a + b) % m == c].sum() for c in range(m)])
    known = [np.sort(np.concatenate([s, np.zeros(n - m)]))[::-1] for s in (sq.sum(1), sq.sum(0), mode3)]
    return x, known


def _smooth(n: int) -> np.ndarray:
    i = np.arange(n, dtype=np.float64)
    return 1.0 / (
        1.0 + i[:, None, None, None] + i[None, :, None, None] + i[None, None, :, None] + i[None, None, None, :]
    )


def _rre(x: np.ndarray, ranks: tuple[int, ...]) -> float:
    return float(np.linalg.norm(sthosvd(x, ranks=ranks).to_dense() - x) / np.linalg.norm(x))


def _feasible(shape: tuple[int, ...], budget: int) -> list[tuple[int, ...]]:
    return [r for r in itertools.product(*(range(1, n + 1) for n in shape)) if _tucker_params(r, shape) <= budget]


def _sweep(x: np.ndarray, budgets: list[int], rng: np.random.Generator) -> dict[str, Any]:
    shape = tuple(x.shape)
    rows = []
    for budget in budgets:
        t0 = time.perf_counter()
        ex = core_shape(x, budget, method="exact", refine=REFINE)
        t_exact = time.perf_counter() - t0
        spectra = mode_spectra(x)
        pure = core_shape_from_spectra(spectra, budget, method="exact")
        gr = core_shape_from_spectra(spectra, budget, method="greedy")
        cands = _feasible(shape, budget)
        sample = [cands[i] for i in rng.choice(len(cands), size=min(5, len(cands)), replace=False)]
        times = []
        for r in sample:
            t1 = time.perf_counter()
            _rre(x, r)
            times.append(time.perf_counter() - t1)
        brute = len(cands) * float(np.median(times))
        rows.append(
            {
                "budget": budget,
                "exact_ranks": ex.ranks,
                "greedy_ranks": gr.ranks,
                "exact_params": ex.params,
                "greedy_params": gr.params,
                "exact_rre": _rre(x, ex.ranks),
                "greedy_rre": _rre(x, gr.ranks),
                "bound_optimum_ranks": pure.ranks,
                "bound_optimum_rre": _rre(x, pure.ranks),
                "exact_bound": ex.estimated_rre,
                "greedy_bound": gr.estimated_rre,
                "exact_seconds": t_exact,
                "brute_force_candidates": len(cands),
                "brute_force_seconds_est": brute,
            }
        )
    return {"shape": shape, "rows": rows}


def _budgets(shape: tuple[int, ...], top: int, count: int) -> list[int]:
    lo = sum(shape) + 1
    return sorted({int(round(b)) for b in np.geomspace(lo + 5, top, count)})


def run(quick: bool) -> Outcome:
    rng = np.random.default_rng(7)
    m, n = (8, 12) if quick else (12, 20)
    xa, known = _synthetic(m, n, rng)
    spectra_err = max(float(np.max(np.abs(s - k))) for s, k in zip(mode_spectra(xa), known)) / float(known[0].sum())
    grid = 12 if quick else 20
    xb = _smooth(grid)
    count = 8 if quick else 16
    results = {
        "synthetic": _sweep(xa, _budgets(xa.shape, 3 * m * n + m**3, count), rng),
        "smooth_4way": _sweep(xb, _budgets(xb.shape, 4 * grid * 8 + 8**4, count), rng),
    }
    worst_ratio, worst_speedup = 0.0, math.inf
    for res in results.values():
        for row in res["rows"]:
            floor = 1e-13  # below this both errors are rounding noise
            ratio = max(row["exact_rre"], floor) / max(row["greedy_rre"], floor)
            row["rre_ratio"] = ratio
            row["speedup_vs_brute_force"] = row["brute_force_seconds_est"] / row["exact_seconds"]
            worst_ratio = max(worst_ratio, ratio)
        res["sweep_exact_seconds"] = sum(r["exact_seconds"] for r in res["rows"])
        res["sweep_brute_force_seconds_est"] = sum(r["brute_force_seconds_est"] for r in res["rows"])
        res["sweep_speedup"] = res["sweep_brute_force_seconds_est"] / res["sweep_exact_seconds"]
        worst_speedup = min(worst_speedup, res["sweep_speedup"])
    value = max(worst_ratio / RRE_SLACK, MIN_SPEEDUP / worst_speedup)
    if spectra_err > 1e-10:
        value = math.inf

    def plot(fig: Any) -> None:
        axes = fig.subplots(1, 2)
        for ax, (name, res) in zip(axes, results.items()):
            b = [r["budget"] for r in res["rows"]]
            ax.loglog(b, [r["exact_rre"] for r in res["rows"]], "r.-", label="exact (sthosvd RRE)")
            ax.loglog(b, [r["greedy_rre"] for r in res["rows"]], "b^--", ms=4, label="greedy (sthosvd RRE)")
            ax.loglog(b, [r["bound_optimum_rre"] for r in res["rows"]], "g+", label="bound optimum (refine=0)")
            ax.loglog(b, [r["exact_bound"] for r in res["rows"]], "k:", label="exact: HOSVD bound")
            ax.set_xlabel("parameter budget")
            ax.set_ylabel("relative reconstruction error")
            ax.set_title(f"{name} {'x'.join(map(str, res['shape']))}", fontsize=9)
            ax.legend(fontsize=7)
        fig.suptitle("Tucker core shapes: RRE vs budget")

    details = {
        "worst_rre_ratio_exact_over_greedy": worst_ratio,
        "worst_sweep_speedup_vs_brute_force": worst_speedup,
        "synthetic_spectra_max_rel_error": spectra_err,
        "synthetic": results["synthetic"],
        "smooth_4way": results["smooth_4way"],
    }
    return Outcome(value=value, details=details, plot=plot)


CASE = Case(
    name="tucker_core_shapes",
    claim="exact core-shape selection: sthosvd RRE <= 1.05x greedy's at every budget, >= 10x faster than brute force",
    reference="greedy baseline (Ghadiri et al., ICML 2023); brute-force sthosvd over all feasible rank tuples; "
    "closed-form higher-order spectra of the synthetic tensor",
    metric="max(worst RRE_exact/RRE_greedy / 1.05, 10 / worst sweep speedup); inf if the known spectra are missed",
    tolerance=1.0,
    run=run,
)
