"""A wheel installed in a fresh venv, run from another folder: the ``tnkit`` commands work.

Slow (a wheel build and a venv with NumPy, SciPy, h5py, Matplotlib from pip's cache or
the index, pinned by constraints.txt): ``make wheel-check`` or ``pytest -m slow``. The
base install has no torch; the data go to the per-user folder (XDG_DATA_HOME here).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
# What the wheel is built from; copying only these keeps build/ and egg-info out of the checkout
# and stale build output out of the wheel.
SOURCES = ("pyproject.toml", "README.md", "tnkit", "physics")

pytestmark = pytest.mark.slow


def _sh(
    argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _ok(result: subprocess.CompletedProcess, code: int = 0) -> str:
    assert result.returncode == code, f"{result.args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a fresh venv holding the tnkit wheel and its pinned dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip"]
    _ok(_sh([*pip, "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(source)], cwd=work))
    (wheel,) = (work / "dist").glob("tnkit-*.whl")
    _ok(_sh([sys.executable, "-m", "venv", str(work / "venv")], cwd=work))
    bin_dir = work / "venv" / ("Scripts" if os.name == "nt" else "bin")
    python = str(bin_dir / "python")
    _ok(_sh([python, "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), str(wheel)], cwd=work))
    return bin_dir


@pytest.fixture
def elsewhere(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An empty working folder and an environment that points at no checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TNKIT_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    (tmp_path / "cwd").mkdir()
    return tmp_path / "cwd", env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME selects the user folder on Linux")
def test_wheel_install_runs_the_commands(installed: Path, elsewhere: tuple[Path, dict[str, str]]) -> None:
    cwd, env = elsewhere
    tnkit = str(installed / "tnkit")
    folder = Path(env["XDG_DATA_HOME"]) / "tnkit" / "datasets"
    # the base install brings no torch (only the extras do)
    probe = [str(installed / "python"), "-c", "import importlib.util as u; print(u.find_spec('torch'))"]
    assert _ok(_sh(probe, cwd=cwd, env=env)).strip() == "None"

    info = _ok(_sh([tnkit, "info"], cwd=cwd, env=env))
    assert "torch              not installed" in info
    assert f"datasets: {folder} (user data folder)" in info
    assert "plug-in physics: loaded" in info
    assert "validation: not found; the validation suite lives in the source tree" in info

    listing = _ok(_sh([tnkit, "data", "list"], cwd=cwd, env=env))
    assert listing.startswith(f"datasets folder: {folder} (user data folder;")
    for name in ("svd_reference", "darcy_64", "xtb_md_ethanol"):  # tnkit's own and the plug-in's
        assert f"  tnkit data generate {name}\n" in listing

    generated = _ok(_sh([tnkit, "data", "generate", "svd_reference"], cwd=cwd, env=env))
    assert generated.startswith(f"OK    svd_reference: wrote {folder / 'svd_reference.h5'}; matches the manifest")
    listing = _ok(_sh([tnkit, "data", "list"], cwd=cwd, env=env))
    assert [line.split()[-1] for line in listing.splitlines() if line.startswith("svd_reference ")] == ["present"]
    assert _ok(_sh([tnkit, "data", "verify", "svd_reference"], cwd=cwd, env=env)).startswith("OK    svd_reference")

    validate = _sh([tnkit, "validate", "--quick"], cwd=cwd, env=env)
    _ok(validate, code=2)
    (line,) = validate.stderr.splitlines()
    assert "validation suite lives in the source tree" in line and "--dir PATH or TNKIT_VALIDATION_DIR=PATH" in line
    assert sorted(p.name for p in cwd.iterdir()) == []  # nothing written where it was run
