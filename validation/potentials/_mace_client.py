"""tnkit's side of the mace-torch peer: run ``_mace_peer.py`` in ``.venv-mace`` and read its answer.

mace-torch 0.3.16 pins e3nn 0.4.4 and cannot be installed next to tnkit (e3nn 0.6), so it
lives in its own venv (``make mace-venv``) and runs as a subprocess. :func:`run_peer`
writes the request as JSON, runs the peer script with a timeout, shows its ``progress:``
lines as they come and returns its JSON result (with the arrays of ``RESULT.npz`` under
``"arrays"`` when the command writes one). The commands and their requests are described
in ``_mace_peer.py``.

When the peer venv is missing, :func:`run_peer` raises :class:`PeerMissing`, a
:class:`tnkit.validation.SkipCase`: a validation case using it is skipped with the reason; a
benchmark case turns it into its own ``Skip`` (``except PeerMissing as e: raise Skip(str(e))``).

Like ``_potentials.py``, a shared helper (the leading ``_`` keeps ``tnkit validate`` from
looking for a case in it): a case puts this folder on ``sys.path`` and imports it.

Examples
--------
>>> from _mace_client import peer_available, run_peer  # doctest: +SKIP
>>> run_peer("build", {"model": {"channels": 32, "elements": [1, 6, 8]}})["n_params"]  # doctest: +SKIP
93520
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tnkit.validation import SkipCase

ROOT = Path(__file__).resolve().parents[2]
PEER_VENV = ROOT / ".venv-mace"
PEER_SCRIPT = Path(__file__).resolve().with_name("_mace_peer.py")
COMMANDS = ("check", "build", "time", "train")


class PeerMissing(SkipCase):
    """The mace-torch peer venv is not there (``make mace-venv`` creates it)."""


class PeerError(RuntimeError):
    """The peer script failed; the message ends with the tail of its stderr."""


def peer_python() -> Path:
    """``.venv-mace/bin/python``, or :class:`PeerMissing` with the fix when it is absent."""
    python = Path(os.environ.get("TNKIT_MACE_PYTHON", PEER_VENV / "bin" / "python"))
    if not python.exists():
        raise PeerMissing("mace-torch peer venv missing: run `make mace-venv`")
    return python


def peer_available() -> bool:
    """Whether :func:`run_peer` can run (the peer venv exists)."""
    try:
        peer_python()
    except PeerMissing:
        return False
    return True


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"run_peer: cannot send {type(value).__name__} to the peer (JSON)")


def run_peer(
    command: str,
    request: dict[str, Any],
    *,
    timeout: float = 3600.0,
    threads: int = 1,
    show: Callable[[str], None] | None = None,
    folder: str | Path | None = None,
) -> dict[str, Any]:
    """Run ``_mace_peer.py COMMAND`` in the mace-torch venv on ``request``; its result.

    Parameters
    ----------
    command : {"check", "build", "time", "train"}
    request : dict
        JSON-serialisable (numpy arrays and paths are converted); relative paths in it are
        relative to the current folder, the peer's too.
    timeout : float, optional
        Seconds before the peer is killed (default one hour).
    threads : int, optional
        torch / OpenMP / BLAS threads of the peer (default 1); the request's ``threads``
        wins when given.
    show : callable, optional
        Receives each progress line (default: printed to stderr).
    folder : path, optional
        Where the request and result files go (default: a temporary folder, removed after).

    Returns
    -------
    dict
        The peer's JSON result; ``"arrays"``: the arrays of its ``.npz`` result, if any.

    Raises
    ------
    PeerMissing
        ``.venv-mace`` is absent (a :class:`tnkit.validation.SkipCase`).
    PeerError
        The peer failed or ran out of time; one line of cause, then the tail of its stderr.
    """
    if command not in COMMANDS:
        raise ValueError(f"run_peer: unknown command {command!r}; known: {', '.join(COMMANDS)}")
    python = peer_python()
    threads = int(request.get("threads", threads))
    with contextlib.ExitStack() as stack:
        scratch = folder if folder is not None else stack.enter_context(tempfile.TemporaryDirectory())
        where = Path(scratch).resolve()
        where.mkdir(parents=True, exist_ok=True)
        req, res = where / f"{command}_request.json", where / f"{command}_result.json"
        req.write_text(json.dumps({**request, "threads": threads}, default=_jsonable))
        for stale in (res, res.with_suffix(".npz")):
            stale.unlink(missing_ok=True)
        env = {
            **os.environ,
            "PYTHONWARNINGS": "ignore",
            "OMP_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
        }
        env.pop("PYTHONPATH", None)  # nothing of tnkit's venv may leak into the peer
        rc, tail = run_streaming([str(python), str(PEER_SCRIPT), command, str(req), str(res)], env, timeout, show)
        if rc != 0 or not res.exists():
            why = f"timed out after {timeout:.0f} s" if rc is None else f"exit status {rc}"
            raise PeerError(f"mace-torch peer `{command}` failed ({why}); stderr tail:\n" + "\n".join(tail))
        result: dict[str, Any] = json.loads(res.read_text())
        arrays = res.with_suffix(".npz")
        if arrays.exists():
            with np.load(arrays) as data:
                result["arrays"] = {k: data[k] for k in data.files}
    return result


def run_streaming(
    argv: list[str],
    env: dict[str, str],
    timeout: float,
    show: Callable[[str], None] | None,
    *,
    cwd: str | Path | None = None,
    with_stdout: bool = False,
) -> tuple[int | None, list[str]]:
    """Run ``argv`` in its own process group; its ``progress:`` lines to ``show`` as they come,
    the last 40 other lines of stderr (and stdout with ``with_stdout``; else stdout is dropped)
    kept. Returns the exit status (None: killed with its children at ``timeout``) and those lines.

    The peers' runner: the mace-torch script here, ``nequip-train`` in ``_nequip_client``."""
    show = show or (lambda line: print(f"  mace-torch: {line}", file=sys.stderr, flush=True))
    tail: collections.deque[str] = collections.deque(maxlen=40)
    with subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE if with_stdout else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if with_stdout else subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    ) as proc:

        def read() -> None:
            stream = proc.stdout if with_stdout else proc.stderr
            assert stream is not None
            for line in stream:
                line = line.rstrip("\n")
                if line.startswith("progress: "):
                    show(line[len("progress: ") :])
                elif line.strip():
                    tail.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            rc: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the peer and its own children (mace_run_train, the memory child)
            proc.wait()
            rc = None
        except BaseException:
            os.killpg(proc.pid, 9)
            proc.wait()
            raise
        reader.join(timeout=10)
    return rc, list(tail)


