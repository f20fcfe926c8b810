"""Publishing files so that readers see the old file or the whole new one, never a mix.

Every file tnkit writes for a user (HDF5 results, checkpoints, generated datasets, plots,
reports) goes through :func:`atomic_write`:

* the writer holds an advisory lock on the target (``.<name>.lock`` in its folder, an
  ``flock`` released by the kernel when the process dies, removed by its holder) for the
  whole write, so two processes saving one path take turns;
* it writes a temporary file of its own (``.<name>.<pid>.<random>.tmp`` in the target's
  folder, so the final rename never crosses file systems), fsyncs it, and publishes it with
  one ``os.replace``;
* on failure it removes only its own temporary file; temporary files of writers that died
  (kill -9, power loss) are recognised under the lock — no live writer can own them then —
  and removed.

:func:`target_lock` is the lock alone, for writers that keep a file open for a long time
(:class:`tnkit.io.ChunkedWriter` holds it for a whole generation run, so a second run on
the same file is told the file is in use instead of being handed the first run's work).

On systems without ``fcntl`` (Windows) the lock is skipped; temporary names stay unique.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from tnkit.io._errors import DataError

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["atomic_write", "target_lock", "temporary_files"]

PathLike = str | os.PathLike[str]

# How long a writer waits for another writer of the same file before giving up (seconds).
LOCK_WAIT = 600.0
_POLL = 0.05


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def temporary_files(path: PathLike) -> list[Path]:
    """Temporary files of writers of ``path`` (live or dead), oldest name first."""
    path = Path(path)
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    prefix = f".{path.name}."
    found = [n for n in names if n.startswith(prefix) and n.endswith(".tmp") and n.count(".") >= 3]
    return [path.parent / n for n in sorted(found)]


def _holder(lock: Path) -> str:
    """``" (pid N)"`` from the lock file, or ``""`` when unreadable."""
    try:
        text = lock.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _acquire(path: Path, lock: Path, wait: float) -> int:
    """An fd holding the lock on ``lock``, a file that still has that name."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            raise DataError.at(path, f"folder {path.parent} does not exist; create it first") from None
        except PermissionError:
            raise DataError.at(path, f"no permission to write in {path.parent}") from None
        except OSError as exc:
            raise DataError.at(path, f"cannot write in {path.parent} ({exc.strerror or exc})") from None
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                os.close(fd)
                waited = f" for {wait:g} s" if wait > 0 else ""
                raise DataError.at(
                    path,
                    f"in use by another process{_holder(lock)}{waited}; wait for it to finish or write elsewhere",
                )
            time.sleep(_POLL)
        # The holder before us may have removed the lock file after we opened it: then we
        # hold a lock nobody else sees; start again on the current file.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode("ascii"))
            return fd
        os.close(fd)


@contextlib.contextmanager
def target_lock(path: PathLike, *, wait: float = LOCK_WAIT) -> Iterator[None]:
    """Hold the advisory write lock of ``path`` (waiting up to ``wait`` seconds for it).

    Raises
    ------
    DataError
        ``"<path>: in use by another process (pid N) ..."`` when another process holds
        it for longer than ``wait`` (``wait=0``: do not wait); or when the folder does not
        exist or is not writable.
    """
    path = Path(path)
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    lock = _lock_path(path)
    fd = _acquire(path, lock, wait)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)  # while still holding it: a waiter notices and retries
        os.close(fd)


def fsync_path(path: Path, flags: int = os.O_RDONLY) -> None:
    """fsync a file or (POSIX) a folder by path."""
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale(path: Path) -> None:
    """Remove temporary files of dead writers of ``path``; call with its lock held."""
    for tmp in temporary_files(path):
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_write(path: PathLike, *, wait: float = LOCK_WAIT) -> Iterator[Path]:
    """Yield a temporary path to write; on success publish it at ``path`` in one rename.

    The lock of ``path`` is held throughout (see :func:`target_lock`). On any exception
    the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path
        Final location.
    wait : float, optional
        Seconds to wait for the lock; default 600.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_write(target) as tmp:
    ...     _ = tmp.write_text("complete")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('complete', ['notes.txt'])
    """
    path = Path(path)
    if path.is_dir():
        raise DataError.at(path, "is a folder; give a file name inside it")
    with target_lock(path, wait=wait):
        remove_stale(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            yield tmp
            fsync_path(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if os.name == "posix":
            fsync_path(path.parent)  # make the rename itself durable
