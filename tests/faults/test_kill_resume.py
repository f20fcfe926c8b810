"""SIGKILL at a random moment, then resume: the result is bit-identical to an uninterrupted run.

Every long driver that writes checkpoints runs in subprocesses (``tests/faults/_jobs.py``):
once uninterrupted without a checkpoint (the reference); then with a checkpoint after every
step, killed with SIGKILL at a seeded random moment after its first checkpoint appears;
resumed with ``resume=True`` and killed again at a random moment after the resumed run's
first new checkpoint; and resumed once more to completion. Weights, histories and states
must equal the reference bit for bit (wall-clock figures aside), and no temporary or lock
file may be left beside the checkpoint.

:func:`tnkit.io.save` itself is killed mid-write: the target is then the complete old
file (or absent), never a partial one, and the next save clears what the dead writer left.

``physics.data``'s command-line generation killed at a fixed point is covered by
``tests/physics/data/test_data.py::test_killed_process_resumes``; here the Python API is
killed twice at random points (from before the first block to the last) and the folder is
checked for leftovers.

The default run kills each job at two points (one chain of two kills); ``-m slow`` adds
three more chains per job.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tnkit.io
from tests.faults import _jobs

JOBS_SCRIPT = Path(_jobs.__file__)
ROOT = JOBS_SCRIPT.parents[2]
ENV = {
    **os.environ,
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TNKIT_NO_PROGRESS": "1",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}
# Per job: where it keeps its checkpoint, the file whose updates mark its progress (the
# checkpoint, republished after every step; the generator's ``.partial`` file, appended to
# after every block) and how many updates an uninterrupted run makes at least.
CHECKPOINTS = {
    "data": ("ds.h5", "ds.h5.partial", 10),
    "train": ("ckpt.pt", "ckpt.pt", 10),
    "fit": ("ckpt.pt", "ckpt.pt", 10),
    "bug": ("ckpt.h5", "ckpt.h5", 24),
    "greedy": ("ckpt.h5", "ckpt.h5", 9),
}
DEFAULT_CHAINS, SLOW_CHAINS = 1, 3
TIMEOUT = 300
POLL = 0.002


def _chains(kinds: list[str]) -> list:
    cases = [pytest.param(k, c, id=f"{k}-{c}") for k in kinds for c in range(DEFAULT_CHAINS)]
    cases += [
        pytest.param(k, c, id=f"{k}-{c}", marks=pytest.mark.slow)
        for k in kinds
        for c in range(DEFAULT_CHAINS, DEFAULT_CHAINS + SLOW_CHAINS)
    ]
    return cases


def _command(kind: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(JOBS_SCRIPT), kind, str(out), *extra]


def _finish(cmd: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stderr[-4000:]}"
    return done


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when ``path`` is republished or written to: inode, mtime, size."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _kill(cmd: list[str], due: Callable[[], bool], what: str) -> None:
    """Start ``cmd``; SIGKILL it as soon as ``due()`` (polled) says so. Fails if the job ends
    by itself first: then the problem is too small for that kill point."""
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, text=True)
        try:
            deadline = time.monotonic() + TIMEOUT
            while proc.poll() is None and not due():
                assert time.monotonic() < deadline, f"never reached the kill point ({what})"
                time.sleep(POLL)
            running = proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:  # an assertion above failed: do not leave the job running
                proc.kill()
                proc.wait()
        log.seek(0)
        stderr = log.read()
    assert running and proc.returncode == -signal.SIGKILL, (
        f"the job ended (rc {proc.returncode}) before its kill point ({what}); make the problem larger\n"
        f"{stderr[-2000:]}"
    )


class _KillPoint:
    """Due ``fraction`` of an update interval after the ``updates``-th update of ``marker``
    (its first appearance counts as the first; a file there before the job started does
    not), the interval being the mean one so far."""

    def __init__(self, marker: Path, updates: int, fraction: float) -> None:
        self.marker, self.updates, self.fraction = marker, updates, fraction
        self.last = _signature(marker)
        self.times: list[float] = []
        self.due_at: float | None = None

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.due_at is not None:
            return now >= self.due_at
        sig = _signature(self.marker)
        if sig is not None and sig != self.last:
            self.last = sig
            self.times.append(now)
            if len(self.times) == self.updates:
                span = (self.times[-1] - self.times[0]) / max(1, len(self.times) - 1)
                self.due_at = now + self.fraction * span
        return False

    def __str__(self) -> str:
        return f"{self.fraction:.2f} of an interval after update {self.updates} of {self.marker.name}"


def _results(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as found:
        return {k: found[k] for k in found.files}


def _assert_bit_identical(got: dict[str, np.ndarray], want: dict[str, np.ndarray], what: str) -> None:
    assert sorted(got) == sorted(want), f"{what}: other entries"
    differ = []
    for key, ref in want.items():
        new = got[key]
        if new.dtype != ref.dtype or new.shape != ref.shape or new.tobytes() != ref.tobytes():
            detail = f"{new.dtype}{new.shape} vs {ref.dtype}{ref.shape}"
            if new.shape == ref.shape and new.dtype.kind in "fc":
                detail += f", max |diff| {np.nanmax(np.abs(new - ref)) if new.size else 0:.3g}"
            differ.append(f"{key} ({detail})")
    assert not differ, f"{what}: not bit-identical to the uninterrupted run: {differ}"


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Files in ``folder`` besides ``keep``: temporary files, locks, partial files."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


class _References(dict):
    """Per job, computed on first use: the results of an uninterrupted run."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def __missing__(self, kind: str) -> dict[str, np.ndarray]:
        out = self.folder / f"{kind}.npz"
        _finish(_command(kind, out))
        self[kind] = _results(out)
        return self[kind]


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> _References:
    return _References(tmp_path_factory.mktemp("reference"))


