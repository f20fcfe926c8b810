"""Fitting potentials to reference energies and forces.

:func:`fit` trains any :class:`~physics.potentials.Potential` on :class:`Frames`:

- per-element reference energies fitted by least squares to the training energies before
  training, and the network's output scaled to the RMS force, so training starts from a
  sensible energy and force scale;
- loss ``energy_weight * MSE(E) + force_weight * MSE(F)`` (energies per atom or total), one
  definition (:func:`energy_force_loss`, weights 1 and 10 by default) shared by :func:`fit`
  and :func:`evaluate`, so their losses compare;
- Adam(W) with a ReduceLROnPlateau schedule on the validation loss, an exponential moving
  average (EMA) of the weights used for validation and returned, early stopping on the
  validation loss (the best EMA weights are returned);
- metrics in meV (energies; also per atom) and meV/A (forces);
- its plumbing from one :class:`tnkit.run.Run` (``run=``): a progress report, a loss-curve
  PNG, atomic checkpoints and resume (a resumed run repeats the uninterrupted one:
  shuffling depends only on the seed and the epoch), through :mod:`physics.training`;
- ``torch.distributed`` data parallelism (DDP) when launched with ``torchrun``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from physics.potentials._frames import Batch, Frames
from physics.potentials._model import Potential
from physics.training import EMA, TrainingSession, make_optimizer, save_png
from tnkit.checks import check_nonempty
from tnkit.run import Run

__all__ = ["fit", "evaluate", "FitResult", "energy_force_loss", "ENERGY_WEIGHT", "FORCE_WEIGHT"]

# The default loss weights of fit and evaluate (one definition: energy_force_loss).
ENERGY_WEIGHT = 1.0
FORCE_WEIGHT = 10.0


@dataclasses.dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : Potential
        The fitted model (EMA weights of the best validation epoch), in eval mode.
    history : dict of lists
        Per epoch: ``train_loss``, ``val_loss``, ``val_energy_mae`` (meV), ``val_force_mae``
        (meV/A), ``lr``, ``epoch_time`` (s).
    best_epoch : int
        1-based epoch whose weights were returned.
    reference_energies : dict
        ``{Z: eV}`` fitted before training.
    stopped_early : bool
    """

    model: Potential
    history: dict[str, list[float]]
    best_epoch: int
    reference_energies: dict[int, float]
    stopped_early: bool = False

    def save(self, path: str | Path) -> Path:
        """Save the fitted model (:meth:`Potential.save`); read it back with :meth:`Potential.load`.

        Parameters
        ----------
        path : str or path
            File to write.
        """
        return self.model.save(path)

    def plot(self, path: str | Path) -> Path:
        """Loss and validation-error curves as a PNG; returns the path.

        Parameters
        ----------
        path : str or path
            PNG file to write.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        h = self.history
        epochs = np.arange(1, len(h["train_loss"]) + 1)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
        ax1.semilogy(epochs, h["train_loss"], label="train loss")
        if any(np.isfinite(h["val_loss"])):
            ax1.semilogy(epochs, h["val_loss"], label="validation loss (EMA weights)")
        ax1.axvline(self.best_epoch, color="0.5", ls=":", lw=1, label=f"best epoch {self.best_epoch}")
        ax1.set_xlabel("epoch")
        ax1.legend(fontsize=8)
        ax1.grid(True, which="both", alpha=0.3)
        if any(np.isfinite(h["val_force_mae"])):
            ax2.semilogy(epochs, h["val_force_mae"], label="force MAE (meV/A)")
            ax2.semilogy(epochs, h["val_energy_mae"], label="energy MAE (meV)")
            ax2.set_xlabel("epoch")
            ax2.legend(fontsize=8)
            ax2.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        return save_png(fig, path)


def _model_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next((p for p in model.parameters() if p.is_floating_point()), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.get_default_dtype())


def _predict(
    net: nn.Module, batch: Batch, create_graph: bool, forces: bool = True, stress: bool = False
) -> dict[str, torch.Tensor]:
    kwargs: dict[str, Any] = {"batch": batch["batch"], "forces": forces, "create_graph": create_graph}
    if "cell" in batch:
        kwargs["cell"], kwargs["pbc"], kwargs["stress"] = batch["cell"], batch["pbc"], stress
    return net(batch["numbers"], batch["positions"], **kwargs)


def energy_force_loss(
    out: dict[str, torch.Tensor],
    batch: Batch,
    *,
    energy_weight: float = ENERGY_WEIGHT,
    force_weight: float = FORCE_WEIGHT,
    stress_weight: float = 0.0,
    per_atom: bool = True,
) -> torch.Tensor:
    """The loss :func:`fit` minimises and :func:`evaluate` reports.

    ``energy_weight * mean_s(dE_s^2) + force_weight * mean(dF^2) + stress_weight * mean(dS^2)``
    with ``dE_s`` the energy error of structure ``s`` (divided by its atom count when
    ``per_atom``; eV), ``dF`` every force component's error (eV/A) and ``dS`` every stress
    component's error (eV/A^3); so eV^2 (per atom) plus (eV/A)^2 plus (eV/A^3)^2. Force
    (stress) terms are left out when their weight is 0 or the batch or the output has none.

    Parameters
    ----------
    out : dict
        The model's output (``energy`` (B,), ``forces`` (N, 3)).
    batch : Batch
        The reference (``energy``, ``n_atoms``, optionally ``forces``).
    energy_weight, force_weight : float
        Weights (defaults :data:`ENERGY_WEIGHT` = 1 and :data:`FORCE_WEIGHT` = 10, those of
        both :func:`fit` and :func:`evaluate`).
    stress_weight : float
        Weight of the stress term (default 0: off; stress values are ~1e-2 eV/A^3, so
        weights of order 1e3-1e4 balance them with the forces).
    per_atom : bool
        Energy errors per atom.

    Returns
    -------
    torch.Tensor
        The scalar loss.
    """
    de = out["energy"] - batch["energy"]
    if per_atom:
        de = de / batch["n_atoms"]
    loss = energy_weight * (de * de).mean()
    if force_weight and "forces" in batch:
        df = out["forces"] - batch["forces"]
        loss = loss + force_weight * (df * df).mean().to(loss.dtype)
    if stress_weight and "stress" in batch and "stress" in out:
        ds = out["stress"] - batch["stress"]
        loss = loss + stress_weight * (ds * ds).mean().to(loss.dtype)
    return loss


def evaluate(
    model: Potential,
    frames: Frames,
    *,
    batch_size: int = 32,
    energy_weight: float = ENERGY_WEIGHT,
    force_weight: float = FORCE_WEIGHT,
    stress_weight: float = 0.0,
    per_atom: bool = True,
) -> dict[str, float]:
    """Errors of ``model`` on ``frames``.

    Parameters
    ----------
    model : Potential
    frames : Frames
    batch_size : int
    energy_weight, force_weight, stress_weight, per_atom
        Of the reported ``loss`` (:func:`energy_force_loss`); the defaults are :func:`fit`'s,
        so ``loss`` compares with a fit's ``val_loss`` history.

    Returns
    -------
    dict
        ``energy_mae`` (meV), ``energy_mae_per_atom`` (meV/atom), ``energy_rmse`` (meV),
        ``force_mae`` and ``force_rmse`` (meV/A, over force components), ``stress_mae`` and
        ``stress_rmse`` (meV/A^3, over stress components; NaN unless the frames have cells
        and stress), ``loss`` (the training loss with the given weights, eV^2 units; mean
        over the batches weighted by their frame counts), ``n_frames``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from physics.potentials import TensorNet
    >>> _ = torch.manual_seed(0)
    >>> frames = Frames.from_arrays([1, 1], np.array([[[0, 0, 0], [0.75, 0, 0]]]), [-1.0],
    ...                             forces=np.zeros((1, 2, 3)))
    >>> m = evaluate(TensorNet(8, 1, 4, elements=(1,)), frames)
    >>> sorted(m)[:3], m["n_frames"]
    (['energy_mae', 'energy_mae_per_atom', 'energy_rmse'], 1)
    """
    if not isinstance(frames, Frames):
        raise TypeError(f"evaluate: frames must be physics.potentials.Frames, got {type(frames).__name__}")
    check_nonempty((len(frames),), "evaluate", what="frames", items="frames")
    device, dtype = _model_dtype(model)
    was_training = model.training
    model.eval()
    ae, ae_atom, se, af, sf, nf, loss = 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0
    a_s, s_s, n_s = 0.0, 0.0, 0
    has_forces = frames.forces is not None
    has_stress = frames.stress is not None and frames.cells is not None
    try:
        for batch in frames.batches(batch_size):
            batch = batch.to(device, dtype)
            out = _predict(model, batch, create_graph=False, forces=has_forces, stress=has_stress)
            de = (out["energy"].detach() - batch["energy"]).double()
            ae += float(de.abs().sum())
            ae_atom += float((de.abs() / batch["n_atoms"]).sum())
            se += float((de * de).sum())
            detached = {k: v.detach() for k, v in out.items()}
            loss += float(
                energy_force_loss(
                    detached,
                    batch,
                    energy_weight=energy_weight,
                    force_weight=force_weight,
                    stress_weight=stress_weight,
                    per_atom=per_atom,
                )
            ) * len(de)
            if has_stress:
                ds = (out["stress"].detach() - batch["stress"]).double()
                a_s += float(ds.abs().sum())
                s_s += float((ds * ds).sum())
                n_s += ds.numel()
            if has_forces:
                df = (out["forces"].detach() - batch["forces"]).double()
                af += float(df.abs().sum())
                sf += float((df * df).sum())
                nf += df.numel()
    finally:
        model.train(was_training)
    n = len(frames)
    nan = float("nan")
    return {
        "energy_mae": 1e3 * ae / n,
        "energy_mae_per_atom": 1e3 * ae_atom / n,
        "energy_rmse": 1e3 * math.sqrt(se / n),
        "force_mae": 1e3 * af / nf if nf else nan,
        "force_rmse": 1e3 * math.sqrt(sf / nf) if nf else nan,
        "stress_mae": 1e3 * a_s / n_s if n_s else nan,
        "stress_rmse": 1e3 * math.sqrt(s_s / n_s) if n_s else nan,
        "loss": loss / n,
        "n_frames": n,
    }


def _check_fit(
    model: Potential,
    train: Frames,
    validation: Frames | None,
    epochs: int,
    batch_size: int,
    lr: float,
    ema_decay: float,
    lr_factor: float,
    force_weight: float,
    stress_weight: float = 0.0,
) -> None:
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if int(value) < 1:
            raise ValueError(f"fit: {name} must be >= 1, got {value}")
    if not lr > 0 or not 0 <= ema_decay < 1 or not 0 < lr_factor < 1:
        raise ValueError(f"fit: need lr > 0, 0 <= ema_decay < 1, 0 < lr_factor < 1; got {lr}, {ema_decay}, {lr_factor}")
    if not isinstance(train, Frames) or (validation is not None and not isinstance(validation, Frames)):
        raise TypeError("fit: train and validation must be physics.potentials.Frames (see load_frames / Frames.split)")
    if force_weight > 0 and (train.forces is None or (validation is not None and validation.forces is None)):
        raise ValueError("fit: force_weight > 0 but the frames have no forces")
    if stress_weight < 0:
        raise ValueError(f"fit: stress_weight must be >= 0, got {stress_weight}")
    if stress_weight > 0 and any(f is not None and (f.stress is None or f.cells is None) for f in (train, validation)):
        raise ValueError("fit: stress_weight > 0 but the frames have no stress (or no cells)")
    if len(train) == 0:
        raise ValueError("fit: no training frames")
    if validation is not None:
        check_nonempty((len(validation),), "fit", what="validation", items="frames")
    for frames in (train, validation):
        if frames is not None:
            model.species(torch.from_numpy(np.unique(frames.numbers)))  # unknown element -> ValueError


def _initial_scales(
    model: Potential, train: Frames, reference_energies: bool, scale_to_forces: bool
) -> dict[int, float]:
    """Calibrate the model on ``train`` (:meth:`Potential.calibrate`) and set its energy scales;
    return the fitted reference energies."""
    device, dtype = _model_dtype(model)
    model.calibrate(train)
    ref: dict[int, float] = {}
    if reference_energies:
        ref = model.fit_reference_energies(train.composition(), train.energies)
    if scale_to_forces and train.forces is not None:
        rms = float(np.sqrt(np.mean(train.forces**2)))
        if rms > 0:
            model.energy_scale.fill_(rms)
    if reference_energies:
        # Start from the right mean energy: shift every atom by the mean residual per atom of
        # the untrained network on (up to) 256 training frames.
        sample = train[np.linspace(0, len(train) - 1, min(len(train), 256)).astype(np.int64)]
        residual = []
        for batch in sample.batches(64):
            batch = batch.to(device, dtype)
            out = _predict(model, batch, create_graph=False, forces=False)
            residual.append(((batch["energy"] - out["energy"]) / batch["n_atoms"]).cpu())
        model.energy_shift.add_(float(torch.cat(residual).mean()))
    return ref


@dataclasses.dataclass
class _Epoch:
    """One epoch of :func:`fit`: optimisation steps (with the warm-up) and the EMA updates."""

    net: nn.Module
    model: Potential
    train: Frames
    opt: torch.optim.Optimizer
    ema: EMA
    batch_size: int
    lr: float
    warmup_steps: int
    weights: tuple[float, float, float, bool]  # energy_weight, force_weight, stress_weight, per_atom
    grad_clip: float | None

    def run(self, order: np.ndarray, epoch: int) -> tuple[float, int]:
        """Train on the frames of ``order``; the mean training loss and the steps per epoch."""
        device, dtype = _model_dtype(self.model)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.model.train()
        total = 0.0
        steps_per_epoch = -(-len(order) // self.batch_size)
        for k, s in enumerate(range(0, len(order), self.batch_size)):
            step = epoch * steps_per_epoch + k
            if step < self.warmup_steps:
                for group in self.opt.param_groups:
                    group["lr"] = self.lr * (step + 1) / self.warmup_steps
            batch = self.train.collate(order[s : s + self.batch_size]).to(device, dtype)
            self.opt.zero_grad(set_to_none=True)
            energy_weight, force_weight, stress_weight, per_atom = self.weights
            loss = energy_force_loss(
                _predict(self.net, batch, create_graph=True, stress=stress_weight > 0),
                batch,
                energy_weight=energy_weight,
                force_weight=force_weight,
                stress_weight=stress_weight,
                per_atom=per_atom,
            )
            if not torch.isfinite(loss):
                raise FloatingPointError(f"fit: the loss became {float(loss)} at epoch {epoch + 1}; lower lr")
            loss.backward()
            if self.grad_clip is not None:
                nn.utils.clip_grad_norm_(params, self.grad_clip)
            self.opt.step()
            self.ema.update(self.model)
            total += float(loss.detach()) * int(batch["energy"].shape[0])
        return total / max(len(order), 1), steps_per_epoch


_KEYS = ("train_loss", "val_loss", "val_energy_mae", "val_force_mae", "lr", "epoch_time")


def _validate(
    ema_model: Potential, validation: Frames | None, batch_size: int, weights: tuple[float, float, float, bool]
) -> dict[str, float]:
    """The validation metrics of the EMA weights (NaN without validation frames)."""
    if validation is None:
        return {"loss": math.nan, "energy_mae": math.nan, "force_mae": math.nan}
    energy_weight, force_weight, stress_weight, per_atom = weights
    return evaluate(
        ema_model,
        validation,
        batch_size=batch_size,
        energy_weight=energy_weight,
        force_weight=force_weight,
        stress_weight=stress_weight,
        per_atom=per_atom,
    )


@dataclasses.dataclass
class _Record:
    """The course of a fit besides the weights: history, best epoch, epochs done, stop, reference energies."""

    history: dict[str, list[float]]
    best: dict[str, Any]
    ref: dict[int, float]
    epoch: int = 0
    stopped: bool = False

    def restore(self, state: dict[str, Any], model: Potential, ema: EMA, opt: Any, sched: Any) -> None:
        """Continue from a checkpoint ``state``: weights, EMA, optimiser, schedule and this record."""
        model.load_state_dict(state["model"])
        ema.model.load_state_dict(state["ema"])
        ema.updates = int(state["ema_updates"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.best = {"loss": float(state["best_loss"]), "epoch": int(state["best_epoch"]), "state": state["best_state"]}
        self.epoch, self.stopped = int(state["epoch"]), bool(state["stopped"])
        self.ref = {int(k): float(v) for k, v in state["reference"].items()}

    def payload(self, model: Potential, ema: EMA, opt: Any, sched: Any) -> dict[str, Any]:
        """What a checkpoint holds besides the settings, the epoch and torch's random state."""
        return {
            "model": model.state_dict(),
            "ema": ema.model.state_dict(),
            "ema_updates": ema.updates,
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "history": self.history,
            "best_loss": self.best["loss"],
            "best_epoch": self.best["epoch"],
            "best_state": self.best["state"],
            "stopped": self.stopped,
            "reference": {str(k): v for k, v in self.ref.items()},
        }


