"""Latent Spectral Model: shapes at any resolution, the neural spectral block against a
NumPy transcription of the paper's equations, no coupling across the batch, gradients,
a small operator-learning fit, and one-line errors."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import physics.operators.models.lsm as lsm_module
from physics.operators.models.lsm import LSM, _from_patches, _NeuralSpectralBlock, _to_patches


def _small(**kwargs: object) -> LSM:
    options = dict(hidden_channels=8, n_heads=2, n_scales=3, projection_channels=16)
    options.update(kwargs)
    return LSM(options.pop("in_channels", 1), options.pop("out_channels", 1), **options)


# --------------------------------------------------------------------------------------
# Shapes and padding


@pytest.mark.parametrize("spatial", [(16, 16), (17, 17), (33, 20), (64, 64), (5, 9)])
def test_output_shape_2d_any_size(spatial: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = _small(in_channels=3, out_channels=2).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *spatial))
    assert out.shape == (2, 2, *spatial)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("spatial", [(16, 16), (17, 33)])
def test_output_shape_paper_sizes_and_fixed_patch(spatial: tuple[int, int]) -> None:
    torch.manual_seed(0)
    for model in (LSM(1, 1, hidden_channels=8, n_heads=2), LSM(1, 1, hidden_channels=8, n_heads=2, patch_size=3)):
        out = model(torch.randn(2, 1, *spatial))  # training mode, five scales
        assert out.shape == (2, 1, *spatial)


@pytest.mark.parametrize(("dims", "spatial"), [(1, (37,)), (3, (5, 8, 3))])
def test_output_shape_1d_3d(dims: int, spatial: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = _small(in_channels=2, out_channels=3, dims=dims, n_scales=2).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 2, *spatial)).shape == (2, 3, *spatial)


def test_padding_and_patches_match_the_authors_settings() -> None:
    # The authors' runs: Navier-Stokes 64x64 with patch 4 and no padding; Darcy 85x85 padded
    # by 11 to 96 with patch 6 (script) or 3 (experiment file), five scales in both.
    auto = LSM(1, 1)
    assert auto.padded_shape((64, 64)) == (64, 64) and auto.patch_shape((64, 64)) == (4, 4)
    assert auto.padded_shape((85, 85)) == (96, 96) and auto.patch_shape((85, 85)) == (6, 6)
    fixed = LSM(1, 1, patch_size=3)
    assert fixed.padded_shape((85, 85)) == (96, 96) and fixed.patch_shape((85, 85)) == (3, 3)
    assert fixed.padded_shape((64, 17)) == (96, 48)


@pytest.mark.parametrize("patch_size", [None, 2])
def test_internal_padding_equals_running_on_the_zero_extended_input(patch_size: int | None) -> None:
    # Without the grid and with a bias-free lifting, lifted zeros are zeros, so padding
    # the features inside must give what the explicitly zero-extended input gives, cropped
    # to the input's points at the low corner.
    torch.manual_seed(6)
    model = _small(in_channels=2, positional_grid=False, patch_size=patch_size).double()
    with torch.no_grad():
        model.lift.bias.zero_()
    model(torch.randn(4, 2, 16, 16, dtype=torch.float64))  # non-default running statistics
    model.eval()
    x = torch.randn(2, 2, 13, 10, dtype=torch.float64)
    padded = model.padded_shape((13, 10))
    assert padded != (13, 10)
    extended = torch.nn.functional.pad(x, (0, padded[1] - 10, 0, padded[0] - 13))
    assert model.padded_shape(extended.shape[2:]) == padded
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(extended)[:, :, :13, :10], rtol=1e-10, atol=1e-12)


def test_positional_grid_is_linspace_of_the_unpadded_input() -> None:
    model = _small(in_channels=1)
    seen: dict[str, torch.Tensor] = {}

    def record(module: torch.nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        seen["x"] = args[0]

    model.lift.register_forward_hook(record)
    x = torch.randn(2, 1, 7, 5, dtype=torch.float64)
    model.double().eval()(x)
    gx, gy = np.meshgrid(np.linspace(0, 1, 7), np.linspace(0, 1, 5), indexing="ij")
    lifted_input = seen["x"].detach().numpy()
    assert lifted_input.shape == (2, 3, 7, 5)
    np.testing.assert_array_equal(lifted_input[:, 0], x.numpy()[:, 0])
    for b in range(2):
        np.testing.assert_allclose(lifted_input[b, 1], gx, atol=1e-15)
        np.testing.assert_allclose(lifted_input[b, 2], gy, atol=1e-15)


# --------------------------------------------------------------------------------------
# Patches and the neural spectral block


@pytest.mark.parametrize(("spatial", "patch"), [((6,), (3,)), ((4, 6), (2, 3)), ((4, 2, 6), (2, 1, 3))])
def test_patches_are_contiguous_blocks_in_row_major_order(spatial: tuple[int, ...], patch: tuple[int, ...]) -> None:
    x = torch.arange(2 * 3 * int(np.prod(spatial)), dtype=torch.float64).reshape(2, 3, *spatial)
    patches = _to_patches(x, patch)
    counts = [s // p for s, p in zip(spatial, patch)]
    for b in range(2):
        for index, corner in enumerate(np.ndindex(*counts)):
            window = tuple(slice(c * p, (c + 1) * p) for c, p in zip(corner, patch))
            expected = x[(b, slice(None), *window)].reshape(3, -1)
            torch.testing.assert_close(patches[b * int(np.prod(counts)) + index], expected)
    torch.testing.assert_close(_from_patches(patches, 2, spatial, patch), x)


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _reference_block(block: _NeuralSpectralBlock, x: np.ndarray, patch: tuple[int, int]) -> np.ndarray:
    """The block on one sample ``(C, H, W)``, patch by patch and head by head, in NumPy."""
    p = {k: v.detach().numpy() for k, v in block.state_dict().items()}
    w_kv, b_kv = p["to_key_value.weight"][:, :, 0, 0], p["to_key_value.bias"]
    w_q, b_q = p["to_query.weight"][:, :, 0, 0], p["to_query.bias"]
    latent, coef = p["latent"], p["basis_weight"]
    channels, height, width = x.shape
    heads, n_bases = latent.shape[0], coef.shape[1] // 2
    d = channels // heads
    out = x.copy()
    for i in range(0, height, patch[0]):
        for j in range(0, width, patch[1]):
            points = x[:, i : i + patch[0], j : j + patch[1]].reshape(channels, -1)
            kv = w_kv @ points + b_kv[:, None]
            keys, values = kv[:channels], kv[channels:]
            query = w_q @ points + b_q[:, None]
            update = np.zeros_like(points)
            for h in range(heads):
                rows = slice(h * d, (h + 1) * d)
                # encoder: learned tokens attend to the patch's points, plus residual
                tokens = _softmax(latent[h] @ keys[rows]) @ values[rows].T + latent[h]  # (n_tokens, d)
                # spectral transition, channel by channel
                for c in range(d):
                    t = tokens[:, c].copy()
                    a, b = coef[h * d + c, :n_bases], coef[h * d + c, n_bases:]
                    for k in range(n_bases):
                        t = (
                            t
                            + a[k] * np.sin(np.pi * k / n_bases * tokens[:, c])
                            + b[k] * np.cos(np.pi * k / n_bases * tokens[:, c])
                        )
                    tokens[:, c] = t
                # decoder: points attend to the tokens (keys = values = tokens)
                update[rows] = (_softmax(query[rows].T @ tokens.T) @ tokens).T
            out[:, i : i + patch[0], j : j + patch[1]] += update.reshape(channels, *patch)
    return out


def test_neural_spectral_block_matches_numpy_reference() -> None:
    torch.manual_seed(1)
    block = _NeuralSpectralBlock(2, channels=6, n_tokens=3, n_bases=5, n_heads=2).double()
    with torch.no_grad():  # larger weights than at initialisation so every term matters
        for param in block.parameters():
            param.normal_()
    x = torch.randn(2, 6, 6, 8, dtype=torch.float64)
    with torch.no_grad():
        out = block(x, (3, 4)).numpy()
    for b in range(2):
        np.testing.assert_allclose(out[b], _reference_block(block, x[b].numpy(), (3, 4)), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------
# Batch independence and gradients


def _batch_matches_one_by_one(model: LSM, x: torch.Tensor) -> None:
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(x.shape[0])])
        permutation = torch.tensor([2, 0, 3, 1])
        permuted = model(x[permutation])
    torch.testing.assert_close(together, alone, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(permuted, together[permutation], rtol=1e-10, atol=1e-12)


def test_batch_norm_eval_mode_treats_samples_independently() -> None:
    torch.manual_seed(2)
    model = _small(in_channels=2).double()
    model(torch.randn(4, 2, 12, 12, dtype=torch.float64))  # move the running statistics off their defaults
    _batch_matches_one_by_one(model.eval(), torch.randn(4, 2, 13, 10, dtype=torch.float64))


def test_instance_norm_training_mode_treats_samples_independently() -> None:
    torch.manual_seed(3)
    model = _small(in_channels=2, norm="instance").double().train()
    _batch_matches_one_by_one(model, torch.randn(4, 2, 13, 10, dtype=torch.float64))


def test_batch_norm_training_mode_couples_samples_as_documented() -> None:
    torch.manual_seed(4)
    model = _small().double().train()
    x = torch.randn(4, 1, 12, 12, dtype=torch.float64)
    with torch.no_grad():
        assert not torch.allclose(model(x)[:2], model(x[:2]), atol=1e-6)


def test_gradient_reaches_every_parameter() -> None:
    torch.manual_seed(5)
    model = _small(in_channels=2, out_channels=2)
    model(torch.randn(3, 2, 11, 14)).square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, f"{name} gets no gradient"
    assert model.n_params == sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------
# Learning an operator


def _smooth_fields(n: int, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random band-limited periodic fields ``f`` and ``u = (1 - 0.01 Laplacian)^-1 f``,
    the solution operator of a screened Poisson problem, applied exactly by FFT."""
    k = np.fft.fftfreq(size, 1 / size)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    band = (np.abs(kx) <= 3) & (np.abs(ky) <= 3)
    coef = (rng.standard_normal((n, size, size)) + 1j * rng.standard_normal((n, size, size))) * band
    f = np.fft.ifft2(coef).real
    f /= f.std(axis=(1, 2), keepdims=True)
    u = np.fft.ifft2(np.fft.fft2(f) / (1 + 0.01 * (2 * np.pi) ** 2 * (kx**2 + ky**2))).real
    return torch.tensor(f[:, None], dtype=torch.float32), torch.tensor(u[:, None], dtype=torch.float32)


