"""Exact power-of-two rescaling, so that squares of singular values and norms stay finite.

Truncation rules compare squared singular values, or squared norms, with a budget. In
float64 the squares of numbers above ~1e154 overflow to inf and those below ~1e-154
underflow towards zero (float32: ~1e19 and ~1e-19), so a rule applied to such data keeps
the wrong rank. Multiplying by a power of two changes only the exponent of every number:
where nothing overflows or underflows it is exact, and squares, sums of squares and
their comparisons computed from rescaled values are the original ones times an exact
power of two. The helpers here rescale only out-of-range data (:func:`square_exponent`
is 0 otherwise), so ordinary inputs take the unscaled path unchanged, and out-of-range
inputs get the rank their data scaled to unit size would get.
"""

from __future__ import annotations

import math
from typing import Any

from tnkit import backend
from tnkit.types import Array, Namespace

__all__ = ["square_exponent", "array_exponent", "scale_pow2"]

# float64 defaults of square_exponent (host arithmetic).
_F64_MAX = 1.7976931348623157e308
_F64_TINY = 2.2250738585072014e-308
_F64_EPS = 2.220446049250313e-16


def square_exponent(
    largest: float,
    *,
    count: int = 1,
    fmax: float = _F64_MAX,
    tiny: float = _F64_TINY,
    eps: float = _F64_EPS,
) -> int:
    """The power of two to divide values of magnitude up to ``largest`` by before squaring.

    Parameters
    ----------
    largest : float
        The largest magnitude among the values.
    count : int
        How many squares may be summed.
    fmax, tiny, eps : float
        Largest, smallest normal and epsilon of the arithmetic's dtype (default float64).

    Returns
    -------
    int
        0 when the values can be squared as they are: ``count * largest**2`` stays below
        ``fmax / 4`` and the squares of values down to ``eps * largest`` stay normal.
        Otherwise ``e`` with ``largest * 2**-e`` in ``[0.5, 1)``. Also 0 for zero, NaN or
        Inf (nothing to rescale).

    Examples
    --------
    >>> square_exponent(3.0), square_exponent(1e200), square_exponent(1e-200)
    (0, 665, -664)
    """
    largest = abs(float(largest))
    if largest == 0.0 or not math.isfinite(largest):
        return 0
    # Compare logarithms: squaring ``largest`` is what must not be done here.
    log_big = 2.0 * math.log2(largest) + math.log2(max(int(count), 1))
    if log_big <= math.log2(fmax) - 2.0 and 2.0 * (math.log2(eps) + math.log2(largest)) >= math.log2(tiny):
        return 0
    return math.frexp(largest)[1]


def array_exponent(xp: Namespace, x: Array, *, largest: float | None = None) -> int:
    """:func:`square_exponent` of an array's entries, in its own dtype.

    One reduction (``max |x|``) read back to the host; 0 for an empty array.

    Parameters
    ----------
    xp : namespace
        Array namespace of ``x``.
    x : array
        Real or complex array.
    largest : float, optional
        ``max |x|`` when the caller already knows it (no reduction then).

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> array_exponent(xp, np.ones((3, 4))), array_exponent(xp, np.full(3, 1e160))
    (0, 532)
    """
    if math.prod(int(n) for n in x.shape) == 0:
        return 0
    info = xp.finfo(x.dtype)
    if largest is None:
        largest = float(backend.to_host(xp.max(xp.abs(x))))
    return square_exponent(
        largest,
        count=math.prod(int(n) for n in x.shape),
        fmax=float(info.max),
        tiny=float(info.smallest_normal),
        eps=float(info.eps),
    )


def scale_pow2(xp: Namespace, x: Array, e: int) -> Array:
    """``x * 2**e``, exact wherever the result neither overflows nor underflows.

    The factor is applied in steps that are representable in ``x``'s dtype (``2**e``
    itself may not be: ``2**-1000`` in float32). ``e == 0`` returns ``x`` itself.
    Differentiable on PyTorch.

    Parameters
    ----------
    xp : namespace
        Array namespace of ``x``.
    x : array
        Floating array.
    e : int
        Power of two.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> scale_pow2(xp, np.array([1e300, 3.0]), -1000).tolist() == [1e300 / 2.0**1000, 3.0 / 2.0**1000]
    True
    """
    e = int(e)
    if e == 0:
        return x
    step = int(math.log2(float(xp.finfo(x.dtype).max))) - 1
    out: Any = x
    while e:
        k = max(-step, min(step, e))
        out = out * (2.0**k)
        e -= k
    return out
