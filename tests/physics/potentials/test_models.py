"""TensorNet, MACE and EGNN: symmetry, forces and stress against finite differences, batching, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physics.equivariant import assert_equivariant, decompose
from physics.potentials import EGNN, MACE, TensorNet, cosine_cutoff, fit_reference_energies
from physics.potentials import _tensornet as tn

ase = pytest.importorskip("ase")
from ase.build import bulk, molecule  # noqa: E402


def _ethanol(dtype=torch.float64):
    atoms = molecule("CH3CH2OH")
    return torch.tensor(atoms.numbers), torch.tensor(atoms.positions, dtype=dtype)


def _model(kind: str, dtype=torch.float64, seed: int = 0, **kw):
    torch.manual_seed(seed)
    if kind == "tensornet":
        return TensorNet(hidden_channels=16, num_layers=2, num_rbf=8, elements=(1, 6, 8, 14), dtype=dtype, **kw).eval()
    if kind.startswith("mace"):
        kw = {"backend": "dense", "average_neighbors": 8.0, **kw}
        if kind == "mace-tucker":
            kw.update(product_rank=3, product_format="tucker", backend="so2")
        return MACE(channels=8, l_max=2, num_layers=2, elements=(1, 6, 8, 14), dtype=dtype, **kw).eval()
    return EGNN(hidden_channels=16, num_layers=3, num_rbf=8, elements=(1, 6, 8, 14), dtype=dtype, **kw).eval()


def _randomise(model: torch.nn.Module, seed: int = 1) -> None:
    """Perturb every weight so no output is accidentally tiny (EGNN starts with small coordinate steps)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            # MACE's product basis is cubic in its features: perturb it relative to each weight's
            # scale, or the outputs reach 1e10 and absolute tolerances lose their meaning
            strength = 0.3 * float(p.pow(2).mean().sqrt()) if isinstance(model, MACE) else 0.3
            p.add_(strength * torch.randn(p.shape, generator=gen, dtype=p.dtype))


MODELS = ["tensornet", "mace", "mace-tucker", "egnn"]


# ------------------------------------------------------------------ compact tensor algebra


def test_compact_parts_match_cartesian_decomposition():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 3, 5, dtype=torch.float64, generator=gen)  # (..., 3, 3, H)
    i, a, s = tn._parts(x)
    dense = x.movedim(-1, 1)  # (4, H, 3, 3)
    di, da, ds = decompose(dense)
    assert torch.allclose(tn._full(i, a, s), x, atol=1e-14)
    assert torch.allclose(i.movedim(-1, 1)[..., None, None] * torch.eye(3, dtype=x.dtype), di, atol=1e-14)
    assert torch.allclose(tn._full(torch.zeros_like(i), a, torch.zeros_like(s)).movedim(-1, 1), da, atol=1e-14)
    assert torch.allclose(tn._full(torch.zeros_like(i), torch.zeros_like(a), s).movedim(-1, 1), ds, atol=1e-14)
    assert torch.allclose(tn._sq_norm(i, a, s), (x * x).sum((1, 2)), atol=1e-12)
    y = torch.randn(4, 3, 3, 5, dtype=torch.float64, generator=gen)
    ref = (dense @ y.movedim(-1, 1)).movedim(1, -1)
    assert torch.allclose(tn._matmul(x, y), ref, atol=1e-13)


def test_traceless_coordinates_are_those_of_uu_minus_trace():
    u = torch.nn.functional.normalize(torch.randn(7, 3, dtype=torch.float64), dim=-1)
    dense = u[:, :, None] * u[:, None, :] - torch.eye(3, dtype=u.dtype) / 3
    s = tn._traceless_coords(u)[..., None]  # (7, 5, 1)
    full = tn._full(torch.zeros(7, 1, dtype=u.dtype), torch.zeros(7, 3, 1, dtype=u.dtype), s)[..., 0]
    assert torch.allclose(full, dense, atol=1e-14)
    assert torch.allclose((s[..., 0] ** 2).sum(-1), (dense**2).sum((1, 2)), atol=1e-14)


def test_tensornet_matches_torchmdnet_parameter_count():
    # torchmd-net 3.1's TensorNet with max_z=128 and these defaults has 769,921 parameters
    # (read off torchmdnet.models.model.create_model); ours embeds 118 elements: 10 rows of 128 fewer.
    assert sum(p.numel() for p in TensorNet().parameters()) == 769_921 - 10 * 128


# ------------------------------------------------------------------ symmetry


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_energy_invariant_forces_equivariant(kind, dtype, atol):
    model = _model(kind, dtype)
    _randomise(model)
    numbers, positions = _ethanol(dtype)

    def fn(z, r):
        out = model(z, r)
        return out["energy"], out["forces"], out["atomic_energies"]

    assert_equivariant(fn, numbers, positions, kinds=("scalar", "vector", "atom_scalar"), atol=atol, trials=4)


