"""Fitting potentials to reference energies and forces.

:func:`fit` trains any :class:`~physics.potentials.Potential` on :class:`Frames`:

- per-element reference energies fitted by least squares to the training energies before
  training, and the network's output scaled to the RMS force, so training starts from a
  sensible energy and force scale;
- loss ``energy_weight * MSE(E) + force_weight * MSE(F)`` (energies per atom or total);
- Adam(W) with a ReduceLROnPlateau schedule on the validation loss, an exponential moving
  average (EMA) of the weights used for validation and returned, early stopping on the
  validation loss (the best EMA weights are returned);
- metrics in meV (energies; also per atom) and meV/A (forces);
- a progress bar, a loss-curve PNG, atomic checkpoints and ``resume=`` (a resumed run repeats
  the uninterrupted one: shuffling depends only on the seed and the epoch);
- ``torch.distributed`` data parallelism (DDP) when launched with ``torchrun``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from physics._training import distributed_rank, epoch_order, load_checkpoint, save_atomic, save_png
from physics.potentials._frames import Batch, Frames
from physics.potentials._model import Potential

__all__ = ["fit", "evaluate", "FitResult"]


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

    def plot(self, path: str | Path) -> Path:
        """Loss and validation-error curves as a PNG; returns the path."""
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


def _predict(net: nn.Module, batch: Batch, create_graph: bool, forces: bool = True) -> dict[str, torch.Tensor]:
    kwargs: dict[str, Any] = {"batch": batch["batch"], "forces": forces, "create_graph": create_graph}
    if "cell" in batch:
        kwargs["cell"], kwargs["pbc"] = batch["cell"], batch["pbc"]
    return net(batch["numbers"], batch["positions"], **kwargs)


def _loss(
    out: dict[str, torch.Tensor], batch: Batch, energy_weight: float, force_weight: float, per_atom: bool
) -> torch.Tensor:
    de = out["energy"] - batch["energy"]
    if per_atom:
        de = de / batch["n_atoms"]
    loss = energy_weight * (de * de).mean()
    if force_weight and "forces" in batch:
        df = out["forces"] - batch["forces"]
        loss = loss + force_weight * (df * df).mean().to(loss.dtype)
    return loss


def evaluate(
    model: Potential,
    frames: Frames,
    *,
    batch_size: int = 32,
    energy_weight: float = 1.0,
    force_weight: float = 1.0,
    per_atom: bool = True,
) -> dict[str, float]:
    """Errors of ``model`` on ``frames``.

    Returns
    -------
    dict
        ``energy_mae`` (meV), ``energy_mae_per_atom`` (meV/atom), ``energy_rmse`` (meV),
        ``force_mae`` and ``force_rmse`` (meV/A, over force components), ``loss`` (the
        training loss with the given weights, eV^2 units), ``n_frames``.

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
    device, dtype = _model_dtype(model)
    was_training = model.training
    model.eval()
    ae, ae_atom, se, af, sf, nf, loss = 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0
    has_forces = frames.forces is not None
    try:
        for batch in frames.batches(batch_size):
            batch = batch.to(device, dtype)
            out = _predict(model, batch, create_graph=False, forces=has_forces)
            de = (out["energy"].detach() - batch["energy"]).double()
            ae += float(de.abs().sum())
            ae_atom += float((de.abs() / batch["n_atoms"]).sum())
            se += float((de * de).sum())
            loss += float(
                _loss({k: v.detach() for k, v in out.items()}, batch, energy_weight, force_weight, per_atom)
            ) * len(de)
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
        "loss": loss / n,
        "n_frames": n,
    }


