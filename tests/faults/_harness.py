"""Loading damaged files in a separate process, under a time limit.

A damaged file may make a reader crash the interpreter or spin in C code, where no Python
timeout reaches. :class:`LoadWorker` keeps one spawned process that loads files with
:func:`tnkit.io.load` and :func:`tnkit.io.provenance` and answers with an :class:`Outcome`;
a load that takes longer than the limit kills the worker (a fresh one serves the next
load) and is reported as a hang, a dead worker as a crash.

The outcome of a load is one of

* ``error``  — a :class:`tnkit.io.DataError` with a one-line message (the message kept);
* ``same``   — the file loaded, and its content and provenance equal the reference;
* ``garbage``— it loaded but something differs from the reference (silent corruption);
* ``other``  — another exception (type and message kept);
* ``crash`` / ``hang``.

Only the first two are acceptable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing as mp
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

ACCEPTABLE = ("error", "same")


def content_digest(tree: Any) -> str:
    """A digest of a loaded tree (arrays by dtype, shape and bytes; scalars by repr)."""
    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, np.ndarray):
            digest.update(f"a{value.dtype.str}{value.shape}".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        elif isinstance(value, dict):
            digest.update(f"d{len(value)}".encode())
            for key in sorted(value):
                feed(key)
                feed(value[key])
        else:
            digest.update(f"v{type(value).__name__}{value!r}".encode())

    feed(tree)
    return digest.hexdigest()


def describe(path: str) -> tuple[str, str]:
    """``(kind, detail)`` of loading ``path`` in this process."""
    import tnkit.io as tio

    try:
        tree = tio.load(path)
        info = tio.provenance(path)
    except tio.DataError as exc:
        return "error", str(exc)
    except Exception as exc:  # noqa: BLE001 - classifying is the point
        return "other", f"{type(exc).__name__}: {exc}"
    return "loaded", content_digest({"content": tree, "provenance": info})


def _die_with_parent() -> None:
    """Linux: have the kernel kill this process when its parent dies. A worker stuck in a
    spinning HDF5 call cannot notice anything itself, and must not outlive the test run."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _serve(conn: Any) -> None:
    _die_with_parent()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import tnkit.io  # noqa: F401 - pay for the imports before the first timed load

    conn.send("ready")
    while True:
        path = conn.recv()
        if path is None:
            return
        conn.send(describe(path))


@dataclasses.dataclass(frozen=True)
class Outcome:
    kind: str
    detail: str = ""

    @property
    def acceptable(self) -> bool:
        if self.kind == "error":
            return "\n" not in self.detail
        return self.kind == "same"


class LoadWorker:
    """One spawned process that loads files; see the module docstring."""

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Any = None

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child,), daemon=True)
        self._proc.start()
        self._conn = parent
        if not parent.poll(120.0) or parent.recv() != "ready":
            raise RuntimeError("the loading process did not start")

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
        self._proc = self._conn = None

    def raw(self, path: str | Path) -> tuple[str, str]:
        if self._proc is None or not self._proc.is_alive():
            self._start()
        self._conn.send(str(path))
        if not self._conn.poll(self.timeout):
            self._kill()
            return "hang", f"no answer within {self.timeout:g} s"
        try:
            return self._conn.recv()
        except EOFError:
            self._kill()
            return "crash", "the loading process died"

    def outcome(self, path: str | Path, reference: str) -> Outcome:
        """Load ``path``; compare with ``reference`` (a :func:`describe` digest of the intact file)."""
        kind, detail = self.raw(path)
        if kind == "loaded":
            return Outcome("same") if detail == reference else Outcome("garbage", "content differs from the original")
        return Outcome(kind, detail)

    def close(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._conn.send(None)
            self._proc.join(5)
        self._kill()


def flipped(data: bytes, position: int, bit: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 1 << bit
    return bytes(out)
