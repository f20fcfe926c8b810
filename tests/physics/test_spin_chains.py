"""Sparse spin-chain Hamiltonians against a dense Kronecker-product construction."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse.linalg

from physics.spin_chains import HEISENBERG_OBC_L12_ENERGY, heisenberg_hamiltonian, sigma_z_profile
from tnkit import MPS, dmrg
from tnkit.mps import models

SX = np.array([[0, 1], [1, 0]]) / 2
SY = np.array([[0, -1j], [1j, 0]]) / 2
# Basis order (README "Conventions"): local index 0 is up (S^z = +1/2).
SZ = np.diag([0.5, -0.5])


def _site_op(op: np.ndarray, i: int, length: int) -> np.ndarray:
    # Site i is the i-th factor of the Kronecker product (site 0 most significant).
    factors = [np.eye(2)] * length
    factors[i] = op
    return functools.reduce(np.kron, factors)


def _dense(length: int, j: float, delta: float, h: float, periodic: bool) -> np.ndarray:
    bonds = [(i, i + 1) for i in range(length - 1)] + ([(length - 1, 0)] if periodic else [])
    out = np.zeros((2**length, 2**length), dtype=complex)
    for a, b in bonds:
        out += j * (
            _site_op(SX, a, length) @ _site_op(SX, b, length) + _site_op(SY, a, length) @ _site_op(SY, b, length)
        )
        out += j * delta * _site_op(SZ, a, length) @ _site_op(SZ, b, length)
    for a in range(length):
        out -= h * _site_op(SZ, a, length)
    return out


@pytest.mark.parametrize(
    "length,j,delta,h,periodic",
    [(3, 1.0, 1.0, 0.0, False), (4, 0.7, 0.3, 0.2, True), (5, -1.0, 2.0, 0.5, False), (6, 1.0, 1.0, 0.0, True)],
)
def test_matches_dense_kronecker(length, j, delta, h, periodic) -> None:
    sparse = heisenberg_hamiltonian(length, J=j, delta=delta, h=h, periodic=periodic).toarray()
    np.testing.assert_allclose(sparse, _dense(length, j, delta, h, periodic).real, atol=1e-14)
    assert np.allclose(_dense(length, j, delta, h, periodic).imag, 0)


def test_l12_ground_energy_matches_the_published_value() -> None:
    h = heisenberg_hamiltonian(12)
    e0 = scipy.sparse.linalg.eigsh(h, k=1, which="SA", tol=1e-12)[0][0]
    assert abs(e0 - HEISENBERG_OBC_L12_ENERGY) < 1e-11


def test_bad_length() -> None:
    with pytest.raises(ValueError, match="length must be in"):
        heisenberg_hamiltonian(1)


@pytest.mark.parametrize(
    "length,j,delta,h,periodic",
    [(2, 1.0, 1.0, 0.0, False), (4, 0.7, 0.3, 0.2, True), (5, -1.0, 2.0, 0.5, False), (6, 1.0, 0.5, -0.4, True)],
)
def test_same_matrix_as_the_tnkit_model(length, j, delta, h, periodic) -> None:
    # One convention: the sparse ED matrix and the MPO's dense form are the same matrix,
    # entry by entry, so vectors from either side can be compared without a permutation.
    sparse = heisenberg_hamiltonian(length, J=j, delta=delta, h=h, periodic=periodic).toarray()
    mpo = models.heisenberg(length, J=j, delta=delta, h=h, periodic=periodic).to_dense()
    np.testing.assert_allclose(sparse, mpo, rtol=0, atol=1e-14)


def test_product_state_magnetisation_agrees_in_sign() -> None:
    states = [0, 1, 1, 0, 0]  # index 0 = up
    psi = MPS.product(states, local_dim=2)
    sz = models.spin_operators(0.5)["z"]
    from_mps = 2 * np.asarray(psi.expect(sz))
    from_vector = sigma_z_profile(psi.to_dense(), len(states))
    np.testing.assert_array_equal(from_vector, [1.0, -1.0, -1.0, 1.0, 1.0])
    np.testing.assert_allclose(from_mps, from_vector, atol=1e-14)
    # The energy of the same state from both Hamiltonians.
    vec = psi.to_dense().reshape(-1)
    e_ed = vec @ (heisenberg_hamiltonian(5, delta=0.5, h=0.3) @ vec)
    e_mpo = float(models.heisenberg(5, delta=0.5, h=0.3).expectation(psi))
    assert abs(e_ed - e_mpo) < 1e-14


def test_field_magnetises_up_in_both_modules() -> None:
    # h > 0 favours up: the ground state has positive magnetisation from either module.
    length, h = 6, 1.2
    energies, vecs = scipy.sparse.linalg.eigsh(heisenberg_hamiltonian(length, h=h), k=1, which="SA", tol=1e-12)
    m_ed = sigma_z_profile(vecs[:, 0], length).sum() / 2
    res = dmrg(models.heisenberg(length, h=h), bond_dims=[8, 16], sector=None, rng=0)
    m_mps = float(models.total_sz(length).expectation(res.state))
    assert m_ed > 0.5
    assert abs(m_ed - m_mps) < 1e-8
    assert abs(float(res.energy) - energies[0]) < 1e-10
