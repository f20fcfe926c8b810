"""Training neural operators on operator-learning datasets.

:func:`train` fits any model mapping ``(batch, in_channels, *spatial)`` to
``(batch, out_channels, *spatial)`` — :class:`physics.operators.FNO`, ``TFNO``, ``MGTFNO``,
``MgNO``, ``LSM`` or your own — to pairs ``(x, y)``:

- data from arrays, a ``{"a": ..., "u": ...}`` dict, a torch ``Dataset`` of ``(x, y)`` pairs
  (e.g. :func:`physics.data.torch_dataset`), an HDF5 file written by :mod:`physics.data` or
  the name of a manifest dataset (checked against its sha256); NaN or Inf anywhere is refused;
- inputs and outputs standardised by per-channel (resolution-independent) or pointwise
  statistics of the training set; the returned :class:`NormalizedOperator` applies them, so
  it takes and returns physical values at any resolution;
- relative L2 or H1 loss (:mod:`physics.operators.losses`), AdamW (or Adam), cosine or step
  learning-rate schedules, optional gradient clipping, mixed precision on GPU (the spectral
  convolutions stay in float32);
- evaluation on several test sets (e.g. several resolutions) every ``eval_every`` epochs;
- its plumbing from one :class:`tnkit.run.Run` (``run=``): a progress report, a loss-curve
  PNG (``plot``), atomic checkpoints every ``checkpoint_every`` epochs and ``resume``: a
  resumed run reproduces an uninterrupted one exactly (the shuffling order depends only on
  the seed and the epoch; random states are saved); checkpoints load with
  ``weights_only=True`` (:mod:`physics.training`);
- ``torch.distributed`` data parallelism when launched with ``torchrun`` (each rank trains on
  its share of every epoch's shuffled samples; rank 0 writes checkpoints and plots).

Examples
--------
>>> import torch
>>> from physics.operators import FNO, train
>>> from tnkit.run import Run
>>> _ = torch.manual_seed(0)
>>> x = torch.randn(64, 1, 16, 16)
>>> y = torch.fft.irfft2(torch.fft.rfft2(x) / 4)       # a linear operator to learn
>>> result = train(FNO(1, 1, (8, 8), hidden_channels=8, n_layers=2), (x[:48], y[:48]),
...                test_data={"16": (x[48:], y[48:])}, epochs=3, batch_size=16, lr=1e-2,
...                loss="l2", run=Run(progress=False))
>>> len(result.history["train_loss"]), sorted(result.history)[:2]
(3, ['16_h1', '16_l2'])
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from physics.data import load_arrays
from physics.operators._checks import check_finite
from physics.operators.losses import H1Loss, LpLoss, relative_h1, relative_lp
from physics.training import TrainingSession, make_optimizer, save_png
from tnkit.run import Run

__all__ = ["train", "evaluate", "TrainResult", "NormalizedOperator", "as_pair"]

Data = Any  # (x, y) | {"a": x, "u": y} | torch Dataset of (x, y) | path | manifest name


# --------------------------------------------------------------------------------------
# Data and normalisation


def as_pair(
    data: Data, what: str, dims: int | None = None, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` float tensors of shape ``(n, channels, *spatial)`` from ``data``.

    A channel axis is inserted when the arrays have exactly ``dims + 1`` axes (single-
    channel data stored as ``(n, *spatial)``, like :mod:`physics.data`'s ``a`` and ``u``).
    Raises ``ValueError`` for mismatched sample counts or non-finite values.

    Parameters
    ----------
    data : str, path, mapping, tuple of arrays or torch Dataset
        A manifest name or HDF5 file (its ``a`` and ``u``), ``{"a": ..., "u": ...}``,
        an ``(x, y)`` pair, or a map-style dataset of ``(x, y)`` pairs.
    what : str
        The caller's name, for messages.
    dims : int, optional
        Spatial dimensions of the model (decides whether a channel axis is added).
    dtype : torch.dtype
        Floating dtype of the returned tensors.
    """
    if isinstance(data, (str, Path)):
        arrays = load_arrays(data)
        x, y = arrays["a"], arrays["u"]
    elif isinstance(data, Mapping):
        if "a" not in data or "u" not in data:
            raise ValueError(f"{what}: a dict of data needs keys 'a' (inputs) and 'u' (outputs), got {sorted(data)}")
        x, y = data["a"], data["u"]
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    elif isinstance(data, torch.utils.data.Dataset):
        x, y = _dataset_tensors(data, what)
    else:
        raise TypeError(
            f"{what}: expected (x, y), a dict with 'a' and 'u', a torch Dataset of (x, y) pairs, or a dataset "
            f"path/name; got {type(data).__name__}"
        )
    x, y = (torch.as_tensor(np.asarray(v) if not isinstance(v, torch.Tensor) else v) for v in (x, y))
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{what}: {x.shape[0]} inputs but {y.shape[0]} outputs")
    if x.shape[0] == 0:
        raise ValueError(f"{what}: no samples")
    if dims is not None:
        x = x[:, None] if x.ndim == dims + 1 else x
        y = y[:, None] if y.ndim == dims + 1 else y
    x, y = x.to(dtype), y.to(dtype)
    check_finite(x, f"{what}: the inputs")
    check_finite(y, f"{what}: the outputs")
    return x, y


