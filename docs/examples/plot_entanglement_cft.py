r"""
Central charge from entanglement: the critical Ising chain
==========================================================

At a quantum critical point the entanglement entropy of a block of :math:`l` sites grows
logarithmically, with a prefactor fixed by the central charge :math:`c` of the conformal
field theory. For an open chain of length :math:`L` (Calabrese and Cardy, 2004)

.. math:: S(l) = \frac{c}{6}\ln\left[\frac{2L}{\pi}\sin\frac{\pi l}{L}\right] + \text{const}.

The transverse-field Ising chain :math:`H = -J\sum_i Z_i Z_{i+1} - h\sum_i X_i` is critical
at :math:`h = J` and belongs to the Ising universality class, :math:`c = 1/2`. We find its
ground state with DMRG, fit :math:`c`, and contrast it with a gapped chain (area law).
"""

# %%
# Ground states at and away from the critical point
# -------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np

import tnkit
from tnkit import models

L = 96
critical = tnkit.dmrg(models.tfim(L, J=1.0, h=1.0), bond_dims=[16, 32], rng=0, compute_variance=False)
gapped = tnkit.dmrg(models.tfim(L, J=1.0, h=1.5), bond_dims=[16, 32], rng=0, compute_variance=False)

# %%
# The energy against the exact solution
# -------------------------------------
# By a Jordan–Wigner transformation the chain is a free-fermion problem: the ground-state
# energy is :math:`-\sum_k \sigma_k(B)`, with :math:`\sigma_k` the singular values of the
# :math:`L\times L` bidiagonal matrix :math:`B` with :math:`h` on the diagonal and
# :math:`J` above it.
for name, res, h in (("critical", critical, 1.0), ("gapped", gapped, 1.5)):
    b = np.diag(np.full(L, h)) + np.diag(np.ones(L - 1), k=1)
    exact = -np.sum(np.linalg.svd(b, compute_uv=False))
    print(
        f"{name:8s} h = {h}: DMRG {res.energy:.10f}  exact {exact:.10f}  rel. error {abs(res.energy / exact - 1):.1e}"
    )

# %%
# Fit of the central charge
# -------------------------
# The bonds near the ends carry boundary corrections, so the fit uses
# :math:`L/8 \le l \le 7L/8`.
s_crit = np.asarray(critical.state.entropy())
s_gap = np.asarray(gapped.state.entropy())
bonds = np.arange(1, L)
chord = np.log(2 * L / np.pi * np.sin(np.pi * bonds / L))
keep = (bonds >= L // 8) & (bonds <= 7 * L // 8)
slope, const = np.polyfit(chord[keep], s_crit[keep], 1)
c_fit = 6 * slope
print(f"fitted central charge c = {c_fit:.4f}  (Ising CFT: 0.5, |c - 1/2| = {abs(c_fit - 0.5):.4f})")
print(f"gapped chain: S(L/2) = {s_gap[L // 2 - 1]:.4f}, S(L/4) = {s_gap[L // 4 - 1]:.4f} (area law: saturates)")

# %%
# The entropy profiles
# --------------------
# Left: against the bond :math:`l`. Right: against the *chord length* of the formula,
# where the critical chain falls on a straight line of slope :math:`c/6`.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.plot(bonds, s_crit, "o", ms=3, label="critical, $h = J$")
ax1.plot(bonds, c_fit / 6 * chord + const, "r-", lw=1, label=f"Calabrese–Cardy, c = {c_fit:.3f}")
ax1.plot(bonds, s_gap, "s", ms=3, color="C2", label="gapped, $h = 1.5J$")
ax1.set(xlabel="bond $l$", ylabel="entanglement entropy $S(l)$", title=f"open TFIM, L = {L}")
ax1.legend()
ax2.plot(chord[~keep], s_crit[~keep], "o", color="0.6", ms=3, label="boundary bonds (not fitted)")
ax2.plot(chord[keep], s_crit[keep], "o", ms=3, label="fitted bonds")
grid = np.linspace(chord.min(), chord.max(), 50)
ax2.plot(grid, c_fit / 6 * grid + const, "r-", lw=1, label=f"slope c/6, c = {c_fit:.3f}")
ax2.plot(grid, 0.5 / 6 * (grid - chord[keep].mean()) + s_crit[keep].mean(), "k--", lw=1, label="c = 1/2")
ax2.set(xlabel=r"$\ln[(2L/\pi)\sin(\pi l/L)]$", ylabel="$S(l)$")
ax2.legend()
fig.tight_layout()
plt.show()
