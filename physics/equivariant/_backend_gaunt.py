"""The Gaunt tensor product (Luo, Chen & Krishnapriyan, ICLR 2024): products of functions through 2D Fourier series.

A real harmonic is a trigonometric polynomial on the torus ``(theta, phi)``:
``Y_{l, m} = P[l, |m|](theta) trig_m(phi)`` where ``P[l, k](theta)`` (``sin^k theta`` times a
polynomial in ``cos theta``) has frequencies ``|u| <= l`` and ``trig_m`` is ``cos(m phi)``,
``1`` or ``sin(|m| phi)``. So each function's coefficients map to a 2D Fourier series
``f = sum_{u, v} F[u, v] e^{i (u theta + v phi)}``; the product of two functions is the 2D
convolution of their series, done with ``torch.fft`` on a zero-padded torus; the product's
projection on ``Y_{lo, m}`` needs ``∫_0^π e^{i u theta} sin(theta) dtheta``, which has a
closed form. Every step is separable: per ``|m|`` a small matrix in ``u``, the ``phi``
direction being a fixed placement (``cos``/``sin`` -> ``v = ±|m|``).

Functions are real, so only ``v >= 0`` is stored (``irfft2`` / ``rfft2``), and the complex
tables act as real matrices on ``(Re, Im)`` pairs.

References
----------
.. [1] S. Luo, T. Chen, A. S. Krishnapriyan, "Enabling Efficient Equivariant Operations in the
   Fourier Basis via Gaunt Tensor Products", ICLR 2024.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from physics.equivariant._backend_grid import SphereProductBackend, legendre_factors
from physics.equivariant._products import Irreps

__all__ = ["GauntBackend", "sine_moments"]


def _fft_size(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n`` (sizes the FFT handles fastest)."""
    size = max(n, 1)
    while True:
        m = size
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return size
        size += 1


def sine_moments(u: np.ndarray) -> np.ndarray:
    """``∫_0^π e^{i u theta} sin(theta) dtheta`` for integer ``u``, in closed form.

    ``2 / (1 - u^2)`` for even ``u``, ``± iπ/2`` for ``u = ±1``, zero for other odd ``u``.

    Parameters
    ----------
    u : numpy.ndarray of int

    Returns
    -------
    numpy.ndarray of complex128, same shape

    Examples
    --------
    >>> bool(np.allclose(sine_moments(np.array([0, 1, 2, 3])), [2.0, 0.5j * np.pi, -2.0 / 3.0, 0.0]))
    True
    """
    u = np.asarray(u)
    out = np.zeros(u.shape, dtype=np.complex128)
    even = u % 2 == 0
    out[even] = 2.0 / (1.0 - u[even].astype(np.float64) ** 2)
    out[u == 1] = 0.5j * np.pi
    out[u == -1] = -0.5j * np.pi
    return out


