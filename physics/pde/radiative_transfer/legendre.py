"""The angular part of the P_N discretisation: the transport matrix of orthonormal Legendre moments."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["legendre_transport_matrix"]


def legendre_transport_matrix(n_moments: int) -> np.ndarray:
    r"""The :math:`P_N` transport matrix :math:`A_{kl} = \int_{-1}^1 \mu \tilde P_k \tilde P_l d\mu`.

    :math:`\tilde P_l = \sqrt{(2l+1)/2} P_l` are the orthonormal Legendre polynomials, so
    ``A`` is symmetric tridiagonal with ``A[l, l+1] = (l+1) / sqrt((2l+1)(2l+3))``.

    Parameters
    ----------
    n_moments : int
        Number of moments ``N + 1`` (at least 1).

    Returns
    -------
    numpy.ndarray, shape (n_moments, n_moments)

    Raises
    ------
    ValueError
        ``n_moments < 1``.

    Examples
    --------
    >>> a = legendre_transport_matrix(3)
    >>> bool(np.allclose(a, a.T)), round(float(a[0, 1]), 6), round(float(a[1, 2]), 6)
    (True, 0.57735, 0.516398)
    >>> bool(np.allclose(np.linalg.eigvalsh(a), np.polynomial.legendre.leggauss(3)[0]))
    True
    """
    n = _positive_int(n_moments, "n_moments", where="legendre_transport_matrix")
    lvals = np.arange(n - 1, dtype=float)
    off = (lvals + 1.0) / np.sqrt((2.0 * lvals + 1.0) * (2.0 * lvals + 3.0))
    return np.diag(off, 1) + np.diag(off, -1)


def _positive_int(value: Any, name: str, minimum: int = 1, where: str = "RadiativeTransfer1D") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
