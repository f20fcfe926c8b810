r"""Gaussian random fields with covariance operator :math:`\sigma^2 (-\Delta + \tau^2 I)^{-\alpha}`.

On the box :math:`[0, \ell]^d` the covariance is diagonal in the eigenfunctions
:math:`\varphi_k` of the Laplacian (periodic: Fourier modes, :math:`\mu_k = (2\pi/\ell)^2
|k|^2`; Neumann: cosines, :math:`\mu_k = (\pi/\ell)^2 |k|^2`, the basis of the FNO Darcy
data), so a sample is the Karhunen-Loeve sum

.. math::
    u(x) = \sum_k \sqrt{\lambda_k}\, \xi_k\, \varphi_k(x), \qquad
    \lambda_k = \sigma^2 (\mu_k + \tau^2)^{-\alpha}, \quad \xi_k \sim N(0, 1)\ \text{i.i.d.},

with :math:`\varphi_k` orthonormal in :math:`L^2`, evaluated exactly on the grid (periodic:
``x_j = j l / n`` by FFTs of white noise; Neumann: cell centres ``x_j = (j + 1/2) l / n``
by the cosine matrix, as MATLAB's ``idct2`` in the FNO data scripts). ``E[u(x) u(y)]`` is
then exactly the truncated covariance kernel. The default ``sigma = tau**(alpha - d/2)``
is FNO's. Its periodic sampler takes the real part of a non-Hermitian complex draw, which
doubles the variance; ``normalization="fno"`` reproduces that (the ``navier-stokes``
dataset uses it), ``"kl"`` (default) gives the covariance as written.

Draws are made on the host by NumPy from ``rng`` (a seed gives the same fields on every
library and device) and transformed on the target device.
"""

from __future__ import annotations

import math

import numpy as np

from physics.pde import _spectral as sp
from tnkit import backend
from tnkit.types import RNG, Array

__all__ = ["GaussianRandomField"]


