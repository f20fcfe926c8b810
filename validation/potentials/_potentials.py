"""Shared by the potentials validation cases: the data split, the training recipes, the fitted models.

``potentials_tensornet_md`` and ``potentials_torchmdnet_comparison`` need tnkit's TensorNet
fitted to the same split with the same recipe; ``potentials_mace`` (and the mace-torch
comparison) need MACE fitted to the xTB molecules and the EMT crystals. Each fit writes its
checkpoint under ``results/checkpoints/`` named by a hash of everything that determines it,
and :func:`fitted` resumes from it: the second case (or a rerun) gets the finished model
back without training again, and an interrupted full run continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physics.potentials import MACE, Frames, TensorNet, fit, load_frames
from tnkit.run import Run

MOLECULES = ("ethanol", "aspirin")
EPOCHS = {"ethanol": 60, "aspirin": 30, "emt_crystals": 30}
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


# MACE on the CPU: 32 channels, l_max 3, hidden 0e + 1o, correlation 3, two layers, cutoff 5 A
# (mace-torch's defaults but for the channel count: 128 in its examples); the recipe of
# mace-torch's MD17 examples (batch 5, lr 0.01, loss 1 MSE(E per atom) + 1000 MSE(F), EMA
# 0.99, ReduceLROnPlateau 0.8 / 50, gradient clipping 10, AMSGrad: its default), for
# EPOCHS_MACE epochs (a CPU budget).
MACE_MODEL = dict(channels=32, l_max=3, hidden_l=1, num_layers=2, correlation=3, cutoff=5.0)
MACE_RECIPE = dict(
    batch_size=5,
    lr=1e-2,
    amsgrad=True,
    energy_weight=1.0,
    force_weight=1000.0,
    per_atom=True,
    ema_decay=0.99,
    lr_factor=0.8,
    lr_patience=50,
    min_lr=1e-6,
    grad_clip=10.0,
    early_stopping=None,
)
EPOCHS_MACE = {"ethanol": 60, "aspirin": 30, "emt_crystals": 30}
# part of the MACE checkpoints' names: bump it when MACE changes in a way its weights' names
# and shapes do not show (2: mace-torch's initialisation of the product weights)
MACE_REVISION = 2
CRYSTALS = "emt_crystals"
# the stress term for the crystals: stresses of ~1e-2 eV/A^3 weigh like forces of ~0.3 eV/A
STRESS_WEIGHT = 1e4


def mace_settings(quick: bool) -> dict[str, Any]:
    """The MACE runs: datasets, split, seeds, model, epochs, recipe (quick: small and short)."""
    if quick:
        return {
            "molecules": ("ethanol",),
            "crystals": True,
            "split": (100, 20, 100),
            "seeds": (0,),
            "model": dict(channels=8, l_max=2, hidden_l=1, num_layers=2, correlation=3, cutoff=5.0),
            "epochs": {"ethanol": 15, CRYSTALS: 10},
            "recipe": {**MACE_RECIPE, "batch_size": 10},
        }
    return {
        "molecules": MOLECULES,
        "crystals": True,
        "split": (950, 50, 1000),
        "seeds": SEEDS,
        "model": MACE_MODEL,
        "epochs": EPOCHS_MACE,
        "recipe": MACE_RECIPE,
    }


def dataset(name: str) -> tuple[Frames, dict[str, Any]]:
    """All frames of ``xtb_md_{name}`` (or of the EMT crystals) and the raw arrays (velocities for MD starts)."""
    from physics.data import load_molecules

    if name == CRYSTALS:
        return load_frames(CRYSTALS), {}

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


def checkpoint_path(
    kind: str, name: str, quick: bool, frames: Frames, suffix: str, cfg: dict[str, Any] | None = None, **extra: Any
) -> Path:
    """``results/checkpoints/{kind}_{name}_{hash}{suffix}``, the hash of all that determines the run.

    That is the molecule, the size, the settings (``cfg``, default :func:`settings`; this
    molecule's epochs, not the list of seeds), the data (through the sum of its energies)
    and ``extra``."""
    cfg = settings(quick) if cfg is None else cfg
    key = json.dumps(
        {
            "molecule": name,
            "quick": quick,
            **{k: v for k, v in cfg.items() if k not in ("epochs", "seeds", "crystals")},
            "epochs": cfg["epochs"][name],
            "energies": float(frames.energies.sum()),
            **extra,
        },
        sort_keys=True,
    )
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    return CHECKPOINTS / f"{kind}_{name}_{hashlib.sha256(key.encode()).hexdigest()[:12]}{suffix}"


def fitted_tensornet(name: str, quick: bool, seed: int = 0) -> tuple[Any, dict[str, Frames], dict[str, np.ndarray]]:
    """tnkit's TensorNet fitted to ``name`` (a molecule or :data:`CRYSTALS`): (FitResult, frames by split, indices).

    ``seed`` sets the initial weights and the shuffling (the split is always seed 0).
    Training time is ``sum(result.history["epoch_time"])`` (also right for a resumed fit).
    The crystals are fitted with a stress term, weighted against the forces as in
    :func:`fitted_mace` (:data:`STRESS_WEIGHT` times the ratio of the two recipes' force weights)."""
    cfg = settings(quick)
    frames, _ = dataset(name)
    idx = split(len(frames), cfg["split"])
    parts = {k: frames[v] for k, v in idx.items()}
    stress = {}
    if name == CRYSTALS:
        stress = {"stress_weight": STRESS_WEIGHT * cfg["recipe"]["force_weight"] / MACE_RECIPE["force_weight"]}
    # seed 0 keeps the name it had before there were other seeds
    path = checkpoint_path("tensornet", name, quick, frames, ".pt", **({"seed": seed} if seed else {}), **stress)
    torch.manual_seed(seed)
    result = fit(
        TensorNet(**cfg["model"]),
        parts["train"],
        parts["val"],
        epochs=cfg["epochs"][name],
        seed=seed,
        run=Run(progress=False, checkpoint=path, resume=True),
        **cfg["recipe"],
        **stress,
    )
    return result, parts, idx


def fitted_mace(
    name: str, quick: bool, seed: int = 0, *, variant: dict[str, Any] | None = None, epochs: int | None = None
) -> tuple[Any, dict[str, Frames], dict[str, np.ndarray]]:
    """tnkit's MACE fitted to ``name`` (a molecule of :data:`MOLECULES` or :data:`CRYSTALS`).

    As :func:`fitted_tensornet`; the crystals are fitted with the stress term
    (:data:`STRESS_WEIGHT`). ``variant`` adds to (or overrides) the model's settings (e.g.
    ``{"product_rank": 4}``) and ``epochs`` the number of epochs; both name the checkpoint."""
    cfg = mace_settings(quick)
    cfg["model"] = {**cfg["model"], **(variant or {})}
    if epochs is not None:
        cfg["epochs"] = {**cfg["epochs"], name: epochs}
    frames, _ = dataset(name)
    idx = split(len(frames), cfg["split"])
    parts = {k: frames[v] for k, v in idx.items()}
    stress = {"stress_weight": STRESS_WEIGHT} if name == CRYSTALS else {}
    torch.manual_seed(seed)
    model = MACE(**cfg["model"], elements=sorted({int(z) for z in np.unique(frames.numbers)}))
    # the checkpoint also names the architecture (its weights' names and shapes): a changed
    # model trains afresh instead of failing to load an old checkpoint
    layout = hashlib.sha256(str([(k, tuple(v.shape)) for k, v in model.state_dict().items()]).encode())
    path = checkpoint_path(
        "mace",
        name,
        quick,
        frames,
        ".pt",
        cfg=cfg,
        seed=seed,
        layout=layout.hexdigest()[:12],
        revision=MACE_REVISION,
        **stress,
    )
    result = fit(
        model,
        parts["train"],
        parts["val"],
        epochs=cfg["epochs"][name],
        seed=seed,
        run=Run(progress=False, checkpoint=path, resume=True),
        **cfg["recipe"],
        **stress,
    )
    return result, parts, idx


def md_start(frames: Frames, k: int, velocities: np.ndarray) -> Any:
    """Frame ``k`` of ``frames`` as ASE atoms with the dataset's velocities (A/fs), to start MD from."""
    from ase import Atoms, units

    a, b = frames.offsets[k], frames.offsets[k + 1]
    atoms = Atoms(numbers=frames.numbers[a:b], positions=frames.positions[a:b])
    atoms.set_velocities(velocities / units.fs)  # dataset velocities are in A/fs
    return atoms


def plot_md(fig: Any, md_runs: dict[str, Any], model: str) -> None:
    """Total and potential energy per atom of each NVE run, one panel per molecule."""
    axes = fig.subplots(len(md_runs), 1, sharex=True)
    for ax, (name, md) in zip(np.atleast_1d(axes), md_runs.items()):
        e0 = md.total_energy[0]
        ax.plot(md.times, 1e3 * (md.total_energy - e0) / md.n_atoms, label="total")
        ax.plot(md.times, 1e3 * (md.potential_energy - e0) / md.n_atoms, lw=0.5, label="potential")
        ax.set_ylabel("meV/atom")
        state = "stable" if md.stable else f"unstable at {md.unstable_time:.2f} ps"
        ax.set_title(
            f"{name}, NVE with the fitted {model}: <T> = {md.temperature.mean():.0f} K, drift "
            f"{md.drift:.3f} meV/atom, max |dE| {md.max_deviation:.2f} meV/atom, {state}",
            fontsize=7,
        )
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[-1].set_xlabel("time (ps)")