def _dataset_tensors(data: torch.utils.data.Dataset, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``(x, y)`` samples of a map-style dataset, stacked along a new first axis."""
    if isinstance(data, torch.utils.data.TensorDataset) and len(data.tensors) == 2:
        return data.tensors[0], data.tensors[1]  # no copy
    try:
        n = len(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what}: a torch Dataset needs a length (a map-style dataset)") from None
    if n == 0:
        raise ValueError(f"{what}: no samples")
    items = [data[i] for i in range(n)]
    if not all(isinstance(item, (tuple, list)) and len(item) == 2 for item in items):
        raise TypeError(f"{what}: the Dataset's samples must be (x, y) pairs")
    return torch.stack([torch.as_tensor(x) for x, _ in items]), torch.stack([torch.as_tensor(y) for _, y in items])


def _statistics(v: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    if mode == "global":  # one mean and std per channel: valid at any resolution
        axes = [0] + list(range(2, v.ndim))
        return v.mean(dim=axes, keepdim=True), v.std(dim=axes, keepdim=True)
    return v.mean(dim=0, keepdim=True), v.std(dim=0, keepdim=True)


class NormalizedOperator(nn.Module):
    """A model between standardisations: ``y = model((x - mx) / sx) * sy + my``.

    Parameters
    ----------
    model : torch.nn.Module
        The operator between normalised input and output.
    x, y : torch.Tensor, shape ``(n_samples, channels, *spatial)``, optional
        Training inputs and outputs the statistics are taken from; without one, that
        side is not normalised.
    mode : {"global", "pointwise", None}, optional
        ``"global"`` (default): one mean and standard deviation per channel, valid at any
        resolution; ``"pointwise"``: per channel and grid point, only on the training grid
        (another grid raises ``ValueError``); None: no normalisation.
    eps : float, optional
        Added to the standard deviations; default ``1e-6``.
    """

    # Buffers registered in __init__; declared so that they read as tensors, not modules.
    x_mean: torch.Tensor
    x_std: torch.Tensor
    y_mean: torch.Tensor
    y_std: torch.Tensor

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        mode: str | None = "global",
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if mode not in ("global", "pointwise", None):
            raise ValueError(f"normalize must be 'global', 'pointwise' or None, got {mode!r}")
        self.model, self.mode = model, mode
        for name, v in (("x", x), ("y", y)):
            if mode is None or v is None:
                mean, std = torch.zeros(()), torch.ones(())
            else:
                mean, std = _statistics(v, mode)
                std = std + eps
            self.register_buffer(f"{name}_mean", mean)
            self.register_buffer(f"{name}_std", std)

    def _check_grid(self, x: torch.Tensor) -> None:
        if self.mode == "pointwise" and tuple(x.shape[2:]) != tuple(self.x_mean.shape[2:]):
            raise ValueError(
                f"pointwise normalisation was fitted on a {tuple(self.x_mean.shape[2:])} grid, the "
                f"input has {tuple(x.shape[2:])}; train with normalize='global' to change resolution"
            )

    def encode_input(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mx) / sx``.

        Parameters
        ----------
        x : torch.Tensor, shape ``(batch, channels, *spatial)``
            Input in physical units.
        """
        self._check_grid(x)
        return (x - self.x_mean) / self.x_std

    def decode_output(self, y: torch.Tensor) -> torch.Tensor:
        """``y * sy + my``.

        Parameters
        ----------
        y : torch.Tensor, shape ``(batch, channels, *spatial)``
            Normalised output of the model.
        """
        return y * self.y_std + self.y_mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``model((x - mx) / sx) * sy + my``.

        Parameters
        ----------
        x : torch.Tensor, shape ``(batch, channels, *spatial)``
            Input in physical units.
        """
        return self.decode_output(self.model(self.encode_input(x)))


# --------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : NormalizedOperator
        The trained model with its normalisation (physical values in and out).
    history : dict of lists
        ``train_loss`` and ``epoch_time`` (seconds, training only) per epoch;
        ``{name}_l2`` / ``{name}_h1`` per evaluated epoch for every test set (NaN where
        not evaluated).
    n_params : int
        Trainable real parameters of the model.
    """

    model: NormalizedOperator
    history: dict[str, list[float]]
    n_params: int

    def final(self) -> dict[str, float]:
        """The last value of every history series."""
        return {k: v[-1] for k, v in self.history.items() if v}

    def plot(self, path: str | Path) -> Path:
        """Write the loss curves (training loss, test errors) to a PNG; returns the path.

        Parameters
        ----------
        path : str or path
            PNG file to write.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        fig, ax = plt.subplots(figsize=(6, 4))
        epochs = np.arange(1, len(self.history["train_loss"]) + 1)
        ax.semilogy(epochs, self.history["train_loss"], label="train loss")
        for key, values in self.history.items():
            if key.endswith(("_l2", "_h1")):
                v = np.asarray(values, dtype=float)
                ok = np.isfinite(v)
                ax.semilogy(epochs[ok], v[ok], "o-", ms=3, label=f"test {key}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("relative error")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return save_png(fig, path)


# --------------------------------------------------------------------------------------
# Evaluation


@torch.no_grad()
def evaluate(
    model: nn.Module, data: Data, *, batch_size: int = 64, periodic: bool = False, nodes: bool = True
) -> dict[str, float]:
    """Mean relative L2 and H1 errors of ``model`` on ``data`` (physical values).

    Parameters
    ----------
    model : torch.nn.Module
        A trained operator (as :func:`train` returns it, normalisers included) or any
        module mapping ``(batch, channels, *grid)`` inputs to outputs of ``data``'s shape.
    data : str, path, tuple of tensors or torch Dataset
        A manifest name (``"darcy_test_32"``), an HDF5 file, an ``(x, y)`` pair or a
        map-style dataset of pairs (:func:`physics.data.torch_dataset`), as for :func:`train`.
    batch_size : int
        Samples per forward pass (memory only; the errors do not depend on it).
    periodic : bool
        Periodic grid for the H1 derivative (spectral); otherwise finite differences.
    nodes : bool
        The grid includes the boundary nodes (the datasets here do); affects the H1 grid spacing.

    Returns
    -------
    dict
        ``{"l2": ..., "h1": ...}``: means over samples of ``||pred - y|| / ||y||`` in L2
        and in the H1 norm, in float64 on the host.
    """
    dims = _model_dims(model)
    x, y = as_pair(data, "evaluate", dims, _model_dtype(model))
    device = _model_device(model)
    was_training = model.training
    model.eval()
    l2 = h1 = 0.0
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
        pred = model(xb).float()
        yb = yb.float()
        l2 += float(relative_lp(pred, yb, reduction="sum"))
        h1 += float(relative_h1(pred, yb, periodic=periodic, nodes=nodes, reduction="sum"))
    model.train(was_training)
    return {"l2": l2 / x.shape[0], "h1": h1 / x.shape[0]}


def _inner(model: nn.Module) -> nn.Module:
    model = getattr(model, "module", model)  # DDP
    return model.model if isinstance(model, NormalizedOperator) else model


def _model_dims(model: nn.Module) -> int | None:
    return getattr(_inner(model), "dims", None)


def _model_device(model: nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def _model_dtype(model: nn.Module) -> torch.dtype:
    p = next(iter(model.parameters()), None)
    return p.dtype if p is not None else torch.float32


# --------------------------------------------------------------------------------------
# Training


def _loss_fn(loss: str | Callable[..., torch.Tensor], options: dict[str, Any]) -> Callable[..., torch.Tensor]:
    if callable(loss):
        return loss
    if loss == "l2":
        return LpLoss(2)
    if loss == "h1":
        return H1Loss(**options)
    raise ValueError(f"loss must be 'l2', 'h1' or a callable, got {loss!r}")


def _check_settings(
    epochs: int, batch_size: int, eval_every: int, lr: float, weight_decay: float, optimizer: str, scheduler: str | None
) -> None:
    for name, v in (("epochs", epochs), ("batch_size", batch_size), ("eval_every", eval_every)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"train: {name} must be a positive int, got {v!r}")
    if not lr > 0 or weight_decay < 0:
        raise ValueError(f"train: lr must be > 0 and weight_decay >= 0, got {lr}, {weight_decay}")
    if optimizer not in ("adamw", "adam"):
        raise ValueError(f"train: optimizer must be 'adamw' or 'adam', got {optimizer!r}")
    if scheduler not in ("cosine", "step", None):
        raise ValueError(f"train: scheduler must be 'cosine', 'step' or None, got {scheduler!r}")


def _scheduler(
    opt: torch.optim.Optimizer, scheduler: str | None, epochs: int, step_size: int | None, gamma: float
) -> Any:
    if scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    if scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=step_size or max(1, epochs // 4), gamma=gamma)
    return None


@dataclasses.dataclass
class _Epoch:
    """What one epoch of :func:`train` needs besides the sample order."""

    net: nn.Module
    model: nn.Module
    opt: torch.optim.Optimizer
    loss_fn: Callable[..., torch.Tensor]
    x: torch.Tensor
    y: torch.Tensor
    batch_size: int
    grad_clip: float | None
    use_amp: bool

    def run(self, order: torch.Tensor, epoch: int) -> float:
        """Train on the samples of ``order`` in batches; the mean training loss."""
        device = _model_device(self.model)
        self.net.train()
        total, count = 0.0, 0
        for s in range(0, order.numel(), self.batch_size):
            idx = order[s : s + self.batch_size]
            xb, yb = self.x[idx].to(device, non_blocking=True), self.y[idx].to(device, non_blocking=True)
            self.opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.use_amp):
                pred = self.net(xb)
            value = self.loss_fn(pred.float(), yb)
            if not torch.isfinite(value):
                raise FloatingPointError(
                    f"train: the loss became {float(value)} at epoch {epoch + 1}; lower lr or enable grad_clip"
                )
            value.backward()
            if self.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.opt.step()
            total += float(value.detach()) * idx.numel()
            count += idx.numel()
        return total / count


def train(
    model: nn.Module,
    train_data: Data,
    *,
    test_data: Mapping[str, Data] | None = None,
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    optimizer: str = "adamw",
    scheduler: str | None = "cosine",
    step_size: int | None = None,
    gamma: float = 0.5,
    loss: str | Callable[..., torch.Tensor] = "h1",
    periodic: bool = False,
    nodes: bool = True,
    normalize: str | None = "global",
    amp: bool | None = None,
    grad_clip: float | None = None,
    seed: int = 0,
    eval_every: int = 1,
    run: Run | None = None,
) -> TrainResult:
    """Fit ``model`` to ``train_data``.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(batch, in_channels, *spatial)`` to ``(batch, out_channels, *spatial)``; it
        is trained in place on the device and in the dtype of its parameters.
    train_data, test_data
        ``(x, y)`` arrays or tensors, a dict with ``a`` and ``u``, a torch ``Dataset`` of
        ``(x, y)`` pairs (e.g. :func:`physics.data.torch_dataset`: its inputs are taken as
        it holds them, i.e. encoded by its ``x_normalizer``, so the trained model expects
        inputs encoded the same way), an HDF5 dataset path or a manifest name;
        ``test_data`` maps a label (e.g. ``"32"``) to such data.
    epochs, batch_size, lr, weight_decay
        The usual; the last incomplete batch of an epoch is kept.
    optimizer : {"adamw", "adam"}
    scheduler : {"cosine", "step"} or None
        Cosine annealing over ``epochs``, or a step decay by ``gamma`` every ``step_size``
        epochs (default ``epochs // 4``); stepped once per epoch.
    step_size : int, optional
        Epochs between decays of the step schedule (default ``epochs // 4``).
    gamma : float
        Factor of each step decay.
    loss : {"h1", "l2"} or callable
        Relative H1 (finite differences; ``periodic`` / ``nodes`` describe the grid) or
        relative L2, computed on physical (de-normalised) values.
    periodic : bool
        The grid is periodic (spectral derivative in the H1 loss and metrics).
    nodes : bool
        The grid includes its boundary nodes (sets the H1 grid spacing).
    normalize : {"global", "pointwise"} or None
        Standardisation of inputs and outputs from the training set.
    amp : bool or None
        Mixed precision (bfloat16 autocast); default on for CUDA, off otherwise.
    grad_clip : float or None
        Clip the gradients' global norm.
    seed : int
        Seeds the shuffling order (and the torch generator once at the start).
    eval_every : int
        Evaluate the test sets every this many epochs (and after the last).
    run : tnkit.run.Run, optional
        The plumbing: ``progress`` (an epoch report), ``checkpoint`` written atomically
        every ``checkpoint_every`` epochs and at the end, ``resume`` (continue from
        ``checkpoint`` if it exists; the run's settings must match the checkpoint's) and
        ``plot`` (the loss curves as a PNG at the end).

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        Bad settings, data with NaN/Inf, shapes the model refuses, a checkpoint of another
        run.
    """
    _check_settings(epochs, batch_size, eval_every, lr, weight_decay, optimizer, scheduler)
    loss_fn = _loss_fn(loss, {"periodic": periodic, "nodes": nodes})
    device, dtype = _model_device(model), _model_dtype(model)
    dims = getattr(model, "dims", None)
    x, y = as_pair(train_data, "train_data", dims, dtype)
    tests = {str(k): as_pair(v, f"test_data[{k!r}]", dims, dtype) for k, v in (test_data or {}).items()}
    session = TrainingSession(run, "train", epochs, seed)

    wrapped = NormalizedOperator(model, x, y, normalize).to(device)
    net = session.parallel(wrapped)
    opt = make_optimizer(
        torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam, model.parameters(), lr, weight_decay
    )
    sched = _scheduler(opt, scheduler, epochs, step_size, gamma)
    use_amp = (device.type == "cuda") if amp is None else bool(amp)
    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "loss": loss if isinstance(loss, str) else "custom",
        "normalize": normalize,
        "seed": seed,
        "n_train": int(x.shape[0]),
        "world": session.world,
    }
    history: dict[str, list[float]] = {"train_loss": [], "epoch_time": []}
    for name in tests:
        history[f"{name}_l2"], history[f"{name}_h1"] = [], []
    start_epoch = 0
    state = session.restore(settings, device)
    if state is not None:
        with session.applying():
            wrapped.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            if sched is not None:
                sched.load_state_dict(state["scheduler"])
            history = {k: list(v) for k, v in state["history"].items()}
            start_epoch = int(state["epoch"])

    one_epoch = _Epoch(net, model, opt, loss_fn, x, y, batch_size, grad_clip, use_amp)
    with session.bar(start_epoch) as bar:
        for epoch in range(start_epoch, epochs):
            t0 = time.perf_counter()
            train_loss = one_epoch.run(session.order(x.shape[0], epoch), epoch)
            if sched is not None:
                sched.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            history["epoch_time"].append(time.perf_counter() - t0)
            history["train_loss"].append(train_loss)
            last = epoch == epochs - 1
            for name, data in tests.items():
                if last or (epoch + 1) % eval_every == 0:
                    metrics = evaluate(wrapped, data, batch_size=max(batch_size, 16), periodic=periodic, nodes=nodes)
                else:
                    metrics = {"l2": math.nan, "h1": math.nan}
                history[f"{name}_l2"].append(metrics["l2"])
                history[f"{name}_h1"].append(metrics["h1"])
            post = {"loss": f"{history['train_loss'][-1]:.4g}"}
            post.update({f"{k}_l2": f"{history[f'{k}_l2'][-1]:.4g}" for k in list(tests)[:2]})
            bar.set_postfix(post)
            bar.update(1)
            if session.checkpoint_due(epoch + 1, last):
                session.save(
                    epoch + 1,
                    {
                        "model": wrapped.state_dict(),
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict() if sched else {},
                        "history": history,
                    },
                )
    result = TrainResult(
        model=wrapped, history=history, n_params=sum(p.numel() for p in model.parameters() if p.requires_grad)
    )
    session.finish(result)
    return result
