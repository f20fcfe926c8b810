"""tnkit validate: discovery, pass/fail/error reporting, reports, the shipped cases."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import tnkit.validation
from tnkit.cli import main
from tnkit.validation import NO_SUITE, discover, validation_dir

CASES = textwrap.dedent(
    """
    from tnkit.validation import Case, Outcome

    def _good(quick):
        return Outcome(value=1e-12, details={"quick": quick}, plot=lambda fig: fig.subplots().plot([0, 1]))

    CASE = Case("good", "a claim", "exact", "|x|", 1e-10, _good)
    """
)


def _write(tmp_path: Path, name: str, body: str) -> None:
    (tmp_path / f"{name}.py").write_text(body)


def test_passing_case_writes_reports_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "good", CASES)
    out = tmp_path / "results"
    code = main(
        [
            "validate",
            "--quick",
            "--dir",
            str(tmp_path),
            "--out",
            str(out),
            "--no-progress",
            "--json",
            str(tmp_path / "v.json"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "good" in printed and "PASS" in printed and "1 passed, 0 failed" in printed
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"] and report["quick"] and report["cases"][0]["details"] == {"quick": True}
    assert (out / "good.png").stat().st_size > 1000
    assert "| good |" in (out / "validation.md").read_text()
    assert json.loads((tmp_path / "v.json").read_text()) == report


def test_failing_and_crashing_cases_exit_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "bad", CASES.replace("1e-12", "1e-3").replace('"good"', '"bad"'))
    _write(
        tmp_path,
        "boom",
        CASES.replace("return Outcome", "raise RuntimeError('exploded'); return Outcome").replace('"good"', '"boom"'),
    )
    _write(tmp_path, "nan", CASES.replace("1e-12", "float('nan')").replace('"good"', '"nan"'))
    code = main(["validate", "--dir", str(tmp_path), "--out", str(tmp_path / "r"), "--no-progress"])
    assert code == 1
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "ERROR" in printed and "RuntimeError: exploded" in printed
    assert "0 passed, 3 failed" in printed


def test_skipped_case_is_reported_and_does_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "good", CASES)
    _write(
        tmp_path,
        "needs_peer",
        textwrap.dedent(
            """
        from tnkit.validation import Case, SkipCase

        def _run(quick):
            raise SkipCase("peerlib not installed")

        CASE = Case("needs_peer", "a claim", "a peer", "ratio", 1.0, _run)
        """
        ),
    )
    out = tmp_path / "results"
    assert main(["validate", "--quick", "--dir", str(tmp_path), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "SKIP" in printed and "needs_peer: skipped (peerlib not installed)" in printed
    assert "1 passed, 0 failed, 1 skipped" in printed
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"] and report["cases"][1]["skipped"] == "peerlib not installed"


def test_unknown_case_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "good", CASES)
    assert main(["validate", "nosuch", "--dir", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "unknown validation case(s): nosuch; known: good" in capsys.readouterr().err


def test_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--dir", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "validation directory not found" in capsys.readouterr().err


def test_validation_dir_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "validation").mkdir(parents=True)
    (tmp_path / "cwd" / "validation").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setattr(tnkit.validation, "source_checkout", lambda: checkout)
    # an explicit setting first, then the development checkout, then ./validation
    monkeypatch.setenv("TNKIT_VALIDATION_DIR", str(tmp_path / "explicit"))
    assert validation_dir() == tmp_path / "explicit"
    monkeypatch.delenv("TNKIT_VALIDATION_DIR")
    assert validation_dir() == checkout / "validation"
    monkeypatch.setattr(tnkit.validation, "source_checkout", lambda: None)
    assert validation_dir() == tmp_path / "cwd" / "validation"


def test_no_suite_outside_the_source_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wheel install run elsewhere: one line saying where the suite is and how to point at it."""
    monkeypatch.delenv("TNKIT_VALIDATION_DIR", raising=False)
    monkeypatch.setattr(tnkit.validation, "source_checkout", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--quick", "--out", str(tmp_path / "r")]) == NO_SUITE == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert "validation suite lives in the source tree" in line
    assert "--dir PATH" in line and "TNKIT_VALIDATION_DIR=PATH" in line
    assert not (tmp_path / "r").exists()


def test_shipped_cases_pass_quick(tmp_path: Path) -> None:
    names = {c.name for c in discover(validation_dir())}
    assert {"heisenberg_lanczos", "svd_eckart_young"} <= names
    code = main(["validate", "--quick", "--out", str(tmp_path), "--no-progress"])
    assert code == 0


def test_info_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "torch-cuda" in out
    assert "datasets: " in out and "dataset(s) present" in out and "validation: " in out
