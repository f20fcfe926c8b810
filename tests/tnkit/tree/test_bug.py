"""BUG integrators: one step of every method against independent dense reimplementations
(matrix and Tucker), exactness for full-rank states, convergence order, norm
conservation, rank adaptivity, time-dependent operators, callable right-hand sides,
thread-parallel determinism, records, checkpoints, and input validation."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg as sla
import scipy.sparse.linalg as ssl

import tnkit
from tnkit.linalg import ConvergenceError
from tnkit.run import Run
from tnkit.tree import TTN, Tree, bug
from tnkit.tree.kron import KronOperator

METHODS = ["adaptive", "fixed", "parallel", "ksl"]
X = np.array([[0.0, 1.0], [1.0, 0.0]])
Z = np.diag([1.0, -1.0])
UP = np.array([1.0, 0.0])


def ising(length: int, g: float = 0.9) -> KronOperator:
    h = KronOperator([2] * length)
    for i in range(length - 1):
        h.add({i: Z, i + 1: Z})
    for i in range(length):
        h.add({i: X}, coef=g)
    return h


def exact(h: KronOperator, psi0: np.ndarray, t: float) -> np.ndarray:
    return ssl.expm_multiply(-1j * t * h.to_sparse(), psi0.reshape(-1).astype(complex)).reshape(psi0.shape)


def flow(lin, x0: np.ndarray, h: float) -> np.ndarray:
    """Exact ``exp(h L) x0`` for a linear map ``L`` on arrays (built column by column)."""
    shape, n = x0.shape, x0.size
    m = np.column_stack([lin(e.reshape(shape)).reshape(-1) for e in np.eye(n, dtype=x0.dtype)])
    return (sla.expm(h * m) @ x0.reshape(-1)).reshape(shape)


# ------------------------------------------------------------------ matrix references


def matrix_references(seed: int = 0, n: int = 10, r: int = 3, h: float = 0.1):
    """Dense one-step references for the tree ``(0, 1)`` (F(Y) = A1 Y + Y A2^T)."""
    rng = np.random.default_rng(seed)
    a1, a2 = rng.standard_normal((n, n)) / 3, rng.standard_normal((n, n)) / 3
    op = KronOperator([n, n]).add({0: a1}).add({1: a2})

    def f(y):
        return a1 @ y + y @ a2.T

    u0 = np.linalg.qr(rng.standard_normal((n, r)))[0]
    v0 = np.linalg.qr(rng.standard_normal((n, r)))[0]
    s0 = rng.standard_normal((r, r))
    y0 = u0 @ s0 @ v0.T

    def orth(x):
        return np.linalg.qr(x)[0]

    def perp(b, x):
        w = x - b @ (b.T @ x)
        w = w - b @ (b.T @ w)
        u, s, _ = np.linalg.svd(w, full_matrices=False)
        return u[:, s > 1e-12 * max(np.linalg.norm(x, 2), 1e-300)]

    k1 = flow(lambda k: f(k @ v0.T) @ v0, u0 @ s0, h)
    l1 = flow(lambda l_: f(u0 @ l_.T).T @ u0, v0 @ s0.T, h)
    refs = {}
    # parallel BUG: Galerkin in the old bases, off-diagonal blocks from K and L
    sb = flow(lambda s: u0.T @ f(u0 @ s @ v0.T) @ v0, s0, h)
    ut, vt = perp(u0, k1), perp(v0, l1)
    sh = np.block([[sb, l1.T @ vt], [ut.T @ k1, np.zeros((ut.shape[1], vt.shape[1]))]])
    refs["parallel"] = np.hstack([u0, ut]) @ sh @ np.hstack([v0, vt]).T
    # rank-adaptive BUG: augmented bases
    uh, vh = orth(np.hstack([u0, k1])), orth(np.hstack([v0, l1]))
    refs["adaptive"] = uh @ flow(lambda s: uh.T @ f(uh @ s @ vh.T) @ vh, uh.T @ y0 @ vh, h) @ vh.T
    # fixed-rank BUG
    uf, vf = orth(k1), orth(l1)
    refs["fixed"] = uf @ flow(lambda s: uf.T @ f(uf @ s @ vf.T) @ vf, uf.T @ y0 @ vf, h) @ vf.T
    # projector splitting: K, backward S, L
    u1, sh1 = np.linalg.qr(k1)
    st = flow(lambda s: -(u1.T @ f(u1 @ s @ v0.T) @ v0), sh1, h)
    l1k = flow(lambda l_: f(u1 @ l_.T).T @ u1, v0 @ st.T, h)
    v1, s1t = np.linalg.qr(l1k)
    refs["ksl"] = u1 @ s1t.T @ v1.T
    return op, (u0, v0, s0), refs, h


@pytest.mark.parametrize("method", METHODS)
def test_matrix_step_matches_dense_reference(bk, method) -> None:
    if bk.name in ("cupy", "torch-cuda"):
        pytest.skip("CPU reference")
    op, (u0, v0, s0), refs, h = matrix_references()
    y0 = TTN(Tree((0, 1)), [bk.asarray(u0), bk.asarray(v0), bk.asarray(s0[:, :, None])])
    out = bug.step(y0, op, 0.0, h, method=method, tol=0.0, inner="krylov")
    assert type(out.tensors[0]) is type(y0.tensors[0])
    np.testing.assert_allclose(bk.to_numpy(out.to_dense()), refs[method], atol=1e-12)
    expect_rank = 3 if method in ("fixed", "ksl") else 6
    assert out.bond_dims == (expect_rank, expect_rank)


# ------------------------------------------------------------------ Tucker reference


def mat(x: np.ndarray, i: int) -> np.ndarray:
    """Mode-i unfolding, the other modes in increasing order (C order)."""
    return np.moveaxis(x, i, 0).reshape(x.shape[i], -1)


def fold(m: np.ndarray, i: int, shape: tuple[int, ...]) -> np.ndarray:
    rest = tuple(s for j, s in enumerate(shape) if j != i)
    return np.moveaxis(m.reshape((shape[i],) + rest), 0, i)


def tucker_dense(core: np.ndarray, bases) -> np.ndarray:
    out = core
    for i, u in enumerate(bases):
        out = np.moveaxis(np.tensordot(u, out, axes=([1], [i])), 0, i)
    return out


def test_tucker_adaptive_step_matches_dense_reference(bk) -> None:
    if bk.name in ("cupy", "torch-cuda"):
        pytest.skip("CPU reference")
    rng = np.random.default_rng(3)
    dims, ranks, h = (3, 4, 5), (2, 2, 2), 0.15
    facs = [(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) / 4 for n in dims]
    b0 = (rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))) / 4
    b2 = rng.standard_normal((5, 5)) / 4
    op = KronOperator(dims).add({0: facs[0]}).add({1: facs[1]}).add({2: facs[2]}, coef=0.5 - 0.2j)
    op.add({0: b0, 2: b2})
    i3, i4, i5 = np.eye(3), np.eye(4), np.eye(5)
    big = (
        np.kron(np.kron(facs[0], i4), i5)
        + np.kron(np.kron(i3, facs[1]), i5)
        + (0.5 - 0.2j) * np.kron(np.kron(i3, i4), facs[2])
        + np.kron(np.kron(b0, i4), b2)
    )

    def f(y):
        return (big @ y.reshape(-1)).reshape(y.shape)

    us = [np.linalg.qr(rng.standard_normal((n, r)) + 1j * rng.standard_normal((n, r)))[0] for n, r in zip(dims, ranks)]
    c0 = rng.standard_normal(ranks) + 1j * rng.standard_normal(ranks)
    y0 = tucker_dense(c0, us)
    new_bases = []
    for i in range(3):
        q, r = np.linalg.qr(mat(c0, i).T)  # Mat_i(C0)^T = Q R, Q: (prod r_others, r_i)
        others = [us[j] for j in range(3) if j != i]
        v = np.kron(others[0], others[1]) @ q  # (prod n_others, r_i), other modes in increasing order
        k0 = us[i] @ r.T
        np.testing.assert_allclose(k0 @ v.T, mat(y0, i), atol=1e-12)  # Mat_i(Y0) = K0 V^T

        def k_map(k, i=i, v=v):
            return mat(f(fold(k @ v.T, i, dims)), i) @ v.conj()

        k1 = flow(k_map, k0, h)
        new_bases.append(np.linalg.qr(np.hstack([us[i], k1]))[0])
    ch0 = tucker_dense(y0, [u.conj().T for u in new_bases])

    def galerkin(c):
        return tucker_dense(f(tucker_dense(c, new_bases)), [u.conj().T for u in new_bases])

    ref = tucker_dense(flow(galerkin, ch0, h), new_bases)

    y = TTN(Tree.tucker(3), [bk.asarray(a) for a in [*us, c0[..., None]]])
    out = bug.step(y, op, 0.0, h, method="adaptive", tol=0.0, inner="krylov")
    np.testing.assert_allclose(bk.to_numpy(out.to_dense()), ref, atol=1e-11)
    assert out.bond_dims == tuple(u.shape[1] for u in new_bases) == (3, 4, 4)
    for i, u in enumerate(new_bases):  # the same subspaces, not necessarily the same bases
        w = bk.to_numpy(out.tensors[out.tree.leaf_of[i]])
        np.testing.assert_allclose(w @ w.conj().T, u @ u.conj().T, atol=1e-11)


# ------------------------------------------------------------------ exactness and convergence


@pytest.mark.parametrize("spec", [((0, 1), (2, 3)), (0, 1, 2, 3)])
@pytest.mark.parametrize("method", METHODS)
def test_full_rank_state_is_evolved_exactly(bk, method, spec) -> None:
    if bk.name in ("cupy", "torch-cuda"):
        pytest.skip("CPU reference")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2,) * 4) + 1j * rng.standard_normal((2,) * 4)
    h = ising(4)
    y0 = TTN.from_dense(bk.asarray(x), Tree(spec))
    res = bug.integrate(y0, -1j * h, 0.3, 0.1, method=method, inner="krylov", tol=0.0)
    np.testing.assert_allclose(bk.to_numpy(res.state.to_dense()), exact(h, x, 0.3), atol=1e-10)
    assert res.steps == 3


def run_from_product(method: str, dt: float, length: int = 6, t_final: float = 0.4, bk=None, **kw):
    h = ising(length)
    up = UP if bk is None else bk.asarray(UP)
    y0 = TTN.product([up] * length, Tree.balanced(length))
    if method in ("fixed", "ksl"):
        y0 = y0.expand(4, rng=0)
    return bug.integrate(y0, -1j * h, t_final, dt, method=method, inner="krylov", **kw), h


def test_adaptive_converges_at_least_linearly(bk) -> None:
    if bk.name in ("cupy", "torch-cuda"):
        pytest.skip("CPU reference")
    psi0 = np.zeros((2,) * 6)
    psi0[(0,) * 6] = 1.0
    errs = []
    for dt in (0.1, 0.05, 0.025):
        res, h = run_from_product("adaptive", dt, tol=1e-10, bk=bk)
        errs.append(np.linalg.norm(bk.to_numpy(res.state.to_dense()) - exact(h, psi0, 0.4)))
    assert errs[0] < 1e-2
    assert errs[1] <= errs[0] / 1.8 and errs[2] <= errs[1] / 1.8, errs


@pytest.mark.parametrize("method, bound", [("ksl", 1e-10), ("adaptive", 1e-7), ("fixed", None)])
def test_norm_conservation(bk, method, bound) -> None:
    res, _ = run_from_product(method, 0.05, tol=1e-9, bk=bk)
    np.testing.assert_allclose(res.norms[0], 1.0, rtol=1e-14)
    if bound is not None:
        assert res.norm_drift <= bound
    else:  # fixed-rank BUG projects the old state on the new bases: norm is not conserved
        assert 1e-6 < res.norm_drift < 0.1
    assert res.norm_drift == pytest.approx(np.max(np.abs(res.norms - res.norms[0])))


@pytest.mark.parametrize("method", ["adaptive", "parallel"])
def test_rank_grows_and_respects_max_rank(bk, method) -> None:
    res, _ = run_from_product(method, 0.05, t_final=0.5, tol=1e-8, max_rank=3, bk=bk)
    assert res.bond_dims[0].tolist() == [1] * 10
    assert res.bond_dims.max() == 3
    assert np.all(res.bond_dims <= 3)
    assert np.all(np.diff(res.max_bond) >= 0)
    assert res.state.max_bond <= 3
    free, _ = run_from_product(method, 0.05, t_final=0.5, tol=1e-8, bk=bk)
    assert free.bond_dims.max() > 3


# ------------------------------------------------------------------ time-dependent operators


@pytest.mark.parametrize("inner, atol", [("krylov", 2e-5), ("rk4", 2e-5)])
def test_time_dependent_coefficient_uncoupled_spins(bk, inner, atol) -> None:
    if bk.name in ("cupy", "torch-cuda"):
        pytest.skip("CPU reference")
    # H(t) = cos(t) (X_0 + X_1): commuting in time, U(t) = exp(-i sin(t) X) per spin
    h = KronOperator([2, 2]).add({0: X}, coef=np.cos).add({1: X}, coef=np.cos)
    y0 = TTN.product([bk.asarray(UP), bk.asarray(UP)], Tree.tucker(2))
    t_final = 1.0
    res = bug.integrate(y0, -1j * h, t_final, 0.02, method="adaptive", inner=inner, tol=1e-12)
    s = np.sin(t_final)
    spin = np.array([np.cos(s), -1j * np.sin(s)])
    np.testing.assert_allclose(bk.to_numpy(res.state.to_dense()), np.outer(spin, spin), atol=atol)
    if inner == "krylov":  # exact inner solves keep the product state rank one
        assert res.bond_dims[-1].tolist() == [1, 1]


def test_time_dependent_coefficient_with_nonzero_t0(bk) -> None:
    if bk.name in ("cupy", "torch-cuda"):
        pytest.skip("CPU reference")
    h = KronOperator([2, 2]).add({0: X}, coef=np.cos).add({1: X}, coef=np.cos)
    y0 = TTN.product([bk.asarray(UP), bk.asarray(UP)], Tree.tucker(2))
    res = bug.integrate(y0, -1j * h, 1.5, 0.02, t0=0.5, inner="krylov")
    s = np.sin(1.5) - np.sin(0.5)
    spin = np.array([np.cos(s), -1j * np.sin(s)])
    np.testing.assert_allclose(bk.to_numpy(res.state.to_dense()), np.outer(spin, spin), atol=1e-5)
    assert res.steps == 50 and res.times[0] == 0.5 and res.times[-1] == pytest.approx(1.5)


def test_time_dependent_coupled_against_solve_ivp(bk) -> None:
    if bk.name in ("cupy", "torch-cuda"):
        pytest.skip("CPU reference")
    rng = np.random.default_rng(5)
    h = KronOperator([2, 2, 2]).add({0: Z, 1: Z}).add({1: X}, coef=lambda t: np.sin(2 * t)).add({2: X, 0: X}, coef=0.3)
    x = rng.standard_normal((2, 2, 2)) + 1j * rng.standard_normal((2, 2, 2))
    y0 = TTN.from_dense(bk.asarray(x), Tree.tucker(3))

    def rhs(t, v):
        return -1j * (h.to_sparse(t) @ v)

    sol = scipy.integrate.solve_ivp(rhs, (0.0, 0.6), x.reshape(-1), rtol=1e-11, atol=1e-12)
    ref = sol.y[:, -1].reshape(x.shape)

    def err(method, inner, dt):
        res = bug.integrate(y0, -1j * h, 0.6, dt, method=method, inner=inner, tol=0.0)
        return np.abs(bk.to_numpy(res.state.to_dense()) - ref).max()

    # full-rank Tucker: the Galerkin step runs in complete bases, RK4 is the only error
    for method in ("adaptive", "fixed", "parallel"):
        assert err(method, "rk4", 0.01) < 1e-8
    # midpoint-frozen Krylov: second order in dt
    e1, e2 = err("adaptive", "krylov", 0.02), err("adaptive", "krylov", 0.01)
    assert e2 < 1e-4 and e2 <= e1 / 3.5
    # projector splitting with time-dependent coefficients: converges, at least linearly
    e1, e2 = err("ksl", "rk4", 0.02), err("ksl", "rk4", 0.01)
    assert e2 < 1e-3 and e2 <= e1 / 1.8


# ------------------------------------------------------------------ callable right-hand sides


@pytest.mark.parametrize("method", METHODS)
def test_linear_callable_matches_operator(bk, method) -> None:
    if bk.name in ("cupy", "torch-cuda"):
        pytest.skip("CPU reference")
    h = ising(4)
    hm = -1j * h

    def f(t, y):  # the NumPy reference product, on the state's library
        return bk.asarray(hm.apply_dense(bk.to_numpy(y), t))

    y0 = TTN.product([bk.asarray(UP.astype(complex))] * 4, Tree.balanced(4)).expand(2, rng=1)
    kw = dict(method=method, inner="rk4", substeps=2, tol=1e-10)
    a = bug.integrate(y0, hm, 0.2, 0.05, **kw)
    b = bug.integrate(y0, f, 0.2, 0.05, **kw)
    np.testing.assert_allclose(bk.to_numpy(b.state.to_dense()), bk.to_numpy(a.state.to_dense()), atol=1e-12)


@pytest.mark.parametrize("method", ["adaptive", "fixed", "parallel"])
def test_nonlinear_callable_full_rank_against_solve_ivp(bk, method) -> None:
    if bk.name in ("cupy", "torch-cuda"):
        pytest.skip("CPU reference")
    rng = np.random.default_rng(6)
    x = 0.8 * rng.standard_normal((2, 2, 2))

    def f(t, y):
        return y - y**3

    y0 = TTN.from_dense(bk.asarray(x), Tree.tucker(3))
    res = bug.integrate(y0, f, 0.5, 0.05, method=method, inner="rk4", substeps=2, tol=0.0)
    sol = scipy.integrate.solve_ivp(lambda t, v: v - v**3, (0.0, 0.5), x.reshape(-1), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(bk.to_numpy(res.state.to_dense()), sol.y[:, -1].reshape(x.shape), atol=1e-6)


# ------------------------------------------------------------------ parallel executor


def test_parallel_executor_matches_sequential() -> None:
    kw = dict(method="parallel", tol=1e-9, inner="krylov")
    h = ising(6)
    y0 = TTN.product([UP] * 6, Tree.balanced(6))
    seq = bug.integrate(y0, -1j * h, 0.2, 0.05, **kw)
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        par = bug.integrate(y0, -1j * h, 0.2, 0.05, run=Run(executor=ex), **kw)
    assert par.state.bond_dims == seq.state.bond_dims
    for a, b in zip(par.state.tensors, seq.state.tensors):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(par.norms, seq.norms)


# ------------------------------------------------------------------ records and checkpoints


def test_observables_and_every() -> None:
    h = ising(4)
    y0 = TTN.product([UP] * 4, Tree.tucker(4))
    z0 = KronOperator([2] * 4).add({0: Z})

    def mag(t, y):
        d = y.to_dense()
        return float(np.real(np.vdot(d, z0.apply_dense(d))))

    obs = {"z0": mag, "t": lambda t, y: t}
    res = bug.integrate(y0, -1j * h, 1.0, 0.1, inner="krylov", tol=1e-10, observables=obs, every=3)
    np.testing.assert_allclose(res.times, [0.0, 0.3, 0.6, 0.9, 1.0], atol=1e-12)
    assert res.bond_dims.shape == (5, 4) and res.norms.shape == (5,)
    assert res.observables["z0"].shape == (5,)
    np.testing.assert_allclose(res.observables["t"], res.times)
    assert res.steps == 10 and res.method == "adaptive"
    psi0 = np.zeros((2,) * 4)
    psi0[0, 0, 0, 0] = 1.0
    want = []
    for t in res.times:
        d = exact(h, psi0, t)
        want.append(np.real(np.vdot(d, z0.apply_dense(d))))
    np.testing.assert_allclose(res.observables["z0"], want, atol=1e-3)
    assert res.observables["z0"][0] == 1.0
    assert res.norm_drift < 1e-8
    # last step shortened to land on t_final
    short = bug.integrate(y0, -1j * h, 0.25, 0.1, inner="krylov")
    np.testing.assert_allclose(short.times, [0.0, 0.1, 0.2, 0.25], atol=1e-12)
    np.testing.assert_allclose(short.state.to_dense(), exact(h, psi0, 0.25), atol=1e-3)


def test_checkpoint_resume_equals_uninterrupted(tmp_path) -> None:
    h = ising(4)
    y0 = TTN.product([UP] * 4, Tree.balanced(4))
    dt = 0.0625  # binary-exact times
    kw = dict(method="adaptive", tol=1e-9, inner="krylov", observables={"n": lambda t, y: float(y.norm())})
    full = bug.integrate(y0, -1j * h, 10 * dt, dt, run=Run(checkpoint=tmp_path / "full.h5", checkpoint_every=5), **kw)
    first = bug.integrate(y0, -1j * h, 5 * dt, dt, run=Run(checkpoint=tmp_path / "part.h5"), **kw)
    assert first.steps == 5
    rest = bug.integrate(y0, -1j * h, 10 * dt, dt, run=Run(checkpoint=tmp_path / "part.h5", resume=True), **kw)
    assert rest.steps == 5
    np.testing.assert_array_equal(rest.times, full.times)
    np.testing.assert_array_equal(rest.bond_dims, full.bond_dims)
    np.testing.assert_array_equal(rest.norms, full.norms)
    np.testing.assert_array_equal(rest.observables["n"], full.observables["n"])
    np.testing.assert_allclose(rest.state.to_dense(), full.state.to_dense(), atol=1e-14)
    # resuming the finished run takes no steps and returns the stored state
    done = bug.integrate(y0, -1j * h, 10 * dt, dt, run=Run(checkpoint=tmp_path / "full.h5", resume=True), **kw)
    assert done.steps == 0
    np.testing.assert_array_equal(done.state.to_dense(), full.state.to_dense())


def test_corrupt_or_foreign_checkpoint_raises_data_error(tmp_path) -> None:
    h = ising(4)
    y0 = TTN.product([UP] * 4, Tree.balanced(4))
    path = tmp_path / "c.h5"
    bug.integrate(y0, -1j * h, 0.2, 0.1, inner="krylov", run=Run(checkpoint=path))
    raw = bytearray(path.read_bytes())
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"this is not an HDF5 file")
    with pytest.raises(tnkit.io.DataError):
        bug.integrate(y0, -1j * h, 0.4, 0.1, inner="krylov", run=Run(checkpoint=bad, resume=True))
    cut = tmp_path / "cut.h5"
    cut.write_bytes(bytes(raw[: len(raw) // 2]))
    with pytest.raises(tnkit.io.DataError):
        bug.integrate(y0, -1j * h, 0.4, 0.1, inner="krylov", run=Run(checkpoint=cut, resume=True))
    other = TTN.product([UP] * 4, Tree.tucker(4))
    with pytest.raises(tnkit.io.DataError, match="another tree"):
        bug.integrate(other, -1j * h, 0.4, 0.1, inner="krylov", run=Run(checkpoint=path, resume=True))
    # resuming from a checkpoint that does not exist yet starts afresh (and writes it)
    fresh = bug.integrate(y0, -1j * h, 0.4, 0.1, inner="krylov", run=Run(checkpoint=tmp_path / "new.h5", resume=True))
    assert fresh.steps == 4 and (tmp_path / "new.h5").exists()


# ------------------------------------------------------------------ bad input


def test_bad_input() -> None:
    h = ising(3)
    y0 = TTN.product([UP] * 3, Tree.tucker(3))
    hm = -1j * h

    def go(**kw):
        args = dict(y0=y0, rhs=hm, t_final=0.2, dt=0.1)
        args.update(kw)
        return bug.integrate(**args)

    with pytest.raises(ValueError, match="unknown method 'bogus'"):
        go(method="bogus")
    with pytest.raises(ValueError, match="unknown inner solver 'euler'"):
        go(inner="euler")
    with pytest.raises(ValueError, match="tol must be"):
        go(tol=-1e-3)
    for dt in (0.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="dt must be a positive"):
            go(dt=dt)
    with pytest.raises(ValueError, match="max_rank must be"):
        go(max_rank=0)
    with pytest.raises(ValueError, match="substeps must be"):
        go(substeps=0)
    with pytest.raises(ValueError, match="every must be"):
        go(every=0)
    with pytest.raises(ValueError, match="t_final"):
        go(t_final=-1.0)
    with pytest.raises(ValueError, match=r"operator acts on dims \(2, 2, 3\)"):
        go(rhs=KronOperator([2, 2, 3]).add({2: np.eye(3)}))
    with pytest.raises(ValueError, match="needs a linear right-hand side"):
        go(rhs=lambda t, y: -y, inner="krylov")
    # RK4 at dt * ||A|| = 5 on the imaginary axis: the norm of a skew-Hermitian flow grows
    # beyond the log-norm bound (ConvergenceError, "unstable")
    with pytest.raises((ValueError, ConvergenceError), match="stab"):
        go(rhs=-1j * KronOperator([2] * 3).add({0: 10 * X}), inner="rk4", dt=0.5, t_final=1.0)
    go(rhs=-1j * KronOperator([2] * 3).add({0: 10 * X}), inner="rk4", dt=0.5, substeps=2, t_final=0.5)
    with pytest.raises(TypeError, match="must be a tnkit.tree.ttn.TTN"):
        go(y0=y0.to_dense())
    with pytest.raises(TypeError, match=r"state's library and device: namespace\(\): no array"):
        go(rhs=lambda t, y: y.tolist())
    with pytest.raises(TypeError, match="rhs must be a KronOperator or a callable"):
        go(rhs=3.0)
    with pytest.raises(ValueError, match="unknown method"):
        bug.step(y0, hm, 0.0, 0.1, method="nope")
    with pytest.raises(ValueError, match="dt must be"):
        bug.step(y0, hm, 0.0, 0.0)
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="state's library and device: mixed array libraries: numpy and torch"):
        go(rhs=lambda t, y: torch.from_numpy(-y))


@pytest.mark.parametrize("kind", ["inf", "nan", "grows"])
def test_callable_blow_up_raises_convergence_error(kind) -> None:
    rng = np.random.default_rng(7)
    y0 = TTN.from_dense(rng.standard_normal((2, 2, 2)), Tree.tucker(3))
    funcs = {
        "inf": lambda t, y: y * np.inf,
        "nan": lambda t, y: y * np.nan,
        "grows": lambda t, y: 1e3 * y**5,
    }
    with np.errstate(all="ignore"), pytest.raises(ConvergenceError, match="NaN/Inf"):
        bug.integrate(y0, funcs[kind], 1.0, 0.5, method="adaptive")
