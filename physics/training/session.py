"""The plumbing every training loop shares, driven by one :class:`tnkit.run.Run`.

A :class:`TrainingSession` knows this process's rank under ``torchrun``, resumes from the
run's checkpoint (or seeds torch for a fresh start), hands out each epoch's share of the
shuffled samples, reports progress, writes checkpoints when they are due (rank 0 only) and
draws the result's plot at the end. The loop itself — model, optimiser, loss — stays with
the trainer (:func:`physics.operators.train`, :func:`physics.potentials.fit`).

Examples
--------
>>> import tempfile, pathlib, torch
>>> from tnkit.run import Run
>>> path = pathlib.Path(tempfile.mkdtemp()) / "ckpt.pt"
>>> session = TrainingSession(Run(checkpoint=path, resume=True, progress=False), "demo", epochs=2, seed=0)
>>> session.restore({"lr": 0.1}, "cpu") is None  # nothing to resume from yet
True
>>> for epoch in range(2):
...     order = session.order(4, epoch)
...     if session.checkpoint_due(epoch + 1, last=epoch == 1):
...         session.save(epoch + 1, {"order": order})
>>> session.restore({"lr": 0.1}, "cpu")["epoch"]
2
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from physics.training.checkpoints import applying, load_checkpoint, save_atomic
from physics.training.distributed import data_parallel, distributed_rank, epoch_order, rank_share
from tnkit.run import Progress, Run, as_run, progress
from tnkit.types import Device

__all__ = ["TrainingSession"]


class _Plottable(Protocol):
    def plot(self, path: str | Path) -> Path: ...


class TrainingSession:
    """Ranks, resume, progress, checkpoints and plot of one training run.

    Parameters
    ----------
    run : tnkit.run.Run or None
        Progress, checkpoint path and interval (epochs), resume and plot output.
    who : str
        The trainer's name, for progress lines and error messages.
    epochs : int
        Epochs of the whole run (the progress total).
    seed : int
        Seeds torch on a fresh start and the shuffling order of every epoch.
    """

    def __init__(self, run: Run | None, who: str, epochs: int, seed: int) -> None:
        self.run = as_run(run)
        self.who, self.epochs, self.seed = who, epochs, seed
        self.rank, self.world = distributed_rank()
        self.settings: dict[str, Any] = {}
        self.source: Path | None = None

    def parallel(self, module: nn.Module) -> nn.Module:
        """``module`` under DDP when several ranks train, else ``module`` itself.

        Parameters
        ----------
        module : torch.nn.Module
            The model.
        """
        return data_parallel(module, self.world)

    def restore(self, settings: Mapping[str, Any], device: Device) -> dict[str, Any] | None:
        """The checkpoint state to continue from, torch's random state restored from it; or None
        after seeding torch with ``seed`` (a fresh start).

        Parameters
        ----------
        settings : mapping
            Settings of the run, stored with every checkpoint; they must equal those of a
            checkpoint resumed from (``ValueError`` otherwise).
        device : torch.device or str
            Device the checkpoint's tensors are loaded onto.
        """
        self.settings = dict(settings)
        source = self.run.resume_from()
        self.source = None if source is None else Path(source)
        state = load_checkpoint(self.source, self.settings, device, self.who)
        if state is None:
            torch.manual_seed(self.seed)
        else:
            with self.applying():
                torch.set_rng_state(state["torch_rng"].cpu())
        return state

    @contextlib.contextmanager
    def applying(self) -> Iterator[None]:
        """Wrap the trainer's use of the restored state: a checkpoint whose contents do not
        fit the model or optimiser is a one-line :class:`tnkit.io.DataError`."""
        if self.source is None:
            yield
            return
        with applying(self.source, self.who):
            yield

    def order(self, n: int, epoch: int) -> torch.Tensor:
        """This rank's samples of ``epoch`` (0-based), in training order.

        Parameters
        ----------
        n : int
            Number of training samples.
        epoch : int
            Epoch, 0-based.
        """
        return rank_share(epoch_order(n, self.seed, epoch), self.rank, self.world)

    def bar(self, initial: int) -> Progress:
        """The epoch progress report (silent on ranks other than 0).

        Parameters
        ----------
        initial : int
            Epochs already done (a resumed run).
        """
        enabled = self.run.progress if self.rank == 0 else False
        return progress(self.epochs, self.who, enabled, unit="epoch", initial=initial)

    def checkpoint_due(self, epoch: int, last: bool) -> bool:
        """Whether this process writes a checkpoint after ``epoch`` (counted from 1).

        Parameters
        ----------
        epoch : int
            Epoch just finished, counted from 1.
        last : bool
            Whether it is the last epoch (always checkpointed).
        """
        return self.rank == 0 and self.run.checkpoint_due(epoch, last)

    def save(self, epoch: int, state: Mapping[str, Any]) -> None:
        """Write the checkpoint: the settings, ``epoch``, ``state`` and torch's random state.

        Parameters
        ----------
        epoch : int
            Epoch just finished, counted from 1.
        state : mapping
            Trainer state to store (model and optimiser state, history, ...).
        """
        assert self.run.checkpoint is not None  # checkpoint_due says so
        payload = {"settings": self.settings, "epoch": epoch, **state, "torch_rng": torch.get_rng_state()}
        save_atomic(payload, Path(self.run.checkpoint))

    def finish(self, result: _Plottable) -> None:
        """Draw ``result``'s plot to the run's plot path (rank 0), if one was asked for.

        Parameters
        ----------
        result : object
            Training result with a ``plot(path)`` method.
        """
        if self.run.plot is not None and self.rank == 0:
            result.plot(self.run.plot)
