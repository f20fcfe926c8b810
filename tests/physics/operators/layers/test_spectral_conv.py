"""Spectral convolutions: against brute-force Fourier sums, across factorizations and resolutions."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from physics.operators import FNO, TFNO, SpectralConv, factorized_ranks  # noqa: E402
from physics.operators.layers.spectral_conv import _ModeChain  # noqa: E402


def _reference_conv(x: np.ndarray, w: np.ndarray, n_modes: list[int], out_sizes: tuple[int, ...]) -> np.ndarray:
    """Brute force: Fourier coefficients by explicit sums (``norm="forward"``), each kept
    mode's coefficients multiplied by ``w[i, o, *mode]``, summed back as the real Fourier
    series a real inverse FFT evaluates on the output grid: interior columns of the last
    axis's half spectrum stand for a mode and its conjugate (twice the real part), the
    zero and Nyquist columns once."""
    b, c = x.shape[:2]
    sizes = x.shape[2:]
    d = len(sizes)
    freqs = [list(range((k + 1) // 2)) + list(range(-(k // 2), 0)) for k in n_modes[:-1]]
    freqs.append(list(range(n_modes[-1] // 2 + 1)))
    grids_in = np.meshgrid(*[np.arange(n) / n for n in sizes], indexing="ij")
    grids_out = np.meshgrid(*[np.arange(n) / n for n in out_sizes], indexing="ij")
    out = np.zeros((b, w.shape[1], *out_sizes))
    for index in np.ndindex(*[len(f) for f in freqs]):
        kvec = [freqs[a][i] for a, i in enumerate(index)]
        coeff = (x * np.exp(-2j * np.pi * sum(k * g for k, g in zip(kvec, grids_in)))).reshape(b, c, -1).mean(-1)
        yk = np.einsum("bi,io->bo", coeff, w[(slice(None), slice(None), *index)])
        wave = np.exp(2j * np.pi * sum(k * g for k, g in zip(kvec, grids_out)))
        last, n_last = kvec[-1], out_sizes[d - 1]
        mult = 1.0 if last == 0 or 2 * last == n_last else 2.0
        out += mult * np.real(yk[(...,) + (None,) * d] * wave)
    return out


@pytest.mark.parametrize("sizes,n_modes", [((12,), [6]), ((10, 12), [6, 8]), ((6, 8, 6), [4, 4, 4])])
def test_dense_spectral_conv_matches_brute_force_fourier_sums(sizes, n_modes):
    torch.manual_seed(0)
    conv = SpectralConv(2, 3, n_modes, bias=False).double()
    x = torch.randn(2, 2, *sizes, dtype=torch.float64)
    got = conv(x).detach().numpy()
    w = conv.dense_weight().detach().numpy()
    want = _reference_conv(x.numpy(), w, n_modes, sizes)
    assert got.shape == (2, 3, *sizes)
    np.testing.assert_allclose(got, want, atol=1e-10 * np.abs(want).max() + 1e-12)


def test_output_shape_evaluates_the_fourier_series_on_another_grid():
    torch.manual_seed(1)
    conv = SpectralConv(1, 2, [6, 6], bias=False).double()
    x = torch.randn(1, 1, 12, 12, dtype=torch.float64)
    got = conv(x, output_shape=(20, 16)).detach().numpy()
    want = _reference_conv(x.numpy(), conv.dense_weight().detach().numpy(), [6, 6], (20, 16))
    np.testing.assert_allclose(got, want, atol=1e-10 * np.abs(want).max())


@pytest.mark.parametrize("factorization", ["tucker", "cp", "tt"])
@pytest.mark.parametrize("separable", [False, True])
def test_factorized_contraction_equals_the_dense_weight(factorization, separable):
    torch.manual_seed(2)
    conv = SpectralConv(4, 4, [6, 6], factorization=factorization, rank=0.5, separable=separable).double()
    x = torch.randn(3, 4, 16, 14, dtype=torch.float64)
    y = conv(x)
    rebuilt = SpectralConv(4, 4, [6, 6], separable=separable).double()
    with torch.no_grad():
        rebuilt.dense.copy_(torch.view_as_real(conv.dense_weight()))
        rebuilt.bias.copy_(conv.bias)
    np.testing.assert_allclose(y.detach().numpy(), rebuilt(x).detach().numpy(), atol=1e-12)
    conv.implementation = "reconstructed"
    np.testing.assert_allclose(y.detach().numpy(), conv(x).detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("factorization", ["dense", "tucker", "cp", "tt"])
@pytest.mark.parametrize("sizes,n_modes", [((12,), [5]), ((10, 9), [6, 4]), ((6, 8, 6), [4, 4, 3])])
def test_mode_chain_gradients_equal_autograd_through_the_dense_weight(factorization, sizes, n_modes):
    # the hand-written backward of the factorized path against autograd of the plain einsum
    # with the reconstructed weight, for the input and every factor, in float64
    torch.manual_seed(5)
    conv = SpectralConv(3, 4, n_modes, factorization=factorization, rank=0.6).double()
    x = torch.randn(2, 3, *sizes, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 4, *sizes, dtype=torch.float64)
    axes = tuple(range(-len(sizes), 0))

    def through_dense_weight():
        xk = conv._gather(torch.fft.rfftn(x, dim=axes, norm="forward"))
        yk = torch.einsum(conv._dense_equation, xk, conv.dense_weight())
        return torch.fft.irfftn(conv._scatter(yk, sizes), s=sizes, dim=axes, norm="forward") + conv.bias

    grads = [torch.autograd.grad(y, [x, *conv.parameters()], g) for y in (conv(x), through_dense_weight())]
    for name, a, b in zip(["x"] + [n for n, _ in conv.named_parameters()], *grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12 * float(b.abs().max()), err_msg=name)


def test_mode_chain_passes_gradcheck_with_complex_operands():
    torch.manual_seed(6)
    c = dict(dtype=torch.complex128, requires_grad=True)
    x, left, right = torch.randn(3, 2, 4, **c), torch.randn(4, 3, **c), torch.randn(5, 2, **c)
    assert torch.autograd.gradcheck(_ModeChain.apply, (x, left, torch.randn(3, 3, 2, **c), right))
    assert torch.autograd.gradcheck(_ModeChain.apply, (x, left, torch.randn(3, 3, **c), torch.randn(5, 3, **c)))
    assert torch.autograd.gradcheck(_ModeChain.apply, (x, None, torch.randn(3, 4, 5, **c), None))


@pytest.mark.parametrize("factorization", ["tucker", "cp", "tt"])
def test_weight_is_a_tnkit_factorization_and_gradients_reach_every_factor(factorization):
    import tnkit

    torch.manual_seed(3)
    conv = SpectralConv(3, 5, [8, 8], factorization=factorization, rank=0.3)
    kind = {"tucker": tnkit.Tucker, "cp": tnkit.CP, "tt": tnkit.TT}[factorization]
    assert isinstance(conv.weight, kind)
    assert tuple(conv.weight.shape) == (3, 5, 8, 5)
    conv(torch.randn(2, 3, 16, 16)).pow(2).sum().backward()
    for name, p in conv.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


def test_initial_weight_scale_matches_init_std_for_every_factorization():
    torch.manual_seed(4)
    for factorization in ("dense", "tucker", "cp", "tt"):
        stds = []
        for _ in range(20):
            conv = SpectralConv(16, 16, [8, 8], factorization=factorization, rank=0.5, init_std=0.1)
            stds.append(float(conv.dense_weight().detach().abs().pow(2).mean().sqrt()))
        assert 0.07 < np.mean(stds) < 0.13, (factorization, np.mean(stds))


def test_factorized_ranks_hold_the_requested_fraction_of_parameters():
    shape = (32, 32, 16, 9)
    total = math.prod(shape)
    r = factorized_ranks(shape, "tucker", 0.42)
    held = math.prod(r) + sum(s * k for s, k in zip(shape, r))
    assert abs(held / total - 0.42) < 0.03
    (rc,) = factorized_ranks(shape, "cp", 0.1)
    assert abs(rc * (sum(shape) + 1) / total - 0.1) < 0.01
    t = factorized_ranks(shape, "tt", 0.2)
    bonds = (1, *t, 1)
    held = sum(bonds[k] * s * bonds[k + 1] for k, s in enumerate(shape))
    assert abs(held / total - 0.2) < 0.03
    assert factorized_ranks(shape, "tucker", 4) == (4, 4, 4, 4)
    assert factorized_ranks((2, 3, 4), "tt", 100) == (2, 4)  # capped by the modes on either side
    with pytest.raises(ValueError, match="exceed"):
        factorized_ranks((4, 4), "tucker", [5, 2])
    with pytest.raises(ValueError, match="takes 3"):
        factorized_ranks((4, 4, 4, 4), "tt", [2, 2])


def test_modes_above_the_nyquist_limit_are_refused():
    conv = SpectralConv(1, 1, [16, 16])
    conv(torch.randn(1, 1, 16, 16))  # exactly at the limit
    with pytest.raises(ValueError, match="Nyquist"):
        conv(torch.randn(1, 1, 12, 16))
    with pytest.raises(ValueError, match="Nyquist"):
        FNO(1, 1, (16, 16), hidden_channels=4)(torch.randn(1, 1, 16, 14))


def test_channel_and_axis_mismatches_are_refused():
    model = FNO(2, 1, (4, 4), hidden_channels=4)
    with pytest.raises(ValueError, match="channel mismatch"):
        model(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="axes"):
        model(torch.randn(1, 2, 8))
    with pytest.raises(ValueError, match="factorization"):
        SpectralConv(1, 1, 4, factorization="svd")
    with pytest.raises(ValueError, match="TFNO"):
        TFNO(1, 1, (4, 4), factorization=None)


def test_band_limited_inputs_give_the_same_spectral_conv_output_on_every_grid():
    """Discretisation invariance of one layer: exact for band-limited functions."""
    torch.manual_seed(5)
    conv = SpectralConv(1, 2, [8, 8]).double()

    def f(n: int) -> torch.Tensor:
        g = torch.arange(n, dtype=torch.float64) / n
        x, y = torch.meshgrid(g, g, indexing="ij")
        return (torch.sin(2 * math.pi * x) * torch.cos(4 * math.pi * y) + 0.3 * torch.cos(6 * math.pi * (x + y)))[
            None, None
        ]

    coarse, fine = conv(f(16)), conv(f(48))
    np.testing.assert_allclose(coarse.detach().numpy(), fine[..., ::3, ::3].detach().numpy(), atol=1e-12)
