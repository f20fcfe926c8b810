r"""
TT-cross: a six-dimensional function from a few of its values
=============================================================

A function on a :math:`16^6` grid has almost 17 million values. If it has low tensor-train
ranks, :func:`tnkit.tt_cross` recovers it from a tiny fraction of them, chosen adaptively
by maxvol pivoting. Here the function is a smoothed Coulomb potential in six variables,

.. math:: f(x) = \frac{1}{\sqrt{0.1 + \sum_{k=1}^6 x_k^2}},\qquad x \in [-1, 1]^6,

and we measure the error at random grid points where :math:`f` is computed directly,
against the number of function evaluations the cross approximation asked for.
"""

# %%
# The black box
# -------------
# ``f`` receives an integer array of multi-indices, shape ``(m, 6)``, and returns the
# ``m`` values. We count the calls ourselves as well.
import matplotlib.pyplot as plt
import numpy as np

import tnkit

d, n = 6, 16
grid = np.linspace(-1.0, 1.0, n)


def f(idx):
    return 1.0 / np.sqrt(0.1 + np.sum(grid[idx] ** 2, axis=1))


rng = np.random.default_rng(0)
test_idx = rng.integers(0, n, size=(20_000, d))
test_val = f(test_idx)


def test_error(tt):
    return np.linalg.norm(np.asarray(tt.evaluate(test_idx)) - test_val) / np.linalg.norm(test_val)


# %%
# Accuracy against evaluations
# ----------------------------
# One run per tolerance; ``info.evaluations`` counts every entry requested from ``f``.
tols = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]
evals, errors, ranks = [], [], []
for tol in tols:
    tt, info = tnkit.tt_cross(f, (n,) * d, tol=tol, rng=0)
    evals.append(info.evaluations)
    errors.append(test_error(tt))
    ranks.append(max(tt.ranks))
    print(
        f"tol {tol:.0e}: ranks {tt.ranks}, {info.evaluations:7d} evaluations "
        f"({info.evaluations / n**d:.2%} of the grid), error at 20000 random points {errors[-1]:.1e}"
    )

# %%
# Convergence within one run
# --------------------------
# The ``callback`` sees the approximation after every half-sweep; we record its error.
history = []
tt, info = tnkit.tt_cross(
    f, (n,) * d, tol=1e-8, rng=0, callback=lambda t, i: history.append((i.evaluations, test_error(t)))
)
print(f"{info.sweeps} half-sweeps, converged: {info.converged}")

# %%
# A slice through the function
# ----------------------------
# The TT approximation can be evaluated anywhere on the grid; a 2-D slice at
# :math:`x_3 = \dots = x_6 \approx 0` shows the cusp of the potential and the pointwise error.
i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
mid = np.full(n * n, n // 2)
idx = np.stack([i.ravel(), j.ravel(), mid, mid, mid, mid], axis=1)
approx_slice = np.asarray(tt.evaluate(idx)).reshape(n, n)
exact_slice = f(idx).reshape(n, n)

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
axes[0].loglog(evals, errors, "o-", label="final error")
axes[0].loglog(*zip(*history), "s--", ms=3, label="after each half-sweep (tol 1e-8)")
for tol, e, r in zip(tols, evals, errors):
    axes[0].annotate(f"{tol:.0e}", (e, r), textcoords="offset points", xytext=(4, 4), fontsize=7)
axes[0].set(
    xlabel="function evaluations", ylabel="relative error (random points)", title=f"{n}$^{d}$ = {n**d:,} grid points"
)
axes[0].legend(fontsize=8)
extent = (-1, 1, -1, 1)
im = axes[1].imshow(approx_slice.T, origin="lower", extent=extent, cmap="viridis")
fig.colorbar(im, ax=axes[1])
axes[1].set(xlabel="$x_1$", ylabel="$x_2$", title=f"TT-cross, slice $x_3 = \\dots = x_6 = {grid[n // 2]:.3f}$")
im = axes[2].imshow(np.abs(approx_slice - exact_slice).T, origin="lower", extent=extent, cmap="magma")
fig.colorbar(im, ax=axes[2])
axes[2].set(xlabel="$x_1$", ylabel="$x_2$", title="|error| on the slice (tol 1e-8)")
fig.tight_layout()
plt.show()
