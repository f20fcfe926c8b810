"""The NequIP peer: train nequip 0.19.1 with its own ``nequip-train`` on tnkit's frames and test it.

Issue 25 compares tnkit's potentials with their reference implementations on the same data,
split, budget and seeds; NequIP joins as a third architecture. nequip installs next to tnkit
(``pip install -e '.[bench]'``), so unlike the mace-torch peer it needs no venv of its own,
but it still runs in child processes: ``nequip-train`` (Hydra + Lightning) for the training,
and this file run as a script for the test predictions (nequip sets process-wide state,
float64 default dtype and a global seed, that must not leak into the caller).

:func:`train_nequip` writes the train / val / test frames as extended XYZ and a Hydra config
(``config.yaml``) into ``workdir``, runs ``nequip-train`` from the venv of ``sys.executable``
(progress lines, one per epoch, go to ``show``), predicts the test frames with the
best-validation checkpoint (its EMA weights) and computes the errors here, with tnkit's
definitions (those of :func:`physics.potentials.evaluate`). ``workdir`` keeps everything: a
second call with the same training returns ``result.json`` without training, an interrupted
one resumes from ``last.ckpt``, and a different training in the same folder is refused.

Settings: tnkit's MACE against NequIP
-------------------------------------
NequIP is another architecture (two-body equivariant convolutions; the body order grows with
the layers instead of MACE's symmetric products), so "the same model" means the same
hyperparameters where both have them; :func:`from_mace` maps tnkit's MACE settings:

==========================  ==============================  =====================================
tnkit MACE                  NequIPGNNModel                  note
==========================  ==============================  =====================================
``cutoff`` 5 A              ``r_max`` 5 A                   equal (data neighbour list too)
``num_bessel`` 8            ``num_bessels`` 8               equal, not trainable in both
``polynomial_p`` 5          ``polynomial_cutoff_p`` 5       equal envelope (nequip's default: 6)
``l_max`` 3                 ``l_max`` 3                     equal edge spherical harmonics; NequIP
                                                            also carries features up to ``l_max``
                                                            (MACE: ``hidden_l``, 0e + 1o)
``channels`` 32             ``num_features`` 32             equal multiplicity per irrep
``num_layers`` 2            ``num_layers`` 2                equal message-passing steps
``radial_hidden`` 64 x 3    ``radial_mlp_depth`` 3,         equal radial MLP
                            ``radial_mlp_width`` 64
``readout_hidden`` 16       readout depth 1, width 16       equal nonlinear readout of the last
                                                            layer (MACE's first one is linear)
``correlation`` 3           none                            no symmetric product in NequIP
==========================  ==============================  =====================================

NequIP always keeps ``parity: true`` here (its default). The recipe maps one to one:
``epochs`` -> ``max_epochs``, ``batch_size``, Adam with ``lr`` and ``amsgrad`` (no weight
decay, as tnkit), ``seed`` -> the model's and the data loader's seeds,
``ema_decay`` -> ``EMALightningModule``, ``lr_factor`` / ``lr_patience`` / ``min_lr`` ->
``ReduceLROnPlateau`` on the validation loss, ``grad_clip`` -> Lightning's norm clipping,
``early_stopping`` -> Lightning's ``EarlyStopping`` (patience in epochs), ``per_atom`` -> the
per-atom energy MSE. The loss is ``energy_weight MSE(E [per atom]) + force_weight MSE(F)
(+ stress_weight MSE(stress))``, every MSE over all components, as tnkit's; nequip divides
the weights by their sum, which Adam does not see (it is invariant to the scale of the loss)
and the clipping threshold is divided by the same sum, so both clip the same gradients.
The validation loss (the same weighted sum on the validation frames) picks the best epoch.
Model dtype float32, data float64, CPU, one thread unless ``threads`` says otherwise.

Energy shifts and scales: NequIP's recommendation, the training set's mean energy per atom
as every type's shift (or ``reference_energies``, e.g. tnkit's least-squares reference
energies, when given) and the per-type force RMS as the scales; the average neighbour count
from the training set.

Stress: :class:`physics.potentials.Frames` and nequip use the same convention (ASE's,
``(1/V) dE/d(strain)``, positive under tension, eV/A^3), so it is written unchanged.

Like ``_potentials.py``, a shared helper (the leading ``_`` keeps ``tnkit validate`` from
looking for a case in it): a case puts this folder on ``sys.path`` and imports it.

Examples
--------
>>> from _nequip_client import from_mace, train_nequip  # doctest: +SKIP
>>> result = train_nequip(parts, model=from_mace(MACE_MODEL), epochs=60, batch_size=5, lr=1e-2,
...                       seed=0, workdir="results/checkpoints/nequip_ethanol_seed0",
...                       energy_weight=1.0, force_weight=1000.0)  # doctest: +SKIP
>>> result["force_mae_meV_per_A"]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tnkit.validation import SkipCase

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mace_client import run_streaming  # noqa: E402

NEQUIP_VERSION = "0.19.1"
SPLITS = ("train", "val", "test")
RESULT = "result.json"
PREDICTIONS = "test_predictions.npz"
STATE = "training.json"
# NequIPGNNModel's settings this client passes on; others are nequip's defaults
MODEL_DEFAULTS: dict[str, Any] = {
    "r_max": 5.0,
    "num_layers": 2,
    "l_max": 3,
    "num_features": 32,
    "parity": True,
    "num_bessels": 8,
    "polynomial_cutoff_p": 5,
    "radial_mlp_depth": 3,
    "radial_mlp_width": 64,
    "readout_mlp_hidden_layers_depth": 1,
    "readout_mlp_hidden_layers_width": 16,
}
_MONITOR = "val0_epoch/weighted_sum"


class NequipMissing(SkipCase):
    """nequip is not installed in this venv (``pip install -e '.[bench]'`` installs it)."""


class NequipError(RuntimeError):
    """``nequip-train`` or the prediction failed; the message ends with the tail of its output."""


def nequip_train() -> Path:
    """The ``nequip-train`` next to ``sys.executable``, or :class:`NequipMissing` with the fix."""
    script = Path(sys.executable).parent / "nequip-train"
    if importlib.util.find_spec("nequip") is None or not script.exists():
        raise NequipMissing(
            f"nequip not installed: pip install -e '.[bench]' -c constraints.txt (nequip=={NEQUIP_VERSION})"
        )
    return script


def nequip_available() -> bool:
    """Whether :func:`train_nequip` can run (nequip and its ``nequip-train`` are installed)."""
    try:
        nequip_train()
    except NequipMissing:
        return False
    return True


def from_mace(mace: Mapping[str, Any]) -> dict[str, Any]:
    """NequIPGNNModel settings equal to tnkit MACE settings where both models have them (module docstring).

    Parameters
    ----------
    mace : mapping
        Keyword arguments of :class:`physics.potentials.MACE` (``channels``, ``l_max``,
        ``num_layers``, ``cutoff``, ``num_bessel``, ``polynomial_p``, ``radial_hidden``,
        ``readout_hidden``; absent ones take MACE's defaults; ``hidden_l``, ``correlation``
        and the rest have no NequIP counterpart).

    Returns
    -------
    dict
        The ``model`` of :func:`train_nequip`.

    Examples
    --------
    >>> from_mace({"channels": 8, "l_max": 2})["num_features"]  # doctest: +SKIP
    8
    """
    radial = tuple(mace.get("radial_hidden", (64, 64, 64)))
    if len(set(radial)) > 1:
        raise ValueError(f"from_mace: NequIP's radial MLP has one width, got {radial}")
    return {
        "r_max": float(mace.get("cutoff", 5.0)),
        "num_layers": int(mace.get("num_layers", 2)),
        "l_max": int(mace.get("l_max", 3)),
        "num_features": int(mace.get("channels", 32)),
        "parity": True,
        "num_bessels": int(mace.get("num_bessel", 8)),
        "polynomial_cutoff_p": int(mace.get("polynomial_p", 5)),
        "radial_mlp_depth": len(radial),
        "radial_mlp_width": int(radial[0]) if radial else 64,
        "readout_mlp_hidden_layers_depth": 1,
        "readout_mlp_hidden_layers_width": int(mace.get("readout_hidden", 16)),
    }


def train_nequip(
    parts: Mapping[str, Any],
    *,
    model: Mapping[str, Any],
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    workdir: str | Path,
    amsgrad: bool = False,
    energy_weight: float,
    force_weight: float,
    stress_weight: float = 0.0,
    per_atom: bool = True,
    ema_decay: float | None = 0.99,
    lr_factor: float = 0.8,
    lr_patience: int = 50,
    min_lr: float = 1e-6,
    grad_clip: float | None = 10.0,
    early_stopping: int | None = None,
    reference_energies: Mapping[int, float] | None = None,
    timeout: float = 48 * 3600.0,
    threads: int = 1,
    show: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train NequIP with ``nequip-train`` on ``parts["train"]`` / ``["val"]``; its errors on ``["test"]``.

    The recipe's keywords are those of :func:`physics.potentials.fit`, so a recipe dict of
    ``_potentials.py`` passes as ``**recipe``; the mapping is in the module docstring.

    Parameters
    ----------
    parts : mapping
        ``train``, ``val`` and ``test`` :class:`physics.potentials.Frames` with forces.
    model : mapping
        NequIPGNNModel settings (keys of :data:`MODEL_DEFAULTS`, the others take those
        values); :func:`from_mace` makes them from tnkit MACE settings.
    epochs, batch_size, lr, seed : int, int, float, int
        ``max_epochs``, the training batch, Adam's learning rate, the model's and the data
        loader's seed.
    workdir : path
        The training's folder: data, ``config.yaml``, checkpoints, ``result.json``.
    energy_weight, force_weight, stress_weight : float
        Loss weights of the energy (per atom when ``per_atom``), force and stress MSEs; the
        stress term needs ``stress_weight > 0`` and frames with stress.
    per_atom : bool, optional
        Energy errors per atom in the loss (default True).
    ema_decay : float or None, optional
        Decay of the moving average of the weights that is validated and tested (default
        0.99; None: no average).
    amsgrad : bool, optional
        Adam's AMSGrad variant (default False).
    lr_factor, lr_patience, min_lr : float, int, float, optional
        ``ReduceLROnPlateau`` on the validation loss (default 0.8, 50 epochs, 1e-6).
    grad_clip : float or None, optional
        Gradient norm clipping, in the units of the unnormalised loss (default 10).
    early_stopping : int or None, optional
        Stop after this many epochs without a better validation loss (default None: never).
    reference_energies : mapping of int to float, optional
        Energy shift per element (``{Z: eV}``); default the training set's mean energy per atom.
    timeout : float, optional
        Seconds before ``nequip-train`` is killed (default 48 hours; a rerun resumes).
    threads : int, optional
        torch / OpenMP threads of the child processes (default 1).
    show : callable, optional
        Receives each progress line (default: printed to stderr).

    Returns
    -------
    dict
        ``force_mae_meV_per_A`` (mean over all test force components), ``energy_mae_meV``,
        ``energy_per_atom_mae_meV`` (mean of ``|dE| / n_atoms``), ``stress_mae_meV_per_A3``
        (when the test frames have stress), ``n_params``, ``n_test``, ``train_wall_s`` (all
        training sessions together), ``best_epoch``, ``nequip_version``, ``predictions``
        (the ``.npz`` of the test ``energies``, ``forces`` and, with stress, ``stress``) and
        ``key`` (what determined the training).

    Raises
    ------
    NequipMissing
        nequip is not installed (a :class:`tnkit.validation.SkipCase`).
    NequipError
        Training or prediction failed or ran out of time; the message ends with their output.
    ValueError
        Missing parts or forces, unknown model settings, or ``workdir`` holding another training.
    """
    nequip_train()
    show = show or (lambda line: print(f"  nequip: {line}", file=sys.stderr, flush=True))
    if set(parts) != set(SPLITS):
        raise ValueError(f"train_nequip: need train, val and test frames, got {sorted(parts)}")
    unknown = set(model) - set(MODEL_DEFAULTS)
    if unknown:
        raise ValueError(f"train_nequip: unknown NequIP settings {sorted(unknown)}; known: {sorted(MODEL_DEFAULTS)}")
    for split in SPLITS:
        if parts[split].forces is None:
            raise ValueError(f"train_nequip: the {split} frames have no forces")
    folder = Path(workdir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with_stress = stress_weight > 0 and all(parts[s].stress is not None for s in ("train", "val"))
    weights = {"total_energy": float(energy_weight), "forces": float(force_weight)}
    if with_stress:
        weights["stress"] = float(stress_weight)
    data = _extxyz(parts)
    config = _config(
        {**MODEL_DEFAULTS, **model},
        _type_names(parts),
        folder,
        epochs=int(epochs),
        batch_size=int(batch_size),
        lr=float(lr),
        amsgrad=bool(amsgrad),
        seed=int(seed),
        weights=weights,
        per_atom=per_atom,
        ema_decay=ema_decay,
        schedule=(float(lr_factor), int(lr_patience), float(min_lr)),
        grad_clip=grad_clip,
        early_stopping=early_stopping,
        reference_energies=reference_energies,
    )
    data_sha = hashlib.sha256(b"".join(data.values())).hexdigest()
    key = {"config": config, "data_sha256": data_sha, "nequip": importlib.metadata.version("nequip")}
    key = json.loads(json.dumps(key))

    done = folder / RESULT
    if done.exists():
        result: dict[str, Any] = json.loads(done.read_text())
        if result.get("key") != key:
            raise ValueError(f"train_nequip: {folder} holds a different NequIP training; give another workdir")
        show(f"reusing the trained model in {folder}")
        return result

    state_path = folder / STATE
    state = json.loads(state_path.read_text()) if state_path.exists() else {"key": key, "sessions_s": []}
    if state["key"] != key:
        raise ValueError(f"train_nequip: {folder} holds a different NequIP training; give another workdir")
    for split, text in data.items():
        if not (folder / f"{split}.xyz").exists() or (folder / f"{split}.xyz").read_bytes() != text:
            _publish(folder / f"{split}.xyz", text)
    _write_config(config, folder / "config.yaml")
    resume = (folder / "last.ckpt").exists() and bool(state["sessions_s"])
    show(
        f"nequip-train {'resuming from last.ckpt' if resume else 'from scratch'}: {epochs} epochs, "
        f"{len(parts['train'])} training frames"
    )
    argv = [str(nequip_train()), "-cp", str(folder), "-cn", "config"]
    if resume:
        argv.append(f"++ckpt_path={folder / 'last.ckpt'}")
    start = time.perf_counter()
    rc, tail = _run(argv, folder, threads, timeout, show)
    state["sessions_s"].append(time.perf_counter() - start)
    _write_json(state_path, state)
    if rc != 0 or not (folder / "best.ckpt").exists():
        why = f"timed out after {timeout:.0f} s" if rc is None else f"exit status {rc}"
        raise NequipError(f"nequip-train failed ({why}); output tail:\n" + "\n".join(tail))

    (folder / PREDICTIONS).unlink(missing_ok=True)
    predict = [sys.executable, str(Path(__file__).resolve()), "predict", str(folder)]
    rc, tail = _run(predict, folder, threads, 3600, show)
    if rc != 0 or not (folder / PREDICTIONS).exists():
        raise NequipError("nequip prediction of the test frames failed; output tail:\n" + "\n".join(tail))
    with np.load(folder / PREDICTIONS) as pred:
        result = {
            **prediction_errors(parts["test"], dict(pred)),
            "n_params": int(pred["n_params"]),
            "best_epoch": int(pred["best_epoch"]),
        }
    result.update(
        n_test=len(parts["test"]),
        train_wall_s=float(sum(state["sessions_s"])),
        nequip_version=importlib.metadata.version("nequip"),
        predictions=str(folder / PREDICTIONS),
        key=key,
    )
    if not all(np.isfinite(result[k]) for k in ("energy_mae_meV", "force_mae_meV_per_A")):
        raise NequipError(f"nequip test errors are not finite: {result}")
    _write_json(done, result)
    show(
        f"test energy MAE {result['energy_per_atom_mae_meV']:.2f} meV/atom, force MAE "
        f"{result['force_mae_meV_per_A']:.1f} meV/A (best epoch {result['best_epoch']}, "
        f"{result['train_wall_s']:.0f} s training)"
    )
    return result


def prediction_errors(frames: Any, pred: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Errors of predictions on ``frames``, as :func:`physics.potentials.evaluate` defines them.

    Parameters
    ----------
    frames : physics.potentials.Frames
        Reference energies (eV), forces (eV/A) and optionally stress (eV/A^3).
    pred : mapping
        ``energies`` (n_frames,), ``forces`` (total_atoms, 3), optionally ``stress``
        (n_frames, 3, 3), in the same units.

    Returns
    -------
    dict
        ``energy_mae_meV`` (mean ``|dE|``), ``energy_per_atom_mae_meV`` (mean
        ``|dE| / n_atoms``), ``force_mae_meV_per_A`` (mean over every force component) and,
        with both stresses, ``stress_mae_meV_per_A3`` (mean over the 9 components).
    """
    de = np.abs(np.asarray(pred["energies"], dtype=np.float64).reshape(-1) - frames.energies)
    out = {
        "energy_mae_meV": 1e3 * float(de.mean()),
        "energy_per_atom_mae_meV": 1e3 * float((de / frames.n_atoms).mean()),
        "force_mae_meV_per_A": 1e3 * float(np.abs(np.asarray(pred["forces"]).reshape(-1, 3) - frames.forces).mean()),
    }
    if frames.stress is not None and "stress" in pred:
        out["stress_mae_meV_per_A3"] = 1e3 * float(np.abs(np.asarray(pred["stress"]) - frames.stress).mean())
    return out


# ---------------------------------------------------------------------------- the parent's side


def _type_names(parts: Mapping[str, Any]) -> list[str]:
    from ase.data import chemical_symbols

    numbers = sorted({int(z) for split in SPLITS for z in np.unique(parts[split].numbers)})
    return [chemical_symbols[z] for z in numbers]


def _extxyz(parts: Mapping[str, Any]) -> dict[str, bytes]:
    """Each split as the text of an extended XYZ file (energy, forces, cell, pbc and stress as stored)."""
    import ase.io

    texts = {}
    for split in SPLITS:
        buffer = io.StringIO()
        ase.io.write(buffer, parts[split].to_ase(), format="extxyz")
        texts[split] = buffer.getvalue().encode()
    return texts


def _publish(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _config(
    model: dict[str, Any],
    type_names: list[str],
    folder: Path,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    amsgrad: bool,
    seed: int,
    weights: dict[str, float],
    per_atom: bool,
    ema_decay: float | None,
    schedule: tuple[float, int, float],
    grad_clip: float | None,
    early_stopping: int | None,
    reference_energies: Mapping[int, float] | None,
) -> dict[str, Any]:
    """The ``nequip-train`` config (a plain dict; :func:`_write_config` writes it as YAML)."""
    from ase.data import atomic_numbers

    with_stress = "stress" in weights
    loss = {
        "_target_": f"nequip.train.{'EnergyForceStressLoss' if with_stress else 'EnergyForceLoss'}",
        "per_atom_energy": per_atom,
        "coeffs": {k: float(v) for k, v in weights.items()},
    }
    # the validation metric is the loss itself (it picks the best epoch), plus the MAEs shown per epoch
    maes = [
        {"name": "forces_mae", "field": "forces", "metric": {"_target_": "nequip.train.MeanAbsoluteError"}},
        {
            "name": "per_atom_energy_mae",
            "field": {"_target_": "nequip.data.PerAtomModifier", "field": "total_energy"},
            "metric": {"_target_": "nequip.train.MeanAbsoluteError"},
        },
    ]
    if reference_energies is not None:
        shifts: Any = {s: float(reference_energies[atomic_numbers[s]]) for s in type_names}
    else:
        shifts = "${training_data_stats:per_atom_energy_mean}"
    callbacks: list[dict[str, Any]] = [
        {
            "_target_": "lightning.pytorch.callbacks.ModelCheckpoint",
            "monitor": _MONITOR,
            "dirpath": str(folder),
            "filename": "best",
            "save_last": True,
        },
        {"_target_": "_nequip_client._epoch_progress", "epochs": epochs},
    ]
    if early_stopping is not None:
        callbacks.append(
            {
                "_target_": "lightning.pytorch.callbacks.EarlyStopping",
                "monitor": _MONITOR,
                "patience": int(early_stopping),
                "min_delta": 0.0,
            }
        )
    lr_factor, lr_patience, min_lr = schedule
    module: dict[str, Any] = {
        "_target_": f"nequip.train.{'NequIPLightningModule' if ema_decay is None else 'EMALightningModule'}",
        "loss": loss,
        "val_metrics": {**loss, "extra_metrics": maes},
        "train_metrics": {**loss, "extra_metrics": maes},
        "test_metrics": {**loss, "extra_metrics": maes},
        # amsgrad only when on: the configs (and cached trainings) of plain Adam stay as they were
        "optimizer": {"_target_": "torch.optim.Adam", "lr": lr, **({"amsgrad": True} if amsgrad else {})},
        "lr_scheduler": {
            "scheduler": {
                "_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
                "factor": lr_factor,
                "patience": lr_patience,
                "min_lr": min_lr,
            },
            "monitor": _MONITOR,
            "interval": "epoch",
            "frequency": 1,
        },
        "model": {
            "_target_": "nequip.model.NequIPGNNModel",
            "seed": seed,
            "model_dtype": "float32",
            "type_names": type_names,
            **model,
            "bessel_trainable": False,
            "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
            "per_type_energy_scales": "${training_data_stats:per_type_forces_rms}",
            "per_type_energy_shifts": shifts,
            "per_type_energy_scales_trainable": False,
            "per_type_energy_shifts_trainable": False,
        },
    }
    if ema_decay is not None:
        module["ema_decay"] = float(ema_decay)
    trainer: dict[str, Any] = {
        "_target_": "lightning.Trainer",
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": epochs,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "callbacks": callbacks,
    }
    if grad_clip is not None:
        # nequip divides the loss by the sum of its weights; the same threshold on tnkit's loss
        trainer.update(gradient_clip_val=float(grad_clip) / sum(weights.values()), gradient_clip_algorithm="norm")
    loader = {"_target_": "torch.utils.data.DataLoader", "batch_size": 32}
    return {
        "run": ["train"],
        "data": {
            "_target_": "nequip.data.datamodule.ASEDataModule",
            "seed": seed,
            **{f"{split}_file_path": str(folder / f"{split}.xyz") for split in SPLITS},
            "transforms": [
                {
                    "_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper",
                    "model_type_names": type_names,
                    "chemical_species_to_atom_type_map": {s: s for s in type_names},
                },
                {"_target_": "nequip.data.transforms.NeighborListTransform", "r_max": float(model["r_max"])},
            ],
            "train_dataloader": {**loader, "batch_size": batch_size, "shuffle": True},
            "val_dataloader": loader,
            "test_dataloader": loader,
            "stats_manager": {
                "_target_": "nequip.data.CommonDataStatisticsManager",
                "dataloader_kwargs": {"batch_size": 32},
                "type_names": type_names,
            },
        },
        "trainer": trainer,
        "training_module": module,
        "hydra": {"run": {"dir": str(folder)}, "output_subdir": ".hydra", "job": {"chdir": False}},
    }


def _write_config(config: dict[str, Any], path: Path) -> None:
    import yaml

    text = "# written by validation/potentials/_nequip_client.py; nequip-train -cp . -cn config\n"
    plain = json.loads(json.dumps(config))  # no shared sub-dicts: no YAML anchors in the file
    _publish(path, (text + yaml.safe_dump(plain, sort_keys=False, default_flow_style=False)).encode())


def _write_json(path: Path, value: Any) -> None:
    _publish(path, json.dumps(value, indent=1).encode())


def _run(
    argv: list[str], folder: Path, threads: int, timeout: float, show: Callable[[str], None]
) -> tuple[int | None, list[str]]:
    """Run ``argv`` in ``folder`` with ``threads`` threads (``_mace_client.run_streaming``)."""
    here = str(Path(__file__).resolve().parent)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PYTHONWARNINGS": "ignore",
        # Hydra finds this module's callback factory (``_epoch_progress``) by import
        "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])),
    }
    return run_streaming(argv, env, timeout, show, cwd=folder, with_stdout=True)


# ---------------------------------------------------------------------------- the children's side


def _epoch_progress(epochs: int) -> Any:
    """A Lightning callback printing one ``progress:`` line per validated epoch (``nequip-train``'s child)."""
    import lightning

    class EpochProgress(lightning.Callback):
        def __init__(self) -> None:
            self.start = time.perf_counter()

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:  # after the epoch's metrics are logged
            if trainer.sanity_checking:
                return
            m = {k: float(v) for k, v in trainer.callback_metrics.items()}
            line = (
                f"epoch {trainer.current_epoch + 1}/{epochs}: val force MAE "
                f"{1e3 * m.get('val0_epoch/forces_mae', float('nan')):.1f} meV/A, energy MAE "
                f"{1e3 * m.get('val0_epoch/per_atom_energy_mae', float('nan')):.2f} meV/atom, loss "
                f"{m.get(_MONITOR, float('nan')):.3g}, {time.perf_counter() - self.start:.0f} s"
            )
            print(f"progress: {line}", flush=True)

    return EpochProgress()


def _predict(folder: Path) -> None:
    """Predict ``test.xyz`` with ``best.ckpt`` (EMA weights); write :data:`PREDICTIONS` (a child process)."""
    import ase.io
    import torch
    from nequip.data import AtomicDataDict, from_ase
    from nequip.integrations.utils import basic_transforms
    from nequip.model.saved_models.load_utils import load_saved_model
    from nequip.nn import graph_model
    from nequip.utils.global_state import set_global_state

    set_global_state()
    checkpoint = folder / "best.ckpt"
    model = load_saved_model(str(checkpoint)).eval()
    types = model.metadata[graph_model.TYPE_NAMES_KEY].split(" ")
    transforms = basic_transforms(
        model.metadata, float(model.metadata[graph_model.R_MAX_KEY]), types, {t: t for t in types}
    )
    images = ase.io.read(folder / "test.xyz", ":")
    assert isinstance(images, list)
    with_stress = all("stress" in (a.calc.results if a.calc is not None else {}) for a in images)
    energies, forces, stress = [], [], []
    for start in range(0, len(images), 32):
        graphs = []
        for atoms in images[start : start + 32]:
            atoms.calc = None  # the reference labels stay out of the model's input
            data = from_ase(atoms)
            for transform in transforms:
                data = transform(data)
            graphs.append(data)
        out = model(AtomicDataDict.batched_from_list(graphs))
        energies.append(out[AtomicDataDict.TOTAL_ENERGY_KEY].detach().double().reshape(-1).numpy())
        forces.append(out[AtomicDataDict.FORCE_KEY].detach().double().numpy())
        if with_stress:
            stress.append(out[AtomicDataDict.STRESS_KEY].detach().double().reshape(-1, 3, 3).numpy())
    arrays = {
        "energies": np.concatenate(energies),
        "forces": np.concatenate(forces),
        "n_params": np.array(sum(p.numel() for p in model.parameters())),
        "best_epoch": np.array(1 + int(torch.load(checkpoint, map_location="cpu", weights_only=False)["epoch"])),
    }
    if with_stress:
        arrays["stress"] = np.concatenate(stress)
    tmp = folder / f"{PREDICTIONS}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub takes the keywords for allow_pickle
    os.replace(tmp, folder / PREDICTIONS)
    print(f"progress: predicted {len(images)} test frames with {checkpoint.name}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "predict":
        sys.exit("usage: _nequip_client.py predict WORKDIR")
    _predict(Path(sys.argv[2]))
