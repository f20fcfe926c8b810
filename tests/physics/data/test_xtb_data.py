"""GFN2-xTB molecular-dynamics datasets: determinism, resume, physics of the stored frames,
the command line, the loader's checks, extxyz export and the committed files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

pytest.importorskip("tblite.ase")
pytest.importorskip("rdkit")

from ase import Atoms, units  # noqa: E402
from tblite.ase import TBLite  # noqa: E402

import physics.data._xtb as xtb  # noqa: E402
from physics.data import (  # noqa: E402
    MOLECULES,
    SMALL,
    generate_xtb_md,
    load_molecules,
    relaxed_molecule,
    resolve_xtb_md,
    to_extxyz,
)
from tnkit.io import DataError, array_sha256, provenance, save  # noqa: E402

TINY = {"molecule": "ethanol", "frames": 6, "stride": 2, "equilibration": 4, "chunk": 2}
KEYS = ("positions", "velocities", "energies", "forces")


def _digests(path) -> dict[str, str]:
    d = load_molecules(path)
    return {k: array_sha256(d[k]) for k in KEYS}


def _xtb(numbers, positions) -> Atoms:
    """A tightly converged GFN2-xTB reference (100 times the generator's SCF accuracy)."""
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = TBLite(method="GFN2-xTB", accuracy=1e-4, verbosity=0)
    return atoms


def _temperature(numbers, velocities) -> np.ndarray:
    """Kinetic temperature (K) of each frame, centre of mass fixed (3N - 3 degrees of freedom)."""
    masses = Atoms(numbers=numbers).get_masses()
    v = velocities / units.fs  # Å/fs -> ASE units
    kinetic = 0.5 * np.einsum("a,fai->f", masses, v * v)
    return 2 * kinetic / ((3 * len(numbers) - 3) * units.kB)


def test_generation_is_deterministic_and_seeded(tmp_path) -> None:
    a = generate_xtb_md(tmp_path / "a.h5", progress=False, **TINY)
    b = generate_xtb_md(tmp_path / "b.h5", progress=False, **TINY)
    assert _digests(a) == _digests(b)
    c = generate_xtb_md(tmp_path / "c.h5", progress=False, **{**TINY, "seed": 1})
    assert all(_digests(c)[k] != _digests(a)[k] for k in KEYS)
    info = provenance(a)
    assert info["schema"] == "xtb_md"
    assert info["generator"]["parameters"] == {"name": "xtb-md", **resolve_xtb_md(TINY)}
    d = load_molecules(a)
    assert d["numbers"].tolist() == [6, 6, 8, 1, 1, 1, 1, 1, 1]
    assert d["positions"].shape == d["forces"].shape == d["velocities"].shape == (6, 9, 3)
    assert d["energies"].shape == (6,) and d["positions"].dtype == np.float64
    assert d["tblite_version"] and d["ase_version"] and d["units"].startswith("positions: angstrom")
    # successive frames differ: the trajectory moves
    assert np.abs(np.diff(d["positions"], axis=0)).max() > 1e-3


def test_chunk_does_not_change_the_data(tmp_path) -> None:
    a = generate_xtb_md(tmp_path / "a.h5", progress=False, **TINY)
    b = generate_xtb_md(tmp_path / "b.h5", progress=False, **{**TINY, "chunk": 4})
    assert _digests(a) == _digests(b)


def test_interrupted_generation_resumes_to_the_same_arrays(tmp_path, monkeypatch) -> None:
    whole = generate_xtb_md(tmp_path / "whole.h5", progress=False, **TINY)
    original = xtb._frame

    def killed_in_block_two(p, numbers, positions, velocities, index):
        if index == 3:
            raise KeyboardInterrupt
        return original(p, numbers, positions, velocities, index)

    monkeypatch.setattr(xtb, "_frame", killed_in_block_two)
    with pytest.raises(KeyboardInterrupt):
        generate_xtb_md(tmp_path / "cut.h5", progress=False, **TINY)
    monkeypatch.setattr(xtb, "_frame", original)
    partial = tmp_path / "cut.h5.partial"
    assert partial.exists() and not (tmp_path / "cut.h5").exists()
    with h5py.File(partial) as h:
        assert int(h.attrs["tnkit_done"]) == 2
    done = generate_xtb_md(tmp_path / "cut.h5", progress=False, **TINY)
    assert _digests(done) == _digests(whole)
    assert not partial.exists()


def test_stored_energies_and_forces_are_xtb_in_ev_and_angstrom(tmp_path) -> None:
    d = load_molecules(generate_xtb_md(tmp_path / "e.h5", progress=False, **TINY))
    for i in (0, 5):
        atoms = _xtb(d["numbers"], d["positions"][i])
        assert atoms.get_potential_energy() == pytest.approx(d["energies"][i], abs=1e-6)
        np.testing.assert_allclose(atoms.get_forces(), d["forces"][i], rtol=0, atol=1e-5)
    # eV: the total GFN2-xTB energy of ethanol is about -11.4 Hartree
    assert -11.5 < d["energies"].mean() / units.Hartree < -11.3
    # forces are minus the gradient of the stored energy (central differences, 1e-3 Å)
    atoms = _xtb(d["numbers"], d["positions"][2])
    h = 1e-3
    for atom, axis in [(0, 0), (2, 1), (5, 2)]:
        energies = []
        for sign in (1, -1):
            moved = d["positions"][2].copy()
            moved[atom, axis] += sign * h
            atoms.positions = moved
            energies.append(atoms.get_potential_energy())
        assert -(energies[0] - energies[1]) / (2 * h) == pytest.approx(d["forces"][2][atom, axis], abs=1e-4)


def test_short_run_is_thermalised_and_intact(tmp_path) -> None:
    p = {"molecule": "ethanol", "frames": 60, "stride": 5, "equilibration": 400, "chunk": 60}
    d = load_molecules(generate_xtb_md(tmp_path / "t.h5", progress=False, **p))
    temperature = _temperature(d["numbers"], d["velocities"])
    assert 380 < temperature.mean() < 620, temperature.mean()
    # the centre of mass does not drift
    masses = Atoms(numbers=d["numbers"]).get_masses()
    com = np.einsum("a,fai->fi", masses, d["positions"]) / masses.sum()
    assert np.abs(com - com[0]).max() < 1e-8
    assert np.abs(np.einsum("a,fai->fi", masses, d["velocities"])).max() < 1e-10


def test_command_line(tmp_path, capsys) -> None:
    from tnkit.cli import main

    out = tmp_path / "cli.h5"
    argv = [
        "data",
        "generate",
        "xtb-md",
        "--molecule",
        "ethanol",
        "--out",
        str(out),
        "--samples",
        "4",
        "--set",
        "stride=2",
        "--set",
        "equilibration=4",
        "--set",
        "chunk=2",
        "--no-progress",
    ]
    assert main(argv) == 0
    assert "'xtb-md' is not in the manifest" in capsys.readouterr().out
    d = load_molecules(out)
    assert d["positions"].shape == (4, 9, 3) and d["molecule"] == "ethanol"
    ref = generate_xtb_md(tmp_path / "ref.h5", progress=False, **{**TINY, "frames": 4})
    assert _digests(out) == _digests(ref)
    assert main(["data", "generate", "xtb-md", "--molecule", "caffeine", "--out", str(tmp_path / "x.h5")]) == 1
    assert "unknown molecule 'caffeine'; known: ethanol, malonaldehyde" in capsys.readouterr().err


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"molecule": "caffeine"}, "unknown molecule 'caffeine'; known: ethanol, malonaldehyde, uracil"),
        ({"molecule": None}, r"molecule is required \(--molecule NAME\); known: ethanol"),
        ({"frames": 0}, "frames must be an int > 0"),
        ({"frames": 2.5}, "frames must be an int > 0"),
        ({"temperature": -5.0}, "temperature must be a finite number > 0"),
        ({"temperature": float("nan")}, "temperature must be a finite number > 0"),
        ({"timestep": 0}, "timestep must be a finite number > 0"),
        ({"stride": 0}, "stride must be an int > 0"),
        ({"friction": -0.1}, "friction must be a finite number >= 0"),
        ({"equilibration": -1}, "equilibration must be an int >= 0"),
        ({"method": "PM7"}, "method must be one of"),
        ({"pressure": 1.0}, "unknown parameter 'pressure'"),
    ],
)
def test_bad_parameters(tmp_path, overrides, match) -> None:
    with pytest.raises(ValueError, match=match):
        generate_xtb_md(tmp_path / "x.h5", progress=False, **{**TINY, **overrides})
    assert not list(tmp_path.iterdir())


