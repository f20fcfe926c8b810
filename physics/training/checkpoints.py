"""Training checkpoints: atomic writes, and loading one only for the run that wrote it.

A checkpoint is a dict saved with :func:`torch.save` and loaded with ``weights_only=True``;
it carries the run's ``settings``, which must equal those of the run resuming from it.

Examples
--------
>>> import tempfile, pathlib, torch
>>> path = pathlib.Path(tempfile.mkdtemp()) / "ckpt.pt"
>>> save_atomic({"settings": {"lr": 0.1}, "epoch": 3}, path)
>>> load_checkpoint(path, {"lr": 0.1}, "cpu", "demo")["epoch"]
3
>>> load_checkpoint(path, {"lr": 0.2}, "cpu", "demo")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: demo: checkpoint ... belongs to another run (checkpoint vs now: {'lr': (0.1, 0.2)})
>>> load_checkpoint(None, {"lr": 0.1}, "cpu", "demo") is None  # nothing to resume from
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tnkit.types import Device

__all__ = ["save_atomic", "load_checkpoint"]


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path.tmp``, fsync, rename: a crash never leaves a half-written checkpoint."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(
    source: str | Path | None, settings: Mapping[str, Any], device: Device, who: str
) -> dict[str, Any] | None:
    """The checkpoint state at ``source``, or None (a fresh start) when ``source`` is None.

    ``source`` is what :meth:`tnkit.run.Run.resume_from` returns. The stored run settings
    must equal ``settings`` (one-line ``ValueError`` listing the differences otherwise).
    Loads with ``weights_only=True``.
    """
    if source is None:
        return None
    source = Path(source)
    state = torch.load(source, map_location=device, weights_only=True)
    if state["settings"] != dict(settings):
        diff = {k: (state["settings"].get(k), v) for k, v in settings.items() if state["settings"].get(k) != v}
        raise ValueError(f"{who}: checkpoint {source} belongs to another run (checkpoint vs now: {diff})")
    return state
