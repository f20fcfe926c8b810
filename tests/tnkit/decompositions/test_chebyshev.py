"""Chebyshev–Tucker functions against NumPy's Chebyshev module, analytic formulas and SciPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.special
from numpy.polynomial import chebyshev as npcheb

import tnkit.io
from tnkit.backend import device_of
from tnkit.decompositions.chebyshev import ChebTucker
from tnkit.decompositions.chebyshev_basis import (
    _clenshaw_curtis_weights,
    _derivative_matrix,
    chebyshev_coefficients,
    chebyshev_nodes,
)

CUBE = [(-1.0, 1.0)] * 3


def gauss(p):
    return np.exp(-np.sum(p**2, axis=1))


def lorentz(p):
    return 1.0 / (1.0 + np.sum(p**2, axis=1))


def on(bk, host_f):
    """``host_f`` (host points to host values) as a function of ``bk`` arrays, for ``fit``."""
    return lambda p: bk.asarray(host_f(bk.to_numpy(p)))


def like_of(bk):
    return bk.asarray(np.zeros(1), dtype="float64")


def random_points(rng, box, m):
    lo = np.array([a for a, _ in box])
    hi = np.array([b for _, b in box])
    return lo + (hi - lo) * rng.random((m, len(box)))


# --------------------------------------------------------------------------------------
# One-dimensional pieces


@pytest.mark.parametrize("n", [1, 2, 7, 16, 33])
def test_coefficients_match_numpy_chebinterpolate(bk, n):
    funcs = [np.exp, np.cos, lambda x: 1.0 / (2.0 + x), lambda x: np.abs(x - 0.1)]
    for fn in funcs:
        c = bk.to_numpy(chebyshev_coefficients(bk.asarray(fn(chebyshev_nodes(n)))))
        np.testing.assert_allclose(c, npcheb.chebinterpolate(fn, n), rtol=0, atol=1e-13)


def test_nodes_are_numpy_first_kind_points_mapped(bk):
    x = bk.to_numpy(chebyshev_nodes(9, 2.0, 5.0, like=like_of(bk)))
    np.testing.assert_allclose(x, 3.5 + 1.5 * npcheb.chebpts1(10), rtol=0, atol=1e-15)
    assert np.all(np.diff(x) > 0)


@pytest.mark.parametrize("n", [1, 2, 5, 12])
def test_derivative_matrix_matches_chebder(n):
    eye = np.eye(n + 1)
    for j in range(n + 1):
        ref = np.zeros(n + 1)
        der = npcheb.chebder(eye[j])
        ref[: der.shape[0]] = der
        np.testing.assert_allclose(_derivative_matrix(n) @ eye[j], ref, atol=1e-13)


def test_clenshaw_curtis_weights_integrate_each_polynomial():
    n = 11
    for k in range(n + 1):
        exact = npcheb.chebval(1.0, npcheb.chebint(np.eye(n + 1)[k])) - npcheb.chebval(
            -1.0, npcheb.chebint(np.eye(n + 1)[k])
        )
        assert abs(_clenshaw_curtis_weights(n)[k] - exact) < 1e-14


def test_coefficients_of_a_grid_are_separable_dcts(bk):
    """In 2-D the coefficient tensor of f(x) g(y) is the outer product of the 1-D ones."""
    n1, n2 = 6, 9
    x, y = chebyshev_nodes(n1), chebyshev_nodes(n2)
    c = bk.to_numpy(chebyshev_coefficients(bk.asarray(np.outer(np.exp(x), np.sin(y)))))
    np.testing.assert_allclose(
        c, np.outer(npcheb.chebinterpolate(np.exp, n1), npcheb.chebinterpolate(np.sin, n2)), atol=1e-14
    )


# --------------------------------------------------------------------------------------
# Fitting and evaluation


def test_low_degree_polynomial_reproduced_exactly_in_3d(bk):
    rng = np.random.default_rng(0)
    box = [(-2.0, 1.0), (0.0, 3.0), (1.0, 1.5)]
    powers = rng.standard_normal((3, 4, 2))  # monomial coefficients, degrees (2, 3, 1)

    def poly(p):
        vx = np.stack([p[:, 0] ** i for i in range(3)], axis=1)
        vy = np.stack([p[:, 1] ** i for i in range(4)], axis=1)
        vz = np.stack([p[:, 2] ** i for i in range(2)], axis=1)
        return np.einsum("abc,ma,mb,mc->m", powers, vx, vy, vz)

    ct = ChebTucker.fit(on(bk, poly), box, degree=[2, 3, 1], like=like_of(bk))
    pts = random_points(rng, box, 500)
    np.testing.assert_allclose(
        bk.to_numpy(ct(bk.asarray(pts))), poly(pts), rtol=0, atol=1e-11 * np.max(np.abs(poly(pts)))
    )
    assert ct.degree == (2, 3, 1)
    assert all(r <= n + 1 for r, n in zip(ct.ranks, ct.degree))


@pytest.mark.parametrize(("f", "degree", "rank_cap"), [(gauss, 24, 1), (lorentz, 40, 12)])
def test_smooth_functions_to_tolerance_at_random_points(bk, f, degree, rank_cap):
    rng = np.random.default_rng(1)
    ct = ChebTucker.fit(on(bk, f), CUBE, degree, tol=1e-12, like=like_of(bk))
    assert max(ct.ranks) <= rank_cap, ct.ranks
    pts = random_points(rng, CUBE, 2000)
    err = np.max(np.abs(bk.to_numpy(ct(bk.asarray(pts))) - f(pts)))
    assert err < 1e-9, err


def test_tucker_truncation_error_scales_with_tol(bk):
    """Coarser tol -> smaller ranks and a larger (but bounded) error."""
    rng = np.random.default_rng(2)
    pts = random_points(rng, CUBE, 2000)
    errs = []
    for tol in (1e-3, 1e-6, 1e-10):
        ct = ChebTucker.fit(on(bk, lorentz), CUBE, 40, tol=tol, like=like_of(bk))
        coeff_norm = float(np.linalg.norm(chebyshev_coefficients(lorentz_grid(40))))
        err = np.max(np.abs(bk.to_numpy(ct(bk.asarray(pts))) - lorentz(pts)))
        assert err <= math.sqrt(41**3) * tol * coeff_norm + 1e-12
        errs.append((tol, ct.ranks, err))
    assert errs[0][1] < errs[-1][1] or max(errs[0][1]) < max(errs[-1][1])
    assert errs[0][2] > errs[-1][2]


def lorentz_grid(n):
    x = chebyshev_nodes(n)
    return 1.0 / (1.0 + x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2)


def test_derivatives_match_analytic(bk):
    rng = np.random.default_rng(3)
    ct = ChebTucker.fit(on(bk, lorentz), CUBE, 44, tol=1e-13, like=like_of(bk))
    pts = random_points(rng, CUBE, 1000)
    at = bk.asarray(pts)
    r2 = np.sum(pts**2, axis=1)
    for k in range(3):
        d1 = -2.0 * pts[:, k] / (1.0 + r2) ** 2
        np.testing.assert_allclose(bk.to_numpy(ct.derivative(k)(at)), d1, rtol=0, atol=1e-7)
    d2 = -2.0 / (1.0 + r2) ** 2 + 8.0 * pts[:, 1] ** 2 / (1.0 + r2) ** 3
    np.testing.assert_allclose(bk.to_numpy(ct.derivative(1, order=2)(at)), d2, rtol=0, atol=1e-5)
    mixed = 8.0 * pts[:, 0] * pts[:, 2] / (1.0 + r2) ** 3
    np.testing.assert_allclose(bk.to_numpy(ct.derivative(0).derivative(2)(at)), mixed, rtol=0, atol=1e-5)


def test_derivative_on_shifted_box_uses_the_box_scaling(bk):
    box = [(1.0, 4.0), (-0.5, 0.5)]
    ct = ChebTucker.fit(on(bk, lambda p: np.sin(p[:, 0]) * np.exp(p[:, 1])), box, [22, 14], like=like_of(bk))
    pts = random_points(np.random.default_rng(4), box, 300)
    at = bk.asarray(pts)
    np.testing.assert_allclose(bk.to_numpy(ct.derivative(0)(at)), np.cos(pts[:, 0]) * np.exp(pts[:, 1]), atol=1e-10)
    np.testing.assert_allclose(bk.to_numpy(ct.derivative(0, 3)(at)), -np.cos(pts[:, 0]) * np.exp(pts[:, 1]), atol=1e-7)


def test_integral_matches_analytic_and_scipy(bk):
    ct = ChebTucker.fit(on(bk, gauss), [(-1.0, 2.0), (0.0, 1.0), (-0.5, 0.5)], 30, like=like_of(bk))
    exact = (
        0.25
        * math.pi**1.5
        * (scipy.special.erf(2.0) + scipy.special.erf(1.0))
        * scipy.special.erf(1.0)
        * scipy.special.erf(0.5)
    )
    assert abs(float(bk.to_numpy(ct.integrate())) - exact) < 1e-13 * exact
    box2 = [(0.0, 1.0), (-1.0, 2.0)]
    f2 = on(bk, lambda p: 1.0 / (1.0 + p[:, 0] ** 2 + p[:, 1] ** 2))
    ct2 = ChebTucker.fit(f2, box2, 40, tol=1e-14, like=like_of(bk))
    ref, _ = scipy.integrate.dblquad(
        lambda y, x: 1.0 / (1.0 + x * x + y * y), 0.0, 1.0, -1.0, 2.0, epsabs=1e-13, epsrel=1e-13
    )
    assert abs(float(bk.to_numpy(ct2.integrate())) - ref) < 1e-10


def test_batched_sampling_gives_the_same_result(bk):
    a = ChebTucker.fit(on(bk, lorentz), CUBE, 9, batch_size=7, like=like_of(bk))
    b = ChebTucker.fit(on(bk, lorentz), CUBE, 9, like=like_of(bk))
    ca = bk.to_numpy(a.coefficients())
    np.testing.assert_allclose(ca, bk.to_numpy(b.coefficients()), atol=1e-14)
    np.testing.assert_allclose(ca, chebyshev_coefficients(lorentz_grid(9)), atol=1e-14)


# --------------------------------------------------------------------------------------
# Every array library


def test_every_backend_agrees_with_numpy(bk):
    rng = np.random.default_rng(5)
    box = [(-1.0, 1.0), (0.0, 2.0), (-1.0, 0.5)]
    pts_host = random_points(rng, box, 200)
    ref = ChebTucker.fit(lorentz, box, 16, tol=1e-10)

    def f(p):
        return 1.0 / (1.0 + bk.xp.sum(p * p, axis=1))

    like = bk.asarray(np.zeros(1), dtype="float64")
    ct = ChebTucker.fit(f, box, 16, tol=1e-10, like=like)
    assert ct.ranks == ref.ranks
    pts = bk.asarray(pts_host)
    np.testing.assert_allclose(bk.to_numpy(ct(pts)), ref(pts_host), atol=1e-12)
    np.testing.assert_allclose(bk.to_numpy(ct.derivative(2)(pts)), ref.derivative(2)(pts_host), atol=1e-10)
    np.testing.assert_allclose(bk.to_numpy(ct.integrate()), float(ref.integrate()), atol=1e-12)
    np.testing.assert_allclose(bk.to_numpy(ct(pts)), lorentz(pts_host), atol=1e-6)
    grid = bk.asarray(lorentz_grid(6))
    np.testing.assert_allclose(
        bk.to_numpy(chebyshev_coefficients(grid)), chebyshev_coefficients(lorentz_grid(6)), atol=1e-14
    )
    nodes = chebyshev_nodes(5, -1.0, 0.5, like=like)
    assert device_of(nodes) == device_of(like)
    np.testing.assert_allclose(bk.to_numpy(nodes), chebyshev_nodes(5, -1.0, 0.5), atol=1e-15)


def test_float32_on_torch():
    torch = pytest.importorskip("torch")
    like = torch.zeros(1, dtype=torch.float32)
    ct = ChebTucker.fit(lambda p: 1.0 / (1.0 + torch.sum(p * p, dim=1)), CUBE, 20, tol=1e-5, like=like)
    assert ct.core.dtype == torch.float32
    pts = random_points(np.random.default_rng(6), CUBE, 300)
    out = ct(torch.asarray(pts, dtype=torch.float32))
    assert out.dtype == torch.float32
    assert np.max(np.abs(out.numpy() - lorentz(pts))) < 1e-4


def test_torch_autograd_gradient_matches_derivative_objects():
    torch = pytest.importorskip("torch")
    like = torch.zeros(1, dtype=torch.float64)
    box = [(-1.0, 1.0), (0.5, 2.0), (-1.0, 1.0)]
    ct = ChebTucker.fit(lambda p: torch.exp(-p[:, 0] * p[:, 1]) / (1.0 + p[:, 2] ** 2), box, 24, tol=1e-12, like=like)
    pts = torch.asarray(random_points(np.random.default_rng(7), box, 100), dtype=torch.float64)
    pts.requires_grad_(True)
    (grad,) = torch.autograd.grad(ct(pts).sum(), pts)
    with torch.no_grad():
        for k in range(3):
            np.testing.assert_allclose(grad[:, k].numpy(), ct.derivative(k)(pts).numpy(), rtol=0, atol=1e-11)
        x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
        exact_dx = -y * torch.exp(-x * y) / (1.0 + z**2)
        np.testing.assert_allclose(grad[:, 0].numpy(), exact_dx.numpy(), atol=1e-9)


# --------------------------------------------------------------------------------------
# Storage


def test_io_round_trip(tmp_path):
    ct = ChebTucker.fit(lorentz, [(-1.0, 1.0), (0.0, 3.0)], [12, 15], tol=1e-10)
    path = tmp_path / "ct.h5"
    tnkit.io.save(path, ct)
    back = tnkit.io.load(path)
    assert isinstance(back, ChebTucker)
    assert back.box == ct.box and back.ranks == ct.ranks and back.degree == ct.degree
    pts = random_points(np.random.default_rng(8), ct.box, 50)
    np.testing.assert_array_equal(back(pts), ct(pts))


# --------------------------------------------------------------------------------------
# Bad input


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"shape \(\d+,\).*got \(\d+, 1\)"):
        ChebTucker.fit(lambda p: lorentz(p)[:, None], CUBE, 4)
    with pytest.raises(ValueError, match="NaN or Inf at 1 of"):
        ChebTucker.fit(lambda p: np.where(np.all(p == p[0], axis=1), np.nan, 1.0), CUBE, 4)
    with pytest.raises(TypeError, match="not an array|must return an array"):
        ChebTucker.fit(lambda p: [1.0] * p.shape[0], CUBE, 2)
    with pytest.raises(ValueError, match="degree must be >= 1, got 0"):
        ChebTucker.fit(lorentz, CUBE, 0)
    with pytest.raises(ValueError, match="degree has 2 entries"):
        ChebTucker.fit(lorentz, CUBE, [3, 3])
    with pytest.raises(ValueError, match=r"dimension 1 needs a < b, got \[1.0, 1.0\]"):
        ChebTucker.fit(lorentz, [(0, 1), (1, 1)], 3)
    with pytest.raises(ValueError, match="n must be >= 1"):
        chebyshev_nodes(0)
    with pytest.raises(ValueError, match="a < b"):
        chebyshev_nodes(3, 2.0, -1.0)
    with pytest.raises(ValueError, match="NaN or Inf"):
        chebyshev_coefficients(np.array([1.0, np.inf, 2.0]))
    ct = ChebTucker.fit(lorentz, CUBE, 6)
    with pytest.raises(ValueError, match=r"outside the box in dimension 2.*extrapolate=True"):
        ct(np.array([[0.0, 0.0, 1.5]]))
    with pytest.raises(ValueError, match=r"shape \(m, 3\)"):
        ct(np.zeros((4, 2)))
    with pytest.raises(TypeError, match="dtype float32"):
        ct(np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="dim must be"):
        ct.derivative(3)
    with pytest.raises(ValueError, match="order must be"):
        ct.derivative(0, 0)


def test_extrapolation_is_the_polynomial_outside_the_box(bk):
    ct = ChebTucker.fit(on(bk, lambda p: p[:, 0] ** 2 - p[:, 1]), [(0.0, 1.0), (0.0, 1.0)], 2, like=like_of(bk))
    out = ct(bk.asarray([[2.0, -1.0]]), extrapolate=True)
    np.testing.assert_allclose(bk.to_numpy(out), [5.0], atol=1e-12)
    # boundary points themselves are inside
    np.testing.assert_allclose(bk.to_numpy(ct(bk.asarray([[1.0, 0.0]]))), [1.0], atol=1e-13)


# --------------------------------------------------------------------------------------
# Examples and the validation case


def test_module_examples_run():
    import doctest

    import tnkit.decompositions.chebyshev

    failures, attempted = doctest.testmod(tnkit.decompositions.chebyshev, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0


def test_quick_validation_case_passes_and_plots():
    from matplotlib.figure import Figure

    from tnkit.validation import discover

    (case,) = discover(names=["chebyshev_newton"])
    outcome = case.run(True)
    assert outcome.value <= case.tolerance, outcome.details
    fig = Figure()
    outcome.plot(fig)
    assert len(fig.axes) == 2