def write_frames(path: str | Path, **splits: Any) -> Path:
    """Write frame sets (``train=``, ``val=``, ``test=``: :class:`physics.potentials.Frames`) for ``train``.

    The ``.npz`` holds ``{split}_numbers``, ``{split}_positions``, ``{split}_energies``,
    ``{split}_forces``, ``{split}_n_atoms`` and, where the frames have them,
    ``{split}_cells``, ``{split}_pbc``, ``{split}_stress``.
    """
    if set(splits) != {"train", "val", "test"}:
        raise ValueError(f"write_frames: need train=, val= and test= frames, got {sorted(splits)}")
    arrays: dict[str, np.ndarray] = {}
    for split, frames in splits.items():
        if frames.forces is None:
            raise ValueError(f"write_frames: the {split} frames have no forces")
        arrays.update(
            {
                f"{split}_numbers": frames.numbers,
                f"{split}_positions": frames.positions,
                f"{split}_energies": frames.energies,
                f"{split}_forces": frames.forces,
                f"{split}_n_atoms": frames.n_atoms,
            }
        )
        for name in ("cells", "pbc", "stress"):
            if getattr(frames, name, None) is not None:
                arrays[f"{split}_{name}"] = getattr(frames, name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    return path


def structure(numbers: Any, positions: Any, cell: Any = None, pbc: Any = None) -> dict[str, Any]:
    """One structure of a ``time`` request (``positions`` (n_atoms, 3) in Angstrom, ``cell`` rows)."""
    out: dict[str, Any] = {"numbers": np.asarray(numbers).tolist(), "positions": np.asarray(positions).tolist()}
    if cell is not None:
        out["cell"] = np.asarray(cell).tolist()
        out["pbc"] = [True] * 3 if pbc is None else np.asarray(pbc, dtype=bool).tolist()
    return out


def peak_memory(fn: Callable[[], Any]) -> dict[str, float]:
    """The rise of this process's resident high-water mark over ``fn()``, in MiB, as the peer measures its side.

    Freed heap is handed back (``malloc_trim``) and the high-water mark restarted
    (``/proc/self/clear_refs``, Linux >= 4.0) before the call; the value is ``VmHWM`` after
    minus ``VmRSS`` before. Run it in a fresh process after one warm-up call on the same system, as the
    peer does, for comparable numbers.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_MiB("VmRSS")
    fn()
    peak = _status_MiB("VmHWM")
    return {"peak_memory_MiB": peak - before, "rss_before_MiB": before, "peak_rss_MiB": peak}


def _status_MiB(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {field} in /proc/self/status (peak memory needs Linux)")
