"""The node grid of the unit square shared by the elliptic solvers, and their argument checks.

Examples
--------
>>> x, y = unit_square_grid(3)
>>> x[:, 0].tolist(), y[0].tolist()
([0.0, 0.5, 1.0], [0.0, 0.5, 1.0])
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from tnkit.backend import device_of
from tnkit.types import Array, DType, Namespace

__all__ = ["unit_square_grid"]


def unit_square_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Node coordinates of the ``n x n`` grid on the unit square, boundary included.

    Parameters
    ----------
    n : int
        Nodes per side (at least 3); the spacing is ``h = 1 / (n - 1)``.

    Returns
    -------
    x, y : numpy.ndarray, shape (n, n)
        ``x[i, j] = i h`` and ``y[i, j] = j h`` (``indexing="ij"``), float64.

    Examples
    --------
    >>> x, y = unit_square_grid(5)
    >>> x.shape, float(x[1, 0]), float(y[0, 4])
    ((5, 5), 0.25, 1.0)
    """
    n = _check_n(n, "unit_square_grid")
    t = np.linspace(0.0, 1.0, n)
    x, y = np.meshgrid(t, t, indexing="ij")
    return x, y


# --------------------------------------------------------------------------------------
# Shared checks and helpers


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_n(n: Any, where: str) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"{where}: n must be an integer (nodes per side, boundary included), got {n!r}")
    if n < 3:
        raise ValueError(f"{where}: n must be at least 3 (nodes per side including the boundary), got {n}")
    return int(n)


def _check_field(xp: Namespace, x: Array, n: int, name: str, where: str) -> Array:
    if x.ndim not in (2, 3) or tuple(x.shape[-2:]) != (n, n):
        raise ValueError(
            f"{where}: {name} must have shape ({n}, {n}) or (batch, {n}, {n}) for n={n}, got {tuple(x.shape)}"
        )
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{where}: {name} must be real floating (float32 or float64), got {x.dtype}")
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{where}: {name} contains NaN or Inf")
    return x


def _check_positive(xp: Namespace, a: Array, where: str) -> None:
    if not bool(xp.all(a > 0)):
        raise ValueError(
            f"{where}: the coefficient a must be positive everywhere, found min(a) = {float(xp.min(a)):.6g}"
        )


def _same_dtype(x: Array, y: Array, xname: str, yname: str, where: str) -> None:
    if x.dtype != y.dtype:
        raise TypeError(f"{where}: {xname} is {x.dtype} but {yname} is {y.dtype}; convert both to one dtype")


def _source(xp: Namespace, f: Array | float, a: Array, n: int, where: str) -> Array:
    """``f`` as an array like ``a``: a number becomes a constant (n, n) field."""
    if _is_number(f):
        if not math.isfinite(float(f)):
            raise ValueError(f"{where}: f must be finite, got {f!r}")
        return xp.full((n, n), float(f), dtype=a.dtype, device=device_of(a))
    f = _check_field(xp, f, n, "f", where)
    _same_dtype(a, f, "a", "f", where)
    return f


def _broadcast_batch(a: Array, f: Array, where: str) -> int:
    batch_a = a.shape[0] if a.ndim == 3 else None
    batch_f = f.shape[0] if f.ndim == 3 else None
    if batch_a is not None and batch_f is not None and batch_a != batch_f:
        raise ValueError(
            f"{where}: a has a batch of {batch_a} samples but f has {batch_f}; "
            "give f one per sample or one (n, n) field"
        )
    return batch_a if batch_a is not None else (batch_f if batch_f is not None else 1)


def _default_rtol(xp: Namespace, dtype: DType) -> float:
    return 1e-5 if dtype == xp.float32 else 1e-10


def _check_rtol(rtol: Any, where: str) -> None:
    if not _is_number(rtol) or not (0.0 < float(rtol) < 1.0):
        raise ValueError(f"{where}: rtol must be a number in (0, 1), got {rtol!r}")


def _check_maxiter(maxiter: Any, where: str) -> int:
    if isinstance(maxiter, bool) or not isinstance(maxiter, numbers.Integral) or maxiter < 1:
        raise ValueError(f"{where}: maxiter must be a positive integer, got {maxiter!r}")
    return int(maxiter)


def _embed(xp: Namespace, interior: Array) -> Array:
    """Surround interior values (..., m, m) by a zero boundary: (..., m + 2, m + 2)."""
    shape = tuple(interior.shape)
    device = device_of(interior)
    side = xp.zeros((*shape[:-1], 1), dtype=interior.dtype, device=device)
    rows = xp.concat([side, interior, side], axis=-1)
    cap = xp.zeros((*shape[:-2], 1, shape[-1] + 2), dtype=interior.dtype, device=device)
    return xp.concat([cap, rows, cap], axis=-2)
