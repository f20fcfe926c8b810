"""Chebyshev points, coefficients and the matrices built from them, on any array library:
nodes of the first kind on an interval, the discrete cosine transform to coefficients,
Vandermonde and differentiation matrices, Clenshaw-Curtis weights.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.backend import namespace
from tnkit.contract import contract

__all__ = ["chebyshev_nodes", "chebyshev_coefficients"]

_LETTERS = "abcdefghijklnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"  # no "m": the point index


def _target(like: Any) -> tuple[Any, Any, Any]:
    """Namespace, device and real dtype for new arrays (NumPy float64 without ``like``)."""
    if like is None:
        import array_api_compat.numpy as xnp

        return xnp, "cpu", xnp.float64  # type: ignore[attr-defined]  # array_api_compat has no stubs
    xp = namespace(like)
    dtype = like.dtype if xp.isdtype(like.dtype, "real floating") else xp.float64
    return xp, backend.device_of(like), dtype


def _check_degree(n: Any, name: str = "degree") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return int(n)


def _check_interval(a: Any, b: Any, dim: int | None = None) -> tuple[float, float]:
    a, b = float(a), float(b)
    where = "" if dim is None else f" in dimension {dim}"
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"interval{where} must be finite, got [{a}, {b}]")
    if not a < b:
        raise ValueError(f"interval{where} needs a < b, got [{a}, {b}]")
    return a, b


def _unit_nodes(n: int) -> np.ndarray:
    """The n + 1 first-kind Chebyshev points on [-1, 1], ascending (host, float64)."""
    j = np.arange(n + 1)
    return -np.cos(np.pi * (j + 0.5) / (n + 1))


def chebyshev_nodes(n: int, a: float = -1.0, b: float = 1.0, *, like: Any = None) -> Any:
    """Chebyshev points of the first kind on ``[a, b]``, ascending.

    Parameters
    ----------
    n : int
        Polynomial degree (>= 1); ``n + 1`` points are returned.
    a, b : float
        The interval, ``a < b``.
    like : array, optional
        Output library, device and (real floating) dtype; NumPy float64 by default.

    Returns
    -------
    array, shape (n + 1,)
        ``(a + b)/2 - (b - a)/2 * cos(pi (j + 1/2) / (n + 1))``, ``j = 0..n``.

    Raises
    ------
    ValueError
        If ``n < 1`` or ``a >= b``.

    Examples
    --------
    >>> import numpy as np
    >>> x = chebyshev_nodes(3)
    >>> bool(np.allclose(x, np.polynomial.chebyshev.chebpts1(4)))
    True
    >>> chebyshev_nodes(1, 0.0, 2.0).round(4).tolist()
    [0.2929, 1.7071]
    """
    n = _check_degree(n, "n")
    a, b = _check_interval(a, b)
    xp, device, dtype = _target(like)
    host = 0.5 * (a + b) + 0.5 * (b - a) * _unit_nodes(n)
    return xp.asarray(host, dtype=dtype, device=device)


def _dct_matrix(n: int) -> np.ndarray:
    """Matrix taking samples at the ascending first-kind nodes to Chebyshev coefficients.

    ``c_k = (2 - delta_k0)/(n+1) sum_j f(x_j) T_k(x_j)``: the discrete orthogonality
    of ``T_0..T_n`` on the n + 1 Gauss–Chebyshev points makes this exact interpolation.
    """
    size = n + 1
    k = np.arange(size)[:, None]
    m = np.cos(k * np.arccos(_unit_nodes(n))[None, :]) * (2.0 / size)
    m[0] *= 0.5
    return m


def _dct_axis_numpy(values: np.ndarray, axis: int) -> np.ndarray:
    import scipy.fft

    size = values.shape[axis]
    # scipy's unnormalised DCT-II is 2 sum_j f_j cos(pi k (2j+1)/(2N)) for nodes in
    # descending order; ascending order flips the sign of odd k.
    out = scipy.fft.dct(values, type=2, axis=axis) / size
    shape = [1] * values.ndim
    shape[axis] = size
    scale = np.where(np.arange(size) % 2 == 0, 1.0, -1.0)
    scale[0] = 0.5
    return out * scale.reshape(shape).astype(out.dtype, copy=False)


def chebyshev_coefficients(values: Any) -> Any:
    """Tensor-product Chebyshev coefficients of samples on a first-kind node grid.

    Parameters
    ----------
    values : array, shape (n_1 + 1, ..., n_d + 1)
        Samples ``f(x_j1, ..., x_jd)`` at the nodes of :func:`chebyshev_nodes`
        (ascending along every axis), real floating dtype.

    Returns
    -------
    array, same shape, library, device and dtype
        ``C`` with ``p(x) = sum_k C[k] prod_i T_ki(t_i)`` interpolating the samples,
        ``t_i`` the coordinate mapped to ``[-1, 1]``. A DCT-II along every axis
        (``scipy.fft`` for NumPy, a matrix product per axis elsewhere, so it stays
        on the device and differentiable on PyTorch).

    Raises
    ------
    ValueError
        If ``values`` has an axis of length < 2 or contains NaN/Inf.
    TypeError
        If its dtype is not real floating.

    Examples
    --------
    >>> import numpy as np
    >>> from numpy.polynomial import chebyshev as C
    >>> x = chebyshev_nodes(6)
    >>> c = chebyshev_coefficients(np.exp(x))
    >>> bool(np.allclose(c, C.chebinterpolate(np.exp, 6)))
    True
    """
    xp = namespace(values)
    if not xp.isdtype(values.dtype, "real floating"):
        raise TypeError(f"chebyshev_coefficients: expected a real floating dtype, got {values.dtype}")
    if values.ndim == 0 or any(s < 2 for s in values.shape):
        raise ValueError(
            f"chebyshev_coefficients: every axis needs >= 2 samples (degree >= 1), got shape {tuple(values.shape)}"
        )
    if not bool(xp.all(xp.isfinite(values))):
        raise ValueError("chebyshev_coefficients: values contain NaN or Inf")
    if backend.library_name(xp) == "numpy":
        out = np.asarray(values)
        for axis in range(out.ndim):
            out = _dct_axis_numpy(out, axis)
        return out
    device = backend.device_of(values)
    out = values
    letters = _LETTERS[: values.ndim]
    for axis, size in enumerate(values.shape):
        m = xp.asarray(_dct_matrix(size - 1), dtype=values.dtype, device=device)
        result = letters[:axis] + "m" + letters[axis + 1 :]
        out = contract(f"m{letters[axis]},{letters}->{result}", m, out)
    return out


def _vandermonde(xp: Any, t: Any, n: int) -> Any:
    """``T_0(t) .. T_n(t)`` by the three-term recurrence, shape (m, n + 1)."""
    cols = [xp.ones_like(t), t]
    for _ in range(2, n + 1):
        cols.append(2.0 * t * cols[-1] - cols[-2])
    return xp.stack(cols[: n + 1], axis=1)


def _derivative_matrix(n: int) -> np.ndarray:
    """``D`` with ``c' = D c``: Chebyshev coefficients of the derivative on [-1, 1].

    ``T_j' = 2 j sum_{k < j, j - k odd} T_k``, with the ``T_0`` term halved [Tr]_.
    """
    d = np.zeros((n + 1, n + 1))
    for j in range(1, n + 1):
        for k in range(j - 1, -1, -2):
            d[k, j] = 2.0 * j if k > 0 else float(j)
    return d


def _clenshaw_curtis_weights(n: int) -> np.ndarray:
    """``int_{-1}^{1} T_k = 2 / (1 - k^2)`` for even ``k``, 0 for odd ``k``."""
    k = np.arange(n + 1)
    w = np.zeros(n + 1)
    even = k % 2 == 0
    w[even] = 2.0 / (1.0 - k[even].astype(np.float64) ** 2)
    return w
