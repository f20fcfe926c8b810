r"""
Compressing a smooth function: Tucker and tensor trains
=======================================================

A function sampled on a grid, :math:`X_{i_1 i_2 i_3 i_4} = f(x_{i_1}, \dots, x_{i_4})`, is
a tensor with rapidly decaying multilinear singular values when :math:`f` is smooth. We
compress the inverse-distance-like function

.. math:: f(x) = \frac{1}{0.05 + x_1 + x_2^2/2 + x_3^3/4 + x_4/8},\qquad x \in [0, 1]^4,

on a :math:`24^4` grid with Tucker decompositions (ST-HOSVD, HOOI, and the best core
shape for a parameter budget) and with a tensor train (TT-SVD), and compare the error
each reaches for a given number of stored parameters.
"""

# %%
# The tensor and its error guarantee
# ----------------------------------
# :func:`tnkit.sthosvd` with a tolerance picks the multilinear ranks so that
# :math:`\|X - \tilde X\|_F \le \mathrm{tol}\,\|X\|_F`; :func:`tnkit.tt_svd` gives the same
# guarantee for a tensor train.
import matplotlib.pyplot as plt
import numpy as np

import tnkit

n = 24
x = np.linspace(0.0, 1.0, n)
g1, g2, g3, g4 = np.meshgrid(x, x, x, x, indexing="ij")
X = 1.0 / (0.05 + g1 + g2**2 / 2 + g3**3 / 4 + g4 / 8)
norm = np.linalg.norm(X)


def rel_err(approx):
    return np.linalg.norm(X - approx.to_dense()) / norm


def tt_params(tt):
    return sum(core.size for core in tt.tensors)


tols = np.logspace(-1, -8, 8)
tucker_runs = [tnkit.sthosvd(X, tol=float(t)) for t in tols]
tt_runs = [tnkit.tt_svd(X, tol=float(t)) for t in tols]
print(" tol      Tucker ranks        error     params | TT ranks             error     params")
for t, tk, tt in zip(tols, tucker_runs, tt_runs):
    assert rel_err(tk) <= t and rel_err(tt) <= t
    print(
        f"{t:.0e}  {str(tk.ranks):18s} {rel_err(tk):.2e} {tk.n_params:7d} | "
        f"{str(tt.ranks):20s} {rel_err(tt):.2e} {tt_params(tt):6d}"
    )
print("every error is below its tolerance")

# %%
# Spending a parameter budget
# ---------------------------
# The modes are not equally complicated (:math:`x_4/8` is nearly linear, :math:`x_1` sits
# next to the pole), so equal ranks waste parameters. :func:`tnkit.core_shape` picks the
# multilinear rank that minimises the HOSVD error bound within a budget; :func:`tnkit.hooi`
# then refines the factors at those ranks by alternating optimisation.
budgets = [200, 400, 800, 1600, 3200]
rows = []
for budget in budgets:
    shape = tnkit.core_shape(X, budget=budget)
    r = max(k for k in range(1, n + 1) if k**4 + 4 * n * k <= budget)  # the largest equal ranks that fit
    equal = tnkit.sthosvd(X, ranks=(r,) * 4)
    st = tnkit.sthosvd(X, ranks=shape.ranks)
    ho = tnkit.hooi(X, shape.ranks)
    rows.append((equal.n_params, rel_err(equal), st.n_params, rel_err(st), rel_err(ho), shape.estimated_rre))
    print(
        f"budget {budget:5d}: equal ranks {(r,) * 4} err {rel_err(equal):.2e} | core_shape {shape.ranks} "
        f"sthosvd {rel_err(st):.2e} hooi {rel_err(ho):.2e} (bound {shape.estimated_rre:.2e})"
    )
rows = np.array(rows)
assert np.all(rows[:, 3] <= rows[:, 5] * (1 + 1e-10)), "the ST-HOSVD error exceeds its bound"

# %%
# Error against storage
# ---------------------
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.loglog(tols, [rel_err(t) for t in tucker_runs], "o-", label="ST-HOSVD")
ax1.loglog(tols, [rel_err(t) for t in tt_runs], "s-", label="TT-SVD")
ax1.loglog(tols, tols, "k--", lw=1, label="guarantee: error = tol")
ax1.set(xlabel="tolerance", ylabel=r"relative error $\|X - \tilde X\|_F / \|X\|_F$", title="error vs tolerance")
ax1.legend()
ax2.loglog([t.n_params for t in tucker_runs], [rel_err(t) for t in tucker_runs], "o-", label="Tucker (ST-HOSVD, tol)")
ax2.loglog([tt_params(t) for t in tt_runs], [rel_err(t) for t in tt_runs], "s-", label="TT-SVD (tol)")
ax2.loglog(rows[:, 0], rows[:, 1], "^:", label="Tucker, equal ranks")
ax2.loglog(rows[:, 2], rows[:, 3], "v-", label="Tucker, core_shape ranks")
ax2.loglog(rows[:, 2], rows[:, 4], "x", ms=8, color="k", label="HOOI at core_shape ranks")
ax2.set(xlabel="stored parameters", ylabel="relative error", title=f"{n}$^4$ grid ({n**4:,} entries)")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()