def test_missing_tblite_says_how_to_install(tmp_path, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tblite.ase", None)
    with pytest.raises(ImportError, match=r"pip install 'tnkit\[chem\]'"):
        generate_xtb_md(tmp_path / "x.h5", progress=False, **TINY)


@pytest.mark.parametrize("key", ["forces", "energies", "positions"])
def test_loader_rejects_non_finite_values(tmp_path, key) -> None:
    d = load_molecules(generate_xtb_md(tmp_path / "ok.h5", progress=False, **{**TINY, "frames": 3}))
    arrays = {k: d[k].copy() for k in KEYS}
    arrays[key][(1,) + (0,) * (arrays[key].ndim - 1)] = np.nan if key != "energies" else np.inf
    save(tmp_path / "bad.h5", {**arrays, "numbers": d["numbers"]}, schema="xtb_md")
    with pytest.raises(DataError, match=rf"bad.h5: {key} hold NaN or Inf \(1 values, first in frame 1\)"):
        load_molecules(tmp_path / "bad.h5")


def test_loader_rejects_other_files(tmp_path) -> None:
    save(tmp_path / "o.h5", {"x": np.zeros(2)})
    with pytest.raises(DataError, match="not a molecular dataset"):
        load_molecules(tmp_path / "o.h5")
    save(
        tmp_path / "s.h5",
        {
            "numbers": np.array([1, 1]),
            "positions": np.zeros((3, 2, 3)),
            "energies": np.zeros(3),
            "forces": np.zeros((3, 3, 3)),
        },
    )
    with pytest.raises(DataError, match=r"forces has shape \(3, 3, 3\) \(float64\), expected \(3, 2, 3\)"):
        load_molecules(tmp_path / "s.h5")


def test_extxyz_round_trip(tmp_path) -> None:
    import ase.io

    d = load_molecules(generate_xtb_md(tmp_path / "x.h5", progress=False, **TINY))
    path = to_extxyz(tmp_path / "x.h5", tmp_path / "x.xyz")
    images = ase.io.read(path, ":")
    assert len(images) == 6
    for i, atoms in enumerate(images):
        assert atoms.numbers.tolist() == d["numbers"].tolist() and atoms.info["frame"] == i
        np.testing.assert_allclose(atoms.positions, d["positions"][i], rtol=0, atol=1e-8)
        np.testing.assert_allclose(atoms.get_forces(), d["forces"][i], rtol=0, atol=1e-8)
        assert atoms.get_potential_energy() == pytest.approx(d["energies"][i], abs=1e-8)
        np.testing.assert_allclose(atoms.get_velocities() * units.fs, d["velocities"][i], rtol=0, atol=1e-8)
    picked = ase.io.read(to_extxyz(d, tmp_path / "some.xyz", frames=[4, -1]), ":")
    assert [a.info["frame"] for a in picked] == [4, 5]
    with pytest.raises(ValueError, match="outside the 6 stored"):
        to_extxyz(d, tmp_path / "none.xyz", frames=[6])


def test_smiles_route_gives_a_relaxed_hydrogen_bonded_malonaldehyde() -> None:
    atoms = relaxed_molecule("malonaldehyde")
    assert MOLECULES["malonaldehyde"].g2 is None
    assert atoms.get_chemical_formula() == "C3H4O2" and "RDKit" in atoms.info["source"]
    atoms.calc = TBLite(method="GFN2-xTB", accuracy=1e-4, verbosity=0)
    assert np.abs(atoms.get_forces()).max() < 0.05
    # the Z-enol: the hydroxyl H points at the carbonyl O (intramolecular hydrogen bond)
    o = np.flatnonzero(atoms.numbers == 8)
    h = np.flatnonzero(atoms.numbers == 1)
    d = np.linalg.norm(atoms.positions[o][:, None] - atoms.positions[h][None], axis=-1)
    hydroxyl = np.unravel_index(np.argmin(d), d.shape)
    assert d[hydroxyl] < 1.1 and d[1 - hydroxyl[0], hydroxyl[1]] < 2.0


# ------------------------------------------------------------------------ committed datasets


def _bond_deviation(numbers, start, positions) -> float:
    """Largest change (Å) of a bonded distance (< 1.2 x sum of covalent radii at the start)."""
    from ase.data import covalent_radii

    r0 = np.linalg.norm(start[:, None] - start[None], axis=-1)
    bonded = np.triu(r0 < 1.2 * (covalent_radii[numbers][:, None] + covalent_radii[numbers][None]), 1)
    r = np.linalg.norm(positions[:, :, None] - positions[:, None], axis=-1)
    return float(np.abs(r - r0)[:, bonded].max())


@pytest.mark.parametrize("name, n_atoms", [("xtb_md_ethanol", 9), ("xtb_md_aspirin", 21)])
def test_committed_trajectories_are_sane(name, n_atoms) -> None:
    d = load_molecules(name)  # sha256-verified against the manifest
    assert d["molecule"] == SMALL[name][1]["molecule"] and d["numbers"].shape == (n_atoms,)
    assert d["positions"].shape == (2000, n_atoms, 3)
    temperature = _temperature(d["numbers"], d["velocities"])
    assert abs(temperature.mean() - 500) < 25, temperature.mean()
    assert _bond_deviation(d["numbers"], d["start_positions"], d["positions"]) < 0.5
    assert np.ptp(d["energies"]) < 0.3 * n_atoms  # no bond breaks, no runaway heating
    assert np.abs(d["forces"]).max() < 15


def test_committed_ethanol_regenerates(tmp_path) -> None:
    shipped = load_molecules("xtb_md_ethanol")
    recipe, params = SMALL["xtb_md_ethanol"]
    assert recipe == "xtb-md"
    fresh = load_molecules(generate_xtb_md(tmp_path / "head.h5", progress=False, **{**params, "frames": 2}))
    np.testing.assert_allclose(fresh["start_positions"], shipped["start_positions"], rtol=0, atol=1e-9)
    for key in KEYS:
        np.testing.assert_allclose(fresh[key], shipped[key][:2], rtol=0, atol=1e-6, err_msg=key)


@pytest.mark.slow
def test_committed_aspirin_regenerates(tmp_path) -> None:
    shipped = load_molecules("xtb_md_aspirin")
    _, params = SMALL["xtb_md_aspirin"]
    fresh = load_molecules(generate_xtb_md(tmp_path / "head.h5", progress=False, **{**params, "frames": 2}))
    for key in ("start_positions", *KEYS):
        np.testing.assert_allclose(
            fresh[key], shipped[key][:2] if key in KEYS else shipped[key], rtol=0, atol=1e-6, err_msg=key
        )
