r"""Elliptic reference solvers on the unit square: Darcy flow, Poisson, Helmholtz.

Three second-order problems with homogeneous Dirichlet data on :math:`\Omega = (0, 1)^2`,

.. math::
    -\nabla\cdot(a \nabla u) = f, \qquad -\Delta u = f, \qquad -\Delta u - k^2 u = f,
    \qquad u|_{\partial\Omega} = 0,

the benchmark problems of the neural-operator literature (the Darcy data of FNO, Li et al.,
*Fourier Neural Operator for Parametric Partial Differential Equations*, ICLR 2021,
arXiv:2010.08895; the Darcy/Helmholtz benchmarks of MgNO, He et al., arXiv:2310.19809).
A Poisson problem with a variable coefficient is the Darcy problem.

Grid
----
``n`` nodes per side *including* the boundary (``n = 421``, ``85``, ... as in the FNO data),
spacing ``h = 1 / (n - 1)``. Arrays hold nodal values with ``u[..., i, j]`` at
``(x_i, y_j) = (i h, j h)`` (``indexing="ij"``, see :func:`unit_square_grid`); the
``m = n - 2`` interior nodes per side are the unknowns and every returned solution has zero
boundary rows and columns. Solvers take one field of shape ``(n, n)`` or a batch
``(batch, n, n)`` and return arrays of the input's library, device and dtype.

Discretisation
--------------
Darcy: the conservative five-point scheme

.. math::
    -\frac{1}{h^2}\Big[a_{i+\frac12,j}(u_{i+1,j} - u_{ij}) - a_{i-\frac12,j}(u_{ij} - u_{i-1,j})
    + a_{i,j+\frac12}(u_{i,j+1} - u_{ij}) - a_{i,j-\frac12}(u_{ij} - u_{i,j-1})\Big] = f_{ij}

with face coefficients the harmonic (default) or arithmetic mean of the two nodal values
they join. The matrix is symmetric positive definite and an M-matrix (positive diagonal,
non-positive couplings, irreducibly diagonally dominant), so ``f >= 0`` gives ``u >= 0``
(the discrete maximum principle) and the scheme is second-order accurate for smooth ``a``.

Poisson and Helmholtz: the same scheme with ``a = 1`` (the five-point Laplacian), which the
orthonormal type-I discrete sine transform (DST-I) diagonalises: eigenvalues
:math:`\lambda_{pq} = \mu_p + \mu_q`, :math:`\mu_p = (4/h^2) \sin^2(\pi p h / 2)`,
``p, q = 1..m``. The solve is two DSTs and a division, exact up to rounding.

Solvers
-------
- Direct (NumPy and torch on the CPU): SciPy sparse CSR assembly and a sparse LU
  (SuperLU, minimum-degree ordering on ``A + A^T``), factorised once per coefficient sample.
  Other libraries may ask for it; the data then go through the host and back.
- Conjugate gradients (CuPy, torch on CUDA, every other array-API library): matrix-free,
  batched over samples, written with standard array-API operations only; the operator is
  applied by slicing. Preconditioned by the constant-coefficient Laplacian through the DST
  (condition number at most ``max a / min a`` whatever ``n``) or by Jacobi. It stops at a
  relative residual ``rtol`` per sample and raises :class:`tnkit.linalg.ConvergenceError`
  after ``maxiter`` iterations.
- DST (Poisson, Helmholtz): ``scipy.fft.dstn`` on NumPy, elsewhere built from the array-API
  FFT extension (``xp.fft.rfft``) on the odd extension of the data.

The solvers are reference solvers (data generation, validation): the direct path goes
through host NumPy and does not propagate torch gradients.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from tnkit.backend import GENERIC, device_of, dtype_eps, library_name, lookup, namespace, register, to_host
from tnkit.linalg import ConvergenceError

__all__ = ["Darcy2D", "Helmholtz2D", "Poisson2D", "unit_square_grid"]

_MEANS = ("harmonic", "arithmetic")
_METHODS = ("direct", "cg")
_PRECONDITIONERS = ("poisson", "jacobi")


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
# Darcy flow


class Darcy2D:
    r"""Darcy flow :math:`-\nabla\cdot(a \nabla u) = f`, ``u = 0`` on the boundary of the unit square.

    Parameters
    ----------
    n : int
        Nodes per side including the boundary (at least 3), ``h = 1 / (n - 1)``.
    mean : {"harmonic", "arithmetic"}
        How the coefficient on the face between two nodes is formed from their values.
        The harmonic mean is the flux-continuous choice for discontinuous coefficients.

    Attributes
    ----------
    n, h : int, float
        Grid size and spacing.

    Notes
    -----
    Shapes: ``a`` is ``(n, n)`` or ``(batch, n, n)``; ``f`` is a Python number, ``(n, n)``
    or ``(batch, n, n)``; ``u`` has the broadcast shape of the two (``a``'s shape when ``f``
    is a number). Only the interior values of ``f`` enter; ``a`` is used at every node.

    Examples
    --------
    The torsion problem ``-Δu = 1`` (``a = 1``), whose continuum maximum is 0.073671:

    >>> import numpy as np
    >>> darcy = Darcy2D(33)
    >>> u = darcy.solve(np.ones((33, 33)))
    >>> u.shape, float(u[0].max()), f"{float(u.max()):.5f}"
    ((33, 33), 0.0, '0.07361')

    A batch of two-valued coefficients: direct and matrix-free CG agree.

    >>> rng = np.random.default_rng(0)
    >>> a = np.where(rng.random((3, 33, 33)) < 0.5, 12.0, 3.0)
    >>> u_lu, u_cg = darcy.solve(a), darcy.solve(a, method="cg")
    >>> u_lu.shape, bool(np.abs(u_lu - u_cg).max() < 1e-10 * np.abs(u_lu).max()), bool(u_lu.min() >= 0)
    ((3, 33, 33), True, True)
    """

    def __init__(self, n: int, *, mean: str = "harmonic") -> None:
        self.n = _check_n(n, "Darcy2D")
        if mean not in _MEANS:
            raise ValueError(f"Darcy2D: mean must be one of {_MEANS}, got {mean!r}")
        self.mean = mean
        self.h = 1.0 / (self.n - 1)

    def __repr__(self) -> str:
        return f"Darcy2D(n={self.n}, mean={self.mean!r})"

    def solve(
        self,
        a: Any,
        f: Any = 1.0,
        *,
        method: str | None = None,
        rtol: float | None = None,
        maxiter: int | None = None,
        preconditioner: str = "poisson",
    ) -> Any:
        """Solve for ``u`` given the coefficient ``a`` and the source ``f``.

        Parameters
        ----------
        a : array, shape (n, n) or (batch, n, n)
            Coefficient (permeability) at every node; positive and finite, real floating.
        f : float or array, shape (n, n) or (batch, n, n)
            Source; an array must share ``a``'s library, device and dtype.
        method : {"direct", "cg"} or None
            ``None`` picks ``"direct"`` for NumPy and torch on the CPU, ``"cg"`` otherwise.
        rtol : float, optional
            CG stopping test ``||f - A u|| <= rtol ||f||`` per sample (interior nodes,
            Euclidean norm, the recursively updated residual); default ``1e-10`` in
            float64, ``1e-5`` in float32 (whose rounding floor lies far above 1e-10).
        maxiter : int, optional
            CG iteration limit, default ``20 n``.
        preconditioner : {"poisson", "jacobi"}
            CG preconditioner: the constant-coefficient Laplacian solved by DST (needs
            ``xp.fft``; falls back to Jacobi without it) or the diagonal.

        Returns
        -------
        u : array, shape (n, n) or (batch, n, n)
            The discrete solution, zero on the boundary; ``a``'s library, device and dtype.

        Raises
        ------
        ValueError
            Wrong shapes, non-finite or non-positive ``a``, non-finite ``f``, bad options.
        TypeError
            Non-floating dtype, or ``f`` of another library, device or dtype than ``a``.
        tnkit.linalg.ConvergenceError
            CG did not reach ``rtol`` within ``maxiter`` iterations.
        """
        where = "Darcy2D.solve"
        xp = namespace(a) if _is_number(f) else namespace(a, f)
        a = _check_field(xp, a, self.n, "a", where)
        _check_positive(xp, a, where)
        rhs = _source(xp, f, a, self.n, where)
        batch = _broadcast_batch(a, rhs, where)
        method = self._pick_method(xp, a, method, where)
        if rtol is None:
            rtol = _default_rtol(xp, a.dtype)
        _check_rtol(rtol, where)
        maxiter = 20 * self.n if maxiter is None else _check_maxiter(maxiter, where)
        if preconditioner not in _PRECONDITIONERS:
            raise ValueError(f"{where}: preconditioner must be one of {_PRECONDITIONERS}, got {preconditioner!r}")

        squeeze = a.ndim == 2 and rhs.ndim == 2
        a3 = a if a.ndim == 3 else a[None, ...]
        rhs3 = rhs if rhs.ndim == 3 else rhs[None, ...]
        if batch == 0:
            return xp.zeros((0, self.n, self.n), dtype=a.dtype, device=device_of(a))
        if method == "direct":
            u = self._solve_direct(xp, a3, rhs3)
        else:
            u = self._solve_cg(xp, a3, rhs3, batch, rtol, maxiter, preconditioner)
        return u[0, ...] if squeeze else u

    def apply(self, a: Any, u: Any) -> Any:
        r"""The discrete operator :math:`-\nabla_h\cdot(a \nabla_h u)` at the interior nodes.

        Parameters
        ----------
        a : array, shape (n, n) or (batch, n, n)
        u : array, shape (n, n) or (batch, n, n)
            Nodal values, boundary values included (they enter the interior stencils).

        Returns
        -------
        array, shape of the broadcast of ``a`` and ``u``
            The operator applied at interior nodes, zero on the boundary.
        """
        where = "Darcy2D.apply"
        xp = namespace(a, u)
        a = _check_field(xp, a, self.n, "a", where)
        u = _check_field(xp, u, self.n, "u", where)
        _same_dtype(a, u, "a", "u", where)
        ax, ay = _face_coefficients(xp, a, self.mean)
        return _embed(xp, _divergence_form(ax, ay, u) / self.h**2)

    def matrix(self, a: Any) -> scipy.sparse.csr_matrix:
        """The sparse matrix of the interior unknowns for one coefficient field, float64.

        Unknowns are the interior nodes in row-major order, ``k = (i - 1) (n - 2) + (j - 1)``.

        Parameters
        ----------
        a : array, shape (n, n)

        Returns
        -------
        scipy.sparse.csr_matrix, shape ((n - 2)**2, (n - 2)**2)
        """
        where = "Darcy2D.matrix"
        xp = namespace(a)
        a = _check_field(xp, a, self.n, "a", where)
        if a.ndim != 2:
            raise ValueError(
                f"{where}: expected one coefficient field of shape ({self.n}, {self.n}), got {tuple(a.shape)}"
            )
        _check_positive(xp, a, where)
        ax, ay = _face_coefficients(np, to_host(a).astype(np.float64), self.mean)
        return _assemble(ax, ay) / self.h**2

    # ------------------------------------------------------------------ internals
    def _pick_method(self, xp: Any, a: Any, method: str | None, where: str) -> str:
        if method is None:
            lib = library_name(xp)
            on_cpu = lib == "numpy" or (lib == "torch" and str(device_of(a)) == "cpu")
            return "direct" if on_cpu else "cg"
        if method not in _METHODS:
            raise ValueError(f"{where}: method must be one of {_METHODS} or None, got {method!r}")
        return method

    def _solve_direct(self, xp: Any, a: Any, rhs: Any) -> Any:
        a_host = to_host(a).astype(np.float64)
        f_host = to_host(rhs).astype(np.float64)[:, 1:-1, 1:-1] * self.h**2
        batch = max(a_host.shape[0], f_host.shape[0])
        m = self.n - 2
        u = np.zeros((batch, self.n, self.n))
        if a_host.shape[0] == 1:
            lu = _factorise(*_face_coefficients(np, a_host[0], self.mean))
            cols = f_host.reshape(f_host.shape[0], m * m).T
            sol = lu.solve(np.ascontiguousarray(cols)).T
            u[:, 1:-1, 1:-1] = np.broadcast_to(sol.reshape(-1, m, m), (batch, m, m))
        else:
            for b in range(batch):
                lu = _factorise(*_face_coefficients(np, a_host[b], self.mean))
                rhs_b = f_host[b if f_host.shape[0] > 1 else 0].reshape(m * m)
                u[b, 1:-1, 1:-1] = lu.solve(rhs_b).reshape(m, m)
        host_dtype = np.float32 if a.dtype == xp.float32 else np.float64
        return xp.asarray(u.astype(host_dtype), dtype=a.dtype, device=device_of(a))

    def _solve_cg(self, xp: Any, a: Any, rhs: Any, batch: int, rtol: float, maxiter: int, preconditioner: str) -> Any:
        ax, ay = _face_coefficients(xp, a, self.mean)
        m = self.n - 2
        b = xp.broadcast_to(rhs[:, 1:-1, 1:-1] * self.h**2, (batch, m, m))
        diagonal = ax[..., :-1, :] + ax[..., 1:, :] + ay[..., :, :-1] + ay[..., :, 1:]

        def operator(v: Any) -> Any:
            return _divergence_form(ax, ay, _embed(xp, v))

        if preconditioner == "poisson" and hasattr(xp, "fft"):
            eig = _laplacian_eigenvalues(xp, self.n, 1.0, a.dtype, device_of(a))
            dst = lookup("dst1_ortho_2d", xp)

            def precondition(r: Any) -> Any:
                return dst(xp, dst(xp, r) / eig)
        else:

            def precondition(r: Any) -> Any:
                return r / diagonal

        u = _pcg(xp, operator, precondition, b, rtol, maxiter, "Darcy2D.solve")
        return _embed(xp, u)


def _face_coefficients(xp: Any, a: Any, mean: str) -> tuple[Any, Any]:
    """Face coefficients next to interior nodes.

    ``ax[..., i, j]`` sits between nodes ``(i, j+1)`` and ``(i+1, j+1)``, shape
    ``(..., n-1, n-2)``; ``ay[..., i, j]`` between ``(i+1, j)`` and ``(i+1, j+1)``,
    shape ``(..., n-2, n-1)``.
    """
    left, right = a[..., :-1, 1:-1], a[..., 1:, 1:-1]
    low, high = a[..., 1:-1, :-1], a[..., 1:-1, 1:]
    if mean == "harmonic":
        return 2.0 * left * right / (left + right), 2.0 * low * high / (low + high)
    return 0.5 * (left + right), 0.5 * (low + high)


def _divergence_form(ax: Any, ay: Any, u: Any) -> Any:
    """``h^2`` times the Darcy operator at interior nodes, from nodal ``u`` of shape (..., n, n)."""
    qx = ax * (u[..., 1:, 1:-1] - u[..., :-1, 1:-1])
    qy = ay * (u[..., 1:-1, 1:] - u[..., 1:-1, :-1])
    return (qx[..., :-1, :] - qx[..., 1:, :]) + (qy[..., :, :-1] - qy[..., :, 1:])


def _assemble(ax: np.ndarray, ay: np.ndarray) -> scipy.sparse.csr_matrix:
    """CSR matrix (``h^2`` times the operator) of one sample's face coefficients."""
    m = ax.shape[-1]
    idx = np.arange(m * m).reshape(m, m)
    diagonal = ax[:-1, :] + ax[1:, :] + ay[:, :-1] + ay[:, 1:]
    cx = -ax[1:-1, :].ravel()
    cy = -ay[:, 1:-1].ravel()
    west, east, south, north = idx[:-1, :].ravel(), idx[1:, :].ravel(), idx[:, :-1].ravel(), idx[:, 1:].ravel()
    rows = np.concatenate([idx.ravel(), west, east, south, north])
    cols = np.concatenate([idx.ravel(), east, west, north, south])
    vals = np.concatenate([diagonal.ravel(), cx, cx, cy, cy])
    return scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(m * m, m * m))


