"""Gaussian random fields: the empirical spectrum against (-Laplacian + tau^2)^(-alpha).

Fields from :class:`physics.pde.GaussianRandomField` — periodic (alpha = 2.5, tau = 7,
sigma = 7^1.5, the FNO vorticity prior) and Neumann (alpha = 2, tau = 3, the FNO Darcy
prior) — are projected back onto the eigenfunctions of the Laplacian. The KL coefficient
of mode k has variance ``lambda_k = sigma^2 (mu_k + tau^2)^(-alpha)``. Per shell of
integer |k| (unit width) the mean of ``|c_k|^2 / lambda_k`` over all samples and modes
in the shell is compared with 1: its sampling standard error is ``sqrt(2 / dof)`` with
``dof`` the number of real Gaussian degrees of freedom in the shell.

Reference: the covariance operator. Checked: the largest |z-score| over all shells of both
boundary conditions is at most 4.5 (about 70 shells: a correct sampler exceeds 4.5 with
probability ~5e-4). Full: 64^2, 2000 samples each; quick: 32^2, 400 samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physics.pde.grf import GaussianRandomField
from tnkit.validation import Case, Outcome


def shells(grf: GaussianRandomField, num: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = grf.sample(num, rng=seed)
    c = np.asarray(grf.coefficients(u))
    lam = grf.eigenvalues()
    ks = grf.integer_modes()
    radius = np.sqrt(sum(k**2 for k in ks))
    power = np.abs(c) ** 2 / np.where(lam > 0, lam, 1.0)
    # |c|^2 / lambda is chi^2_1 (mean 1, variance 2) for a real coefficient and chi^2_2 / 2
    # (mean 1, variance 1) for a complex one. Periodic (2D, rfft layout): the modes of the
    # half axis' ends (k_y = 0 or n/2) appear with their conjugates; keep k_x >= 0 there
    # (and k_x = -n/2); self-conjugate modes (every index 0 or n/2) are real.
    use = lam > 0
    var = np.full(lam.shape, 2.0)
    if grf.bc == "periodic":
        kx, ky = ks
        edge = (ky == 0) | (ky == grf.n // 2)
        use &= ~edge | (kx >= 0) | (kx == -(grf.n // 2))
        real = edge & ((kx == 0) | (np.abs(kx) == grf.n // 2))
        var = np.where(real, 2.0, 1.0)
    idx = np.floor(radius + 0.5).astype(int)
    ratios, zs, centres = [], [], []
    for r in range(1, int(idx.max()) + 1):
        sel = (idx == r) & use
        if not sel.any():
            continue
        m = num * int(sel.sum())
        ratio = float(power[:, sel].sum()) / m
        se = float(np.sqrt(num * var[sel].sum())) / m
        ratios.append(ratio)
        zs.append((ratio - 1) / se)
        centres.append(r)
    return np.array(centres), np.array(ratios), np.array(zs)


def run(quick: bool) -> Outcome:
    n, num = (32, 400) if quick else (64, 2000)
    fields = {
        "periodic (alpha 2.5, tau 7)": GaussianRandomField(n, alpha=2.5, tau=7.0, sigma=7.0**1.5),
        "neumann (alpha 2, tau 3)": GaussianRandomField(n, alpha=2.0, tau=3.0, bc="neumann"),
    }
    results = {name: shells(g, num, seed) for seed, (name, g) in enumerate(fields.items())}
    details: dict[str, Any] = {"grid": f"{n}^2", "samples": num}
    for name, (_, ratios, zs) in results.items():
        details[f"{name}: shells"] = len(zs)
        details[f"{name}: max |z|"] = round(float(np.abs(zs).max()), 2)
        details[f"{name}: mean power ratio"] = round(float(ratios.mean()), 4)

    def plot(fig: Any) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        for name, (r, ratios, zs) in results.items():
            ax1.plot(r, ratios, ".-", label=name)
            ax2.plot(r, zs, ".", label=name)
        ax1.axhline(1, color="k", lw=0.8)
        ax1.set_xlabel("|k| shell")
        ax1.set_ylabel("empirical / exact variance")
        ax2.axhline(4.5, color="k", lw=0.8)
        ax2.axhline(-4.5, color="k", lw=0.8)
        ax2.set_xlabel("|k| shell")
        ax2.set_ylabel("z-score")
        ax1.legend(fontsize=7)
        fig.suptitle(f"GRF spectra, {n}^2, {num} samples")

    return Outcome(value=max(float(np.abs(z).max()) for _, _, z in results.values()), details=details, plot=plot)


CASE = Case(
    name="pde_grf_spectrum",
    claim="Gaussian random field samples have the spectrum sigma^2 (mu_k + tau^2)^(-alpha) within sampling error",
    reference="the covariance operator's eigenvalues",
    metric="max |z-score| of the shell-averaged variance ratio (periodic and Neumann)",
    tolerance=4.5,
    run=run,
)
