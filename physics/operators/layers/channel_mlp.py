"""Pointwise building blocks of neural operators: channel maps, channel MLPs, skips, norms.

Every layer here acts on the channels at each grid point independently, so it applies
to a function sampled on any grid: ``(batch, channels, *spatial)`` in and out.

Examples
--------
>>> import torch
>>> from physics.operators.layers import ChannelMLP, Pointwise
>>> x = torch.randn(2, 3, 8, 8)
>>> Pointwise(3, 5)(x).shape
torch.Size([2, 5, 8, 8])
>>> ChannelMLP(3, 1, hidden_channels=16)(x).shape
torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Pointwise", "ChannelMLP", "activation_function", "SKIPS"]

_ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu, "tanh": torch.tanh}
SKIPS = ("linear", "identity", "soft-gating", None)


def activation_function(name: str) -> Any:
    """The activation called ``name`` (gelu, relu, silu, tanh).

    Parameters
    ----------
    name : {"gelu", "relu", "silu", "tanh"}
        Name of the activation.
    """
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}") from None


class Pointwise(nn.Module):
    """A linear map of the channels at every point (a 1x1 convolution), any number of
    spatial axes: ``(batch, in, *spatial) -> (batch, out, *spatial)``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output.
    bias : bool, optional
        Add a learned bias per output channel (default True).
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        bound = 1 / math.sqrt(in_channels)  # PyTorch's default for linear layers
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, in_channels, *spatial) -> (batch, out_channels, *spatial)``.

        Parameters
        ----------
        x : torch.Tensor, shape ``(batch, in_channels, *spatial)``
            Input, any number of spatial axes.
        """
        b, c = x.shape[:2]
        flat = x.reshape(b, c, -1)
        if self.bias is None:
            y = torch.matmul(self.weight, flat)
        else:
            y = torch.baddbmm(self.bias[:, None].expand(b, -1, flat.shape[-1]), self.weight.expand(b, -1, -1), flat)
        return y.reshape(b, -1, *x.shape[2:])


class _SoftGating(nn.Module):
    """Multiply each channel by a learned scalar (initialised to 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.reshape(1, -1, *([1] * (x.ndim - 2)))


def _skip(kind: str | None, channels: int) -> nn.Module | None:
    if kind == "linear":
        return Pointwise(channels, channels, bias=False)
    if kind == "identity":
        return nn.Identity()
    if kind == "soft-gating":
        return _SoftGating(channels)
    if kind is None:
        return None
    raise ValueError(f"skip must be one of {SKIPS}, got {kind!r}")


class ChannelMLP(nn.Module):
    """A pointwise multilayer perceptron over the channels (1x1 convolutions with an
    activation between layers, none after the last).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output.
    hidden_channels : int
        Width of the hidden layers.
    n_layers : int, optional
        Number of 1x1 layers, >= 1; default 2.
    activation : {"gelu", "relu", "silu", "tanh"}, optional
        Activation between layers; default ``"gelu"``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, hidden_channels: int, n_layers: int = 2, activation: str = "gelu"
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"ChannelMLP: n_layers must be >= 1, got {n_layers}")
        widths = [in_channels] + [hidden_channels] * (n_layers - 1) + [out_channels]
        self.layers = nn.ModuleList([Pointwise(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.act = activation_function(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, in_channels, *spatial) -> (batch, out_channels, *spatial)``.

        Parameters
        ----------
        x : torch.Tensor, shape ``(batch, in_channels, *spatial)``
            Input, any number of spatial axes.
        """
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k < len(self.layers) - 1:
                x = self.act(x)
        return x


def _norm(kind: str | None, channels: int, dims: int) -> nn.Module | None:
    if kind is None:
        return None
    if kind == "instance":
        return (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)[dims - 1](channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(1, channels)
    raise ValueError(f"norm must be 'instance', 'group' or None, got {kind!r}")
