"""Latent Spectral Model (LSM): a multiscale neural operator that solves in a latent space.

LSM [LSM]_ lifts the input function to ``hidden_channels`` features (with the grid
coordinates as extra channels), runs a U-Net over ``n_scales`` scales (max-pool down,
linear-interpolation up, skip connections), and on every skip connection (and at the
bottom) applies a *neural spectral block* to the feature map of that scale:

1. **Patchify.** The map is cut into non-overlapping patches of ``patch`` points.
2. **Project to latent tokens** (the "hierarchical projection network"). ``n_tokens``
   learned query tokens per attention head attend to the patch's points (keys and values
   are a pointwise linear map of the features), plus a residual back to the queries. The
   ``N = prod(patch)`` points of a patch are reduced to ``n_tokens`` vectors in ``O(N)``.
3. **Spectral transition.** Each latent token value ``t`` (per channel ``c``) is expanded
   on ``n_bases`` trigonometric basis functions and recombined with learned per-channel
   weights, i.e. the latent operator is a sum of basis operators::

       t' = t + sum_{k=0}^{K-1} a[c, k] sin(pi k t / K) + b[c, k] cos(pi k t / K)

4. **Project back.** The points of the patch (a pointwise linear map of the features) are
   queries attending to the latent tokens (keys = values = tokens), plus a residual.

The patch splitting makes every block local to its patch at its own scale; information
travels between patches through the U-Net's convolutions and pooling, so coarse scales
see large regions with few tokens.

Inputs of any size work: after lifting, the features are zero-padded at the high end of
each axis to the next size the scales and patches divide, and the result is cropped back
before the pointwise projection. The positional grid is ``linspace(0, 1, n)`` per axis of
the *unpadded* input, so the same coordinates describe the domain at every resolution.

References
----------
.. [LSM] H. Wu, T. Hu, H. Luo, J. Wang, M. Long, "Solving High-Dimensional PDEs with
   Latent Spectral Models", ICML 2023, arXiv:2301.12664; authors' code:
   https://github.com/thuml/Latent-Spectral-Models (``models/LSM_2D.py``) and its later
   version in https://github.com/thuml/Neural-Solver-Library (``models/LSM.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from physics.operators._checks import check_input

__all__ = ["LSM"]

NORMS = ("batch", "instance", "none")
_UPSAMPLE_MODE = {1: "linear", 2: "bilinear", 3: "trilinear"}


# --------------------------------------------------------------------------------------
# Layers by number of spatial axes


def _conv(dims: int, c_in: int, c_out: int, kernel_size: int, bias: bool = True) -> nn.Module:
    cls = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1]
    return cls(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=bias)


def _norm(kind: str, dims: int, channels: int) -> nn.Module:
    if kind == "batch":
        return (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dims - 1](channels)
    if kind == "instance":
        return (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)[dims - 1](channels, affine=True)
    return nn.Identity()


def _double_conv(dims: int, c_in: int, c_out: int, c_mid: int, norm: str) -> nn.Sequential:
    """(3-point convolution, norm, ReLU) twice: the U-Net's unit at one scale."""
    # A bias before a normalisation is redundant (the norm's shift replaces it), but
    # without a norm the convolution needs its own.
    bias = norm == "none"
    return nn.Sequential(
        _conv(dims, c_in, c_mid, 3, bias),
        _norm(norm, dims, c_mid),
        nn.ReLU(),
        _conv(dims, c_mid, c_out, 3, bias),
        _norm(norm, dims, c_out),
        nn.ReLU(),
    )


# --------------------------------------------------------------------------------------
# Patches


