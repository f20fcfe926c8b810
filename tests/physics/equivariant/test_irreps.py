"""Rank-2 tensors as e3nn irreps, Wigner matrices and random rotations: against e3nn."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
o3 = pytest.importorskip("e3nn.o3")
e3nn_io = pytest.importorskip("e3nn.io")

from physics.equivariant import (  # noqa: E402
    RANK2_IRREPS,
    decompose,
    irreps_to_rank2,
    random_orthogonal,
    random_rotation,
    rank2_change_of_basis,
    rank2_to_irreps,
    rank2_wigner_D,
    skew,
    wigner_D,
)

# e3nn builds its change of basis and Wigner matrices in float32
E3NN_ATOL = 2e-6


def _tensors(dtype=torch.float64, n=10, seed=0):
    return torch.randn(n, 3, 3, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def test_basis_matches_e3nn_cartesian_tensor():
    cartesian = e3nn_io.CartesianTensor("ij")
    assert str(cartesian) == RANK2_IRREPS
    Q_e3nn = cartesian.reduced_tensor_products().change_of_basis.double()
    torch.testing.assert_close(rank2_change_of_basis(), Q_e3nn, rtol=0, atol=E3NN_ATOL)
    X = _tensors()
    torch.testing.assert_close(rank2_to_irreps(X), cartesian.from_cartesian(X.float()).double(), rtol=0, atol=1e-5)


@pytest.mark.parametrize(("dtype", "atol"), [(torch.float32, 2e-6), (torch.float64, 1e-14)])
def test_round_trip(dtype, atol):
    X = _tensors(dtype)
    torch.testing.assert_close(irreps_to_rank2(rank2_to_irreps(X)), X, rtol=0, atol=atol)
    c = torch.randn(10, 9, dtype=dtype, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(rank2_to_irreps(irreps_to_rank2(c)), c, rtol=0, atol=atol)
    Q = rank2_change_of_basis(dtype=dtype).reshape(9, 9)
    torch.testing.assert_close(Q @ Q.T, torch.eye(9, dtype=dtype), rtol=0, atol=atol)
    # an isometry: coefficient norm == Frobenius norm
    torch.testing.assert_close(rank2_to_irreps(X).norm(dim=-1), X.flatten(1).norm(dim=-1), rtol=10 * atol, atol=0)


def test_blocks_hold_the_parts():
    X = _tensors()
    I, A, S = decompose(X)
    c = rank2_to_irreps(X)
    torch.testing.assert_close(rank2_to_irreps(I)[:, 1:], torch.zeros(10, 8, dtype=torch.float64))
    torch.testing.assert_close(rank2_to_irreps(A)[:, [0, 4, 5, 6, 7, 8]], torch.zeros(10, 6, dtype=torch.float64))
    torch.testing.assert_close(rank2_to_irreps(S)[:, :4], torch.zeros(10, 4, dtype=torch.float64))
    torch.testing.assert_close(c[:, 0], X.diagonal(dim1=-2, dim2=-1).sum(-1) / 3**0.5)
    v = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    torch.testing.assert_close(rank2_to_irreps(skew(v))[1:4], -(2**0.5) * v)


@pytest.mark.parametrize("improper", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rotation_matches_e3nn_wigner_matrices(improper, dtype):
    X = _tensors(dtype)
    R = random_rotation(dtype=dtype, generator=3)
    if improper:
        R = -R
    lhs = rank2_to_irreps(R @ X @ R.T)
    D = o3.Irreps("0e + 1e + 2e").D_from_matrix(R)
    torch.testing.assert_close(lhs, rank2_to_irreps(X) @ D.T, rtol=0, atol=1e-5)
    torch.testing.assert_close(rank2_wigner_D(R), D, rtol=0, atol=E3NN_ATOL if dtype == torch.float64 else 1e-5)
    # ours is exact: equal to the closed-form rank-2 matrix, and to e3nn's up to its float32 rounding
    exact = 1e-13 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(wigner_D(RANK2_IRREPS, R), rank2_wigner_D(R), rtol=0, atol=exact)
    torch.testing.assert_close(wigner_D(RANK2_IRREPS, R), D, rtol=0, atol=E3NN_ATOL if dtype == torch.float64 else 1e-5)


def test_antisymmetric_part_is_a_pseudovector():
    """Under a reflection the l=1 block transforms as 1e, not as the vector irrep 1o."""
    X = _tensors()
    R = -random_rotation(generator=4)
    lhs = rank2_to_irreps(R @ X @ R.T)
    as_1e = rank2_to_irreps(X) @ o3.Irreps("0e + 1e + 2e").D_from_matrix(R).T
    as_1o = rank2_to_irreps(X) @ o3.Irreps("0e + 1o + 2e").D_from_matrix(R).T
    torch.testing.assert_close(lhs, as_1e, rtol=0, atol=1e-5)
    assert float((lhs[:, 1:4] - as_1o[:, 1:4]).abs().max()) > 0.1
    torch.testing.assert_close(lhs[:, [0, 4, 5, 6, 7, 8]], as_1o[:, [0, 4, 5, 6, 7, 8]], rtol=0, atol=1e-5)


def test_rank2_wigner_D_is_an_exact_representation():
    R1, R2 = random_orthogonal(2, generator=5)
    D = rank2_wigner_D
    torch.testing.assert_close(D(R1 @ R2), D(R1) @ D(R2), rtol=0, atol=1e-14)
    torch.testing.assert_close(D(R1) @ D(R1).T, torch.eye(9, dtype=torch.float64), rtol=0, atol=1e-14)
    batch = random_orthogonal(4, generator=6)
    torch.testing.assert_close(D(batch), torch.stack([D(r) for r in batch]))


def test_wigner_D_parities():
    R = -random_rotation(generator=7)
    torch.testing.assert_close(wigner_D("1o", R), R, rtol=0, atol=E3NN_ATOL)
    torch.testing.assert_close(wigner_D("1e", R), -R, rtol=0, atol=E3NN_ATOL)
    torch.testing.assert_close(wigner_D("0o", R), -torch.ones(1, 1, dtype=torch.float64))


def test_numpy_inputs():
    X = np.random.default_rng(0).standard_normal((3, 3))
    c = rank2_to_irreps(X)
    assert isinstance(c, np.ndarray) and c.shape == (9,)
    np.testing.assert_allclose(irreps_to_rank2(c), X, atol=1e-14)


def test_random_rotation_properties():
    R = random_rotation(2000, generator=0)
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(R @ R.transpose(-1, -2), eye.expand(2000, 3, 3), rtol=0, atol=1e-14)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(2000, dtype=torch.float64))
    # Haar measure: E[R] = 0 and E[R_ij^2] = 1/3 (standard error ~0.01)
    assert float(R.mean(0).abs().max()) < 0.05
    assert float(((R**2).mean(0) - 1 / 3).abs().max()) < 0.03
    # rotation angles: density (1 - cos t) / pi on [0, pi], so E[cos t] = -1/2
    cos = (R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    assert abs(float(cos.mean()) + 0.5) < 0.05


def test_random_rotation_seeds_dtypes_and_shapes():
    assert torch.equal(random_rotation(3, generator=1), random_rotation(3, generator=1))
    assert not torch.equal(random_rotation(3, generator=1), random_rotation(3, generator=2))
    g = torch.Generator().manual_seed(1)
    assert torch.equal(random_rotation(3, generator=g)[0], random_rotation(generator=1))
    assert random_rotation().shape == (3, 3)
    assert random_rotation(0).shape == (0, 3, 3)
    assert random_rotation(dtype=torch.float32, generator=0).dtype == torch.float32
    with pytest.raises(ValueError, match="non-negative int"):
        random_rotation(-1)
    with pytest.raises(TypeError, match="generator"):
        random_rotation(generator="seed")


def test_random_orthogonal():
    R = random_orthogonal(400, generator=0)
    det = torch.linalg.det(R)
    torch.testing.assert_close(det.abs(), torch.ones(400, dtype=torch.float64))
    assert 150 < int((det < 0).sum()) < 250
    proper = random_orthogonal(50, proper=True, generator=0)
    assert bool((torch.linalg.det(proper) > 0).all())
    assert random_orthogonal(generator=0).shape == (3, 3)


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        rank2_to_irreps(torch.zeros(9))
    with pytest.raises(ValueError, match=r"\(\.\.\., 9\)"):
        irreps_to_rank2(torch.zeros(3, 3))


def test_differentiable():
    X = _tensors(n=2).requires_grad_(True)
    assert torch.autograd.gradcheck(rank2_to_irreps, (X,))
    c = torch.randn(2, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(irreps_to_rank2, (c,))
