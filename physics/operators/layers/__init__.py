"""Building blocks of neural operators: spectral convolutions and pointwise channel layers.

:class:`SpectralConv` is the integral-kernel layer (dense or factorized through tnkit);
:class:`Pointwise` and :class:`ChannelMLP` act on the channels at every grid point. The
models of :mod:`physics.operators.models` are assembled from them.
"""

from physics.operators.layers.channel_mlp import SKIPS, ChannelMLP, Pointwise, activation_function
from physics.operators.layers.spectral_conv import FACTORIZATIONS, SpectralConv, factorized_ranks

__all__ = [
    "SpectralConv",
    "FACTORIZATIONS",
    "factorized_ranks",
    "ChannelMLP",
    "Pointwise",
    "activation_function",
    "SKIPS",
]