def _factorise(ax: np.ndarray, ay: np.ndarray) -> Any:
    # SPD: no pivoting needed, and a minimum-degree ordering of A + A^T keeps the fill
    # near that of nested dissection (about half of COLAMD's on a 5-point grid).
    return scipy.sparse.linalg.splu(
        _assemble(ax, ay).tocsc(),
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )


def _pcg(xp: Any, operator: Any, precondition: Any, b: Any, rtol: float, maxiter: int, where: str) -> Any:
    """Preconditioned conjugate gradients on a batch ``b`` of shape (batch, m, m).

    Each sample has its own step lengths; a sample that has converged is frozen (zero
    step) while the others go on.
    """

    def dot(u: Any, v: Any) -> Any:
        return xp.sum(u * v, axis=(-2, -1))

    def per_sample(s: Any) -> Any:
        return s[:, None, None]

    bnorm = xp.sqrt(dot(b, b))
    bnorm = xp.where(bnorm > 0, bnorm, xp.ones_like(bnorm))
    x = xp.zeros_like(b)
    r = b
    z = precondition(r)
    p = z
    rz = dot(r, z)
    for iteration in range(maxiter + 1):
        relres = xp.sqrt(dot(r, r)) / bnorm
        active = relres > rtol
        if not bool(xp.any(active)):
            return x
        if iteration == maxiter:
            break
        q = operator(p)
        pq = dot(p, q)
        alpha = xp.where(active, rz / xp.where(active, pq, xp.ones_like(pq)), xp.zeros_like(pq))
        x = x + per_sample(alpha) * p
        r = r - per_sample(alpha) * q
        z = precondition(r)
        rz_next = dot(r, z)
        beta = xp.where(active, rz_next / xp.where(active, rz, xp.ones_like(rz)), xp.zeros_like(rz))
        p = z + per_sample(beta) * p
        rz = rz_next
    worst = float(xp.max(relres))
    raise ConvergenceError(
        f"{where}: conjugate gradients reached a relative residual of {worst:.3g}, not rtol={rtol:.3g}, "
        f"within maxiter={maxiter} iterations; raise maxiter or rtol, or use method='direct'"
    )


