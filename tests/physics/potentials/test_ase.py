"""ASE calculator and molecular-dynamics helper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

ase = pytest.importorskip("ase")
from ase.build import bulk, molecule  # noqa: E402
from ase.calculators.calculator import Calculator as AseCalculator  # noqa: E402
from ase.calculators.calculator import PropertyNotImplementedError, all_changes  # noqa: E402

from physics.potentials import EGNN, MACE, Calculator, TensorNet, bonds_of, run_md  # noqa: E402


def _model(cls=TensorNet, seed=0):
    torch.manual_seed(seed)
    if cls is MACE:
        return MACE(8, 2, elements=(1, 6, 8, 14), average_neighbors=8.0, dtype=torch.float64)
    return cls(16, 2, num_rbf=8, elements=(1, 6, 8, 14), dtype=torch.float64)


@pytest.mark.parametrize("cls", [TensorNet, MACE, EGNN])
def test_calculator_matches_the_model(cls):
    model = _model(cls)
    atoms = molecule("CH3CH2OH")
    atoms.calc = Calculator(model)
    out = model(torch.tensor(atoms.numbers), torch.tensor(atoms.positions))
    assert atoms.get_potential_energy() == pytest.approx(float(out["energy"][0]), abs=1e-12)
    assert np.allclose(atoms.get_forces(), out["forces"].numpy(), atol=1e-12)
    assert atoms.get_potential_energies().sum() == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()


@pytest.mark.parametrize("cls", [TensorNet, MACE])
def test_calculator_stress_matches_ase_numerical_stress(cls):
    model = _model(cls)
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=0)
    atoms.calc = Calculator(model)
    from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

    assert np.allclose(atoms.get_stress(), calculate_numerical_stress(atoms, eps=1e-5), atol=1e-8)
    # forces against ASE's finite differences too
    assert np.allclose(atoms.get_forces(), calculate_numerical_forces(atoms, eps=1e-5), atol=1e-7)


def test_calculator_refuses_other_models():
    with pytest.raises(TypeError, match="Potential"):
        Calculator(torch.nn.Linear(2, 2))


def test_nve_conserves_energy_and_error_shrinks_with_the_step():
    # An untrained model's forces push the molecule apart, but its dynamics still conserve energy.
    model = _model()
    atoms = molecule("CH3CH2OH")
    coarse = run_md(atoms, model, time_ps=0.03, timestep_fs=0.5, temperature_K=300, interval=5, progress=False)
    fine = run_md(atoms, model, time_ps=0.03, timestep_fs=0.25, temperature_K=300, interval=10, progress=False)
    assert coarse.temperature[0] == pytest.approx(fine.temperature[0])
    # velocity Verlet: the energy error is O(dt^2)
    assert fine.max_deviation < 0.5 * coarse.max_deviation
    assert coarse.max_deviation < 5.0  # meV/atom over 30 fs at 0.5 fs
    assert len(coarse.times) == 13 and coarse.times[-1] == pytest.approx(0.03)


class _HarmonicBonds(AseCalculator):
    """E = sum over the starting structure's bonds of 20 eV/A^2 (d - d0)^2."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, atoms):
        super().__init__()
        self.bonds = bonds_of(atoms)
        p = atoms.positions
        self.d0 = np.linalg.norm(p[self.bonds[:, 1]] - p[self.bonds[:, 0]], axis=1)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        p = self.atoms.positions
        v = p[self.bonds[:, 1]] - p[self.bonds[:, 0]]
        d = np.linalg.norm(v, axis=1)
        g = (40.0 * (d - self.d0) / d)[:, None] * v  # dE/d(p_j) for each bond (i, j)
        forces = np.zeros_like(p)
        np.add.at(forces, self.bonds[:, 1], -g)
        np.add.at(forces, self.bonds[:, 0], g)
        self.results = {"energy": float((20.0 * (d - self.d0) ** 2).sum()), "forces": forces}


def test_bound_molecule_is_stable_and_conserves_energy():
    atoms = molecule("CH3CH2OH")
    r = run_md(
        atoms, _HarmonicBonds(atoms), time_ps=0.2, timestep_fs=0.25, temperature_K=500, interval=8, progress=False
    )
    assert r.stable and r.unstable_time is None and 0 < r.max_bond_change < 0.5
    assert r.drift < 0.5 and r.max_deviation < 2.0  # meV/atom
    assert "stable" in r.summary()


class _FreeParticles(AseCalculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}


def test_md_reports_instability_when_bonds_break(tmp_path):
    atoms = molecule("H2O")
    r = run_md(
        atoms,
        _FreeParticles(),
        time_ps=0.2,
        timestep_fs=1.0,
        temperature_K=3000,
        interval=10,
        trajectory=tmp_path / "md.xyz",
        progress=False,
    )
    assert not r.stable and 0 < r.unstable_time < 0.2 and r.max_bond_change > 0.5
    frames = ase.io.read(tmp_path / "md.xyz", ":")
    assert len(frames) == len(r.times)
    stop = run_md(
        atoms,
        _FreeParticles(),
        time_ps=0.2,
        timestep_fs=1.0,
        temperature_K=3000,
        stop_when_unstable=True,
        progress=False,
    )
    assert stop.times[-1] <= r.unstable_time + 1e-12
    assert len(bonds_of(molecule("CH3CH2OH"))) == 8
    r.plot(tmp_path / "md.png")
    assert (tmp_path / "md.png").read_bytes()[:4] == b"\x89PNG"


def test_langevin_thermostat_reaches_the_bath_temperature():
    atoms = molecule("CH3CH2OH")
    r = run_md(
        atoms,
        _HarmonicBonds(atoms),
        time_ps=1.0,
        timestep_fs=0.5,
        temperature_K=600,
        ensemble="langevin",
        friction=0.05,
        interval=10,
        seed=1,
        progress=False,
    )
    # 9 atoms fluctuate a lot: the second half's mean within a broad band around the bath
    assert 400 < r.temperature[len(r.temperature) // 2 :].mean() < 800
    with pytest.raises(ValueError, match="ensemble"):
        run_md(atoms, _HarmonicBonds(atoms), ensemble="npt", progress=False)
