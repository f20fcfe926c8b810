"""tnkit.decompositions.tucker against planted tensors, error bounds, dense algebra and tensorly."""

from __future__ import annotations

import doctest
import importlib
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import Backend, random_array
from tnkit import backend
from tnkit.decompositions.core_shape import CoreShape, core_shape, core_shape_from_spectra, mode_spectra
from tnkit.decompositions.tucker import Tucker, hooi, hosvd, sthosvd


def _planted(
    rng: np.random.Generator, shape: tuple[int, ...], ranks: tuple[int, ...], dtype: str = "float64"
) -> np.ndarray:
    """A tensor of exact multilinear rank ``ranks`` with a well-conditioned core."""
    core = random_array(rng, ranks, dtype)
    out = core
    for k, (n, r) in enumerate(zip(shape, ranks)):
        q, _ = np.linalg.qr(random_array(rng, (n, r), dtype))
        out = np.moveaxis(np.tensordot(q, out, axes=([1], [k])), 0, k)
    return out


def _rel_err(t: Tucker, x: np.ndarray) -> float:
    return float(np.linalg.norm(backend.to_host(t.to_dense()) - x) / np.linalg.norm(x))


# ----------------------------------------------------------------------------- planted recovery


@pytest.mark.parametrize("algo", ["sthosvd", "hosvd", "hooi"])
@pytest.mark.parametrize("dt", ["float32", "float64", "complex128"])
def test_planted_recovery_every_backend(bk: Backend, algo: str, dt: str) -> None:
    rng = np.random.default_rng(3)
    shape, ranks = (7, 6, 5, 4), (3, 2, 4, 2)
    x = _planted(rng, shape, ranks, dt)
    xa = bk.asarray(x)
    if algo == "hooi":
        t = hooi(xa, ranks, n_iter_max=3)
    else:
        t = {"sthosvd": sthosvd, "hosvd": hosvd}[algo](xa, ranks=ranks)
    assert t.ranks == ranks and t.shape == shape
    assert backend.library_name(backend.namespace(t.core, *t.factors)) == bk.name.replace("-cuda", "")
    assert t.core.dtype == bk.dtype(dt) and all(u.dtype == bk.dtype(dt) for u in t.factors)
    tol = 1e-5 if dt == "float32" else 1e-12
    assert _rel_err(t, x) <= tol
    for u in t.factors:
        un = bk.to_numpy(u)
        np.testing.assert_allclose(un.conj().T @ un, np.eye(un.shape[1]), atol=10 * tol)
    # tol-driven ranks find the planted rank
    if dt != "float32":
        assert sthosvd(xa, tol=1e-8).ranks == ranks


def test_gram_path_planted(bk: Backend) -> None:
    # unfoldings of 64 x 4096: the Gram/eigh branch
    rng = np.random.default_rng(4)
    x = _planted(rng, (64, 64, 64), (5, 6, 7))
    t = sthosvd(bk.asarray(x), ranks=(5, 6, 7))
    assert _rel_err(t, x) <= 1e-12
    assert sthosvd(bk.asarray(x), tol=1e-6).ranks == (5, 6, 7)
    noisy = x + 1e-3 * np.linalg.norm(x) / 512 * rng.standard_normal(x.shape)
    t = sthosvd(bk.asarray(noisy), tol=0.01)
    assert _rel_err(t, noisy) <= 0.01


# ----------------------------------------------------------------------------- tol bound


@given(
    shape=st.lists(st.integers(1, 8), min_size=2, max_size=4).map(tuple),
    tol=st.floats(1e-3, 0.99),
    seed=st.integers(0, 2**16),
    decay=st.floats(0.0, 2.0),
)
def test_sthosvd_tol_bound(bk: Backend, shape: tuple[int, ...], tol: float, seed: int, decay: float) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    # a graded tensor so that truncations actually happen at every tol
    for k, n in enumerate(shape):
        w = np.exp(-decay * np.arange(n)).reshape([-1 if j == k else 1 for j in range(len(shape))])
        x = x * w
    for algo in (sthosvd, hosvd):
        t = algo(bk.asarray(x), tol=tol)
        assert np.linalg.norm(backend.to_host(t.to_dense()) - x) <= tol * np.linalg.norm(x) * (1 + 1e-10)


