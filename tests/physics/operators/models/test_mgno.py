"""Tests of physics.operators.models.mgno: shapes, gradients, boundary handling checked against a
NumPy transcription of the V-cycle and against shift equivariance, and a small fit of a
Poisson solution operator."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import physics.operators.models.mgno
from physics.operators.models.mgno import MgNO

BOUNDARIES = ("dirichlet", "periodic", "neumann")
# NumPy's names for the ghost cells each boundary condition asks for.
_NP_PAD = {"dirichlet": "constant", "periodic": "wrap", "neumann": "edge"}


# ---------------------------------------------------------------- NumPy reference
# Written from the module docstring with explicit loops over grid points, so that the
# padding, striding and cropping of the torch implementation are checked independently.


def _np_conv(x: np.ndarray, w: np.ndarray, boundary: str, stride: int = 1) -> np.ndarray:
    """3-point / 3x3 convolution (cross-correlation) of ``x (c_in, *n)`` with ghost cells
    from ``boundary``, evaluated at fine points ``stride * i``."""
    xp = np.pad(x, [(0, 0)] + [(1, 1)] * (x.ndim - 1), mode=_NP_PAD[boundary])
    out_sizes = [-(-n // stride) for n in x.shape[1:]]
    y = np.zeros((w.shape[0], *out_sizes))
    for i in np.ndindex(*out_sizes):
        for t in np.ndindex(*w.shape[2:]):
            # fine point stride*i + t - 1 is padded index stride*i + t
            src = tuple(stride * a + b for a, b in zip(i, t))
            y[(slice(None), *i)] += w[(slice(None), slice(None), *t)] @ xp[(slice(None), *src)]
    return y


def _np_prolong(x: np.ndarray, w: np.ndarray, boundary: str, fine_sizes: tuple[int, ...]) -> np.ndarray:
    """Kernel-4 stride-2 transposed convolution: coarse point ``i`` (ghost points ``-1`` and
    ``m`` from ``boundary``) adds ``w[:, :, t].T @ x[:, i]`` to fine point ``2 i + t - 1``."""
    xp = np.pad(x, [(0, 0)] + [(1, 1)] * (x.ndim - 1), mode=_NP_PAD[boundary])
    y = np.zeros((w.shape[1], *fine_sizes))
    for ip in np.ndindex(*xp.shape[1:]):
        for t in np.ndindex(*w.shape[2:]):
            o = tuple(2 * (a - 1) + b - 1 for a, b in zip(ip, t))
            if all(0 <= a < n for a, n in zip(o, fine_sizes)):
                y[(slice(None), *o)] += w[(slice(None), slice(None), *t)].T @ xp[(slice(None), *ip)]
    return y


def _np_vcycle(cycle: torch.nn.Module, f: np.ndarray, boundary: str) -> np.ndarray:
    """The V-cycle of the module docstring for one sample ``f (c_f, *n)``."""

    def weight(m: torch.nn.Module) -> np.ndarray:
        return m.weight.detach().numpy()

    def smooth(u, f, level, smoothers):
        for smoother in smoothers:
            residual = f if u is None else f - _np_conv(u, weight(cycle.operators[level]), boundary)
            step = _np_conv(residual, weight(smoother), boundary)
            u = step if u is None else u + step
        return u

    levels = len(cycle.smoothers)
    rhs, solutions = [], []
    for level in range(levels):
        u = smooth(None, f, level, cycle.smoothers[level])
        rhs.append(f)
        solutions.append(u)
        if level < levels - 1:
            residual = f - _np_conv(u, weight(cycle.operators[level]), boundary)
            f = _np_conv(residual, weight(cycle.restrictions[level]), boundary, stride=2)
    u = solutions[-1]
    for level in range(levels - 2, -1, -1):
        fine = solutions[level]
        u = fine + _np_prolong(u, weight(cycle.prolongations[level]), boundary, fine.shape[1:])
        u = smooth(u, rhs[level], level, cycle.post_smoothers[level])
    return u


def _np_mgno(model: MgNO, x: np.ndarray) -> np.ndarray:
    """``model`` (with tanh activation) applied to one sample ``x (in_channels, *n)``."""
    assert model.activation == "tanh"
    for k, (cycle, pointwise) in enumerate(zip(model.vcycles, model.pointwise)):
        w = pointwise.weight.detach().numpy()
        b = pointwise.bias.detach().numpy()
        y = _np_vcycle(cycle, x, model.boundary) + np.tensordot(w, x, axes=(1, 0)) + b.reshape(-1, *[1] * (x.ndim - 1))
        x = np.tanh(y) if k < model.n_layers - 1 else y
    return x


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("sizes", [(11,), (7, 6)])
def test_matches_numpy_transcription_of_the_v_cycle(boundary, sizes):
    torch.manual_seed(0)
    model = MgNO(
        2,
        1,
        hidden_channels=3,
        n_layers=2,
        levels=3,
        smoothing=(2, 1, 2),
        post_smoothing=(1, 1),
        boundary=boundary,
        activation="tanh",
        dims=len(sizes),
    ).double()
    x = torch.randn(2, 2, *sizes, dtype=torch.float64)
    got = model(x).detach().numpy()
    want = np.stack([_np_mgno(model, sample) for sample in x.numpy()])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- shapes and parameters


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("sizes", [(16, 16), (13, 21), (5, 8), (1, 3), (32, 17)])
def test_output_shape_2d(boundary, sizes):
    torch.manual_seed(0)
    model = MgNO(3, 2, hidden_channels=4, n_layers=2, levels=4, boundary=boundary)
    y = model(torch.randn(2, 3, *sizes))
    assert y.shape == (2, 2, *sizes)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("n", [64, 37, 2, 1])
def test_output_shape_1d(boundary, n):
    torch.manual_seed(0)
    model = MgNO(1, 3, hidden_channels=4, n_layers=2, levels=5, boundary=boundary, dims=1)
    assert model(torch.randn(3, 1, n)).shape == (3, 3, n)


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    model = MgNO(2, 1, hidden_channels=4, n_layers=3, levels=3, smoothing=(2, 1, 3), post_smoothing=(1, 2))
    (model(torch.randn(2, 2, 12, 10)) * torch.randn(2, 1, 12, 10)).sum().backward()
    names = [name for name, p in model.named_parameters()]
    assert any("prolongations" in n for n in names) and any("post_smoothers" in n for n in names)
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def _hand_count(widths, levels, smoothing, post, dims):
    stencil, transposed = 3**dims, 4**dims
    total = 0
    for c_f, c_u in zip(widths[:-1], widths[1:]):
        n_operators = sum(1 for l in range(levels) if l < levels - 1 or smoothing[l] > 1)
        total += n_operators * c_u * c_f * stencil  # A^l
        total += (sum(smoothing) + sum(post)) * c_f * c_u * stencil  # S^{l,i}
        total += (levels - 1) * (c_f * c_f * stencil + c_u * c_u * transposed)  # R^l, P^l
        total += c_f * c_u + c_u  # W, b
    return total


@pytest.mark.parametrize("dims", [1, 2])
def test_n_params_counts_every_stencil(dims):
    model = MgNO(
        3, 2, hidden_channels=5, n_layers=3, levels=4, smoothing=(1, 2, 1, 1), post_smoothing=(0, 1, 2), dims=dims
    )
    assert model.n_params == _hand_count([3, 5, 5, 2], 4, (1, 2, 1, 1), (0, 1, 2), dims)
    assert model.n_params == sum(p.numel() for p in model.parameters())


def test_default_smoothing_is_the_papers():
    assert MgNO(1, 1, levels=6).smoothing == (1, 1, 1, 1, 1, 2)
    assert MgNO(1, 1, levels=6).post_smoothing == (0, 0, 0, 0, 0)
    assert MgNO(1, 1, levels=3, smoothing=2).smoothing == (2, 2, 2)


def test_single_layer_is_affine():
    # Nothing inside a V-cycle is nonlinear: with one layer the model is linear plus a bias.
    torch.manual_seed(0)
    model = MgNO(2, 2, n_layers=1, levels=3, hidden_channels=4).double()
    x, y = torch.randn(2, 2, 2, 12, 8, dtype=torch.float64)
    zero = model(torch.zeros_like(x))
    assert not torch.allclose(zero, torch.zeros_like(zero))
    torch.testing.assert_close(model(2.0 * x - 3.0 * y) - zero, 2.0 * (model(x) - zero) - 3.0 * (model(y) - zero))


# ---------------------------------------------------------------- boundary conditions


@pytest.mark.parametrize("dims", [1, 2])
def test_periodic_commutes_with_circular_shifts(dims):
    torch.manual_seed(0)
    levels = 3  # shifts by multiples of 2**(levels-1) = 4 points
    sizes, shift = ((16, 24), (4, -8)) if dims == 2 else ((24,), (12,))
    axes = tuple(range(2, 2 + dims))
    x = torch.randn(2, 2, *sizes, dtype=torch.float64)
    for boundary in BOUNDARIES:
        torch.manual_seed(1)
        model = MgNO(
            2, 1, hidden_channels=4, n_layers=3, levels=levels, post_smoothing=1, boundary=boundary, dims=dims
        ).double()
        gap = (model(x.roll(shift, axes)) - model(x).roll(shift, axes)).abs().max()
        if boundary == "periodic":
            assert gap < 1e-12
        else:  # the walls are fixed in space, so the shifted field sees different boundaries
            assert gap > 1e-3, boundary


# ---------------------------------------------------------------- learning


def _poisson_data(n: int, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """White-noise sources f and the solutions u of -u'' = f, u(0) = u(1) = 0, on n interior
    nodes (second-order finite differences, solved densely)."""
    h = 1.0 / (n + 1)
    laplacian = (2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)) / h**2
    f = np.random.default_rng(seed).standard_normal((samples, n))
    u = np.linalg.solve(laplacian, f.T).T
    u /= u.std()
    return torch.tensor(f, dtype=torch.float32)[:, None], torch.tensor(u, dtype=torch.float32)[:, None]


def _relative_error(model: MgNO, f: torch.Tensor, u: torch.Tensor) -> float:
    with torch.no_grad():
        return float((torch.linalg.vector_norm(model(f) - u, dim=-1) / torch.linalg.vector_norm(u, dim=-1)).mean())


def _fit(levels: int, f: torch.Tensor, u: torch.Tensor) -> tuple[float, float]:
    torch.manual_seed(0)
    model = MgNO(1, 1, hidden_channels=4, n_layers=2, levels=levels, dims=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = _relative_error(model, f[32:], u[32:])
    for _ in range(100):
        optimizer.zero_grad()
        torch.mean((model(f[:32]) - u[:32]) ** 2).backward()
        optimizer.step()
    return before, _relative_error(model, f[32:], u[32:])


def test_learns_poisson_solution_operator():
    # The inverse Laplacian couples every pair of points: the coarse grids of the V-cycle
    # carry that global part, which local stencils on one grid cannot reach.
    f, u = _poisson_data(n=32, samples=48, seed=0)
    before, after = _fit(levels=4, f=f, u=u)
    assert after < 0.3 * before, (before, after)
    assert after < 0.3
    _, single_grid = _fit(levels=1, f=f, u=u)
    assert after < 0.5 * single_grid, (after, single_grid)


# ---------------------------------------------------------------- errors and docs


def test_input_errors():
    model = MgNO(2, 1, hidden_channels=4, n_layers=2, levels=2)
    with pytest.raises(ValueError, match="channel mismatch"):
        model(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="4 axes"):
        model(torch.randn(1, 2, 8))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.ones(1, 2, 8, 8, dtype=torch.int64))


@pytest.mark.parametrize(
    "options, match",
    [
        ({"boundary": "robin"}, "boundary .*'robin'"),
        ({"activation": "swish"}, "activation .*'swish'"),
        ({"dims": 3}, "dims must be 1 or 2.*3"),
        ({"hidden_channels": 0}, "hidden_channels must be a positive int, got 0"),
        ({"n_layers": 2.0}, "n_layers must be a positive int, got 2.0"),
        ({"levels": True}, "levels must be a positive int, got True"),
        ({"levels": 3, "smoothing": (1, 1)}, "smoothing needs 3 per-level counts"),
        ({"smoothing": 0}, "smoothing counts must be ints >= 1, got 0"),
        ({"levels": 3, "post_smoothing": (0, -1)}, r"post_smoothing counts must be ints >= 0, got \(0, -1\)"),
        ({"smoothing": "2"}, "smoothing must be an int or a sequence of ints, got '2'"),
    ],
)
def test_bad_options_raise(options, match):
    with pytest.raises(ValueError, match=match):
        MgNO(1, 1, **options)


def test_bad_channel_counts_raise():
    with pytest.raises(ValueError, match="in_channels must be a positive int, got 0"):
        MgNO(0, 1)
    with pytest.raises(ValueError, match="out_channels must be a positive int, got -2"):
        MgNO(1, -2)


def test_docstring_examples_run():
    result = doctest.testmod(physics.operators.models.mgno)
    assert result.attempted > 0 and result.failed == 0
