"""The orthonormal type-I discrete sine transform (DST-I) and the five-point Laplacian's eigenvalues.

The DST-I diagonalises the five-point Laplacian with zero Dirichlet data: the Poisson and
Helmholtz solvers divide by its eigenvalues, and Darcy's conjugate gradients use it as a
preconditioner. It is registered as ``dst1_ortho_2d`` in :mod:`tnkit.backend`:
``scipy.fft.dstn`` on NumPy, elsewhere built from the array-API FFT extension.

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).standard_normal((4, 4))
>>> bool(np.allclose(dst1_2d(dst1_2d(x)), x))  # orthonormal and its own inverse
True
"""

from __future__ import annotations

import math

import numpy as np

from tnkit.backend import GENERIC, device_of, lookup, namespace, register
from tnkit.types import Array, Device, DType, Namespace

__all__ = ["dst1_2d"]


def dst1_2d(x: Array) -> Array:
    """The orthonormal DST-I of ``x`` over its last two axes, in ``x``'s library.

    Parameters
    ----------
    x : array, shape (..., n_1, n_2)
        Real array of any supported library.
    """
    xp = namespace(x)
    return lookup("dst1_ortho_2d", xp)(xp, x)


def _laplacian_eigenvalues_host(n: int) -> np.ndarray:
    """``h^2 mu_p = 4 sin^2(pi p / (2 (n - 1)))`` for ``p = 1..n-2``, float64."""
    p = np.arange(1, n - 1, dtype=np.float64)
    return 4.0 * np.sin(np.pi * p / (2.0 * (n - 1))) ** 2


def _laplacian_eigenvalues(xp: Namespace, n: int, scale: float, dtype: DType, device: Device) -> Array:
    """``(mu_p + mu_q) * h^2 / scale`` on ``device``: shape (n-2, n-2)."""
    mu = _laplacian_eigenvalues_host(n) / scale
    host = (mu[:, None] + mu[None, :]).astype(np.float32 if dtype == xp.float32 else np.float64)
    return xp.asarray(host, dtype=dtype, device=device)


@register("dst1_ortho_2d", "numpy")
def _dst1_numpy(xp: Namespace, x: Array) -> Array:
    import scipy.fft

    return scipy.fft.dstn(x, type=1, axes=(-2, -1), norm="ortho")


@register("dst1_ortho_2d", GENERIC)
def _dst1_generic(xp: Namespace, x: Array) -> Array:
    """Orthonormal DST-I over the last two axes from the array-API FFT extension."""
    y = xp.matrix_transpose(_dst1_last_axis(xp, x))
    return xp.matrix_transpose(_dst1_last_axis(xp, y))


def _dst1_last_axis(xp: Namespace, v: Array) -> Array:
    # The odd extension [0, v, 0, -reverse(v)] has the FFT -2i * (unnormalised DST-I of v)
    # at frequencies 1..m.
    m = v.shape[-1]
    zero = xp.zeros((*v.shape[:-1], 1), dtype=v.dtype, device=device_of(v))
    extended = xp.concat([zero, v, zero, -xp.flip(v, axis=-1)], axis=-1)
    spectrum = xp.fft.rfft(extended, axis=-1)[..., 1 : m + 1]
    return (-0.5 * math.sqrt(2.0 / (m + 1))) * xp.imag(spectrum)