class GauntBackend(SphereProductBackend):
    """The Gaunt tensor product: spherical coefficients -> 2D Fourier -> FFT convolution -> back.

    Per function: the ``theta`` Fourier coefficients of each ``P[l, |m|]`` (exact, from an
    FFT of samples) map the coefficients of each ``|m|`` to the column ``v = |m|`` of the
    half spectrum (one batched matmul over ``|m|``); ``irfft2`` gives the values on a uniform
    torus grid of ``n_u x n_v`` points with ``n_u >= 2 (l1 + l2) + 1`` and
    ``n_v >= l1 + l2 + lo + 1`` (no aliasing of the product or of its columns ``v <= lo``);
    the pointwise product and ``rfft2`` give the product's series, i.e. the zero-padded 2D
    convolution; a batched matmul with the closed-form moments
    ``K[lo, |m|, u] = ∫_0^π e^{i u theta} P[lo, |m|](theta) sin(theta) dtheta`` projects back.
    Same refusals as :class:`~physics.equivariant._backend_grid.S2GridBackend`. The torus has
    about 2.6 times the points of that backend's Gauss–Legendre grid and many tiny FFTs cost
    more than small matmuls on a CPU, so there it is the slower of the two; ``"auto"`` measures.

    References
    ----------
    .. [1] S. Luo, T. Chen, A. S. Krishnapriyan, "Enabling Efficient Equivariant Operations in
       the Fourier Basis via Gaunt Tensor Products", ICLR 2024.
    """

    name = "gaunt"

    def product_tables(
        self,
        in1: tuple[Irreps, int],
        in2: tuple[Irreps, int],
        out: tuple[Irreps, int, int, np.ndarray],
        dtype: torch.dtype,
        device: torch.device,
    ) -> dict[str, Any]:
        (irreps1, l1), (irreps2, l2), (irreps_out, lo_all, lo, valid_out) = in1, in2, out
        n_u = _fft_size(2 * (l1 + l2) + 1)
        n_v = _fft_size(max(l1 + l2 + lo + 1, 2 * max(l1, l2, lo) + 1))
        lmax = max(l1, l2, lo_all)
        theta = 2.0 * np.pi * np.arange(n_u) / n_u
        # A[l, k, j]: theta Fourier coefficient of P[l, k] at frequency u = j (mod n_u); exact as l < n_u / 2
        A = np.fft.fft(legendre_factors(lmax, theta), axis=-1) / n_u
        freq = np.fft.fftfreq(n_u, 1.0 / n_u).round().astype(np.int64)  # frequency of each FFT index

        def to_fourier(irreps: Irreps, L: int) -> np.ndarray:
            """``(L + 1, 2 n_u, 2 n_slots)``: ``(cos, sin) x slot -> (Re, Im) x u`` for column ``v = k``."""
            table = np.zeros((L + 1, 2, n_u, 2, max(len(irreps), 1)))
            for s, (_, ir) in enumerate(irreps):
                for k in range(ir.l + 1):
                    a = A[ir.l, k]
                    if k == 0:
                        table[0, 0, :, 0, s], table[0, 1, :, 0, s] = a.real, a.imag
                        continue
                    # cos(k phi) = (e^{ik phi} + ...) / 2, sin(k phi) = -i e^{ik phi} / 2 + ...
                    table[k, 0, :, 0, s], table[k, 1, :, 0, s] = a.real / 2, a.imag / 2
                    table[k, 0, :, 1, s], table[k, 1, :, 1, s] = a.imag / 2, -a.real / 2
            return table.reshape(L + 1, 2 * n_u, -1)

        # K[l, k, u] = sum_u' A[l, k, u'] I(u + u'), I the sine moments; u, u' over |.| < n_u / 2
        moments = sine_moments(freq[:, None] + freq[None, :])  # (u, u')
        K = np.einsum("lkv,uv->lku", A, moments)
        # rows k > lo (reached) are zero: they are padded on after the projection
        project = np.zeros((lo + 1, 2, max(len(irreps_out), 1), 2, n_u))
        for o, (_, ir) in enumerate(irreps_out):
            kk = K[ir.l, : lo + 1]  # (k, u)
            valid = valid_out[: lo + 1, :, o]
            # (1/4π) ∫ dΩ of e^{i v phi}: m = 0 and cos -> Re(S) / 2, sin -> -Im(S) / 2, S = sum_u K F[u, k]
            project[:, 0, o, 0] = kk.real / 2 * valid[:, 0, None]
            project[:, 0, o, 1] = -kk.imag / 2 * valid[:, 0, None]
            project[:, 1, o, 0] = -kk.imag / 2 * valid[:, 1, None]
            project[:, 1, o, 1] = -kk.real / 2 * valid[:, 1, None]

        def cast(t: np.ndarray) -> torch.Tensor:
            return torch.tensor(np.ascontiguousarray(t), dtype=dtype, device=device)

        return {
            "fourier1": cast(to_fourier(irreps1, l1)),
            "fourier2": cast(to_fourier(irreps2, l2)),
            "project": cast(project.reshape(lo + 1, 2 * max(len(irreps_out), 1), 2 * n_u)),
            "torus": (n_u, n_v),
            "padding": 2 * (lo_all - lo),
        }

    @staticmethod
    def to_torus(X: torch.Tensor, fourier: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Values ``(N, n_u, n_v)`` on the uniform torus grid of the functions ``X (2 (L + 1), n_slots, N)``.

        The function index leads so that each FFT runs over contiguous memory.
        """
        n_u, n_v = size
        K1, N = fourier.shape[0], X.shape[-1]
        F = torch.bmm(fourier, X.reshape(K1, -1, N)).reshape(K1, 2, n_u, N)  # (v, Re/Im, u, N)
        # one strided copy into the zero-padded half spectrum (N, u, v, Re/Im)
        half = X.new_zeros((N, n_u, n_v // 2 + 1, 2))
        half[:, :, :K1] = F.permute(3, 2, 0, 1)
        return torch.fft.irfft2(torch.view_as_complex(half), s=(n_u, n_v), norm="forward")

    @staticmethod
    def from_torus(g: torch.Tensor, project: torch.Tensor) -> torch.Tensor:
        """Projections ``(2 (lo + 1), n_slots, N)`` of the values ``g (N, n_u, n_v)``."""
        K_out = project.shape[0]
        N, n_u = g.shape[0], g.shape[1]
        spectrum = torch.fft.rfft2(g, norm="forward")[:, :, :K_out]  # (N, u, v)
        parts = torch.view_as_real(spectrum).permute(2, 3, 1, 0).reshape(K_out, 2 * n_u, N)
        return torch.bmm(project, parts).reshape(2 * K_out, -1, N)

    def product(
        self, X1: torch.Tensor, X2: torch.Tensor, U: int, V: int, Z: int, tables: dict[str, Any]
    ) -> torch.Tensor:
        n_u, n_v = tables["torus"]
        F1 = self.to_torus(X1, tables["fourier1"], tables["torus"]).reshape(U, 1, Z, n_u, n_v)
        F2 = self.to_torus(X2, tables["fourier2"], tables["torus"]).reshape(1, V, Z, n_u, n_v)
        g = (F1 * F2).reshape(U * V * Z, n_u, n_v)
        R = self.from_torus(g, tables["project"])
        if tables["padding"]:
            R = torch.nn.functional.pad(R, (0, 0, 0, 0, 0, tables["padding"]))
        return R
