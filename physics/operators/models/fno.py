"""Fourier neural operators: FNO and its tensorized variant TFNO (1D, 2D, 3D).

An FNO [FNO]_ lifts the input function pointwise to ``hidden_channels``, applies
``n_layers`` Fourier blocks, and projects pointwise to the output channels::

    v0 = P(x, grid)                                             lifting (channel MLP)
    h_l = act( SpectralConv_l(v_l) + Skip_l(v_l) )              Fourier block
    v_{l+1} = act( ChannelMLP_l(h_l) + MLPSkip_l(v_l) )         optional channel MLP
    y = Q(v_L)                                                  projection (channel MLP)

(without the channel MLP, ``v_{l+1} = h_l``; no activations in the last block). The
channel MLP's skip starts from the block's input ``v_l``, so with a soft-gating skip every
block is a residual update of ``v_l`` (the layout of the TFNO authors' code). Every layer but the
spectral convolution is
pointwise, and the spectral convolution keeps a fixed set of Fourier modes with
``norm="forward"`` FFTs, so the same model evaluates the same function sampled on any grid
with at least ``n_modes`` points per axis: trained at 16^2, it can be applied at 32^2
(zero-shot super-resolution).

A TFNO [TFNO]_ is an FNO whose spectral weights are factorized (:class:`tnkit.Tucker` by
default, or CP / TT) and contracted with the Fourier coefficients factor by factor.

References
----------
.. [FNO] Z. Li et al., "Fourier Neural Operator for Parametric Partial Differential
   Equations", ICLR 2021, arXiv:2010.08895.
.. [TFNO] J. Kossaifi, N. Kovachki, K. Azizzadenesheli, A. Anandkumar, "Multi-Grid
   Tensorized Fourier Neural Operator for High-Resolution PDEs", TMLR 2024,
   arXiv:2310.00120.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import EllipsisType
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from physics.operators._checks import check_input
from physics.operators.layers.channel_mlp import ChannelMLP, _norm, _skip, activation_function
from physics.operators.layers.spectral_conv import SpectralConv, _mode_list

__all__ = ["FNO", "TFNO"]


class FNO(nn.Module):
    """Fourier neural operator on 1 to 3 spatial axes.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output functions.
    n_modes : int or sequence of int
        Fourier modes per spatial axis (their number sets the dimension); see
        :class:`physics.operators.SpectralConv`.
    hidden_channels : int
        Width of the Fourier blocks.
    n_layers : int
        Number of Fourier blocks.
    lifting_ratio, projection_ratio : float
        Hidden width of the two-layer lifting / projection MLPs as a multiple of
        ``hidden_channels``; ``0`` makes the lifting a single linear map.
    positional_grid : {"nodes", "periodic"} or None
        Append the coordinates of each point as channels: ``"nodes"`` spans [0, 1] with
        both ends (data on grid nodes including the boundary, like the Darcy sets),
        ``"periodic"`` uses ``i / n`` (periodic data like Navier-Stokes); ``None`` adds none.
    activation : {"gelu", "relu", "silu", "tanh"}
    skip : {"linear", "identity", "soft-gating", None}
        The path added to each spectral convolution.
    channel_mlp : bool
        Follow each spectral convolution with a two-layer channel MLP.
    channel_mlp_expansion : float
        Hidden width of the channel MLPs as a multiple of ``hidden_channels``.
    channel_mlp_skip : {"linear", "identity", "soft-gating", None}
        The path added to each channel MLP.
    norm : {"instance", "group"} or None
        Normalisation after the spectral convolution and after the channel MLP.
    domain_padding : float
        Zero-pad every spatial axis by this fraction of its size before the Fourier
        blocks (and crop after), for non-periodic problems.
    factorization, rank, implementation, separable
        Of the spectral weights; see :class:`physics.operators.SpectralConv`.

    Notes
    -----
    Maps ``(batch, in_channels, n_1, ..., n_d)`` to ``(batch, out_channels, n_1, ..., n_d)``.

    Examples
    --------
    >>> import torch
    >>> from physics.operators import FNO
    >>> _ = torch.manual_seed(0)
    >>> model = FNO(1, 1, n_modes=(8, 8), hidden_channels=16)
    >>> model(torch.randn(4, 1, 16, 16)).shape
    torch.Size([4, 1, 16, 16])
    >>> model(torch.randn(4, 1, 32, 32)).shape    # the same operator on a finer grid
    torch.Size([4, 1, 32, 32])

    Training (:func:`physics.operators.train`) on ``(a, u)`` pairs:

    >>> from physics.operators import train
    >>> a = torch.randn(32, 1, 16, 16)
    >>> u = torch.nn.functional.avg_pool2d(a, 3, 1, 1)        # a smoothing operator to learn
    >>> from tnkit.run import Run
    >>> history = train(model, (a, u), epochs=3, batch_size=8, lr=5e-3, loss="l2", run=Run(progress=False)).history
    >>> history["train_loss"][-1] < history["train_loss"][0]
    True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_modes: int | Sequence[int],
        *,
        hidden_channels: int = 32,
        n_layers: int = 4,
        lifting_ratio: float = 2,
        projection_ratio: float = 2,
        positional_grid: str | None = "nodes",
        activation: str = "gelu",
        skip: str | None = "linear",
        channel_mlp: bool = True,
        channel_mlp_expansion: float = 0.5,
        channel_mlp_skip: str | None = "soft-gating",
        norm: str | None = None,
        domain_padding: float = 0.0,
        factorization: str | None = None,
        rank: float | int | Sequence[int] = 1.0,
        implementation: str = "factorized",
        separable: bool = False,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        for what, v in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("hidden_channels", hidden_channels),
            ("n_layers", n_layers),
        ):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: {what} must be a positive int, got {v!r}")
        if factorization not in (None, "dense") and isinstance(rank, float) and not rank <= 1.0:
            # A float is the fraction of the dense weights kept: above 1 the factors would hold
            # more parameters than the dense weights (Tucker silently clamps to full ranks).
            raise ValueError(
                f"{name}: rank={rank!r} is a float, the fraction of the dense spectral weights the "
                f"factors keep, so it must be in (0, 1]; for explicit ranks pass an int (rank={int(rank)})"
                if math.isfinite(rank)
                else f"{name}: rank must be a finite fraction in (0, 1], got {rank!r}"
            )
        self.n_modes = _mode_list(n_modes, name)
        self.dims = len(self.n_modes)
        self.in_channels, self.out_channels, self.hidden_channels = in_channels, out_channels, hidden_channels
        if positional_grid not in ("nodes", "periodic", None):
            raise ValueError(f"{name}: positional_grid must be 'nodes', 'periodic' or None, got {positional_grid!r}")
        self.positional_grid = positional_grid
        if not 0 <= domain_padding < 10:
            raise ValueError(f"{name}: domain_padding must be a fraction >= 0, got {domain_padding}")
        self.domain_padding = float(domain_padding)
        self.act = activation_function(activation)
        self.activation = activation

        lift_in = in_channels + (self.dims if positional_grid else 0)
        lift_hidden = int(lifting_ratio * hidden_channels)
        self.lifting = (
            ChannelMLP(lift_in, hidden_channels, lift_hidden, 2, activation)
            if lift_hidden
            else ChannelMLP(lift_in, hidden_channels, hidden_channels, 1, activation)
        )
        self.convs = nn.ModuleList(
            [
                SpectralConv(
                    hidden_channels,
                    hidden_channels,
                    self.n_modes,
                    factorization=factorization,
                    rank=rank,
                    implementation=implementation,
                    separable=separable,
                )
                for _ in range(n_layers)
            ]
        )
        self.skips = nn.ModuleList([_skip(skip, hidden_channels) or nn.Identity() for _ in range(n_layers)])
        self._use_skip = skip is not None
        self.channel_mlps = nn.ModuleList()
        self.mlp_skips = nn.ModuleList()
        if channel_mlp:
            width = max(1, round(channel_mlp_expansion * hidden_channels))
            for _ in range(n_layers):
                self.channel_mlps.append(ChannelMLP(hidden_channels, hidden_channels, width, 2, activation))
                self.mlp_skips.append(_skip(channel_mlp_skip, hidden_channels) or nn.Identity())
        self._use_mlp_skip = channel_mlp_skip is not None
        self.norms = nn.ModuleList()
        if norm is not None:
            for _ in range(n_layers * (2 if channel_mlp else 1)):
                layer = _norm(norm, hidden_channels, self.dims)
                assert layer is not None  # norm is not None here
                self.norms.append(layer)
        self.projection = ChannelMLP(
            hidden_channels, out_channels, int(projection_ratio * hidden_channels) or hidden_channels, 2, activation
        )
        self._grids: dict[Any, torch.Tensor] = {}

    @property
    def n_params(self) -> int:
        """Number of trainable real parameters (a complex weight counts twice)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def _grid(self, x: torch.Tensor) -> torch.Tensor:
        sizes = tuple(x.shape[2:])
        key = (sizes, x.dtype, x.device, self.positional_grid)
        grid = self._grids.get(key)
        if grid is None:
            axes = [
                torch.linspace(0, 1, n, dtype=x.dtype, device=x.device)
                if self.positional_grid == "nodes"
                else torch.arange(n, dtype=x.dtype, device=x.device) / n
                for n in sizes
            ]
            grid = torch.stack(torch.meshgrid(*axes, indexing="ij"))[None]
            if len(self._grids) > 8:
                self._grids.clear()
            self._grids[key] = grid
        return grid.expand(x.shape[0], *grid.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the operator to ``x``; returns ``(batch, out_channels, n_1, ..., n_d)``.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, in_channels, n_1, ..., n_d)
            Input function on the grid.
        """
        check_input(x, self.in_channels, self.dims, type(self).__name__, model=self)
        sizes = tuple(x.shape[2:])
        cast(SpectralConv, self.convs[0])._check_sizes(sizes, "input")  # a ModuleList item reads as Module
        if self.positional_grid:
            x = torch.cat([x, self._grid(x).to(x.dtype)], dim=1)
        x = self.lifting(x)
        pads = [round(self.domain_padding * n) for n in sizes]
        if any(pads):
            x = F.pad(x, [p for n in reversed(pads) for p in (0, n)])
        n_layers = len(self.convs)
        per_block = 2 if self.channel_mlps else 1
        for k in range(n_layers):
            last = k == n_layers - 1
            y = self.convs[k](x)
            if self.norms:
                y = self.norms[per_block * k](y)
            if self._use_skip:
                y = y + self.skips[k](x)
            if not last:
                y = self.act(y)
            if self.channel_mlps:
                z = self.channel_mlps[k](y)
                if self._use_mlp_skip:
                    z = z + self.mlp_skips[k](x)
                if self.norms:
                    z = self.norms[per_block * k + 1](z)
                y = z if last else self.act(z)
            x = y
        if any(pads):
            crop: tuple[EllipsisType | slice, ...] = (Ellipsis, *[slice(0, n) for n in sizes])
            x = x[crop]
        return self.projection(x)


