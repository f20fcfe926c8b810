"""truncated_svd's discarded weight equals the Eckart–Young error on an HDF5 reference matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from tnkit.io import load_dataset
from tnkit.linalg import truncated_svd
from tnkit.validation import Case, Outcome


def run(quick: bool) -> Outcome:
    ref = load_dataset("svd_reference")
    a, sigma = np.asarray(ref["a"]), np.asarray(ref["sigma"])
    n = sigma.shape[0]
    ranks = list(range(1, n, 9 if quick else 1))
    errors, weights, exact = [], [], []
    for k in ranks:
        u, s, vh, dw = truncated_svd(a, max_rank=k)
        eckart_young = float(np.sum(sigma[k:] ** 2))  # from the prescribed spectrum
        residual = float(np.linalg.norm(a - (u * s) @ vh) ** 2)
        weights.append(float(dw))
        exact.append(eckart_young)
        scale = max(float(np.sum(sigma**2)) * 1e-16, eckart_young)
        errors.append(max(abs(float(dw) - eckart_young), abs(residual - eckart_young)) / scale)

    def plot(fig: Any) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        ax1.semilogy(sigma, "k.", ms=3, label="prescribed σ")
        ax1.set_xlabel("index i")
        ax1.set_ylabel("singular value")
        ax1.legend()
        ax2.semilogy(ranks, exact, "k-", label=r"$\sum_{i\geq k}\sigma_i^2$ (exact)")
        ax2.semilogy(ranks, weights, "r.", ms=4, label="truncated_svd discarded weight")
        ax2.set_xlabel("kept rank k")
        ax2.set_ylabel("discarded weight")
        ax2.legend(fontsize=8)
        fig.suptitle("svd_reference: Eckart–Young check")

    details = {"ranks_checked": len(ranks), "shape": list(a.shape), "worst_rank": ranks[int(np.argmax(errors))]}
    return Outcome(value=max(errors), details=details, plot=plot)


CASE = Case(
    name="svd_eckart_young",
    claim="truncated_svd's discarded weight equals ||A - A_k||_F^2 = sum_{i>=k} sigma_i^2 for every rank k",
    reference="datasets/svd_reference.h5 (prescribed spectrum)",
    metric="max relative error over k",
    tolerance=1e-10,
    run=run,
)
