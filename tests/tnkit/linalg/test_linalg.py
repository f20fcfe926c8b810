"""tnkit.linalg against dense references, exact formulas and invariants."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import Backend, random_array, rtol_for
from tnkit import backend
from tnkit.linalg import ConvergenceError, eigsh, expm_multiply, lq, qr, randomized_svd, truncated_svd


def _spectrum_matrix(rng: np.random.Generator, m: int, n: int, sigma: np.ndarray, dtype: str) -> np.ndarray:
    """A matrix with exactly the singular values ``sigma`` (built, not computed)."""
    u, _ = np.linalg.qr(random_array(rng, (m, len(sigma)), dtype))
    v, _ = np.linalg.qr(random_array(rng, (n, len(sigma)), dtype))
    return ((u * sigma) @ v.conj().T).astype(dtype)


# ----------------------------------------------------------------------------- truncated_svd


def test_truncated_svd_reconstructs_and_keeps_library(bk: Backend, dtype: str) -> None:
    rng = np.random.default_rng(0)
    a = random_array(rng, (30, 20), dtype)
    u, s, vh, dw = truncated_svd(bk.asarray(a))
    assert backend.library_name(backend.namespace(u, s, vh, dw)) == bk.name.replace("-cuda", "")
    assert u.dtype == bk.dtype(dtype) and vh.dtype == bk.dtype(dtype)
    assert s.dtype == backend.real_dtype(bk.xp, bk.dtype(dtype))
    un, sn, vhn = bk.to_numpy(u), bk.to_numpy(s), bk.to_numpy(vh)
    assert un.shape == (30, 20) and vhn.shape == (20, 20)
    np.testing.assert_allclose((un * sn) @ vhn, a, atol=50 * rtol_for(dtype) * np.abs(a).max())
    assert float(bk.to_numpy(dw)) == 0.0
    np.testing.assert_allclose(sn, np.linalg.svd(a, compute_uv=False), rtol=10 * rtol_for(dtype))


def test_truncated_svd_discarded_weight_is_eckart_young(bk: Backend, dtype: str) -> None:
    rng = np.random.default_rng(1)
    sigma = 2.0 ** -np.arange(12.0)
    a = _spectrum_matrix(rng, 25, 16, sigma, dtype)
    for k in (1, 4, 11):
        u, s, vh, dw = truncated_svd(bk.asarray(a), max_rank=k)
        assert s.shape == (k,)
        exact = float(np.sum(sigma[k:] ** 2))
        assert abs(float(bk.to_numpy(dw)) - exact) <= 10 * rtol_for(dtype) * np.sum(sigma**2)
        resid = a - (bk.to_numpy(u) * bk.to_numpy(s)) @ bk.to_numpy(vh)
        assert abs(np.linalg.norm(resid) ** 2 - exact) <= 10 * rtol_for(dtype) * np.sum(sigma**2)


@given(
    m=st.integers(1, 12),
    n=st.integers(1, 12),
    seed=st.integers(0, 2**31 - 1),
    max_rank=st.one_of(st.none(), st.integers(1, 12)),
    cutoff=st.sampled_from([0.0, 1e-3, 0.1, 0.5]),
    mode=st.sampled_from(["rel", "abs", "discarded", "rel_discarded"]),
    cplx=st.booleans(),
)
def test_property_residual_norm_equals_discarded_weight(bk, m, n, seed, max_rank, cutoff, mode, cplx) -> None:
    rng = np.random.default_rng(seed)
    a = random_array(rng, (m, n), "complex128" if cplx else "float64")
    out = truncated_svd(bk.asarray(a), max_rank=max_rank, cutoff=cutoff, cutoff_mode=mode)
    u, s, vh, dw = (bk.to_numpy(x) for x in out)
    k = s.shape[0]
    assert 1 <= k <= min(m, n)
    if max_rank is not None:
        assert k <= max_rank
    resid = np.linalg.norm(a - (u * s) @ vh) ** 2
    assert abs(resid - float(dw)) <= 1e-12 * max(1.0, np.linalg.norm(a) ** 2)
    full = np.linalg.svd(a, compute_uv=False)
    np.testing.assert_allclose(s, full[:k], rtol=1e-12, atol=1e-13)


def test_cutoff_modes_select_the_documented_rank(bk: Backend) -> None:
    sigma = np.array([4.0, 2.0, 1.0, 0.5, 0.25])
    a = bk.asarray(np.diag(sigma))
    assert truncated_svd(a, cutoff=0.3, cutoff_mode="rel")[1].shape == (2,)  # s > 1.2
    assert truncated_svd(a, cutoff=0.3, cutoff_mode="abs")[1].shape == (4,)  # s > 0.3
    # discarded budget 1.3: dropping {0.5, 0.25} costs 0.3125, adding 1.0 costs 1.3125 > 1.3
    assert truncated_svd(a, cutoff=1.3, cutoff_mode="discarded")[1].shape == (3,)
    total = float(np.sum(sigma**2))
    assert truncated_svd(a, cutoff=1.3125 / total, cutoff_mode="rel_discarded")[1].shape == (2,)
    assert truncated_svd(a, cutoff=0.3, cutoff_mode="rel", max_rank=1)[1].shape == (1,)
    assert truncated_svd(a, cutoff=100.0, cutoff_mode="abs")[1].shape == (1,)  # at least one kept


def test_truncated_svd_bad_input_messages() -> None:
    a = np.ones((3, 3))
    bad = a.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        truncated_svd(bad)
    with pytest.raises(ValueError, match="max_rank must be >= 1, got 0"):
        truncated_svd(a, max_rank=0)
    with pytest.raises(TypeError, match="max_rank must be an int"):
        truncated_svd(a, max_rank=2.5)
    with pytest.raises(ValueError, match="unknown cutoff_mode"):
        truncated_svd(a, cutoff=0.1, cutoff_mode="sum2")
    with pytest.raises(ValueError, match="cutoff must be"):
        truncated_svd(a, cutoff=-1.0)
    with pytest.raises(ValueError, match="2-d matrix"):
        truncated_svd(np.ones(3))


def test_truncated_svd_is_differentiable_in_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a0 = rng.standard_normal((6, 5))
    a = torch.tensor(a0, requires_grad=True)
    _, s, _, dw = truncated_svd(a, max_rank=3)
    (s.sum() + dw).backward()
    # d(sum of top-3 s)/dA = U_3 V_3^T; d(sum of discarded s^2)/dA = 2 U_t S_t V_t^T
    u, sv, vh = np.linalg.svd(a0, full_matrices=False)
    expect = u[:, :3] @ vh[:3] + 2 * (u[:, 3:] * sv[3:]) @ vh[3:]
    np.testing.assert_allclose(a.grad.numpy(), expect, atol=1e-10)


# ----------------------------------------------------------------------------- QR / LQ


@pytest.mark.parametrize("shape", [(7, 4), (4, 7), (5, 5)])
def test_qr_unique_positive_diagonal(bk: Backend, dtype: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    a = random_array(rng, shape, dtype)
    q, r = qr(bk.asarray(a))
    qn, rn = bk.to_numpy(q), bk.to_numpy(r)
    k = min(shape)
    tol = 50 * rtol_for(dtype)
    assert qn.shape == (shape[0], k) and rn.shape == (k, shape[1])
    np.testing.assert_allclose(qn.conj().T @ qn, np.eye(k), atol=tol)
    np.testing.assert_allclose(qn @ rn, a, atol=tol * np.abs(a).max())
    assert np.allclose(np.tril(rn, -1), 0)
    d = np.diag(rn)
    assert np.all(d.real >= 0) and np.allclose(d.imag, 0, atol=tol)
    # Uniqueness: equals NumPy's QR after the same phase convention.
    q_ref, r_ref = np.linalg.qr(a.astype(np.complex128 if dtype.startswith("c") else np.float64))
    ph = np.diag(r_ref) / np.abs(np.diag(r_ref))
    np.testing.assert_allclose(qn, q_ref * ph[None, :], atol=tol * 10)


@pytest.mark.parametrize("shape", [(7, 4), (4, 7)])
def test_lq_lower_triangular_orthonormal_rows(bk: Backend, dtype: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(4)
    a = random_array(rng, shape, dtype)
    l, q = lq(bk.asarray(a))
    ln, qn = bk.to_numpy(l), bk.to_numpy(q)
    k = min(shape)
    tol = 50 * rtol_for(dtype)
    np.testing.assert_allclose(qn @ qn.conj().T, np.eye(k), atol=tol)
    np.testing.assert_allclose(ln @ qn, a, atol=tol * np.abs(a).max())
    assert np.allclose(np.triu(ln, 1), 0)
    assert np.all(np.diag(ln).real >= 0)


@given(m=st.integers(1, 9), n=st.integers(1, 9), seed=st.integers(0, 2**31 - 1), cplx=st.booleans())
def test_property_qr_lq(bk, m, n, seed, cplx) -> None:
    rng = np.random.default_rng(seed)
    a = random_array(rng, (m, n), "complex128" if cplx else "float64")
    q, r = (bk.to_numpy(x) for x in qr(bk.asarray(a)))
    k = min(m, n)
    np.testing.assert_allclose(q.conj().T @ q, np.eye(k), atol=1e-12)
    np.testing.assert_allclose(q @ r, a, atol=1e-12)
    l, q2 = (bk.to_numpy(x) for x in lq(bk.asarray(a)))
    assert np.allclose(np.triu(l, 1), 0)
    np.testing.assert_allclose(q2 @ q2.conj().T, np.eye(k), atol=1e-12)
    np.testing.assert_allclose(l @ q2, a, atol=1e-12)


def test_qr_zero_column_stays_exact(bk: Backend) -> None:
    a = np.zeros((3, 2))
    a[:, 1] = [1.0, 2.0, 3.0]
    q, r = (bk.to_numpy(x) for x in qr(bk.asarray(a)))
    np.testing.assert_allclose(q @ r, a, atol=1e-14)


# ----------------------------------------------------------------------------- randomized SVD


def test_randomized_svd_recovers_low_rank(bk: Backend, dtype: str) -> None:
    rng = np.random.default_rng(5)
    sigma = np.array([10.0, 5.0, 3.0, 2.0, 1.0] + [1e-6] * 15)
    a = _spectrum_matrix(rng, 60, 40, sigma, dtype)
    u, s, vh = randomized_svd(bk.asarray(a), 5, rng=1)
    np.testing.assert_allclose(bk.to_numpy(s), sigma[:5], rtol=50 * rtol_for(dtype) + 1e-9)
    approx = (bk.to_numpy(u) * bk.to_numpy(s)) @ bk.to_numpy(vh)
    assert np.linalg.norm(a - approx) <= 1e-5 + 100 * rtol_for(dtype) * np.linalg.norm(a)
    u2, s2, _ = randomized_svd(bk.asarray(a), 5, rng=1)
    np.testing.assert_array_equal(bk.to_numpy(s2), bk.to_numpy(s))  # reproducible from a seed


def test_randomized_svd_bad_rank() -> None:
    with pytest.raises(ValueError, match="rank must be in"):
        randomized_svd(np.ones((4, 3)), 4)


# ----------------------------------------------------------------------------- eigsh (Lanczos)


def _random_hermitian(rng: np.random.Generator, n: int, cplx: bool) -> np.ndarray:
    a = random_array(rng, (n, n), "complex128" if cplx else "float64")
    return (a + a.conj().T) / 2


@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 4), cplx=st.booleans(), which=st.sampled_from(["SA", "LA"]))
def test_property_lanczos_equals_eigh_200(bk, seed, k, cplx, which) -> None:
    rng = np.random.default_rng(seed)
    h = _random_hermitian(rng, 200, cplx)
    ref = np.linalg.eigvalsh(h)
    ref = ref[:k] if which == "SA" else ref[::-1][:k]
    v0 = random_array(rng, (200,), "complex128" if cplx else "float64")
    hx = bk.asarray(h)
    w, v = (bk.to_numpy(x) for x in eigsh(lambda x: hx @ x, bk.asarray(v0), k=k, tol=1e-10, which=which))
    np.testing.assert_allclose(w, ref, atol=1e-10, rtol=0)
    np.testing.assert_allclose(v.conj().T @ v, np.eye(k), atol=1e-10)
    np.testing.assert_allclose(h @ v, v * w[None, :], atol=1e-8)


def test_lanczos_on_every_backend(bk: Backend, dtype: str) -> None:
    rng = np.random.default_rng(6)
    h = _random_hermitian(rng, 80, dtype.startswith("c")).astype(dtype)
    hx = bk.asarray(h)
    w, v = eigsh(
        lambda x: hx @ x, bk.asarray(random_array(rng, (80,), dtype)), k=2, tol=1e-10 if dtype != "float32" else 1e-5
    )
    assert w.dtype == backend.real_dtype(bk.xp, bk.dtype(dtype)) and v.dtype == bk.dtype(dtype)
    ref = np.linalg.eigvalsh(h.astype(np.complex128))[:2]
    np.testing.assert_allclose(bk.to_numpy(w), ref, atol=1e-9 if dtype != "float32" else 1e-3)


def test_lanczos_tensor_shaped_start_vector(bk: Backend) -> None:
    rng = np.random.default_rng(7)
    h = _random_hermitian(rng, 24, False)
    hx, xp = bk.asarray(h), bk.xp

    def matvec(x):
        return xp.reshape(hx @ xp.reshape(x, (24,)), (2, 3, 4))

    w, v = eigsh(matvec, bk.asarray(rng.standard_normal((2, 3, 4))), k=2)
    assert v.shape == (2, 3, 4, 2)
    np.testing.assert_allclose(bk.to_numpy(w), np.linalg.eigvalsh(h)[:2], atol=1e-10)


def test_lanczos_degenerate_and_invariant_subspace(bk: Backend) -> None:
    # Start vector inside a 3-dim invariant subspace: Lanczos must continue past the breakdown.
    d = np.array([5.0, 4.0, 3.0, -1.0, -2.0, 0.5, 7.0, 1.0])
    h = bk.asarray(np.diag(d))
    v0 = np.zeros(8)
    v0[:3] = 1.0
    w, _ = eigsh(lambda x: h @ x, bk.asarray(v0), k=2, ncv=8)
    np.testing.assert_allclose(bk.to_numpy(w), [-2.0, -1.0], atol=1e-12)


def test_lanczos_bad_input() -> None:
    with pytest.raises(ValueError, match="zero vector"):
        eigsh(lambda x: x, np.zeros(4))
    with pytest.raises(ValueError, match="k must be in"):
        eigsh(lambda x: x, np.ones(4), k=5)
    with pytest.raises(ValueError, match="NaN or Inf"):
        eigsh(lambda x: x, np.array([1.0, np.inf]))


def test_lanczos_reports_nonconvergence(bk: Backend) -> None:
    rng = np.random.default_rng(8)
    h = bk.asarray(_random_hermitian(rng, 300, False))
    v0 = bk.asarray(rng.standard_normal(300))
    with pytest.raises(ConvergenceError, match="no convergence"):
        eigsh(lambda x: h @ x, v0, k=3, ncv=6, max_restarts=2, tol=1e-14)


# ----------------------------------------------------------------------------- expm_multiply


@pytest.mark.parametrize("t", [0.5, 2.0, -1j * 1.5, 0.3 - 0.8j])
@pytest.mark.parametrize("hermitian", [False, True])
def test_expm_multiply_matches_scipy(bk: Backend, dtype: str, t: complex, hermitian: bool) -> None:
    rng = np.random.default_rng(9)
    n = 60
    a = _random_hermitian(rng, n, dtype.startswith("c")) / 4 if hermitian else random_array(rng, (n, n), dtype) / 8
    a = a.astype(dtype)
    v = random_array(rng, (n,), dtype)
    ax = bk.asarray(a)
    out = expm_multiply(lambda x: ax @ x, bk.asarray(v), t, hermitian=hermitian)
    ref = scipy.linalg.expm(complex(t) * a.astype(np.complex128)) @ v
    if complex(t).imag == 0 and not dtype.startswith("c"):
        assert out.dtype == bk.dtype(dtype)
        ref = ref.real
    tol = 1e-3 if dtype == "float32" else 1e-11
    assert np.linalg.norm(bk.to_numpy(out) - ref) <= tol * np.linalg.norm(ref)


@pytest.mark.parametrize("scale", [1.0, 10.0, 1000.0])
def test_expm_multiply_schrodinger_conserves_norm_and_energy(bk: Backend, scale: float) -> None:
    """exp(-i (c H) (t / c)) psi is the same state for every c: the step control is free of H's scale.

    The error estimate h_next |e_m^T exp(tau H_m) e_1| has a roundoff floor of ~eps * h_next; a fixed
    floor of 4 eps made every scaled H (h_next >> 4) halve tau to underflow (ConvergenceError).
    """
    rng = np.random.default_rng(10)
    h = _random_hermitian(rng, 100, True)
    psi = random_array(rng, (100,), "complex128")
    psi /= np.linalg.norm(psi)
    hx = bk.asarray(scale * h)
    out = bk.to_numpy(expm_multiply(lambda x: hx @ x, bk.asarray(psi), -1j * 20.0 / scale, hermitian=True))
    assert abs(np.linalg.norm(out) - 1) < 1e-11
    assert abs(np.vdot(out, h @ out) - np.vdot(psi, h @ psi)) < 1e-9
    np.testing.assert_allclose(out, scipy.linalg.expm(-20j * h) @ psi, atol=1e-10)


def test_expm_multiply_real_vector_complex_operator(bk: Backend) -> None:
    rng = np.random.default_rng(11)
    a = random_array(rng, (20, 20), "complex128") / 5
    v = rng.standard_normal(20)
    ax, xp = bk.asarray(a), bk.xp
    # the operator promotes its real argument itself (the standard has no mixed-kind matmul)
    out = bk.to_numpy(expm_multiply(lambda x: ax @ xp.astype(x, ax.dtype), bk.asarray(v), 1.0))
    np.testing.assert_allclose(out, scipy.linalg.expm(a) @ v, atol=1e-12)


def test_expm_multiply_tensor_shape_and_zero_time(bk: Backend) -> None:
    rng = np.random.default_rng(12)
    a = rng.standard_normal((12, 12)) / 4
    v = rng.standard_normal((3, 4))
    ax, xp = bk.asarray(a), bk.xp
    out = expm_multiply(lambda x: xp.reshape(ax @ xp.reshape(x, (12,)), (3, 4)), bk.asarray(v), 1.0)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(bk.to_numpy(out).reshape(12), scipy.linalg.expm(a) @ v.reshape(12), atol=1e-12)
    zero = expm_multiply(lambda x: ax @ x, bk.asarray(v[0]), 0.0)
    np.testing.assert_array_equal(bk.to_numpy(zero), v[0])


def test_qr_lq_are_differentiable_in_torch() -> None:
    torch = pytest.importorskip("torch")
    a = torch.tensor(np.random.default_rng(13).standard_normal((5, 3)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: qr(x)[0].sum() + qr(x)[1].sum(), (a,))
    b = torch.tensor(np.random.default_rng(14).standard_normal((3, 5)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: lq(x)[0].sum() + lq(x)[1].sum(), (b,))


@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 3), cplx=st.booleans())
def test_property_davidson_equals_eigh(bk, seed, k, cplx) -> None:
    from tnkit.linalg import davidson

    rng = np.random.default_rng(seed)
    h = _random_hermitian(rng, 120, cplx) * 0.1 + np.diag(np.arange(120.0))
    ref = np.linalg.eigvalsh(h)[:k]
    v0 = random_array(rng, (120,), "complex128" if cplx else "float64")
    hx, v0x = bk.asarray(h), bk.asarray(v0)
    diag = bk.asarray(np.real(np.diag(h)).astype(v0.dtype))
    w, v = (bk.to_numpy(x) for x in davidson(lambda x: hx @ x, v0x, k=k, tol=1e-10, diag=diag))
    np.testing.assert_allclose(w, ref, atol=1e-9)
    np.testing.assert_allclose(h @ v, v * w[None, :], atol=1e-8)
    w2, _ = davidson(lambda x: hx @ x, v0x, k=k, tol=1e-10)  # no preconditioner
    np.testing.assert_allclose(bk.to_numpy(w2), ref, atol=1e-9)


def test_davidson_on_every_backend(bk: Backend) -> None:
    from tnkit.linalg import davidson

    rng = np.random.default_rng(15)
    h = _random_hermitian(rng, 60, True) * 0.2 + np.diag(np.arange(60.0))
    hx = bk.asarray(h)
    w, _ = davidson(
        lambda x: hx @ x,
        bk.asarray(random_array(rng, (60,), "complex128")),
        k=2,
        diag=bk.asarray(np.real(np.diag(h)).astype(complex)),
    )
    np.testing.assert_allclose(bk.to_numpy(w), np.linalg.eigvalsh(h)[:2], atol=1e-9)
