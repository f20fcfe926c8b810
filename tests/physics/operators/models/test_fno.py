"""FNO and TFNO: discretisation invariance, shapes and gradients, parameter counts, precisions."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from physics.operators import FNO, TFNO  # noqa: E402


def test_fno_is_discretisation_invariant_to_interpolation_accuracy():
    """A whole FNO on a smooth periodic function: without coordinate channels every layer
    maps smooth periodic functions to smooth periodic ones, and the outputs at shared
    points agree spectrally fast as the grids refine; the coordinate channels (a sawtooth
    when periodic) make the grid sums first-order accurate, so the differences halve per
    refinement."""

    def f(n: int) -> torch.Tensor:
        g = torch.arange(n, dtype=torch.float64) / n
        x, y = torch.meshgrid(g, g, indexing="ij")
        return torch.exp(torch.sin(2 * math.pi * x) * torch.cos(2 * math.pi * y))[None, None]

    for grid in (None, "periodic"):
        torch.manual_seed(6)
        model = FNO(1, 1, (8, 8), hidden_channels=8, n_layers=2, positional_grid=grid).double()
        with torch.no_grad():
            outs = {n: model(f(n)) for n in (16, 32, 64, 128)}
        errs = [
            float((outs[n] - outs[2 * n][..., ::2, ::2]).abs().max() / outs[2 * n].abs().max()) for n in (16, 32, 64)
        ]
        if grid is None:
            assert errs[-1] < 1e-10 and errs[0] > 1e3 * errs[-1], errs
        else:
            rates = [errs[k] / errs[k + 1] for k in range(2)]
            assert all(1.8 < r < 2.2 for r in rates), errs


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_fno_shapes_and_gradients_in_every_dimension(dims):
    torch.manual_seed(7)
    modes = [4] * dims
    model = TFNO(2, 3, modes, hidden_channels=6, n_layers=2, rank=0.5, norm="group", domain_padding=0.25)
    x = torch.randn(2, 2, *([8] * dims))
    y = model(x)
    assert y.shape == (2, 3, *([8] * dims))
    y.pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_tfno_parameter_count_and_compression_match_the_rank():
    model = TFNO(1, 1, (16, 16), hidden_channels=32, rank=0.42)
    dense = FNO(1, 1, (16, 16), hidden_channels=32)
    spectral_dense = 4 * 2 * 32 * 32 * 16 * 9
    spectral_tucker = model.n_params - (dense.n_params - spectral_dense)
    assert abs(spectral_tucker / spectral_dense - 0.42) < 0.03
    assert all(abs(c.compression - 0.42) < 0.03 for c in model.convs)


def test_float64_and_amp_paths_run():
    model = FNO(1, 1, (4, 4), hidden_channels=4).double()
    assert model(torch.randn(1, 1, 8, 8, dtype=torch.float64)).dtype == torch.float64
    model = FNO(1, 1, (4, 4), hidden_channels=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(torch.randn(1, 1, 8, 8))
    assert torch.isfinite(y).all()
