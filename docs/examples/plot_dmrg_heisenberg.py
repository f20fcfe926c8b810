r"""
DMRG ground state of the Heisenberg chain
=========================================

The spin-1/2 Heisenberg chain :math:`H = J\sum_i \mathbf S_i\cdot\mathbf S_{i+1}` with open
ends is the standard test of DMRG. We find its ground state for :math:`L = 32` with
:func:`tnkit.dmrg`, follow the convergence sweep by sweep, look at the entanglement
profile, and check the energy twice: against exact diagonalisation of a 16-site chain
and against the Bethe-ansatz energy per site of the infinite chain,
:math:`e_\infty = 1/4 - \ln 2`.
"""

# %%
# Ground state of L = 32
# ----------------------
# The bond dimension grows along the schedule ``bond_dims``; DMRG stops when the energy
# changes by less than ``tol`` over a sweep at the last bond dimension.
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse.linalg

import tnkit
from physics.spin_chains import heisenberg_hamiltonian
from tnkit import models

L = 32
res = tnkit.dmrg(models.heisenberg(L), bond_dims=[8, 16, 32, 64], rng=0)
print(f"E0(L={L}) = {res.energy:.10f} after {res.n_sweeps} sweeps, variance {res.variance:.1e}")
for k, (e, chi) in enumerate(zip(res.energies, res.bond_dims)):
    print(f"  sweep {k}: chi = {chi:3d}  E = {e:.10f}")

# %%
# :meth:`DMRGResult.plot` draws the convergence: the energy error of each sweep (relative
# to the last one), the variance :math:`\langle H^2\rangle - \langle H\rangle^2`, the
# discarded weight and the bond dimension. Given ``fig=plt.figure()`` it draws into a
# pyplot figure (without it, a figure outside pyplot's state, for scripts without a display).
res.plot(fig=plt.figure())

# %%
# Check 1: exact diagonalisation
# ------------------------------
# For 16 sites the Hilbert space has :math:`2^{16} = 65\,536` states, small enough for a
# sparse Lanczos solver (scipy). The same convention (open ends, :math:`J = 1`) holds in
# :func:`physics.spin_chains.heisenberg_hamiltonian` and :func:`tnkit.models.heisenberg`.
e_ed = scipy.sparse.linalg.eigsh(heisenberg_hamiltonian(16), k=1, which="SA")[0][0]
e_dmrg16 = tnkit.dmrg(models.heisenberg(16), bond_dims=[16, 32, 64], rng=0).energy
print(f"L=16: DMRG {e_dmrg16:.12f}  ED {e_ed:.12f}  |diff| = {abs(e_dmrg16 - e_ed):.1e}")

# %%
# Check 2: the Bethe-ansatz bulk energy
# -------------------------------------
# An open chain has a surface energy, :math:`E_0(L) \approx e_\infty L + e_s + O(1/L)`.
# Fitting the DMRG energies of several lengths to this form gives the bulk energy per site.
lengths = np.array([16, 24, 32, 40, 48])
energies = np.array(
    [
        res.energy if n == L else tnkit.dmrg(models.heisenberg(int(n)), bond_dims=[16, 32, 64], rng=0).energy
        for n in lengths
    ]
)
coef3 = np.linalg.lstsq(np.stack([lengths, np.ones(5), 1 / lengths], 1), energies, rcond=None)[0]
e_bethe = 0.25 - np.log(2)
print(f"Bethe ansatz e_inf = {e_bethe:.6f}")
print(
    f"fit E = e L + e_s + c/L: e_inf = {coef3[0]:.6f} (rel. error {abs(coef3[0] / e_bethe - 1):.1e}), "
    f"e_s = {coef3[1]:.4f}"
)

# %%
# Entanglement and correlations
# -----------------------------
# The entropy at each bond oscillates between even and odd bonds (the open ends favour
# singlets on the outer bonds) around the slow logarithmic growth of a critical chain.
# The spin correlations decay as a power law with alternating sign.
entropy = np.asarray(res.state.entropy())
sz = models.spin_operators(0.5)["z"]
corr = np.asarray(res.state.correlation(sz, sz))
i0 = L // 4
dist = np.arange(1, L // 2)
# sphinx_gallery_thumbnail_number = 2
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
axes[0].plot(np.arange(1, L), entropy, "o-", ms=3)
axes[0].set(xlabel="bond $l$", ylabel="entanglement entropy $S(l)$", title=f"L = {L}")
axes[1].loglog(dist, np.abs(corr[i0, i0 + dist]), "o", ms=4)
axes[1].loglog(dist, 0.15 / dist, "k--", lw=1, label=r"$\propto 1/r$")
axes[1].set(xlabel="distance $r$", ylabel=r"$|\langle S^z_i S^z_{i+r}\rangle|$", title=f"i = {i0}")
axes[1].legend()
axes[2].plot(lengths, energies / lengths, "o", label="DMRG $E_0/L$")
xs = np.linspace(14, 60, 100)
axes[2].plot(xs, coef3[0] + coef3[1] / xs + coef3[2] / xs**2, "C0-", lw=1, label="fit")
axes[2].axhline(e_bethe, color="k", ls="--", label=r"Bethe ansatz $1/4 - \ln 2$")
axes[2].set(xlabel="$L$", ylabel="energy per site")
axes[2].legend()
fig.tight_layout()
plt.show()
