"""Viscous Burgers against the Cole-Hopf solution.

``u_t + u u_x = nu u_xx`` on the periodic interval [-1, 1) from ``u0 = -sin(pi x)`` with
nu = 0.01/pi (the steep-front benchmark of Basdevant et al. 1986), solved by
:class:`physics.pde.Burgers1D` (Fourier pseudo-spectral, 2/3 rule, ETDRK4) at N = 2048,
dt = 1e-4, to t = 1/pi (the last whole step before it; the reference is evaluated at
the same time). Reference: :func:`physics.pde.cole_hopf.burgers_sine_exact` (Gauss-Hermite
quadrature, 400 nodes; itself checked here against 200 nodes and against the published
steepest gradient 152.00516 at t = 1.6037/pi). Also reported: the error at 1.6037/pi and
the time-step convergence. Checked: the max error at t = 1/pi is at most 1e-6.
Quick: the same case (about a second).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physics.pde.cole_hopf import burgers_sine_exact
from physics.pde.spectral_solvers import Burgers1D
from tnkit.validation import Case, Outcome

NU = 0.01 / np.pi


def error_at(n: int, dt: float, t: float) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
    b = Burgers1D(n, NU, length=2.0, x0=-1.0, dt=dt)
    (x,) = b.grid
    steps = int(t / dt)
    u, _ = b.solve(-np.sin(np.pi * x), steps * dt)
    exact = burgers_sine_exact(x, steps * dt, NU)
    return float(np.abs(u - exact).max()), steps * dt, x, u, exact


def run(quick: bool) -> Outcome:
    err, t, x, u, exact = error_at(2048, 1e-4, 1 / np.pi)
    details: dict[str, Any] = {"N": 2048, "dt": 1e-4, "t": t, "max error at t = 1/pi": f"{err:.2e}"}
    details["reference: max |400 nodes - 200 nodes|"] = float(
        np.abs(exact - burgers_sine_exact(x, t, NU, nodes=200)).max()
    )
    h = 1e-6
    ends = burgers_sine_exact(np.array([-h, h]), 1.6037 / np.pi, NU)
    details["reference: steepest gradient at 1.6037/pi (published 152.00516)"] = round(
        float((ends[0] - ends[1]) / (2 * h)), 5
    )
    if not quick:
        details["max error at t = 1.6037/pi"] = f"{error_at(2048, 1e-4, 1.6037 / np.pi)[0]:.2e}"
        details["dt convergence (dt: error at 1/pi)"] = {
            dt: f"{error_at(2048, dt, 1 / np.pi)[0]:.2e}" for dt in (4e-4, 2e-4, 5e-5)
        }

    def plot(fig: Any) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        ax1.plot(x, exact, "k-", lw=1, label="Cole-Hopf")
        ax1.plot(x[::16], u[::16], "r.", ms=3, label="ETDRK4, N = 2048")
        ax1.set_xlabel("x")
        ax1.legend(fontsize=8)
        ax2.semilogy(x, np.maximum(np.abs(u - exact), 1e-17))
        ax2.axhline(1e-6, color="k", lw=0.8)
        ax2.set_xlabel("x")
        ax2.set_ylabel("|error|")
        fig.suptitle("Burgers, nu = 0.01/pi, t = 1/pi")

    return Outcome(value=err, details=details, plot=plot)


CASE = Case(
    name="pde_burgers_cole_hopf",
    claim="pseudo-spectral ETDRK4 Burgers matches the Cole-Hopf solution to 1e-6 at t = 1/pi with N = 2048",
    reference="Cole-Hopf solution by Gauss-Hermite quadrature (checked against the published 152.00516 gradient)",
    metric="max pointwise error at t = 1/pi",
    tolerance=1e-6,
    run=run,
)
