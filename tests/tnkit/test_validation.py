"""tnkit validate: discovery, pass/fail/error reporting, reports, the shipped cases."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import tnkit.validation
from tnkit.cli import main
from tnkit.validation import NO_SUITE, case_files, discover, validation_dir

CASES = textwrap.dedent(
    """
    from tnkit.validation import Case, Outcome

    def _good(quick):
        return Outcome(value=1e-12, details={"quick": quick}, plot=lambda fig: fig.subplots().plot([0, 1]))

    CASE = Case("good", "a claim", "exact", "|x|", 1e-10, _good)
    """
)


def _write(tmp_path: Path, name: str, body: str) -> None:
    (tmp_path / f"{name}.py").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / f"{name}.py").write_text(body)


def _case(name: str) -> str:
    return CASES.replace('"good"', repr(name))


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


def test_cases_are_found_family_by_family(tmp_path: Path) -> None:
    """Cases in family folders at any depth, ordered by folder then file name; helpers
    (``_*``), benchmarks, scripts and caches are never imported."""
    _write(tmp_path, "zeta/a_case", _case("a_case"))
    _write(tmp_path, "alpha/z_case", _case("z_case"))
    _write(tmp_path, "alpha/deeper/m_case", _case("m_case"))
    _write(tmp_path, "top", _case("top"))
    _write(tmp_path, "alpha/no_case", "VALUE = 1\n")  # a module without CASE is ignored
    never = "raise RuntimeError('must not be imported')\n"
    for name in (
        "alpha/_helper",
        "_shared",
        "benchmarks/bench_x",
        "scripts/train_x",
        "alpha/__pycache__/x",
        ".cache/y",
    ):
        _write(tmp_path, name, never)
    files = [path.relative_to(tmp_path).as_posix() for path in case_files(tmp_path)]
    assert files == ["alpha/deeper/m_case.py", "alpha/no_case.py", "alpha/z_case.py", "top.py", "zeta/a_case.py"]
    assert [case.name for case in discover(tmp_path)] == ["m_case", "z_case", "top", "a_case"]
    assert [case.name for case in discover(tmp_path, ["a_case", "z_case"])] == ["a_case", "z_case"]


def test_duplicate_case_names_across_families(tmp_path: Path) -> None:
    _write(tmp_path, "one/case", _case("same"))
    _write(tmp_path, "two/other", _case("same"))
    with pytest.raises(ValueError, match="'same' is defined twice: in .*one.*case.py and .*two.*other.py"):
        discover(tmp_path)


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
    directory = validation_dir()
    files = case_files(directory)
    # every case sits in a family folder and is named by its file, in the order of the files
    assert all(path.parent.parent == directory for path in files)
    assert [case.name for case in discover(directory)] == [path.stem for path in files]
    assert {"linalg/heisenberg_lanczos.py", "linalg/svd_eckart_young.py", "mps/dmrg_ed.py"} <= {
        path.relative_to(directory).as_posix() for path in files
    }
    code = main(["validate", "--quick", "--out", str(tmp_path), "--no-progress"])
    assert code == 0


def test_info_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "torch-cuda" in out
    assert "datasets: " in out and "dataset(s) present" in out and "validation: " in out


def test_report_renders_into_a_readme_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--from-json` runs nothing and writes the report's table between the README's markers, nowhere else."""
    _write(tmp_path / "cases" / "fam", "good", CASES)
    report = tmp_path / "v.json"
    args = ["validate", "--quick", "--dir", str(tmp_path / "cases"), "--out", str(tmp_path / "r"), "--no-progress"]
    assert main([*args, "--json", str(report)]) == 0
    capsys.readouterr()
    recorded = json.loads(report.read_text())
    assert recorded["cases"][0]["family"] == "fam/" and recorded["generated"] and recorded["machine"]["cpus"]
    readme = tmp_path / "README.md"
    intro = "intro mentions <!-- validation:start --> inline\n"
    readme.write_text(intro + "<!-- validation:start -->\nold\n<!-- validation:end -->\nend\n")
    assert main(["validate", "--from-json", str(report), "--readme", str(readme)]) == 0
    table = tnkit.validation.records_table(recorded)
    assert capsys.readouterr().out.strip() == table
    assert readme.read_text() == f"{intro}<!-- validation:start -->\n{table}\n<!-- validation:end -->\nend\n"
    assert "| fam/ | good | 1e-12 | 1e-10 | pass |" in table and "| exact | \\|x\\| |" in table


def test_report_rendering_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--from-json", str(tmp_path / "none.json")]) == NO_SUITE
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["validate", "--readme", str(tmp_path / "README.md")]) == NO_SUITE
    assert "--readme goes with --from-json" in capsys.readouterr().err
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    (tmp_path / "v.json").write_text(json.dumps({"tnkit": "0", "quick": True, "cases": []}))
    assert main(["validate", "--from-json", str(tmp_path / "v.json"), "--readme", str(readme)]) == 0
    assert "left unchanged" in capsys.readouterr().err and readme.read_text() == "no markers\n"
