"""Long-range Ising test problem: operator, initial state and exact reference."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from physics.spin_chains import (
    long_range_ising_exact,
    long_range_ising_initial,
    long_range_ising_operator,
)

X = np.array([[0.0, 1.0], [1.0, 0.0]])
Z = np.diag([1.0, -1.0])
N_EXC = (np.eye(2) + Z) / 2  # projector on local state 0 (sigma_z = +1)


def _embed(ops: dict[int, np.ndarray], length: int) -> np.ndarray:
    # Site 0 is the leftmost (most significant) Kronecker factor.
    return functools.reduce(np.kron, [ops.get(k, np.eye(2)) for k in range(length)])


def _dense_reference(length, omega, detuning, nu, alpha):
    h = np.zeros((2**length, 2**length))
    for i in range(length):
        h += omega * _embed({i: X}, length) + detuning * _embed({i: N_EXC}, length)
    # (nu / 2) * sum over ordered pairs i != j == sum over unordered pairs, each once.
    for i in range(length):
        for j in range(length):
            if i != j:
                h += 0.5 * nu / abs(i - j) ** alpha * _embed({i: N_EXC}, length) @ _embed({j: N_EXC}, length)
    return h


@pytest.mark.parametrize(
    "params",
    [dict(), dict(omega=0.7, detuning=-2.0, nu=1.5, alpha=3.0), dict(omega=1.0, detuning=0.0, nu=2.0, alpha=0.0)],
)
def test_operator_matches_dense_kron(params):
    full = dict(omega=1.0, detuning=1.0, nu=2.0, alpha=1.0) | params
    op = long_range_ising_operator(4, **full)
    assert op.dims == (2, 2, 2, 2)
    np.testing.assert_allclose(op.to_dense(), _dense_reference(4, **full), atol=1e-13)


def test_operator_hermitian_and_apply_dense():
    op = long_range_ising_operator(5, omega=0.3, detuning=-1.0, nu=2.0, alpha=1.5)
    h = op.to_dense()
    np.testing.assert_allclose(h, h.conj().T, atol=0)
    y = np.random.default_rng(1).standard_normal((2,) * 5)
    np.testing.assert_allclose(op.apply_dense(y).reshape(-1), h @ y.reshape(-1), atol=1e-12)


def test_initial_state():
    psi = long_range_ising_initial(5)
    assert psi.shape == (2,) * 5
    assert np.isclose(np.linalg.norm(psi), 1.0)
    assert psi.reshape(-1)[0] == 1.0
    # all spins excited: energy L * detuning + sum_{i<j} nu / |i-j|^alpha
    h = long_range_ising_operator(5).to_dense()
    v = psi.reshape(-1)
    expected = 5 * 1.0 + sum(2.0 / (j - i) for i in range(5) for j in range(i + 1, 5))
    assert np.isclose(np.vdot(v, h @ v).real, expected)


def test_exact_norm_and_initial_sz():
    times = [0.0, 0.3, 1.0, 0.6]
    ref = long_range_ising_exact(6, times, omega=1.0, detuning=1.0, nu=2.0, alpha=1.0)
    assert ref["states"].shape == (4, 2**6)
    assert ref["sz"].shape == (4, 6)
    np.testing.assert_allclose(np.linalg.norm(ref["states"], axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(ref["norm"], 1.0, atol=1e-12)
    np.testing.assert_allclose(ref["sz"][0], 1.0)
    np.testing.assert_allclose(ref["states"][0], long_range_ising_initial(6).reshape(-1))
    # mirror symmetry of the chain and of the initial state
    np.testing.assert_allclose(ref["sz"], ref["sz"][:, ::-1], atol=1e-12)


def test_exact_matches_dense_expm():
    import scipy.linalg

    h = long_range_ising_operator(4, omega=0.8, detuning=0.5, nu=1.0, alpha=2.0).to_dense()
    ref = long_range_ising_exact(4, [0.7], omega=0.8, detuning=0.5, nu=1.0, alpha=2.0)
    psi = scipy.linalg.expm(-0.7j * h) @ long_range_ising_initial(4).reshape(-1)
    np.testing.assert_allclose(ref["states"][0], psi, atol=1e-10)
    zs = [np.vdot(psi, _embed({i: Z}, 4) @ psi).real for i in range(4)]
    np.testing.assert_allclose(ref["sz"][0], zs, atol=1e-10)


@pytest.mark.parametrize("bad", [dict(length=1), dict(length=0), dict(length=2.5), dict(length=4, alpha=-0.5)])
def test_bad_inputs(bad):
    with pytest.raises(ValueError):
        long_range_ising_operator(**bad)
    n = bad["length"]
    with pytest.raises(ValueError):
        long_range_ising_exact(n, [0.1], **{k: v for k, v in bad.items() if k != "length"})


def test_initial_bad_input():
    with pytest.raises(ValueError):
        long_range_ising_initial(1)
