"""Periodic EMT crystal datasets: stored values against a fresh EMT evaluation, determinism,
resume, the loader's checks, the command line and the committed file (its stress against a
finite-difference strain derivative of the energy)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

pytest.importorskip("ase")

from ase import Atoms, units  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402

import physics.data._emt as emt  # noqa: E402
from physics.data import (  # noqa: E402
    CRYSTALS,
    SMALL,
    emt_lattice_constant,
    generate_emt_crystals,
    load_crystals,
    relaxed_crystal,
    resolve_emt_crystals,
)
from physics.potentials import load_frames  # noqa: E402
from tnkit.io import DataError, array_sha256, provenance, save  # noqa: E402
from tnkit.io._hdf5 import seal_groups  # noqa: E402

TINY = {
    "systems": ["cu_bulk", "cu_slab"],
    "temperatures": [300.0],
    "frames_per_run": 3,
    "stride": 2,
    "equilibration": 4,
    "chunk": 2,
}
KEYS = ("energies", "stress", "cells", "pbc", "temperatures", "systems", "n_atoms", "numbers", "positions", "forces")


def _digests(path) -> dict[str, str]:
    d = load_crystals(path)
    return {k: array_sha256(d[k]) for k in KEYS}


def _emt(d: dict, f: int) -> Atoms:
    rows = slice(d["offsets"][f], d["offsets"][f + 1])
    atoms = Atoms(numbers=d["numbers"][rows], positions=d["positions"][rows], cell=d["cells"][f], pbc=d["pbc"][f])
    atoms.calc = EMT()
    return atoms


def test_stored_values_are_a_fresh_emt_evaluation(tmp_path) -> None:
    path = generate_emt_crystals(tmp_path / "t.h5", progress=False, **TINY)
    d = load_crystals(path)
    assert d["n_atoms"].tolist() == [32] * 3 + [36] * 3 and d["positions"].shape == (204, 3)
    assert d["system_names"] == ["cu_bulk", "cu_slab"] and d["systems"].tolist() == [0, 0, 0, 1, 1, 1]
    assert d["pbc"].tolist() == [[True] * 3] * 3 + [[True, True, False]] * 3
    assert d["temperatures"].tolist() == [300.0] * 6 and d["lattice_constants"] == {"Cu": emt_lattice_constant("Cu")}
    assert json.loads(d["emt_parameters"])["Cu"]["s0"] == pytest.approx(2.67) and d["ase_version"]
    for f in range(6):
        atoms = _emt(d, f)
        assert atoms.get_potential_energy() == pytest.approx(d["energies"][f], abs=1e-10)
        np.testing.assert_allclose(atoms.get_forces(), d["forces"][d["offsets"][f] : d["offsets"][f + 1]], atol=1e-10)
        np.testing.assert_allclose(atoms.get_stress(voigt=False), d["stress"][f], atol=1e-12)
        # positions are wrapped into the cell along the periodic directions
        scaled = atoms.cell.scaled_positions(atoms.positions)[:, atoms.pbc]
        assert scaled.min() >= 0 and scaled.max() < 1
    # each run's cell is the relaxed one strained by a symmetric I + e, |e_ij| <= strain, in plane for the slab
    for f, name in ((0, "cu_bulk"), (3, "cu_slab")):
        start = relaxed_crystal(name, d["lattice_constants"]["Cu"])
        e = np.linalg.solve(np.asarray(start.cell), d["cells"][f]) - np.eye(3)
        assert np.allclose(e, e.T) and 0 < np.abs(e).max() <= 0.02
        assert name == "cu_bulk" or (np.abs(e[2]).max() == 0 and np.abs(e[:, 2]).max() == 0)
    assert np.array_equal(d["cells"][0], d["cells"][2])  # NVT: a run keeps its cell
    info = provenance(path)
    assert info["schema"] == "emt_crystals" and info["schema_version"] == 1
    assert info["generator"]["parameters"] == {"name": "emt-crystals", **resolve_emt_crystals(TINY)}


def test_generation_is_deterministic_and_runs_do_not_depend_on_the_others(tmp_path) -> None:
    a = _digests(generate_emt_crystals(tmp_path / "a.h5", progress=False, **TINY))
    assert a == _digests(generate_emt_crystals(tmp_path / "b.h5", progress=False, **{**TINY, "chunk": 5}))
    other = _digests(generate_emt_crystals(tmp_path / "c.h5", progress=False, **{**TINY, "seed": 1}))
    assert all(other[k] != a[k] for k in ("energies", "positions", "stress", "cells"))
    both = load_crystals(tmp_path / "a.h5")
    slab = load_crystals(generate_emt_crystals(tmp_path / "s.h5", progress=False, **{**TINY, "systems": "cu_slab"}))
    for key in ("energies", "stress", "cells"):
        assert np.array_equal(slab[key], both[key][3:]), key
    assert np.array_equal(slab["positions"], both["positions"][96:])


def test_interrupted_generation_resumes_to_the_same_arrays(tmp_path, monkeypatch) -> None:
    whole = _digests(generate_emt_crystals(tmp_path / "whole.h5", progress=False, **TINY))
    original = emt._frame
    for cut, done in ((("cu_slab", 1), 4), (("cu_slab", 0), 2)):  # mid-run and at a run's first frame

        def killed(p, start, state, run, index, cut=cut):
            if (run[0], index) == cut:
                raise KeyboardInterrupt
            return original(p, start, state, run, index)

        monkeypatch.setattr(emt, "_frame", killed)
        out = tmp_path / f"cut{done}.h5"
        with pytest.raises(KeyboardInterrupt):
            generate_emt_crystals(out, progress=False, **TINY)
        monkeypatch.setattr(emt, "_frame", original)
        with h5py.File(out.with_name(out.name + ".partial")) as h:
            assert int(h.attrs["tnkit_done"]) == done
        assert _digests(generate_emt_crystals(out, progress=False, **TINY)) == whole
        assert not out.with_name(out.name + ".partial").exists()


def test_the_slab_is_relaxed_with_vacuum_between_its_images() -> None:
    slab = relaxed_crystal("cu_slab")
    assert slab.pbc.tolist() == [True, True, False] and len(slab) == 36
    gap = np.asarray(slab.cell)[2, 2] - np.ptp(slab.positions[:, 2])
    assert gap >= 10.0
    slab.calc = EMT()
    assert np.abs(slab.get_forces()).max() < 1e-3  # relaxed


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"systems": "cu_bulk,ni_bulk"}, "systems must be distinct names of cu_bulk, al_bulk, cu_vacancy, cu_slab"),
        ({"systems": ["cu_bulk", "cu_bulk"]}, "systems must be distinct names"),
        ({"systems": []}, "systems must be a non-empty list"),
        ({"temperatures": "300,hot"}, "temperatures must be a non-empty list"),
        ({"temperatures": [300, -1]}, "temperatures must be a finite number > 0"),
        ({"temperatures": [300, 300.0]}, "temperatures must differ by at least 1 mK"),
        ({"frames_per_run": 0}, "frames_per_run must be an int > 0"),
        ({"strain": -0.1}, "strain must be a finite number >= 0"),
        ({"strain": 0.5}, "strain must be < 0.2"),
        ({"timestep": float("nan")}, "timestep must be a finite number > 0"),
        ({"pressure": 1.0}, "unknown parameter 'pressure'"),
    ],
)
def test_bad_parameters(tmp_path, overrides, match) -> None:
    with pytest.raises(ValueError, match=match):
        generate_emt_crystals(tmp_path / "x.h5", progress=False, **{**TINY, **overrides})
    assert not list(tmp_path.iterdir())


def test_loader_names_the_file_and_the_fault_in_one_line(tmp_path) -> None:
    save(tmp_path / "m.h5", {"numbers": np.array([1]), "energies": np.zeros(1)}, schema="xtb_md")
    with pytest.raises(DataError) as info:
        load_crystals(tmp_path / "m.h5")
    assert "m.h5" in str(info.value) and "emt_crystals" in str(info.value) and "\n" not in str(info.value)
    d = load_crystals(generate_emt_crystals(tmp_path / "ok.h5", progress=False, **{**TINY, "frames_per_run": 1}))
    arrays = {k: d[k] for k in KEYS}
    with h5py.File(tmp_path / "ok.h5") as h:
        attrs = {"system_names": h.attrs["system_names"].decode()}
    save(tmp_path / "bad.h5", {**arrays, **attrs, "stress": np.full((2, 3, 3), np.nan)}, schema="emt_crystals")
    with pytest.raises(DataError, match=r"bad.h5: stress hold NaN or Inf"):
        load_crystals(tmp_path / "bad.h5")
    save(tmp_path / "short.h5", {**arrays, **attrs, "forces": np.zeros((5, 3))}, schema="emt_crystals")
    with pytest.raises(DataError, match=r"short.h5: forces has shape \(5, 3\), expected \(68, 3\)"):
        load_crystals(tmp_path / "short.h5")
    with h5py.File(tmp_path / "ok.h5", "r+") as h:  # as a newer tnkit would write it: well-formed, version 2
        h.attrs["schema_version"] = np.int64(2)
        seal_groups(h)
    with pytest.raises(DataError, match=r"ok.h5: .*version 2 > supported 1"):
        load_crystals(tmp_path / "ok.h5")
    with pytest.raises(DataError, match="xtb_md_ethanol: not an emt_crystals dataset"):
        load_crystals("xtb_md_ethanol")


def test_command_line(tmp_path, capsys) -> None:
    from tnkit.cli import main

    out = tmp_path / "cli.h5"
    sets = ["systems=cu_bulk,cu_slab", "temperatures=300", "stride=2", "equilibration=4", "chunk=2"]
    argv = ["data", "generate", "emt-crystals", "--out", str(out), "--samples", "3", "--no-progress"]
    assert main([*argv, *(x for s in sets for x in ("--set", s))]) == 0
    assert _digests(out) == _digests(generate_emt_crystals(tmp_path / "ref.h5", progress=False, **TINY))
    capsys.readouterr()
    assert main(["data", "generate", "emt-crystals", "--out", str(tmp_path / "x.h5"), "--set", "systems=zn"]) == 1
    assert "systems must be distinct names of cu_bulk" in capsys.readouterr().err


# ------------------------------------------------------------------------ the committed dataset


def test_committed_dataset_loads_as_frames_with_stress_and_labels() -> None:
    d = load_crystals("emt_crystals")  # sha256-verified against the manifest
    runs = len(d["system_names"]) * 4
    assert d["system_names"] == list(CRYSTALS) and d["energies"].shape == (runs * 150,)
    assert d["lattice_constants"] == {"Al": emt_lattice_constant("Al"), "Cu": emt_lattice_constant("Cu")}
    frames = load_frames("emt_crystals")
    assert len(frames) == 2400 and frames.stress.shape == (2400, 3, 3) and frames.cells.shape == (2400, 3, 3)
    assert sorted(set(frames.labels.tolist())) == sorted(CRYSTALS)
    counts = {name: int((frames.labels == name).sum()) for name in CRYSTALS}
    assert counts == dict.fromkeys(CRYSTALS, 600)
    assert frames[frames.labels == "cu_slab"].pbc[:, 2].sum() == 0 and frames.pbc[frames.labels != "cu_slab"].all()
    sizes = {name: int(frames.n_atoms[frames.labels == name][0]) for name in CRYSTALS}
    assert sizes == {"cu_bulk": 32, "al_bulk": 32, "cu_vacancy": 31, "cu_slab": 36}
    batch = frames.collate([0, 2399])
    assert batch["stress"].shape == (2, 3, 3) and batch["cell"].shape == (2, 3, 3)
    # thermalised: each system's mean potential energy per atom rises with the temperature,
    # by about the harmonic 3/2 k_B per kelvin (more where it melts) from 300 to 600 K
    per_atom = (d["energies"] / d["n_atoms"]).reshape(len(d["system_names"]), 4, 150).mean(-1)
    assert np.all(np.diff(per_atom, axis=1) > 0), per_atom
    rise = (per_atom[:, 1] - per_atom[:, 0]) / (1.5 * units.kB * 300)
    assert np.all((rise > 0.6) & (rise < 1.6)), rise


def test_committed_stress_is_the_strain_derivative_of_the_energy() -> None:
    d = load_crystals("emt_crystals")
    f = int(np.flatnonzero(np.asarray(d["system_names"])[d["systems"]] == "cu_bulk")[75])
    atoms = _emt(d, f)
    volume, cell, positions = atoms.get_volume(), np.asarray(atoms.cell).copy(), atoms.positions.copy()
    h = 1e-5
    for i, j in [(0, 0), (1, 2), (2, 2), (0, 1)]:
        energies = []
        for sign in (1, -1):
            e = np.zeros((3, 3))
            e[i, j] = e[j, i] = sign * h / (1 if i == j else 2)
            atoms.set_cell(cell @ (np.eye(3) + e), scale_atoms=False)
            atoms.positions = positions @ (np.eye(3) + e)
            energies.append(atoms.get_potential_energy())
        derivative = (energies[0] - energies[1]) / (2 * h)
        # ASE's convention: stress = (1/V) dE/d(strain), positive under tension
        assert d["stress"][f, i, j] * volume == pytest.approx(derivative, rel=1e-6, abs=1e-8)
    assert np.abs(d["stress"][d["systems"] == 0]).max() > 1e-3  # strained cells: the stress varies


def test_committed_dataset_regenerates(tmp_path) -> None:
    shipped = load_crystals("emt_crystals")
    recipe, params = SMALL["emt_crystals"]
    assert recipe == "emt-crystals"
    overrides = {**params, "systems": "cu_vacancy", "temperatures": 900, "frames_per_run": 2}
    fresh = load_crystals(generate_emt_crystals(tmp_path / "head.h5", progress=False, **overrides))
    first = 150 * (2 * 4 + 2)  # cu_vacancy is the third system, 900 K its third temperature
    rows = slice(shipped["offsets"][first], shipped["offsets"][first + 2])
    for key in ("energies", "stress", "cells"):
        np.testing.assert_array_equal(fresh[key], shipped[key][first : first + 2], err_msg=key)
    for key in ("positions", "forces"):
        np.testing.assert_array_equal(fresh[key], shipped[key][rows], err_msg=key)
