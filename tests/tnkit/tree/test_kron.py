"""Kronecker-sum operators against explicit ``np.kron`` products, mode-wise application
against the sparse matrix, conversion from OpSum, and input validation."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import random_array
from tnkit.mps.opsum import OpSum
from tnkit.tree.kron import KronOperator

X = np.array([[0.0, 1.0], [1.0, 0.0]])
Y = np.array([[0.0, -1j], [1j, 0.0]])
Z = np.diag([1.0, -1.0])


def kron_all(mats) -> np.ndarray:
    out = np.ones((1, 1))
    for m in mats:
        out = np.kron(out, m)
    return out


def test_terms_against_np_kron() -> None:
    rng = np.random.default_rng(0)
    dims = (2, 3, 2)
    a = random_array(rng, (2, 2), "float64")
    b = random_array(rng, (3, 3), "complex128")
    c = random_array(rng, (2, 2), "float64")
    op = KronOperator(dims).add({0: a, 2: c}, coef=0.5).add({1: b}, coef=2 - 1j).add({})
    i2, i3 = np.eye(2), np.eye(3)
    ref = 0.5 * kron_all([a, i3, c]) + (2 - 1j) * kron_all([i2, b, i2]) + np.eye(12)
    assert op.num_terms == 3 and op.shape == (12, 12) and op.is_complex and not op.time_dependent
    np.testing.assert_allclose(op.to_dense(), ref, atol=1e-14)
    np.testing.assert_allclose(op.to_sparse().toarray(), ref, atol=1e-14)
    # factor order inside a dict does not matter
    op2 = KronOperator(dims).add({2: c, 0: a}, coef=0.5)
    np.testing.assert_allclose(op2.to_dense(), 0.5 * kron_all([a, i3, c]), atol=1e-14)
    # a real operator stays real
    real = KronOperator(dims).add({0: a})
    assert not real.is_complex and real.to_dense().dtype == np.float64


def test_time_dependent_scaling_and_sum() -> None:
    dims = (2, 2, 2)
    op = KronOperator(dims).add({0: Z, 1: Z}).add({1: X}, coef=np.cos).add({2: Y}, coef=lambda t: 1j * t)
    assert op.time_dependent
    i2 = np.eye(2)

    def ref(t):
        return kron_all([Z, Z, i2]) + np.cos(t) * kron_all([i2, X, i2]) + 1j * t * kron_all([i2, i2, Y])

    for t in (0.0, 0.7, 2.3):
        np.testing.assert_allclose(op.to_dense(t), ref(t), atol=1e-14)
        np.testing.assert_allclose((-1j * op).to_dense(t), -1j * ref(t), atol=1e-14)
        np.testing.assert_allclose((op * 3).to_dense(t), 3 * ref(t), atol=1e-14)
        np.testing.assert_allclose((-op).to_dense(t), -ref(t), atol=1e-14)
    other = KronOperator(dims).add({2: X}, coef=lambda t: t**2)
    s = (-1j * op) + 2.0 * other
    for t in (0.3, 1.1):
        want = -1j * ref(t) + 2.0 * t**2 * kron_all([i2, i2, X])
        np.testing.assert_allclose(s.to_dense(t), want, atol=1e-14)
        np.testing.assert_allclose(s.coefficients(t), [-1j, -1j * np.cos(t), -1j * 1j * t, 2 * t**2], atol=1e-14)
    # scaling does not modify the original
    np.testing.assert_allclose(op.to_dense(0.5), ref(0.5), atol=1e-14)


@pytest.mark.parametrize("dims", [(2, 3, 4), (3,), (2, 2, 2, 2)])
def test_apply_dense_matches_sparse_matvec(dims) -> None:
    rng = np.random.default_rng(1)
    op = KronOperator(dims)
    for k in range(4):
        modes = rng.choice(len(dims), size=min(2, len(dims)), replace=False)
        op.add(
            {int(m): random_array(rng, (dims[m], dims[m]), "complex128") for m in modes},
            coef=(lambda t, k=k: np.exp(1j * k * t)),
        )
    y = random_array(rng, dims, "complex128")
    for t in (0.0, 0.9):
        np.testing.assert_allclose(op.apply_dense(y, t), (op.to_sparse(t) @ y.reshape(-1)).reshape(dims), atol=1e-12)
    yr = random_array(rng, dims, "float64")
    real = KronOperator(dims).add({0: random_array(rng, (dims[0], dims[0]), "float64")}, coef=-0.5)
    out = real.apply_dense(yr)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.reshape(-1), real.to_sparse() @ yr.reshape(-1), atol=1e-12)


def test_from_opsum_matches_opsum_sparse() -> None:
    h = OpSum(2, 4)
    for i in range(3):
        h.add(-1.0, (Z, i), (Z, i + 1))
        h.add(0.3j, (X, i), (Y, i + 1))
    for i in range(4):
        h.add(-0.5, (X, i))
    h.add(0.25, (X, 1), (Z, 1))  # two operators on one site multiply in order
    h.add(1.5, (Z, 0), (Z, 3))
    op = KronOperator.from_opsum(h)
    assert op.dims == (2, 2, 2, 2)
    np.testing.assert_allclose(op.to_dense(), h.to_sparse().toarray(), atol=1e-14)


def test_norm_bound() -> None:
    rng = np.random.default_rng(2)
    op = KronOperator((2, 3)).add({0: random_array(rng, (2, 2), "float64")}, coef=-2.0)
    op.add({0: Z, 1: random_array(rng, (3, 3), "complex128")}, coef=np.sin)
    for t in (0.0, 1.0):
        assert np.linalg.norm(op.to_dense(t), 2) <= op.norm_bound(t) * (1 + 1e-12)
    np.testing.assert_allclose(KronOperator((2, 2)).add({0: Z}).add({1: X}).norm_bound(), 2.0)


def test_bad_input() -> None:
    op = KronOperator((2, 3))
    with pytest.raises(ValueError, match="mode 2 is not one of 0..1"):
        op.add({2: Z})
    with pytest.raises(ValueError, match="mode -1 is not one of"):
        op.add({-1: Z})
    with pytest.raises(ValueError, match="mode True is not one of"):
        op.add({True: Z})
    with pytest.raises(ValueError, match="factor on mode 1 has shape \\(2, 2\\), the mode has dimension 3"):
        op.add({1: Z})
    with pytest.raises(ValueError, match="expected a matrix"):
        op.add({0: np.ones(2)})
    with pytest.raises(ValueError, match="NaN or Inf"):
        op.add({0: np.array([[np.nan, 0.0], [0.0, 1.0]])})
    with pytest.raises(ValueError, match="NaN or Inf"):
        op.add({0: np.array([[np.inf, 0.0], [0.0, 1.0]])})
    with pytest.raises(ValueError, match="coefficient is NaN or Inf"):
        op.add({0: Z}, coef=float("nan"))
    with pytest.raises(TypeError, match="numeric"):
        op.add({0: np.array([["a", "b"], ["c", "d"]])})
    assert op.num_terms == 0  # nothing half-added
    with pytest.raises(ValueError, match="at least one mode"):
        KronOperator(())
    with pytest.raises(ValueError, match="positive"):
        KronOperator((2, 0))
    with pytest.raises(ValueError, match="cannot add operators"):
        KronOperator((2, 3)) + KronOperator((3, 2))
    with pytest.raises(ValueError, match="tensor has shape"):
        KronOperator((2, 3)).add({0: Z}).apply_dense(np.ones((3, 2)))
    with pytest.raises(TypeError):
        op * "x"


def test_lognorm_bound_against_dense_hermitian_part() -> None:
    rng = np.random.default_rng(5)
    skew = random_array(rng, (3, 3), "float64")
    skew = skew - skew.T
    sym = random_array(rng, (2, 2), "float64")
    sym = sym + sym.T
    cases = [
        (-1j * KronOperator((2, 3)).add({0: Z, 1: np.diag([1.0, 2.0, 3.0])}).add({0: X}), 0.0),  # Schrödinger
        (KronOperator((2, 3)).add({1: skew}).add({0: sym, 1: skew}), 0.0),  # skew-symmetric terms
        (KronOperator((2, 3)).add({0: sym, 1: np.diag([-1.0, 0.5, 2.0])}, coef=-0.5), None),  # Hermitian
        (KronOperator((2, 3)).add({0: random_array(rng, (2, 2), "float64")}).add({1: sym[:1, :1] * np.eye(3)}), None),
    ]
    for op, exact in cases:
        a = op.to_dense()
        mu = float(np.linalg.eigvalsh((a + a.conj().T) / 2).max())
        bound = op.lognorm_bound()
        assert mu <= bound + 1e-12
        if exact is not None:
            assert bound == exact
    # a single Hermitian term: the bound is the exact largest eigenvalue
    op = cases[2][0]
    np.testing.assert_allclose(op.lognorm_bound(), np.linalg.eigvalsh(op.to_dense()).max(), atol=1e-12)
