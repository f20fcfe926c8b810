"""Matrix ODE test problems for dynamical low-rank integrators."""

from __future__ import annotations

import numpy as np
import pytest

from physics.pde.matrix_odes import (
    discrete_schrodinger_problem,
    random_skew_symmetric,
    skew_rotation_problem,
)


def _fd_derivative(exact, t, h):
    return (exact(t + h) - exact(t - h)) / (2 * h)


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_skew_symmetric():
    w = random_skew_symmetric(7, np.random.default_rng(3))
    np.testing.assert_allclose(w, -w.T)


def test_skew_rotation_operator_matches_definition():
    p = skew_rotation_problem(n=15, seed=2)
    w1, w2 = p.data["W1"], p.data["W2"]
    y = np.random.default_rng(0).standard_normal((15, 15))
    np.testing.assert_allclose(p.operator.apply_dense(y), w1 @ y + y + y @ w2.T, atol=1e-12)
    np.testing.assert_allclose(p.rhs(0.0, y), w1 @ y + y + y @ w2.T, atol=1e-12)
    assert p.operator.dims == (15, 15)


def test_skew_rotation_exact_solves_ode():
    p = skew_rotation_problem(n=20, seed=5)
    np.testing.assert_allclose(p.exact(0.0), p.initial, atol=1e-15)
    np.testing.assert_allclose(p.initial, np.diag(0.5 ** np.arange(1, 21)))
    for t in (0.2, 0.9):
        y = p.exact(t)
        assert _rel(_fd_derivative(p.exact, t, 1e-5), p.operator.apply_dense(y)) < 1e-6


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0])
def test_skew_rotation_singular_values(t):
    p = skew_rotation_problem(n=12, seed=1)
    sv = np.linalg.svd(p.exact(t), compute_uv=False)
    np.testing.assert_allclose(sv, np.exp(t) * p.data["d"], rtol=1e-8)


def test_skew_rotation_rank_option():
    p = skew_rotation_problem(n=10, rank=3, decay=0.1, seed=0)
    assert np.count_nonzero(p.data["d"]) == 3
    assert np.linalg.matrix_rank(p.exact(0.4), tol=1e-12) == 3


@pytest.mark.parametrize(
    "kwargs", [dict(n=0), dict(n=5, decay=0.0), dict(n=5, decay=1.5), dict(n=5, rank=6), dict(n=5, rank=-1)]
)
def test_skew_rotation_bad_inputs(kwargs):
    with pytest.raises(ValueError):
        skew_rotation_problem(**kwargs)


def test_schrodinger_operator_matches_definition():
    n = 12
    p = discrete_schrodinger_problem(n=n, seed=4)
    d, v = p.data["D"], p.data["V"]
    np.testing.assert_allclose(np.diag(d), np.ones(n))
    np.testing.assert_allclose(np.diag(d, 1), -0.5 * np.ones(n - 1))
    y = np.random.default_rng(1).standard_normal((n, n)) + 1j
    ham = d @ y + y @ d.T + v @ y @ v.T
    np.testing.assert_allclose(p.operator.apply_dense(y), -1j * ham, atol=1e-12)


def test_schrodinger_initial_and_exact():
    n = 16
    p = discrete_schrodinger_problem(n=n, seed=0)
    sv = np.linalg.svd(p.initial, compute_uv=False)
    s0 = 10.0 ** -np.arange(1, n + 1)
    np.testing.assert_allclose(sv[:5], (s0 / np.linalg.norm(s0))[:5], rtol=1e-8)
    np.testing.assert_allclose(np.linalg.norm(p.initial), 1.0)
    np.testing.assert_allclose(p.exact(0.0), p.initial)
    for t in (0.3, 1.0):
        y = p.exact(t)
        assert np.isclose(np.linalg.norm(y), 1.0, atol=1e-12)
        assert _rel(_fd_derivative(p.exact, t, 1e-4), p.operator.apply_dense(y)) < 1e-6


def test_schrodinger_bad_inputs():
    with pytest.raises(ValueError):
        discrete_schrodinger_problem(n=7)
    with pytest.raises(ValueError):
        discrete_schrodinger_problem(n=0)
