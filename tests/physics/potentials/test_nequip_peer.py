"""The NequIP peer (validation/potentials/_nequip_client.py): nequip missing is a clean skip; with
nequip 0.19 installed (``pip install -e '.[bench]'``) a tiny model trains, is cached, and its test
errors agree with an independent evaluation through nequip's ASE calculator.

The training tests need nequip and are skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from physics.potentials import Frames, load_frames
from tnkit.validation import SkipCase

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
TINY = {"num_layers": 1, "l_max": 1, "num_features": 4, "radial_mlp_depth": 1, "radial_mlp_width": 8}

# Run in a child process: nequip's global state (float64 default dtype, seeds) must not reach
# pytest's. One frame through nequip's ASE calculator built on the best checkpoint, and the
# numerical stress of ASE (central differences of the energy under strain) for the sign check.
ASE_CALCULATOR = """
import json, sys
import ase.io
from nequip.integrations.ase import NequIPCalculator
from nequip.integrations.utils import basic_transforms
from nequip.model.saved_models.load_utils import load_saved_model
from nequip.nn import graph_model
from nequip.utils.global_state import set_global_state

set_global_state()
model = load_saved_model(sys.argv[1]).eval()
types = model.metadata[graph_model.TYPE_NAMES_KEY].split(" ")
r_max = float(model.metadata[graph_model.R_MAX_KEY])
calc = NequIPCalculator(model, "cpu", transforms=basic_transforms(model.metadata, r_max, types, {t: t for t in types}))
atoms = ase.io.read(sys.argv[2], 0)
atoms.calc = calc
out = {"energy": float(atoms.get_potential_energy()), "forces": atoms.get_forces().tolist()}
if atoms.pbc.any():
    out["stress"] = atoms.get_stress(voigt=False).tolist()
    out["numerical_stress"] = calc.calculate_numerical_stress(atoms, d=1e-3, voigt=False).tolist()
