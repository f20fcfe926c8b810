"""``tnkit data list | verify | generate``, through the argparse wiring of tnkit.cli.data."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import tnkit.io as tio
from tnkit.cli import data as _cli
from tnkit.io import _locations


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tnkit")
    sub = parser.add_subparsers(dest="command")
    _cli.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A datasets folder holding a copy of svd_reference and one missing dataset."""
    monkeypatch.delenv("TNKIT_DATASETS", raising=False)
    shipped = tio.manifest()["svd_reference"]
    (tmp_path / shipped.path).write_bytes(shipped.file.read_bytes())
    text = (resources.files("tnkit.io") / "manifest.toml").read_text()
    text += (
        '\n[absent]\npath = "absent.h5"\nsha256 = "' + "0" * 64 + '"\nsize = 10\nschema = "dict"\n'
        'schema_version = 1\nprovenance = "none"\nlicence = "CC0-1.0"\n'
        'generate = "tnkit data generate absent"\n'
    )
    (tmp_path / "manifest.toml").write_text(text)
    monkeypatch.setenv("TNKIT_DATASETS", str(tmp_path))
    return tmp_path


def test_list(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["data", "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip()}
    assert lines["svd_reference"][1:] == [
        "svd_reference",
        "v1",
        str(tio.manifest()["svd_reference"].size),
        "svd_reference.h5",
        "present",
    ]
    assert lines["absent"][-1] == "missing"
    assert out.splitlines()[0] == f"datasets folder: {store} (TNKIT_DATASETS; set TNKIT_DATASETS to use another)"
    assert out.rstrip().endswith(f"1 of 2 not in {store}; each is made there by:\n  tnkit data generate absent")


def test_list_in_a_folder_without_datasets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh install: every dataset is absent, listed with the command that makes it; exit 0."""
    empty = tmp_path / "nothing-here"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TNKIT_DATASETS", str(empty))
        assert run(["data", "list"]) == 0
        names = list(tio.manifest())
    out = capsys.readouterr().out
    assert "svd_reference" in names and "darcy_64" in names  # tnkit's own and the physics plug-in's
    assert f"{len(names)} of {len(names)} not in {empty}" in out
    for name in names:
        assert f"  tnkit data generate {name}\n" in out
    assert not empty.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME selects the user folder on Linux")
def test_wheel_like_install_uses_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No TNKIT_DATASETS, no development checkout: list and generate use the per-user folder."""
    monkeypatch.delenv("TNKIT_DATASETS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(_locations, "source_checkout", lambda: None)
    folder = tmp_path / "xdg" / "tnkit" / "datasets"
    assert run(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"datasets folder: {folder} (user data folder;")
    assert "  tnkit data generate svd_reference\n" in out
    code = run(["data", "generate", "svd_reference"])
    out = capsys.readouterr().out
    assert (folder / "svd_reference.h5").is_file()
    # Same software stack as the shipped file: byte-identical. Another stack: DIFF and exit 1.
    assert (code, "matches the manifest sha256" in out) in {(0, True), (1, False)}


def test_verify_named_ok(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["data", "verify", "svd_reference"]) == 0
    assert capsys.readouterr().out.startswith("OK    svd_reference")


def test_verify_all_reports_each_failure(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["data", "verify"]) == 1
    out = capsys.readouterr().out
    assert "OK    svd_reference" in out
    assert "FAIL  absent: " in out and "absent.h5: missing; regenerate with `tnkit data generate absent`" in out


def test_verify_corrupt_and_unknown(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = store / "svd_reference.h5"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    assert run(["data", "verify", "svd_reference", "nope"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  svd_reference: " in out and "sha256" in out
    assert "FAIL  nope: unknown dataset 'nope'" in out


def test_generate_up_to_date_is_a_no_op(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (store / "svd_reference.h5").stat().st_mtime_ns
    assert run(["data", "generate", "svd_reference"]) == 0
    assert "already matches the manifest" in capsys.readouterr().out
    assert (store / "svd_reference.h5").stat().st_mtime_ns == before


def test_generate_replaces_a_missing_file(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (store / "svd_reference.h5").unlink()
    code = run(["data", "generate", "svd_reference"])
    out = capsys.readouterr().out
    assert (store / "svd_reference.h5").is_file()
    # Same software stack as the shipped file: byte-identical. Another stack: DIFF and exit 1.
    assert (code, "matches the manifest sha256" in out) in {(0, True), (1, False)}


def test_generate_out_compares_with_the_shipped_file(
    store: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    out_path = tmp_path_factory.mktemp("gen") / "svd.h5"
    assert run(["data", "generate", "svd_reference", "--out", str(out_path)]) == 0
    assert out_path.is_file()
    assert capsys.readouterr().out.startswith("OK    svd_reference: wrote")


def _pretend_manifest_sha256(store: Path) -> None:
    """Make the manifest's sha256 differ from any generated file, as on another software stack."""
    manifest_file = store / "manifest.toml"
    real = tio.manifest()["svd_reference"].sha256
    manifest_file.write_text(manifest_file.read_text().replace(real, "f" * 64))


def test_generate_other_stack_same_content_is_ok(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _pretend_manifest_sha256(store)
    assert run(["data", "generate", "svd_reference", "--out", str(store / "fresh.h5")]) == 0
    assert "bytes differ from the manifest" in capsys.readouterr().out


def test_generate_other_stack_different_content_fails(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _pretend_manifest_sha256(store)
    shipped = tio.load(store / "svd_reference.h5")
    tio.save(store / "svd_reference.h5", {"a": shipped["a"] * 2, "sigma": shipped["sigma"]}, schema="svd_reference")
    out_path = store / "fresh.h5"
    assert run(["data", "generate", "svd_reference", "--out", str(out_path)]) == 1
    assert capsys.readouterr().out.startswith("DIFF  svd_reference: wrote")
    assert _cli._content_difference(out_path, tio.manifest()["svd_reference"]) == pytest.approx(0.5)


def test_generate_unknown(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["data", "generate", "nope"]) == 1
    assert "unknown dataset 'nope'" in capsys.readouterr().err
    assert run(["data", "generate", "nope", "--out", str(store / "n.h5")]) == 1
    assert "no generator registered for dataset 'nope'" in capsys.readouterr().err


def test_generate_outside_the_manifest(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    @tio.register_generator("cli_scratch")
    def scratch(out: Path) -> None:
        tio.save(out, np.zeros(2))

    assert run(["data", "generate", "cli_scratch", "--out", str(store / "s.h5")]) == 0
    assert "is not in the manifest" in capsys.readouterr().out


@pytest.mark.skipif(importlib.util.find_spec("tnkit.validation") is None, reason="tnkit.validation not written yet")
def test_through_tnkit_main(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tnkit.cli import main

    assert main(["data", "verify", "svd_reference"]) == 0
    assert "OK    svd_reference" in capsys.readouterr().out


def test_generate_with_options(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Operator datasets take --samples/--resolution/--seed/--set; typed values; errors."""
    out = store / "p.h5"
    argv = [
        "data",
        "generate",
        "poisson",
        "--out",
        str(out),
        "--samples",
        "3",
        "--resolution",
        "9",
        "--set",
        "alpha=2.5",
        "--set",
        "modes=none",
        "--set",
        "dtype=float64",
        "--no-progress",
    ]
    assert run(argv) == 0
    params = tio.provenance(out)["generator"]["parameters"]
    assert params["samples"] == 3 and params["alpha"] == 2.5 and params["modes"] is None
    assert params["dtype"] == "float64" and params["seed"] == 0
    capsys.readouterr()
    # the same file with other parameters: refused, untouched
    before = out.read_bytes()
    assert run(argv[:5] + ["--samples", "4"] + argv[7:]) == 1
    assert "exists with other generator parameters" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert run(["data", "generate", "poisson", "--out", str(store / "q.h5"), "--set", "alpha"]) == 1
    assert "--set expects KEY=VALUE" in capsys.readouterr().err
    assert run(["data", "generate", "navier-stokes", "--out", str(store / "n.h5"), "--set", "nu=-1"]) == 1
    assert "nu must be a finite number >= 0" in capsys.readouterr().err
    assert run(["data", "generate", "svd_reference", "--out", str(store / "s.h5"), "--samples", "2"]) == 1
    assert "takes no generator options" in capsys.readouterr().err
    assert run(["data", "generate", "svd_reference", "--out", str(store / "s.h5"), "--no-progress"]) == 0


def _on_demand_store(store: Path, digest: str) -> None:
    text = (store / "manifest.toml").read_text()
    text += (
        '\n[big]\non_demand = true\npath = "big.h5"\narrays = { x = "' + digest + '" }\nschema = "dict"\n'
        'schema_version = 1\nprovenance = "test"\nlicence = "CC0-1.0"\ngenerate = "tnkit data generate big"\n'
    )
    (store / "manifest.toml").write_text(text)


def test_on_demand_dataset(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = np.arange(12.0).reshape(3, 4)

    @tio.register_generator("big")
    def big(out: Path) -> None:
        tio.save(out, {"x": x, "note": "regenerated"})

    _on_demand_store(store, tio.array_sha256(x))
    entry = tio.dataset_entry("big")
    assert entry.on_demand and entry.arrays == {"x": tio.array_sha256(x)}
    # not generated yet: listed as such, and verify does not fail on it
    assert run(["data", "list"]) == 0
    assert "on demand" in capsys.readouterr().out
    assert run(["data", "verify", "big"]) == 0
    assert "not generated (on demand)" in capsys.readouterr().out
    with pytest.raises(tio.DataError, match="not generated yet"):
        tio.load_dataset("big")
    # generate: checked by array content, then verify and load pass
    assert run(["data", "generate", "big"]) == 0
    assert "every array matches" in capsys.readouterr().out
    assert run(["data", "verify", "big"]) == 0
    assert np.array_equal(tio.load_dataset("big")["x"], x)


def test_on_demand_dataset_with_other_arrays(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    @tio.register_generator("big")
    def big(out: Path) -> None:
        tio.save(out, {"x": np.ones(3)})

    _on_demand_store(store, "1" * 64)
    assert run(["data", "generate", "big"]) == 1
    assert "array 'x' has sha256" in capsys.readouterr().out
    assert run(["data", "verify", "big"]) == 1


def test_on_demand_entry_needs_arrays(store: Path) -> None:
    text = (store / "manifest.toml").read_text()
    text += (
        '\n[bad]\non_demand = true\npath = "b.h5"\nschema = "dict"\nschema_version = 1\n'
        'provenance = "x"\nlicence = "x"\ngenerate = "x"\n'
    )
    (store / "manifest.toml").write_text(text)
    with pytest.raises(tio.DataError, match="needs arrays"):
        tio.manifest()


def test_generate_help_lists_every_dataset_and_its_set_keys(capsys) -> None:
    from tnkit.cli import main

    with pytest.raises(SystemExit) as done:
        main(["data", "generate", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--workers" in out and "--yes" in out
    assert "  svd_reference: (fixed: no options)" in out
    assert "  darcy: samples=1024, seed=0," in out and "solve_resolution=421" in out
    assert "  xtb-md: molecule=None, frames=2000," in out
