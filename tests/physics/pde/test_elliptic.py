"""Elliptic reference solvers: Darcy (direct and CG), Poisson and Helmholtz (DST)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import physics.pde.elliptic.darcy as darcy_module
import physics.pde.elliptic.dst as dst_module
import physics.pde.elliptic.grid as grid_module
import physics.pde.elliptic.sine_transform as sine_transform_module
from physics.pde.elliptic import Darcy2D, Helmholtz2D, Poisson2D, unit_square_grid
from tnkit.linalg import ConvergenceError

pytestmark = pytest.mark.usefixtures("torch_single_thread")

CPU_BACKENDS = ("numpy", "array_api_strict", "torch")


# ------------------------------------------------------------------------------ references


def dense_darcy_matrix(a: np.ndarray, mean: str) -> np.ndarray:
    """The five-point matrix built entry by entry, stencil by stencil."""
    n = a.shape[0]
    m, h = n - 2, 1.0 / (n - 1)
    mat = np.zeros((m * m, m * m))
    for i in range(1, n - 1):
        for j in range(1, n - 1):
            row = (i - 1) * m + (j - 1)
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                p, q = a[i, j], a[i + di, j + dj]
                c = (2 * p * q / (p + q) if mean == "harmonic" else (p + q) / 2) / h**2
                mat[row, row] += c
                ii, jj = i + di, j + dj
                if 1 <= ii <= n - 2 and 1 <= jj <= n - 2:
                    mat[row, (ii - 1) * m + (jj - 1)] -= c
    return mat


def dense_solve(mat: np.ndarray, f: np.ndarray) -> np.ndarray:
    n = f.shape[-1]
    u = np.zeros((n, n))
    u[1:-1, 1:-1] = np.linalg.solve(mat, f[1:-1, 1:-1].ravel()).reshape(n - 2, n - 2)
    return u


def dense_laplacian(n: int) -> np.ndarray:
    m, h = n - 2, 1.0 / (n - 1)
    one_d = (2 * np.eye(m) - np.eye(m, k=1) - np.eye(m, k=-1)) / h**2
    return np.kron(one_d, np.eye(m)) + np.kron(np.eye(m), one_d)


def lognormal_coefficient(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.exp(0.7 * rng.standard_normal(shape))


def two_valued_coefficient(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, 12.0, 3.0)


def manufactured(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``u = (1 + 2x) sin(pi x) sin(pi y)``, ``a = 1.5 + sin(2 pi x) cos(3 pi y)`` and ``f``."""
    x, y = unit_square_grid(n)
    pi = np.pi
    big_x = (1 + 2 * x) * np.sin(pi * x)
    dx = 2 * np.sin(pi * x) + pi * (1 + 2 * x) * np.cos(pi * x)
    dxx = 4 * pi * np.cos(pi * x) - pi**2 * (1 + 2 * x) * np.sin(pi * x)
    big_y, dy, dyy = np.sin(pi * y), pi * np.cos(pi * y), -(pi**2) * np.sin(pi * y)
    a = 1.5 + np.sin(2 * pi * x) * np.cos(3 * pi * y)
    a_x = 2 * pi * np.cos(2 * pi * x) * np.cos(3 * pi * y)
    a_y = -3 * pi * np.sin(2 * pi * x) * np.sin(3 * pi * y)
    u = big_x * big_y
    f = -(a_x * dx * big_y + a_y * big_x * dy + a * (dxx * big_y + big_x * dyy))
    return a, f, u


def rel(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(x - y).max() / np.abs(y).max())


# ------------------------------------------------------------------------------ Darcy


@pytest.mark.parametrize("mean", ["harmonic", "arithmetic"])
def test_darcy_matches_dense_reference(bk, mean):
    rng = np.random.default_rng(1)
    n = 11
    a = lognormal_coefficient(rng, (n, n))
    f = rng.standard_normal((n, n))
    expected = dense_solve(dense_darcy_matrix(a, mean), f)
    u = Darcy2D(n, mean=mean).solve(bk.asarray(a), bk.asarray(f))
    assert rel(bk.to_numpy(u), expected) < 1e-9


