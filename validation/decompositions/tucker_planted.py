"""Tucker algorithms recover planted multilinear-rank tensors exactly and agree with tensorly.

Part 1 (exact reference): tensors built as ``G x_1 U_1 ... x_N U_N`` with a Gaussian
core of prescribed multilinear rank and random orthonormal factors; ``sthosvd``,
``hosvd`` and ``hooi`` at the planted ranks, and ``sthosvd`` driven by ``tol``
alone, must reproduce them to a relative error of 1e-12 (float64) and find the
planted ranks.

Part 2 (peer library): on the same tensors plus Gaussian noise of relative norm
1e-2, tnkit's ``hooi`` relative error must be within 1% of
``tensorly.decomposition.tucker`` (HOOI, ``init="svd"``) at the same ranks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tnkit.decompositions.tucker import hooi, hosvd, sthosvd
from tnkit.validation import Case, Outcome

RECOVERY_TOL = 1e-12
PEER_TOL = 0.01
NOISE = 1e-2

_PROBLEMS = [
    ((12, 10, 8), (3, 4, 2)),
    ((9, 8, 7, 6), (2, 3, 3, 2)),
    ((64, 64, 64), (5, 6, 7)),
    ((30, 25, 20), (10, 8, 6)),
    ((6, 5, 4, 5, 6), (2, 2, 2, 3, 2)),
]
_QUICK = _PROBLEMS[:3]


def _planted(rng: np.random.Generator, shape: tuple[int, ...], ranks: tuple[int, ...]) -> np.ndarray:
    out = rng.standard_normal(ranks)
    for k, n in enumerate(shape):
        q, _ = np.linalg.qr(rng.standard_normal((n, ranks[k])))
        out = np.moveaxis(np.tensordot(q, out, axes=([1], [k])), 0, k)
    return out


def _rel(t: Any, x: np.ndarray) -> float:
    return float(np.linalg.norm(t.to_dense() - x) / np.linalg.norm(x))


def run(quick: bool) -> Outcome:
    import tensorly as tl
    from tensorly.decomposition import tucker as tl_tucker

    rng = np.random.default_rng(2024)
    labels, recovery, peer_diff, ours_err, theirs_err = [], [], [], [], []
    ranks_found = True
    for shape, ranks in _QUICK if quick else _PROBLEMS:
        x = _planted(rng, shape, ranks)
        by_tol = sthosvd(x, tol=1e-8)
        ranks_found &= by_tol.ranks == ranks
        errs = [
            _rel(sthosvd(x, ranks=ranks), x),
            _rel(hosvd(x, ranks=ranks), x),
            _rel(hooi(x, ranks), x),
            _rel(by_tol, x),
        ]
        recovery.append(max(errs))
        noise = rng.standard_normal(shape)
        y = x + NOISE * np.linalg.norm(x) / np.linalg.norm(noise) * noise
        core, factors = tl_tucker(tl.tensor(y), rank=list(ranks), init="svd", n_iter_max=100, tol=1e-10)
        ref = float(np.linalg.norm(tl.tucker_to_tensor((core, factors)) - y) / np.linalg.norm(y))
        ours = _rel(hooi(y, ranks), y)
        ours_err.append(ours)
        theirs_err.append(ref)
        peer_diff.append(abs(ours - ref) / ref)
        labels.append("x".join(map(str, shape)) + "\nr=" + ",".join(map(str, ranks)))

    value = max(max(recovery) / RECOVERY_TOL, max(peer_diff) / PEER_TOL)
    if not ranks_found:
        value = math.inf

    def plot(fig: Any) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        pos = np.arange(len(labels))
        ax1.bar(pos, np.maximum(recovery, 1e-18), color="tab:blue")
        ax1.axhline(RECOVERY_TOL, color="k", ls="--", label="tolerance 1e-12")
        ax1.set_yscale("log")
        ax1.set_xticks(pos, labels, fontsize=6)
        ax1.set_ylabel("worst relative error (planted, exact)")
        ax1.legend(fontsize=8)
        ax2.plot(pos, theirs_err, "ks", label="tensorly HOOI")
        ax2.plot(pos, ours_err, "r.", label="tnkit hooi")
        ax2.set_xticks(pos, labels, fontsize=6)
        ax2.set_ylabel(f"relative error (noise {NOISE:g})")
        ax2.legend(fontsize=8)
        fig.suptitle("Tucker: planted multilinear rank recovery and tensorly agreement")

    details = {
        "problems": [f"{s} ranks {r}" for s, r in (_QUICK if quick else _PROBLEMS)],
        "worst_recovery_error": max(recovery),
        "tol_driven_ranks_found": bool(ranks_found),
        "worst_rel_diff_vs_tensorly": max(peer_diff),
        "tnkit_hooi_errors": ours_err,
        "tensorly_errors": theirs_err,
    }
    return Outcome(value=value, details=details, plot=plot)


CASE = Case(
    name="tucker_planted",
    claim="sthosvd/hosvd/hooi recover planted multilinear-rank tensors to 1e-12 and hooi matches tensorly within 1%",
    reference="exact planted tensors G x_k U_k; tensorly.decomposition.tucker (HOOI) on noisy copies",
    metric="max(recovery error / 1e-12, |err - err_tensorly| / (0.01 err_tensorly)); inf if tol misses a rank",
    tolerance=1.0,
    run=run,
)