# --------------------------------------------------------------------------------------
# Constant coefficients: Poisson and Helmholtz by the discrete sine transform


class _SineTransformSolver:
    """``-Δ_h u - shift u = f`` with zero Dirichlet data, diagonalised by the DST-I."""

    _name = ""

    def __init__(self, n: int, shift: float) -> None:
        self.n = _check_n(n, self._name)
        self.h = 1.0 / (self.n - 1)
        self._shift = shift

    def solve(self, f: Any) -> Any:
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

    def apply(self, u: Any) -> Any:
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

    def _check_regular(self, xp: Any, dtype: Any, where: str) -> None:
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


def _laplacian_eigenvalues_host(n: int) -> np.ndarray:
    """``h^2 mu_p = 4 sin^2(pi p / (2 (n - 1)))`` for ``p = 1..n-2``, float64."""
    p = np.arange(1, n - 1, dtype=np.float64)
    return 4.0 * np.sin(np.pi * p / (2.0 * (n - 1))) ** 2


def _laplacian_eigenvalues(xp: Any, n: int, scale: float, dtype: Any, device: Any) -> Any:
    """``(mu_p + mu_q) * h^2 / scale`` on ``device``: shape (n-2, n-2)."""
    mu = _laplacian_eigenvalues_host(n) / scale
    host = (mu[:, None] + mu[None, :]).astype(np.float32 if dtype == xp.float32 else np.float64)
    return xp.asarray(host, dtype=dtype, device=device)


