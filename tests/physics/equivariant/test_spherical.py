"""Real spherical harmonics: e3nn's values to l = 11, orthonormality beyond, equivariance, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physics.equivariant import NORMALIZATIONS, random_rotation, spherical_harmonics

torch = pytest.importorskip("torch")
o3 = pytest.importorskip("e3nn.o3")


def _vectors(n: int = 40, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, 3))
    v[0] = [0.0, 1.0, 0.0]  # on the polar axis
    v[1] = [0.0, -2.5, 0.0]
    return v


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("normalize", [True, False])
def test_equals_e3nn_to_degree_11(normalization: str, normalize: bool) -> None:
    v = torch.tensor(_vectors())
    ours = spherical_harmonics(list(range(12)), v, normalize=normalize, normalization=normalization)
    ref = o3.spherical_harmonics(list(range(12)), v, normalize=normalize, normalization=normalization)
    assert ours.shape == ref.shape == (40, 144)
    scale = float(ref.abs().max())
    assert float((ours - ref).abs().max()) <= 1e-13 * scale


def _gauss_grid(lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre in cos(polar angle) times a uniform azimuth: exact for degree <= 2 lmax."""
    n_theta, n_phi = lmax + 1, 2 * lmax + 2
    c, w = np.polynomial.legendre.leggauss(n_theta)
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    s = np.sqrt(1 - c**2)
    # polar axis y (e3nn's): y = cos, (z, x) in the equatorial plane
    pts = np.stack([np.outer(s, np.sin(phi)).ravel(), np.repeat(c, n_phi), np.outer(s, np.cos(phi)).ravel()], axis=-1)
    weights = np.repeat(w, n_phi) * (2 * np.pi / n_phi)
    return pts, weights


def test_orthonormal_on_the_sphere_beyond_e3nns_tables() -> None:
    """The integral normalisation is orthonormal: checked by an exact quadrature, up to l = 24."""
    lmax = 24
    pts, w = _gauss_grid(lmax)
    y = spherical_harmonics(list(range(lmax + 1)), pts, normalization="integral")
    gram = (y * w[:, None]).T @ y
    assert np.abs(gram - np.eye((lmax + 1) ** 2)).max() < 1e-12


def test_component_and_norm_sums() -> None:
    v = _vectors()
    for d in (0, 3, 17, 30):
        comp = spherical_harmonics(d, v)
        norm = spherical_harmonics(d, v, normalization="norm")
        np.testing.assert_allclose((comp**2).sum(axis=1), 2 * d + 1, rtol=1e-11)
        np.testing.assert_allclose((norm**2).sum(axis=1), 1.0, rtol=1e-11)


def test_rotates_by_wigner_d() -> None:
    """Y(R r) = D_l(R) Y(r) with e3nn's Wigner matrices, for l up to 8."""
    R = random_rotation(generator=3)
    v = torch.tensor(_vectors())
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn forms D from angles in the default dtype
    try:
        for d in range(9):
            D = o3.Irreps(f"1x{d}e").D_from_matrix(R)
            np.testing.assert_allclose(
                spherical_harmonics(d, v @ R.T).numpy(), (spherical_harmonics(d, v) @ D.T).numpy(), atol=1e-11
            )
    finally:
        torch.set_default_dtype(default)


def test_gradients_match_finite_differences() -> None:
    v = torch.tensor(_vectors(6, seed=2), requires_grad=True)

    def f(x: torch.Tensor) -> torch.Tensor:
        return spherical_harmonics([1, 4, 13], x).sum(dim=-1)

    assert torch.autograd.gradcheck(f, (v,))
    assert torch.autograd.gradgradcheck(f, (v,))


def test_polynomials_are_smooth_at_the_origin() -> None:
    v = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    y = spherical_harmonics([0, 1, 2], v, normalize=False)
    (g,) = torch.autograd.grad(y[0, 1:4].sum(), v)  # the degree-1 polynomials are sqrt(3) (x, y, z)
    np.testing.assert_allclose(g.numpy(), math.sqrt(3) * np.ones((1, 3)), atol=1e-15)


def test_library_dtype_and_shape_are_kept() -> None:
    v = _vectors(5).reshape(5, 1, 3)
    y = spherical_harmonics([2, 5], v.astype(np.float32))
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == (5, 1, 16)
    t = spherical_harmonics(3, torch.tensor(v, dtype=torch.float32))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32


@pytest.mark.parametrize(
    ("degrees", "kwargs", "vectors", "message"),
    [
        (-1, {}, np.ones(3), "degrees must be integers >= 0"),
        (1.5, {}, np.ones(3), "degrees must be integers >= 0"),
        ([], {}, np.ones(3), "degrees must be integers >= 0"),
        (1, {"normalization": "unit"}, np.ones(3), "unknown normalization 'unit'"),
        (1, {}, np.ones((4, 2)), r"shape \(..., 3\), got \(4, 2\)"),
    ],
)
def test_bad_input_is_one_line(degrees: object, kwargs: dict, vectors: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        spherical_harmonics(degrees, vectors, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