@pytest.mark.parametrize("mean", ["harmonic", "arithmetic"])
def test_darcy_matrix_and_apply_match_dense_stencil(mean):
    rng = np.random.default_rng(2)
    n = 9
    a = lognormal_coefficient(rng, (n, n))
    dense = dense_darcy_matrix(a, mean)
    darcy = Darcy2D(n, mean=mean)
    np.testing.assert_allclose(darcy.matrix(a).toarray(), dense, rtol=1e-13, atol=0)
    u = np.zeros((n, n))
    u[1:-1, 1:-1] = rng.standard_normal((n - 2, n - 2))
    applied = darcy.apply(a, u)
    np.testing.assert_allclose(applied[1:-1, 1:-1].ravel(), dense @ u[1:-1, 1:-1].ravel(), rtol=1e-12, atol=1e-9)
    assert not applied[0].any() and not applied[:, -1].any()


def test_darcy_manufactured_solution_second_order():
    errors = []
    for n in (17, 33, 65):
        a, f, u_exact = manufactured(n)
        for mean in ("harmonic", "arithmetic"):
            errors.append((mean, n, np.abs(Darcy2D(n, mean=mean).solve(a, f) - u_exact).max()))
    for mean in ("harmonic", "arithmetic"):
        e = [err for m, _, err in errors if m == mean]
        orders = np.log2(np.array(e[:-1]) / np.array(e[1:]))
        assert np.all(np.abs(orders - 2) < 0.15), (mean, e, orders)
    # the scheme is consistent to O(h^2): the residual of the exact solution shrinks by 4
    residuals = []
    for n in (33, 65):
        a, f, u_exact = manufactured(n)
        residuals.append(np.abs(Darcy2D(n).apply(a, u_exact) - f)[1:-1, 1:-1].max())
    assert 3.5 < residuals[0] / residuals[1] < 4.5


def test_darcy_manufactured_solution_on_every_backend(bk):
    n = 33
    a, f, u_exact = manufactured(n)
    u = bk.to_numpy(Darcy2D(n).solve(bk.asarray(a), bk.asarray(f)))
    assert 1e-3 < np.abs(u - u_exact).max() < 1e-2  # the O(h^2) error at h = 1/32 is 6e-3


@pytest.mark.parametrize("preconditioner", ["poisson", "jacobi"])
def test_darcy_direct_and_cg_agree(bk, preconditioner):
    rng = np.random.default_rng(3)
    n = 17
    a = bk.asarray(two_valued_coefficient(rng, (3, n, n)))
    f = bk.asarray(rng.standard_normal((3, n, n)))
    darcy = Darcy2D(n)
    direct = bk.to_numpy(darcy.solve(a, f, method="direct"))
    cg = bk.to_numpy(darcy.solve(a, f, method="cg", preconditioner=preconditioner))
    assert rel(cg, direct) < 1e-9


def test_cg_residual_meets_rtol():
    rng = np.random.default_rng(4)
    n = 25
    a = lognormal_coefficient(rng, (2, n, n))
    darcy = Darcy2D(n)
    for rtol in (1e-4, 1e-8):
        u = darcy.solve(a, 1.0, method="cg", rtol=rtol)
        residual = (darcy.apply(a, u) - 1.0)[:, 1:-1, 1:-1]
        rel_residual = np.linalg.norm(residual.reshape(2, -1), axis=1) / (n - 2)
        assert np.all(rel_residual <= rtol * 1.0001)
        assert np.all(rel_residual > rtol * 1e-6)  # it stopped early, not at machine precision


def test_cg_raises_when_it_does_not_converge():
    a = two_valued_coefficient(np.random.default_rng(5), (17, 17))
    with pytest.raises(ConvergenceError, match="maxiter=2"):
        Darcy2D(17).solve(a, method="cg", preconditioner="jacobi", maxiter=2)


def test_harmonic_and_arithmetic_means():
    n = 17
    darcy_h, darcy_a = Darcy2D(n, mean="harmonic"), Darcy2D(n, mean="arithmetic")
    const = np.full((n, n), 2.5)
    np.testing.assert_allclose(darcy_h.solve(const), darcy_a.solve(const), rtol=1e-13, atol=0)
    x, _ = unit_square_grid(n)
    jump = np.where(x < 0.4, 1.0, 100.0)  # a jump between two grid columns
    u_h, u_a = darcy_h.solve(jump), darcy_a.solve(jump)
    assert rel(u_h, u_a) > 0.05
    # harmonic faces are never larger than arithmetic ones: A_arithmetic - A_harmonic is a
    # weighted graph Laplacian (positive semidefinite), so the compliance f^T A^{-1} f grows
    assert u_h.sum() > u_a.sum() * 1.05


