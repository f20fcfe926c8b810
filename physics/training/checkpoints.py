"""Training checkpoints: atomic, checksummed, and loaded only for the run that wrote them.

A checkpoint is a dict saved with :func:`torch.save` (through :func:`tnkit.io.atomic_write`,
so two writers take turns and a crash never leaves half a file) and loaded with
``weights_only=True``. It carries ``tnkit_sha256``, a digest of everything in it
(tensors by their bytes, dtype and shape; other values by their repr), checked on load:
a flipped byte in the weights or the optimiser state is a :class:`tnkit.io.DataError`,
not a silently different run. It also carries the run's ``settings``, which must equal
those of the run resuming from it.

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

import contextlib
import hashlib
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from tnkit.io import DataError, atomic_write, readable_file
from tnkit.types import Device

__all__ = ["save_atomic", "load_checkpoint", "state_sha256", "applying", "read_torch_file"]

_SHA = "tnkit_sha256"
# What every checkpoint holds besides the trainer's own state.
_REQUIRED = ("settings", "epoch")


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        flat = value.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"t{value.dtype}{tuple(value.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    elif isinstance(value, Mapping):
        digest.update(f"d{len(value)}".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__[0]}{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        text = repr(value).encode("utf-8", "surrogatepass")
        digest.update(f"v{len(text)}:".encode() + text)


def state_sha256(state: Mapping[str, Any]) -> str:
    """Hex sha256 of a checkpoint dict (its own ``tnkit_sha256`` excluded), device-independent.

    Parameters
    ----------
    state : mapping
        Checkpoint dict of tensors, arrays, numbers, strings and nested containers.
    """
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in state.items() if k != _SHA})
    return digest.hexdigest()


def save_atomic(obj: Mapping[str, Any], path: str | Path) -> None:
    """``torch.save`` of ``obj`` and its digest, published atomically at ``path``.

    Parameters
    ----------
    obj : mapping
        The state to save; a ``tnkit_sha256`` entry with its digest is added.
    path : str or path
        Destination.
    """
    payload = dict(obj)
    payload[_SHA] = state_sha256(payload)
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(
    source: str | Path | None, settings: Mapping[str, Any], device: Device, who: str
) -> dict[str, Any] | None:
    """The checkpoint state at ``source``, or None (a fresh start) when ``source`` is None.

    Loads with ``weights_only=True`` and verifies the digest.

    Parameters
    ----------
    source : str, path or None
        What :meth:`tnkit.run.Run.resume_from` returns.
    settings : mapping
        Settings of this run; they must equal the stored ones.
    device : torch.device or str
        Device the tensors are loaded onto.
    who : str
        The trainer's name, the start of error messages.

    Raises
    ------
    tnkit.io.DataError
        The file is unreadable, truncated, not a checkpoint, or its contents do not match
        their digest (one line naming the file).
    ValueError
        The stored run settings differ from ``settings`` (the differences listed).
    """
    if source is None:
        return None
    source = Path(source)
    state = read_torch_file(source, device, "torch checkpoint")
    if not isinstance(state, dict) or any(key not in state for key in _REQUIRED):
        kind = type(state).__name__ if not isinstance(state, dict) else f"dict without {list(_REQUIRED)}"
        raise DataError.at(source, f"holds a {kind}, not a tnkit training checkpoint")
    stored = state.get(_SHA)
    if stored is None:
        warnings.warn(f"{source}: checkpoint has no checksum (older tnkit); contents not verified", stacklevel=3)
    elif stored != state_sha256(state):
        raise DataError.at(source, "checksum mismatch: the checkpoint is corrupt (remove it to start afresh)")
    if not isinstance(state["settings"], dict):
        raise DataError.at(source, "its settings are not a dict; not a tnkit training checkpoint")
    if state["settings"] != dict(settings):
        diff = {k: (state["settings"].get(k), v) for k, v in settings.items() if state["settings"].get(k) != v}
        raise ValueError(f"{who}: checkpoint {source} belongs to another run (checkpoint vs now: {diff})")
    return state


def read_torch_file(path: Path, device: Device, what: str) -> Any:
    """``torch.load(path, weights_only=True)``; an empty, unreadable or damaged file is a
    one-line :class:`tnkit.io.DataError` saying it is not a ``what``.

    Parameters
    ----------
    path : path
        File to read.
    device : torch.device or str
        Device the tensors are loaded onto (``map_location``).
    what : str
        What the file should be (e.g. ``"torch checkpoint"``), for the message.
    """
    if readable_file(path) == 0:
        raise DataError.at(path, f"empty file; not a {what}")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, ... for damage
        raise DataError.caused_by(path, f"not a readable {what}", exc) from None


@contextlib.contextmanager
def applying(source: str | Path, who: str) -> Iterator[None]:
    """Turn a failure to apply a checkpoint's contents (weights of another shape, a missing
    entry) into a one-line :class:`tnkit.io.DataError` naming the file.

    Parameters
    ----------
    source : str or path
        The checkpoint file, named in the error.
    who : str
        The trainer's name, the start of the message.
    """
    try:
        yield
    except (KeyError, RuntimeError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise DataError.caused_by(source, f"{who}: cannot resume from this checkpoint", exc) from None
