"""MgNO: a neural operator whose linear operators are multigrid V-cycles (1D and 2D).

MgNO [MgNO]_ reads each channel of a hidden layer as a neuron whose value is a function,
and joins the neurons of consecutive layers by bounded linear operators, the way a fully
connected network joins scalar neurons by weights::

    u_0 = x                                                 (batch, in_channels, *grid)
    u_k = act( W_k u_{k-1} + MG_k(u_{k-1}) + b_k )          k = 1 .. n_layers - 1
    y   =      W_n u_{n-1} + MG_n(u_{n-1}) + b_n            (batch, out_channels, *grid)

``W_k`` is a pointwise linear map of the channels, ``b_k`` a bias per output channel and
``MG_k`` one multi-channel V-cycle with learned stencils. The first layer reads the input
channels and the last one writes the output channels: there is no lifting or projection
network, and no activation after the last layer.

A V-cycle maps a right-hand side ``f`` (the layer input, ``c_f`` channels) to an
approximate solution ``u`` (the layer output, ``c_u`` channels) on ``levels`` grids, each
coarser than the last by a factor 2 per axis::

    f^1 = f
    for l = 1 .. levels:                                     fine to coarse
        u^l = 0
        smoothing[l] times:    u^l <- u^l + S^{l,i} * (f^l - A^l * u^l)
        if l < levels:         f^{l+1} = R^l *_2 (f^l - A^l * u^l)
    for l = levels-1 .. 1:                                   coarse to fine
        u^l <- u^l + P^l *^T_2 u^{l+1}
        post_smoothing[l] times:  u^l <- u^l + S'^{l,i} * (f^l - A^l * u^l)
    MG(f) = u^1

``A^l`` (``c_u -> c_f``, one per level) plays the discrete operator, ``S^{l,i}``
(``c_f -> c_u``, one per step) the smoother; both are 3-point (1D) or 3x3 (2D)
convolutions. ``R^l`` restricts the residual with a stride-2 convolution of the same size,
and ``P^l`` prolongs the coarse correction with a stride-2 transposed convolution of
width 4. Every level keeps ``c_u`` / ``c_f`` channels. Nothing inside the cycle is
nonlinear, so ``MG`` is a linear operator of ``f``.

Boundary conditions are the padding of every multigrid convolution, the transposed ones
included (their input is padded and their output cropped): ``"dirichlet"`` pads with
zeros, ``"periodic"`` wraps around, ``"neumann"`` repeats the edge value (a zero normal
derivative across the cell face). With ``"periodic"`` and sizes divisible by
``2**(levels - 1)`` the model commutes with circular shifts by multiples of
``2**(levels - 1)`` points. Sizes that do not divide are handled level by level: an axis
of ``n`` points is restricted to ``ceil(n / 2)`` points and the prolonged correction is
cropped back to ``n``, so the boundary stays where the data put it (no global padding).

How this relates to the paper and to the authors' code (github.com/xlliu2017/MgNO,
``models.py``: ``MgIte``, ``MgConv_DC``, ``MgNO_DC``):

* Layer ``act(MG(u) + W u + b)`` with GELU and no normalisation: the paper's neuron
  ``sigma(sum_j W_ij u_j + B_ij)`` (Section 3) as ``MgNO_DC`` (Darcy, pipe flow) builds
  it. ``MgNO_DC`` ends with a 1x1 convolution; here the last layer is a full (linear)
  MgNO layer, the paper's "no projection" form, which the authors' Helmholtz model
  (``MgNO_helm2``) offers as an option.
* Smoothing ``u <- u + S (f - A u)`` with 3x3 stencils, first step ``u = S f``, restriction
  by stride-2 3x3 convolutions, prolongation by stride-2 4x4 transposed convolutions, no
  bias inside the cycle, the same width on every level: ``MgIte``/``MgConv_DC`` and
  Table 7. The default smoothing, one step per level and two on the coarsest, with no
  post-smoothing, is the authors' Darcy and Helmholtz setting (README commands).
* One ``A^l`` per level, shared by its smoothing steps and its restricted residual, and a
  zero start on each coarse level: the residual-correction V-cycle of MgNet [MgNet]_, on
  which the paper builds (its stencils are ``A^l`` per level and ``S^{l,i}`` per step).
  The authors' code gives each step its own ``A`` and restricts ``f`` and ``u`` separately
  instead of the residual; both cycles are linear in ``f``, this one is the classical
  multigrid cycle and has fewer parameters.
* The bias is a constant per channel, as in the code (the paper allows a function).

References
----------
.. [MgNO] J. He, X. Liu, J. Xu, "MgNO: Efficient Parameterization of Linear Operators via
   Multigrid", ICLR 2024, arXiv:2310.19809.
.. [MgNet] J. He, J. Xu, "MgNet: A unified framework of multigrid and convolutional neural
   network", Sci. China Math. 62 (2019) 1331-1354, arXiv:1901.10415.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from physics.operators._checks import check_input
from physics.operators.layers.channel_mlp import Pointwise, activation_function

__all__ = ["MgNO"]

# How each boundary condition extends a field by one ghost cell per side.
_PAD_MODES = {"dirichlet": "constant", "periodic": "circular", "neumann": "replicate"}
_ACTIVATION_NAMES = ("gelu", "relu", "silu", "tanh")


def _counts(
    value: int | Sequence[int] | None, n: int, what: str, minimum: int, default: tuple[int, ...]
) -> tuple[int, ...]:
    """``value`` as ``n`` per-level counts, each ``>= minimum``; raise ValueError naming ``what``."""
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        counts: tuple = (value,) * n
    elif isinstance(value, Sequence) and not isinstance(value, str):
        counts = tuple(value)
        if len(counts) != n:
            raise ValueError(f"MgNO: {what} needs {n} per-level counts (fine to coarse), got {len(counts)}: {value!r}")
    else:
        raise ValueError(f"MgNO: {what} must be an int or a sequence of ints, got {value!r}")
    for c in counts:
        if not isinstance(c, int) or isinstance(c, bool) or c < minimum:
            raise ValueError(f"MgNO: {what} counts must be ints >= {minimum}, got {value!r}")
    return counts


class _VCycle(nn.Module):
    """One multi-channel V-cycle ``f (batch, c_f, *grid) -> u (batch, c_u, *grid)``, linear in f."""

    def __init__(
        self,
        f_channels: int,
        u_channels: int,
        smoothing: tuple[int, ...],
        post_smoothing: tuple[int, ...],
        dims: int,
        boundary: str,
    ) -> None:
        super().__init__()
        conv = (nn.Conv1d, nn.Conv2d)[dims - 1]
        conv_t = (nn.ConvTranspose1d, nn.ConvTranspose2d)[dims - 1]
        levels = len(smoothing)
        self.pad_mode = _PAD_MODES[boundary]
        self.dims = dims

        def stencil(c_in: int, c_out: int, stride: int = 1) -> nn.Module:
            # padding=0: the ghost cells come from _pad, which knows the boundary condition
            return conv(c_in, c_out, kernel_size=3, stride=stride, padding=0, bias=False)

        # A^l exists only where something reads it, so every parameter gets a gradient.
        self.operators = nn.ModuleList(
            [
                stencil(u_channels, f_channels) if (l < levels - 1 or smoothing[l] > 1) else nn.Identity()
                for l in range(levels)
            ]
        )
        self.smoothers = nn.ModuleList(
            [nn.ModuleList([stencil(f_channels, u_channels) for _ in range(smoothing[l])]) for l in range(levels)]
        )
        self.post_smoothers = nn.ModuleList(
            [
                nn.ModuleList([stencil(f_channels, u_channels) for _ in range(post_smoothing[l])])
                for l in range(levels - 1)
            ]
        )
        self.restrictions = nn.ModuleList([stencil(f_channels, f_channels, stride=2) for _ in range(levels - 1)])
        self.prolongations = nn.ModuleList(
            [conv_t(u_channels, u_channels, kernel_size=4, stride=2, padding=0, bias=False) for _ in range(levels - 1)]
        )

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, [1, 1] * self.dims, mode=self.pad_mode)

    def _residual(self, level: int, f: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return f - self.operators[level](self._pad(u))

    def _prolong(self, level: int, coarse: torch.Tensor, fine_sizes: tuple[int, ...]) -> torch.Tensor:
        # With one ghost cell on each side, fine point o of the unpadded stride-2 transposed
        # convolution (kernel 4, padding 1) sits at index o + 3 of the padded one; cropping
        # to the fine grid's own size also handles odd sizes (ceil(n / 2) coarse points).
        full = self.prolongations[level](self._pad(coarse))
        return full[(Ellipsis, *[slice(3, 3 + n) for n in fine_sizes])]

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        rhs, solutions = [], []
        # Items of a ModuleList read as Module; these lists hold ModuleLists of smoothing steps.
        for level, smoothers in enumerate(cast(Iterable[nn.ModuleList], self.smoothers)):
            u = smoothers[0](self._pad(f))  # the first step from u = 0
            for smoother in smoothers[1:]:
                u = u + smoother(self._pad(self._residual(level, f, u)))
            rhs.append(f)
            solutions.append(u)
            if level < len(self.restrictions):
                f = self.restrictions[level](self._pad(self._residual(level, f, u)))
        u = solutions[-1]
        for level in range(len(self.restrictions) - 1, -1, -1):
            u = solutions[level] + self._prolong(level, u, tuple(solutions[level].shape[2:]))
            for smoother in cast(nn.ModuleList, self.post_smoothers[level]):
                u = u + smoother(self._pad(self._residual(level, rhs[level], u)))
        return u


class MgNO(nn.Module):
    """Multigrid neural operator: layers ``act(W u + MG(u) + b)`` with a V-cycle ``MG``.

    See the module docstring for the layer and the V-cycle.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output functions (read and written by the first and
        last layer directly).
    hidden_channels : int
        Channels of the hidden layers, on every grid level.
    n_layers : int
        Number of layers, the output layer included; all but the last are followed by the
        activation. ``n_layers=1`` is a single linear operator (plus bias).
    levels : int
        Grids in each V-cycle (the finest included); ``levels=1`` smooths on the input grid
        only.
    smoothing : int, sequence of int or None
        Smoothing steps per level on the way down, fine to coarse (each ``>= 1``); an int
        is used on every level. ``None`` is the authors' Darcy setting: 1 per level, 2 on
        the coarsest.
    post_smoothing : int or sequence of int
        Smoothing steps after the coarse correction on each level but the coarsest
        (``levels - 1`` counts, each ``>= 0``).
    boundary : {"dirichlet", "periodic", "neumann"}
        Padding of every multigrid convolution: zeros, wrap-around, or the edge value
        repeated.
    activation : {"gelu", "relu", "silu", "tanh"}
    dims : {1, 2}
        Number of spatial axes.

    Raises
    ------
    ValueError
        A count that is not a positive int, smoothing counts that do not match
        ``levels``, or an unknown ``boundary``, ``activation`` or ``dims``.

    Notes
    -----
    Maps ``(batch, in_channels, n_1[, n_2])`` to ``(batch, out_channels, n_1[, n_2])``, any sizes.

    Each layer costs ``O(n_points)``: with the same smoothing on every level, the coarse
    levels add about a third (2D) or the same again (1D) to the finest level's work. The
    receptive field covers the whole grid once ``2**(levels - 1)`` is comparable to the
    grid size.

    References
    ----------
    J. He, X. Liu, J. Xu, "MgNO: Efficient Parameterization of Linear Operators via
    Multigrid", ICLR 2024, arXiv:2310.19809.

    Examples
    --------
    >>> import torch
    >>> from physics.operators.models.mgno import MgNO
    >>> _ = torch.manual_seed(0)
    >>> model = MgNO(1, 1, hidden_channels=8, n_layers=3, levels=3)
    >>> model(torch.randn(2, 1, 32, 32)).shape
    torch.Size([2, 1, 32, 32])
    >>> model(torch.randn(2, 1, 27, 33)).shape    # sizes need not divide by 2**(levels-1)
    torch.Size([2, 1, 27, 33])
    >>> model.smoothing, model.n_params
    ((1, 1, 2), 11587)
    >>> from physics.operators import train
    >>> a = torch.randn(32, 1, 16, 16)
    >>> u = torch.nn.functional.avg_pool2d(a, 3, 1, 1)
    >>> from tnkit.run import Run
    >>> history = train(model, (a, u), epochs=3, batch_size=8, lr=2e-3, loss="l2", run=Run(progress=False)).history
    >>> history["train_loss"][-1] < history["train_loss"][0]
    True

    A periodic model commutes with circular shifts by multiples of ``2**(levels - 1)``:

    >>> periodic = MgNO(2, 1, hidden_channels=4, levels=3, boundary="periodic", dims=1)
    >>> x = torch.randn(1, 2, 24)
    >>> torch.allclose(periodic(x.roll(8, -1)), periodic(x).roll(8, -1), atol=1e-5)
    True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 32,
        n_layers: int = 5,
        levels: int = 4,
        smoothing: int | Sequence[int] | None = None,
        post_smoothing: int | Sequence[int] = 0,
        boundary: str = "dirichlet",
        activation: str = "gelu",
        dims: int = 2,
    ) -> None:
        super().__init__()
        for what, v in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("hidden_channels", hidden_channels),
            ("n_layers", n_layers),
            ("levels", levels),
        ):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"MgNO: {what} must be a positive int, got {v!r}")
        if boundary not in _PAD_MODES:
            raise ValueError(f"MgNO: boundary must be one of {tuple(_PAD_MODES)}, got {boundary!r}")
        if activation not in _ACTIVATION_NAMES:
            raise ValueError(f"MgNO: activation must be one of {_ACTIVATION_NAMES}, got {activation!r}")
        if dims not in (1, 2) or isinstance(dims, bool):
            raise ValueError(f"MgNO: dims must be 1 or 2 (spatial axes), got {dims!r}")
        self.smoothing = _counts(smoothing, levels, "smoothing", 1, (1,) * (levels - 1) + (2,))
        self.post_smoothing = _counts(post_smoothing, levels - 1, "post_smoothing", 0, ())
        self.in_channels, self.out_channels, self.hidden_channels = in_channels, out_channels, hidden_channels
        self.n_layers, self.levels, self.dims = n_layers, levels, dims
        self.boundary, self.activation = boundary, activation
        self.act = activation_function(activation)

        widths = [in_channels] + [hidden_channels] * (n_layers - 1) + [out_channels]
        self.vcycles = nn.ModuleList(
            [
                _VCycle(c_in, c_out, self.smoothing, self.post_smoothing, dims, boundary)
                for c_in, c_out in zip(widths[:-1], widths[1:])
            ]
        )
        self.pointwise = nn.ModuleList([Pointwise(c_in, c_out) for c_in, c_out in zip(widths[:-1], widths[1:])])

    @property
    def n_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"hidden_channels={self.hidden_channels}, n_layers={self.n_layers}, levels={self.levels}, "
            f"smoothing={self.smoothing}, post_smoothing={self.post_smoothing}, boundary={self.boundary!r}, "
            f"activation={self.activation!r}, dims={self.dims}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the operator to ``x``; returns ``(batch, out_channels, n_1[, n_2])``.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, in_channels, n_1[, n_2])
            Input function on the grid.
        """
        check_input(x, self.in_channels, self.dims, "MgNO", model=self)
        for k, (vcycle, pointwise) in enumerate(zip(self.vcycles, self.pointwise)):
            y = vcycle(x) + pointwise(x)
            x = self.act(y) if k < self.n_layers - 1 else y
        return x
