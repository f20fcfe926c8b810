"""One-site TDVP after a Néel quench of the Heisenberg chain, against exact evolution.

Two runs at fixed bond dimension:

* full: bonds enlarged to ``min(2^i, 2^(L-i))`` (64 for L = 12), where the MPS manifold
  is the whole Hilbert space and TDVP must reproduce ``<S^z_i>(t)`` exactly;
* truncated: bonds fixed at 16 (4 when quick), where TDVP is approximate but must
  still conserve the energy.

The value is ``max(obs_error, 100 * drift)`` with ``drift = max_t |E(t) - E(0)|`` over
both runs, so it fails if the observables miss by more than 1e-6 or the energy drifts
by more than 1e-8. Reference: as for ``quench_tebd`` (scipy ``expm_multiply`` on
``OpSum.to_sparse()``). Full: L = 12, t = 2; quick: L = 8, t = 0.5.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np

from tnkit import tdvp
from tnkit.mps import models
from tnkit.mps.mps import MPS
from tnkit.run import Run
from tnkit.validation import Case, Outcome

QUIET = Run(progress=False)  # the validation runner reports progress

DT = 0.1
DRIFT_WEIGHT = 100.0


def _sibling(name: str) -> Any:
    """A module beside this one (the validation folders hold scripts, not packages)."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"tnkit_validation_{name}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def run(quick: bool) -> Outcome:
    tebd_case = _sibling("quench_tebd")
    length, t_final = (8, 0.5) if quick else (12, 2.0)
    full_bond = 2 ** (length // 2)
    small_bond = 4 if quick else 16
    h = models.heisenberg(length)
    psi0 = MPS.product([0, 1] * (length // 2), local_dim=2)
    sz_op = models.spin_operators()["z"]

    start = time.perf_counter()
    full = tdvp(psi0, h, t_final, DT, max_bond=full_bond, observables={"sz": sz_op}, run=QUIET)
    seconds_full = time.perf_counter() - start
    start = time.perf_counter()
    small = tdvp(psi0, h, t_final, DT, max_bond=small_bond, observables={"sz": sz_op}, run=QUIET)
    seconds_small = time.perf_counter() - start

    times = np.asarray(full.times)
    ref = tebd_case.exact_sz(h.opsum.to_sparse(), psi0.to_dense(), length, t_final, len(times))
    sz_full, sz_small = full.observable("sz"), small.observable("sz")
    obs_error = float(np.abs(sz_full - ref).max())
    drift = max(full.energy_drift, small.energy_drift)
    details = {
        "L": length,
        "t_final": t_final,
        "dt": DT,
        "steps": len(times) - 1,
        "sz_error_full_bond": obs_error,
        "full_bond": full_bond,
        "energy_drift_full_bond": full.energy_drift,
        "energy_drift_truncated": small.energy_drift,
        "truncated_bond": small_bond,
        "sz_error_truncated (not checked)": float(np.abs(sz_small - ref).max()),
        "norm_drift_truncated": max(abs(n - 1.0) for n in small.norms),
        "seconds_full": round(seconds_full, 3),
        "seconds_truncated": round(seconds_small, 3),
    }

    def plot(fig: Any) -> None:
        tebd_case.draw(fig, times, sz_full, ref, f"TDVP one-site, chi={full_bond}")
        ax1, ax2 = fig.axes
        ax1.plot(times, sz_small[:, length // 2], "b+", ms=4, label=f"TDVP one-site, chi={small_bond}")
        ax1.legend(fontsize=8)
        ax2.semilogy(times[1:], np.maximum(np.abs(sz_small - ref).max(axis=1)[1:], 1e-17), "b+-", ms=3)
        fig.suptitle(f"quench_tdvp: Heisenberg L={length}, Néel quench")

    return Outcome(value=max(obs_error, DRIFT_WEIGHT * drift), details=details, plot=plot)


CASE = Case(
    name="quench_tdvp",
    claim=(
        "one-site TDVP at full bond dimension follows <S^z_i>(t) of the L=12 Heisenberg chain after a "
        "Néel quench up to t=2, and conserves the energy at fixed (full and truncated) bond dimension"
    ),
    reference="scipy.sparse.linalg.expm_multiply on OpSum.to_sparse() (exact); E(0)",
    metric="max(max_{i,t} |ΔS^z_i|, 100 · max_t |E(t) - E(0)|)",
    tolerance=1e-6,
    run=run,
)
