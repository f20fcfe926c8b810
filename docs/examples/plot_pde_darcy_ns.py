r"""
Reference PDE solvers: random fields, Darcy flow and Navier–Stokes
==================================================================

The neural-operator benchmarks of :mod:`physics.operators` learn maps between functions
produced by the reference solvers of :mod:`physics.pde`. This example runs each of them
once, at the sizes of the benchmark data, and checks each against an exact solution:

- a Gaussian random field (the random inputs),
- Darcy flow :math:`-\nabla\cdot(a\nabla u) = 1` with a two-valued permeability, and a
  manufactured solution that shows the second-order convergence of the scheme,
- forced 2-D Navier–Stokes flow at :math:`64^2`, and the Taylor–Green vortex,
  which decays without changing shape.
"""

# %%
# Darcy flow through a random medium
# ----------------------------------
# The permeability is 12 where a Neumann Gaussian random field is positive and 3 elsewhere,
# as in the FNO Darcy data.
import matplotlib.pyplot as plt
import numpy as np

from physics.pde import Darcy2D, GaussianRandomField, NavierStokes2D, fno_forcing, unit_square_grid

n = 85
field = GaussianRandomField(n, bc="neumann").sample(1, rng=0)[0]
a = np.where(field >= 0, 12.0, 3.0)
u = Darcy2D(n).solve(a)
print(f"Darcy: max u = {u.max():.5f}, min u = {u.min():.2e} (the five-point scheme keeps u >= 0)")

# %%
# Second-order convergence
# ------------------------
# With :math:`a = 1 + x^2` and :math:`u = \sin\pi x\,\sin\pi y` the source is
# :math:`f = 2\pi^2 (1 + x^2)\sin\pi x\sin\pi y - 2\pi x\cos\pi x\sin\pi y`; the error of the
# discrete solution should fall by four each time the grid spacing halves.
sizes, errors = [17, 33, 65, 129], []
for m in sizes:
    x, y = unit_square_grid(m)
    exact = np.sin(np.pi * x) * np.sin(np.pi * y)
    f = 2 * np.pi**2 * (1 + x**2) * exact - 2 * np.pi * x * np.cos(np.pi * x) * np.sin(np.pi * y)
    errors.append(np.abs(Darcy2D(m).solve(1 + x**2, f) - exact).max())
orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
print("manufactured solution, max error:", ", ".join(f"{e:.2e}" for e in errors))
print("observed orders:", ", ".join(f"{p:.3f}" for p in orders), "(expected 2)")

# %%
# Forced flow at 64²
# ------------------
# The initial vorticity is a periodic random field; the forcing and viscosity
# :math:`\nu = 10^{-3}` are those of the FNO Navier–Stokes data. Over a few time units the
# random eddies are swept into the diagonal bands of the forcing.
w0 = GaussianRandomField(64, alpha=2.5, tau=7.0, sigma=7.0**1.5).sample(1, rng=0)[0]
ns = NavierStokes2D(64, 1e-3, forcing=fno_forcing, dt=1e-3)
w_end, snaps = ns.solve(w0, 8.0, snapshots=4, progress=False)
print(
    f"Navier-Stokes: vorticity range {w0.min():.2f}..{w0.max():.2f} at t=0, {w_end.min():.2f}..{w_end.max():.2f} at t=8"
)

# %%
# Taylor–Green vortex
# -------------------
# :math:`\omega = 2\sin x\,\sin y\;e^{-2\nu t}` on :math:`[0, 2\pi)^2` is an exact solution
# (its non-linear term vanishes), so the solver must keep the shape and the decay rate.
tg = NavierStokes2D(32, 0.05, length=2 * np.pi, dt=0.01, method="etdrk4")
xg, yg = tg.grid
w_tg, _ = tg.solve(2 * np.sin(xg) * np.sin(yg), 2.0, progress=False)
tg_err = np.abs(w_tg - 2 * np.sin(xg) * np.sin(yg) * np.exp(-2 * 0.05 * 2.0)).max()
print(f"Taylor-Green at t = 2: max |w - exact| = {tg_err:.1e}")

# %%
# Pictures
# --------
fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
axes[0].imshow(field.T, origin="lower", cmap="coolwarm", extent=(0, 1, 0, 1))
axes[0].set_title("Gaussian random field (Neumann)")
axes[1].imshow(a.T, origin="lower", cmap="Greys", extent=(0, 1, 0, 1))
axes[1].set_title("permeability $a \\in \\{3, 12\\}$")
im = axes[2].imshow(u.T, origin="lower", cmap="viridis", extent=(0, 1, 0, 1))
axes[2].contour(u.T, levels=10, colors="w", linewidths=0.5, extent=(0, 1, 0, 1))
fig.colorbar(im, ax=axes[2], fraction=0.046)
axes[2].set_title(r"pressure $u$: $-\nabla\cdot(a\nabla u) = 1$")
h = 1 / (np.array(sizes) - 1)
axes[3].loglog(h, errors, "o-", label="max error")
axes[3].loglog(h, errors[0] * (h / h[0]) ** 2, "k--", lw=1, label="$\\propto h^2$")
axes[3].set(xlabel="grid spacing $h$", title="manufactured solution")
axes[3].xaxis.set_minor_formatter(plt.NullFormatter())
axes[3].legend()
fig.tight_layout()

fig, axes = plt.subplots(1, 5, figsize=(16, 3.4))
frames = [w0] + list(snaps)
vmax = max(np.abs(w).max() for w in frames)
for k, (ax, w) in enumerate(zip(axes, frames)):
    ax.imshow(w.T, origin="lower", cmap="RdBu_r", extent=(0, 1, 0, 1), vmin=-vmax, vmax=vmax)
    ax.set_title(f"vorticity, t = {2 * k}")
    ax.set_axis_off()
fig.tight_layout()
plt.show()
