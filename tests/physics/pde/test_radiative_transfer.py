"""The uncertain 1D radiative-transfer test problem (P_N x finite volumes x collocation)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import physics.pde.radiative_transfer as rt_module
from physics.pde import QUICK_SIZES, RadiativeTransfer1D, legendre_transport_matrix, radiative_transfer_problem


@pytest.fixture(scope="module")
def prob() -> RadiativeTransfer1D:
    return RadiativeTransfer1D(**QUICK_SIZES)


def test_module_examples() -> None:
    failures, attempted = doctest.testmod(rt_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0
    assert failures == 0


def test_dims_and_terms(prob: RadiativeTransfer1D) -> None:
    assert prob.dims == (32, 4, 3, 3)
    assert prob.operator.dims == prob.dims
    assert prob.initial.shape == prob.dims
    assert prob.operator.num_terms == 5
    assert RadiativeTransfer1D(**QUICK_SIZES, sigma_a=0.2).operator.num_terms == 6
    assert prob.t_end == 2.0


@pytest.mark.parametrize("stabilization", ["roe", "rusanov"])
@pytest.mark.parametrize("boundary", ["periodic", "vacuum"])
def test_apply_dense_matches_sparse(boundary: str, stabilization: str) -> None:
    p = RadiativeTransfer1D(nx=7, n_moments=3, n_xi=2, n_eta=3, boundary=boundary, stabilization=stabilization)
    y = np.random.default_rng(0).standard_normal(p.dims)
    dense = p.operator.apply_dense(y)
    sparse = (p.operator.to_sparse() @ y.ravel()).reshape(p.dims)
    np.testing.assert_allclose(dense, sparse, atol=1e-12)


def test_operator_matches_explicit_scheme() -> None:
    """The Kronecker operator is the cell-by-cell Roe scheme with sigma_s at each node."""
    p = RadiativeTransfer1D(nx=6, n_moments=3, n_xi=2, n_eta=2, sigma_a=0.25)
    y = np.random.default_rng(1).standard_normal(p.dims)
    a, abs_a, h = p.transport_matrix, p.abs_transport_matrix, p.dx
    up, down = np.roll(y, -1, axis=0), np.roll(y, 1, axis=0)  # u_{j+1}, u_{j-1} (periodic)
    expected = -np.einsum("lm,jmik->jlik", a, up - down) / (2 * h)
    expected += np.einsum("lm,jmik->jlik", abs_a, up - 2 * y + down) / (2 * h)
    scattered = y.copy()
    scattered[:, 0] = 0.0
    expected -= p.sigma_s[None, None] * scattered + p.sigma_a * y
    np.testing.assert_allclose(p.operator.apply_dense(y), expected, atol=1e-12)


def test_transport_matrix_legendre_recurrence() -> None:
    a = legendre_transport_matrix(6)
    np.testing.assert_array_equal(a, a.T)
    for l in range(5):
        assert a[l, l + 1] == pytest.approx((l + 1) / np.sqrt((2 * l + 1) * (2 * l + 3)), rel=1e-15)
    assert np.count_nonzero(np.triu(a, 2)) == 0 and np.count_nonzero(np.diag(a)) == 0
    # Against quadrature of mu * P~_k * P~_l.
    mu, w = np.polynomial.legendre.leggauss(12)
    vander = np.polynomial.legendre.legvander(mu, 5) * np.sqrt((2 * np.arange(6) + 1) / 2)
    np.testing.assert_allclose((vander * (w * mu)[:, None]).T @ vander, a, atol=1e-14)
    np.testing.assert_allclose(np.linalg.eigvalsh(a), np.polynomial.legendre.leggauss(6)[0], atol=1e-14)
    assert legendre_transport_matrix(1).shape == (1, 1)


def test_abs_transport_matrix(prob: RadiativeTransfer1D) -> None:
    abs_a = prob.abs_transport_matrix
    np.testing.assert_allclose(abs_a @ abs_a, prob.transport_matrix @ prob.transport_matrix, atol=1e-14)
    assert np.linalg.eigvalsh(abs_a).min() > -1e-14
    assert prob.max_speed == pytest.approx(np.polynomial.legendre.leggauss(prob.n_moments)[0].max())


def test_quadrature(prob: RadiativeTransfer1D) -> None:
    for nodes, weights, n in ((prob.xi, prob.w_xi, prob.n_xi), (prob.eta, prob.w_eta, prob.n_eta)):
        assert nodes.shape == weights.shape == (n,)
        assert weights.sum() == pytest.approx(1.0, abs=1e-14)
        assert np.all(weights > 0) and np.all(np.abs(nodes) < 1)
        assert np.dot(weights, nodes) == pytest.approx(0.0, abs=1e-14)  # E[U(-1,1)] = 0
        assert np.dot(weights, nodes**2) == pytest.approx(1 / 3, abs=1e-14)
    np.testing.assert_allclose(prob.sigma_s, 5 + 4 * prob.xi[:, None] + prob.eta[None, :])
    # E[sigma_s] = 5 exactly.
    assert np.einsum("ik,i,k->", prob.sigma_s, prob.w_xi, prob.w_eta) == pytest.approx(5.0)
    assert prob.x.shape == (prob.nx,) and prob.dx == pytest.approx(6.0 / prob.nx)


def test_initial_condition(prob: RadiativeTransfer1D) -> None:
    assert prob.mass(prob.initial) == pytest.approx(1.0, abs=1e-13)
    assert np.all(prob.initial[:, 1:] == 0)
    assert np.all(prob.initial >= 0)
    np.testing.assert_array_equal(prob.initial[:, :, 0, 0], prob.initial[:, :, -1, -1])  # deterministic


def test_reference_at_zero_is_initial(prob: RadiativeTransfer1D) -> None:
    for method in ("auto", "fourier", "blocks", "sparse"):
        np.testing.assert_array_equal(prob.reference(0.0, method=method), prob.initial)


@pytest.mark.parametrize("boundary", ["periodic", "vacuum"])
def test_reference_methods_agree(boundary: str) -> None:
    p = RadiativeTransfer1D(**QUICK_SIZES, boundary=boundary, sigma_a=0.1)
    times = [0.7, 0.0, p.t_end]
    ref = p.reference(times, method="sparse")
    assert ref.shape == (3, *p.dims)
    methods = ["auto", "blocks"] + (["fourier"] if boundary == "periodic" else [])
    for method in methods:
        np.testing.assert_allclose(p.reference(times, method=method), ref, atol=1e-12)
    # It solves dY/dt = A Y: central difference in time.
    h = 1e-4
    pair = p.reference([0.7 - h, 0.7 + h])
    np.testing.assert_allclose((pair[1] - pair[0]) / (2 * h), p.operator.apply_dense(ref[0]), atol=1e-5)


def test_mass_conserved_without_absorption(prob: RadiativeTransfer1D) -> None:
    ys = prob.reference(np.linspace(0, prob.t_end, 5))
    np.testing.assert_allclose(prob.mass(ys), 1.0, atol=1e-12)
    # Node by node as well (scattering does not touch u_0; periodic differences sum to zero).
    per_node = prob.dx * np.sqrt(2) * ys[:, :, 0].sum(axis=1)
    np.testing.assert_allclose(per_node, 1.0, atol=1e-12)


def test_mass_decays_with_absorption() -> None:
    p = RadiativeTransfer1D(**QUICK_SIZES, sigma_a=0.5)
    times = np.array([0.0, 0.5, 2.0])
    np.testing.assert_allclose(p.mass(p.reference(times)), np.exp(-0.5 * times), rtol=1e-12)


def test_vacuum_boundary_only_loses_mass() -> None:
    p = RadiativeTransfer1D(**QUICK_SIZES, boundary="vacuum")
    masses = p.mass(p.reference(np.linspace(0, p.t_end, 6)))
    assert np.all(np.diff(masses) <= 1e-13)
    assert masses[-1] > 0.99  # the domain is wide enough that little leaves by t_end


def test_solution_bounded_and_nearly_nonnegative(prob: RadiativeTransfer1D) -> None:
    ys = prob.reference(np.linspace(0, prob.t_end, 9))
    norms = np.linalg.norm(ys.reshape(len(ys), -1), axis=1)
    assert np.all(np.diff(norms) <= 1e-12)  # dissipative operator
    mean = prob.expected_scalar_flux(ys)
    assert mean.shape == (9, prob.nx)
    assert mean.min() > -1e-2 * mean.max()
    var = prob.variance_scalar_flux(ys)
    assert var.shape == (9, prob.nx) and var.min() >= 0
    # Symmetric source in a symmetric domain: E[phi] is mirror symmetric.
    np.testing.assert_allclose(mean[-1], mean[-1][::-1], atol=1e-12)


def test_operator_is_dissipative() -> None:
    p = RadiativeTransfer1D(nx=8, n_moments=4, n_xi=2, n_eta=2, sigma_a=0.1)
    a = p.operator.to_dense()
    assert np.linalg.eigvalsh(a + a.T).max() < 1e-12


@pytest.mark.parametrize("stabilization", ["roe", "rusanov"])
def test_cfl_dt_rk4_stable(stabilization: str) -> None:
    p = RadiativeTransfer1D(nx=16, n_moments=5, n_xi=2, n_eta=2, sigma_a=0.2, stabilization=stabilization)
    dt = p.cfl_dt()
    z = dt * np.linalg.eigvals(p.operator.to_dense())
    amp = np.abs(1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24)
    assert amp.max() <= 1 + 1e-10
    # RK4 steps with this dt never increase the norm much and keep the mass.
    y = p.initial.copy()
    norm0 = np.linalg.norm(y)
    f = p.operator.apply_dense
    for _ in range(200):
        k1 = f(y)
        k2 = f(y + dt / 2 * k1)
        k3 = f(y + dt / 2 * k2)
        k4 = f(y + dt * k3)
        y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    assert np.linalg.norm(y) <= norm0 * (1 + 1e-10)
    z_abs = -0.2 * dt  # absorption decays the mass by RK4's amplification factor per step
    assert p.mass(y) == pytest.approx((1 + z_abs + z_abs**2 / 2 + z_abs**3 / 6 + z_abs**4 / 24) ** 200, rel=1e-10)
    assert p.cfl_dt("euler") < p.cfl_dt("rk3") < dt
    assert p.operator.norm_bound() * dt > 1  # a spectral-radius step, not a norm step


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_moments": 0}, "n_moments must be an integer >= 1"),
        ({"nx": 2}, "nx must be an integer >= 3"),
        ({"n_xi": 1.5}, "n_xi must be an integer"),
        ({"n_eta": 0}, "n_eta must be an integer >= 1"),
        ({"domain": (1.0, -1.0)}, "left < right"),
        ({"t_end": 0.0}, "t_end must be positive"),
        ({"sigma_a": -1.0}, "sigma_a must be non-negative"),
        ({"source_width": 0.0}, "source_width must be positive"),
        ({"sigma_s_coeffs": (1.0, 4.0, 1.0)}, "non-negative"),
        ({"boundary": "reflecting"}, "boundary must be one of"),
        ({"stabilization": "none"}, "stabilization must be one of"),
    ],
)
def test_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        radiative_transfer_problem(**{**QUICK_SIZES, **kwargs})


def test_bad_calls(prob: RadiativeTransfer1D) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        prob.reference([-1.0])
    with pytest.raises(ValueError, match="method"):
        prob.reference(1.0, method="dense")
    with pytest.raises(ValueError, match="periodic"):
        RadiativeTransfer1D(**QUICK_SIZES, boundary="vacuum").reference(1.0, method="fourier")
    with pytest.raises(ValueError, match="shape"):
        prob.mass(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="method"):
        prob.cfl_dt("rk5")
    with pytest.raises(ValueError, match="safety"):
        prob.cfl_dt(safety=0.0)
    with pytest.raises(ValueError, match="legendre_transport_matrix: n_moments"):
        legendre_transport_matrix(0)


def test_quick_factory() -> None:
    p = radiative_transfer_problem(quick=True)
    assert p.dims == tuple(QUICK_SIZES[k] for k in ("nx", "n_moments", "n_xi", "n_eta"))
    assert p.size == int(np.prod(p.dims))
