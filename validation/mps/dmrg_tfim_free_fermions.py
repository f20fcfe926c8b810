"""tnkit.dmrg on the critical transverse-field Ising chain against its free-fermion energy.

For the open chain ``H = -J sum_i Z_i Z_{i+1} - h sum_i X_i`` the Jordan–Wigner
transformation gives free Majorana fermions whose single-particle energies are
``2 sigma_k``, the singular values ``sigma_k`` of the L x L bidiagonal matrix ``B``
with ``B_ii = h`` and ``B_{i,i+1} = J``; filling the Fermi sea gives

    E0 = -sum_k sigma_k(B)

[LSM61]_, [P70]_. At ``J = h`` the chain is critical (gap ~ pi/L), the hardest point
for DMRG's energy convergence.

References
----------
.. [LSM61] E. Lieb, T. Schultz and D. Mattis, "Two soluble models of an
   antiferromagnetic chain", Ann. Phys. 16, 407 (1961).
.. [P70] P. Pfeuty, "The one-dimensional Ising model with a transverse field",
   Ann. Phys. 57, 79 (1970).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import tnkit
from tnkit.run import Run
from tnkit.validation import Case, Outcome

QUIET = Run(progress=False)  # the validation runner reports progress

LENGTHS_FULL = (64, 128)
LENGTHS_QUICK = (16, 32)
BOND_DIMS = [16, 32]
# Published check of the formula (the sum of singular values at L = 128, J = h = 1).
E0_L128 = -162.612300177569


def free_fermion_energy(length: int, J: float = 1.0, h: float = 1.0) -> float:
    """``-sum_k sigma_k(B)`` with ``B`` bidiagonal (``h`` on the diagonal, ``J`` above)."""
    b = np.diag(np.full(length, h)) + np.diag(np.full(length - 1, J), k=1)
    return -float(np.sum(np.linalg.svd(b, compute_uv=False)))


def run(quick: bool) -> Outcome:
    # The reference itself is checked first: a wrong formula would make the case meaningless.
    formula_error = abs(free_fermion_energy(128) - E0_L128)
    if formula_error > 1e-11:  # the published value has 12 decimals
        raise RuntimeError(f"free-fermion formula gives E0(128) off the published value by {formula_error:.2e}")

    rows: list[dict[str, Any]] = []
    traces: dict[int, np.ndarray] = {}
    for length in LENGTHS_QUICK if quick else LENGTHS_FULL:
        exact = free_fermion_energy(length)
        t0 = time.perf_counter()
        res = tnkit.dmrg(
            tnkit.mps.models.tfim(length, J=1.0, h=1.0),
            bond_dims=BOND_DIMS,
            cutoff=1e-10,
            tol=1e-10,
            max_sweeps=40,
            compute_variance=False,
            rng=length,
            run=QUIET,
        )
        seconds = time.perf_counter() - t0
        traces[length] = np.abs(np.asarray(res.energies) - exact) / abs(exact)
        rows.append(
            {
                "L": length,
                "E_exact": exact,
                "E_dmrg": res.energy,
                "rel_error": abs(res.energy - exact) / abs(exact),
                "sweeps": res.n_sweeps,
                "max_bond": res.bond_dims[-1],
                "max_discarded": res.discarded[-1],
                "converged": res.converged,
                "dmrg_seconds": round(seconds, 2),
            }
        )

    def plot(fig: Any) -> None:
        from matplotlib.ticker import MaxNLocator

        ax = fig.subplots()
        for length, err in traces.items():
            ax.semilogy(np.arange(1, err.size + 1), np.maximum(err, 1e-17), "o-", ms=3, label=f"L = {length}")
        ax.axhline(CASE.tolerance, color="k", ls="--", lw=1, label="tolerance")
        ax.set_xlabel("sweep")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(r"$|E_{\rm DMRG} - E_0| / |E_0|$")
        ax.set_title(f"critical TFIM (J = h = 1) vs free fermions, χ ≤ {BOND_DIMS[-1]}")
        ax.legend()

    details = {
        "bond_dims": BOND_DIMS,
        "E0_L128_formula": free_fermion_energy(128),
        "E0_L128_published": E0_L128,
        "runs": rows,
    }
    return Outcome(value=max(r["rel_error"] for r in rows), details=details, plot=plot)


CASE = Case(
    name="dmrg_tfim_free_fermions",
    claim="DMRG finds the ground-state energy of the critical open TFIM chain (L = 64, 128)",
    reference="free fermions: E0 = -sum_k sigma_k(B), B bidiagonal (h on the diagonal, J above); "
    "E0(128) = -162.612300177569",
    metric="max over L of |E - E0| / |E0|",
    tolerance=1e-9,
    run=run,
)
