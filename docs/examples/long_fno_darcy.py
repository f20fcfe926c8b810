r"""
Learning Darcy flow with a tensorised Fourier neural operator
=============================================================

A neural operator learns the map from the permeability :math:`a(x)` of a porous medium to
the pressure :math:`u(x)` solving :math:`-\nabla\cdot(a\nabla u) = 1` — a map between
functions, not between fixed-size arrays. The Fourier neural operator (FNO) does it with
spectral convolutions; TFNO stores their weights as a Tucker tensor, here with about a
quarter of the dense FNO's parameters. We train it on the shipped Darcy data (256 samples
at :math:`64^2`) with :func:`physics.operators.train`, test it on 64 held-out samples, and
evaluate it *zero-shot* on a finer :math:`127^2` grid it never saw in training.

This example trains for a few minutes on one CPU core; it runs in ``make docs-full`` only.
"""

# %%
# Data
# ----
# The datasets ship in ``datasets/`` and are verified against their checksums on loading.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import tnkit
from physics.operators import TFNO, train
from tnkit import Run

torch.manual_seed(0)
test64 = tnkit.io.load_dataset("darcy_test_64")
test127 = tnkit.io.load_dataset("darcy_test_127")
print("test inputs:", test64["a"].shape, test127["a"].shape, "values", np.unique(test64["a"]))

# %%
# Training
# --------
# Relative L2 loss, batches of 16, AdamW with a cosine schedule; the test sets are evaluated every five
# epochs. The checkpoint goes to a temporary folder (``Run(resume=True)`` would continue an
# interrupted run from it).
model = TFNO(1, 1, n_modes=(12, 12), hidden_channels=32, factorization="tucker", rank=0.2)
epochs = 25
with tempfile.TemporaryDirectory() as tmp:
    res = train(
        model,
        "darcy_64",
        test_data={"64": "darcy_test_64", "127": "darcy_test_127"},
        epochs=epochs,
        batch_size=16,
        lr=5e-3,
        loss="l2",
        eval_every=5,
        run=Run(checkpoint=Path(tmp) / "tfno.pt", progress=False),
    )
final = res.final()
print(f"TFNO, {res.n_params:,} parameters, {epochs} epochs, {sum(res.history['epoch_time']):.0f} s of training")
print(f"test relative L2 error: 64x64 {final['64_l2']:.4f}, 127x127 (zero-shot) {final['127_l2']:.4f}")

# %%
# The validation case ``operators_darcy`` trains the same model for 40 epochs and reaches a
# relative L2 error of about 0.024 at 64² and 0.028 at 127²; 25 epochs come close.

# %%
# Loss curves
# -----------
fig, ax = plt.subplots(figsize=(6, 4))
hist = {k: np.asarray(v, dtype=float) for k, v in res.history.items()}
ep = np.arange(1, epochs + 1)
ax.semilogy(ep, hist["train_loss"], label="train (relative L2)")
for key, fmt, label in (
    ("64_l2", "o-", "test 64² (relative L2)"),
    ("127_l2", "s--", "test 127², zero-shot (relative L2)"),
):
    done = np.isfinite(hist[key])  # the test sets are evaluated every five epochs only
    ax.semilogy(ep[done], hist[key][done], fmt, label=label)
ax.set(xlabel="epoch", ylabel="loss / error", title="TFNO on Darcy flow")
ax.legend()
fig.tight_layout()

# %%
# Predictions
# -----------
# The trained model (``res.model``) includes the normalisation of inputs and outputs, so it
# takes the permeability as it is and returns the pressure in physical units, on any grid.
net = res.model.eval()
with torch.no_grad():
    pred64 = net(torch.as_tensor(test64["a"][:2, None], dtype=torch.float32))[:, 0].numpy()
    pred127 = net(torch.as_tensor(test127["a"][:1, None], dtype=torch.float32))[:, 0].numpy()
cases = [
    (test64["a"][0], test64["u"][0], pred64[0], "64²"),
    (test64["a"][1], test64["u"][1], pred64[1], "64²"),
    (test127["a"][0], test127["u"][0], pred127[0], "127², zero-shot"),
]
fig, axes = plt.subplots(3, 4, figsize=(13, 9.5))
for row, (a, u, p, label) in zip(axes, cases):
    err = np.linalg.norm(p - u) / np.linalg.norm(u)
    row[0].imshow(a.T, origin="lower", cmap="Greys")
    row[0].set_title(f"permeability ({label})")
    vmax = u.max()
    row[1].imshow(u.T, origin="lower", cmap="viridis", vmin=0, vmax=vmax)
    row[1].set_title("finite-difference solution")
    row[2].imshow(p.T, origin="lower", cmap="viridis", vmin=0, vmax=vmax)
    row[2].set_title("TFNO prediction")
    im = row[3].imshow(np.abs(p - u).T, origin="lower", cmap="magma")
    fig.colorbar(im, ax=row[3], fraction=0.046)
    row[3].set_title(f"|error|, relative L2 {err:.3f}")
    for ax in row:
        ax.set_axis_off()
fig.tight_layout()
plt.show()
