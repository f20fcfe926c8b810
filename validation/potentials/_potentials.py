"""Shared by the TensorNet validation cases: the data split, the training recipe, the fitted models.

Both ``potentials_tensornet_md`` and ``potentials_torchmdnet_comparison`` need tnkit's
TensorNet fitted to the same split with the same recipe. The fit writes its checkpoint
under ``results/checkpoints/`` named by a hash of everything that determines it, and
:func:`fitted_tensornet` resumes from it: the second case (or a rerun) gets the finished
model back without training again, and an interrupted full run continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physics.potentials import Frames, TensorNet, fit
from tnkit.run import Run

MOLECULES = ("ethanol", "aspirin")
EPOCHS = {"ethanol": 60, "aspirin": 30}
# torchmd-net's examples/TensorNet-rMD17.yaml, except the number of epochs (a CPU budget).
RECIPE = dict(
    batch_size=8,
    lr=1e-3,
    warmup_steps=500,
    lr_factor=0.8,
    lr_patience=25,
    min_lr=1e-8,
    energy_weight=0.5,
    force_weight=0.5,
    per_atom=False,
    grad_clip=40.0,
    early_stopping=300,
    ema_decay=0.0,
)  # torchmd-net keeps no moving average of the weights
# The torchmd-net comparison trains each library with each of these seeds and compares means.
SEEDS = (0, 1, 2)
CHECKPOINTS = Path("results") / "checkpoints"


def settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "molecules": ("ethanol",),
            "split": (100, 20, 100),
            "seeds": (0,),
            "model": dict(hidden_channels=16, num_layers=1, num_rbf=8),
            "epochs": {"ethanol": 20},
            "recipe": {**RECIPE, "lr": 5e-3, "warmup_steps": 20, "batch_size": 10},
        }
    return {
        "molecules": MOLECULES,
        "split": (950, 50, 1000),
        "seeds": SEEDS,
        "model": {},
        "epochs": EPOCHS,
        "recipe": RECIPE,
    }


def dataset(name: str) -> tuple[Frames, dict[str, Any]]:
    """All frames of ``xtb_md_{name}`` and the raw arrays (velocities for MD starts)."""
    from physics.data import load_molecules

    data = load_molecules(f"xtb_md_{name}")
    frames = Frames.from_arrays(
        data["numbers"], data["positions"], data["energies"], data["forces"], source=f"xtb_md_{name}"
    )
    return frames, data


def split(n_frames: int, sizes: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Random train / val / test frame indices (seed 0), each sorted."""
    order = np.random.default_rng(0).permutation(n_frames)
    a, b, c = sizes
    return {"train": np.sort(order[:a]), "val": np.sort(order[a : a + b]), "test": np.sort(order[a + b : a + b + c])}


def checkpoint_path(kind: str, name: str, quick: bool, frames: Frames, suffix: str, **extra: Any) -> Path:
    """``results/checkpoints/{kind}_{name}_{hash}{suffix}``, the hash of all that determines the run.

    That is the molecule, the size, the settings of :func:`settings` (this molecule's epochs, not
    the list of seeds), the data (through the sum of its energies) and ``extra``."""
    cfg = settings(quick)
    key = json.dumps(
        {
            "molecule": name,
            "quick": quick,
            **{k: v for k, v in cfg.items() if k not in ("epochs", "seeds")},
            "epochs": cfg["epochs"][name],
            "energies": float(frames.energies.sum()),
            **extra,
        },
        sort_keys=True,
    )
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    return CHECKPOINTS / f"{kind}_{name}_{hashlib.sha256(key.encode()).hexdigest()[:12]}{suffix}"


def fitted_tensornet(name: str, quick: bool, seed: int = 0) -> tuple[Any, dict[str, Frames], dict[str, np.ndarray]]:
    """tnkit's TensorNet fitted to molecule ``name``: (FitResult, frames by split, indices).

    ``seed`` sets the initial weights and the shuffling (the split is always seed 0).
    Training time is ``sum(result.history["epoch_time"])`` (also right for a resumed fit)."""
    cfg = settings(quick)
    frames, _ = dataset(name)
    idx = split(len(frames), cfg["split"])
    parts = {k: frames[v] for k, v in idx.items()}
    # seed 0 keeps the name it had before there were other seeds
    path = checkpoint_path("tensornet", name, quick, frames, ".pt", **({"seed": seed} if seed else {}))
    torch.manual_seed(seed)
    result = fit(
        TensorNet(**cfg["model"]),
        parts["train"],
        parts["val"],
        epochs=cfg["epochs"][name],
        seed=seed,
        run=Run(progress=False, checkpoint=path, resume=True),
        **cfg["recipe"],
    )
    return result, parts, idx
