"""Darcy flow on the unit square: conservative finite differences, sparse LU or conjugate gradients.

See :mod:`physics.pde.elliptic` for the grid, the discretisation and the solvers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from physics.pde.elliptic.dst import _laplacian_eigenvalues
from physics.pde.elliptic.grid import (
    _broadcast_batch,
    _check_field,
    _check_maxiter,
    _check_n,
    _check_positive,
    _check_rtol,
    _default_rtol,
    _embed,
    _is_number,
    _same_dtype,
    _source,
)
from tnkit.backend import device_of, library_name, lookup, namespace, to_host
from tnkit.linalg import ConvergenceError
from tnkit.types import Array, Namespace

__all__ = ["Darcy2D"]

_MEANS = ("harmonic", "arithmetic")
_METHODS = ("direct", "cg")
_PRECONDITIONERS = ("poisson", "jacobi")


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
        a: Array,
        f: Array | float = 1.0,
        *,
        method: str | None = None,
        rtol: float | None = None,
        maxiter: int | None = None,
        preconditioner: str = "poisson",
    ) -> Array:
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

    def apply(self, a: Array, u: Array) -> Array:
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

    def matrix(self, a: Array) -> scipy.sparse.csr_matrix:
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
    def _pick_method(self, xp: Namespace, a: Array, method: str | None, where: str) -> str:
        if method is None:
            lib = library_name(xp)
            on_cpu = lib == "numpy" or (lib == "torch" and str(device_of(a)) == "cpu")
            return "direct" if on_cpu else "cg"
        if method not in _METHODS:
            raise ValueError(f"{where}: method must be one of {_METHODS} or None, got {method!r}")
        return method

    def _solve_direct(self, xp: Namespace, a: Array, rhs: Array) -> Array:
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

    def _solve_cg(
        self, xp: Namespace, a: Array, rhs: Array, batch: int, rtol: float, maxiter: int, preconditioner: str
    ) -> Array:
        ax, ay = _face_coefficients(xp, a, self.mean)
        m = self.n - 2
        b = xp.broadcast_to(rhs[:, 1:-1, 1:-1] * self.h**2, (batch, m, m))
        diagonal = ax[..., :-1, :] + ax[..., 1:, :] + ay[..., :, :-1] + ay[..., :, 1:]

        def operator(v: Array) -> Array:
            return _divergence_form(ax, ay, _embed(xp, v))

        if preconditioner == "poisson" and hasattr(xp, "fft"):
            eig = _laplacian_eigenvalues(xp, self.n, 1.0, a.dtype, device_of(a))
            dst = lookup("dst1_ortho_2d", xp)

            def precondition(r: Array) -> Array:
                return dst(xp, dst(xp, r) / eig)
        else:

            def precondition(r: Array) -> Array:
                return r / diagonal

        u = _pcg(xp, operator, precondition, b, rtol, maxiter, "Darcy2D.solve")
        return _embed(xp, u)


def _face_coefficients(xp: Namespace, a: Array, mean: str) -> tuple[Array, Array]:
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


def _divergence_form(ax: Array, ay: Array, u: Array) -> Array:
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


def _pcg(
    xp: Namespace,
    operator: Callable[[Array], Array],
    precondition: Callable[[Array], Array],
    b: Array,
    rtol: float,
    maxiter: int,
    where: str,
) -> Array:
    """Preconditioned conjugate gradients on a batch ``b`` of shape (batch, m, m).

    Each sample has its own step lengths; a sample that has converged is frozen (zero
    step) while the others go on.
    """

    def dot(u: Array, v: Array) -> Array:
        return xp.sum(u * v, axis=(-2, -1))

    def per_sample(s: Array) -> Array:
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