@pytest.mark.parametrize(("kind", "chain"), _chains(sorted(CHECKPOINTS)))
def test_killed_job_resumes_bit_identically(kind: str, chain: int, references, tmp_path: Path) -> None:
    want = references[kind]
    name, marker, updates = CHECKPOINTS[kind]
    ckpt = tmp_path / name
    out = tmp_path / "out.npz"
    rng = np.random.default_rng([sorted(CHECKPOINTS).index(kind), chain])
    # Kill once after the 2nd to (updates // 2)-th update and a random fraction of an update
    # interval (anywhere from just after a checkpoint to just before the next); kill the
    # resumed run likewise within the first half of what it has left; let a last resume finish.
    first = int(rng.integers(2, updates // 2 + 1))
    kills = [first, int(rng.integers(2, max(2, (updates - first) // 2) + 1))]
    done = []
    for k, updates_before_kill in enumerate(kills):
        when = _KillPoint(tmp_path / marker, updates_before_kill, float(rng.uniform()))
        resume = ["--resume"] if k else []
        _kill(_command(kind, out, "--checkpoint", str(ckpt), *resume), when, f"{', '.join(done + [str(when)])}")
        assert not out.exists(), f"killed after the job wrote its results ({when}); make the problem larger"
        done.append(str(when))
    _finish(_command(kind, out, "--checkpoint", str(ckpt), "--resume"))
    _assert_bit_identical(_results(out), want, f"{kind} killed {' and '.join(done)}")
    assert _leftovers(tmp_path, {name, "out.npz"}) == []


@pytest.fixture(scope="module")
def old_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete save of the big dict's first version (the file the killed save replaces)."""
    path = tmp_path_factory.mktemp("old") / "big.h5"
    tnkit.io.save(path, _jobs.save_payload(1))
    return path


@pytest.mark.parametrize(
    "point", [0, 1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("old", [True, False], ids=["over-old-file", "new-file"])
def test_save_killed_mid_write_leaves_the_old_file_or_none(
    point: int, old: bool, old_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "big.h5"
    if old:
        shutil.copyfile(old_file, target)
    size = old_file.stat().st_size  # both versions have the same layout, so the same size
    rng = np.random.default_rng([len(CHECKPOINTS), point, old])
    fraction = float(rng.uniform(0.05, 0.95))

    def partly_written() -> bool:
        sizes = [p.stat().st_size for p in tmp_path.iterdir() if p.suffix == ".tmp"]
        return bool(sizes) and max(sizes) >= fraction * size

    _kill(_command("save", target), partly_written, f"temporary file {fraction:.0%} written")
    # the dead writer's temporary file (and lock file) are there, the target is the old file or absent
    assert sorted(p.suffix for p in tmp_path.iterdir() if p.name != target.name) in ([".tmp"], [".lock", ".tmp"])
    if old:
        assert target.read_bytes() == old_file.read_bytes()
        back = tnkit.io.load(target)
        assert int(back["version"]) == 1
    else:
        assert not target.exists()
    # the next save of the same path publishes its file and clears the dead writer's leftovers
    tnkit.io.save(target, {"version": 3})
    assert int(tnkit.io.load(target)["version"]) == 3
    assert _leftovers(tmp_path, {target.name}) == []


def test_greedy_resumed_from_its_final_record_repeats_nothing(tmp_path: Path) -> None:
    """A kill between a search's last record and its exit: resuming returns the same result
    without re-running the last (failed) pruning round into the record a second time."""
    from tnkit.network import Structure, TensorNetwork
    from tnkit.run import Run
    from tnkit.search import greedy, load_record

    x = TensorNetwork.random(Structure.tr((3, 3, 3), (2, 2, 3)), rng=0).to_dense()
    path = tmp_path / "record.h5"
    full = greedy(x, tol=1e-6, seed=1, run=Run(executor="serial", checkpoint=path))
    assert full.stopped == "converged"
    again = greedy(x, tol=1e-6, seed=1, run=Run(executor="serial", checkpoint=path, resume=True))
    assert [(e.structure.key, e.rse, e.step) for e in again.evaluations] == [
        (e.structure.key, e.rse, e.step) for e in full.evaluations
    ]
    assert again.stopped == full.stopped and again.best.index == full.best.index
    assert all(np.array_equal(a, b) for a, b in zip(again.network.cores, full.network.cores))
    assert len(load_record(path)[1]) == full.num_evaluations
    # a search that stopped at max_steps stops there again, and goes on when allowed more steps
    short = tmp_path / "short.h5"
    first = greedy(x, tol=1e-6, seed=1, max_steps=1, run=Run(executor="serial", checkpoint=short))
    assert first.stopped == "max_steps"
    same = greedy(x, tol=1e-6, seed=1, max_steps=1, run=Run(executor="serial", checkpoint=short, resume=True))
    assert same.num_evaluations == first.num_evaluations and same.stopped == "max_steps"
    more = greedy(x, tol=1e-6, seed=1, run=Run(executor="serial", checkpoint=short, resume=True))
    assert [(e.structure.key, e.rse) for e in more.evaluations] == [(e.structure.key, e.rse) for e in full.evaluations]
