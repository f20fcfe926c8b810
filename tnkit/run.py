"""One run control for every long driver: progress, checkpoints, resume, executor, plots.

DMRG, TEBD/TDVP, the BUG integrators, the structure searches and both trainers take
their science as arguments and their plumbing in one :class:`Run`::

    tnkit.dmrg(h, psi, bond_dims=[64], run=tnkit.Run(checkpoint="gs.h5", resume=True))

:func:`progress` is the progress report they all use: a bar on a terminal, and on a log
(output redirected to a file, a batch job, a notebook's captured output) one line every
``log_every`` seconds — elapsed time, done/total, rate, estimated time left and the
current figure (energy, loss, error) — written by a heartbeat thread even while one unit
of work takes longer than that, and one at the end, so a job's log says how far it got.
``progress=None`` (the default) means "a bar on a terminal, log lines otherwise";
``True`` forces the report on; ``False`` silences it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, TextIO

import numpy as np

__all__ = ["Run", "Progress", "progress", "time_steps", "format_duration"]

# On a log, one line at least this often (seconds) while work goes on.
LOG_EVERY = 30.0


class Progress:
    """Progress of ``total`` units of work (``None``: unknown), reported on ``stream``.

    On a terminal this is a tqdm bar; elsewhere it writes lines such as
    ``dmrg: 3/10 sweeps (30%) 12.1 s, 0.248 sweeps/s, ~28 s left, energy=-44.127`` every
    ``log_every`` seconds — from a heartbeat thread, so a unit of work longer than that
    still shows the job alive — and one when closed if the work took longer than that
    (short work leaves a log alone). Use it as a context manager or call :meth:`close`.

    Parameters
    ----------
    total : int or None
        Units of work expected; None when unknown.
    desc : str
        Name shown before the count.
    unit : str, optional
        Name of a unit of work; default ``"it"``.
    enabled : bool or None, optional
        False silences it (as does the environment variable ``TNKIT_NO_PROGRESS``);
        default None: report.
    initial : int, optional
        Units already done (a resumed run); default 0.
    stream : file-like, optional
        Where to report; default standard error.
    log_every : float, optional
        Seconds between log lines when ``stream`` is not a terminal; default 30. 0 writes a
        line at every update and starts no heartbeat thread.

    Examples
    --------
    >>> import io
    >>> log = io.StringIO()
    >>> with Progress(3, "demo", unit="step", stream=log, log_every=0.0) as bar:
    ...     for _ in range(3):
    ...         bar.update()
    >>> print(log.getvalue().splitlines()[-1].split(" (")[0])
    demo: 3/3 steps
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        *,
        unit: str = "it",
        enabled: bool | None = None,
        initial: int = 0,
        stream: TextIO | None = None,
        log_every: float = LOG_EVERY,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = int(initial)
        self._stream = sys.stderr if stream is None else stream
        self._postfix: dict[str, Any] = {}
        self._start = time.monotonic()
        self._last_line = self._start  # the first line after one interval: short work stays silent
        self._log_every = float(log_every)
        self._closed = False
        self._bar: Any = None
        self._initial = int(initial)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._heart: threading.Thread | None = None
        on_terminal = bool(getattr(self._stream, "isatty", lambda: False)())
        self.enabled = enabled is not False and not os.environ.get("TNKIT_NO_PROGRESS")
        if self.enabled and on_terminal:
            from tqdm import tqdm  # a heavy import, needed only on a terminal

            self._bar = tqdm(total=total, desc=desc, unit=unit, initial=initial, leave=False, file=self._stream)
        elif self.enabled and self._log_every > 0:
            self._heart = threading.Thread(target=self._beat, name=f"tnkit-progress-{desc}", daemon=True)
            self._heart.start()

    def _beat(self) -> None:
        """Write a line whenever ``log_every`` seconds passed without one."""
        while not self._stop.wait(min(1.0, self._log_every)):
            if time.monotonic() - self._last_line >= self._log_every:
                self._write_line()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done.

        Parameters
        ----------
        n : int, optional
            Units done since the last call; default 1.
        """
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled and self._heart is None and time.monotonic() - self._last_line >= self._log_every:
            self._write_line()

    def set_postfix(self, values: Mapping[str, Any] | None = None, *, refresh: bool = True, **kwargs: Any) -> None:
        """Figures shown after the count (energy, loss, bond dimension, ...).

        Parameters
        ----------
        values : mapping of str, optional
            Name to value.
        refresh : bool, optional
            Accepted for tqdm compatibility and ignored.
        **kwargs
            More names and values.
        """
        del refresh  # tqdm's flag; a log line is written on the next update anyway
        self._postfix = {**(dict(values) if values else {}), **kwargs}
        if self._bar is not None:
            self._bar.set_postfix(self._postfix)

    def close(self) -> None:
        """End the report (a final log line off a terminal)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._heart is not None:
            self._heart.join()
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and self.n > 0 and time.monotonic() - self._start >= self._log_every:
            self._write_line()  # work shorter than one log interval leaves the log alone

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write_line(self) -> None:
        with self._lock:
            now = self._last_line = time.monotonic()
            n, elapsed = self.n, now - self._start
            units = self.unit if self.unit.endswith("s") else self.unit + "s"
            count = f"{n}/{self.total} {units}" if self.total else f"{n} {units}"
            pct = f" ({100.0 * n / self.total:.0f}%)" if self.total else ""
            parts = [f"{self.desc}: {count}{pct} {format_duration(elapsed)}"]
            done_here = n - self._initial  # units done by this process (a resumed run started at initial)
            if done_here > 0 and elapsed > 0:
                rate = done_here / elapsed
                parts.append(f"{rate:.3g} {units}/s" if rate >= 1 else f"{1 / rate:.3g} s/{self.unit}")
                if self.total and n < self.total:
                    parts.append(f"~{format_duration((self.total - n) / rate)} left")
            parts += [f"{k}={_short(v)}" for k, v in self._postfix.items()]
            print(", ".join(parts), file=self._stream, flush=True)


