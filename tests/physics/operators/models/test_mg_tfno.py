"""MG-TFNO: multi-grid patches against a NumPy brute force (np.pad + explicit window means),
stitching, locality, shapes, gradients and errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from physics.operators import MGTFNO, multigrid_patches, stitch  # noqa: E402

_NP_MODES = {"reflect": "reflect", "periodic": "wrap", "zeros": "constant"}


def _reference_patches(
    x: np.ndarray, levels: int, counts: tuple[int, ...], pad: tuple[int, ...], boundary: str | None
) -> np.ndarray:
    """Brute force: for every patch and level, cut the window from a generously padded
    copy of ``x`` (``np.pad``) and average its ``2**l``-point blocks with explicit loops."""
    b, c = x.shape[:2]
    sizes = x.shape[2:]
    d = len(sizes)
    big = max(sizes) * 2 ** (levels + 1)
    padded = x if boundary is None else np.pad(x, [(0, 0), (0, 0)] + [(big, big)] * d, mode=_NP_MODES[boundary])
    offset = 0 if boundary is None else big
    widths = [n // k + 2 * p for n, k, p in zip(sizes, counts, pad)]
    out = []
    for sample in range(b):
        for patch in itertools.product(*[range(k) for k in counts]):
            groups = []
            for level in range(levels + 1):
                f = 2**level
                starts = []
                for n, k, w, p, kk in zip(sizes, counts, widths, pad, patch):
                    s = n // k
                    if boundary is None:
                        lo = min(max(kk * s + (s - f * w) // 2, 0), n - f * w)
                    else:
                        lo = kk * s + s // 2 - (f * w) // 2 if f > 1 else kk * s - p
                    starts.append(lo + offset)
                group = np.zeros((c, *widths))
                for j in itertools.product(*[range(w) for w in widths]):
                    block = tuple(slice(a + jj * f, a + (jj + 1) * f) for a, jj in zip(starts, j))
                    group[(slice(None), *j)] = padded[(sample, slice(None), *block)].reshape(c, -1).mean(-1)
                groups.append(group)
            out.append(np.concatenate(groups, axis=0))
    return np.stack(out)


@pytest.mark.parametrize("boundary", ["reflect", "periodic", "zeros"])
@pytest.mark.parametrize(
    "sizes,levels,counts,pad",
    [
        ((16,), 2, (2,), (1,)),
        ((8,), 3, (2,), (0,)),  # level-3 windows are 4x the domain: repeated reflection
        ((12, 8), 1, (3, 2), (1, 0)),
        ((8, 8), 2, (2, 2), (0, 1)),
        ((4, 8, 4), 1, (1, 2, 2), (0, 0, 1)),
    ],
)
def test_patches_match_padded_window_means(boundary, sizes, levels, counts, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, *sizes))
    got = multigrid_patches(torch.from_numpy(x), levels, counts, padding=pad, boundary=boundary).numpy()
    want = _reference_patches(x, levels, counts, pad, boundary)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("sizes,levels,counts", [((16,), 2, (4,)), ((16, 8), 1, (4, 2)), ((8, 16), 2, (4, 4))])
def test_boundary_none_moves_windows_inside_the_domain(sizes, levels, counts):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3, *sizes))
    got = multigrid_patches(torch.from_numpy(x), levels, counts, boundary=None).numpy()
    np.testing.assert_allclose(got, _reference_patches(x, levels, counts, (0,) * len(sizes), None), atol=1e-12)


@pytest.mark.parametrize("boundary", ["reflect", "periodic"])
def test_constant_field_gives_constant_context_at_every_level(boundary):
    x = torch.full((1, 1, 16, 16), 2.5, dtype=torch.float64)
    p = multigrid_patches(x, 3, 2, padding=2, boundary=boundary)
    assert p.shape == (4, 4, 12, 12)
    assert torch.allclose(p, torch.full_like(p, 2.5))


@pytest.mark.parametrize(
    "sizes,counts,pad", [((12,), (3,), (2,)), ((8, 12), (2, 3), (1, 2)), ((4, 6, 8), (2, 3, 2), 1)]
)
def test_stitch_inverts_the_patch_layout(sizes, counts, pad):
    x = torch.randn(3, 2, *sizes, dtype=torch.float64)
    p = multigrid_patches(x, 0, counts, padding=pad, boundary="periodic")
    assert torch.equal(stitch(p, counts, padding=pad), x)


def test_one_patch_without_levels_is_the_backbone():
    torch.manual_seed(0)
    model = MGTFNO(1, 2, (6, 6), levels=0, n_patches=1, hidden_channels=8, n_layers=2).double()
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    assert torch.allclose(model(x), model.backbone(x), atol=1e-14)


def test_without_context_patches_do_not_see_each_other_and_with_context_they_do():
    torch.manual_seed(1)
    x = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    bump = x.clone()
    bump[..., :8, :8] += 1.0  # change patch (0, 0) only
    for levels, coupled in ((0, False), (1, True)):
        model = MGTFNO(1, 1, (4, 4), levels=levels, n_patches=2, hidden_channels=6, n_layers=2).double()
        change = (model(bump) - model(x)).abs()[0, 0]
        assert change[:8, :8].max() > 1e-3
        assert (change[8:, 8:].max() > 1e-6) == coupled


@pytest.mark.parametrize("n_modes,shape", [((4,), (2, 2, 32)), ((4, 4), (2, 2, 16, 24)), ((2, 2, 2), (1, 2, 8, 8, 8))])
def test_shapes_and_gradients_reach_every_factor(n_modes, shape):
    torch.manual_seed(2)
    model = MGTFNO(
        2,
        3,
        n_modes,
        levels=1,
        n_patches=2,
        padding_fraction=0.25,
        hidden_channels=6,
        n_layers=2,
        factorization="tucker",
        rank=0.5,
    )
    y = model(torch.randn(*shape))
    assert y.shape == (shape[0], 3, *shape[2:])
    y.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert model.backbone.in_channels == 4
    assert model.n_params == sum(p.numel() for p in model.parameters())


def test_mgtfno_learns_a_local_operator():
    # u = a * (mean of a over its patch neighbourhood) is learnable; the loss must fall clearly
    torch.manual_seed(3)
    a = torch.randn(32, 1, 16, 16)
    u = a * torch.nn.functional.avg_pool2d(a, 3, 1, 1, count_include_pad=False)
    model = MGTFNO(1, 1, (4, 4), levels=1, n_patches=2, hidden_channels=12, n_layers=2)
    opt = torch.optim.Adam(model.parameters(), 5e-3)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = (model(a) - u).square().mean() / u.square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_bad_layouts_and_options_are_refused():
    x = torch.randn(1, 1, 30, 30)
    model = MGTFNO(1, 1, (4, 4), levels=1, hidden_channels=4)
    with pytest.raises(ValueError, match="odd"):
        model(x)
    with pytest.raises(ValueError, match="not divisible by n_patches=4"):
        multigrid_patches(torch.randn(1, 1, 18), 0, 4)
    with pytest.raises(ValueError, match="too small for n_modes"):
        MGTFNO(1, 1, (12, 12), levels=0, n_patches=2, hidden_channels=4)(torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match="boundary=None adds none"):
        MGTFNO(1, 1, (4, 4), levels=2, n_patches=2, boundary=None)
    with pytest.raises(ValueError, match="boundary must be one of"):
        MGTFNO(1, 1, (4, 4), boundary="mirror")
    with pytest.raises(ValueError, match="padding_fraction needs a boundary rule"):
        MGTFNO(1, 1, (4, 4), boundary=None, padding_fraction=0.1)
    with pytest.raises(ValueError, match="expected 1 input channels|channel"):
        model(torch.randn(1, 2, 16, 16))
    with pytest.raises(ValueError, match="do not make whole samples"):
        stitch(torch.randn(3, 1, 4, 4), 2)
