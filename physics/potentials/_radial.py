"""Radial functions of interatomic distances: smooth cutoffs and radial basis expansions.

A potential's energy must go to zero smoothly as a neighbour leaves the cutoff sphere,
or forces jump and molecular dynamics does not conserve energy. Every edge feature is
therefore multiplied by a cutoff function that vanishes (with its first derivative for
the cosine form) at ``r = cutoff``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["cosine_cutoff", "polynomial_cutoff", "BesselBasis", "ExpNormalBasis", "GaussianBasis"]


def cosine_cutoff(distances: torch.Tensor, cutoff: float, lower: float = 0.0) -> torch.Tensor:
    """Behler's cosine cutoff: ``(cos(pi (r - lower) / (cutoff - lower)) + 1) / 2`` below ``cutoff``, else 0.

    Parameters
    ----------
    distances : torch.Tensor
        Interatomic distances, any shape.
    cutoff : float
        Radius at which the function and its slope reach zero.
    lower : float
        Radius below which it is 1 (default 0).

    Returns
    -------
    torch.Tensor
        Same shape and dtype as ``distances``, values in ``[0, 1]``.

    Examples
    --------
    >>> r = torch.tensor([0.0, 2.25, 4.5, 5.0], dtype=torch.float64)
    >>> cosine_cutoff(r, 4.5).tolist()
    [1.0, 0.5, 0.0, 0.0]
    """
    if not cutoff > lower:
        raise ValueError(f"cosine_cutoff: cutoff ({cutoff}) must exceed lower ({lower})")
    x = (distances - lower) / (cutoff - lower)
    value = 0.5 * (torch.cos(math.pi * x.clamp(0.0, 1.0)) + 1.0)
    return torch.where(distances < cutoff, value, torch.zeros_like(value))


class ExpNormalBasis(torch.nn.Module):
    """Exponential-normal radial basis (Unke & Meuwly, PhysNet, 2019), as used by TensorNet.

    ``phi_k(r) = f_cut(r) exp(-beta_k (exp(-alpha (r - lower)) - mu_k)^2)`` with
    ``alpha = 5 / (cutoff - lower)``, centres ``mu_k`` evenly spaced in ``exp(-alpha)`` ... 1
    of the variable ``exp(-alpha (r - lower))`` (dense at short range) and widths
    ``beta_k = (2 (1 - exp(-alpha)) / n)^-2``; ``f_cut`` is :func:`cosine_cutoff`.

    Parameters
    ----------
    n : int
        Number of basis functions (TensorNet: 32).
    cutoff : float
        Upper cutoff in Angstrom.
    lower : float
        Lower cutoff (default 0).
    trainable : bool
        Make the centres and widths parameters (default: buffers).

    Examples
    --------
    >>> basis = ExpNormalBasis(8, 4.5)
    >>> basis(torch.tensor([1.0, 4.5])).shape
    torch.Size([2, 8])
    >>> float(basis(torch.tensor([4.5])).abs().max())
    0.0
    """

    def __init__(self, n: int = 32, cutoff: float = 4.5, lower: float = 0.0, trainable: bool = False) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"ExpNormalBasis: n must be >= 1, got {n}")
        if not cutoff > lower >= 0:
            raise ValueError(f"ExpNormalBasis: need cutoff > lower >= 0, got cutoff={cutoff}, lower={lower}")
        self.n, self.cutoff, self.lower = int(n), float(cutoff), float(lower)
        self.alpha = 5.0 / (self.cutoff - self.lower)
        start = math.exp(-self.alpha * (self.cutoff - self.lower))
        means = torch.linspace(start, 1.0, self.n, dtype=torch.float64)
        betas = torch.full((self.n,), (2.0 / self.n * (1.0 - start)) ** -2, dtype=torch.float64)
        dtype = torch.get_default_dtype()
        if trainable:
            self.means = torch.nn.Parameter(means.to(dtype))
            self.betas = torch.nn.Parameter(betas.to(dtype))
        else:
            self.register_buffer("means", means.to(dtype))
            self.register_buffer("betas", betas.to(dtype))

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        """``(...,)`` distances -> ``(..., n)`` basis values.

        Parameters
        ----------
        distances : torch.Tensor, shape (...)
            Interatomic distances, Angstrom.
        """
        r = distances.unsqueeze(-1)
        u = torch.exp(-self.alpha * (r - self.lower))
        return cosine_cutoff(r, self.cutoff, self.lower) * torch.exp(-self.betas * (u - self.means) ** 2)

    def extra_repr(self) -> str:
        return f"n={self.n}, cutoff={self.cutoff}, lower={self.lower}"


class GaussianBasis(torch.nn.Module):
    """Gaussians ``exp(-(r - mu_k)^2 / (2 w^2))`` at ``n`` evenly spaced centres in ``[lower, cutoff]``,
    width ``w`` the spacing, times :func:`cosine_cutoff` (SchNet-style).

    Parameters
    ----------
    n : int, optional
        Number of basis functions; default 32.
    cutoff : float, optional
        Cutoff radius and last centre, Angstrom; default 4.5.
    lower : float, optional
        First centre, Angstrom; default 0.

    Examples
    --------
    >>> GaussianBasis(16, 5.0)(torch.rand(10) * 5).shape
    torch.Size([10, 16])
    """

    means: torch.Tensor  # a buffer registered in __init__; declared so that it reads as a tensor

    def __init__(self, n: int = 32, cutoff: float = 4.5, lower: float = 0.0) -> None:
        super().__init__()
        if n < 2:
            raise ValueError(f"GaussianBasis: n must be >= 2, got {n}")
        if not cutoff > lower >= 0:
            raise ValueError(f"GaussianBasis: need cutoff > lower >= 0, got cutoff={cutoff}, lower={lower}")
        self.n, self.cutoff, self.lower = int(n), float(cutoff), float(lower)
        self.register_buffer("means", torch.linspace(self.lower, self.cutoff, self.n))
        self.width = (self.cutoff - self.lower) / (self.n - 1)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        """``(...,)`` distances -> ``(..., n)`` basis values.

        Parameters
        ----------
        distances : torch.Tensor, shape (...)
            Interatomic distances, Angstrom.
        """
        r = distances.unsqueeze(-1)
        return cosine_cutoff(r, self.cutoff, self.lower) * torch.exp(-0.5 * ((r - self.means) / self.width) ** 2)

    def extra_repr(self) -> str:
        return f"n={self.n}, cutoff={self.cutoff}, lower={self.lower}"


def polynomial_cutoff(distances: torch.Tensor, cutoff: float, p: int = 5) -> torch.Tensor:
    """The polynomial envelope of DimeNet (Klicpera et al. 2020), as MACE and NequIP use it.

    ``f(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)`` with ``x = r / cutoff``
    below the cutoff, 0 above: ``f(0) = 1`` and ``f`` with its first two derivatives vanish
    at ``r = cutoff``.

    Parameters
    ----------
    distances : torch.Tensor
        Interatomic distances, any shape.
    cutoff : float
        Radius where the envelope reaches zero.
    p : int, optional
        Degree (default 5, MACE's; NequIP uses 6).

    Examples
    --------
    >>> r = torch.tensor([0.0, 2.5, 5.0, 6.0], dtype=torch.float64)
    >>> [round(v, 6) for v in polynomial_cutoff(r, 5.0).tolist()]
    [1.0, 0.773438, 0.0, 0.0]
    """
    if not cutoff > 0 or p < 1:
        raise ValueError(f"polynomial_cutoff: need cutoff > 0 and p >= 1, got cutoff={cutoff}, p={p}")
    x = distances / cutoff
    value = 1.0 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
    return torch.where(x < 1.0, value, torch.zeros_like(value))


class BesselBasis(torch.nn.Module):
    """Radial Bessel functions ``sqrt(2 / c) sin(k pi r / c) / r``, ``k = 1..n`` (DimeNet, MACE, NequIP).

    The zeroth spherical Bessel function at the roots that vanish at the cutoff ``c``: an
    orthonormal basis on ``[0, c]`` with weight ``r^2``. The envelope is applied by the caller
    (:func:`polynomial_cutoff`).

    Parameters
    ----------
    n : int, optional
        Number of functions (default 8, MACE's).
    cutoff : float, optional
        Angstrom (default 5).
    trainable : bool, optional
        Learn the frequencies ``k pi / c`` (default False).

    Examples
    --------
    >>> basis = BesselBasis(4, 5.0)
    >>> r = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> bool(torch.allclose(basis(r)[:, 1], (2 / 5) ** 0.5 * torch.sin(2 * torch.pi * r / 5) / r))
    True
    """

    def __init__(self, n: int = 8, cutoff: float = 5.0, trainable: bool = False) -> None:
        super().__init__()
        if n < 1 or not cutoff > 0:
            raise ValueError(f"BesselBasis: need n >= 1 and cutoff > 0, got n={n}, cutoff={cutoff}")
        self.n, self.cutoff = int(n), float(cutoff)
        # fixed frequencies are formed in the distances' dtype at each call (a float32 buffer
        # would round them for float64 distances); trainable ones are a parameter
        self.frequencies: torch.nn.Parameter | None = None
        if trainable:
            self.frequencies = torch.nn.Parameter(
                torch.arange(1, self.n + 1, dtype=torch.get_default_dtype()) * math.pi / self.cutoff
            )
        self.prefactor = math.sqrt(2.0 / self.cutoff)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        """``(...,)`` distances -> ``(..., n)`` basis values.

        Parameters
        ----------
        distances : torch.Tensor, shape (...)
            Interatomic distances, Angstrom (positive).
        """
        r = distances.unsqueeze(-1)
        if self.frequencies is None:
            freq = torch.arange(1, self.n + 1, dtype=r.dtype, device=r.device) * (math.pi / self.cutoff)
        else:
            freq = self.frequencies.to(r.dtype)
        return self.prefactor * torch.sin(freq * r) / r

    def extra_repr(self) -> str:
        return f"n={self.n}, cutoff={self.cutoff}"