def format_duration(seconds: float) -> str:
    """``12.1 s``, ``4 min 05 s`` or ``2 h 07 min``.

    Parameters
    ----------
    seconds : float
        Duration in seconds.

    Examples
    --------
    >>> format_duration(245)
    '4 min 05 s'
    """
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def progress(
    total: int | None, desc: str, enabled: bool | None = None, *, unit: str = "it", initial: int = 0
) -> Progress:
    """A :class:`Progress` on standard error: a bar on a terminal, log lines otherwise.

    Parameters
    ----------
    total : int or None
        Units of work expected; None when unknown.
    desc : str
        Name shown before the count.
    enabled : bool or None, optional
        False silences it, as does the environment variable ``TNKIT_NO_PROGRESS``;
        default None: report.
    unit : str, optional
        Name of a unit of work; default ``"it"``.
    initial : int, optional
        Units already done (a resumed run); default 0.
    """
    return Progress(total, desc, unit=unit, enabled=enabled, initial=initial)


@dataclasses.dataclass(frozen=True)
class Run:
    """How a long computation runs, as opposed to what it computes.

    Parameters
    ----------
    progress : bool or None
        ``None`` (default): a bar on a terminal, a line every 30 s on a log.
        ``True``: always report; ``False``: never.
    checkpoint : str or Path, optional
        HDF5 file the driver saves its state to (atomically) every
        ``checkpoint_every`` steps, sweeps or epochs, and at the end.
    checkpoint_every : int, optional
        Steps, sweeps or epochs between checkpoints (>= 1); None: the driver's default
        (every sweep for DMRG, every 10 steps for BUG, every epoch for the trainers).
    resume : bool
        Continue from ``checkpoint`` when that file exists (a fresh start otherwise).
        The resumed run gives the same numbers as an uninterrupted one.
    executor : Executor, "serial" or None
        Where independent tasks run (structure-search fits, parallel BUG steps): any
        :class:`concurrent.futures.Executor` or a ``dask.distributed.Client``;
        ``"serial"`` in the calling process; ``None`` the driver's default.
    plot : str or Path, optional
        PNG file the driver draws its history into when it finishes.

    Examples
    --------
    >>> Run(checkpoint="gs.h5", resume=True).resume_from()  # no such file yet
    >>> Run(checkpoint_every=0)
    Traceback (most recent call last):
    ...
    ValueError: Run: checkpoint_every must be an int >= 1, got 0
    """

    progress: bool | None = None
    checkpoint: str | Path | None = None
    checkpoint_every: int | None = None
    resume: bool = False
    executor: Executor | str | None = None
    plot: str | Path | None = None

    def __post_init__(self) -> None:
        every = self.checkpoint_every
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(f"Run: checkpoint_every must be an int >= 1, got {self.checkpoint_every!r}")
        if self.resume and self.checkpoint is None:
            raise ValueError("Run: resume=True needs a checkpoint path (Run(checkpoint=..., resume=True))")
        if self.progress is not None and not isinstance(self.progress, bool):
            raise TypeError(f"Run: progress must be True, False or None, got {self.progress!r}")
        if not (self.executor is None or self.executor == "serial" or hasattr(self.executor, "submit")):
            raise TypeError(
                "Run: executor must be a concurrent.futures.Executor, a dask Client, 'serial' or None, "
                f"got {self.executor!r}"
            )

    def bar(self, total: int | None, desc: str, *, unit: str = "it", initial: int = 0) -> Progress:
        """The progress report of this run.

        Parameters
        ----------
        total : int or None
            Units of work expected; None when unknown.
        desc : str
            Name shown before the count.
        unit : str, optional
            Name of a unit of work; default ``"it"``.
        initial : int, optional
            Units already done (a resumed run); default 0.
        """
        return progress(total, desc, self.progress, unit=unit, initial=initial)

    def resume_from(self) -> Path | None:
        """The checkpoint to continue from, or None for a fresh start."""
        if self.resume and self.checkpoint is not None and Path(self.checkpoint).exists():
            return Path(self.checkpoint)
        return None

    def checkpoint_due(self, step: int, last: bool = False, *, default_every: int = 1) -> bool:
        """Whether a checkpoint is written after ``step`` (counted from 1).

        Parameters
        ----------
        step : int
            Step, sweep or epoch just finished, counted from 1.
        last : bool, optional
            Whether it is the last one (always checkpointed); default False.
        default_every : int, optional
            The driver's interval, used when ``checkpoint_every`` is None; default 1.
        """
        every = default_every if self.checkpoint_every is None else self.checkpoint_every
        return self.checkpoint is not None and (last or step % every == 0)