def test_constant_coefficient_scales_the_solution():
    n = 13
    f = np.random.default_rng(6).standard_normal((n, n))
    darcy = Darcy2D(n)
    np.testing.assert_allclose(4.0 * darcy.solve(np.full((n, n), 4.0), f), darcy.solve(np.ones((n, n)), f), rtol=1e-12)


def test_batch_equals_loop_of_single_solves(bk):
    rng = np.random.default_rng(7)
    n, batch = 13, 3
    a = lognormal_coefficient(rng, (batch, n, n))
    f = rng.standard_normal((batch, n, n))
    darcy = Darcy2D(n)
    batched = bk.to_numpy(darcy.solve(bk.asarray(a), bk.asarray(f)))
    singles = np.stack([bk.to_numpy(darcy.solve(bk.asarray(a[b]), bk.asarray(f[b]))) for b in range(batch)])
    np.testing.assert_allclose(batched, singles, rtol=1e-9, atol=1e-12)
    # one medium, many sources; many media, one source; a scalar source
    shared_a = bk.to_numpy(darcy.solve(bk.asarray(a[0]), bk.asarray(f)))
    assert shared_a.shape == (batch, n, n)
    np.testing.assert_allclose(
        shared_a[2], bk.to_numpy(darcy.solve(bk.asarray(a[0]), bk.asarray(f[2]))), rtol=1e-9, atol=1e-12
    )
    shared_f = bk.to_numpy(darcy.solve(bk.asarray(a), bk.asarray(f[1])))
    np.testing.assert_allclose(
        shared_f[0], bk.to_numpy(darcy.solve(bk.asarray(a[0]), bk.asarray(f[1]))), rtol=1e-9, atol=1e-12
    )
    ones = bk.to_numpy(darcy.solve(bk.asarray(a)))
    np.testing.assert_allclose(ones, bk.to_numpy(darcy.solve(bk.asarray(a), bk.asarray(np.ones((n, n))))), rtol=1e-12)


def test_poisson_and_helmholtz_batch_equals_loop(bk):
    rng = np.random.default_rng(8)
    n = 12
    f = rng.standard_normal((3, n, n))
    for solver in (Poisson2D(n), Helmholtz2D(n, k=7.0)):
        batched = bk.to_numpy(solver.solve(bk.asarray(f)))
        singles = np.stack([bk.to_numpy(solver.solve(bk.asarray(f[b]))) for b in range(3)])
        np.testing.assert_allclose(batched, singles, rtol=1e-12, atol=1e-14)


