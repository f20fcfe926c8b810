"""Pseudo-spectral Navier-Stokes and Burgers: exact solutions, convergence orders,
invariants, backends and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from physics.pde.cole_hopf import burgers_sine_exact
from physics.pde.spectral_solvers import METHODS, Burgers1D, NavierStokes2D, fno_forcing


def _tg(ns: NavierStokes2D, m: int = 1) -> np.ndarray:
    x, y = ns.grid
    return 2 * np.sin(m * x) * np.sin(m * y)


@pytest.mark.parametrize("method", METHODS)
def test_taylor_green_is_exact(bk, method) -> None:
    ns = NavierStokes2D(16, 0.05, length=2 * np.pi, dt=1e-3, method=method)
    w0 = _tg(ns, 2)
    w, traj = ns.solve(bk.asarray(w0), 0.2, snapshots=4)
    assert traj.shape == (4, 16, 16)
    exact = w0 * np.exp(-8 * 0.05 * 0.2)
    a = 8 * 0.05 * 1e-3  # nu |k|^2 dt; CN's decay factor per step is off by a^3 / 12
    tol = 1e-13 if method == "etdrk4" else 200 * a**3 / 12 * 2 * 1.5
    assert np.abs(bk.to_numpy(w) - exact).max() < tol
    assert np.allclose(bk.to_numpy(traj[1, ...]), w0 * np.exp(-8 * 0.05 * 0.1), atol=tol)


def _random_state(n: int, batch: tuple[int, ...] = (), seed: int = 0) -> np.ndarray:
    """A smooth random vorticity (a few low modes)."""
    rng = np.random.default_rng(seed)
    x = np.arange(n) / n
    X, Y = np.meshgrid(x, x, indexing="ij")
    out = np.zeros(batch + (n, n))
    for _ in range(6):
        kx, ky = rng.integers(-3, 4, 2)
        a = rng.standard_normal(batch + (1, 1))
        out += a * np.cos(2 * np.pi * (kx * X + ky * Y) + rng.uniform(0, 2 * np.pi))
    return out


def test_backends_and_batches_agree(bk) -> None:
    ns = NavierStokes2D(32, 1e-2, forcing=fno_forcing, dt=1e-3)
    w0 = _random_state(32, (3,))
    ref = ns.step(w0, 20)
    got = bk.to_numpy(ns.step(bk.asarray(w0), 20))
    assert np.allclose(got, ref, rtol=0, atol=1e-12)
    single = ns.step(w0[1], 20)
    assert np.allclose(single, ref[1], rtol=0, atol=1e-13)


def test_float32_is_kept(bk) -> None:
    ns = NavierStokes2D(32, 1e-2, forcing=fno_forcing, dt=1e-3, method="etdrk4")
    w0 = _random_state(32)
    w = ns.step(bk.asarray(w0, "float32"), 10)
    assert w.dtype == bk.dtype("float32")
    assert np.abs(bk.to_numpy(w) - ns.step(w0, 10)).max() < 1e-4 * np.abs(w0).max()


@pytest.mark.parametrize("method, order", [("cn-euler", 1), ("cn-heun", 2), ("etdrk4", 4)])
def test_time_order_on_a_nonlinear_flow(method, order) -> None:
    n, nu, t = 32, 2e-2, 0.5
    w0 = 3 * _random_state(n)
    ref = NavierStokes2D(n, nu, forcing=fno_forcing, dt=t / 800, method="etdrk4").step(w0, 800)
    errs = []
    for steps in (25, 50):
        ns = NavierStokes2D(n, nu, forcing=fno_forcing, dt=t / steps, method=method)
        errs.append(np.abs(ns.step(w0, steps) - ref).max())
    observed = np.log2(errs[0] / errs[1])
    assert abs(observed - order) < 0.3, (errs, observed)


def test_mean_vorticity_and_burgers_mean_are_conserved() -> None:
    ns = NavierStokes2D(32, 1e-3, dt=1e-3)
    w0 = _random_state(32) + 0.7
    w = ns.step(w0, 50)
    assert abs(w.mean() - w0.mean()) < 1e-13
    b = Burgers1D(64, 0.05, dt=1e-3)
    u0 = np.sin(2 * np.pi * b.grid[0]) + 0.3
    u = b.step(u0, 100)
    assert abs(u.mean() - u0.mean()) < 1e-14


def test_inviscid_invariants_with_dealiasing() -> None:
    n = 32
    ns = NavierStokes2D(n, 0.0, dt=2e-3, method="etdrk4")
    keep = np.fft.rfft2(_random_state(n, seed=3))
    from physics.pde._spectral import dealias_mask

    w0 = np.fft.irfft2(keep * dealias_mask(n, 2), s=(n, n))
    w = ns.step(w0, 200)
    assert abs(ns.energy(w) / ns.energy(w0) - 1) < 1e-8
    assert abs(ns.enstrophy(w) / ns.enstrophy(w0) - 1) < 1e-8
    assert np.abs(w - w0).max() > 1e-2  # the flow did move


def test_velocity_is_divergence_free_and_matches_stream_function() -> None:
    ns = NavierStokes2D(16, 0.0, length=2 * np.pi)
    x, y = ns.grid
    w = 2 * np.sin(x) * np.cos(2 * y)  # psi = w / 5
    u, v = ns.velocity(w)
    assert np.allclose(u, -4 / 5 * np.sin(x) * np.sin(2 * y), atol=1e-13)  # psi_y
    assert np.allclose(v, -2 / 5 * np.cos(x) * np.cos(2 * y), atol=1e-13)  # -psi_x


def test_burgers_matches_cole_hopf() -> None:
    nu = 0.05
    b = Burgers1D(256, nu, length=2.0, x0=-1.0, dt=1e-3)
    (x,) = b.grid
    u, traj = b.solve(-np.sin(np.pi * x), 0.3, snapshots=3)
    assert traj.shape == (3, 256)
    assert np.abs(u - burgers_sine_exact(x, 0.3, nu)).max() < 1e-9
    assert np.abs(traj[0] - burgers_sine_exact(x, 0.1, nu)).max() < 1e-9


def test_burgers_backends(bk) -> None:
    b = Burgers1D(128, 0.02, dt=1e-3)
    u0 = np.sin(2 * np.pi * b.grid[0])[None, :] * np.array([[1.0], [0.5]])
    ref = b.step(u0, 50)
    got = b.step(bk.asarray(u0), 50)
    assert np.allclose(bk.to_numpy(got), ref, rtol=0, atol=1e-13)


def test_progress_and_callback() -> None:
    ns = NavierStokes2D(16, 1e-2, dt=1e-2)
    seen = []
    ns.solve(_random_state(16), 0.1, snapshots=5, callback=lambda t, w: seen.append(round(t, 10)), progress=False)
    assert seen == [0.02, 0.04, 0.06, 0.08, 0.1]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"nu": -1e-3}, "viscosity nu must be a finite number >= 0"),
        ({"nu": float("nan")}, "viscosity"),
        ({"n": 15}, "must be even"),
        ({"n": 2}, "int >= 4"),
        ({"dt": 0.0}, "time step dt"),
        ({"method": "rk3"}, "method must be one of"),
        ({"forcing": np.zeros((8, 8))}, "forcing must be an"),
        ({"length": -1.0}, "period length"),
    ],
)
def test_bad_construction(kwargs, match) -> None:
    args = {"n": 16, "nu": 1e-3, **kwargs}
    n, nu = args.pop("n"), args.pop("nu")
    with pytest.raises(ValueError, match=match):
        NavierStokes2D(n, nu, **args)


def test_bad_solve_input() -> None:
    ns = NavierStokes2D(16, 1e-3, dt=1e-2)
    w0 = _random_state(16)
    with pytest.raises(ValueError, match="not a whole number of steps"):
        ns.solve(w0, 0.015)
    with pytest.raises(ValueError, match="equal snapshot"):
        ns.solve(w0, 0.1, snapshots=3)
    with pytest.raises(ValueError, match=r"trailing shape \(16, 16\)"):
        ns.solve(w0[:8], 0.1)
    with pytest.raises(ValueError, match="float32 or float64"):
        ns.step(w0.astype(int))
    with pytest.raises(ValueError, match="steps must be an int"):
        ns.step(w0, -1)


def test_cfl_violation_is_reported() -> None:
    ns = NavierStokes2D(64, 1e-3, dt=0.05)
    with pytest.raises(ValueError, match=r"CFL violation at t = 0: .* lower dt to <="):
        ns.solve(50 * _random_state(64), 0.5)
    b = Burgers1D(64, 1e-3, dt=0.1)
    with pytest.raises(ValueError, match="CFL violation"):
        b.solve(np.sin(2 * np.pi * b.grid[0]), 1.0)


@pytest.mark.parametrize("method", ["cn-heun", "cn-euler"])
def test_workspace_path_matches_the_generic_path(method, monkeypatch) -> None:
    """NumPy steps in preallocated buffers; the numbers are the generic path's."""
    ns = NavierStokes2D(32, 1e-2, forcing=fno_forcing, dt=1e-3, method=method)
    w0 = _random_state(32, (2,))
    fast = ns.step(w0, 7)
    wh = ns._fft(__import__("tnkit").backend.namespace(w0), w0)
    assert ns._workspace(__import__("tnkit").backend.namespace(w0), wh, ns._ops(w0)) is not None
    monkeypatch.setattr(NavierStokes2D, "_workspace", lambda self, xp, wh, ops: None)
    slow = ns.step(w0, 7)
    assert np.array_equal(np.asarray(fast), np.asarray(slow))
    # consecutive calls reuse the buffers without aliasing: 7 steps = 3 + 4 (up to the
    # rounding of the extra transform to the grid and back)
    monkeypatch.undo()
    assert np.allclose(np.asarray(ns.step(ns.step(w0, 3), 4)), np.asarray(fast), rtol=0, atol=1e-12)


def test_one_solver_in_several_threads() -> None:
    """The NumPy workspace is per thread: concurrent steps on one solver do not collide."""
    from concurrent.futures import ThreadPoolExecutor

    ns = NavierStokes2D(32, 1e-2, forcing=fno_forcing, dt=1e-3)
    states = [_random_state(32, seed=s) for s in range(4)]
    expected = [ns.step(w, 30) for w in states]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda w: ns.step(w, 30), states))
    for a, b in zip(got, expected):
        assert np.array_equal(a, b)
