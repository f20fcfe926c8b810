"""Generation at scale: blocks of samples computed on a process pool, a dask cluster or
``tnkit data generate --workers N`` give the serial run's arrays (the same sha256 of each),
and a killed parallel run resumes from its stored blocks."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import physics.data._generators as gen
from physics.data import generate
from tnkit.cli import main

# 10 samples in blocks of 3: four blocks, the last one short.
DARCY = {"samples": 10, "resolution": 9, "solve_resolution": 33, "chunk": 3, "seed": 5}
POISSON = {"samples": 7, "resolution": 17, "chunk": 2, "seed": 3}
CASES = {"darcy": DARCY, "poisson": POISSON}


def _pool(workers: int = 2) -> ProcessPoolExecutor:
    # forkserver, as the command line does: no fork of a process with threads running
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))


def _contents(path: Path) -> dict[str, tuple[np.ndarray, str]]:
    """Each array of a finished file with the sha256 the writer sealed it with."""
    with h5py.File(path, "r") as f:
        return {k: (f[k][()], str(f[k].attrs["sha256"])) for k in ("a", "u")}


def _assert_same(got: Path, want: Path) -> None:
    a, b = _contents(got), _contents(want)
    for key in ("a", "u"):
        assert a[key][0].dtype == b[key][0].dtype and np.array_equal(a[key][0], b[key][0]), key
        assert a[key][1] == b[key][1], key


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("serial")
    return {name: generate(name, folder / f"{name}.h5", progress=False, **p) for name, p in CASES.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_process_pool_matches_serial(name, serial, tmp_path) -> None:
    with _pool() as pool:
        out = generate(name, tmp_path / "p.h5", progress=False, executor=pool, **CASES[name])
    _assert_same(out, serial[name])


class _Recording(ThreadPoolExecutor):
    """A thread pool that records the blocks submitted and how many are not yet handed back."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.outstanding = self.most = 0
        self.order: list[int] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        inner: Future = super().submit(fn, *args, **kwargs)
        self.order.append(args[2])  # (name, params, start, count)
        recorder = self

        class _Handed:
            def result(self) -> Any:
                recorder.outstanding -= 1
                return inner.result()

            def cancel(self) -> bool:
                return inner.cancel()

        return _Handed()


def test_blocks_in_flight_are_bounded_and_written_in_order(serial, tmp_path) -> None:
    with _Recording(2) as pool:
        out = generate("darcy", tmp_path / "t.h5", progress=False, executor=pool, **{**DARCY, "chunk": 1})
    assert pool.most == 4  # twice the workers, of ten blocks
    assert pool.order == list(range(10))
    _assert_same(out, serial["darcy"])


def test_cost_estimate_is_printed_after_the_first_parallel_block(tmp_path, capsys) -> None:
    with ThreadPoolExecutor(2) as pool:
        generate("poisson", tmp_path / "e.h5", executor=pool, **POISSON)
    err = capsys.readouterr().err
    assert "poisson: estimated" in err and "for the remaining 5 samples" in err and "measured on the first 2" in err


def test_long_parallel_run_is_refused_then_resumed(serial, tmp_path, monkeypatch) -> None:
    ticks = itertools.count(step=7200.0)  # the first block appears to take 2 h on each of 2 workers
    monkeypatch.setattr(gen.time, "perf_counter", lambda: next(ticks))
    out = tmp_path / "r.h5"
    with ThreadPoolExecutor(2) as pool:
        with pytest.raises(
            ValueError, match=r"^poisson: estimated 2 h 30 min for the remaining 5 .*above max_hours=1;"
        ):
            generate("poisson", out, progress=False, executor=pool, **POISSON)
        assert not out.exists() and out.with_name("r.h5.partial").exists()
        generate("poisson", out, progress=False, max_hours=None, executor=pool, **POISSON)
    _assert_same(out, serial["poisson"])


