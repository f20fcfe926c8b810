"""The shipped svd_reference dataset: integrity, an independent SVD check, reproducibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tnkit.io as tio


@pytest.fixture
def reference(monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    monkeypatch.delenv("TNKIT_DATASETS", raising=False)
    return tio.load_dataset("svd_reference")


def test_shapes_and_spectrum(reference: dict[str, np.ndarray]) -> None:
    a, sigma = reference["a"], reference["sigma"]
    assert a.shape == (200, 120) and a.dtype == np.float64
    assert sigma.shape == (120,) and np.all(np.diff(sigma) < 0)
    # Prescribed values, compared with the closed form (pow rounds differently than
    # repeated multiplication, hence a few ulps).
    i = np.arange(120)
    closed_form = np.where(i < 60, 10 * 0.9**i, 1e-3 * 0.95 ** (i - 60))
    np.testing.assert_allclose(sigma, closed_form, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(sigma, tio._generators.svd_reference_spectrum())


def test_sigma_are_the_singular_values_of_a(reference: dict[str, np.ndarray]) -> None:
    # Independent check by LAPACK's SVD. Weyl: |s_i - sigma_i| <= ||a - U diag(sigma) V^T||_2,
    # a rounding error of order eps * sigma_max, so the bound is relative to sigma_max.
    a, sigma = reference["a"], reference["sigma"]
    s = np.linalg.svd(a, compute_uv=False)
    assert np.max(np.abs(s - sigma)) <= 1e-12 * sigma[0]


def test_eckart_young_discarded_weight(reference: dict[str, np.ndarray]) -> None:
    # Best rank-k approximation error in Frobenius norm is sum(sigma[k:]**2).
    a, sigma = reference["a"], reference["sigma"]
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    for k in (10, 60, 100):
        residual = a - (u[:, :k] * s[:k]) @ vh[:k]
        expected = float(np.sum(sigma[k:] ** 2))
        assert abs(np.sum(residual**2) - expected) <= 1e-10 * expected + 1e-24


def test_regeneration_is_deterministic_and_matches_the_shipped_content(
    tmp_path: Path, reference: dict[str, np.ndarray]
) -> None:
    first = tio.generate_dataset("svd_reference", out=tmp_path / "one.h5")
    second = tio.generate_dataset("svd_reference", out=tmp_path / "two.h5")
    assert first.read_bytes() == second.read_bytes()
    fresh = tio.load(first, schema="svd_reference")
    np.testing.assert_array_equal(fresh["sigma"], reference["sigma"])
    scale = np.max(np.abs(reference["a"]))
    assert np.max(np.abs(fresh["a"] - reference["a"])) <= 1e-12 * scale
    assert tio.provenance(first)["created"] == tio.provenance(tio.dataset_path("svd_reference"))["created"]