def test_so3_tensornet_is_rotation_but_not_reflection_invariant():
    model = _model("tensornet", group="SO(3)")
    _randomise(model)
    numbers, positions = _ethanol()

    def fn(z, r):
        out = model(z, r)
        return out["energy"], out["forces"]

    assert_equivariant(fn, numbers, positions, kinds=("scalar", "vector"), group="SO(3)", atol=1e-10)
    # Ethanol's trans conformer has a mirror plane: rattle it into a chiral geometry first.
    positions = positions + 0.1 * torch.randn(
        positions.shape, generator=torch.Generator().manual_seed(3), dtype=positions.dtype
    )
    mirror = positions * torch.tensor([-1.0, 1.0, 1.0], dtype=positions.dtype)
    e, e_mirror = model(numbers, positions)["energy"], model(numbers, mirror)["energy"]
    assert abs(float(e - e_mirror)) > 1e-6  # the chiral variant tells mirror images apart
    o3 = _model("tensornet")
    _randomise(o3)
    assert abs(float(o3(numbers, positions)["energy"] - o3(numbers, mirror)["energy"])) < 1e-10


@pytest.mark.parametrize("kind", MODELS)
def test_periodic_energy_invariant_stress_equivariant(kind):
    model = _model(kind)
    _randomise(model)
    atoms = bulk("Si", "diamond", a=5.43) * (2, 1, 1)
    atoms.rattle(0.05, seed=1)
    cell = torch.tensor(np.asarray(atoms.cell))
    numbers, positions = torch.tensor(atoms.numbers), torch.tensor(atoms.positions)

    def fn(z, r, c):
        out = model(z, r, cell=c, stress=True)
        return out["energy"], out["forces"], out["stress"][0]

    assert_equivariant(fn, numbers, positions, cell=cell, kinds=("scalar", "vector", "rank2"), atol=1e-10)


# ------------------------------------------------------------------ derivatives


@pytest.mark.parametrize("kind", MODELS)
def test_forces_are_minus_the_energy_gradient(kind):
    model = _model(kind)
    _randomise(model)
    numbers, positions = _ethanol()
    forces = model(numbers, positions)["forces"]
    h = 1e-5
    for atom, axis in [(0, 0), (3, 1), (8, 2)]:
        plus, minus = positions.clone(), positions.clone()
        plus[atom, axis] += h
        minus[atom, axis] -= h
        fd = -(model(numbers, plus, forces=False)["energy"] - model(numbers, minus, forces=False)["energy"]) / (2 * h)
        assert abs(float(fd[0] - forces[atom, axis])) < 1e-7 * max(1.0, float(forces.abs().max()))


@pytest.mark.parametrize("kind", MODELS)
def test_stress_matches_finite_strain_derivative(kind):
    from ase.stress import full_3x3_to_voigt_6_stress

    model = _model(kind)
    _randomise(model)
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=2)
    numbers = torch.tensor(atoms.numbers)
    pos0, cell0 = np.asarray(atoms.positions), np.asarray(atoms.cell)
    out = model(numbers, torch.tensor(pos0), cell=torch.tensor(cell0), stress=True)
    volume = abs(np.linalg.det(cell0))
    fd = np.zeros((3, 3))
    h = 1e-6
    for i in range(3):
        for j in range(3):
            eps = np.zeros((3, 3))
            eps[i, j] = eps[j, i] = h / 2 if i != j else h
            energies = []
            for sign in (1, -1):
                deform = np.eye(3) + sign * eps
                e = model(numbers, torch.tensor(pos0 @ deform), cell=torch.tensor(cell0 @ deform), forces=False)
                energies.append(float(e["energy"][0]))
            fd[i, j] = (energies[0] - energies[1]) / (2 * h) / volume
    stress = out["stress"][0].numpy()
    assert np.allclose(stress, stress.T, atol=1e-12)
    assert np.allclose(full_3x3_to_voigt_6_stress(stress), full_3x3_to_voigt_6_stress(fd), atol=1e-8)


@pytest.mark.parametrize("kind", MODELS)
def test_energy_is_smooth_where_a_neighbour_crosses_the_cutoff(kind):
    model = _model(kind)
    _randomise(model)
    numbers = torch.tensor([6, 8])
    rc = model.cutoff
    energies, forces = [], []
    for d in (rc - 1e-6, rc + 1e-6):
        out = model(numbers, torch.tensor([[0.0, 0.0, 0.0], [d, 0.0, 0.0]]))
        energies.append(float(out["energy"][0]))
        forces.append(float(out["forces"][1, 0]))
    assert abs(energies[0] - energies[1]) < 1e-9
    assert abs(forces[0] - forces[1]) < 1e-4


