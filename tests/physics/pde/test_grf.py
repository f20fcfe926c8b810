"""Gaussian random fields: the KL construction, spectra, backends and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from physics.pde.grf import GaussianRandomField


@pytest.mark.parametrize("bc", ["periodic", "neumann"])
def test_eigenvalues_formula(bc) -> None:
    g = GaussianRandomField(8, alpha=2.5, tau=4.0, sigma=2.0, bc=bc, length=2.0)
    lam = g.eigenvalues()
    ks = g.integer_modes()
    scale = (2 if bc == "periodic" else 1) * np.pi / 2.0
    k = (1, 2)
    expected = 4.0 * ((scale * 1) ** 2 + (scale * 2) ** 2 + 16.0) ** -2.5
    sel = (ks[0] == k[0]) & (ks[1] == k[1])
    assert lam[sel][0] == pytest.approx(expected, rel=1e-14)
    assert lam[(ks[0] == 0) & (ks[1] == 0)][0] == 0.0  # zero mean


def test_default_sigma_is_fno() -> None:
    assert GaussianRandomField(8, alpha=2.5, tau=7.0).sigma == pytest.approx(7.0**1.5)
    assert GaussianRandomField(8, dim=1, alpha=2.0, tau=5.0).sigma == pytest.approx(5.0**1.5)


@pytest.mark.parametrize("bc", ["periodic", "neumann"])
def test_coefficients_recover_the_kl_draw(bc) -> None:
    """Projecting a sample back gives sqrt(lambda) times the host's white noise (exact)."""
    g = GaussianRandomField(16, alpha=2.0, tau=3.0, bc=bc, length=1.5)
    u = g.sample(2, rng=7)
    c = np.asarray(g.coefficients(u))
    noise = np.random.default_rng(7).standard_normal((2, 16, 16))
    lam = g.eigenvalues()
    if bc == "neumann":
        assert np.allclose(c, np.sqrt(lam) * noise, atol=1e-13)
    else:
        zeta = np.fft.rfft2(noise) / 16
        assert np.allclose(c, np.sqrt(lam) * zeta, atol=1e-13)


@pytest.mark.parametrize("bc", ["periodic", "neumann"])
def test_empirical_variance_matches(bc) -> None:
    g = GaussianRandomField(16, alpha=2.0, tau=2.0, bc=bc)
    c = np.asarray(g.coefficients(g.sample(3000, rng=1)))
    lam = g.eigenvalues()
    ks = g.integer_modes()
    sel = (lam > 0) & (ks[0] ** 2 + ks[1] ** 2 <= 4)
    ratio = (np.abs(c[:, sel]) ** 2).mean(axis=0) / lam[sel]
    assert np.all(np.abs(ratio - 1) < 0.12)  # 3000 draws: standard error <= 0.026


def test_pointwise_variance_neumann() -> None:
    """Neumann fields at cell centres: Var u(x) = sum_k lambda_k phi_k(x)^2 exactly."""
    g = GaussianRandomField(12, dim=1, alpha=1.5, tau=2.0, bc="neumann")
    b = g.cosine_matrix()
    expected = (b**2) @ g.eigenvalues()
    u = g.sample(40000, rng=3)
    assert np.allclose(u.var(axis=0), expected, rtol=0.05)


def test_fno_normalization_doubles_the_variance() -> None:
    a = GaussianRandomField(16, alpha=2.5, tau=7.0)
    b = GaussianRandomField(16, alpha=2.5, tau=7.0, normalization="fno")
    assert np.allclose(b.eigenvalues(), 2 * a.eigenvalues())
    assert np.allclose(b.sample(1, rng=0), np.sqrt(2) * a.sample(1, rng=0))


def test_modes_truncate_and_mean_is_zero() -> None:
    g = GaussianRandomField(32, modes=4)
    u = g.sample(3, rng=0)
    assert np.abs(u.mean(axis=(1, 2))).max() < 1e-14
    c = np.asarray(g.coefficients(u))
    kx, ky = g.integer_modes()
    assert np.abs(c[:, (np.abs(kx) >= 4) | (ky >= 4)]).max() < 1e-14


def test_backends_give_the_same_fields(bk) -> None:
    for bc in ("periodic", "neumann"):
        g = GaussianRandomField(8, dim=2, bc=bc)
        ref = g.sample(2, rng=5)
        like = bk.asarray(np.zeros(1))
        got = g.sample(2, rng=5, like=like)
        assert got.shape == (2, 8, 8) and got.dtype == like.dtype
        assert np.allclose(bk.to_numpy(got), ref, atol=1e-13)
        f32 = g.sample(2, rng=5, like=like, dtype="float32")
        assert f32.dtype == bk.dtype("float32")
        assert np.allclose(bk.to_numpy(f32), ref, atol=1e-5)


@pytest.mark.parametrize("dim", [1, 3])
def test_other_dimensions(dim) -> None:
    g = GaussianRandomField(8, dim=dim, bc="neumann")
    u = g.sample(2, rng=0)
    assert u.shape == (2,) + (8,) * dim
    c = np.asarray(g.coefficients(u))
    noise = np.random.default_rng(0).standard_normal(u.shape)
    assert np.allclose(c, np.sqrt(g.eigenvalues()) * noise, atol=1e-13)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 15}, "must be even"),
        ({"alpha": -1.0}, "alpha must be"),
        ({"tau": float("inf")}, "tau must be"),
        ({"bc": "dirichlet"}, "bc must be"),
        ({"dim": 4}, "dim must be"),
        ({"modes": 9}, "resolves at most 8 modes"),
        ({"modes": 0}, "modes must be an int"),
        ({"normalization": "fno", "bc": "neumann"}, "periodic sampler"),
        ({"normalization": "x"}, "normalization must be"),
    ],
)
def test_bad_input(kwargs, match) -> None:
    args = {"n": 16, **kwargs}
    with pytest.raises(ValueError, match=match):
        GaussianRandomField(args.pop("n"), **args)


def test_bad_sample_arguments() -> None:
    g = GaussianRandomField(8)
    with pytest.raises(ValueError, match="num must be"):
        g.sample(0)
    with pytest.raises(ValueError, match="dtype must be"):
        g.sample(1, dtype="int32")
