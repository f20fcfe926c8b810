"""tnkit.decompositions.cp against explicit sums of rank-one terms, dense norms, planted CP ranks and tensorly."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tnkit
from tests.conftest import Backend, random_array, rtol_for
from tnkit import backend
from tnkit.decompositions.cp import CP, _mttkrp, cp_als


def _random_terms(
    rng: np.random.Generator, shape: tuple[int, ...], rank: int, dtype: str
) -> tuple[np.ndarray, list[np.ndarray]]:
    return random_array(rng, (rank,), dtype), [random_array(rng, (n, rank), dtype) for n in shape]


def _dense_by_loop(weights: np.ndarray, factors: list[np.ndarray]) -> np.ndarray:
    """Reference written independently of CP.to_dense: one outer product per term."""
    out = np.zeros(tuple(f.shape[0] for f in factors), dtype=np.result_type(weights, *factors))
    for r in range(weights.shape[0]):
        term = weights[r]
        for f in factors:
            term = np.multiply.outer(term, f[:, r])
        out += term
    return out


def _on(bk: Backend, weights: np.ndarray, factors: list[np.ndarray]) -> CP:
    return CP(bk.asarray(weights), [bk.asarray(f) for f in factors])


def _rel_err(t: CP, x: np.ndarray) -> float:
    return float(np.linalg.norm(backend.to_host(t.to_dense()) - x) / np.linalg.norm(x))


def _planted(rng: np.random.Generator, shape: tuple[int, ...], rank: int, dtype: str = "float64") -> np.ndarray:
    """A tensor of CP rank ``rank`` (generic Gaussian factors, unit weights)."""
    return _dense_by_loop(np.ones(rank, dtype=dtype), _random_terms(rng, shape, rank, dtype)[1])


# ----------------------------------------------------------------------------- the CP object


@pytest.mark.parametrize("shape", [(5,), (3, 4), (3, 4, 5), (2, 3, 2, 4)])
def test_to_dense_matches_loop(bk: Backend, dtype: str, shape: tuple[int, ...]) -> None:
    w, fs = _random_terms(np.random.default_rng(0), shape, 3, dtype)
    t = _on(bk, w, fs)
    assert (t.shape, t.ndim, t.rank, t.n_params) == (shape, len(shape), 3, 3 * (1 + sum(shape)))
    assert t.dtype == bk.dtype(dtype)
    dense = t.to_dense()
    assert backend.library_name(backend.namespace(dense)) == bk.name.replace("-cuda", "")
    assert dense.dtype == bk.dtype(dtype)
    ref = _dense_by_loop(w, fs)
    rtol = rtol_for(dtype)
    np.testing.assert_allclose(bk.to_numpy(dense), ref, rtol=rtol, atol=rtol * np.abs(ref).max())


def test_norm_and_inner_match_dense(bk: Backend, dtype: str) -> None:
    rng = np.random.default_rng(1)
    shape = (4, 3, 5)
    wa, fa = _random_terms(rng, shape, 3, dtype)
    wb, fb = _random_terms(rng, shape, 2, dtype)  # ranks differ
    a, b = _on(bk, wa, fa), _on(bk, wb, fb)
    da, db = _dense_by_loop(wa, fa), _dense_by_loop(wb, fb)
    rtol = rtol_for(dtype)
    np.testing.assert_allclose(complex(bk.to_numpy(a.inner(b))), np.vdot(da, db), rtol=rtol)
    np.testing.assert_allclose(complex(bk.to_numpy(b.inner(a))), np.vdot(db, da), rtol=rtol)
    for t, d in [(a, da), (b, db)]:
        nrm = bk.to_numpy(t.norm())
        assert nrm.shape == () and not np.iscomplexobj(nrm)
        np.testing.assert_allclose(float(nrm), np.linalg.norm(d), rtol=rtol)


def test_normalize_keeps_the_tensor(bk: Backend, dtype: str) -> None:
    w, fs = _random_terms(np.random.default_rng(2), (4, 5, 3), 3, dtype)
    fs[1][:, 2] = 0.0  # a zero column zeroes its term, and must not produce NaN
    t = _on(bk, w, fs)
    u = t.normalize()
    assert u.dtype == t.dtype and u.rank == 3
    rtol = rtol_for(dtype)
    ref = _dense_by_loop(w, fs)
    np.testing.assert_allclose(bk.to_numpy(u.to_dense()), ref, rtol=rtol, atol=rtol * np.abs(ref).max())
    norms = np.stack([np.linalg.norm(bk.to_numpy(f), axis=0) for f in u.factors])
    np.testing.assert_allclose(norms[[0, 2]], 1.0, rtol=rtol)
    np.testing.assert_allclose(norms[1], [1.0, 1.0, 0.0], rtol=rtol)
    np.testing.assert_allclose(bk.to_numpy(u.weights)[2], 0.0)
    expected = np.abs(w) * np.prod([np.linalg.norm(f, axis=0) for f in fs], axis=0)
    np.testing.assert_allclose(np.abs(bk.to_numpy(u.weights)), expected, rtol=rtol)


def test_repr() -> None:
    t = CP(np.ones(2), [np.ones((3, 2)), np.ones((4, 2))])
    assert repr(t) == "CP(shape=(3, 4), rank=2, dtype=float64)"


def test_mttkrp_matches_khatri_rao_unfolding(bk: Backend) -> None:
    rng = np.random.default_rng(3)
    shape, rank = (3, 4, 2, 5), 3
    x = random_array(rng, shape, "complex128")
    fs = _random_terms(rng, shape, rank, "complex128")[1]
    for k in range(len(shape)):
        others = [j for j in range(len(shape)) if j != k]
        # Khatri-Rao product, rows ordered like the C-order unfolding of the other modes
        kr = np.ones((1, rank), dtype=complex)
        for j in others:
            kr = (kr[:, None, :] * fs[j][None, :, :]).reshape(-1, rank)
        unfolding = np.moveaxis(x, k, 0).reshape(shape[k], -1)
        got = bk.to_numpy(_mttkrp(bk.asarray(x), [bk.asarray(f) for f in fs], k, "abcd"))
        np.testing.assert_allclose(got, unfolding @ kr.conj(), rtol=1e-12)


# ----------------------------------------------------------------------------- cp_als


def test_cp_als_recovers_planted_rank(bk: Backend, dtype: str) -> None:
    x = _planted(np.random.default_rng(4), (6, 7, 8), 3, dtype)
    # ALS converges linearly, so the fit-change tolerance sits well below the target
    # error; and this draw's complex tensor crosses a "swamp" (about 100 sweeps of
    # slow progress before fast convergence), so more sweeps than the default.
    t = cp_als(bk.asarray(x), 3, tol=1e-12, n_iter_max=300)
    assert t.rank == 3 and t.shape == (6, 7, 8)
    assert backend.library_name(t.xp) == bk.name.replace("-cuda", "")
    assert t.weights.dtype == bk.dtype(dtype) and all(f.dtype == bk.dtype(dtype) for f in t.factors)
    assert _rel_err(t, x) < (1e-4 if dtype == "float32" else 1e-8)
    for f in t.factors:
        np.testing.assert_allclose(np.linalg.norm(bk.to_numpy(f), axis=0), 1.0, rtol=1e-4)


@pytest.mark.parametrize("dt", ["float64", "complex128"])
def test_cp_als_random_init_recovers_planted_rank(bk: Backend, dt: str) -> None:
    x = _planted(np.random.default_rng(5), (6, 7, 8), 3, dt)
    xb = bk.asarray(x)
    assert _rel_err(cp_als(xb, 3, init="random", rng=0, tol=1e-12), x) < 1e-8
    # the same seed gives the same result
    a, b = cp_als(xb, 3, init="random", rng=7, n_iter_max=3), cp_als(xb, 3, init="random", rng=7, n_iter_max=3)
    np.testing.assert_array_equal(bk.to_numpy(a.to_dense()), bk.to_numpy(b.to_dense()))


@pytest.mark.parametrize("dt", ["float64", "complex128"])
def test_cp_als_noisy_error_decreases_with_rank(bk: Backend, dt: str) -> None:
    rng = np.random.default_rng(6)
    shape = (8, 9, 10)
    signal = _planted(rng, shape, 3, dt)
    noise = random_array(rng, shape, dt)
    noise *= 0.05 * np.linalg.norm(signal) / np.linalg.norm(noise)
    x = signal + noise
    errs = [_rel_err(cp_als(bk.asarray(x), r), x) for r in (1, 2, 3)]
    assert errs[2] < errs[1] < errs[0]
    # the planted rank-3 signal is a candidate, so the best rank-3 error is at most
    # the noise; a rank-3 model (84 parameters of 720) absorbs only a little of it
    noise_rel = np.linalg.norm(noise) / np.linalg.norm(x)
    assert 0.8 * noise_rel < errs[2] <= noise_rel


def test_cp_als_rank_above_mode_sizes(bk: Backend) -> None:
    x = _planted(np.random.default_rng(7), (3, 4, 5), 2)
    t = cp_als(bk.asarray(x), 6, rng=0)  # rank > every n_k: SVD start completed with random columns
    assert t.rank == 6 and all(bool(np.all(np.isfinite(bk.to_numpy(f)))) for f in t.factors)
    assert _rel_err(t, x) < 1e-6


def test_cp_als_zero_tensor(bk: Backend) -> None:
    t = cp_als(bk.asarray(np.zeros((3, 4, 2))), 2, rng=0)
    assert t.rank == 2
    np.testing.assert_array_equal(bk.to_numpy(t.to_dense()), 0.0)


def test_cp_als_stops_on_fit_change(bk: Backend) -> None:
    x = _planted(np.random.default_rng(8), (6, 7, 8), 3)
    xb = bk.asarray(x)
    loose, tight = cp_als(xb, 3, tol=1e-3), cp_als(xb, 3, tol=1e-12)
    assert _rel_err(tight, x) < 1e-3 * _rel_err(loose, x)
    one = cp_als(xb, 3, n_iter_max=1)
    assert _rel_err(one, x) > _rel_err(loose, x)


def test_agrees_with_tensorly(bk: Backend) -> None:
    tl = pytest.importorskip("tensorly")
    from tensorly.decomposition import parafac

    rng = np.random.default_rng(9)
    shape = (7, 6, 8)
    x = _planted(rng, shape, 3)
    x = x + 0.05 * np.linalg.norm(x) * rng.standard_normal(shape) / math.sqrt(math.prod(shape))
    for rank in (2, 3):
        theirs = parafac(tl.tensor(x), rank, init="svd", n_iter_max=500, tol=1e-12)
        ref = np.linalg.norm(tl.cp_to_tensor(theirs) - x) / np.linalg.norm(x)
        ours = _rel_err(cp_als(bk.asarray(x), rank, n_iter_max=500, tol=1e-12), x)
        assert abs(ours - ref) <= 1e-3 * ref


# ----------------------------------------------------------------------------- torch, io


def test_torch_autograd() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    w, fs = _random_terms(rng, (3, 4, 2), 2, "float64")
    params = [torch.tensor(a, requires_grad=True) for a in (w, *fs)]

    def dense(w, a, b, c):  # noqa: ANN001, ANN202
        return CP(w, [a, b, c]).to_dense()

    assert torch.autograd.gradcheck(dense, tuple(params))
    # the Gram-matrix norm has the same gradient as the norm of the dense tensor
    CP(params[0], params[1:]).norm().backward()
    grads = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    torch.linalg.vector_norm(CP(params[0], params[1:]).to_dense()).backward()
    for g, p in zip(grads, params):
        torch.testing.assert_close(g, p.grad, rtol=1e-10, atol=1e-12)


def test_io_round_trip(tmp_path: pytest.TempPathFactory, bk: Backend) -> None:
    if bk.name not in ("numpy", "torch"):
        pytest.skip("io round trip checked on numpy and torch")
    from tnkit import io

    w, fs = _random_terms(np.random.default_rng(11), (4, 5, 3), 2, "complex128")
    t = _on(bk, w, fs)
    path = tmp_path / "cp.h5"
    io.save(path, {"cp": t})
    back = io.load(path, like=t.weights)["cp"]
    assert isinstance(back, CP) and back.rank == 2 and back.shape == (4, 5, 3)
    assert backend.library_name(back.xp) == backend.library_name(t.xp)
    np.testing.assert_array_equal(bk.to_numpy(back.to_dense()), bk.to_numpy(t.to_dense()))
    io.save(tmp_path / "alone.h5", t)
    alone = io.load(tmp_path / "alone.h5", schema="cp")
    np.testing.assert_array_equal(backend.to_host(alone.weights), w)


def test_package_exports() -> None:
    assert tnkit.CP is CP and tnkit.cp_als is cp_als


# ----------------------------------------------------------------------------- errors


def test_constructor_errors() -> None:
    f32 = np.ones((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"factor 1 has shape \(4,\), expected \(n_1, 2\)"):
        CP(np.ones(2), [np.ones((3, 2)), np.ones(4)])
    with pytest.raises(ValueError, match="factor 1 has 3 columns but weights has 2 entries"):
        CP(np.ones(2), [np.ones((3, 2)), np.ones((4, 3))])
    with pytest.raises(ValueError, match=r"weights must have shape \(R,\)"):
        CP(np.ones((2, 2)), [np.ones((3, 2))])
    with pytest.raises(ValueError, match="rank must be >= 1"):
        CP(np.ones(0), [np.ones((3, 0))])
    with pytest.raises(ValueError, match="at least one factor"):
        CP(np.ones(2), [])
    with pytest.raises(TypeError, match="share one dtype"):
        CP(np.ones(2), [f32])
    with pytest.raises(TypeError, match="floating or complex"):
        CP(np.ones(2, dtype=np.int64), [np.ones((3, 2), dtype=np.int64)])
    with pytest.raises(TypeError, match="weights must be an array, got list"):
        CP([1.0, 2.0], [np.ones((3, 2))])
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="mixed array libraries"):
        CP(np.ones(2), [torch.ones((3, 2), dtype=torch.float64)])


def test_inner_errors() -> None:
    t = CP(np.ones(2), [np.ones((3, 2)), np.ones((4, 2))])
    with pytest.raises(TypeError, match="expected a CP"):
        t.inner(np.ones((3, 4)))
    with pytest.raises(ValueError, match="shapes differ"):
        t.inner(CP(np.ones(1), [np.ones((3, 1)), np.ones((5, 1))]))


def test_cp_als_errors() -> None:
    x = np.random.default_rng(12).standard_normal((4, 5, 3))
    with pytest.raises(ValueError, match="rank must be >= 1, got 0"):
        cp_als(x, 0)
    for bad in (2.5, True):
        with pytest.raises(TypeError, match="rank must be an int"):
            cp_als(x, bad)
    for value in (np.nan, np.inf):
        y = x.copy()
        y[1, 2, 0] = value
        with pytest.raises(ValueError, match="NaN or Inf"):
            cp_als(y, 2)
    with pytest.raises(ValueError, match="at least 2 modes"):
        cp_als(np.ones(4), 1)
    with pytest.raises(TypeError, match="floating"):
        cp_als(np.ones((3, 3), dtype=np.int64), 1)
    with pytest.raises(ValueError, match="unknown init 'hosvd'"):
        cp_als(x, 2, init="hosvd")
    with pytest.raises(ValueError, match="n_iter_max must be an int >= 1"):
        cp_als(x, 2, n_iter_max=0)
    for tol in (-1.0, math.nan):
        with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
            cp_als(x, 2, tol=tol)