def fit(
    model: Potential,
    train: Frames,
    validation: Frames | None = None,
    *,
    epochs: int = 100,
    batch_size: int = 16,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    energy_weight: float = ENERGY_WEIGHT,
    force_weight: float = FORCE_WEIGHT,
    stress_weight: float = 0.0,
    per_atom: bool = True,
    ema_decay: float = 0.99,
    lr_factor: float = 0.8,
    lr_patience: int = 10,
    min_lr: float = 1e-6,
    warmup_steps: int = 0,
    early_stopping: int | None = 50,
    reference_energies: bool = True,
    scale_to_forces: bool = True,
    grad_clip: float | None = 100.0,
    seed: int = 0,
    run: Run | None = None,
) -> FitResult:
    """Fit ``model`` to the energies and forces of ``train``.

    Parameters
    ----------
    model : Potential
        E.g. :class:`TensorNet` or :class:`EGNN`; trained in place (its device and dtype are used).
    train, validation : Frames
        Training and validation structures (:class:`Frames`, e.g. from :func:`load_frames`
        and :meth:`Frames.split`). Without ``validation`` the training loss drives the
        schedule and early stopping is off.
    epochs, batch_size, lr, weight_decay
        Adam (``weight_decay > 0``: AdamW) settings.
    amsgrad : bool
        Adam's AMSGrad variant (default False; mace-torch's default, and MACE's fits converge
        further with it: the step of each weight never grows back once its gradients shrink).
    energy_weight, force_weight : float
        Loss ``energy_weight * MSE(E) + force_weight * MSE(F)`` in eV^2 (per atom when
        ``per_atom``) and (eV/A)^2 (:func:`energy_force_loss`; :func:`evaluate` has the
        same defaults, so its ``loss`` compares with ``history["val_loss"]``).
    stress_weight : float
        Add ``stress_weight * MSE(stress)`` in (eV/A^3)^2 (default 0: off); needs frames with
        cells and stress (e.g. ``load_frames("emt_crystals")``).
    per_atom : bool
        Compare energies per atom (default True) rather than per structure.
    ema_decay : float
        EMA of the weights (0 disables it); validation and the result use the EMA weights.
    lr_factor, lr_patience, min_lr
        ReduceLROnPlateau on the validation loss (epochs).
    warmup_steps : int
        Linear learning-rate warm-up over the first optimisation steps (the plateau schedule
        starts after it).
    early_stopping : int or None
        Stop after this many epochs without a better validation loss.
    reference_energies : bool
        Fit per-element reference energies to ``train`` by least squares first, then shift
        the untrained network's atomic energies so its mean error on ``train`` is zero.
    scale_to_forces : bool
        Set the network's output scale to the RMS training force component (eV).
    grad_clip : float or None
        Gradient-norm clipping.
    seed : int
        Shuffling and initial random state.
    run : tnkit.run.Run, optional
        The plumbing: ``progress`` (an epoch report), ``checkpoint`` written atomically every
        ``checkpoint_every`` epochs and at the end, ``resume`` (continue from ``checkpoint``
        if it exists; the settings must match the checkpoint's) and ``plot`` (the curves
        as a PNG at the end).

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        Bad settings, frames without forces when ``force_weight > 0``, elements the model does not accept,
        no training or validation frames.
    FloatingPointError
        The loss became NaN or Inf.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from physics.potentials import TensorNet, Frames
    >>> from tnkit.run import Run
    >>> rng = np.random.default_rng(0)
    >>> pos = np.array([0.0, 0.0, 0.0, 0.74, 0.0, 0.0]).reshape(1, 2, 3) + 0.05 * rng.normal(size=(40, 2, 3))
    >>> d = np.linalg.norm(pos[:, 1] - pos[:, 0], axis=1)
    >>> energy = 4.0 * (d - 0.74) ** 2           # a harmonic H2 bond (eV)
    >>> u = (pos[:, 1] - pos[:, 0]) / d[:, None]
    >>> f1 = -8.0 * (d - 0.74)[:, None] * u
    >>> frames = Frames.from_arrays([1, 1], pos, energy, np.stack([-f1, f1], axis=1))
    >>> train, val = frames.split([32, 8])
    >>> _ = torch.manual_seed(0)
    >>> result = fit(TensorNet(16, 1, 8, elements=(1,)), train, val, epochs=3, batch_size=8,
    ...              run=Run(progress=False))
    >>> len(result.history["val_force_mae"])
    3
    """
    _check_fit(model, train, validation, epochs, batch_size, lr, ema_decay, lr_factor, force_weight, stress_weight)
    device, _ = _model_dtype(model)
    session = TrainingSession(run, "fit", epochs, seed)
    ref = _initial_scales(model, train, reference_energies, scale_to_forces)
    net = session.parallel(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(
        torch.optim.AdamW if weight_decay > 0 else torch.optim.Adam, params, lr, weight_decay, amsgrad=amsgrad
    )
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=lr_factor, patience=lr_patience, min_lr=min_lr)
    ema = EMA(model, ema_decay)
    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "energy_weight": energy_weight,
        "force_weight": force_weight,
        "per_atom": per_atom,
        "ema_decay": ema_decay,
        "lr_factor": lr_factor,
        "lr_patience": lr_patience,
        "min_lr": min_lr,
        "warmup_steps": warmup_steps,
        "early_stopping": early_stopping,
        "seed": seed,
        "n_train": len(train),
        "world": session.world,
        "n_validation": 0 if validation is None else len(validation),
    }
    # only when used: checkpoints of runs without them still resume
    if stress_weight:
        settings["stress_weight"] = stress_weight
    if amsgrad:
        settings["amsgrad"] = True
    record = _Record(
        {k: [] for k in _KEYS}, {"loss": math.inf, "epoch": 0, "state": copy.deepcopy(ema.model.state_dict())}, ref
    )
    state = session.restore(settings, device)
    if state is not None:
        with session.applying():
            record.restore(state, model, ema, opt, sched)

    weights = (energy_weight, force_weight, stress_weight, per_atom)
    one_epoch = _Epoch(net, model, train, opt, ema, batch_size, lr, warmup_steps, weights, grad_clip)
    with session.bar(record.epoch) as bar:
        while record.epoch < epochs and not record.stopped:
            epoch = record.epoch
            t0 = time.perf_counter()
            train_loss, steps_per_epoch = one_epoch.run(session.order(len(train), epoch).numpy(), epoch)
            elapsed = time.perf_counter() - t0
            metrics = _validate(cast(Potential, ema.model), validation, max(batch_size, 32), weights)
            monitor = train_loss if validation is None else metrics["loss"]
            if (epoch + 1) * steps_per_epoch >= warmup_steps:
                sched.step(monitor)
            lr_now = opt.param_groups[0]["lr"]
            values = (train_loss, metrics["loss"], metrics["energy_mae"], metrics["force_mae"], lr_now, elapsed)
            for key, value in zip(_KEYS, values):
                record.history[key].append(float(value))
            record.epoch = epoch = epoch + 1
            if monitor < record.best["loss"]:
                record.best = {"loss": monitor, "epoch": epoch, "state": copy.deepcopy(ema.model.state_dict())}
            elif (
                validation is not None and early_stopping is not None and epoch - record.best["epoch"] >= early_stopping
            ):
                record.stopped = True
            errors = {"E meV": f"{metrics['energy_mae']:.3g}", "F meV/A": f"{metrics['force_mae']:.3g}"}
            bar.set_postfix({"loss": f"{train_loss:.3g}", **errors})
            bar.update(1)
            if session.checkpoint_due(epoch, epoch == epochs or record.stopped):
                session.save(epoch, record.payload(model, ema, opt, sched))
    model.load_state_dict(record.best["state"])
    model.eval()
    result = FitResult(
        model=model,
        history=record.history,
        best_epoch=record.best["epoch"],
        reference_energies=record.ref,
        stopped_early=record.stopped,
    )
    session.finish(result)
    return result