def test_hooi_not_worse_than_sthosvd(bk: Backend) -> None:
    rng = np.random.default_rng(5)
    for shape in [(8, 9, 10), (6, 6, 6, 6)]:
        x = rng.standard_normal(shape) + _planted(rng, shape, (2,) * len(shape)) * 3
        t0 = sthosvd(bk.asarray(x), ranks=3)
        t1, info = hooi(bk.asarray(x), 3, return_info=True)
        assert _rel_err(t1, x) <= _rel_err(t0, x) + 1e-13
        assert info["rel_errors"][-1] <= info["rel_errors"][0] + 1e-13
        assert abs(info["rel_errors"][0] - _rel_err(t0, x)) < 1e-10


def test_randomized_sthosvd_planted(bk: Backend) -> None:
    rng = np.random.default_rng(6)
    x = _planted(rng, (9, 8, 7), (3, 3, 2))
    t = sthosvd(bk.asarray(x), ranks=(3, 3, 2), method="randomized", rng=1)
    assert t.ranks == (3, 3, 2)
    assert _rel_err(t, x) <= 1e-11


def test_rank_above_other_modes_is_padded(bk: Backend) -> None:
    # rank (4, 1, 2): the mode-0 unfolding of the projected tensor has only 2 columns
    x = np.random.default_rng(7).standard_normal((5, 3, 2))
    t = sthosvd(bk.asarray(x), ranks=(4, 1, 2))
    assert t.ranks == (4, 1, 2)
    u = bk.to_numpy(t.factors[0])
    np.testing.assert_allclose(u.T @ u, np.eye(4), atol=1e-12)


# ----------------------------------------------------------------------------- algebra


def test_algebra_against_dense(bk: Backend, dtype: str) -> None:
    rng = np.random.default_rng(8)
    a = sthosvd(bk.asarray(random_array(rng, (5, 4, 6), dtype)), ranks=(2, 3, 2))
    b_core = bk.asarray(random_array(rng, (3, 2, 2), dtype))
    b_fac = [bk.asarray(random_array(rng, (n, r), dtype)) for n, r in [(5, 3), (4, 2), (6, 2)]]
    b = Tucker(b_core, b_fac)
    da, db = bk.to_numpy(a.to_dense()), bk.to_numpy(b.to_dense())
    rtol = 1e-4 if dtype == "float32" else 1e-11
    s = a + b
    assert s.ranks == (5, 5, 4)
    np.testing.assert_allclose(bk.to_numpy(s.to_dense()), da + db, rtol=rtol, atol=rtol * np.abs(da + db).max())
    np.testing.assert_allclose(complex(bk.to_numpy(a.inner(b))), np.vdot(da, db), rtol=rtol)
    for t, d in [(a, da), (b, db), (s, da + db)]:
        np.testing.assert_allclose(float(bk.to_numpy(t.norm())), np.linalg.norm(d), rtol=rtol)
    np.testing.assert_allclose(bk.to_numpy((a - a).norm()), 0.0, atol=rtol * np.linalg.norm(da) * 10)
    np.testing.assert_allclose(bk.to_numpy((2.0 * a).to_dense()), 2 * da, rtol=rtol, atol=rtol)


def test_round(bk: Backend) -> None:
    rng = np.random.default_rng(9)
    x = _planted(rng, (6, 7, 5), (2, 3, 2))
    t = sthosvd(bk.asarray(x), ranks=(2, 3, 2))
    doubled = t + t
    assert doubled.ranks == (4, 6, 4)
    r = doubled.round()
    assert r.ranks == (2, 3, 2) and r.orthonormal
    assert _rel_err(r, 2 * x) <= 1e-12
    r2 = doubled.round(ranks=(1, 1, 1))
    assert r2.ranks == (1, 1, 1)
    r3 = doubled.round(tol=0.3)
    assert _rel_err(r3, 2 * x) <= 0.3


