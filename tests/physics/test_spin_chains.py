"""Sparse spin-chain Hamiltonians against a dense Kronecker-product construction."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse.linalg

from physics.spin_chains import HEISENBERG_OBC_L12_ENERGY, heisenberg_hamiltonian

SX = np.array([[0, 1], [1, 0]]) / 2
SY = np.array([[0, -1j], [1j, 0]]) / 2
# Basis order: bit i of the state index is site i, and "up" (S^z=+1/2) is bit value 1.
SZ = np.diag([-0.5, 0.5])


def _site_op(op: np.ndarray, i: int, length: int) -> np.ndarray:
    # Site i is bit i, i.e. the (length-1-i)-th factor of the Kronecker product.
    factors = [np.eye(2)] * length
    factors[length - 1 - i] = op
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
    sparse = heisenberg_hamiltonian(length, coupling=j, anisotropy=delta, field=h, periodic=periodic).toarray()
    np.testing.assert_allclose(sparse, _dense(length, j, delta, h, periodic).real, atol=1e-14)
    assert np.allclose(_dense(length, j, delta, h, periodic).imag, 0)


def test_l12_ground_energy_matches_the_published_value() -> None:
    h = heisenberg_hamiltonian(12)
    e0 = scipy.sparse.linalg.eigsh(h, k=1, which="SA", tol=1e-12)[0][0]
    assert abs(e0 - HEISENBERG_OBC_L12_ENERGY) < 1e-11


def test_bad_length() -> None:
    with pytest.raises(ValueError, match="length must be in"):
        heisenberg_hamiltonian(1)