class _EMA:
    """Exponential moving average of a model's parameters (buffers copied as they are).

    The decay after ``t`` updates is ``min(decay, (1 + t) / (10 + t))``, so the average does not
    drag the untrained initial weights along for the first ~1/(1 - decay) steps.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model)
        self.updates = 0
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        ema = [p for p in self.model.parameters()]
        cur = [p.detach() for p in model.parameters()]
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        self.updates += 1
        if decay > 0:
            torch._foreach_lerp_(ema, cur, 1.0 - decay)
        else:
            torch._foreach_copy_(ema, cur)
        for b_ema, b in zip(self.model.buffers(), model.buffers()):
            b_ema.copy_(b)


def fit(
    model: Potential,
    train: Frames,
    validation: Frames | None = None,
    *,
    epochs: int = 100,
    batch_size: int = 16,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    energy_weight: float = 1.0,
    force_weight: float = 10.0,
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
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 1,
    resume: bool | str | Path = False,
    seed: int = 0,
    progress: bool | None = None,
    plot: str | Path | None = None,
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
    energy_weight, force_weight : float
        Loss ``energy_weight * MSE(E) + force_weight * MSE(F)`` in eV^2 (per atom when
        ``per_atom``) and (eV/A)^2.
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
    checkpoint, checkpoint_every, resume
        Atomic checkpoint every ``checkpoint_every`` epochs; ``resume=True`` continues from
        ``checkpoint`` if it exists, ``resume=PATH`` from that file. Settings must match.
    seed : int
        Shuffling and initial random state.
    progress : bool, optional
        Progress bar (default: on a terminal).
    plot : path, optional
        Write the curves as a PNG at the end.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        Bad settings, frames without forces when ``force_weight > 0``, elements the model does not accept.
    FloatingPointError
        The loss became NaN or Inf.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from physics.potentials import TensorNet, Frames
    >>> rng = np.random.default_rng(0)
    >>> pos = np.array([0.0, 0.0, 0.0, 0.74, 0.0, 0.0]).reshape(1, 2, 3) + 0.05 * rng.normal(size=(40, 2, 3))
    >>> d = np.linalg.norm(pos[:, 1] - pos[:, 0], axis=1)
    >>> energy = 4.0 * (d - 0.74) ** 2           # a harmonic H2 bond (eV)
    >>> u = (pos[:, 1] - pos[:, 0]) / d[:, None]
    >>> f1 = -8.0 * (d - 0.74)[:, None] * u
    >>> frames = Frames.from_arrays([1, 1], pos, energy, np.stack([-f1, f1], axis=1))
    >>> train, val = frames.split([32, 8])
    >>> _ = torch.manual_seed(0)
    >>> result = fit(TensorNet(16, 1, 8, elements=(1,)), train, val, epochs=3, batch_size=8, progress=False)
    >>> len(result.history["val_force_mae"])
    3
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("checkpoint_every", checkpoint_every)):
        if int(value) < 1:
            raise ValueError(f"fit: {name} must be >= 1, got {value}")
    if not lr > 0 or not 0 <= ema_decay < 1 or not 0 < lr_factor < 1:
        raise ValueError(f"fit: need lr > 0, 0 <= ema_decay < 1, 0 < lr_factor < 1; got {lr}, {ema_decay}, {lr_factor}")
    if not isinstance(train, Frames) or (validation is not None and not isinstance(validation, Frames)):
        raise TypeError("fit: train and validation must be physics.potentials.Frames (see load_frames / Frames.split)")
    if force_weight > 0 and (train.forces is None or (validation is not None and validation.forces is None)):
        raise ValueError("fit: force_weight > 0 but the frames have no forces")
    if len(train) == 0:
        raise ValueError("fit: no training frames")
    for frames in (train, validation):
        if frames is not None:
            model.species(torch.from_numpy(np.unique(frames.numbers)))  # unknown element -> ValueError

    device, dtype = _model_dtype(model)
    rank, world = distributed_rank()
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

    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt_cls = torch.optim.AdamW if weight_decay > 0 else torch.optim.Adam
    try:
        opt = opt_cls(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        opt = opt_cls(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=lr_factor, patience=lr_patience, min_lr=min_lr)
    ema = _EMA(model, ema_decay)

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
        "world": world,
        "n_validation": 0 if validation is None else len(validation),
    }
    keys = ("train_loss", "val_loss", "val_energy_mae", "val_force_mae", "lr", "epoch_time")
    history: dict[str, list[float]] = {k: [] for k in keys}
    best = {"loss": math.inf, "epoch": 0, "state": copy.deepcopy(ema.model.state_dict())}
    start_epoch, stopped = 0, False
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    state = load_checkpoint(checkpoint, resume, settings, device, "fit")
    if state is not None:
        model.load_state_dict(state["model"])
        ema.model.load_state_dict(state["ema"])
        ema.updates = int(state["ema_updates"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history = {k: list(v) for k, v in state["history"].items()}
        best = {"loss": float(state["best_loss"]), "epoch": int(state["best_epoch"]), "state": state["best_state"]}
        start_epoch, stopped = int(state["epoch"]), bool(state["stopped"])
        ref = {int(k): float(v) for k, v in state["reference"].items()}
        torch.set_rng_state(state["torch_rng"].cpu())
    else:
        torch.manual_seed(seed)

    bar = None
    if (sys.stderr.isatty() if progress is None else progress) and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=start_epoch, desc="fit", unit="epoch")
    n = len(train)
    epoch = start_epoch
    while epoch < epochs and not stopped:
        order = epoch_order(n, seed, epoch).numpy()
        if world > 1:
            share = n // world
            order = order[rank * share : (rank + 1) * share]
        model.train()
        t0 = time.perf_counter()
        total = 0.0
        steps_per_epoch = -(-len(order) // batch_size)
        for k, s in enumerate(range(0, len(order), batch_size)):
            step = epoch * steps_per_epoch + k
            if step < warmup_steps:
                for group in opt.param_groups:
                    group["lr"] = lr * (step + 1) / warmup_steps
            batch = train.collate(order[s : s + batch_size]).to(device, dtype)
            opt.zero_grad(set_to_none=True)
            loss = _loss(_predict(net, batch, create_graph=True), batch, energy_weight, force_weight, per_atom)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"fit: the loss became {float(loss)} at epoch {epoch + 1}; lower lr")
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(params, grad_clip)
            opt.step()
            ema.update(model)
            total += float(loss.detach()) * int(batch["energy"].shape[0])
        elapsed = time.perf_counter() - t0
        train_loss = total / max(len(order), 1)
        if validation is not None:
            metrics = evaluate(
                ema.model,
                validation,
                batch_size=max(batch_size, 32),
                energy_weight=energy_weight,
                force_weight=force_weight,
                per_atom=per_atom,
            )
            monitor = metrics["loss"]
        else:
            metrics = {"loss": math.nan, "energy_mae": math.nan, "force_mae": math.nan}
            monitor = train_loss
        if (epoch + 1) * steps_per_epoch >= warmup_steps:
            sched.step(monitor)
        for key, value in zip(
            keys,
            (
                train_loss,
                metrics["loss"],
                metrics["energy_mae"],
                metrics["force_mae"],
                opt.param_groups[0]["lr"],
                elapsed,
            ),
        ):
            history[key].append(float(value))
        epoch += 1
        if monitor < best["loss"]:
            best = {"loss": monitor, "epoch": epoch, "state": copy.deepcopy(ema.model.state_dict())}
        elif validation is not None and early_stopping is not None and epoch - best["epoch"] >= early_stopping:
            stopped = True
        if bar is not None:
            bar.set_postfix(
                {
                    "loss": f"{train_loss:.3g}",
                    "E meV": f"{metrics['energy_mae']:.3g}",
                    "F meV/A": f"{metrics['force_mae']:.3g}",
                }
            )
            bar.update(1)
        last = epoch == epochs or stopped
        if ckpt_path is not None and rank == 0 and (last or epoch % checkpoint_every == 0):
            save_atomic(
                {
                    "settings": settings,
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "ema": ema.model.state_dict(),
                    "ema_updates": ema.updates,
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "history": history,
                    "best_loss": best["loss"],
                    "best_epoch": best["epoch"],
                    "best_state": best["state"],
                    "stopped": stopped,
                    "reference": {str(k): v for k, v in ref.items()},
                    "torch_rng": torch.get_rng_state(),
                },
                ckpt_path,
            )
    if bar is not None:
        bar.close()
    model.load_state_dict(best["state"])
    model.eval()
    result = FitResult(
        model=model, history=history, best_epoch=best["epoch"], reference_energies=ref, stopped_early=stopped
    )
    if plot is not None and rank == 0:
        result.plot(plot)
    return result
