"""``make gpu-check`` (validation/benchmarks/gpu_check.py): the GPU-less path and the report writers.

The GPU path itself needs a device and runs on a lent machine; here: one line and exit 0
without a GPU, RESULTS.md's marked block replaced or appended (on a copy, never the real
file), pytest's verbose output counted per backend, and run.py-format results tabulated.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

# The repository root, wherever under tests/ this file ends up.
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
BENCH = ROOT / "validation" / "benchmarks"
SCRIPT = BENCH / "gpu_check.py"


def _load(name: str) -> ModuleType:
    """A script of validation/benchmarks by path (a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"_tnkit_test_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = _load("_gpu_report")


def _no_gpu_env(tmp_path: Path) -> dict[str, str]:
    """This environment as a machine without a GPU: no nvidia-smi, CUDA devices hidden; not a sub-make
    (a sub-make prints "Entering directory" lines)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env.update(GPU_CHECK_NVIDIA_SMI=str(tmp_path / "no-nvidia-smi"), CUDA_VISIBLE_DEVICES="")
    return env


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_gpu_check_without_gpu_says_one_line_and_exits_0(tmp_path: Path) -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "gpu-check"],
        check=False,
        cwd=ROOT,
        env=_no_gpu_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith("gpu-check: no NVIDIA GPU on this machine (")
    assert "no-nvidia-smi not found" in lines[0] and lines[0].endswith("; nothing to do")


@pytest.mark.skipif(
    shutil.which("nvidia-smi") is not None or bool(glob.glob("/dev/nvidia[0-9]*")),
    reason="this machine may have an NVIDIA GPU",
)
def test_script_detects_a_machine_without_gpu() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GPU_CHECK_NVIDIA_SMI"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    assert done.stderr == ""
    assert done.stdout == (
        "gpu-check: no NVIDIA GPU on this machine (nvidia-smi not found, no /dev/nvidia* device); nothing to do\n"
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_section_appended_then_replaced_on_a_copy_of_results(tmp_path: Path) -> None:
    real = BENCH / "RESULTS.md"
    before = _sha(real)
    copy = tmp_path / "RESULTS.md"
    original = real.read_text(encoding="utf-8")
    # Start from a copy without a gpu-check block (the real file may have one by now).
    original = report.replace_section(original, "x").split(report.START)[0].rstrip("\n") + "\n"
    copy.write_text(original, encoding="utf-8")

    report.write_section(copy, "## GPU — first\n\nrun one")
    first = copy.read_text(encoding="utf-8")
    assert first.startswith(original.rstrip("\n"))
    assert first.endswith(f"\n\n{report.START}\n## GPU — first\n\nrun one\n{report.END}\n")

    report.write_section(copy, "## GPU — second\n\nrun two\n")
    second = copy.read_text(encoding="utf-8")
    assert second == first.replace("## GPU — first\n\nrun one", "## GPU — second\n\nrun two")
    assert second.count(report.START) == 1 and second.count(report.END) == 1
    assert not (tmp_path / "RESULTS.md.tmp").exists()
    assert _sha(real) == before  # the real file is never touched


def test_section_replaced_in_the_middle_and_inline_markers_ignored() -> None:
    text = (
        f"# Results\n\nProse naming {report.START} inline is not a block.\n\n{report.START}\nold\n"
        f"{report.END}\n\n## Later section\nkept\n"
    )
    new = report.replace_section(text, "new")
    assert new == text.replace(f"{report.START}\nold\n", f"{report.START}\nnew\n")
    prose_only = f"# Results\n\nSee {report.START} and {report.END} in prose.\n"
    assert report.replace_section(prose_only, "new") == prose_only + f"\n{report.START}\nnew\n{report.END}\n"


def test_count_tests_per_backend_from_verbose_output() -> None:
    lines = [
        "tests/test_linalg.py::test_svd[cupy-float32] PASSED                       [  1%]",
        "tests/test_linalg.py::test_svd[torch-cuda-float32] PASSED                 [  2%]",
        "tests/test_linalg.py::test_svd[torch-cuda-complex128] FAILED              [  3%]",
        "tests/test_contract.py::test_plan[cupy] SKIPPED (cupy: no usable device)  [  4%]",
        "tests/io/test_hdf5.py::test_load_like_cuda_tensor PASSED                  [  5%]",
        "tests/test_tt.py::test_round[cupy-spec1] ERROR                            [  6%]",
        "FAILED tests/test_linalg.py::test_svd[torch-cuda-complex128] - AssertionError",
        "ERROR tests/test_broken.py - ModuleNotFoundError: No module named 'ase'",
        "===== 3 passed, 1 failed, 1 skipped, 2 errors in 12.34s =====",
    ]
    counts, failed, summary = report.count_tests(lines)
    assert counts == {
        "cupy": {"PASSED": 1, "SKIPPED": 1, "ERROR": 1},
        "torch-cuda": {"PASSED": 1, "FAILED": 1},
        "other CUDA tests": {"PASSED": 1},
        "collection": {"ERROR": 1},
    }
    assert failed == [
        "tests/test_linalg.py::test_svd[torch-cuda-complex128] FAILED",
        "tests/test_tt.py::test_round[cupy-spec1] ERROR",
        "ERROR tests/test_broken.py - ModuleNotFoundError: No module named 'ase'",
    ]
    assert summary == "3 passed, 1 failed, 1 skipped, 2 errors in 12.34s"
    assert report.count_tests(["!!! KeyboardInterrupt !!!"])[2] == "no summary"


def _results() -> dict:
    """A small results file in run.py's format (two runs, a skip on two sizes, an error)."""

    def case(name: str, backend: str, size: int, peer: str | None, status: str, **more: object) -> dict:
        rec = {
            "module": "bench_core",
            "name": name,
            "backend": backend,
            "size": size,
            "peer": peer,
            "status": status,
            "reason": None,
            "tnkit_median_s": None,
            "peer_median_s": None,
            "ratio": None,
            "target_ratio": None,
            "meets_target": None,
            "repeats": None,
            "pair_ratio_quartiles": None,
            "max_rel_diff": None,
        }
        rec.update(more)
        return rec

    return {
        "generated": "2026-12-01T10:00:00+00:00",
        "quick": False,
        "git_commit": "abc1234",
        "machine": {"cpu": "x86", "usable_cores": 16, "gpu": "NVIDIA H100 80GB HBM3"},
        "versions": {"torch": "2.11.0+cu130", "cupy": "14.2.0"},
        "summary": {"ran": 2, "skipped": 2, "errors": 1, "met_target": 1, "missed_target": 0},
        "cases": [
            case(
                "contract mps-sandwich",
                "cupy",
                512,
                "cupy.einsum(optimize=True)",
                "ok",
                tnkit_median_s=0.0012,
                peer_median_s=0.0024,
                ratio=0.5,
                target_ratio=1.05,
                meets_target=True,
                repeats=50,
            ),
            case("dmrg sweep", "torch-cuda", 32, None, "ok", tnkit_median_s=2.5, repeats=1, quick=True),
            case("tucker hooi", "cupy", 256, "tensorly", "skipped", reason="tensorly not installed"),
            case("tucker hooi", "cupy", 64, "tensorly", "skipped", reason="tensorly not installed"),
            case("ns step vs its ffts", "torch-cuda", 512, "the step's ffts", "error", reason="RuntimeError: boom"),
        ],
    }


def test_bench_table_from_run_py_results() -> None:
    table = report.bench_table(_results()).splitlines()
    assert table[0] == "| case | size | backend | peer | tnkit ms | peer ms | ratio | target | met |"
    assert table[2] == (
        "| contract mps-sandwich | 512 | cupy | cupy.einsum(optimize=True) | 1.2 | 2.4 | 0.500 | ≤ 1.05 | yes |"
    )
    assert table[3] == "| dmrg sweep | 32 (quick) | torch-cuda | – (tnkit alone) | 2500 |  |  |  | – |"
    assert table[4:] == [
        "",
        "- skipped: tucker hooi on cupy (2 size(s)): tensorly not installed",
        "- error: ns step vs its ffts on torch-cuda (1 size(s)): RuntimeError: boom",
    ]
    assert report.bench_table({"cases": []}) == "No benchmark case ran."


def test_section_holds_device_counts_and_table() -> None:
    info = {
        "date": "2026-12-01",
        "device": "NVIDIA H100 80GB HBM3, 81559 MiB, driver 580.1",
        "python": "3.12.3",
        "torch": "2.11.0+cu130",
        "cupy": "14.2.0",
        "commit": "abc1234",
        "wall_s": 401.2,
        "budget_s": 480,
    }
    tests = (
        {"cupy": {"PASSED": 260, "SKIPPED": 7}, "torch-cuda": {"PASSED": 266, "FAILED": 1}},
        ["tests/test_linalg.py::test_svd[torch-cuda-float32] FAILED"],
        "526 passed, 1 failed in 200.00s",
    )
    text = report.section(info, tests, report.bench_table(_results()))
    assert text.startswith("## GPU — `make gpu-check`, 2026-12-01\n\nNVIDIA H100 80GB HBM3, 81559 MiB, driver 580.1;")
    assert "torch 2.11.0+cu130, CuPy 14.2.0; commit abc1234; 401 s of a 480 s budget." in text
    assert "| cupy | 260 | 0 | 0 | 7 | 0 | 0 |" in text
    assert "| torch-cuda | 266 | 1 | 0 | 0 | 0 | 0 |" in text
    assert "- tests/test_linalg.py::test_svd[torch-cuda-float32] FAILED" in text
    assert "| contract mps-sandwich | 512 | cupy |" in text