def test_executor_without_submit_is_refused(tmp_path) -> None:
    with pytest.raises(TypeError, match=r"^generate: executor must be a concurrent.futures.Executor .* got int$"):
        generate("poisson", tmp_path / "x.h5", executor=2, **POISSON)
    assert not list(tmp_path.iterdir())


def _command(out: Path) -> list[str]:
    """``tnkit data generate`` of the DARCY case."""
    args = ["data", "generate", "darcy", "--out", str(out), "--samples", "10", "--resolution", "9", "--seed", "5"]
    return args + ["--set", "solve_resolution=33", "--set", "chunk=3", "--no-progress"]


def test_dask_cluster_matches_serial(serial, tmp_path) -> None:
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            out = generate("darcy", tmp_path / "d.h5", progress=False, executor=client, **DARCY)
        _assert_same(out, serial["darcy"])
        assert main(_command(tmp_path / "s.h5") + ["--scheduler", cluster.scheduler_address]) == 0
    _assert_same(tmp_path / "s.h5", serial["darcy"])


def test_command_line_workers(serial, tmp_path, capsys) -> None:
    out = tmp_path / "c.h5"
    args = _command(out)
    assert main(args + ["--workers", "2"]) == 0
    _assert_same(out, serial["darcy"])
    capsys.readouterr()
    assert main(args + ["--workers", "0"]) == 1
    assert capsys.readouterr().err.strip() == "error: --workers must be >= 1, got 0"
    with pytest.raises(SystemExit):
        main(args + ["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_xtb_md_refuses_workers(tmp_path, capsys) -> None:
    assert main(["data", "generate", "xtb-md", "--out", str(tmp_path / "x.h5"), "--workers", "2"]) == 1
    assert "xtb-md: an xtb-md trajectory is one sequential run" in capsys.readouterr().err


# 24 blocks of 2 samples, ~0.07 s each: long enough to be killed after the first one is stored.
SLOW = {"samples": 48, "resolution": 9, "solve_resolution": 129, "chunk": 2, "seed": 2}

KILLED_RUN = """
import multiprocessing, sys
from concurrent.futures import ProcessPoolExecutor
import physics.data._generators as gen
from physics.data import generate

if __name__ == "__main__":
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as pool:
        generate("darcy", sys.argv[1], progress=True, executor=pool, **{params!r})
"""


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="kills the run's process group (POSIX)")
def test_killed_parallel_run_resumes(tmp_path, capsys) -> None:
    out = tmp_path / "k.h5"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(KILLED_RUN.format(params=SLOW)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    # its own session, so the kill reaches the pool's workers too
    with subprocess.Popen(
        [sys.executable, str(script), str(out)], stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    ) as proc:
        try:
            assert proc.stderr is not None
            for line in proc.stderr:  # the estimate is printed once the first block is stored
                if "estimated" in line:
                    break
        finally:
            with contextlib.suppress(ProcessLookupError):  # already gone if it failed before its first block
                os.killpg(proc.pid, signal.SIGKILL)
    partial = out.with_name("k.h5.partial")
    assert not out.exists() and partial.exists()
    with h5py.File(partial, "r") as f:
        stored = int(f["tnkit_blocks"][-1, 1])
    assert 2 <= stored < SLOW["samples"]

    with warnings.catch_warnings():
        # a kill in the middle of a block leaves it unrecorded: it is recomputed, and said so
        warnings.filterwarnings("ignore", message=".*recomputing them", category=UserWarning)
        with _pool() as pool:
            resumed = generate("darcy", out, progress=True, executor=pool, **SLOW)
    err = capsys.readouterr().err
    assert "damaged" not in err
    remaining = int(err.split("for the remaining ")[1].split()[0])  # after the resumed run's first block
    assert SLOW["samples"] - remaining - SLOW["chunk"] >= 2  # it went on after the stored blocks, not from 0
    reference = generate("darcy", tmp_path / "ref.h5", progress=False, **SLOW)
    _assert_same(resumed, reference)