print(json.dumps(out))
"""


def _load() -> ModuleType:
    """validation/potentials/_nequip_client.py by path (a folder of scripts, not a package)."""
    path = ROOT / "validation" / "potentials" / "_nequip_client.py"
    spec = importlib.util.spec_from_file_location("_tnkit_test_nequip_client", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peer = _load()


def _ethanol(n: int) -> dict[str, Frames]:
    from physics.data import load_molecules

    data = load_molecules("xtb_md_ethanol")
    frames = Frames.from_arrays(data["numbers"], data["positions"][:n], data["energies"][:n], data["forces"][:n])
    train, val, test = frames.split([n - 8, 4, 4], seed=0)
    return {"train": train, "val": val, "test": test}


def _on_ase_calculator(result: dict, workdir: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", ASE_CALCULATOR, str(workdir / "best.ckpt"), str(workdir / "test.xyz")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_nequip_missing_is_a_one_line_skip(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-venv" / "bin" / "python"))
    assert not peer.nequip_available()
    with pytest.raises(SkipCase, match=r"^nequip not installed: pip install -e '\.\[bench\]'"):
        peer.train_nequip(
            {},
            model={},
            epochs=1,
            batch_size=1,
            lr=1e-3,
            seed=0,
            workdir=tmp_path,
            energy_weight=1.0,
            force_weight=1.0,
        )


def test_from_mace_keeps_what_both_models_have():
    settings = peer.from_mace({"channels": 32, "l_max": 3, "hidden_l": 1, "num_layers": 2, "correlation": 3})
    assert settings == peer.MODEL_DEFAULTS
    small = peer.from_mace({"channels": 8, "l_max": 2, "cutoff": 4.0, "radial_hidden": (16, 16)})
    assert (small["num_features"], small["l_max"], small["r_max"]) == (8, 2, 4.0)
    assert (small["radial_mlp_depth"], small["radial_mlp_width"]) == (2, 16)
    with pytest.raises(ValueError, match="one width"):
        peer.from_mace({"radial_hidden": (64, 32)})


def test_nequip_trains_is_cached_and_agrees_with_its_ase_calculator(tmp_path):
    pytest.importorskip("nequip")
    parts = _ethanol(20)
    lines: list[str] = []
    kwargs = dict(
        model=TINY,
        epochs=2,
        batch_size=4,
        lr=1e-2,
        seed=0,
        workdir=tmp_path,
        energy_weight=1.0,
        force_weight=100.0,
        show=lines.append,
    )
    first = peer.train_nequip(parts, **kwargs)
    for key in ("force_mae_meV_per_A", "energy_mae_meV", "energy_per_atom_mae_meV", "train_wall_s"):
        assert np.isfinite(first[key]) and first[key] > 0, key
    assert "stress_mae_meV_per_A3" not in first
    assert first["n_params"] > 0 and first["n_test"] == 4 and first["best_epoch"] in (1, 2)
    assert first["nequip_version"] == "0.19.1"
    assert sum(line.startswith("epoch ") for line in lines) == 2

    # the errors are tnkit's definitions on the stored predictions
    test = parts["test"]
    with np.load(first["predictions"]) as pred:
        forces, energies = pred["forces"], pred["energies"]
    assert forces.shape == (36, 3) and energies.shape == (4,)
    assert first["force_mae_meV_per_A"] == pytest.approx(1e3 * np.abs(forces - test.forces).mean())
    assert first["energy_per_atom_mae_meV"] == pytest.approx(first["energy_mae_meV"] / 9)

    # frame 0 again, alone, through nequip's ASE calculator: the same energy, forces and force MAE
    ase = _on_ase_calculator(first, tmp_path)
    rows = slice(test.offsets[0], test.offsets[1])
    np.testing.assert_allclose(np.asarray(ase["forces"]), forces[rows], rtol=1e-4, atol=1e-5)
    assert ase["energy"] == pytest.approx(energies[0], abs=1e-4)
    frame_mae = 1e3 * np.abs(np.asarray(ase["forces"]) - test.forces[rows]).mean()
    assert frame_mae == pytest.approx(1e3 * np.abs(forces[rows] - test.forces[rows]).mean(), rel=1e-4)

    # a second call returns the stored result without training
    stamp = (tmp_path / "best.ckpt").stat().st_mtime_ns
    lines.clear()
    again = peer.train_nequip(parts, **kwargs)
    assert again == first
    assert (tmp_path / "best.ckpt").stat().st_mtime_ns == stamp
    assert lines == [f"reusing the trained model in {tmp_path.resolve()}"]
    with pytest.raises(ValueError, match="different NequIP training"):
        peer.train_nequip(parts, **{**kwargs, "epochs": 3})
    written = (tmp_path / "train.xyz").read_bytes()
    with pytest.raises(ValueError, match="different NequIP training"):  # and the folder is left as it was
        peer.train_nequip({**parts, "train": parts["val"], "val": parts["train"]}, **kwargs)
    assert (tmp_path / "train.xyz").read_bytes() == written


def test_nequip_stress_follows_the_frames_convention(tmp_path):
    pytest.importorskip("nequip")
    crystals = load_frames("emt_crystals")
    cu = crystals[np.flatnonzero(crystals.labels == "cu_bulk")[:12]]
    parts = dict(zip(("train", "val", "test"), cu.split([6, 3, 3], seed=0)))
    result = peer.train_nequip(
        parts,
        model=TINY,
        epochs=1,
        batch_size=3,
        lr=1e-2,
        seed=0,
        workdir=tmp_path,
        energy_weight=1.0,
        force_weight=100.0,
        stress_weight=1e3,
        show=lambda line: None,
    )
    with np.load(result["predictions"]) as pred:
        stress = pred["stress"]
    assert stress.shape == (3, 3, 3)
    assert result["stress_mae_meV_per_A3"] == pytest.approx(1e3 * np.abs(stress - parts["test"].stress).mean())
    # the model's stress is ASE's (1/V) dE/d(strain), the convention of Frames.stress
    ase = _on_ase_calculator(result, tmp_path)
    np.testing.assert_allclose(np.asarray(ase["stress"]), stress[0], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(np.asarray(ase["numerical_stress"]), stress[0], rtol=1e-3, atol=1e-6)
