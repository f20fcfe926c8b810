"""Concurrent and killed writers: one complete file is published, never an empty or mixed one.

Processes here are real processes (``spawn``): the lock is an ``flock`` between processes,
and a killed writer is killed with SIGKILL.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tnkit.io as tio
from tnkit.io import DataError, atomic_write
from tnkit.io._atomic import target_lock

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process locks and SIGKILL are POSIX")


def _content(tag: int) -> dict:
    # ~8 MB, so that two writers' writes overlap in time
    return {"tag": tag, "data": np.full((1000, 1000), float(tag)), "more": np.arange(10**5) * tag}


def _saver(path: str, tag: int, rounds: int, start: float) -> None:
    while time.time() < start:
        time.sleep(0.001)
    for _ in range(rounds):
        tio.save(path, _content(tag))


def _leftovers(folder: Path, target: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != target)


def test_two_processes_saving_one_path_publish_only_complete_files(tmp_path) -> None:
    ctx = mp.get_context("spawn")
    path = tmp_path / "shared.h5"
    start = time.time() + 3.0
    procs = [ctx.Process(target=_saver, args=(str(path), tag, 4, start)) for tag in (1, 2)]
    for p in procs:
        p.start()
    seen = set()
    while any(p.is_alive() for p in procs):  # a reader meanwhile only ever sees whole files
        if path.exists():
            d = tio.load(path)
            assert np.all(d["data"] == d["tag"]) and np.array_equal(d["more"], np.arange(10**5) * d["tag"])
            seen.add(d["tag"])
        time.sleep(0.02)
    for p in procs:
        p.join()
        assert p.exitcode == 0  # both savers succeeded: they took turns
    final = tio.load(path)
    assert final["tag"] in (1, 2) and np.all(final["data"] == final["tag"])
    assert _leftovers(tmp_path, "shared.h5") == []  # no temporary or lock file left


def _exclusive(path: str, log: str, rounds: int, start: float) -> None:
    while time.time() < start:
        time.sleep(0.001)
    for i in range(rounds):
        with atomic_write(path) as tmp:
            with open(log, "a") as fh:
                fh.write(f"enter {os.getpid()}\n")
                fh.flush()
            tmp.write_text(f"{os.getpid()} {i}")
            time.sleep(0.002)
            with open(log, "a") as fh:
                fh.write(f"exit {os.getpid()}\n")
                fh.flush()


def test_lock_excludes_writers_even_while_lock_files_come_and_go(tmp_path) -> None:
    """Four processes, 25 writes each: enter/exit never interleave although every holder
    removes the lock file when it is done (a waiter on the removed file must retry)."""
    ctx = mp.get_context("spawn")
    path, log = tmp_path / "t.txt", tmp_path / "log"
    start = time.time() + 3.0
    procs = [ctx.Process(target=_exclusive, args=(str(path), str(log), 25, start)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    lines = log.read_text().split("\n")[:-1]
    assert len(lines) == 200
    for enter, leave in zip(lines[::2], lines[1::2]):
        assert enter.startswith("enter") and leave == "exit" + enter[len("enter") :]
    assert _leftovers(tmp_path, "t.txt") == ["log"]


HOLD = """
import sys, time
from tnkit.io._atomic import target_lock
with target_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    proc.stdout.close()
    return proc


def test_a_held_lock_is_reported_as_in_use_by_its_pid(tmp_path) -> None:
    path = tmp_path / "busy.h5"
    proc = _holder(path, 30)
    try:
        with pytest.raises(DataError, match=rf"busy\.h5: in use by another process \(pid {proc.pid}\) for 0.3 s"):
            with target_lock(path, wait=0.3):
                pass
        w = None
        with pytest.raises(DataError, match=rf"in use by another process \(pid {proc.pid}\); wait for it"):
            w = tio.ChunkedWriter(path, {"x": ((4,), "f8")}, schema="s", generator={"function": "f"})
        assert w is None and not path.with_name("busy.h5.partial").exists()
    finally:
        proc.kill()
        proc.wait()
    tio.save(path, np.ones(2))  # the kernel dropped the dead holder's lock
    assert _leftovers(tmp_path, "busy.h5") == []


def test_save_waits_for_the_holder_then_wins(tmp_path) -> None:
    path = tmp_path / "later.h5"
    tio.save(path, np.zeros(2))
    proc = _holder(path, 1.5)
    t0 = time.monotonic()
    tio.save(path, np.ones(2))
    assert time.monotonic() - t0 > 0.5  # it waited for the lock
    proc.wait()
    np.testing.assert_array_equal(tio.load(path), np.ones(2))


KILLED_SAVE = """
import sys, numpy as np, tnkit.io as tio
tag = 0
print("start", flush=True)
while True:
    tag += 1
    tio.save(sys.argv[1], {"tag": tag, **{f"a{i}": np.full((300, 300), float(tag)) for i in range(40)}})
"""


@pytest.mark.parametrize("delay", [0.05, 0.3, 0.7, 1.3])
def test_killed_save_leaves_the_old_file_or_the_new_one(tmp_path, delay) -> None:
    path = tmp_path / "k.h5"
    tio.save(path, {"tag": 0, **{f"a{i}": np.zeros((300, 300)) for i in range(40)}})
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "start"
    proc.stdout.close()
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    d = tio.load(path)  # always a complete file
    assert all(np.all(d[f"a{i}"] == d["tag"]) for i in range(40))
    tio.save(path, {"tag": -1})  # the next writer clears what the dead one left
    assert _leftovers(tmp_path, "k.h5") == [] and tio.load(path) == {"tag": -1}


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path) -> None:
    path = tmp_path / "s.h5"
    for name in (".s.h5.99999.deadbeef.tmp", ".s.h5.1.0badf00d.tmp"):
        (tmp_path / name).write_bytes(b"half a file")
    (tmp_path / ".other.h5.5.cafe.tmp").write_bytes(b"another target's")
    tio.save(path, np.ones(3))
    assert _leftovers(tmp_path, "s.h5") == [".other.h5.5.cafe.tmp"]
