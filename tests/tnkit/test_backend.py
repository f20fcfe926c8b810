"""tnkit.backend: per-call namespaces, mixed-input errors, the registry."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from tests.conftest import Backend, random_array
from tnkit import backend


def test_namespace_is_the_inputs_library(bk: Backend) -> None:
    a = bk.asarray(np.ones(3))
    xp = backend.namespace(a, 2.0, None)
    assert backend.library_name(xp) == bk.name.replace("-cuda", "")
    assert backend.device_of(xp.ones(2, device=bk.device)) == backend.device_of(a)


def test_mixed_libraries_raise_typeerror_naming_both() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="numpy and torch"):
        backend.namespace(np.ones(2), torch.ones(2))


def test_mixed_strict_and_numpy_raise() -> None:
    import array_api_strict as xs

    with pytest.raises(TypeError, match="array_api_strict and numpy"):
        backend.namespace(xs.ones(2), np.ones(2))


def test_no_array_raises() -> None:
    with pytest.raises(TypeError, match="no array"):
        backend.namespace(1.0, None)


def test_mixed_devices_raise() -> None:
    import array_api_strict as xs

    a = xs.ones(2)
    b = xs.asarray(np.ones(2), device=xs.Device("device1"))
    with pytest.raises(TypeError, match="different devices"):
        backend.namespace(a, b)


def test_registry_native_first_generic_last() -> None:
    import array_api_compat.numpy as xnp
    import array_api_strict as xs

    assert backend.lookup("thin_svd", xnp) is backend._thin_svd_numpy
    assert backend.lookup("thin_svd", xs) is backend._thin_svd_generic
    assert backend.has_native("einsum", xnp) and not backend.has_native("einsum", xs)
    with pytest.raises(NotImplementedError, match="einsum"):
        backend.lookup("einsum", xs)
    with pytest.raises(KeyError, match="no operation"):
        backend.lookup("frobnicate", xnp)
    table = backend.implementations()
    assert "generic" in table["expm"] and "numpy" in table["expm"]


def test_random_normal_same_numbers_on_every_library(bk: Backend) -> None:
    ref = backend.random_normal(backend.namespace(np.ones(1)), (3, 4), dtype=np.float64, rng=7)
    out = backend.random_normal(bk.xp, (3, 4), dtype=bk.dtype("float64"), device=bk.device, rng=7)
    np.testing.assert_array_equal(bk.to_numpy(out), np.asarray(ref))
    c = backend.random_normal(bk.xp, (2000,), dtype=bk.dtype("complex128"), device=bk.device, rng=1)
    assert abs(float(np.mean(np.abs(bk.to_numpy(c)) ** 2)) - 1.0) < 0.1


def test_make_rng_rejects_bad_type() -> None:
    with pytest.raises(TypeError, match="rng must be"):
        backend.make_rng("seed")


@pytest.mark.parametrize("scale", [0.1, 3.0, 40.0])
def test_expm_matches_scipy(bk: Backend, scale: float) -> None:
    rng = np.random.default_rng(3)
    a = random_array(rng, (12, 12), "complex128") * scale / 12
    out = bk.to_numpy(backend.expm(bk.asarray(a)))
    ref = scipy.linalg.expm(a)
    assert np.linalg.norm(out - ref) <= 1e-11 * np.linalg.norm(ref)


def test_generic_expm_matches_scipy_real() -> None:
    import array_api_strict as xs

    rng = np.random.default_rng(4)
    for scale in (0.01, 1.0, 25.0):
        a = rng.standard_normal((9, 9)) * scale / 3
        out = np.asarray(backend._expm_generic(xs, xs.asarray(a)))
        ref = scipy.linalg.expm(a)
        assert np.linalg.norm(out - ref) <= 1e-12 * np.linalg.norm(ref)


def test_dtype_helpers(bk: Backend) -> None:
    xp = bk.xp
    assert backend.real_dtype(xp, xp.complex64) == xp.float32
    assert backend.complex_dtype(xp, xp.float64) == xp.complex128
    assert backend.dtype_name(xp, xp.float32) == "float32"
    with pytest.raises(TypeError, match="floating"):
        backend.real_dtype(xp, xp.int64)


def test_asarray_like_and_to_host(bk: Backend) -> None:
    like = bk.asarray(np.zeros(2, dtype=np.float32))
    out = backend.asarray_like(np.array([1.5, 2.5]), like)
    assert out.dtype == like.dtype
    np.testing.assert_array_equal(backend.to_host(out), [1.5, 2.5])


def test_eigh_subset_matches_full_eigh(bk: Backend, dtype: str) -> None:
    rng = np.random.default_rng(5)
    a = random_array(rng, (30, 30), dtype)
    h = (a + a.conj().T) / 2
    w, v = backend.eigh_subset(bk.asarray(h), 2, 6)
    ref = np.linalg.eigvalsh(h.astype(np.complex128))[2:7]
    tol = 1e-4 if dtype == "float32" else 1e-11
    np.testing.assert_allclose(bk.to_numpy(w), ref, atol=tol * np.abs(ref).max())
    vn = bk.to_numpy(v)
    np.testing.assert_allclose(h @ vn, vn * bk.to_numpy(w)[None, :], atol=50 * tol * np.abs(ref).max())
    with pytest.raises(ValueError, match="lo <= hi"):
        backend.eigh_subset(bk.asarray(h), 5, 2)