@register("dst1_ortho_2d", "numpy")
def _dst1_numpy(xp: Any, x: Any) -> Any:
    import scipy.fft

    return scipy.fft.dstn(x, type=1, axes=(-2, -1), norm="ortho")


@register("dst1_ortho_2d", GENERIC)
def _dst1_generic(xp: Any, x: Any) -> Any:
    """Orthonormal DST-I over the last two axes from the array-API FFT extension."""
    y = xp.matrix_transpose(_dst1_last_axis(xp, x))
    return xp.matrix_transpose(_dst1_last_axis(xp, y))


def _dst1_last_axis(xp: Any, v: Any) -> Any:
    # The odd extension [0, v, 0, -reverse(v)] has the FFT -2i * (unnormalised DST-I of v)
    # at frequencies 1..m.
    m = v.shape[-1]
    zero = xp.zeros((*v.shape[:-1], 1), dtype=v.dtype, device=device_of(v))
    extended = xp.concat([zero, v, zero, -xp.flip(v, axis=-1)], axis=-1)
    spectrum = xp.fft.rfft(extended, axis=-1)[..., 1 : m + 1]
    return (-0.5 * math.sqrt(2.0 / (m + 1))) * xp.imag(spectrum)


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


def _check_field(xp: Any, x: Any, n: int, name: str, where: str) -> Any:
    if x.ndim not in (2, 3) or tuple(x.shape[-2:]) != (n, n):
        raise ValueError(
            f"{where}: {name} must have shape ({n}, {n}) or (batch, {n}, {n}) for n={n}, got {tuple(x.shape)}"
        )
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{where}: {name} must be real floating (float32 or float64), got {x.dtype}")
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{where}: {name} contains NaN or Inf")
    return x


