"""Fourth-order TEBD after a Néel quench of the Heisenberg chain, against exact evolution.

Reference: the sparse Hamiltonian from ``OpSum.to_sparse()`` applied with
``scipy.sparse.linalg.expm_multiply`` (no tnkit code) to the Néel vector; ``<S^z_i>(t)``
is read off the exact state's probabilities. Full: L = 12, t = 2; quick: L = 8, t = 0.5.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse.linalg

from tnkit import tebd
from tnkit.mps import models
from tnkit.mps.mps import MPS
from tnkit.run import Run
from tnkit.validation import Case, Outcome

QUIET = Run(progress=False)  # the validation runner reports progress

DT = 0.05
ORDER = 4


def exact_sz(h_sparse: Any, psi0: np.ndarray, length: int, t_final: float, n_times: int) -> np.ndarray:
    """``<S^z_i>(t_k)`` on ``n_times`` equally spaced times in ``[0, t_final]``, shape (n_times, L)."""
    states = scipy.sparse.linalg.expm_multiply(
        -1j * h_sparse, psi0.astype(complex), start=0.0, stop=t_final, num=n_times, endpoint=True
    )
    probs = np.abs(states) ** 2
    index = np.arange(2**length)
    # Basis index: site 0 is the most significant bit; bit 0 is spin up (S^z = +1/2).
    bits = (index[:, None] >> (length - 1 - np.arange(length))[None, :]) & 1
    return probs @ (0.5 - bits)


def draw(fig: Any, times: np.ndarray, sz: np.ndarray, ref: np.ndarray, label: str) -> None:
    """Middle-site magnetisation (tnkit vs exact) and the error against time."""
    mid = sz.shape[1] // 2
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(times, ref[:, mid], "k-", label="exact")
    ax1.plot(times, sz[:, mid], "r.", ms=4, label=label)
    ax1.set_xlabel("t")
    ax1.set_ylabel(rf"$\langle S^z_{{{mid}}}\rangle$")
    ax1.legend(fontsize=8)
    err = np.max(np.abs(sz - ref), axis=1)
    ax2.semilogy(times[1:], np.maximum(err[1:], 1e-17), "r.-", ms=3)
    ax2.set_xlabel("t")
    ax2.set_ylabel(r"$\max_i |\Delta\langle S^z_i\rangle|$")


def run(quick: bool) -> Outcome:
    length, t_final = (8, 0.5) if quick else (12, 2.0)
    h = models.heisenberg(length)
    psi0 = MPS.product([0, 1] * (length // 2), local_dim=2)
    sz_op = models.spin_operators()["z"]

    start = time.perf_counter()
    res = tebd(psi0, h, t_final, DT, order=ORDER, observables={"sz": sz_op}, run=QUIET)
    seconds = time.perf_counter() - start
    sz = res.observable("sz")
    times = np.asarray(res.times)
    ref = exact_sz(h.opsum.to_sparse(), psi0.to_dense(), length, t_final, len(times))
    errors = np.abs(sz - ref)
    details = {
        "L": length,
        "t_final": t_final,
        "dt": DT,
        "order": ORDER,
        "steps": len(times) - 1,
        "max_bond": max(res.max_bonds),
        "error_at_t_final": float(errors[-1].max()),
        "total_discarded": res.total_discarded,
        "energy_drift": res.energy_drift,
        "seconds": round(seconds, 3),
    }

    def plot(fig: Any) -> None:
        draw(fig, times, sz, ref, f"TEBD (order {ORDER}, dt={DT})")
        fig.suptitle(f"quench_tebd: Heisenberg L={length}, Néel quench")

    return Outcome(value=float(errors.max()), details=details, plot=plot)


CASE = Case(
    name="quench_tebd",
    claim="fourth-order TEBD follows <S^z_i>(t) of the L=12 Heisenberg chain after a Néel quench up to t=2",
    reference="scipy.sparse.linalg.expm_multiply on OpSum.to_sparse() (exact)",
    metric="max_{i,t} |<S^z_i>_TEBD - <S^z_i>_exact|",
    tolerance=1e-6,
    run=run,
)
