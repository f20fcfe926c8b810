"""Lanczos ground state of the S=1/2 Heisenberg open chain, L=12, against its exact energy."""

from __future__ import annotations

import numpy as np

from physics.spin_chains import HEISENBERG_OBC_L12_ENERGY, heisenberg_hamiltonian
from tnkit.linalg import eigsh
from tnkit.validation import Case, Outcome


def run(quick: bool) -> Outcome:
    h = heisenberg_hamiltonian(12)
    history: list[int] = []

    def matvec(v: np.ndarray) -> np.ndarray:
        history.append(1)
        return h @ v

    v0 = np.random.default_rng(12).standard_normal(h.shape[0])
    w, vecs = eigsh(matvec, v0, k=1, tol=1e-12)
    psi = vecs[:, 0]
    energy = float(w[0])
    residual = float(np.linalg.norm(h @ psi - energy * psi))
    # Independent invariant: total S^z of the singlet ground state is zero
    # (a set bit is a down spin, README "Conventions": S^z_total = (#up - #down) / 2).
    sz = np.array([6 - bin(s).count("1") for s in range(h.shape[0])], dtype=float)
    details = {
        "energy": energy,
        "exact": HEISENBERG_OBC_L12_ENERGY,
        "residual_norm": residual,
        "matvecs": len(history),
        "total_sz": float(np.sum(sz * psi**2)),
    }
    return Outcome(value=abs(energy - HEISENBERG_OBC_L12_ENERGY), details=details)


CASE = Case(
    name="heisenberg_lanczos",
    claim="tnkit.linalg.eigsh finds the ground-state energy of the L=12 open Heisenberg chain",
    reference="exact E0 = -5.142090632841 (ED)",
    metric="|E - E0|",
    tolerance=1e-10,
    run=run,
)