def _check_positive(xp: Any, a: Any, where: str) -> None:
    if not bool(xp.all(a > 0)):
        raise ValueError(
            f"{where}: the coefficient a must be positive everywhere, found min(a) = {float(xp.min(a)):.6g}"
        )


def _same_dtype(x: Any, y: Any, xname: str, yname: str, where: str) -> None:
    if x.dtype != y.dtype:
        raise TypeError(f"{where}: {xname} is {x.dtype} but {yname} is {y.dtype}; convert both to one dtype")


def _source(xp: Any, f: Any, a: Any, n: int, where: str) -> Any:
    """``f`` as an array like ``a``: a number becomes a constant (n, n) field."""
    if _is_number(f):
        if not math.isfinite(float(f)):
            raise ValueError(f"{where}: f must be finite, got {f!r}")
        return xp.full((n, n), float(f), dtype=a.dtype, device=device_of(a))
    f = _check_field(xp, f, n, "f", where)
    _same_dtype(a, f, "a", "f", where)
    return f


def _broadcast_batch(a: Any, f: Any, where: str) -> int:
    batch_a = a.shape[0] if a.ndim == 3 else None
    batch_f = f.shape[0] if f.ndim == 3 else None
    if batch_a is not None and batch_f is not None and batch_a != batch_f:
        raise ValueError(
            f"{where}: a has a batch of {batch_a} samples but f has {batch_f}; "
            "give f one per sample or one (n, n) field"
        )
    return batch_a if batch_a is not None else (batch_f if batch_f is not None else 1)


def _default_rtol(xp: Any, dtype: Any) -> float:
    return 1e-5 if dtype == xp.float32 else 1e-10


def _check_rtol(rtol: Any, where: str) -> None:
    if not _is_number(rtol) or not (0.0 < float(rtol) < 1.0):
        raise ValueError(f"{where}: rtol must be a number in (0, 1), got {rtol!r}")


def _check_maxiter(maxiter: Any, where: str) -> int:
    if isinstance(maxiter, bool) or not isinstance(maxiter, numbers.Integral) or maxiter < 1:
        raise ValueError(f"{where}: maxiter must be a positive integer, got {maxiter!r}")
    return int(maxiter)


def _embed(xp: Any, interior: Any) -> Any:
    """Surround interior values (..., m, m) by a zero boundary: (..., m + 2, m + 2)."""
    shape = tuple(interior.shape)
    device = device_of(interior)
    side = xp.zeros((*shape[:-1], 1), dtype=interior.dtype, device=device)
    rows = xp.concat([side, interior, side], axis=-1)
    cap = xp.zeros((*shape[:-2], 1, shape[-1] + 2), dtype=interior.dtype, device=device)
    return xp.concat([cap, rows, cap], axis=-2)
