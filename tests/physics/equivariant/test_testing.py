"""assert_invariant / assert_equivariant: correct functions pass, broken ones fail with a useful message."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from physics.equivariant import (  # noqa: E402
    KINDS,
    assert_equivariant,
    assert_invariant,
    equivariance_errors,
    random_transformation,
)
from physics.potentials import neighbor_list  # noqa: E402

DTYPES = [torch.float32, torch.float64]


def _structure(dtype, n=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    positions = 1.5 * torch.randn(n, 3, dtype=torch.float64, generator=g)
    numbers = torch.randint(1, 9, (n,), generator=g)
    return numbers, positions.to(dtype)


def _pair_energy(numbers, positions):
    """Morse-like pair energy with element-dependent strength (so permutations matter)."""
    i, j = torch.triu_indices(len(numbers), len(numbers), offset=1)
    r = torch.linalg.vector_norm(positions[j] - positions[i], dim=-1)
    strength = torch.sqrt(numbers[i] * numbers[j]).to(positions.dtype)
    return (strength * (1 - torch.exp(-(r - 1.2))) ** 2).sum()


def energy_forces(numbers, positions):
    positions = positions.detach().requires_grad_(True)
    energy = _pair_energy(numbers, positions)
    (grad,) = torch.autograd.grad(energy, positions)
    return energy, -grad


def _weights(positions):
    r2 = ((positions[:, None, :] - positions[None, :, :]) ** 2).sum(-1)
    return torch.exp(-r2 / 4)


def per_atom_quantities(numbers, positions):
    """Coordination numbers, sum_j w_ij r_ij r_ij^T per atom, and its sum."""
    w = _weights(positions)
    d = positions[None, :, :] - positions[:, None, :]  # r_ij = x_j - x_i
    outer = (w[..., None, None] * d[..., :, None] * d[..., None, :]).sum(1)
    coordination = w.sum(1) - 1
    return coordination, outer, outer.sum(0)


def pseudovectors(numbers, positions):
    """p_i = a_i x sum_j w_ij a_j, with a the positions about the centroid: a pseudovector per atom."""
    a = positions - positions.mean(0)
    return torch.linalg.cross(a, _weights(positions) @ a)


@pytest.mark.parametrize("dtype", DTYPES)
def test_correct_functions_pass(dtype):
    numbers, positions = _structure(dtype)
    assert_invariant(lambda z, x: _pair_energy(z, x), numbers, positions)
    assert_equivariant(energy_forces, numbers, positions, kinds=("scalar", "vector"))
    assert_equivariant(per_atom_quantities, numbers, positions, kinds=("atom_scalar", "atom_rank2", "rank2"), trials=4)
    assert_equivariant(pseudovectors, numbers, positions, kinds="pseudovector")
    # centre of mass (atomic numbers as masses): a vector that moves with translations, so test without them
    com = lambda z, x: (z.to(x.dtype)[:, None] * x).sum(0) / z.sum()  # noqa: E731
    assert_equivariant(com, numbers, positions, kinds="global_vector", translations=False)
    with pytest.raises(AssertionError, match="fails alone under: translation$"):
        assert_equivariant(com, numbers, positions, kinds="global_vector")
    # dipole of a neutral system: translation invariant
    charges = lambda z: (z % 2 * 2 - 1).to(dtype) - ((z % 2 * 2 - 1).to(dtype)).mean()  # noqa: E731
    dipole = lambda z, x: (charges(z)[:, None] * x).sum(0)  # noqa: E731
    assert_equivariant(dipole, numbers, positions, kinds="global_vector")


@pytest.mark.parametrize("dtype", DTYPES)
def test_energy_depending_on_a_coordinate_fails(dtype):
    numbers, positions = _structure(dtype)
    with pytest.raises(
        AssertionError,
        match=r"output 0 \(scalar\).*max \|error\|.*fails alone under: rotation, reflection \(inversion\), translation",
    ):
        assert_invariant(lambda z, x: _pair_energy(z, x) + x[:, 0].sum(), numbers, positions)
    with pytest.raises(AssertionError, match="fails alone under: rotation"):
        assert_invariant(lambda z, x: _pair_energy(z, x) + x[:, 0].sum(), numbers, positions, translations=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_forces_not_permuted_fail(dtype):
    numbers, positions = _structure(dtype)

    def reversed_forces(z, x):
        energy, forces = energy_forces(z, x)
        return energy, forces.flip(0)

    with pytest.raises(AssertionError, match=r"output 1 \(vector\).*fails alone under: permutation$"):
        assert_equivariant(reversed_forces, numbers, positions, kinds=("scalar", "vector"))
    assert_equivariant(reversed_forces, numbers, positions, kinds=("scalar", "vector"), permutations=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pseudovector_declared_as_vector(dtype):
    numbers, positions = _structure(dtype)
    with pytest.raises(AssertionError, match=r"output 0 \(vector\).*fails alone under: reflection \(inversion\)$"):
        assert_equivariant(pseudovectors, numbers, positions, kinds="vector")
    assert_equivariant(pseudovectors, numbers, positions, kinds="vector", group="SO(3)")
    # and a true vector declared as a pseudovector fails the same way
    with pytest.raises(AssertionError, match="reflection"):
        assert_equivariant(energy_forces, numbers, positions, kinds=("scalar", "pseudovector"))


def test_rank2_declared_per_atom_or_global_is_checked():
    numbers, positions = _structure(torch.float64)
    with pytest.raises(AssertionError, match="output 2"):
        # the global tensor transposed: R X^T R^T != R X R^T for a non-symmetric X
        assert_equivariant(
            lambda z, x: (*per_atom_quantities(z, x)[:2], per_atom_quantities(z, x)[2] + x.T @ torch.roll(x, 1, 0)),
            numbers,
            positions,
            kinds=("atom_scalar", "atom_rank2", "rank2"),
        )


def _periodic_energy(numbers, positions, cell):
    nl = neighbor_list(positions, 3.0, cell=cell)
    r = torch.linalg.vector_norm(nl.vectors(positions), dim=-1)
    i, j = nl.edge_index
    return (numbers[i] * numbers[j] * torch.exp(-r)).sum()


def test_periodic_function_with_lattice_shifts():
    g = torch.Generator().manual_seed(0)
    cell = torch.tensor([[4.0, 0.0, 0.0], [1.0, 4.5, 0.0], [0.5, 0.3, 5.0]], dtype=torch.float64)
    positions = torch.rand(6, 3, dtype=torch.float64, generator=g) @ cell
    numbers = torch.tensor([1, 6, 8, 1, 1, 7])
    assert_invariant(_periodic_energy, numbers, positions, cell=cell, trials=4)

    def ignores_images(z, x, c):
        i, j = torch.triu_indices(len(z), len(z), offset=1)
        return (torch.exp(-torch.linalg.vector_norm(x[j] - x[i], dim=-1))).sum()

    with pytest.raises(AssertionError, match="fails alone under: lattice shift of single atoms"):
        assert_invariant(ignores_images, numbers, positions, cell=cell)
    assert_invariant(ignores_images, numbers, positions, cell=cell, translations=False)


def test_tolerance_is_relative_to_the_output_scale():
    numbers, positions = _structure(torch.float64)
    slightly_off = lambda z, x: 1e3 * _pair_energy(z, x) + 1e-6 * x[0, 0]  # noqa: E731
    assert_invariant(slightly_off, numbers, positions, atol=1e-8)
    with pytest.raises(AssertionError, match="tolerance"):
        assert_invariant(slightly_off, numbers, positions)


def test_random_transformation():
    cell = torch.diag(torch.tensor([3.0, 4.0, 5.0], dtype=torch.float64))
    T = random_transformation(5, cell=cell, pbc=[True, False, True], improper=True, generator=0)
    assert round(float(torch.linalg.det(T.rotation)), 12) == -1.0
    assert sorted(T.permutation.tolist()) == list(range(5))
    assert bool((T.lattice_shifts[:, 1] == 0).all()) and bool(T.lattice_shifts.abs().max() <= 1)
    same = random_transformation(5, cell=cell, pbc=[True, False, True], improper=True, generator=0)
    assert all(torch.equal(a, b) for a, b in zip(T, same))
    numbers = torch.arange(5)
    positions = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    new_numbers, moved, new_cell = T.apply(numbers, positions, cell)
    manual = (positions[T.permutation] + T.lattice_shifts.double() @ cell) @ T.rotation.T + T.translation
    torch.testing.assert_close(moved, manual)
    torch.testing.assert_close(new_cell, cell @ T.rotation.T)
    assert torch.equal(new_numbers, T.permutation)
    still = random_transformation(4, translations=False, permutations=False, group="SO(3)", generator=2)
    assert not still.translation.any() and torch.equal(still.permutation, torch.arange(4))
    assert float(torch.linalg.det(still.rotation)) > 0
    assert random_transformation(3, dtype=torch.float32, generator=0).rotation.dtype == torch.float32


def test_input_errors():
    numbers, positions = _structure(torch.float64)
    with pytest.raises(ValueError, match="unknown output kind"):
        assert_equivariant(energy_forces, numbers, positions, kinds=("scalar", "force"))
    with pytest.raises(ValueError, match="2 outputs but 1 kinds"):
        assert_equivariant(energy_forces, numbers, positions, kinds="scalar")
    with pytest.raises(ValueError, match="one row per atom"):
        assert_equivariant(lambda z, x: x[:3], numbers, positions, kinds="vector")
    with pytest.raises(ValueError, match=r"end in shape \(3,\)"):
        assert_equivariant(lambda z, x: x[:, :2], numbers, positions, kinds="vector")
    with pytest.raises(ValueError, match="group must be"):
        assert_invariant(lambda z, x: x.sum(), numbers, positions, group="E(3)")
    with pytest.raises(ValueError, match="SO\\(3\\) holds proper rotations only"):
        random_transformation(3, group="SO(3)", improper=True)
    with pytest.raises(ValueError, match="pbc needs a cell"):
        random_transformation(3, pbc=True)
    with pytest.raises(ValueError, match=r"positions must have shape \(n, 3\)"):
        assert_invariant(lambda z, x: x.sum(), numbers, positions[:, :2])
    with pytest.raises(TypeError, match="must return tensors"):
        assert_invariant(lambda z, x: 1.0, numbers, positions)
    assert set(KINDS) == {"scalar", "atom_scalar", "vector", "pseudovector", "global_vector", "rank2", "atom_rank2"}


def test_equivariance_errors_measure_what_the_assertion_compares():
    numbers, positions = _structure(torch.float64)

    def reversed_forces(z, x):
        energy, forces = energy_forces(z, x)
        return energy, forces.flip(0)

    good = equivariance_errors(energy_forces, numbers, positions, kinds=("scalar", "vector"))
    bad = equivariance_errors(reversed_forces, numbers, positions, kinds=("scalar", "vector"))
    assert max(good) < 1e-12
    assert bad[0] < 1e-12 and bad[1] > 1e-2  # only the unpermuted forces are off
    # the assertion's verdict agrees with the measurement at a tolerance on either side of it
    assert_equivariant(reversed_forces, numbers, positions, kinds=("scalar", "vector"), atol=1.01 * bad[1])
    with pytest.raises(AssertionError, match="output 1"):
        assert_equivariant(reversed_forces, numbers, positions, kinds=("scalar", "vector"), atol=0.99 * bad[1])
