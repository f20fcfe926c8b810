"""What a benchmark module hands to run.py, and the array libraries cases run on.

A ``bench_*.py`` module defines ``cases(quick: bool) -> list[Case]``. Each case
names tnkit's function and its peer, and has a ``prepare`` that builds the inputs
once and returns the two zero-argument callables to time (a :class:`Contenders`).
``prepare`` raises :class:`Skip` when the case cannot run here (no GPU, a peer
not installed, a tnkit module not importable yet); the reason goes into the JSON.

A case without a peer (``peer=None``) times tnkit alone and reports no ratio: a
table of absolute times on one machine. A case whose calls take seconds sets its
own ``effort`` (e.g. no warm-up beyond what ``prepare`` ran, three timed pairs),
and its ``Contenders.details`` can put what the calls found (energies, sweep
counts) into the JSON next to the times.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

BACKENDS = ("numpy", "torch", "cupy", "torch-cuda")


class Skip(Exception):
    """The case cannot run on this machine; the message says why."""


@dataclasses.dataclass(frozen=True)
class Contenders:
    """The two calls to time, on the same inputs, and how far their results differ.

    ``peer`` is None for a case that times tnkit alone. ``max_rel_diff`` may be a
    callable, evaluated after timing (for results only the timed calls produce);
    ``details``, also called after timing, returns extra JSON-serialisable facts.

    ``peer_seconds`` is for a peer that cannot run in this process (mace-torch pins e3nn
    0.4.4 and lives in its own venv): called right after tnkit's calls are timed, it returns
    the peer's median seconds per call as the peer measured them in its own process (with
    ``peer=None``); the ratio then compares the medians of two processes run back to back.
    """

    tnkit: Callable[[], Any]
    peer: Callable[[], Any] | None
    sync: Callable[[], None] | None = None
    max_rel_diff: float | Callable[[], float | None] | None = None
    details: Callable[[], dict[str, Any]] | None = None
    peer_seconds: Callable[[], float] | None = None


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark: tnkit's call against ``peer`` on ``backend`` at ``size``.

    ``target_ratio`` is the tnkit/peer median-time ratio the case should stay
    under (None: reported, no target). ``peer=None``: tnkit timed alone.
    ``effort`` overrides run.py's timing settings for this case:
    ``(warm-up calls, seconds budget, fewest timed pairs, most timed pairs)``.
    """

    name: str
    backend: str
    size: int
    peer: str | None
    prepare: Callable[[], Contenders]
    target_ratio: float | None = None
    effort: tuple[int, float, int, int] | None = None


def unavailable(backend: str) -> str | None:
    """Why ``backend`` cannot run here, or None when it can."""
    if backend == "numpy":
        return None
    if backend in ("torch", "torch-cuda"):
        if importlib.util.find_spec("torch") is None:
            return "torch not installed (pip install 'tnkit[torch]')"
        if backend == "torch-cuda":
            import torch

            if not torch.cuda.is_available():
                return "torch-cuda: no CUDA device on this machine"
        return None
    if backend == "cupy":
        if importlib.util.find_spec("cupy") is None:
            return "cupy not installed (pip install 'tnkit[gpu]')"
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() < 1:
                return "cupy installed but no CUDA device"
        except Exception as exc:  # no driver or no device
            return f"cupy installed but no usable CUDA device ({type(exc).__name__})"
        return None
    raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")


def from_host(host: np.ndarray, backend: str) -> Any:
    """``host`` as an array of ``backend``'s library on its device."""
    if backend == "numpy":
        return np.ascontiguousarray(host)
    if backend in ("torch", "torch-cuda"):
        import torch

        return torch.from_numpy(np.ascontiguousarray(host)).to("cuda" if backend == "torch-cuda" else "cpu")
    if backend == "cupy":
        import cupy

        return cupy.asarray(host)
    raise ValueError(f"unknown backend {backend!r}")


def synchronizer(backend: str) -> Callable[[], None] | None:
    """A call that waits for the device to finish queued work (None on CPU)."""
    if backend == "torch-cuda":
        import torch

        return torch.cuda.synchronize
    if backend == "cupy":
        import cupy

        return lambda: cupy.cuda.Device().synchronize()
    return None


def max_rel_diff(ours: Any, theirs: Any) -> float:
    """max |ours - theirs| / max |theirs| after moving both to the host."""
    from tnkit.backend import to_host

    a, b = to_host(ours), to_host(theirs)
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    return float(np.max(np.abs(a - b))) / scale if scale else float(np.max(np.abs(a - b), initial=0.0))