def test_io_round_trip(tmp_path: pytest.TempPathFactory, bk: Backend) -> None:
    if bk.name not in ("numpy", "torch"):
        pytest.skip("io round trip checked on numpy and torch")
    from tnkit import io

    x = np.random.default_rng(10).standard_normal((4, 5, 3))
    t = sthosvd(bk.asarray(x), ranks=(2, 2, 2))
    path = tmp_path / "t.h5"
    io.save(path, {"tucker": t})
    back = io.load(path, like=t.core)["tucker"]
    assert isinstance(back, Tucker) and back.orthonormal and back.ranks == (2, 2, 2)
    assert backend.library_name(backend.namespace(back.core)) == backend.library_name(backend.namespace(t.core))
    np.testing.assert_array_equal(bk.to_numpy(back.to_dense()), bk.to_numpy(t.to_dense()))


def test_torch_gradcheck_to_dense() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    core = torch.tensor(rng.standard_normal((2, 3, 2)), requires_grad=True)
    facs = [torch.tensor(rng.standard_normal((n, r)), requires_grad=True) for n, r in [(3, 2), (4, 3), (2, 2)]]

    def f(c, a, b, d):  # noqa: ANN001, ANN202
        return Tucker(c, [a, b, d]).to_dense()

    assert torch.autograd.gradcheck(f, (core, *facs))
    # gradients also flow through sthosvd's core and the norm
    x = torch.tensor(rng.standard_normal((4, 4, 3)), requires_grad=True)
    t = sthosvd(x, ranks=(4, 4, 3))
    t.norm().backward()
    np.testing.assert_allclose(x.grad.numpy(), (x / torch.linalg.vector_norm(x)).detach().numpy(), atol=1e-10)


def test_agrees_with_tensorly(bk: Backend) -> None:
    tl = pytest.importorskip("tensorly")
    from tensorly.decomposition import tucker as tl_tucker

    rng = np.random.default_rng(12)
    shape, ranks = (12, 10, 11), (4, 3, 5)
    x = _planted(rng, shape, ranks) + 0.05 * rng.standard_normal(shape) / math.sqrt(math.prod(shape))
    x = x / np.linalg.norm(x) + 0.02 * rng.standard_normal(shape) / math.sqrt(math.prod(shape))
    core, factors = tl_tucker(tl.tensor(x), rank=list(ranks), init="svd", n_iter_max=100, tol=1e-10)
    ref = np.linalg.norm(tl.tucker_to_tensor((core, factors)) - x) / np.linalg.norm(x)
    for t in (hooi(bk.asarray(x), ranks), sthosvd(bk.asarray(x), ranks=ranks)):
        assert abs(_rel_err(t, x) - ref) <= 0.01 * ref


# ----------------------------------------------------------------------------- core shape


def _brute_force(spectra: list[np.ndarray], budget: int) -> float:
    tails = [np.concatenate([np.cumsum(w[::-1])[::-1], [0.0]]) for w in spectra]
    shape = [len(w) for w in spectra]
    best = math.inf
    for r in itertools.product(*(range(1, n + 1) for n in shape)):
        if math.prod(r) + sum(n * k for n, k in zip(shape, r)) <= budget:
            best = min(best, sum(t[k] for t, k in zip(tails, r)))
    return best


