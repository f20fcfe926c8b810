r"""
A TensorNet potential for ethanol, from xTB data to molecular dynamics
======================================================================

TensorNet is an O(3)-equivariant message-passing network whose features are Cartesian
rank-2 tensors. We fit a small one to 500 frames of GFN2-xTB Langevin molecular dynamics of
ethanol at 500 K (energies and forces, shipped as ``xtb_md_ethanol``), check its energies
and forces on 300 held-out frames, and then use it as the force field of a short
constant-energy (NVE) simulation, where the total energy must stay constant.

Training takes about two minutes on one CPU core; this example runs in ``make docs-full`` only.
"""

# %%
# Data and model
# --------------
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from physics.potentials import Frames, TensorNet, evaluate, fit, run_md
from tnkit import Run

torch.manual_seed(0)
frames = Frames.load("xtb_md_ethanol")
train, val, test = frames.split([500, 50, 300], seed=0)
model = TensorNet(hidden_channels=32, num_layers=1, num_rbf=16)
n_params = sum(p.numel() for p in model.parameters())
print(
    f"{len(frames)} frames of {frames.n_atoms[0]} atoms; training on {len(train)}, "
    f"validation {len(val)}, test {len(test)}; TensorNet with {n_params:,} parameters"
)

# %%
# Fit
# ---
# Energy and force loss, learning-rate reduction on plateaus and an exponential moving
# average of the weights; the checkpoint goes to a temporary folder.
with tempfile.TemporaryDirectory() as tmp:
    result = fit(
        model,
        train,
        val,
        epochs=100,
        batch_size=16,
        lr=2e-3,
        run=Run(checkpoint=Path(tmp) / "tensornet.pt", progress=False),
    )
metrics = evaluate(result.model, test)
print(
    f"best epoch {result.best_epoch}; test energy MAE {metrics['energy_mae']:.2f} meV "
    f"({metrics['energy_mae_per_atom']:.2f} meV/atom), force MAE {metrics['force_mae']:.1f} meV/Å"
)

# %%
# Predictions on the test frames
# ------------------------------
# A :class:`~physics.potentials.Batch` of all test frames goes through the model at once.
b = test.collate().to(dtype=next(result.model.parameters()).dtype)
out = result.model(b["numbers"], b["positions"], batch=b["batch"])
f_pred, f_ref = out["forces"].detach().numpy().ravel(), b["forces"].numpy().ravel()
e_pred, e_ref = out["energy"].detach().numpy(), b["energy"].numpy()
print(
    f"force MAE recomputed: {1000 * np.abs(f_pred - f_ref).mean():.1f} meV/Å; "
    f"mean |F| of the reference: {1000 * np.abs(f_ref).mean():.0f} meV/Å"
)

# %%
# Constant-energy molecular dynamics
# ----------------------------------
# Velocity Verlet with a 0.5 fs step for 1 ps from a test structure, velocities drawn at
# 300 K. :func:`~physics.potentials.run_md` reports the drift of the total energy and
# whether any bond broke.
md = run_md(test.to_ase()[0], result.model, time_ps=1.0, timestep_fs=0.5, temperature_K=300.0, progress=False)
print(
    f"NVE, 1 ps: drift {md.drift:.3f} meV/atom, max |E(t) - E(0)| {md.max_deviation:.3f} meV/atom, "
    f"stable: {md.stable} (largest bond change {md.max_bond_change:.2f} Å)"
)

# %%
# Plots
# -----
fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
hist = result.history
ax = axes[0, 0]
ax.semilogy(np.arange(1, len(hist["train_loss"]) + 1), hist["train_loss"], label="train loss")
ax.semilogy(np.arange(1, len(hist["val_loss"]) + 1), hist["val_loss"], label="validation loss")
ax.set(xlabel="epoch", ylabel="energy + force loss", title="training")
ax.legend()
ax = axes[0, 1]
ax.plot(f_ref, f_pred, ".", ms=2, alpha=0.4)
lim = np.abs(f_ref).max() * 1.05
ax.plot([-lim, lim], [-lim, lim], "k--", lw=1)
ax.set(
    xlabel="xTB force component (eV/Å)",
    ylabel="TensorNet (eV/Å)",
    aspect="equal",
    title=f"forces, test set: MAE {metrics['force_mae']:.1f} meV/Å",
)
ax = axes[1, 0]
ax.plot(e_ref - e_ref.mean(), e_pred - e_ref.mean(), ".", ms=4)
lo, hi = (e_ref - e_ref.mean()).min(), (e_ref - e_ref.mean()).max()
ax.plot([lo, hi], [lo, hi], "k--", lw=1)
ax.set(xlabel="xTB energy - mean (eV)", ylabel="TensorNet (eV)", title=f"energies: MAE {metrics['energy_mae']:.1f} meV")
ax = axes[1, 1]
e0 = md.total_energy[0]
ax.plot(md.times, md.potential_energy - e0, label="potential - $E_{tot}(0)$")
ax.plot(md.times, md.kinetic_energy, label="kinetic")
ax.plot(md.times, md.total_energy - e0, "k", lw=2, label="total - $E_{tot}(0)$")
ax.set(xlabel="time (ps)", ylabel="energy (eV)", title=f"NVE with TensorNet: drift {md.drift:.3f} meV/atom")
ax.legend(loc="center right", fontsize=8)
fig.tight_layout()
plt.show()
