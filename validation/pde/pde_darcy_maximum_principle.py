"""Darcy flow with f = 1 obeys the discrete maximum principle on FNO-style two-valued media.

The five-point matrix with harmonic or arithmetic face coefficients is an M-matrix, so its
inverse is entrywise positive and ``f = 1`` gives ``u > 0`` at every interior node. The media
are those of the FNO Darcy benchmark (Li et al., arXiv:2010.08895): ``a = 12`` where a smooth
random field is non-negative and ``a = 3`` elsewhere, the field a Neumann Gaussian random
field (``alpha = 2``, ``tau = 3``, :class:`physics.pde.GaussianRandomField`) at the grid
nodes, as in the ``darcy`` dataset. Both the direct (sparse LU) and the matrix-free CG
solvers are checked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physics.pde.elliptic import Darcy2D
from physics.pde.grf import GaussianRandomField
from tnkit.validation import Case, Outcome

SEED = 20240607
HIGH, LOW = 12.0, 3.0
ALPHA, TAU = 2.0, 3.0


def two_valued_media(n: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """``batch`` coefficient fields of shape (n, n) taking the values 12 and 3."""
    field = GaussianRandomField(n, alpha=ALPHA, tau=TAU, bc="neumann").sample(batch, rng=rng)
    return np.where(field >= 0, HIGH, LOW)


def run(quick: bool) -> Outcome:
    n, batch, cg_batch = (85, 8, 8) if quick else (421, 16, 16)
    rng = np.random.default_rng(SEED)
    a = two_valued_media(n, batch, rng)
    per_run: dict[str, dict[str, float]] = {}
    interior_min, overall_max = np.inf, -np.inf
    solutions = {}
    for mean in ("harmonic", "arithmetic"):
        darcy = Darcy2D(n, mean=mean)
        for method, media in (("direct", a), ("cg", a[:cg_batch])):
            u = darcy.solve(media, 1.0, method=method)
            inner = u[:, 1:-1, 1:-1]
            per_run[f"{mean}/{method}"] = {"min_u_interior": float(inner.min()), "max_u": float(u.max())}
            interior_min = min(interior_min, float(inner.min()))
            overall_max = max(overall_max, float(u.max()))
            solutions[(mean, method)] = u
    agreement = 0.0
    for mean in ("harmonic", "arithmetic"):
        direct, cg = solutions[(mean, "direct")], solutions[(mean, "cg")]
        agreement = max(agreement, float(np.abs(cg - direct[:cg_batch]).max() / np.abs(direct).max()))
    u_show = solutions[("harmonic", "direct")][0]

    def plot(fig: Any) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        im1 = ax1.imshow(a[0].T, origin="lower", extent=(0, 1, 0, 1), cmap="viridis")
        ax1.set_title("coefficient a (12 / 3)")
        fig.colorbar(im1, ax=ax1, shrink=0.7)
        im2 = ax2.imshow(u_show.T, origin="lower", extent=(0, 1, 0, 1), cmap="magma")
        ax2.set_title("u, f = 1 (harmonic faces)")
        fig.colorbar(im2, ax=ax2, shrink=0.7)
        fig.suptitle(f"Darcy maximum principle, n = {n}: min interior u = {interior_min:.3g}")

    details = {
        "n": n,
        "samples": batch,
        "cg_samples": cg_batch,
        "min_u_interior": interior_min,
        "max_u": overall_max,
        "strictly_positive_interior": bool(interior_min > 0),
        "fraction_high": float(np.mean(a == HIGH)),
        "max_rel_diff_cg_vs_direct": agreement,
        "runs": per_run,
    }
    return Outcome(value=-interior_min, details=details, plot=plot)


CASE = Case(
    name="pde_darcy_maximum_principle",
    claim="Darcy with f = 1 on random 12/3 media gives u > 0 at every interior node (discrete maximum principle)",
    reference="M-matrix property of the five-point scheme (u >= 0 exactly for f >= 0)",
    metric="-min(u) over interior nodes, all samples, both face means, LU and CG",
    tolerance=0.0,
    run=run,
)