def as_run(run: Run | None) -> Run:
    """``run`` itself, or the default :class:`Run` for ``None``."""
    if run is None:
        return Run()
    if not isinstance(run, Run):
        raise TypeError(f"run must be a tnkit.Run, got {type(run).__name__}")
    return run


def time_steps(t_final: float, dt: float, fname: str) -> list[tuple[float, float]]:
    """``(step, time after it)`` pairs reaching ``t_final``: ``dt`` repeated, the last step
    shortened to fit. Times are ``k * dt`` (not a running sum) and end on ``t_final``.

    Parameters
    ----------
    t_final : float
        End time, >= 0.
    dt : float
        Step size, > 0.
    fname : str
        Name of the caller, the start of every error message.

    Examples
    --------
    >>> time_steps(1.0, 0.4, "demo")
    [(0.4, 0.4), (0.4, 0.8), (0.19999999999999996, 1.0)]
    >>> time_steps(0.3, 0.1, "demo")[-1]
    (0.1, 0.3)
    """
    for name, value in (("dt", dt), ("t_final", t_final)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{fname}: {name} must be a real number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"{fname}: {name} must be finite, got {value}")
    if dt <= 0:
        raise ValueError(f"{fname}: dt must be > 0, got {dt}")
    if t_final < 0:
        raise ValueError(f"{fname}: t_final must be >= 0, got {t_final}")
    n = int(math.ceil(t_final / dt - 1e-9)) if t_final > 0 else 0
    if n == 0:
        return []
    dt, t_final = float(dt), float(t_final)
    last = t_final - (n - 1) * dt
    if abs(last - dt) <= 1e-9 * dt:
        last = dt  # a multiple of dt up to rounding: keep one gate set
    return [(dt, (k + 1) * dt) for k in range(n - 1)] + [(last, t_final)]
