"""The mace-torch peer (validation/potentials/_mace_client.py): its venv missing is a clean skip; when
``make mace-venv`` has made it, a tiny model builds, times and trains through it.

The peer tests need ``.venv-mace`` (no CI has it) and are skipped without it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from physics.potentials import Frames
from tnkit.validation import SkipCase

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def _load() -> ModuleType:
    """validation/potentials/_mace_client.py by path (a folder of scripts, not a package)."""
    path = ROOT / "validation" / "potentials" / "_mace_client.py"
    spec = importlib.util.spec_from_file_location("_tnkit_test_mace_client", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peer = _load()
needs_peer = pytest.mark.skipif(not peer.peer_available(), reason="mace-torch peer venv missing: run `make mace-venv`")
WATER = {"numbers": [8, 1, 1], "positions": [[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]]}
TINY = {"channels": 8, "l_max": 2, "correlation": 2, "elements": [1, 8]}


def _water_frames(n: int, seed: int) -> Frames:
    """Rattled water molecules with harmonic O-H and H-H springs: energies and exact forces."""
    rng = np.random.default_rng(seed)
    pos = np.asarray(WATER["positions"])[None] + 0.05 * rng.normal(size=(n, 3, 3))
    rest = {(0, 1): 0.96, (0, 2): 0.96, (1, 2): 1.52}
    energies, forces = np.zeros(n), np.zeros((n, 3, 3))
    for (i, j), r0 in rest.items():
        d = pos[:, i] - pos[:, j]
        r = np.linalg.norm(d, axis=-1)
        energies += 2.0 * (r - r0) ** 2
        g = (4.0 * (r - r0) / r)[:, None] * d
        forces[:, i] -= g
        forces[:, j] += g
    return Frames.from_arrays([8, 1, 1], pos, energies - 14.0, forces)


def test_missing_peer_venv_is_a_one_line_skip(monkeypatch, tmp_path):
    monkeypatch.setenv("TNKIT_MACE_PYTHON", str(tmp_path / "no-venv" / "bin" / "python"))
    assert not peer.peer_available()
    with pytest.raises(SkipCase, match=r"^mace-torch peer venv missing: run `make mace-venv`$"):
        peer.run_peer("build", {"model": TINY})
    with pytest.raises(ValueError, match="unknown command"):
        peer.run_peer("fit", {})


def test_write_frames_round_trips(tmp_path):
    frames = _water_frames(5, seed=0)
    parts = frames.split([3, 1, 1])
    path = peer.write_frames(tmp_path / "frames.npz", train=parts[0], val=parts[1], test=parts[2])
    with np.load(path) as data:
        assert data["train_positions"].shape == (9, 3) and data["test_n_atoms"].tolist() == [3]
        np.testing.assert_array_equal(data["val_forces"], parts[1].forces)
        assert "train_cells" not in data.files


@needs_peer
def test_peer_builds_and_times_a_tiny_model(tmp_path):
    built = peer.run_peer("build", {"model": TINY}, folder=tmp_path)
    assert built["n_params"] == sum(built["params_by_block"].values()) > 0
    assert built["hidden_irreps"] == "8x0e+8x1o"
    timed = peer.run_peer(
        "time",
        {"model": TINY, "warmup": 1, "repeats": 3, "systems": [{"name": "water", "structures": [WATER]}]},
        folder=tmp_path,
    )
    (water,) = timed["systems"]
    assert timed["threads"] == 1
    assert (water["n_atoms"], water["n_edges"], water["graph"]) == (3, 6, "per_call")
    assert len(water["energy_forces_samples"]) == 3
    stamps = [s[0] for s in water["energy_forces_samples"]]
    assert stamps == sorted(stamps)
    assert np.isfinite(water["energy_forces_ms"]) and water["energy_forces_ms"] > 0


@needs_peer
def test_peer_trains_two_epochs_and_reuses_its_checkpoint(tmp_path):
    train, val, test = _water_frames(20, seed=1).split([14, 3, 3])
    data = peer.write_frames(tmp_path / "frames.npz", train=train, val=val, test=test)
    request = {
        "data": data,
        "checkpoint_dir": tmp_path / "mace",
        "model": {**TINY, "dtype": "float64"},
        "epochs": 2,
        "batch_size": 7,
        "lr": 0.01,
        "seed": 0,
    }
    first = peer.run_peer("train", request, folder=tmp_path)
    arrays = first.pop("arrays")
    assert arrays["energies"].shape == (3,) and arrays["forces"].shape == (9, 3)
    # the errors are those of the returned predictions on the test frames
    assert first["force_mae_meV_per_A"] == pytest.approx(1e3 * np.abs(arrays["forces"] - test.forces).mean())
    assert first["energy_mae_meV"] == pytest.approx(1e3 * np.abs(arrays["energies"] - test.energies).mean())
    assert first["energy_per_atom_mae_meV"] == pytest.approx(first["energy_mae_meV"] / 3)
    assert first["best_epoch"] in (0, 1) and first["train_wall_s"] > 0
    again = peer.run_peer("train", request, folder=tmp_path)  # the checkpoint folder serves again
    again.pop("arrays")
    assert again == first
    with pytest.raises(peer.PeerError, match="different mace-torch training"):
        peer.run_peer("train", {**request, "epochs": 3}, folder=tmp_path)
