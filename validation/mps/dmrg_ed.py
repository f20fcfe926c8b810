"""tnkit.dmrg against exact diagonalisation on chains small enough to diagonalise.

The reference is SciPy's ARPACK (``scipy.sparse.linalg.eigsh``) on the exact sparse
Hamiltonian from :meth:`tnkit.OpSum.to_sparse`, a code path that shares nothing with
tnkit's MPO construction, contraction or Lanczos solver. The bond-dimension schedule
reaches the largest bond these chains can have (``d**(L/2)``), so DMRG has no
truncation error left and must reproduce the exact energy to solver precision.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse.linalg

import tnkit
from tnkit.mps import models
from tnkit.run import Run
from tnkit.validation import Case, Outcome

QUIET = Run(progress=False)  # the validation runner reports progress

# (label, builder, length full, length quick); every model has a unique ground state
# separated by a gap well above DMRG's convergence threshold (recorded in the details).
MODELS: list[tuple[str, Any, int, int]] = [
    ("Heisenberg S=1/2", lambda L: models.heisenberg(L), 14, 10),
    ("XXZ Δ=0.5, h=0.3", lambda L: models.xxz(L, delta=0.5, h=0.3), 14, 10),
    ("TFIM J=1, h=1.5", lambda L: models.tfim(L, J=1.0, h=1.5), 14, 10),
    ("Heisenberg S=1", lambda L: models.heisenberg(L, spin=1), 10, 8),
]
BOND_DIMS = [16, 32, 64, 128, 256]
SWEEP_TOL = 1e-12
SEED = 7


def exact_ground(h: tnkit.MPO) -> tuple[float, float]:
    """Lowest eigenvalue and the gap above it, by ARPACK on the sparse matrix."""
    matrix = h.opsum.to_sparse()
    v0 = np.random.default_rng(SEED).standard_normal(matrix.shape[0])
    w = np.sort(scipy.sparse.linalg.eigsh(matrix, k=2, which="SA", tol=0.0, v0=v0)[0])
    return float(w[0]), float(w[1] - w[0])


def run(quick: bool) -> Outcome:
    rows: list[dict[str, Any]] = []
    traces: dict[str, np.ndarray] = {}
    for label, build, l_full, l_quick in MODELS:
        length = l_quick if quick else l_full
        h = build(length)
        e_exact, gap = exact_ground(h)
        t0 = time.perf_counter()
        res = tnkit.dmrg(
            h,
            bond_dims=BOND_DIMS,
            cutoff=1e-14,
            tol=SWEEP_TOL,
            eig_tol=1e-8,
            max_sweeps=20,
            compute_variance=False,
            rng=SEED,
            run=QUIET,
        )
        seconds = time.perf_counter() - t0
        rel = abs(res.energy - e_exact) / abs(e_exact)
        name = f"{label}, L={length}"
        traces[name] = np.abs(np.asarray(res.energies) - e_exact) / abs(e_exact)
        rows.append(
            {
                "model": name,
                "E_exact": e_exact,
                "E_dmrg": res.energy,
                "rel_error": rel,
                "gap": gap,
                "sweeps": res.n_sweeps,
                "max_bond": res.bond_dims[-1],
                "converged": res.converged,
                "dmrg_seconds": round(seconds, 2),
            }
        )

    def plot(fig: Any) -> None:
        from matplotlib.ticker import MaxNLocator

        ax = fig.subplots()
        floor = 1e-17  # exact agreement would vanish from a log axis
        for name, err in traces.items():
            ax.semilogy(np.arange(1, err.size + 1), np.maximum(err, floor), "o-", ms=3, label=name)
        ax.axhline(CASE.tolerance, color="k", ls="--", lw=1, label="tolerance")
        ax.set_xlabel("sweep")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(r"$|E_{\rm DMRG} - E_{\rm ED}| / |E_{\rm ED}|$")
        ax.set_title(f"tnkit.dmrg vs exact diagonalisation (χ ≤ {BOND_DIMS[-1]})")
        ax.legend(fontsize=7)

    worst = max(r["rel_error"] for r in rows)
    details: dict[str, Any] = {"bond_dims": BOND_DIMS, "models": rows}
    if not all(math.isfinite(r["rel_error"]) for r in rows):
        worst = math.inf
    return Outcome(value=worst, details=details, plot=plot)


CASE = Case(
    name="dmrg_ed",
    claim="two-site DMRG reproduces exact ground-state energies (S=1/2 Heisenberg, XXZ in a field, "
    "off-critical TFIM at L=14; S=1 Heisenberg at L=10)",
    reference="scipy.sparse.linalg.eigsh on OpSum.to_sparse() (exact diagonalisation)",
    metric="max over models of |E_DMRG - E_ED| / |E_ED|",
    tolerance=1e-10,
    run=run,
)
