"""MACE: backends agree, saving, calibration, training, the radial pieces and constructor errors.

The symmetry, force, stress, cutoff-smoothness, batching and bad-input checks shared by every
potential run for MACE in ``test_models.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from physics.equivariant import random_orthogonal
from physics.potentials import MACE, BesselBasis, Potential, evaluate, fit, neighbor_list, polynomial_cutoff
from tests.physics.potentials.test_fit import _morse_frames
from tnkit.run import Run

ase = pytest.importorskip("ase")
from ase.build import bulk, molecule  # noqa: E402


def _mace(seed: int = 0, **kw) -> MACE:
    torch.manual_seed(seed)
    kw = {"channels": 8, "l_max": 2, "elements": (1, 6, 8, 13, 29), "dtype": torch.float64, **kw}
    return MACE(**kw).eval()


def test_backends_give_the_same_energy_forces_and_stress():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.rattle(0.1, seed=0)
    numbers, positions = torch.tensor(atoms.numbers), torch.tensor(atoms.positions)
    cell = torch.tensor(atoms.cell.array)
    outs = {}
    for backend in ("dense", "so2", "auto"):
        model = _mace(backend=backend, average_neighbors=12.0)
        outs[backend] = model(numbers, positions, cell=cell, stress=True)
    for backend in ("so2", "auto"):
        for key in ("energy", "forces", "stress"):
            assert torch.allclose(outs[backend][key], outs["dense"][key], rtol=1e-10, atol=1e-12), (backend, key)


def test_save_and_load_predict_the_same(tmp_path):
    model = _mace(num_layers=3, correlation=2, hidden_l=2, average_neighbors=7.5, product_rank=3)
    path = model.save(tmp_path / "mace.pt")
    same = Potential.load(path)
    assert isinstance(same, MACE) and same.config() == model.config()
    numbers, positions = torch.tensor([8, 1, 1]), torch.tensor([[0.0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    a, b = model(numbers, positions.double()), same(numbers, positions.double())
    assert torch.equal(a["energy"], b["energy"]) and torch.equal(a["forces"], b["forces"])


def test_calibrate_sets_the_mean_neighbour_count():
    frames = _morse_frames(10)
    model = _mace(cutoff=1.2)
    model.calibrate(frames)
    counts = [neighbor_list(torch.tensor(frames[i].positions), 1.2).edge_index.shape[1] / 3 for i in range(10)]
    assert float(model.average_neighbors) == pytest.approx(np.mean(counts))


def test_every_parameter_moves_a_force():
    model = _mace(average_neighbors=3.0).train()
    atoms = molecule("CH3CH2OH")
    out = model(torch.tensor(atoms.numbers), torch.tensor(atoms.positions), create_graph=True)
    (out["forces"] ** 2).sum().backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or float(p.grad.abs().sum()) == 0]
    # only the per-element energy constants move no force; weights of elements not in ethanol
    # (Al, Cu rows) get no gradient, but their tensors have other rows that do
    assert silent == ["element_offsets"]


def test_fit_learns_a_morse_molecule():
    frames = _morse_frames(64)
    train, val = frames.split([48, 16], seed=0)
    torch.manual_seed(0)
    model = MACE(channels=8, l_max=2, elements=(1, 8), cutoff=3.0)
    before = evaluate(model, val)
    result = fit(model, train, val, epochs=25, batch_size=8, lr=5e-3, run=Run(progress=False))
    after = evaluate(result.model, val)
    assert float(result.model.average_neighbors) == pytest.approx(2.0)  # calibrated: a triatomic within 3 A
    assert after["force_mae"] < 0.5 * before["force_mae"]
    assert after["energy_mae"] < before["energy_mae"]


def test_bessel_basis_is_orthonormal_with_weight_r_squared():
    basis = BesselBasis(6, 4.0)
    x, w = np.polynomial.legendre.leggauss(400)
    r = torch.tensor((x + 1) * 2.0)  # (0, 4)
    phi = basis(r)
    gram = torch.einsum("k,ki,kj->ij", torch.tensor(w * 2.0) * r**2, phi, phi)
    assert torch.allclose(gram, torch.eye(6, dtype=torch.float64), atol=1e-10)


def test_polynomial_envelope_and_its_two_derivatives_vanish_at_the_cutoff():
    r = torch.tensor([2.999999, 3.0], dtype=torch.float64, requires_grad=True)
    f = polynomial_cutoff(r, 3.0, p=5)
    (g,) = torch.autograd.grad(f.sum(), r, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), r)
    assert float(f[0].detach()) < 1e-15 and float(g.detach().abs().max()) < 1e-9 and float(h.abs().max()) < 1e-3
    x = torch.linspace(0, 0.99, 50, dtype=torch.float64)
    assert bool((polynomial_cutoff(x, 1.0, p=6).diff() < 0).all())  # decreasing from 1 to 0
    assert float(polynomial_cutoff(torch.zeros(1), 2.0)) == 1.0
    assert math.isclose(float(polynomial_cutoff(torch.tensor([0.5]), 1.0, p=5)), 0.7734375)


def test_constructor_errors():
    with pytest.raises(ValueError, match="hidden_l"):
        MACE(l_max=1, hidden_l=2)
    with pytest.raises(ValueError, match="correlation must be 1..3"):
        MACE(correlation=4)
    with pytest.raises(ValueError, match="average_neighbors must be positive"):
        MACE(average_neighbors=0.0)
    with pytest.raises(ValueError, match="unknown backend"):
        MACE(backend="fast")
    with pytest.raises(ValueError, match="weight_format must be one of"):
        MACE(product_rank=4, product_format="tt")
    with pytest.raises(ValueError, match="basis must be one of"):
        MACE(product_basis="reduced")


def test_paths_product_basis_has_mace_torchs_parameters():
    """mace-torch 0.3.16 at these settings (l_max 3, hidden 0e + 1o, 32 channels, H C O) has
    93,520 parameters; tnkit's MACE has those plus one energy offset per element."""
    counts = {
        basis: sum(p.numel() for p in MACE(elements=(1, 6, 8), product_basis=basis).parameters())
        for basis in ("paths", "orthonormal")
    }
    assert counts["paths"] == 93520 + 3
    assert counts["orthonormal"] == counts["paths"] - (114 - 42) * 3 * 32  # weights per channel and element
    model = _mace(2, product_basis="paths")
    numbers = torch.tensor([8, 1, 1, 6])
    positions = torch.randn(4, 3, dtype=torch.float64) * 1.2
    R = random_orthogonal(dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    a, b = model(numbers, positions), model(numbers, positions @ R.T)
    assert torch.allclose(a["energy"], b["energy"], rtol=0, atol=1e-10)
    assert torch.allclose(a["forces"] @ R.T, b["forces"], rtol=0, atol=1e-10)


def test_mlps_are_e3nn_parametrised():
    """Radial MLP and readouts: standard-normal weights scaled by 1/sqrt(fan_in) in the forward pass
    (mace-torch's learning rates assume it), and unit-scale inputs stay unit scale."""
    torch.manual_seed(0)
    model = _mace(average_neighbors=3.0)
    radial = model.layers[0].radial
    weights = [p.detach() for p in radial.parameters()]
    assert weights and all(abs(float(w.std()) - 1.0) < 0.15 for w in weights if w.numel() > 200)
    x = torch.randn(4096, weights[0].shape[1], dtype=torch.float64)
    with torch.no_grad():
        y = radial(x)
        assert 0.5 < float(y.pow(2).mean()) < 2.0
        assert torch.allclose(radial.layers[0](x), x @ weights[0].t() / weights[0].shape[1] ** 0.5)