class TFNO(FNO):
    """A tensorized FNO: :class:`FNO` with factorized spectral weights (Tucker by default).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output functions.
    n_modes : int or sequence of int
        Fourier modes per spatial axis, as for :class:`FNO`.
    factorization : {"tucker", "cp", "tt"}, optional
        Format of the spectral weights; default ``"tucker"``.
    rank : float, int or sequence of int, optional
        Fraction of the dense weights' entries the factors hold, in (0, 1] (a float above
        1 is refused: it would hold more parameters than the dense weights), or explicit
        int ranks (see :func:`physics.operators.factorized_ranks`); default 0.1.
    **options
        Every other option of :class:`FNO`.

    Examples
    --------
    >>> import torch
    >>> from physics.operators import TFNO
    >>> _ = torch.manual_seed(0)
    >>> model = TFNO(1, 1, n_modes=(16, 16), hidden_channels=32, rank=0.42)
    >>> model.convs[0].ranks, round(model.convs[0].compression, 2)
    ((26, 26, 13, 7), 0.43)
    >>> model(torch.randn(2, 1, 16, 16)).shape
    torch.Size([2, 1, 16, 16])
    >>> from physics.operators import train
    >>> a = torch.randn(32, 1, 16, 16)
    >>> u = torch.nn.functional.avg_pool2d(a, 3, 1, 1)
    >>> from tnkit.run import Run
    >>> history = train(model, (a, u), epochs=3, batch_size=8, lr=5e-3, loss="l2", run=Run(progress=False)).history
    >>> history["train_loss"][-1] < history["train_loss"][0]     # gradients reach every factor
    True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_modes: int | Sequence[int],
        *,
        factorization: str = "tucker",
        rank: float | int | Sequence[int] = 0.1,
        **options: Any,
    ) -> None:
        if factorization in (None, "dense"):
            raise ValueError("TFNO: factorization must be 'tucker', 'cp' or 'tt' (use FNO for dense weights)")
        super().__init__(in_channels, out_channels, n_modes, factorization=factorization, rank=rank, **options)