def _to_patches(x: torch.Tensor, patch: Sequence[int]) -> torch.Tensor:
    """``(batch, C, *spatial)`` to ``(batch * n_patches, C, prod(patch))``; patches are
    ordered row-major over the patch grid, points row-major inside a patch."""
    batch, channels, *spatial = x.shape
    counts = [s // p for s, p in zip(spatial, patch)]
    split = [batch, channels]
    for n, p in zip(counts, patch):
        split += [n, p]
    d = len(spatial)
    order = [0, *(2 + 2 * a for a in range(d)), 1, *(3 + 2 * a for a in range(d))]
    return x.reshape(split).permute(order).reshape(batch * math.prod(counts), channels, math.prod(patch))


def _from_patches(x: torch.Tensor, batch: int, spatial: Sequence[int], patch: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`_to_patches`."""
    channels = x.shape[1]
    counts = [s // p for s, p in zip(spatial, patch)]
    d = len(spatial)
    x = x.reshape(batch, *counts, channels, *patch)
    # axes now: 0 batch, 1..d patch grid, d+1 channels, d+2..2d+1 inside the patch
    order = [0, d + 1]
    for a in range(d):
        order += [1 + a, d + 2 + a]
    return x.permute(order).reshape(batch, channels, *spatial)


# --------------------------------------------------------------------------------------
# The neural spectral block


class _NeuralSpectralBlock(nn.Module):
    """Patchify, attend to latent tokens, spectral transition, attend back, de-patchify.

    Maps ``(batch, channels, *spatial)`` to the same shape; every ``spatial`` extent must
    be a multiple of the patch's.
    """

    def __init__(self, dims: int, channels: int, n_tokens: int, n_bases: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads, self.n_tokens, self.n_bases = n_heads, n_tokens, n_bases
        # Pointwise maps commute with patch splitting, so they act on the whole map.
        self.to_key_value = _conv(dims, channels, 2 * channels, 1)
        self.to_query = _conv(dims, channels, channels, 1)
        # Small positive initial values, as in the authors' code: softmax scores start
        # near uniform and the trigonometric correction starts near zero.
        self.latent = nn.Parameter(torch.rand(n_heads, n_tokens, channels // n_heads) / channels)
        self.basis_weight = nn.Parameter(torch.rand(channels, 2 * n_bases) / channels)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, L) -> (B, heads, L, C / heads); channel c belongs to head c // (C / heads)
        b, c, n = x.shape
        return x.reshape(b, self.n_heads, c // self.n_heads, n).transpose(-1, -2)

    def _merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, h, n, c = x.shape
        return x.transpose(-1, -2).reshape(b, h * c, n)

    def encode(self, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Latent tokens ``(P, C, n_tokens)`` of ``P`` patches from their keys and values
        ``(P, C, n_points)``."""
        k, v = self._heads(key), self._heads(value)
        q = self.latent.to(k.dtype)
        # No 1/sqrt(d) score scaling, as in the authors' code.
        weights = torch.softmax(torch.einsum("htc,bhnc->bhtn", q, k), dim=-1)
        return self._merge_heads(torch.einsum("bhtn,bhnc->bhtc", weights, v) + q)

    def spectral(self, tokens: torch.Tensor) -> torch.Tensor:
        """Trigonometric transition of tokens ``(P, C, n_tokens)``, same shape."""
        freqs = torch.arange(self.n_bases, dtype=tokens.dtype, device=tokens.device) / self.n_bases
        phase = math.pi * tokens[..., None] * freqs
        basis = torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)
        return tokens + torch.einsum("pctm,cm->pct", basis, self.basis_weight)

    def decode(self, query: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Points ``(P, C, n_points)`` (as queries) attend to tokens ``(P, C, n_tokens)``."""
        q, kv = self._heads(query), self._heads(tokens)
        weights = torch.softmax(torch.einsum("bhnc,bhtc->bhnt", q, kv), dim=-1)
        return self._merge_heads(torch.einsum("bhnt,bhtc->bhnc", weights, kv))

    def forward(self, x: torch.Tensor, patch: Sequence[int]) -> torch.Tensor:
        batch, _, *spatial = x.shape
        key, value = _to_patches(self.to_key_value(x), patch).chunk(2, dim=1)
        tokens = self.spectral(self.encode(key, value))
        out = self.decode(_to_patches(self.to_query(x), patch), tokens)
        return x + _from_patches(out, batch, spatial, patch)


# --------------------------------------------------------------------------------------
# The model


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"LSM: {what} must be a positive int, got {value!r}")
    return value


class LSM(nn.Module):
    """Latent Spectral Model: a U-Net whose skip connections pass through neural spectral
    blocks (patchwise attention to latent tokens, a trigonometric latent operator, and
    attention back) [LSM]_.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output functions.
    hidden_channels : int
        Features at the finest scale (``d_model``; the authors' default 32, their Darcy and
        Navier-Stokes runs use 64). Scale ``i`` carries ``hidden_channels * 2**i``, the
        coarsest as many as the one above it.
    n_tokens : int
        Latent tokens per attention head and patch (paper: 4).
    n_bases : int
        Trigonometric basis operators of the spectral transition: ``sin`` and ``cos`` at
        frequencies ``pi k / n_bases``, ``k = 0 .. n_bases - 1`` (paper: 12).
    n_heads : int
        Attention heads of the latent projections (the authors' code: 8); must divide
        ``hidden_channels``.
    n_scales : int
        Scales of the U-Net, i.e. ``n_scales - 1`` halvings (paper: 5).
    patch_size : int, sequence of int or None
        Points per patch along each axis, the same at every scale. ``None`` (default)
        scales the patch with the input: after padding each axis to a multiple of
        ``2**(n_scales - 1)``, the patch is that multiple's quotient, so the coarsest
        scale is one patch and the finest is cut into ``2**(n_scales - 1)`` patches per
        axis (the authors' Navier-Stokes setting, 64 points and patch 4, and the rule of
        their later library). An explicit size pads each axis to a multiple of
        ``patch * 2**(n_scales - 1)`` (the authors' Darcy run: patch 3, 85 points padded
        to 96).
    projection_channels : int
        Hidden width of the pointwise output projection (authors' code: 128).
    norm : {"batch", "instance", "none"}
        Normalisation in the U-Net's convolution units. ``"batch"`` (the paper's steady
        problems) couples the samples of a batch in training mode, not in eval mode;
        ``"instance"`` (the authors' later choice for time-dependent problems) never does
        but needs more than one point at the coarsest scale.
    positional_grid : bool
        Append the coordinates ``linspace(0, 1, n)`` of each axis as input channels.
    dims : int
        Spatial axes: 1, 2 or 3.

    Raises
    ------
    ValueError
        A size that is not a positive int, ``n_heads`` not dividing ``hidden_channels``,
        a bad ``patch_size``, ``norm`` or ``dims``; in :meth:`forward`, a wrong number of
        axes, a channel mismatch, or an input too small for the normalisation.
    TypeError
        In :meth:`forward`, an input that is not a real floating-point torch tensor.

    Notes
    -----
    Maps ``(batch, in_channels, n_1, ..., n_dims)`` to ``(batch, out_channels, n_1, ..., n_dims)``
    for any ``n``.

    Differences from the authors' code, none of which changes the function class: the
    lifting and projections are 1x1 convolutions (the same maps as their per-point linear
    layers); keys and values are the two halves of one pointwise map rather than
    interleaved channels; padding is chosen from the input's size instead of passed in;
    and with ``norm="none"`` the convolutions get a bias. The ``k = 0`` sine basis
    function is identically zero, so its weights never receive gradient; it is kept so
    parameter counts match the authors' model.

    References
    ----------
    .. [LSM] H. Wu, T. Hu, H. Luo, J. Wang, M. Long, "Solving High-Dimensional PDEs with
       Latent Spectral Models", ICML 2023, arXiv:2301.12664.

    Examples
    --------
    >>> import torch
    >>> from physics.operators.models.lsm import LSM
    >>> _ = torch.manual_seed(0)
    >>> model = LSM(1, 2, hidden_channels=8, n_heads=2, n_scales=3)
    >>> model(torch.randn(4, 1, 17, 21)).shape
    torch.Size([4, 2, 17, 21])
    >>> model.n_params
    21426
    >>> model.padded_shape((17, 21)), model.patch_shape((17, 21))
    ((20, 24), (5, 6))
    >>> from physics.operators import train
    >>> a = torch.randn(32, 1, 16, 16)
    >>> u = torch.cat([a, torch.nn.functional.avg_pool2d(a, 3, 1, 1)], 1)   # two output channels
    >>> from tnkit.run import Run
    >>> history = train(model, (a, u), epochs=3, batch_size=8, lr=5e-3, loss="l2", run=Run(progress=False)).history
    >>> history["train_loss"][-1] < history["train_loss"][0]
    True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 32,
        n_tokens: int = 4,
        n_bases: int = 12,
        n_heads: int = 8,
        n_scales: int = 5,
        patch_size: int | Sequence[int] | None = None,
        projection_channels: int = 128,
        norm: str = "batch",
        positional_grid: bool = True,
        dims: int = 2,
    ) -> None:
        super().__init__()
        if isinstance(dims, bool) or dims not in (1, 2, 3):
            raise ValueError(f"LSM: dims must be 1, 2 or 3 spatial axes, got {dims!r}")
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.out_channels = _positive_int(out_channels, "out_channels")
        self.hidden_channels = _positive_int(hidden_channels, "hidden_channels")
        self.n_tokens = _positive_int(n_tokens, "n_tokens")
        self.n_bases = _positive_int(n_bases, "n_bases")
        self.n_heads = _positive_int(n_heads, "n_heads")
        self.n_scales = _positive_int(n_scales, "n_scales")
        self.projection_channels = _positive_int(projection_channels, "projection_channels")
        if hidden_channels % n_heads:
            raise ValueError(f"LSM: n_heads={n_heads} must divide hidden_channels={hidden_channels}")
        if norm not in NORMS:
            raise ValueError(f"LSM: norm must be one of {NORMS}, got {norm!r}")
        if not isinstance(positional_grid, bool):
            raise ValueError(f"LSM: positional_grid must be True or False, got {positional_grid!r}")
        self.dims, self.norm, self.positional_grid = dims, norm, positional_grid
        self.patch_size = self._patch_tuple(patch_size)

        width = hidden_channels
        # Channels per scale; the coarsest matches the one above it because its upsampled
        # copy is concatenated with that scale's skip features (the authors' bilinear U-Net).
        channels = [width * 2**i for i in range(n_scales - 1)] + [width * 2 ** max(n_scales - 2, 0)]
        self.lift = _conv(dims, in_channels + (dims if positional_grid else 0), width, 1)
        self.inc = _double_conv(dims, width, width, width, norm)
        self.downs = nn.ModuleList(
            nn.Sequential(
                (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)[dims - 1](2),
                _double_conv(dims, channels[i], channels[i + 1], channels[i + 1], norm),
            )
            for i in range(n_scales - 1)
        )
        # ups[i] merges scale i's skip features with the upsampled scale i + 1.
        self.ups = nn.ModuleList(
            _double_conv(dims, 2 * channels[i], channels[i - 1] if i else width, channels[i], norm)
            for i in range(n_scales - 1)
        )
        self.blocks = nn.ModuleList(_NeuralSpectralBlock(dims, c, n_tokens, n_bases, n_heads) for c in channels)
        # The authors apply this pointwise map before the projection too; two linear maps
        # in a row add no expressiveness but keep the parameter count theirs.
        self.out_conv = _conv(dims, width, width, 1)
        self.project = nn.Sequential(
            _conv(dims, width, projection_channels, 1), nn.GELU(), _conv(dims, projection_channels, out_channels, 1)
        )

    def _patch_tuple(self, patch_size: int | Sequence[int] | None) -> tuple[int, ...] | None:
        if patch_size is None:
            return None
        sizes = [patch_size] * self.dims if isinstance(patch_size, int) else list(patch_size)
        if len(sizes) != self.dims or any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in sizes):
            raise ValueError(
                f"LSM: patch_size must be None, a positive int or {self.dims} positive ints "
                f"(one per axis), got {patch_size!r}"
            )
        return tuple(sizes)

    @property
    def n_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def padded_shape(self, spatial: Sequence[int]) -> tuple[int, ...]:
        """Extent of each axis after padding an input of extents ``spatial``: the next
        multiple of ``2**(n_scales - 1)`` (times the patch size when it is fixed).

        Parameters
        ----------
        spatial : sequence of int
            Extents of the input's spatial axes.
        """
        halvings = 2 ** (self.n_scales - 1)
        unit = [halvings * p for p in self.patch_size] if self.patch_size else [halvings] * len(spatial)
        return tuple(-(-int(n) // u) * u for n, u in zip(spatial, unit))

    def patch_shape(self, spatial: Sequence[int]) -> tuple[int, ...]:
        """Points per patch along each axis (every scale) for an input of extents ``spatial``.

        Parameters
        ----------
        spatial : sequence of int
            Extents of the input's spatial axes.
        """
        if self.patch_size is not None:
            return self.patch_size
        halvings = 2 ** (self.n_scales - 1)
        return tuple(n // halvings for n in self.padded_shape(spatial))

    def _grid(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, *spatial = x.shape
        axes = [torch.linspace(0, 1, n, dtype=x.dtype, device=x.device) for n in spatial]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"))
        return grid.expand(batch, *grid.shape)

    def _check_norm_size(self, batch: int, padded: Sequence[int]) -> None:
        coarsest = math.prod(n // 2 ** (self.n_scales - 1) for n in padded)
        if self.norm == "instance" and coarsest == 1:
            raise ValueError(
                f"LSM: norm='instance' needs more than one point at the coarsest scale; the padded "
                f"input {tuple(padded)} has one after {self.n_scales - 1} halvings: use a larger input "
                f"or fewer n_scales"
            )
        if self.norm == "batch" and self.training and batch * coarsest == 1:
            raise ValueError(
                f"LSM: norm='batch' in training mode needs more than one value per channel at the "
                f"coarsest scale; a batch of 1 padded to {tuple(padded)} has one: train with a "
                f"batch > 1, a larger input or fewer n_scales"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the model to ``x``; returns ``(batch, out_channels, n_1, ..., n_dims)``.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, in_channels, n_1, ..., n_dims)
            Input function on the grid.
        """
        check_input(x, self.in_channels, self.dims, "LSM", model=self)
        batch, _, *spatial = x.shape
        padded, patch = self.padded_shape(spatial), self.patch_shape(spatial)
        self._check_norm_size(batch, padded)
        if self.positional_grid:
            x = torch.cat([x, self._grid(x)], dim=1)
        h = self.lift(x)
        # F.pad lists (low, high) pairs from the last axis backwards; pad only the high end
        # so the input's points keep their places and cropping is a slice.
        pad = [w for n, m in zip(reversed(spatial), reversed(padded)) for w in (0, m - n)]
        h = F.pad(h, pad)

        skips = [self.inc(h)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        h = self.blocks[-1](skips[-1], patch)
        for i in reversed(range(self.n_scales - 1)):
            up = F.interpolate(h, scale_factor=2, mode=_UPSAMPLE_MODE[self.dims], align_corners=True)
            h = self.ups[i](torch.cat([self.blocks[i](skips[i], patch), up], dim=1))
        h = self.out_conv(h)
        h = h[(..., *(slice(0, n) for n in spatial))]
        return self.project(h)

    def extra_repr(self) -> str:
        patch = "auto" if self.patch_size is None else self.patch_size
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, dims={self.dims}, "
            f"hidden_channels={self.hidden_channels}, n_scales={self.n_scales}, n_tokens={self.n_tokens}, "
            f"n_bases={self.n_bases}, n_heads={self.n_heads}, patch_size={patch}, norm={self.norm!r}"
        )
