"""Fourier helpers shared by the periodic pseudo-spectral solvers.

Everything is built once on the host in float64 and moved to the state's library and
device in the state's precision; the hot loops only use ``xp.fft`` and elementwise ops,
so one code path serves NumPy, CuPy, torch and any array-API library.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.checks import check_nonempty
from tnkit.types import Array, Namespace

__all__ = ["check_grid", "etdrk4_coefficients", "real_float", "to_device", "wavenumbers"]


def check_grid(n: Any, name: str, *, minimum: int = 4) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name}: the grid size n must be an int >= {minimum}, got {n!r}")
    if n % 2:
        raise ValueError(f"{name}: the grid size n must be even for the real FFT layout, got {n}")
    return int(n)


def check_positive(value: Any, what: str, name: str, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    if not ok or not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: {what} must be a finite number {bound}, got {value!r}")
    return v


def wavenumbers(n: int, dims: int, length: float) -> list[np.ndarray]:
    """Angular wavenumbers ``2 pi k / length`` of the ``rfftn`` layout over the last
    ``dims`` axes of an ``n^dims`` grid: full ``fftfreq`` axes, then the half axis last."""
    full = np.fft.fftfreq(n, 1.0 / n) * (2 * math.pi / length)
    half = np.fft.rfftfreq(n, 1.0 / n) * (2 * math.pi / length)
    axes = [full] * (dims - 1) + [half]
    return list(np.meshgrid(*axes, indexing="ij"))


def dealias_mask(n: int, dims: int) -> np.ndarray:
    """Orszag's 2/3 rule: keep integer wavenumbers with ``|k_i| < n/3`` in every direction
    (a quadratic product of the kept modes then aliases only onto dropped ones)."""
    full = np.abs(np.fft.fftfreq(n, 1.0 / n))
    half = np.fft.rfftfreq(n, 1.0 / n)
    axes = [full] * (dims - 1) + [half]
    grids = np.meshgrid(*axes, indexing="ij")
    keep = np.ones(grids[0].shape, dtype=bool)
    for g in grids:
        keep &= g < n / 3
    return keep.astype(np.float64)


def real_float(x: Array, name: str, what: str, trailing: tuple[int, ...]) -> Namespace:
    """Check a real floating state whose last axes are ``trailing`` and whose batch axes
    are not empty; return its namespace."""
    try:
        xp = backend.namespace(x)
    except TypeError as exc:
        raise TypeError(f"{name}: {what} must be an array, got {type(x).__name__}") from exc
    if x.dtype not in (xp.float32, xp.float64):
        raise ValueError(f"{name}: {what} must be float32 or float64, got {x.dtype}")
    k = len(trailing)
    if x.ndim < k or tuple(x.shape[x.ndim - k :]) != trailing:
        raise ValueError(f"{name}: {what} must have trailing shape {trailing} (batch axes first), got {tuple(x.shape)}")
    check_nonempty(tuple(x.shape), name, what=what)
    return xp


def to_device(host: np.ndarray, like: Array, *, complex_: bool = False) -> Array:
    """``host`` on ``like``'s library and device, in ``like``'s real precision (or the
    matching complex one)."""
    xp = backend.namespace(like)
    single = like.dtype == xp.float32
    npdt: type[np.inexact[Any]]
    if complex_:
        dt, npdt = (xp.complex64, np.complex64) if single else (xp.complex128, np.complex128)
    else:
        dt, npdt = (xp.float32, np.float32) if single else (xp.float64, np.float64)
    return xp.asarray(np.ascontiguousarray(host, dtype=npdt), dtype=dt, device=backend.device_of(like))


def etdrk4_coefficients(lin: np.ndarray, h: float, contour: int = 32) -> tuple[np.ndarray, ...]:
    """Cox-Matthews ETDRK4 coefficients for the diagonal linear part ``lin`` (real,
    <= 0) and step ``h``: ``E = e^{hL}``, ``E2 = e^{hL/2}``, ``Q`` and ``f1, f2, f3``
    (each already multiplied by ``h``). The phi-functions are evaluated as means over a
    circle of radius 1 around ``hL`` in the complex plane (Kassam & Trefethen 2005), which
    avoids the cancellation of the closed forms near ``hL = 0``."""
    hl = h * np.asarray(lin, dtype=np.float64)
    roots = np.exp(1j * math.pi * (np.arange(1, contour + 1) - 0.5) / contour)
    z = hl[..., None] + roots
    ez = np.exp(z)
    q = h * np.real(np.mean((np.exp(z / 2) - 1) / z, axis=-1))
    f1 = h * np.real(np.mean((-4 - z + ez * (4 - 3 * z + z**2)) / z**3, axis=-1))
    f2 = h * np.real(np.mean((2 + z + ez * (z - 2)) / z**3, axis=-1))
    f3 = h * np.real(np.mean((-4 - 3 * z - z**2 + ez * (4 - z)) / z**3, axis=-1))
    return np.exp(hl), np.exp(hl / 2), q, f1, f2, f3
