"""MG-TFNO: a TFNO applied patch by patch, each patch with multi-grid context (1D, 2D, 3D).

MG-TFNO [MGTFNO]_ splits the input function's domain into ``n_patches`` equal patches per
axis and runs one shared :class:`~physics.operators.TFNO` on every patch at full resolution,
the patches stacked along the batch axis. So that a patch still sees the far field, its
input carries ``levels`` extra groups of channels: level ``l`` is the region ``2**l`` times
wider (per axis) than the patch, centred on it, averaged down by ``2**l`` to the patch's
size. The outputs are put back where their patches came from::

    x                                             (batch, in_channels, n_1, ..., n_d)
    P_l = pool_{2^l}( window_l(pad(x)) )          l = 0 .. levels, each (batch * n_patches^d,
                                                  in_channels, s_1 + 2 p_1, ..., s_d + 2 p_d)
    y = stitch( crop_p( TFNO( [P_0, P_1, ..., P_levels] ) ) )   (batch, out_channels, n_1, ..., n_d)

with ``s_a = n_a / n_patches`` points per patch and ``p_a = round(padding_fraction * s_a)``
points of overlap on each side. Along one axis, patch ``k`` (``k = 0 .. n_patches - 1``)
owns the points ``[k s, k s + s)``; with ``w = s + 2 p``, the level-``l`` window is the
``2**l w`` points ``[k s + s/2 - 2**(l-1) w, k s + s/2 + 2**(l-1) w)`` (level 0 is the patch
widened by ``p`` on each side), and the value of its ``j``-th coarse point is the mean of
the ``2**l`` fine points ``[start + j 2**l, start + (j + 1) 2**l)`` (``2**(l d)`` points in
``d`` dimensions). Windows reach past the domain; the missing values come from
``boundary``:

* ``"reflect"`` (default): mirror about the edge point, NumPy's ``np.pad(mode="reflect")``
  (``x[-1] = x[1]``), repeated for windows wider than the domain. Suits non-periodic data
  (Darcy flow): no jump at the edge, no values from the far side.
* ``"periodic"``: wrap around, ``np.pad(mode="wrap")`` (Navier-Stokes on the torus).
* ``"zeros"``: zero values outside, ``np.pad(mode="constant")`` (the model sees where the
  domain ends).
* ``None``: invent nothing. Every window is moved inward until it lies inside the domain
  (so it is no longer centred on patches at the edge); this needs ``2**levels`` patch
  widths per axis, ``n_patches >= 2**levels``, and ``padding_fraction=0``.

Design choices, and how they relate to the paper and to neuraloperator's
``MultigridPatching2D`` (which ties ``n_patches = 2**levels`` and is 2D only):

* Coarse levels are *averages* over ``2**l`` cells per axis, not strided subsamples: a
  level-``l`` value then represents the whole coarse cell (no aliasing of the fine scales
  into the context), and a constant field gives constant context at every level. The
  paper's and neuraloperator's context is the subsampled ``x[::2**l]``.
* ``n_patches`` and ``levels`` are independent; any ``n_patches`` with ``n_a`` divisible by
  it works. With ``levels >= 1`` the patch size must be even, so that the level windows are
  centred on grid points.
* The default boundary is ``"reflect"`` (neuraloperator wraps periodically); the
  periodic choice is ``boundary="periodic"``.
* The backbone's positional grid (``positional_grid``, see :class:`FNO`) spans each
  *patch*: the backbone does not know where the patch lies in the domain.
* Levels are computed without copying the window of each patch: the padded field is
  average-pooled once per level (stride ``gcd(2**l, s)``, ``2**l`` when ``s`` is a multiple
  of it) and the coarse points of every window are gathered from it.

References
----------
.. [MGTFNO] J. Kossaifi, N. Kovachki, K. Azizzadenesheli, A. Anandkumar, "Multi-Grid
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
from physics.operators.layers.spectral_conv import SpectralConv
from physics.operators.models.fno import TFNO

__all__ = ["MGTFNO", "multigrid_patches", "stitch", "BOUNDARIES"]

BOUNDARIES = ("reflect", "periodic", "zeros", None)
_POOLS = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _per_axis(value: int | Sequence[int], dims: int, what: str, name: str, minimum: int) -> tuple[int, ...]:
    """``value`` as one int per spatial axis, each ``>= minimum``."""
    values = [value] * dims if isinstance(value, int) else list(value)
    if len(values) != dims or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in values):
        raise ValueError(
            f"{name}: {what} must be an int >= {minimum} or {dims} such ints (one per spatial axis), got {value!r}"
        )
    return tuple(values)


def _check_boundary(boundary: Any, name: str) -> None:
    if boundary not in BOUNDARIES:
        raise ValueError(f"{name}: boundary must be one of {BOUNDARIES}, got {boundary!r}")


def _source_index(i: torch.Tensor, n: int, boundary: str) -> torch.Tensor:
    """Map indices ``i`` of the extended axis (any integers) to indices in ``[0, n)``
    (``n`` for ``"zeros"`` outside, the position of an appended zero)."""
    if boundary == "periodic":
        return i % n
    if boundary == "zeros":
        return torch.where((i >= 0) & (i < n), i, torch.full_like(i, n))
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)  # reflection about both edge points is periodic with this period
    j = i % period
    return torch.where(j < n, j, period - j)


def _extend(x: torch.Tensor, margins: Sequence[int], boundary: str) -> torch.Tensor:
    """``x`` with ``margins[a]`` points added on both sides of spatial axis ``a`` by ``boundary``."""
    for axis, m in enumerate(margins):
        if m == 0:
            continue
        dim = axis + 2
        n = x.shape[dim]
        if boundary == "zeros":
            x = F.pad(x, [0, 0] * (x.ndim - 1 - dim) + [0, 1])  # one zero slice at index n
        index = _source_index(torch.arange(-m, n + m, device=x.device), n, boundary)
        x = x.index_select(dim, index)
    return x


def _window_starts(
    n: int, n_patches: int, width: int, padding: int, factor: int, boundary: str | None
) -> tuple[int, list[int]]:
    """Margin added to each side of an axis of ``n`` points, and the first point (in the
    extended axis) of each patch's window of ``factor * width`` points."""
    s = n // n_patches
    if boundary is None:
        lo = [min(max(k * s + (s - factor * width) // 2, 0), n - factor * width) for k in range(n_patches)]
        return 0, lo
    margin = padding + (factor - 1) * width // 2
    return margin, [k * s for k in range(n_patches)]  # k s - p - (factor - 1) w / 2 + margin


def _check_layout(
    sizes: Sequence[int], levels: int, n_patches: Sequence[int], padding: Sequence[int], boundary: str | None, name: str
) -> None:
    for axis, (n, k, p) in enumerate(zip(sizes, n_patches, padding)):
        if n % k:
            raise ValueError(
                f"{name}: spatial axis {axis} has {n} points, not divisible by n_patches={k}; "
                f"use a multiple of {k} points or another n_patches"
            )
        s = n // k
        if levels >= 1 and s % 2:
            raise ValueError(
                f"{name}: patches of {s} points along spatial axis {axis} ({n} / {k}) are odd; "
                f"levels >= 1 centres the coarse windows on patches and needs an even patch size"
            )
        if boundary is None:
            if p:
                raise ValueError(
                    f"{name}: padding needs a boundary rule (boundary=None takes no values outside "
                    f"the domain); use padding 0 or boundary='reflect', 'periodic' or 'zeros'"
                )
            if (2**levels) * s > n:
                raise ValueError(
                    f"{name}: the level-{levels} context spans {2**levels} patches of {s} points, "
                    f"wider than the {n} points of spatial axis {axis}, and boundary=None adds none; "
                    f"use boundary='reflect', 'periodic' or 'zeros', or levels <= "
                    f"{int(math.log2(k))}"
                )


def multigrid_patches(
    x: torch.Tensor,
    levels: int,
    n_patches: int | Sequence[int],
    *,
    padding: int | Sequence[int] = 0,
    boundary: str | None = "reflect",
) -> torch.Tensor:
    """Split ``x`` into patches, each with ``levels`` coarser views of its neighbourhood.

    Parameters
    ----------
    x : torch.Tensor
        ``(batch, channels, n_1, ..., n_d)``, ``d`` = 1, 2 or 3, real.
    levels : int
        Number of coarse context levels (``0``: plain patches).
    n_patches : int or sequence of int
        Patches per spatial axis; ``n_a`` must be divisible by it.
    padding : int or sequence of int
        Points of overlap added on each side of every patch (per axis).
    boundary : {"reflect", "periodic", "zeros"} or None
        Values outside the domain; see the module docstring.

    Returns
    -------
    torch.Tensor
        ``(batch * prod(n_patches), channels * (levels + 1), s_1 + 2 p_1, ..., s_d + 2 p_d)``
        with ``s_a = n_a / n_patches_a``. Patch ``(k_1, ..., k_d)`` of sample ``b`` is entry
        ``b * prod(n_patches) + ravel(k)`` (row-major); channels ``[l C, (l + 1) C)`` hold
        level ``l``.

    Raises
    ------
    ValueError
        Sizes not divisible by ``n_patches``, an odd patch size with ``levels >= 1``,
        context or padding beyond the domain with ``boundary=None``, bad options.

    Examples
    --------
    >>> import torch
    >>> from physics.operators.models.mg_tfno import multigrid_patches
    >>> x = torch.arange(8.0)[None, None]      # 0 1 2 3 | 4 5 6 7
    >>> multigrid_patches(x, levels=1, n_patches=2)[:, 1]   # reflected windows, pair means
    tensor([[1.5000, 0.5000, 2.5000, 4.5000],
            [2.5000, 4.5000, 6.5000, 5.5000]])
    """
    name = "multigrid_patches"
    if not isinstance(x, torch.Tensor) or x.ndim not in (3, 4, 5):
        raise ValueError(
            f"{name}: expected a tensor (batch, channels, n_1, ..., n_d) with d = 1, 2 or 3, got "
            f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}"
        )
    dims = x.ndim - 2
    if not isinstance(levels, int) or isinstance(levels, bool) or levels < 0:
        raise ValueError(f"{name}: levels must be an int >= 0, got {levels!r}")
    counts = _per_axis(n_patches, dims, "n_patches", name, 1)
    pads = _per_axis(padding, dims, "padding", name, 0)
    _check_boundary(boundary, name)
    sizes = tuple(x.shape[2:])
    _check_layout(sizes, levels, counts, pads, boundary, name)
    batch, channels = x.shape[:2]
    widths = [n // k + 2 * p for n, k, p in zip(sizes, counts, pads)]

    groups = []
    for level in range(levels + 1):
        factor = 2**level
        layout = [_window_starts(n, k, w, p, factor, boundary) for n, k, w, p in zip(sizes, counts, widths, pads)]
        field = _extend(x, [m for m, _ in layout], boundary) if boundary is not None else x
        # pool once on the whole field with the coarsest stride that still hits every window's cells
        strides = [math.gcd(factor, *starts) for _, starts in layout]
        if factor > 1:
            field = _POOLS[dims](field, kernel_size=factor, stride=strides)
        for axis, ((_, starts), w, g) in enumerate(zip(layout, widths, strides)):
            index = torch.tensor([(a + j * factor) // g for a in starts for j in range(w)], device=x.device)
            field = field.index_select(axis + 2, index)
        # (batch, C, k_1 w_1, ..., k_d w_d) -> (batch, k_1, ..., k_d, C, w_1, ..., w_d)
        field = field.reshape(batch, channels, *[v for kw in zip(counts, widths) for v in kw])
        order = [0] + [2 + 2 * a for a in range(dims)] + [1] + [3 + 2 * a for a in range(dims)]
        groups.append(field.permute(order).reshape(batch * math.prod(counts), channels, *widths))
    return torch.cat(groups, dim=1) if levels else groups[0]


def stitch(patches: torch.Tensor, n_patches: int | Sequence[int], *, padding: int | Sequence[int] = 0) -> torch.Tensor:
    """Put patches back together: the inverse of :func:`multigrid_patches`' patch layout.

    Parameters
    ----------
    patches : torch.Tensor
        ``(batch * prod(n_patches), channels, s_1 + 2 p_1, ..., s_d + 2 p_d)`` in the order
        :func:`multigrid_patches` writes them.
    n_patches : int or sequence of int
        Patches per spatial axis.
    padding : int or sequence of int
        Overlap points on each side of every patch, cropped away.

    Returns
    -------
    torch.Tensor
        ``(batch, channels, n_patches_1 s_1, ..., n_patches_d s_d)``.

    Examples
    --------
    >>> import torch
    >>> from physics.operators.models.mg_tfno import multigrid_patches, stitch
    >>> x = torch.randn(2, 3, 8, 12)
    >>> p = multigrid_patches(x, levels=0, n_patches=(2, 3), padding=1)
    >>> p.shape
    torch.Size([12, 3, 6, 6])
    >>> torch.equal(stitch(p, (2, 3), padding=1), x)
    True
    """
    name = "stitch"
    if not isinstance(patches, torch.Tensor) or patches.ndim not in (3, 4, 5):
        raise ValueError(
            f"{name}: expected patches (batch * n_patches, channels, *patch) with 1 to 3 spatial "
            f"axes, got {tuple(patches.shape) if isinstance(patches, torch.Tensor) else type(patches)}"
        )
    dims = patches.ndim - 2
    counts = _per_axis(n_patches, dims, "n_patches", name, 1)
    pads = _per_axis(padding, dims, "padding", name, 0)
    total = math.prod(counts)
    if patches.shape[0] % total:
        raise ValueError(
            f"{name}: {patches.shape[0]} patches do not make whole samples of {total} patches (n_patches={counts})"
        )
    widths = tuple(patches.shape[2:])
    if any(w <= 2 * p for w, p in zip(widths, pads)):
        raise ValueError(f"{name}: patches of {widths} points leave nothing after cropping padding {pads} per side")
    crop: tuple[EllipsisType | slice, ...] = (Ellipsis, *[slice(p, w - p) for w, p in zip(widths, pads)])
    core = patches[crop]
    sizes = [w - 2 * p for w, p in zip(widths, pads)]
    batch, channels = patches.shape[0] // total, patches.shape[1]
    # (batch, k_1, ..., k_d, C, s_1, ..., s_d) -> (batch, C, k_1, s_1, ..., k_d, s_d)
    core = core.reshape(batch, *counts, channels, *sizes)
    order = [0, dims + 1] + [v for a in range(dims) for v in (1 + a, dims + 2 + a)]
    return core.permute(order).reshape(batch, channels, *[k * s for k, s in zip(counts, sizes)])


class MGTFNO(nn.Module):
    """Multi-grid tensorized Fourier neural operator: a shared :class:`TFNO` on patches with
    coarse multi-grid context (see the module docstring).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output functions.
    n_modes : int or sequence of int
        Fourier modes per spatial axis of the backbone (their number sets the dimension);
        each patch needs at least as many points.
    levels : int
        Coarse context levels appended to each patch; the backbone reads
        ``in_channels * (levels + 1)`` channels.
    n_patches : int or sequence of int
        Patches per spatial axis (``2`` splits a 2D domain into 4).
    padding_fraction : float
        Overlap around each patch, as a fraction of the patch size (rounded to whole
        points), seen by the backbone and cropped from its output.
    boundary : {"reflect", "periodic", "zeros"} or None
        Values outside the domain for context windows and overlap.
    **tfno_options
        Passed to the :class:`TFNO` backbone (``hidden_channels``, ``n_layers``,
        ``factorization``, ``rank``, ``positional_grid``, ``domain_padding``, ...).

    Attributes
    ----------
    backbone : TFNO
    dims : int
        Number of spatial axes.

    Notes
    -----
    Maps ``(batch, in_channels, n_1, ..., n_d)`` to ``(batch, out_channels, n_1, ..., n_d)``, each
    ``n_a`` divisible by ``n_patches`` (and the patch size even when ``levels >= 1``).

    Examples
    --------
    >>> import torch
    >>> from physics.operators.models.mg_tfno import MGTFNO
    >>> _ = torch.manual_seed(0)
    >>> model = MGTFNO(1, 1, n_modes=(8, 8), hidden_channels=16, levels=2, n_patches=2)
    >>> model.backbone.in_channels              # the patch and two coarse levels
    3
    >>> model(torch.randn(2, 1, 32, 32)).shape  # four 16 x 16 patches per sample
    torch.Size([2, 1, 32, 32])
    >>> from physics.operators import train
    >>> a = torch.randn(16, 1, 32, 32)
    >>> u = torch.nn.functional.avg_pool2d(a, 3, 1, 1)
    >>> from tnkit.run import Run
    >>> history = train(model, (a, u), epochs=3, batch_size=8, lr=5e-3, loss="l2", run=Run(progress=False)).history
    >>> history["train_loss"][-1] < history["train_loss"][0]
    True
    >>> model(torch.randn(2, 1, 30, 30))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: MGTFNO: patches of 15 points along spatial axis 0 (30 / 2) are odd; ...
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_modes: int | Sequence[int],
        *,
        levels: int = 1,
        n_patches: int | Sequence[int] = 2,
        padding_fraction: float = 0.0,
        boundary: str | None = "reflect",
        **tfno_options: Any,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(in_channels, int) or isinstance(in_channels, bool) or in_channels < 1:
            raise ValueError(f"{name}: in_channels must be a positive int, got {in_channels!r}")
        if not isinstance(levels, int) or isinstance(levels, bool) or levels < 0:
            raise ValueError(f"{name}: levels must be an int >= 0, got {levels!r}")
        if not (isinstance(padding_fraction, (int, float)) and 0 <= padding_fraction <= 1):
            raise ValueError(
                f"{name}: padding_fraction must be a fraction of the patch size in [0, 1], got {padding_fraction!r}"
            )
        _check_boundary(boundary, name)
        if boundary is None and padding_fraction > 0:
            raise ValueError(
                f"{name}: padding_fraction needs a boundary rule (boundary=None takes no values "
                f"outside the domain); use padding_fraction=0 or boundary='reflect', 'periodic' or "
                f"'zeros'"
            )
        self.backbone = TFNO(in_channels * (levels + 1), out_channels, n_modes, **tfno_options)
        self.dims = self.backbone.dims
        self.n_modes = self.backbone.n_modes
        self.in_channels, self.out_channels = in_channels, out_channels
        self.levels, self.boundary, self.padding_fraction = levels, boundary, float(padding_fraction)
        self.n_patches = _per_axis(n_patches, self.dims, "n_patches", name, 1)
        if boundary is None:
            for axis, k in enumerate(self.n_patches):
                if 2**levels > k:
                    raise ValueError(
                        f"{name}: the level-{levels} context spans {2**levels} patches but spatial "
                        f"axis {axis} has {k}, and boundary=None adds none; use boundary='reflect', "
                        f"'periodic' or 'zeros', or levels <= {int(math.log2(k))}"
                    )

    @property
    def n_params(self) -> int:
        """Number of trainable real parameters (a complex weight counts twice)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def padding(self, sizes: Sequence[int]) -> tuple[int, ...]:
        """Overlap points per side of each patch for an input of spatial ``sizes``.

        Parameters
        ----------
        sizes : sequence of int
            Extents of the input's spatial axes.
        """
        return tuple(round(self.padding_fraction * (n // k)) for n, k in zip(sizes, self.n_patches))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the operator to ``x``; returns ``(batch, out_channels, n_1, ..., n_d)``.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, in_channels, n_1, ..., n_d)
            Input function on the grid.
        """
        name = type(self).__name__
        check_input(x, self.in_channels, self.dims, name, model=self)
        sizes = tuple(x.shape[2:])
        pads = self.padding(sizes)
        _check_layout(sizes, self.levels, self.n_patches, pads, self.boundary, name)
        widths = [n // k + 2 * p for n, k, p in zip(sizes, self.n_patches, pads)]
        try:
            cast(SpectralConv, self.backbone.convs[0])._check_sizes(
                widths, "patch"
            )  # a ModuleList item reads as Module
        except ValueError as err:
            raise ValueError(
                f"{name}: patches of {tuple(widths)} points (input {sizes} / n_patches "
                f"{self.n_patches} + overlap) are too small for n_modes={tuple(self.n_modes)}; "
                f"use fewer patches or modes ({err})"
            ) from None
        patches = multigrid_patches(x, self.levels, self.n_patches, padding=pads, boundary=self.boundary)
        return stitch(self.backbone(patches), self.n_patches, padding=pads)

    def extra_repr(self) -> str:
        return (
            f"levels={self.levels}, n_patches={self.n_patches}, padding_fraction={self.padding_fraction}, "
            f"boundary={self.boundary!r}"
        )
