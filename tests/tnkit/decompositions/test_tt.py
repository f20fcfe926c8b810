"""TT format: TT-SVD against planted ranks and its error bound, arithmetic against dense
tensors, rounding, evaluation, I/O, autograd, agreement with tensorly, and TT-cross."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tnkit
from tests.conftest import random_array
from tnkit.decompositions.tt import TT, tt_svd
from tnkit.decompositions.tt_cross import maxvol, tt_cross


def planted_cores(rng: np.random.Generator, shape: tuple[int, ...], ranks: tuple[int, ...], dtype: str = "float64"):
    return [random_array(rng, (ranks[k], n, ranks[k + 1]), dtype) for k, n in enumerate(shape)]


def dense_of(cores: list[np.ndarray]) -> np.ndarray:
    out = cores[0]
    for g in cores[1:]:
        out = np.tensordot(out, g, axes=(-1, 0))
    return out[0, ..., 0]


SHAPE = (4, 5, 6, 3)
RANKS = (1, 3, 4, 2, 1)


@pytest.mark.parametrize("dt", ["float64", "float32"])
def test_tt_svd_recovers_planted_ranks(bk, dt) -> None:
    rng = np.random.default_rng(0)
    x = dense_of(planted_cores(rng, SHAPE, RANKS)).astype(dt)
    tol = 1e-10 if dt == "float64" else 1e-5
    t = tt_svd(bk.asarray(x), tol=tol)
    assert t.ranks == RANKS
    assert t.cores[0].dtype == bk.dtype(dt)
    err = np.linalg.norm(bk.to_numpy(t.to_dense()) - x) / np.linalg.norm(x)
    assert err <= (1e-12 if dt == "float64" else 1e-5)


def test_tt_svd_complex_and_max_rank(bk) -> None:
    rng = np.random.default_rng(1)
    x = dense_of(planted_cores(rng, SHAPE, RANKS, "complex128"))
    t = tt_svd(bk.asarray(x), tol=1e-10)
    assert t.ranks == RANKS and t.dtype == bk.dtype("complex128")
    assert np.linalg.norm(bk.to_numpy(t.to_dense()) - x) <= 1e-12 * np.linalg.norm(x)
    capped = tt_svd(bk.asarray(x), max_rank=2)
    assert max(capped.ranks) == 2


@given(
    shape=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    tol=st.floats(1e-4, 0.9),
    seed=st.integers(0, 2**16),
)
def test_tt_svd_tolerance_bound(bk, shape, tol, seed) -> None:
    x = np.random.default_rng(seed).standard_normal(shape)
    t = tt_svd(bk.asarray(x), tol=tol)
    err = np.linalg.norm(bk.to_numpy(t.to_dense()) - x)
    assert err <= tol * np.linalg.norm(x) * (1 + 1e-10) + 1e-14


def test_round_preserves_bound_and_undoes_sums(bk) -> None:
    rng = np.random.default_rng(2)
    x = dense_of(planted_cores(rng, SHAPE, RANKS))
    t = tt_svd(bk.asarray(x), tol=1e-10)
    s = t + t + t
    assert s.ranks == tuple(3 * r if 0 < i < len(RANKS) - 1 else 1 for i, r in enumerate(RANKS))
    back = s.round(tol=1e-10)
    assert back.ranks == RANKS
    assert np.linalg.norm(bk.to_numpy(back.to_dense()) - 3 * x) <= 1e-10 * np.linalg.norm(3 * x)
    # A genuinely lossy rounding still meets its bound.
    noisy = tt_svd(bk.asarray(rng.standard_normal(SHAPE)))
    for tol in (0.05, 0.3):
        r = noisy.round(tol=tol)
        err = np.linalg.norm(bk.to_numpy(r.to_dense()) - bk.to_numpy(noisy.to_dense()))
        assert err <= tol * float(noisy.norm()) * (1 + 1e-8)
        assert max(r.ranks) <= max(noisy.ranks)
    assert max(noisy.round(max_rank=2).ranks) == 2


def test_arithmetic_matches_dense(bk) -> None:
    rng = np.random.default_rng(3)
    a_cores = planted_cores(rng, SHAPE, RANKS)
    b_cores = planted_cores(rng, SHAPE, (1, 2, 2, 3, 1))
    a, b = dense_of(a_cores), dense_of(b_cores)
    ta = TT([bk.asarray(g) for g in a_cores])
    tb = TT([bk.asarray(g) for g in b_cores])
    np.testing.assert_allclose(float(ta.dot(tb)), np.sum(a * b), rtol=1e-10)
    np.testing.assert_allclose(float(ta.norm()), np.linalg.norm(a), rtol=1e-10)
    h = ta.hadamard(tb)
    assert h.ranks == tuple(r1 * r2 for r1, r2 in zip(ta.ranks, tb.ranks))
    np.testing.assert_allclose(bk.to_numpy(h.to_dense()), a * b, rtol=1e-10, atol=1e-10 * np.abs(a * b).max())
    np.testing.assert_allclose(bk.to_numpy((ta * tb).to_dense()), a * b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(bk.to_numpy((2.5 * ta - tb / 2).to_dense()), 2.5 * a - b / 2, atol=1e-10)
    idx = np.stack([rng.integers(0, n, 50) for n in SHAPE], axis=1)
    np.testing.assert_allclose(bk.to_numpy(ta.evaluate(idx)), a[tuple(idx.T)], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(float(ta[1, 2, 3, 0]), a[1, 2, 3, 0], rtol=1e-10)


def test_complex_dot_is_sesquilinear(bk) -> None:
    rng = np.random.default_rng(4)
    a = dense_of(planted_cores(rng, (3, 4, 2), (1, 2, 2, 1), "complex128"))
    b = dense_of(planted_cores(rng, (3, 4, 2), (1, 2, 2, 1), "complex128"))
    dot = tt_svd(bk.asarray(a)).dot(tt_svd(bk.asarray(b)))
    np.testing.assert_allclose(complex(bk.to_numpy(dot)), np.vdot(a, b), rtol=1e-10)


def test_io_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(5)
    t = TT(planted_cores(rng, SHAPE, RANKS))
    tnkit.io.save(tmp_path / "t.h5", t)
    back = tnkit.io.load(tmp_path / "t.h5", schema="tt")
    assert isinstance(back, TT) and back.ranks == t.ranks
    np.testing.assert_array_equal(back.to_dense(), t.to_dense())


def test_torch_gradient_through_to_dense() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    cores = [torch.tensor(g, requires_grad=True) for g in planted_cores(rng, (2, 3, 2), (1, 2, 2, 1))]
    assert torch.autograd.gradcheck(lambda *c: TT(list(c)).to_dense(), tuple(cores))
    x = torch.tensor(rng.standard_normal((3, 4, 5)), requires_grad=True)
    tt_svd(x).to_dense().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_agrees_with_tensorly(bk) -> None:
    tl_dec = pytest.importorskip("tensorly.decomposition")
    rng = np.random.default_rng(7)
    x = dense_of(planted_cores(rng, (6, 7, 8, 5), (1, 4, 5, 4, 1))) + 0.05 * rng.standard_normal((6, 7, 8, 5))
    ranks = (1, 3, 3, 3, 1)
    ours = tt_svd(bk.asarray(x), max_rank=3)
    assert ours.ranks == ranks
    theirs = tl_dec.tensor_train(x, rank=list(ranks))
    import tensorly as tl

    err_ours = np.linalg.norm(bk.to_numpy(ours.to_dense()) - x)
    err_theirs = np.linalg.norm(tl.tt_to_tensor(theirs) - x)
    assert abs(err_ours - err_theirs) <= 0.01 * err_theirs


def test_bad_input() -> None:
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match="max_rank must be >= 1"):
        tt_svd(x, max_rank=0)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        tt_svd(bad)
    with pytest.raises(ValueError, match="tol"):
        tt_svd(x, tol=-1.0)
    with pytest.raises(ValueError, match="boundary bonds must have size 1"):
        TT([np.ones((2, 3, 1))])
    with pytest.raises(ValueError, match="bond 0-1 mismatch: core 0 has right bond"):
        TT([np.ones((1, 3, 2)), np.ones((3, 3, 1))])
    with pytest.raises(ValueError, match="shapes differ"):
        tt_svd(x) + tt_svd(np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"shape \(m, 2\)"):
        tt_svd(x).evaluate(np.zeros((4, 3), dtype=int))


# ----------------------------------------------------------------------------- TT-cross


def test_maxvol_finds_dominant_rows() -> None:
    rng = np.random.default_rng(8)
    a = rng.standard_normal((30, 4))
    rows = maxvol(a)
    coef = a @ np.linalg.inv(a[rows])
    assert len(set(rows.tolist())) == 4 and np.abs(coef).max() <= 1.05 + 1e-12


GRID = np.linspace(-1.0, 1.0, 8)


def _on(bk, host_f):
    """``host_f`` (host indices to host values) as a function of ``bk`` arrays."""
    return lambda idx: bk.asarray(host_f(bk.to_numpy(idx)))


def test_tt_cross_separable_sum(bk) -> None:
    def host(idx):  # rank 2 exactly
        return np.sum(np.sin(GRID[idx]), axis=1)

    t, info = tt_cross(_on(bk, host), (8,) * 4, tol=1e-10, rng=0, like=bk.asarray(np.zeros(1)))
    dense = host(np.indices((8,) * 4).reshape(4, -1).T).reshape((8,) * 4)
    assert t.ranks == (1, 2, 2, 2, 1)
    assert np.linalg.norm(bk.to_numpy(t.to_dense()) - dense) <= 1e-10 * np.linalg.norm(dense)
    assert info.converged and info.evaluations < dense.size


def test_tt_cross_smooth_function_and_like(bk) -> None:
    def f(idx):
        x = GRID[np.asarray(bk.to_numpy(idx))]
        return bk.asarray(1.0 / (1.0 + np.sum(x * x, axis=1)))

    like = bk.asarray(np.zeros(1))
    t, info = tt_cross(f, (8,) * 4, tol=1e-8, rng=1, like=like)
    assert t.cores[0].dtype == bk.dtype("float64")
    dense = 1.0 / (1.0 + np.sum(np.stack(np.meshgrid(*[GRID] * 4, indexing="ij")) ** 2, axis=0))
    err = np.linalg.norm(bk.to_numpy(t.to_dense()) - dense) / np.linalg.norm(dense)
    assert err <= 1e-7, (err, info)


def test_tt_cross_bad_function() -> None:
    with pytest.raises(ValueError, match=r"shape \(\d+,\) .* got shape \(\d+, 1\)"):
        tt_cross(lambda idx: np.ones((idx.shape[0], 1)), (4, 4, 4), rng=0)
    with pytest.raises(ValueError, match="NaN"):
        tt_cross(lambda idx: np.full(idx.shape[0], np.nan), (4, 4, 4), rng=0)
    with pytest.raises(ValueError, match="max_rank"):
        tt_cross(lambda idx: np.ones(idx.shape[0]), (4, 4), max_rank=0)
    with pytest.raises(ValueError, match="at least 2 modes"):
        tt_cross(lambda idx: np.ones(idx.shape[0]), (4,))


def test_gram_route_matches_full_svd(bk, monkeypatch) -> None:
    """Large rectangular unfoldings go through Gram matrices; errors match the SVD route."""
    import tnkit.decompositions.tt as tt_module

    rng = np.random.default_rng(9)
    x = dense_of(planted_cores(rng, (64, 128, 128), (1, 6, 6, 1)))
    x = x + 1e-3 * np.linalg.norm(x) / np.sqrt(x.size) * rng.standard_normal(x.shape)
    xb = bk.asarray(x)
    fast_tol = tt_svd(xb, tol=0.01)
    fast_cap = tt_svd(xb, max_rank=6)
    monkeypatch.setattr(tt_module, "_GRAM_MIN_SIZE", 1 << 40)
    exact_tol = tt_svd(xb, tol=0.01)
    exact_cap = tt_svd(xb, max_rank=6)
    assert fast_tol.ranks == exact_tol.ranks == (1, 6, 6, 1)
    for fast, exact in ((fast_tol, exact_tol), (fast_cap, exact_cap)):
        e_fast = np.linalg.norm(bk.to_numpy(fast.to_dense()) - x)
        e_exact = np.linalg.norm(bk.to_numpy(exact.to_dense()) - x)
        assert abs(e_fast - e_exact) <= 1e-6 * e_exact
        assert e_fast <= 0.01 * np.linalg.norm(x)


@pytest.mark.parametrize("name", ["tt_planted", "tt_cross_gaussians"])
def test_quick_validation_case_passes(name: str) -> None:
    from tnkit.validation import discover

    (case,) = discover(names=[name])
    outcome = case.run(True)
    assert outcome.value <= case.tolerance, (name, outcome.value, outcome.details)


# ----------------------------------------------------------------------------- one-site TT-cross


def test_tt_cross_one_site_separable_sum(bk) -> None:
    def host(idx):  # rank 2 exactly
        return np.sum(np.sin(GRID[idx]), axis=1)

    t, info = tt_cross(_on(bk, host), (8,) * 4, tol=1e-10, rng=0, like=bk.asarray(np.zeros(1)), method="one-site")
    dense = host(np.indices((8,) * 4).reshape(4, -1).T).reshape((8,) * 4)
    assert t.ranks == (1, 2, 2, 2, 1)
    assert np.linalg.norm(bk.to_numpy(t.to_dense()) - dense) <= 1e-10 * np.linalg.norm(dense)
    assert info.converged and info.evaluations < dense.size


def test_tt_cross_one_site_smooth_function_and_like(bk) -> None:
    def f(idx):
        x = GRID[np.asarray(bk.to_numpy(idx))]
        return bk.asarray(1.0 / (1.0 + np.sum(x * x, axis=1)))

    like = bk.asarray(np.zeros(1))
    t, info = tt_cross(f, (8,) * 4, tol=1e-8, rng=1, like=like, method="one-site")
    assert t.cores[0].dtype == bk.dtype("float64")
    dense = 1.0 / (1.0 + np.sum(np.stack(np.meshgrid(*[GRID] * 4, indexing="ij")) ** 2, axis=0))
    err = np.linalg.norm(bk.to_numpy(t.to_dense()) - dense) / np.linalg.norm(dense)
    assert err <= 1e-7, (err, info)


def test_tt_cross_one_site_bad_function_and_method() -> None:
    with pytest.raises(ValueError, match=r"shape \(\d+,\) .* got shape \(\d+, 1\)"):
        tt_cross(lambda idx: np.ones((idx.shape[0], 1)), (4, 4, 4), rng=0, method="one-site")
    with pytest.raises(ValueError, match="NaN"):
        tt_cross(lambda idx: np.full(idx.shape[0], np.nan), (4, 4, 4), rng=0, method="one-site")
    with pytest.raises(ValueError, match="method"):
        tt_cross(lambda idx: np.ones(idx.shape[0]), (4, 4), method="three-site")


def test_tt_cross_one_site_counts_unique_evaluations(bk) -> None:
    seen: list[np.ndarray] = []

    def host(idx):
        seen.append(np.asarray(idx))
        return np.sum(np.cos(GRID[idx]), axis=1)

    like = bk.asarray(np.zeros(1))
    _, info = tt_cross(_on(bk, host), (8,) * 5, tol=1e-10, rng=3, method="one-site", like=like)
    rows = np.concatenate(seen)
    assert info.calls == len(seen) and info.evaluations == rows.shape[0] == np.unique(rows, axis=0).shape[0]


def test_tt_cross_one_site_gaussians_fewer_evaluations_than_two_site() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "validation" / "decompositions" / "tt_cross_gaussians.py"
    spec = importlib.util.spec_from_file_location("_tt_cross_gaussians_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    d, n = 6, 16
    rng = np.random.default_rng(2010)
    grid, at_points = module._gaussian_sum(d, n, rng)
    probe = rng.integers(0, n, size=(2000, d))
    reference = at_points(grid[probe])
    f = lambda idx: at_points(grid[idx])  # noqa: E731
    one, info1 = tt_cross(f, (n,) * d, tol=1e-7, rng=0, method="one-site")
    _, info2 = tt_cross(f, (n,) * d, tol=1e-7, rng=0, method="two-site")
    err = np.linalg.norm(np.asarray(one.evaluate(probe)) - reference) / np.linalg.norm(reference)
    assert info1.converged and err <= 1e-6
    assert info1.evaluations < info2.evaluations
