"""Taylor-Green vortex: the pseudo-spectral Navier-Stokes solver against the exact decay.

On the periodic square [0, 2 pi)^2 the vorticity ``omega = 2 sin x sin y e^{-2 nu t}`` solves
2D Navier-Stokes exactly (the stream function is ``omega / 2``, so the advection term
vanishes identically). Solved by :class:`physics.pde.NavierStokes2D` at 64^2 with
nu = 0.01 to t = 1, with every time stepper, and a higher-mode version ``2 sin 3x sin 3y``
(decay ``e^{-18 nu t}``). dt = 2.5e-4: Crank-Nicolson's decay factor per step is off by
``(18 nu dt)^3 / 12``, ~5e-11 at t = 1 for mode 3 (~8e-10 at dt = 1e-3).

Reference: the exact solution. Checked: the largest pointwise error at t = 1 over all
runs is at most 1e-10 (spectral accuracy in space; any aliasing or sign error in the
non-linear term would put O(dt) errors into the result). Quick: a 32^2 grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physics.pde.spectral_solvers import METHODS, NavierStokes2D
from tnkit.validation import Case, Outcome

NU = 0.01


def run(quick: bool) -> Outcome:
    errors: dict[str, float] = {}
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for m in (1, 3):
        for method in METHODS:
            ns = NavierStokes2D(32 if quick else 64, NU, length=2 * np.pi, dt=2.5e-4, method=method)
            x, y = ns.grid
            shape = 2 * np.sin(m * x) * np.sin(m * y)
            ts: list[float] = []
            es: list[float] = []

            def watch(t: float, w: Any, shape: np.ndarray = shape, m: int = m, ts: list = ts, es: list = es) -> None:
                ts.append(t)
                es.append(float(np.abs(w - shape * np.exp(-2 * m * m * NU * t)).max()))

            ns.solve(shape, 1.0, snapshots=10, callback=watch)
            errors[f"mode {m}, {method}"] = es[-1]
            curves[f"mode {m}, {method}"] = (ts, es)

    def plot(fig: Any) -> None:
        ax = fig.subplots()
        for name, (ts, es) in curves.items():
            ax.semilogy(ts, np.maximum(es, 1e-17), "o-", ms=3, label=name)
        ax.axhline(1e-10, color="k", lw=0.8)
        ax.set_xlabel("t")
        ax.set_ylabel("max |omega - exact|")
        ax.legend(fontsize=7)
        ax.set_title(f"Taylor-Green vortex, {32 if quick else 64}^2, nu = 0.01")

    return Outcome(value=max(errors.values()), details={k: f"{v:.2e}" for k, v in errors.items()}, plot=plot)


CASE = Case(
    name="pde_taylor_green",
    claim="the pseudo-spectral Navier-Stokes solver keeps the Taylor-Green vortex exact to 1e-10 at t = 1",
    reference="exact solution omega = 2 sin(mx) sin(my) exp(-2 m^2 nu t)",
    metric="max pointwise error at t = 1 over steppers and modes",
    tolerance=1e-10,
    run=run,
)
