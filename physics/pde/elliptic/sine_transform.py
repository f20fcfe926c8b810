"""Poisson and Helmholtz problems on the unit square, solved exactly by the discrete sine transform.

See :mod:`physics.pde.elliptic` for the grid and the discretisation.
"""

from __future__ import annotations

import math

import numpy as np

from physics.pde.elliptic.dst import _laplacian_eigenvalues, _laplacian_eigenvalues_host
from physics.pde.elliptic.grid import _check_field, _check_n, _embed, _is_number
from tnkit.backend import device_of, dtype_eps, lookup, namespace
from tnkit.types import Array, DType, Namespace

__all__ = ["Poisson2D", "Helmholtz2D"]


class _SineTransformSolver:
    """``-Δ_h u - shift u = f`` with zero Dirichlet data, diagonalised by the DST-I."""

    _name = ""

    def __init__(self, n: int, shift: float) -> None:
        self.n = _check_n(n, self._name)
        self.h = 1.0 / (self.n - 1)
        self._shift = shift

    def solve(self, f: Array) -> Array:
        """Solve with the source ``f``.

        Parameters
        ----------
        f : array, shape (n, n) or (batch, n, n)
            Source at the nodes (real floating, finite); boundary values are ignored.

        Returns
        -------
        u : array, shape of ``f``
            The discrete solution, zero on the boundary; ``f``'s library, device and dtype.

        Raises
        ------
        ValueError
            Wrong shape, NaN/Inf in ``f``, or a shift singular in ``f``'s precision.
        TypeError
            ``f`` is not real floating.
        """
        where = f"{self._name}.solve"
        xp = namespace(f)
        f = _check_field(xp, f, self.n, "f", where)
        self._check_regular(xp, f.dtype, where)
        eig = _laplacian_eigenvalues(xp, self.n, self.h**2, f.dtype, device_of(f)) - self._shift
        dst = lookup("dst1_ortho_2d", xp)
        u = dst(xp, dst(xp, f[..., 1:-1, 1:-1]) / eig)
        return _embed(xp, u)

    def apply(self, u: Array) -> Array:
        """The discrete operator ``-Δ_h u - k^2 u`` at interior nodes (``k = 0`` for Poisson).

        Parameters
        ----------
        u : array, shape (n, n) or (batch, n, n)
            Nodal values, boundary values included (they enter the interior stencils).

        Returns
        -------
        array, shape of ``u``
            Zero on the boundary.
        """
        where = f"{self._name}.apply"
        xp = namespace(u)
        u = _check_field(xp, u, self.n, "u", where)
        centre = u[..., 1:-1, 1:-1]
        laplacian = (
            4.0 * centre - u[..., :-2, 1:-1] - u[..., 2:, 1:-1] - u[..., 1:-1, :-2] - u[..., 1:-1, 2:]
        ) / self.h**2
        return _embed(xp, laplacian - self._shift * centre)

    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues ``lambda[p-1, q-1]`` of the discrete operator, shape (n-2, n-2), float64."""
        mu = _laplacian_eigenvalues_host(self.n) / self.h**2
        return mu[:, None] + mu[None, :] - self._shift

    def _check_regular(self, xp: Namespace, dtype: DType, where: str) -> None:
        eig = self.eigenvalues()
        p, q = np.unravel_index(int(np.argmin(np.abs(eig))), eig.shape)
        gap = abs(float(eig[p, q]))
        scale = max(float(np.max(np.abs(eig))), abs(self._shift))
        if gap <= 64.0 * dtype_eps(xp, dtype) * scale:
            raise ValueError(
                f"{where}: k**2 = {self._shift:.12g} is the discrete Dirichlet eigenvalue "
                f"{self._shift + eig[p, q]:.12g} (mode p={p + 1}, q={q + 1}) of the 5-point Laplacian "
                f"with n={self.n}; the problem is singular, "
                "change k or n"
            )


class Poisson2D(_SineTransformSolver):
    r"""Poisson's equation :math:`-\Delta u = f`, ``u = 0`` on the boundary of the unit square.

    The five-point Laplacian on the ``n x n`` grid (boundary included, ``h = 1 / (n - 1)``),
    solved exactly by two orthonormal DST-I transforms (``O(n^2 log n)``).

    Parameters
    ----------
    n : int
        Nodes per side including the boundary (at least 3).

    Notes
    -----
    Shapes: ``solve(f)`` takes ``f`` of shape ``(n, n)`` or ``(batch, n, n)`` (only the
    interior values enter) and returns ``u`` of the same shape, library, device and dtype.
    ``apply(u)`` is the discrete :math:`-\Delta_h u` at interior nodes, zero on the boundary.
    ``eigenvalues()`` gives the ``(n-2, n-2)`` discrete spectrum.
    For a variable coefficient :math:`-\nabla\cdot(a\nabla u) = f` use :class:`Darcy2D`.

    Examples
    --------
    ``sin(πx) sin(πy)`` is a discrete eigenfunction: ``-Δ_h u = μ u`` with
    ``μ = (8 / h^2) sin^2(πh/2)``, so its image under ``solve`` is known exactly.

    >>> import numpy as np
    >>> from physics.pde.elliptic import unit_square_grid
    >>> n = 17; h = 1 / (n - 1)
    >>> x, y = unit_square_grid(n)
    >>> phi = np.sin(np.pi * x) * np.sin(np.pi * y)
    >>> u = Poisson2D(n).solve(phi)
    >>> mu = 8 / h**2 * np.sin(np.pi * h / 2) ** 2
    >>> bool(np.allclose(u, phi / mu, rtol=0, atol=1e-14)), round(float(mu), 4), round(2 * np.pi**2, 4)
    (True, 19.6759, 19.7392)
    """

    _name = "Poisson2D"

    def __init__(self, n: int) -> None:
        super().__init__(n, 0.0)

    def __repr__(self) -> str:
        return f"Poisson2D(n={self.n})"


class Helmholtz2D(_SineTransformSolver):
    r"""The Helmholtz equation :math:`-\Delta u - k^2 u = f`, ``u = 0`` on the boundary of the unit square.

    Five-point Laplacian, exact DST-I solve, as :class:`Poisson2D`. The operator is
    indefinite once ``k^2`` exceeds the smallest eigenvalue and singular when ``k^2``
    equals one; that case raises :class:`ValueError` at construction (and in ``solve``
    when it is singular to the working precision of ``f``'s dtype).

    Parameters
    ----------
    n : int
        Nodes per side including the boundary (at least 3).
    k : float
        Wavenumber (real, finite).

    Notes
    -----
    Shapes as for :class:`Poisson2D`: ``f`` and ``u`` are ``(n, n)`` or ``(batch, n, n)``.

    Examples
    --------
    >>> import numpy as np
    >>> from physics.pde.elliptic import unit_square_grid
    >>> n = 33
    >>> x, y = unit_square_grid(n)
    >>> u_exact = np.sin(np.pi * x) * np.sin(2 * np.pi * y) * (1 + x)
    >>> helmholtz = Helmholtz2D(n, k=6.0)
    >>> u = helmholtz.solve(helmholtz.apply(u_exact))
    >>> bool(np.abs(u - u_exact).max() < 1e-12)
    True

    With ``n = 3`` (``h = 1/2``) the single eigenvalue is ``(8 / h^2) sin^2(pi/4) = 16``:

    >>> Helmholtz2D(3, k=4.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Helmholtz2D: k**2 = 16 is the discrete Dirichlet eigenvalue 16 ... singular, change k or n
    """

    _name = "Helmholtz2D"

    def __init__(self, n: int, k: float) -> None:
        if not _is_number(k) or not math.isfinite(float(k)):
            raise ValueError(f"Helmholtz2D: k must be a finite real number, got {k!r}")
        self.k = float(k)
        super().__init__(n, self.k**2)
        self._check_regular(np, np.float64, "Helmholtz2D")

    def __repr__(self) -> str:
        return f"Helmholtz2D(n={self.n}, k={self.k!r})"