def test_small_model_learns_screened_poisson_solution_operator() -> None:
    f, u = _smooth_fields(40, 16, np.random.default_rng(0))
    f_train, u_train, f_test, u_test = f[:24], u[:24], f[24:], u[24:]
    torch.manual_seed(0)
    model = _small(projection_channels=32)

    def held_out_error() -> float:
        model.eval()
        with torch.no_grad():
            pred = model(f_test)
        model.train()
        return float(((pred - u_test).flatten(1).norm(dim=1) / u_test.flatten(1).norm(dim=1)).mean())

    before = held_out_error()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(80):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(f_train), u_train).backward()
        optimizer.step()
    after = held_out_error()
    assert after < 0.5 * before, (before, after)


# --------------------------------------------------------------------------------------
# Errors


def test_forward_errors_are_one_line_and_name_the_cause() -> None:
    model = _small(in_channels=2)
    with pytest.raises(ValueError, match="channel mismatch"):
        model(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"4 axes\), got shape \(2, 2, 8\)"):
        model(torch.randn(2, 2, 8))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.ones(2, 2, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="norm='instance' needs more than one point"):
        _small(norm="instance")(torch.randn(2, 1, 4, 4))
    with pytest.raises(ValueError, match="train with a batch > 1"):
        _small().train()(torch.randn(1, 1, 4, 4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(hidden_channels=0), "hidden_channels must be a positive int, got 0"),
        (dict(n_tokens=2.0), "n_tokens must be a positive int, got 2.0"),
        (dict(n_bases=-1), "n_bases must be a positive int, got -1"),
        (dict(n_scales=True), "n_scales must be a positive int, got True"),
        (dict(projection_channels=0), "projection_channels must be a positive int"),
        (dict(n_heads=3), "n_heads=3 must divide hidden_channels=8"),
        (dict(patch_size=(2, 2, 2)), r"patch_size must be None, a positive int or 2 positive ints"),
        (dict(patch_size=0), "patch_size"),
        (dict(norm="layer"), "norm must be one of"),
        (dict(positional_grid=1), "positional_grid must be True or False"),
        (dict(dims=4), "dims must be 1, 2 or 3"),
        (dict(in_channels=0), "in_channels must be a positive int, got 0"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _small(**kwargs)


def test_docstring_examples_run() -> None:
    failures, attempted = doctest.testmod(lsm_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0