class GaussianRandomField:
    r"""Sampler of zero-mean Gaussian fields on an ``n^dim`` grid.

    Parameters
    ----------
    n : int
        Grid points per side (even for ``"periodic"``).
    dim : int
        Space dimension (1, 2 or 3).
    alpha, tau : float
        Smoothness and inverse length scale (> 0).
    sigma : float, optional
        Amplitude (default ``tau ** (alpha - dim / 2)``).
    bc : {"periodic", "neumann"}
    length : float
        Box side ``l``.
    modes : int, optional
        Keep only modes with ``|k_i| < modes`` in every direction (default: all the grid
        resolves; ``modes`` may not exceed ``n // 2`` periodic or ``n`` Neumann).
    zero_mean : bool
        Drop the constant mode (as FNO does).
    normalization : {"kl", "fno"}
        ``"fno"`` doubles the variance of the periodic field (FNO's sampler).

    Shapes: :meth:`sample` returns ``(num, n, ..., n)``.

    Examples
    --------
    >>> grf = GaussianRandomField(64, alpha=2.0, tau=3.0, bc="neumann")
    >>> a = grf.sample(4, rng=0)
    >>> a.shape, bool(abs(a.mean()) < 0.5)
    ((4, 64, 64), True)
    >>> bool(np.isclose(grf.eigenvalues()[0, 1], 3.0 ** 2 * (np.pi ** 2 + 9.0) ** -2.0, rtol=1e-14))
    True
    """

    name = "GaussianRandomField"

    def __init__(
        self,
        n: int,
        *,
        dim: int = 2,
        alpha: float = 2.0,
        tau: float = 3.0,
        sigma: float | None = None,
        bc: str = "periodic",
        length: float = 1.0,
        modes: int | None = None,
        zero_mean: bool = True,
        normalization: str = "kl",
    ) -> None:
        if bc not in ("periodic", "neumann"):
            raise ValueError(f"{self.name}: bc must be 'periodic' or 'neumann', got {bc!r}")
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim not in (1, 2, 3):
            raise ValueError(f"{self.name}: dim must be 1, 2 or 3, got {dim!r}")
        self.bc, self.dim = bc, int(dim)
        if bc == "periodic":
            self.n = sp.check_grid(n, self.name, minimum=2)
        elif isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"{self.name}: the grid size n must be an int >= 2, got {n!r}")
        else:
            self.n = int(n)
        self.alpha = sp.check_positive(alpha, "alpha", self.name)
        self.tau = sp.check_positive(tau, "tau", self.name)
        self.sigma = (
            self.tau ** (self.alpha - self.dim / 2) if sigma is None else sp.check_positive(sigma, "sigma", self.name)
        )
        self.length = sp.check_positive(length, "length", self.name)
        top = self.n // 2 if bc == "periodic" else self.n
        if modes is not None:
            if isinstance(modes, bool) or not isinstance(modes, (int, np.integer)) or modes < 1:
                raise ValueError(f"{self.name}: modes must be an int >= 1 or None, got {modes!r}")
            if modes > top:
                raise ValueError(
                    f"{self.name}: the grid n = {self.n} resolves at most {top} modes per direction "
                    f"({bc}), got modes = {modes}; raise n or lower modes"
                )
        self.modes = top if modes is None else int(modes)
        if normalization not in ("kl", "fno"):
            raise ValueError(f"{self.name}: normalization must be 'kl' or 'fno', got {normalization!r}")
        if normalization == "fno" and bc != "periodic":
            raise ValueError(f"{self.name}: normalization='fno' is the periodic sampler's; use 'kl' with Neumann")
        self.zero_mean = bool(zero_mean)
        self.normalization = normalization
        self._sqrt = np.sqrt(self.eigenvalues())

    # ------------------------------------------------------------------ spectrum
    def integer_modes(self) -> list[np.ndarray]:
        """Integer wavenumber grids of the coefficient layout (periodic: ``rfftn`` layout;
        Neumann: ``0..n-1`` per axis)."""
        n, d = self.n, self.dim
        if self.bc == "periodic":
            axes = [np.fft.fftfreq(n, 1.0 / n)] * (d - 1) + [np.fft.rfftfreq(n, 1.0 / n)]
        else:
            axes = [np.arange(n, dtype=np.float64)] * d
        return list(np.meshgrid(*axes, indexing="ij"))

    def eigenvalues(self) -> np.ndarray:
        """``lambda_k`` (times 2 for ``normalization="fno"``) in the coefficient layout, with
        dropped modes (truncation, zero mean) set to zero."""
        ks = self.integer_modes()
        scale = (2 if self.bc == "periodic" else 1) * math.pi / self.length
        mu = sum((scale * k) ** 2 for k in ks)
        lam = self.sigma**2 * (mu + self.tau**2) ** (-self.alpha)
        keep = np.ones(lam.shape, dtype=bool)
        for k in ks:
            keep &= np.abs(k) < self.modes
        if self.zero_mean:
            keep &= sum(np.abs(k) for k in ks) > 0
        lam = np.where(keep, lam, 0.0)
        return 2 * lam if self.normalization == "fno" else lam

    def cosine_matrix(self) -> np.ndarray:
        """Neumann basis on cell centres: ``B[j, k] = c_k cos(pi k (j + 1/2) / n)`` with
        ``c_0 = 1``, ``c_k = sqrt 2`` (``B.T @ B = n I``)."""
        n = self.n
        j = np.arange(n)[:, None] + 0.5
        k = np.arange(n)[None, :]
        b = np.cos(np.pi * k * j / n)
        b[:, 1:] *= math.sqrt(2.0)
        return b

    # ------------------------------------------------------------------ sampling
    def sample(self, num: int = 1, *, rng: RNG = None, like: Array | None = None, dtype: str | None = None) -> Array:
        """``num`` fields, shape ``(num,) + (n,) * dim``.

        Parameters
        ----------
        num : int, optional
            Number of fields, >= 1; default 1.
        rng : numpy.random.Generator, int or None, optional
            Source of the white noise, drawn on the host (see :func:`tnkit.backend.make_rng`).
        like : array, optional
            Array whose library and device the fields take; default NumPy.
        dtype : str, optional
            ``"float32"`` or ``"float64"``; default ``like``'s dtype, else float64.
        """
        if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
            raise ValueError(f"{self.name}: num must be an int >= 1, got {num!r}")
        gen = backend.make_rng(rng)
        shape = (int(num),) + (self.n,) * self.dim
        if like is None:
            import array_api_compat.numpy as xp

            dev = None
            dt = dtype or "float64"
        else:
            xp = backend.namespace(like)
            dev = backend.device_of(like)
            dt = dtype or backend.dtype_name(xp, like.dtype)
        if dt not in ("float32", "float64"):
            raise ValueError(f"{self.name}: dtype must be 'float32' or 'float64', got {dt!r}")
        return self.transform(backend.random_normal(xp, shape, dtype=getattr(xp, dt), device=dev, rng=gen))

    def transform(self, noise: Array) -> Array:
        """Fields from white noise: what :meth:`sample` applies to its host draws.

        Lets callers draw each sample from its own generator (e.g. one per sample index,
        so a batch's fields do not depend on how the batch is split).

        Parameters
        ----------
        noise : array, shape (num, n, ..., n)
            Standard normal draws, any library and device, float32 or float64.
        """
        xp = sp.real_float(noise, self.name, "the noise", (self.n,) * self.dim)
        if noise.ndim != self.dim + 1:
            raise ValueError(
                f"{self.name}: the noise must have shape (num,) + {(self.n,) * self.dim}, got {tuple(noise.shape)}"
            )
        axes = tuple(range(1, self.dim + 1))
        vol = self.length ** (-self.dim / 2)
        if self.bc == "periodic":
            amp = sp.to_device(self._sqrt * (self.n ** (self.dim / 2) * vol), noise)
            out = xp.fft.irfftn(xp.fft.rfftn(noise, axes=axes) * amp, s=(self.n,) * self.dim, axes=axes)
            return xp.astype(out, noise.dtype)
        out = noise * sp.to_device(self._sqrt * vol, noise)
        b = sp.to_device(self.cosine_matrix(), noise)
        for a in axes:
            out = xp.moveaxis(xp.tensordot(out, b, axes=([a], [1])), -1, a)
        return out

    def coefficients(self, u: Array) -> Array:
        """The KL coefficients ``sqrt(lambda_k) xi_k`` of fields ``u`` (same layout as
        :meth:`eigenvalues`; complex for periodic), e.g. to check the spectrum.

        Parameters
        ----------
        u : array, shape (..., n, ..., n)
            Fields, the grid on the trailing axes.
        """
        xp = sp.real_float(u, self.name, "the fields", (self.n,) * self.dim)
        axes = tuple(range(u.ndim - self.dim, u.ndim))
        vol = self.length ** (self.dim / 2)
        if self.bc == "periodic":
            return xp.fft.rfftn(u, axes=axes) * (vol / self.n**self.dim)
        b = sp.to_device(self.cosine_matrix() / self.n, u)
        out = u
        for a in axes:
            out = xp.moveaxis(xp.tensordot(out, b, axes=([a], [0])), -1, a)
        return out * vol