def test_discrete_maximum_principle():
    rng = np.random.default_rng(9)
    n = 21
    a = two_valued_coefficient(rng, (4, n, n))
    for mean in ("harmonic", "arithmetic"):
        for method in ("direct", "cg"):
            u = Darcy2D(n, mean=mean).solve(a, 1.0, method=method)
            assert np.all(u[:, 1:-1, 1:-1] > 0)
            assert np.all(u[:, 0] == 0) and np.all(u[:, :, -1] == 0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_darcy_keeps_library_and_dtype(bk, dtype):
    rng = np.random.default_rng(10)
    n = 15
    a = two_valued_coefficient(rng, (2, n, n))
    reference = Darcy2D(n).solve(a)
    for method in ("direct", "cg"):
        u = Darcy2D(n).solve(bk.asarray(a, dtype), method=method)
        assert type(u) is type(bk.asarray(a, dtype)) and u.dtype == bk.dtype(dtype) and tuple(u.shape) == (2, n, n)
        assert rel(bk.to_numpy(u).astype(np.float64), reference) < (1e-5 if dtype == "float32" else 1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_poisson_helmholtz_keep_library_and_dtype(bk, dtype):
    rng = np.random.default_rng(11)
    n = 15
    f = rng.standard_normal((2, n, n))
    for solver in (Poisson2D(n), Helmholtz2D(n, k=3.0)):
        reference = solver.solve(f)
        u = solver.solve(bk.asarray(f, dtype))
        assert type(u) is type(bk.asarray(f, dtype)) and u.dtype == bk.dtype(dtype) and tuple(u.shape) == (2, n, n)
        assert rel(bk.to_numpy(u).astype(np.float64), reference) < (1e-5 if dtype == "float32" else 1e-12)


# ------------------------------------------------------------------------------ Poisson, Helmholtz


def test_poisson_matches_darcy_with_unit_coefficient(bk):
    rng = np.random.default_rng(12)
    n = 17
    f = bk.asarray(rng.standard_normal((2, n, n)))
    poisson = bk.to_numpy(Poisson2D(n).solve(f))
    darcy = bk.to_numpy(Darcy2D(n).solve(bk.asarray(np.ones((n, n))), f))
    assert rel(poisson, darcy) < 1e-9


@pytest.mark.parametrize("k", [0.0, 5.0, 13.0])
def test_helmholtz_matches_dense_reference(bk, k):
    rng = np.random.default_rng(13)
    n = 10
    f = rng.standard_normal((n, n))
    mat = dense_laplacian(n) - k**2 * np.eye((n - 2) ** 2)
    expected = dense_solve(mat, f)
    solver = Poisson2D(n) if k == 0 else Helmholtz2D(n, k)
    assert rel(bk.to_numpy(solver.solve(bk.asarray(f))), expected) < 1e-11
    u = np.zeros((n, n))
    u[1:-1, 1:-1] = rng.standard_normal((n - 2, n - 2))
    applied = bk.to_numpy(solver.apply(bk.asarray(u)))
    np.testing.assert_allclose(applied[1:-1, 1:-1].ravel(), mat @ u[1:-1, 1:-1].ravel(), rtol=1e-12, atol=1e-10)


def test_helmholtz_eigenvalues_are_the_dense_spectrum():
    n = 8
    k = 4.0
    dense = np.linalg.eigvalsh(dense_laplacian(n)) - k**2
    np.testing.assert_allclose(np.sort(Helmholtz2D(n, k).eigenvalues().ravel()), dense, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("backend", ["numpy", "generic"])
def test_dst1_is_the_orthonormal_sine_transform(backend):
    import array_api_compat.numpy as xp

    rng = np.random.default_rng(14)
    m = 7
    j = np.arange(1, m + 1)
    sine = np.sqrt(2 / (m + 1)) * np.sin(np.pi * np.outer(j, j) / (m + 1))
    x = rng.standard_normal((2, m, m))
    dst = dst_module._dst1_numpy if backend == "numpy" else dst_module._dst1_generic
    np.testing.assert_allclose(dst(xp, x), sine @ x @ sine.T, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dst(xp, dst(xp, x)), x, rtol=1e-12, atol=1e-13)


def test_poisson_and_helmholtz_manufactured_solution_second_order():
    x_err = {"poisson": [], "helmholtz": []}
    k = 8.0
    for n in (17, 33, 65):
        x, y = unit_square_grid(n)
        u = (1 + 2 * x) * np.sin(np.pi * x) * np.sin(2 * np.pi * y)
        big_x_xx = 4 * np.pi * np.cos(np.pi * x) - np.pi**2 * (1 + 2 * x) * np.sin(np.pi * x)
        big_x = (1 + 2 * x) * np.sin(np.pi * x)
        laplacian = (big_x_xx - 4 * np.pi**2 * big_x) * np.sin(2 * np.pi * y)
        x_err["poisson"].append(np.abs(Poisson2D(n).solve(-laplacian) - u).max())
        x_err["helmholtz"].append(np.abs(Helmholtz2D(n, k).solve(-laplacian - k**2 * u) - u).max())
    for name, e in x_err.items():
        orders = np.log2(np.array(e[:-1]) / np.array(e[1:]))
        assert np.all(np.abs(orders - 2) < 0.1), (name, e, orders)


# ------------------------------------------------------------------------------ errors


def test_bad_grid_sizes():
    for cls, args in ((Darcy2D, ()), (Poisson2D, ()), (Helmholtz2D, (1.0,))):
        with pytest.raises(ValueError, match="at least 3"):
            cls(2, *args)
        with pytest.raises(ValueError, match="integer"):
            cls(9.0, *args)
    with pytest.raises(ValueError, match="at least 3"):
        unit_square_grid(1)


def test_bad_coefficients(bk):
    n = 9
    darcy = Darcy2D(n)
    a = np.ones((n, n))
    a[3, 4] = -1.0
    with pytest.raises(ValueError, match=r"positive everywhere, found min\(a\) = -1"):
        darcy.solve(bk.asarray(a))
    a[3, 4] = 0.0
    with pytest.raises(ValueError, match="positive everywhere"):
        darcy.solve(bk.asarray(a))
    a[3, 4] = np.nan
    with pytest.raises(ValueError, match="a contains NaN or Inf"):
        darcy.solve(bk.asarray(a))
    f = np.ones((n, n))
    f[2, 2] = np.inf
    with pytest.raises(ValueError, match="f contains NaN or Inf"):
        darcy.solve(bk.asarray(np.ones((n, n))), bk.asarray(f))
    with pytest.raises(ValueError, match="f contains NaN or Inf"):
        Poisson2D(n).solve(bk.asarray(f))
    with pytest.raises(ValueError, match="f must be finite"):
        darcy.solve(bk.asarray(np.ones((n, n))), float("nan"))


def test_bad_shapes_and_dtypes(bk):
    n = 9
    darcy = Darcy2D(n)
    with pytest.raises(ValueError, match=r"a must have shape \(9, 9\) or \(batch, 9, 9\) for n=9, got \(8, 9\)"):
        darcy.solve(bk.asarray(np.ones((8, 9))))
    with pytest.raises(ValueError, match="must have shape"):
        darcy.solve(bk.asarray(np.ones((2, 2, n, n))))
    with pytest.raises(ValueError, match="f must have shape"):
        darcy.solve(bk.asarray(np.ones((n, n))), bk.asarray(np.ones((n + 1, n + 1))))
    with pytest.raises(ValueError, match="batch of 3 samples but f has 2"):
        darcy.solve(bk.asarray(np.ones((3, n, n))), bk.asarray(np.ones((2, n, n))))
    with pytest.raises(ValueError, match="must have shape"):
        Poisson2D(n).solve(bk.asarray(np.ones((n, n - 1))))
    with pytest.raises(TypeError, match="real floating"):
        darcy.solve(bk.asarray(np.ones((n, n), dtype=np.int64)))
    with pytest.raises(TypeError, match="a is .*float64 but f is .*float32"):
        darcy.solve(bk.asarray(np.ones((n, n))), bk.asarray(np.ones((n, n)), "float32"))


def test_bad_options():
    n = 9
    a = np.ones((n, n))
    with pytest.raises(ValueError, match="mean must be one of"):
        Darcy2D(n, mean="geometric")
    with pytest.raises(ValueError, match="method must be one of"):
        Darcy2D(n).solve(a, method="lu")
    with pytest.raises(ValueError, match="preconditioner must be one of"):
        Darcy2D(n).solve(a, method="cg", preconditioner="ilu")
    with pytest.raises(ValueError, match="rtol must be"):
        Darcy2D(n).solve(a, method="cg", rtol=0.0)
    with pytest.raises(ValueError, match="maxiter must be"):
        Darcy2D(n).solve(a, method="cg", maxiter=0)
    with pytest.raises(ValueError, match="k must be a finite real number"):
        Helmholtz2D(n, float("inf"))
    with pytest.raises(TypeError, match="mixed array libraries"):
        import array_api_strict as xs

        Darcy2D(n).solve(a, xs.asarray(a))


def test_singular_helmholtz():
    n = 12
    h = 1.0 / (n - 1)
    mu = 4 / h**2 * np.sin(np.pi * np.arange(1, n - 1) * h / 2) ** 2
    k = float(np.sqrt(mu[1] + mu[2]))  # mode (p, q) = (2, 3)
    with pytest.raises(ValueError, match=r"\(mode p=(2, q=3|3, q=2)\).*singular"):
        Helmholtz2D(n, k)
    # close to an eigenvalue in float32 but regular in float64: singular only when solving in float32
    k_near = float(np.sqrt((mu[1] + mu[2]) * (1 + 1e-9)))
    solver = Helmholtz2D(n, k_near)
    solver.solve(np.ones((n, n)))
    with pytest.raises(ValueError, match="singular"):
        solver.solve(np.ones((n, n), dtype=np.float32))
    # the continuum eigenvalue 13 pi^2 is not a discrete one: no error
    Helmholtz2D(n, float(np.sqrt(13) * np.pi)).solve(np.ones((n, n)))


@pytest.mark.parametrize("module", [darcy_module, dst_module, grid_module, sine_transform_module])
def test_module_examples(module):
    failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0
