"""Tensor rings: TR-SVD recovers planted rings and meets its bound; TR-ALS decreases the error."""

from __future__ import annotations

import numpy as np
import pytest

import tnkit
from tests.conftest import random_array
from tnkit.decompositions.tr import TR, tr_als, tr_svd


def ring_dense(cores: list[np.ndarray]) -> np.ndarray:
    """Reference contraction written independently of TR.to_dense (einsum over the loop)."""
    d = len(cores)
    letters = "abcdefgh"
    mode = "ijklmnop"
    terms = [f"{letters[k]}{mode[k]}{letters[(k + 1) % d]}" for k in range(d)]
    return np.einsum(",".join(terms) + "->" + mode[:d], *cores)


def planted_ring(rng, shape, ranks, dtype="float64"):
    d = len(shape)
    return [random_array(rng, (ranks[k], n, ranks[(k + 1) % d]), dtype) for k, n in enumerate(shape)]


def test_to_dense_matches_einsum(bk) -> None:
    cores = planted_ring(np.random.default_rng(0), (3, 4, 5), (2, 3, 2))
    t = TR([bk.asarray(g) for g in cores])
    np.testing.assert_allclose(bk.to_numpy(t.to_dense()), ring_dense(cores), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(float(t.norm()), np.linalg.norm(ring_dense(cores)), rtol=1e-12)


@pytest.mark.parametrize("dt", ["float64", "float32"])
def test_tr_svd_recovers_planted_ring(bk, dt) -> None:
    x = ring_dense(planted_ring(np.random.default_rng(1), (6, 5, 6, 4), (2, 3, 2, 2))).astype(dt)
    tol = 1e-10 if dt == "float64" else 1e-5
    t = tr_svd(bk.asarray(x), tol=tol)
    assert t.ranks[0] * t.ranks[1] == 6  # r_0 r_1 of the planted ring, split evenly
    err = np.linalg.norm(bk.to_numpy(t.to_dense()) - x) / np.linalg.norm(x)
    assert err <= (1e-12 if dt == "float64" else 1e-5)


def test_tr_svd_tolerance_bound_and_fixed_ranks(bk) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 6, 4, 5))
    for tol in (0.1, 0.4, 0.8):
        t = tr_svd(bk.asarray(x), tol=tol)
        assert np.linalg.norm(bk.to_numpy(t.to_dense()) - x) <= tol * np.linalg.norm(x) * (1 + 1e-10)
    t = tr_svd(bk.asarray(x), ranks=(2, 2, 3, 3))
    assert t.ranks == (2, 2, 3, 3)


def test_tr_als_decreases_error_and_recovers_ring(bk) -> None:
    cores = planted_ring(np.random.default_rng(7), (6, 6, 6, 6), (2, 2, 2, 2))
    x = ring_dense(cores)
    t, errs = tr_als(bk.asarray(x), (2, 2, 2, 2), rng=1, return_errors=True, n_iter=100)
    assert all(b <= a * (1 + 1e-8) + 1e-13 for a, b in zip(errs, errs[1:]))  # ALS is monotone
    assert errs[-1] < 1e-6
    dense = bk.to_numpy(t.to_dense())
    np.testing.assert_allclose(np.linalg.norm(dense - x) / np.linalg.norm(x), errs[-1], rtol=1e-6, atol=1e-12)


def test_tr_als_torch() -> None:
    torch = pytest.importorskip("torch")
    cores = planted_ring(np.random.default_rng(7), (6, 6, 6, 6), (2, 2, 2, 2))
    x = torch.tensor(ring_dense(cores))
    t = tr_als(x, (2, 2, 2, 2), rng=1, n_iter=100)
    assert isinstance(t.cores[0], torch.Tensor)
    assert float(torch.linalg.vector_norm(t.to_dense() - x) / torch.linalg.vector_norm(x)) < 1e-6


def test_io_round_trip(tmp_path) -> None:
    t = TR(planted_ring(np.random.default_rng(3), (3, 4, 5), (2, 3, 2)))
    tnkit.io.save(tmp_path / "r.h5", t)
    back = tnkit.io.load(tmp_path / "r.h5", schema="tr")
    np.testing.assert_array_equal(back.to_dense(), t.to_dense())


def test_bad_input() -> None:
    x = np.ones((3, 4, 5))
    with pytest.raises(ValueError, match="need 3 ring ranks"):
        tr_svd(x, ranks=(2, 2))
    with pytest.raises(ValueError, match="exceeds"):
        tr_svd(x, ranks=(2, 2, 2))
    with pytest.raises(ValueError, match="exactly one"):
        tr_svd(x)
    with pytest.raises(ValueError, match="ranks must be >= 1"):
        tr_als(x, (0, 1, 1))
    bad = x.copy()
    bad[1, 1, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        tr_als(bad, (1, 1, 1))
    with pytest.raises(ValueError, match="bond 1-0 mismatch: core 1 has right bond 3, core 0 has left bond 2"):
        TR([np.ones((2, 3, 2)), np.ones((2, 3, 3))])
