"""Pieces shared by the training loops of :mod:`physics.operators` and :mod:`physics.potentials`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["distributed_rank", "epoch_order", "save_atomic", "load_checkpoint", "save_png"]


def distributed_rank() -> tuple[int, int]:
    """(rank, world size); joins the process group torchrun describes if not yet joined."""
    import torch.distributed as dist

    if not dist.is_available():
        return 0, 1
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled sample order of ``epoch``: depends only on ``seed`` and ``epoch`` (so resumes repeat it)."""
    gen = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63))
    return torch.randperm(n, generator=gen)


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path.tmp``, fsync, rename: a crash never leaves a half-written checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(
    checkpoint: str | Path | None, resume: bool | str | Path, settings: Mapping[str, Any], device: Any, who: str
) -> dict[str, Any] | None:
    """The checkpoint state to resume from, or None to start afresh.

    ``resume=True`` continues from ``checkpoint`` if that file exists; ``resume=PATH`` from
    ``PATH``, which must exist. The stored run settings must equal ``settings`` (one-line
    ``ValueError`` listing the differences otherwise). Loads with ``weights_only=True``.
    """
    source = (
        (Path(checkpoint) if checkpoint is not None else None) if resume is True else (Path(resume) if resume else None)
    )
    if resume and source is None:
        raise ValueError(f"{who}: resume=True needs checkpoint=PATH")
    if source is None or not (source.exists() or resume is not True):
        return None
    if not source.exists():
        raise FileNotFoundError(f"{who}: no checkpoint at {source} to resume from")
    state = torch.load(source, map_location=device, weights_only=True)
    if state["settings"] != dict(settings):
        diff = {k: (state["settings"].get(k), v) for k, v in settings.items() if state["settings"].get(k) != v}
        raise ValueError(f"{who}: checkpoint {source} belongs to another run (checkpoint vs now: {diff})")
    return state


def save_png(fig: Any, path: str | Path) -> Path:
    """Write a Matplotlib figure as a PNG atomically (``path.tmp``, then rename) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path
