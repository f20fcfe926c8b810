"""`data generate` estimates its cost on the first block and refuses an hours-long CPU run without --yes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import physics.data._generators as gen
import tnkit.io as tio
from physics.data import generate
from tnkit.cli import main

SMALL = {"samples": 8, "resolution": 9, "chunk": 2}


def _slow_clock(monkeypatch) -> None:
    """Every block of 2 samples appears to take half an hour (the generator's clock advances 1800 s per reading)."""
    ticks = itertools.count(step=1800.0)
    monkeypatch.setattr(gen.time, "perf_counter", lambda: next(ticks))


def test_estimate_is_printed_after_the_first_block(tmp_path, capsys) -> None:
    generate("poisson", tmp_path / "p.h5", **SMALL)
    err = capsys.readouterr().err
    assert "poisson: estimated" in err and "for the remaining 6 samples" in err and "measured on the first 2" in err
    generate("poisson", tmp_path / "q.h5", progress=False, **SMALL)
    assert "estimated" not in capsys.readouterr().err


def test_long_cpu_run_is_refused_then_resumed_with_consent(tmp_path, monkeypatch) -> None:
    reference = tio.load(generate("poisson", tmp_path / "ref.h5", progress=False, **SMALL))
    _slow_clock(monkeypatch)
    out = tmp_path / "p.h5"
    with pytest.raises(
        ValueError, match=r"poisson: estimated 1 h 30 min for the remaining 6 samples .* above max_hours=1;"
    ):
        generate("poisson", out, progress=False, **SMALL)
    assert not out.exists() and out.with_name("p.h5.partial").exists()  # the first block is kept
    generate("poisson", out, progress=False, max_hours=None, **SMALL)
    got = tio.load(out)
    assert all(np.array_equal(got[k], reference[k]) for k in ("a", "u"))


def test_command_line_yes(tmp_path, monkeypatch, capsys) -> None:
    _slow_clock(monkeypatch)
    out = tmp_path / "c.h5"
    args = ["data", "generate", "poisson", "--out", str(out), "--samples", "8", "--resolution", "9", "--set", "chunk=2"]
    assert main(args + ["--no-progress"]) != 0
    assert "rerun with --yes" in capsys.readouterr().err
    assert main(args + ["--no-progress", "--yes"]) == 0 and out.exists()