@given(
    shape=st.lists(st.integers(2, 7), min_size=2, max_size=4).map(tuple),
    frac=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_core_shape_exact_is_optimal_and_beats_greedy(shape: tuple[int, ...], frac: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    spectra = [np.sort(rng.exponential(size=n) ** 3)[::-1] for n in shape]
    total = [w.sum() for w in spectra]
    spectra = [w / s for w, s in zip(spectra, total)]
    lo = sum(shape) + 1
    hi = math.prod(shape) + sum(n * n for n in shape)
    budget = int(lo + frac * (hi - lo))
    ex = core_shape_from_spectra(spectra, budget, method="exact")
    gr = core_shape_from_spectra(spectra, budget, method="greedy")
    for cs in (ex, gr):
        assert isinstance(cs, CoreShape) and cs.params <= budget
        assert cs.params == math.prod(cs.ranks) + sum(n * r for n, r in zip(shape, cs.ranks))
    assert ex.estimated_rre <= gr.estimated_rre + 1e-12
    # the spectra are normalised to unit total weight, so rre**2 is the bound itself
    np.testing.assert_allclose(ex.estimated_rre**2, _brute_force(spectra, budget), rtol=1e-9, atol=1e-12)


def test_core_shape_on_tensor_bounds_sthosvd_error(bk: Backend) -> None:
    rng = np.random.default_rng(13)
    host = _planted(rng, (10, 9, 8), (4, 3, 3)) + 1e-2 * rng.standard_normal((10, 9, 8)) / 30
    x = bk.asarray(host)
    spectra = mode_spectra(x)
    for w in spectra:
        np.testing.assert_allclose(w.sum(), np.linalg.norm(host) ** 2, rtol=1e-10)
    for budget in (40, 80, 150, 300):
        cs = core_shape(x, budget)
        gr = core_shape(x, budget, method="greedy")
        assert cs.params <= budget and gr.params <= budget
        assert cs.estimated_rre <= gr.estimated_rre + 1e-12
        assert _rel_err(sthosvd(x, ranks=cs.ranks), host) <= cs.estimated_rre * (1 + 1e-9)
    assert core_shape(x, 127).ranks == (4, 3, 3)  # exactly the planted core fits


# ----------------------------------------------------------------------------- errors


def test_error_messages() -> None:
    x = np.random.default_rng(14).standard_normal((8, 8, 5))
    with pytest.raises(ValueError, match="rank 9 for mode 1 exceeds its dimension 8"):
        sthosvd(x, ranks=(2, 9, 2))
    with pytest.raises(ValueError, match="got 2 ranks for a tensor with 3 modes"):
        sthosvd(x, ranks=(2, 2))
    with pytest.raises(ValueError, match=r"tol must be in \(0, 1\)"):
        sthosvd(x, tol=1.5)
    with pytest.raises(ValueError, match=r"tol must be in \(0, 1\)"):
        hosvd(x, tol=0.0)
    with pytest.raises(ValueError, match="neither"):
        sthosvd(x)
    with pytest.raises(ValueError, match="not both"):
        sthosvd(x, ranks=2, tol=0.1)
    with pytest.raises(ValueError, match="randomized"):
        sthosvd(x, tol=0.1, method="randomized")
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    for f in (lambda: sthosvd(bad, ranks=2), lambda: hooi(bad, 2), lambda: core_shape(bad, 100)):
        with pytest.raises(ValueError, match="NaN or Inf"):
            f()
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        hosvd(bad, ranks=2)
    with pytest.raises(ValueError, match="below the minimum 22"):
        core_shape(x, 21)
    with pytest.raises(ValueError, match="rank 6 for mode 2 exceeds its dimension 5"):
        hooi(x, (2, 2, 6))
    with pytest.raises(TypeError, match="floating"):
        sthosvd(np.ones((3, 3), dtype=np.int64), ranks=1)
    with pytest.raises(ValueError, match="factor 0 has shape"):
        Tucker(np.ones((2, 2)), [np.ones((3, 3)), np.ones((3, 2))])


def test_module_examples() -> None:
    for name in ("tnkit.decompositions.tucker", "tnkit.decompositions.core_shape"):
        module = importlib.import_module(name)
        failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert attempted > 0 and failures == 0


def test_core_shape_refine_never_worse_than_bound_optimum(bk: Backend) -> None:
    rng = np.random.default_rng(15)
    host = _planted(rng, (9, 8, 7), (5, 4, 3)) + 0.3 * rng.standard_normal((9, 8, 7)) / 20
    x = bk.asarray(host)
    for budget in (60, 100, 160):
        pure = core_shape(x, budget)
        refined = core_shape(x, budget, refine=6)
        assert refined.params <= budget
        err_refined = _rel_err(sthosvd(x, ranks=refined.ranks), host)
        assert err_refined <= _rel_err(sthosvd(x, ranks=pure.ranks), host) + 1e-12
    with pytest.raises(ValueError, match="refine must be >= 0"):
        core_shape(x, 100, refine=-1)