@pytest.mark.parametrize("kind", MODELS)
def test_batch_equals_separate_molecules_and_isolated_atom_is_finite(kind):
    model = _model(kind)
    _randomise(model)
    mols = [molecule(n) for n in ("CH3CH2OH", "H2O", "CH4")]
    single = [model(torch.tensor(m.numbers), torch.tensor(m.positions)) for m in mols]
    numbers = torch.tensor(np.concatenate([m.numbers for m in mols]))
    positions = torch.tensor(np.concatenate([m.positions for m in mols]))
    batch = torch.tensor(np.repeat(np.arange(3), [len(m) for m in mols]))
    out = model(numbers, positions, batch=batch)
    assert torch.allclose(out["energy"], torch.cat([s["energy"] for s in single]), atol=1e-12)
    assert torch.allclose(out["forces"], torch.cat([s["forces"] for s in single]), atol=1e-12)
    lone = model(torch.tensor([8]), torch.zeros(1, 3, dtype=torch.float64))
    assert torch.isfinite(lone["energy"]).all() and float(lone["forces"].abs().max()) == 0.0


def test_training_graph_gives_parameter_gradients_of_force_loss():
    model = _model("tensornet")
    model.train()
    numbers, positions = _ethanol()
    out = model(numbers, positions, create_graph=True)
    (out["forces"] ** 2).sum().backward()
    named = {n: p.grad for n, p in model.named_parameters()}
    # Only the output bias cannot move a force (it shifts every energy by a constant).
    assert [n for n, g in named.items() if g is None] == ["head.2.bias"]
    assert all(torch.isfinite(g).all() and float(g.abs().sum()) > 0 for g in named.values() if g is not None)


# ------------------------------------------------------------------ reference energies and radial pieces


def test_reference_energies_recover_planted_values():
    rng = np.random.default_rng(0)
    truth = {1: -13.6, 6: -1029.0, 8: -2040.0}
    comps = [rng.choice([1, 6, 8], size=rng.integers(2, 12)) for _ in range(30)]
    energies = [sum(truth[int(z)] for z in c) + 1e-3 * rng.normal() for c in comps]
    fitted = fit_reference_energies(comps, energies)
    assert all(abs(fitted[z] - truth[z]) < 1e-2 for z in truth)
    model = _model("tensornet")
    got = model.fit_reference_energies(comps, energies)
    assert got == pytest.approx(fitted)
    rows = model.species(torch.tensor([1, 6, 8]))
    assert model.reference_energies[rows].tolist() == pytest.approx([fitted[1], fitted[6], fitted[8]])


def test_cosine_cutoff_values_and_slope():
    r = torch.linspace(0, 5, 101, dtype=torch.float64, requires_grad=True)
    f = cosine_cutoff(r, 4.0)
    assert torch.allclose(f.detach(), torch.where(r < 4, 0.5 * (torch.cos(torch.pi * r / 4) + 1), 0).detach())
    (g,) = torch.autograd.grad(f.sum(), r)
    assert float(g[r.detach() >= 4].abs().max()) == 0.0 and float(g[79:81].abs().max()) < 0.02


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("kind", MODELS)
def test_bad_input_errors(kind):
    model = _model(kind)
    numbers, positions = _ethanol()
    with pytest.raises(ValueError, match="unknown element Z=9"):
        model(torch.tensor([9, 1]), torch.tensor([[0.0, 0, 0], [1.0, 0, 0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown element Z=200"):
        TensorNet(8, 1, 4)(torch.tensor([200]), torch.zeros(1, 3))
    close = positions.clone()
    close[1] = close[0] + torch.tensor([0.05, 0.0, 0.0], dtype=close.dtype)
    with pytest.raises(ValueError, match="overlapping atoms"):
        model(numbers, close)
    with pytest.raises(ValueError, match="zero volume"):
        model(numbers, positions, cell=torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [5.0, 5.0, 0]], dtype=torch.float64))
    bad = positions.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(numbers, bad)
    with pytest.raises(ValueError, match="shape"):
        model(numbers[:-1], positions)
    with pytest.raises(ValueError, match="stress needs a cell"):
        model(numbers, positions, stress=True)
    with pytest.raises(ValueError, match="integers"):
        model(numbers.double(), positions)


def test_constructor_errors():
    with pytest.raises(ValueError, match="group"):
        TensorNet(group="E(3)")
    with pytest.raises(ValueError, match="activation"):
        EGNN(activation="relu6")
    with pytest.raises(ValueError, match="cutoff"):
        TensorNet(cutoff=0.0)
    with pytest.raises(ValueError, match="elements"):
        TensorNet(elements=(0, 1))
