"""tnkit.dmrg on the S=1 Heisenberg (Haldane) open chain of 100 sites in the S^z = 0 sector.

The open S=1 chain carries a free spin-1/2 at each end; for even L the singlet is
the ground state and the S^z = 0 member of the triplet lies above it by an amount
that vanishes like exp(-L / xi), xi ~ 6. DMRG is started from a Neel-like product
state with total S^z = 0 (``sector=0``), which two-site updates preserve because
the Hamiltonian conserves S^z.

The full version compares with the reference E0 = -138.940086143 for L = 100 (the
value specified in issue 3, 12 significant digits: a rounding uncertainty of 4e-12
relative). The quick version compares L = 8 with exact
diagonalisation restricted to the sector: the exact sparse matrix from
:meth:`tnkit.OpSum.to_sparse`, projected onto the product states with total
S^z = 0, diagonalised by ``scipy.sparse.linalg.eigsh``. It runs twice, at h = 0 and
in a field h = 0.5 that pulls the unrestricted ground state into S^z = 1, so DMRG
must stay in the sector to pass.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse.linalg

import tnkit
from tnkit.mps import models
from tnkit.run import Run
from tnkit.validation import Case, Outcome

QUIET = Run(progress=False)  # the validation runner reports progress

E0_L100 = -138.940086143
LENGTH_FULL, LENGTH_QUICK = 100, 8
BOND_DIMS = [16, 32, 64, 128]
QUICK_FIELDS = (0.0, 0.5)
SEED = 1


def basis_sz(length: int, spin: float = 1.0) -> np.ndarray:
    """Total S^z of every product basis state (site 0 the most significant digit)."""
    d = round(2 * spin) + 1
    m = spin - np.arange(d)  # local basis |m = s>, |s - 1>, ..., |-s>
    total = np.zeros(1)
    for _ in range(length):
        total = (total[:, None] + m[None, :]).ravel()
    return total


def sector_energies(h: tnkit.MPO, length: int) -> tuple[float, float]:
    """Lowest energy in the S^z = 0 sector and in the whole space, by ARPACK."""
    matrix = h.opsum.to_sparse().tocsr()
    keep = np.flatnonzero(np.abs(basis_sz(length)) < 0.5)
    block = matrix[keep][:, keep]
    rng = np.random.default_rng(SEED)
    e_sector = scipy.sparse.linalg.eigsh(block, k=1, which="SA", tol=0.0, v0=rng.standard_normal(keep.size))[0][0]
    e_all = scipy.sparse.linalg.eigsh(matrix, k=1, which="SA", tol=0.0, v0=rng.standard_normal(matrix.shape[0]))[0][0]
    return float(e_sector), float(e_all)


def _solve(length: int, field: float) -> tuple[Any, float, float]:
    h = models.heisenberg(length, spin=1, h=field)
    t0 = time.perf_counter()
    res = tnkit.dmrg(
        h, bond_dims=BOND_DIMS, cutoff=1e-10, tol=1e-9, max_sweeps=20, sector=0, compute_variance=False, run=QUIET
    )
    seconds = time.perf_counter() - t0
    sz = float(models.total_sz(length, spin=1).expectation(res.state))
    return res, seconds, sz


def run(quick: bool) -> Outcome:
    rows: list[dict[str, Any]] = []
    traces: dict[str, np.ndarray] = {}
    for field in QUICK_FIELDS if quick else (0.0,):
        length = LENGTH_QUICK if quick else LENGTH_FULL
        if quick:
            reference, e_unrestricted = sector_energies(models.heisenberg(length, spin=1, h=field), length)
        else:
            reference, e_unrestricted = E0_L100, None
        res, seconds, sz = _solve(length, field)
        label = f"L={length}, h={field:g}"
        traces[label] = np.abs(np.asarray(res.energies) - reference) / abs(reference)
        rows.append(
            {
                "L": length,
                "h": field,
                "reference": reference,
                "E_unrestricted_ED": e_unrestricted,
                "energy": res.energy,
                "rel_error": abs(res.energy - reference) / abs(reference),
                "total_sz": sz,
                "bond_dims": res.bond_dims,
                "max_discarded": res.discarded[-1],
                "sweeps": res.n_sweeps,
                "converged": res.converged,
                "dmrg_seconds": round(seconds, 2),
            }
        )

    def plot(fig: Any) -> None:
        from matplotlib.ticker import MaxNLocator

        ax = fig.subplots()
        for label, err in traces.items():
            ax.semilogy(np.arange(1, err.size + 1), np.maximum(err, 1e-17), "o-", ms=4, label=label)
        ax.axhline(CASE.tolerance, color="k", ls="--", lw=1, label="tolerance")
        ax.set_xlabel(f"sweep (χ schedule {BOND_DIMS})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(r"$|E - E_0| / |E_0|$")
        ax.set_title("S=1 Heisenberg open chain, $S^z_{tot} = 0$ sector")
        ax.legend()

    # Leaving the sector is a failure whatever the energy says.
    worst = max(r["rel_error"] if abs(r["total_sz"]) < 1e-6 else float("inf") for r in rows)
    return Outcome(value=worst, details={"bond_dims": BOND_DIMS, "runs": rows}, plot=plot)


CASE = Case(
    name="dmrg_spin1_l100",
    claim="DMRG in the S^z = 0 sector finds the ground-state energy of the S=1 Heisenberg open chain of 100 sites",
    reference="E0(L=100) = -138.940086143 (quick: L=8 ED projected onto S^z = 0, at h = 0 and 0.5)",
    metric="|E - E0| / |E0| (inf if <S^z_tot> != 0)",
    tolerance=1e-8,
    run=run,
)
