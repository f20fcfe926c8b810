"""The uncertain 1D radiative-transfer problem: P_N moments x finite volumes x collocation.

See :mod:`physics.pde.radiative_transfer` for the equations, the discretisation and the setup.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import scipy.special

from physics.pde.radiative_transfer.legendre import _positive_int, legendre_transport_matrix
from tnkit.tree.kron import KronOperator

__all__ = ["DEFAULT_SIZES", "QUICK_SIZES", "RadiativeTransfer1D", "radiative_transfer_problem"]

#: Default sizes: x cells, P_N moments (N + 1), collocation nodes in xi and eta.
DEFAULT_SIZES: dict[str, int] = {"nx": 600, "n_moments": 30, "n_xi": 10, "n_eta": 10}

#: Tiny sizes for tests and doctests (1152 unknowns; the reference solve takes milliseconds).
QUICK_SIZES: dict[str, int] = {"nx": 32, "n_moments": 4, "n_xi": 3, "n_eta": 3}

# Largest r such that the disc |z + r| <= r lies in the stability region of the explicit
# s-stage, order-s Runge-Kutta method (computed numerically, rounded down).
_DISC_RADIUS = {"euler": 1.0, "rk2": 1.0, "rk3": 1.25, "rk4": 1.39}

_BOUNDARIES = ("periodic", "vacuum")

# Above this condition number of a Fourier block's eigenbasis, the reference uses expm instead.
_EIG_COND_LIMIT = 1e6
_STABILIZATIONS = ("roe", "rusanov")


@dataclasses.dataclass(eq=False)
class RadiativeTransfer1D:
    r"""The discretised uncertain radiative-transfer problem ``dY/dt = A Y`` (see the module docs).

    Parameters
    ----------
    nx : int
        Number of spatial cells (at least 3).
    n_moments : int
        Number of :math:`P_N` moments ``N + 1`` (at least 1).
    n_xi, n_eta : int
        Gauss-Legendre collocation nodes in :math:`\xi` and :math:`\eta` (at least 1 each).
    domain : tuple of float
        The slab ``(x_left, x_right)``.
    t_end : float
        Final time (2 in the paper).
    sigma_s_coeffs : tuple of float
        ``(c0, c_xi, c_eta)`` in :math:`\sigma_s = c_0 + c_\xi \xi + c_\eta \eta`; must be
        non-negative on ``[-1, 1]^2``, i.e. ``c0 >= |c_xi| + |c_eta|``.
    sigma_a : float
        Absorption coefficient (non-negative).
    source_width : float
        Standard deviation of the Gaussian initial scalar flux.
    boundary : {"periodic", "vacuum"}
        Periodic cells, or zero ghost cells (no inflow).
    stabilization : {"roe", "rusanov"}
        Numerical viscosity ``|A|`` (Roe) or ``max|eig A| * I`` (Rusanov / local
        Lax-Friedrichs).

    Attributes
    ----------
    operator : KronOperator
        ``A`` on tensors of shape ``dims`` (mode order x, moment, xi, eta).
    initial : numpy.ndarray
        The initial tensor, shape ``dims``.
    dims : tuple of int
        ``(nx, n_moments, n_xi, n_eta)``.
    x, dx : numpy.ndarray, float
        Cell centres and width.
    xi, eta, w_xi, w_eta : numpy.ndarray
        Collocation nodes and probability weights (each weight vector sums to 1).
    sigma_s : numpy.ndarray, shape (n_xi, n_eta)
        The scattering coefficient at the nodes.
    transport_matrix, abs_transport_matrix : numpy.ndarray
        ``A_PN`` and ``|A_PN|``.
    max_speed : float
        ``max |eig(A_PN)|``, the fastest :math:`P_N` wave speed.

    Examples
    --------
    The quick size: five Kronecker terms, mass conserved by the reference solution.

    >>> prob = RadiativeTransfer1D(**QUICK_SIZES)
    >>> prob.dims, prob.operator.num_terms
    ((32, 4, 3, 3), 5)
    >>> ys = prob.reference([0.0, prob.t_end])
    >>> ys.shape
    (2, 32, 4, 3, 3)
    >>> print(f"{prob.mass(ys[0]):.8f} {prob.mass(ys[1]):.8f}")
    1.00000000 1.00000000
    >>> bool(np.linalg.norm(ys[1]) < np.linalg.norm(ys[0]))
    True
    >>> prob.expected_scalar_flux(ys[1]).shape
    (32,)
    """

    nx: int = DEFAULT_SIZES["nx"]
    n_moments: int = DEFAULT_SIZES["n_moments"]
    n_xi: int = DEFAULT_SIZES["n_xi"]
    n_eta: int = DEFAULT_SIZES["n_eta"]
    domain: tuple[float, float] = (-3.0, 3.0)
    t_end: float = 2.0
    sigma_s_coeffs: tuple[float, float, float] = (5.0, 4.0, 1.0)
    sigma_a: float = 0.0
    source_width: float = 0.03
    boundary: str = "periodic"
    stabilization: str = "roe"

    operator: KronOperator = dataclasses.field(init=False, repr=False)
    initial: np.ndarray = dataclasses.field(init=False, repr=False)
    x: np.ndarray = dataclasses.field(init=False, repr=False)
    dx: float = dataclasses.field(init=False, repr=False)
    xi: np.ndarray = dataclasses.field(init=False, repr=False)
    eta: np.ndarray = dataclasses.field(init=False, repr=False)
    w_xi: np.ndarray = dataclasses.field(init=False, repr=False)
    w_eta: np.ndarray = dataclasses.field(init=False, repr=False)
    sigma_s: np.ndarray = dataclasses.field(init=False, repr=False)
    transport_matrix: np.ndarray = dataclasses.field(init=False, repr=False)
    abs_transport_matrix: np.ndarray = dataclasses.field(init=False, repr=False)
    max_speed: float = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.nx = _positive_int(self.nx, "nx", minimum=3)
        self.n_moments = _positive_int(self.n_moments, "n_moments")
        self.n_xi = _positive_int(self.n_xi, "n_xi")
        self.n_eta = _positive_int(self.n_eta, "n_eta")
        self._validate_reals()
        if self.boundary not in _BOUNDARIES:
            raise ValueError(f"RadiativeTransfer1D: boundary must be one of {_BOUNDARIES}, got {self.boundary!r}")
        if self.stabilization not in _STABILIZATIONS:
            raise ValueError(
                f"RadiativeTransfer1D: stabilization must be one of {_STABILIZATIONS}, got {self.stabilization!r}"
            )

        left, right = self.domain
        self.dx = (right - left) / self.nx
        self.x = left + (np.arange(self.nx) + 0.5) * self.dx

        nodes, weights = np.polynomial.legendre.leggauss(self.n_xi)
        self.xi, self.w_xi = nodes, weights / 2.0
        nodes, weights = np.polynomial.legendre.leggauss(self.n_eta)
        self.eta, self.w_eta = nodes, weights / 2.0
        c0, c_xi, c_eta = self.sigma_s_coeffs
        self.sigma_s = c0 + c_xi * self.xi[:, None] + c_eta * self.eta[None, :]

        a = legendre_transport_matrix(self.n_moments)
        evals, evecs = np.linalg.eigh(a)
        self.transport_matrix = a
        self.abs_transport_matrix = (evecs * np.abs(evals)) @ evecs.T
        self.max_speed = float(np.max(np.abs(evals))) if self.n_moments > 1 else 0.0

        self.operator = self._build_operator()
        self.initial = self._build_initial()

    # ------------------------------------------------------------------ construction
    def _validate_reals(self) -> None:
        try:
            left, right = (float(v) for v in self.domain)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"RadiativeTransfer1D: domain must be two numbers, got {self.domain!r}") from exc
        if not (math.isfinite(left) and math.isfinite(right) and left < right):
            raise ValueError(f"RadiativeTransfer1D: domain must be finite with left < right, got {self.domain!r}")
        self.domain = (left, right)
        coeffs = tuple(float(c) for c in self.sigma_s_coeffs)
        if len(coeffs) != 3 or not all(math.isfinite(c) for c in coeffs):
            raise ValueError(
                f"RadiativeTransfer1D: sigma_s_coeffs must be three finite numbers (c0, c_xi, c_eta), "
                f"got {self.sigma_s_coeffs!r}"
            )
        if coeffs[0] < abs(coeffs[1]) + abs(coeffs[2]):
            raise ValueError(
                "RadiativeTransfer1D: sigma_s = c0 + c_xi*xi + c_eta*eta must be non-negative on [-1, 1]^2 "
                f"(c0 >= |c_xi| + |c_eta|), got {coeffs}"
            )
        self.sigma_s_coeffs = coeffs  # a 3-tuple: the length is checked above
        for name in ("t_end", "sigma_a", "source_width"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ValueError(f"RadiativeTransfer1D: {name} must be finite, got {value}")
            setattr(self, name, value)
        if self.t_end <= 0:
            raise ValueError(f"RadiativeTransfer1D: t_end must be positive, got {self.t_end}")
        if self.sigma_a < 0:
            raise ValueError(f"RadiativeTransfer1D: sigma_a must be non-negative, got {self.sigma_a}")
        if self.source_width <= 0:
            raise ValueError(f"RadiativeTransfer1D: source_width must be positive, got {self.source_width}")

    def _difference_matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """Central first difference ``D_x`` and the stabilising ``L_x = tridiag(1,-2,1)/(2 dx)``."""
        n, h = self.nx, self.dx
        up = np.eye(n, k=1)
        down = np.eye(n, k=-1)
        if self.boundary == "periodic":
            up[n - 1, 0] = 1.0
            down[0, n - 1] = 1.0
        d_x = (up - down) / (2.0 * h)
        l_x = (up + down - 2.0 * np.eye(n)) / (2.0 * h)
        return d_x, l_x

    def _build_operator(self) -> KronOperator:
        d_x, l_x = self._difference_matrices()
        op = KronOperator(self.dims)
        op.add({0: d_x, 1: self.transport_matrix}, coef=-1.0)
        if self.stabilization == "roe":
            op.add({0: l_x, 1: self.abs_transport_matrix})
        else:
            op.add({0: l_x}, coef=self.max_speed)
        neg_s = -self._scattering_projector()
        c0, c_xi, c_eta = self.sigma_s_coeffs
        if c0 != 0:
            op.add({1: neg_s}, coef=c0)
        if c_xi != 0:
            op.add({1: neg_s, 2: np.diag(self.xi)}, coef=c_xi)
        if c_eta != 0:
            op.add({1: neg_s, 3: np.diag(self.eta)}, coef=c_eta)
        if self.sigma_a != 0:
            op.add({1: np.eye(self.n_moments)}, coef=-self.sigma_a)
        return op

    def _scattering_projector(self) -> np.ndarray:
        s = np.eye(self.n_moments)
        s[0, 0] = 0.0
        return s

    def _build_initial(self) -> np.ndarray:
        left, right = self.domain
        centre = 0.5 * (left + right)
        edges = left + np.arange(self.nx + 1) * self.dx
        cdf = 0.5 * scipy.special.erfc(-(edges - centre) / (self.source_width * math.sqrt(2.0)))
        phi0 = np.diff(cdf) / self.dx  # exact cell averages of the unit-mass Gaussian
        y = np.zeros(self.dims)
        y[:, 0, :, :] = (phi0 / math.sqrt(2.0))[:, None, None]
        return y

    # ------------------------------------------------------------------ queries
    @property
    def dims(self) -> tuple[int, int, int, int]:
        """``(nx, n_moments, n_xi, n_eta)``."""
        return (self.nx, self.n_moments, self.n_xi, self.n_eta)

    @property
    def size(self) -> int:
        """Number of unknowns ``prod(dims)``."""
        return int(np.prod(self.dims))

    def scalar_flux(self, y: Any) -> np.ndarray:
        r"""The scalar flux :math:`\phi = \sqrt2 u_0` at every cell and node, shape ``(..., nx, n_xi, n_eta)``.

        Leading batch axes (e.g. the time axis of :meth:`reference`) are kept.

        Parameters
        ----------
        y : array or TTN, shape (..., nx, n_moments, n_xi, n_eta)
            Solution tensor (anything with ``to_dense()`` is densified), leading batch axes
            allowed.
        """
        arr = self._check_tensor(y, "scalar_flux")
        return math.sqrt(2.0) * arr[..., :, 0, :, :]

    def expected_scalar_flux(self, y: Any) -> np.ndarray:
        r"""The expectation :math:`E[\phi](x_j)` over :math:`(\xi, \eta)`, shape ``(..., nx)``.

        Uses the collocation (Gauss-Legendre probability) weights.

        Parameters
        ----------
        y : array or TTN, shape (..., nx, n_moments, n_xi, n_eta)
            Solution tensor (anything with ``to_dense()`` is densified), leading batch axes
            allowed.

        Examples
        --------
        >>> prob = RadiativeTransfer1D(**QUICK_SIZES)
        >>> print(f"{float(np.sum(prob.expected_scalar_flux(prob.initial)) * prob.dx):.6f}")
        1.000000
        """
        phi = self.scalar_flux(y)
        return np.einsum("...jik,i,k->...j", phi, self.w_xi, self.w_eta)

    def variance_scalar_flux(self, y: Any) -> np.ndarray:
        r"""The variance :math:`\mathrm{Var}[\phi](x_j)` over :math:`(\xi, \eta)`, shape ``(..., nx)``.

        Parameters
        ----------
        y : array or TTN, shape (..., nx, n_moments, n_xi, n_eta)
            Solution tensor (anything with ``to_dense()`` is densified), leading batch axes
            allowed.

        Examples
        --------
        >>> prob = RadiativeTransfer1D(**QUICK_SIZES)
        >>> bool(np.max(prob.variance_scalar_flux(prob.initial)) < 1e-30)  # deterministic initial data
        True
        """
        phi = self.scalar_flux(y)
        mean = np.einsum("...jik,i,k->...j", phi, self.w_xi, self.w_eta)
        dev = phi - mean[..., :, None, None]
        return np.einsum("...jik,i,k->...j", dev * dev, self.w_xi, self.w_eta)

    def mass(self, y: Any) -> float | np.ndarray:
        r"""Total mass :math:`dx \sum_j E[\phi](x_j)`: a float, or one per leading batch index.

        Conserved exactly for ``boundary="periodic"`` and ``sigma_a = 0``; multiplied by
        ``exp(-sigma_a t)`` for constant absorption; with ``boundary="vacuum"`` it can only
        decrease (outflow through the boundary).

        Parameters
        ----------
        y : array or TTN, shape (..., nx, n_moments, n_xi, n_eta)
            Solution tensor (anything with ``to_dense()`` is densified), leading batch axes
            allowed.
        """
        total = self.dx * np.sum(self.expected_scalar_flux(y), axis=-1)
        return float(total) if np.ndim(total) == 0 else total

    def cfl_dt(self, method: str = "rk4", safety: float = 0.9) -> float:
        r"""A stable explicit time step for the semi-discretisation.

        For each Fourier mode and each :math:`P_N` speed :math:`\lambda` the transport part has
        the eigenvalue :math:`(|\lambda|/dx)(e^{\pm i\theta} - 1)` (Roe; Rusanov lies inside
        the circle of the largest speed), a circle of radius :math:`\lambda_{max}/dx` through
        the origin; scattering and absorption shift it left by at most
        :math:`\sigma_{max} + \sigma_a`. All of it lies in the disc :math:`|z + R| \le R`
        with :math:`R = \lambda_{max}/dx + (\sigma_{max} + \sigma_a)/2`, and
        ``dt * R <= r_method`` keeps that disc inside the method's stability region
        (``r = 1`` for Euler and RK2, 1.25 for RK3, 1.39 for RK4).

        Parameters
        ----------
        method : {"euler", "rk2", "rk3", "rk4"}
            Explicit Runge-Kutta method of that order (classical RK4 by default).
        safety : float
            Factor in ``(0, 1]`` applied to the limit.

        Returns
        -------
        float

        Examples
        --------
        >>> prob = RadiativeTransfer1D(**QUICK_SIZES)
        >>> dt = prob.cfl_dt()
        >>> bool(0 < dt < prob.cfl_dt("rk4", safety=1.0)), bool(prob.cfl_dt("euler") < dt)
        (True, True)
        """
        if method not in _DISC_RADIUS:
            raise ValueError(f"cfl_dt: method must be one of {tuple(_DISC_RADIUS)}, got {method!r}")
        if not (isinstance(safety, numbers.Real) and 0 < safety <= 1):
            raise ValueError(f"cfl_dt: safety must be in (0, 1], got {safety!r}")
        radius = self.max_speed / self.dx + 0.5 * (float(np.max(self.sigma_s)) + self.sigma_a)
        if radius == 0:
            return math.inf
        return float(safety) * _DISC_RADIUS[method] / radius

    # ------------------------------------------------------------------ reference
    def reference(self, times: float | Sequence[float] | np.ndarray, method: str = "auto") -> np.ndarray:
        r"""Full-rank reference solution ``exp(t A) Y0`` of the same discretisation.

        Parameters
        ----------
        times : float or sequence of float
            Non-negative times, in any order.
        method : {"auto", "fourier", "blocks", "sparse"}
            All four compute the same ``exp(t A) Y0`` up to round-off.
            ``"fourier"`` (periodic boundary only) uses that ``A`` is block diagonal in the
            collocation nodes and, being circulant in ``x``, in the discrete Fourier modes:
            an eigendecomposition of the ``n_moments``-sized block of every mode and node
            (:func:`scipy.linalg.expm` where an eigenbasis is ill-conditioned).
            ``"blocks"`` runs one :func:`scipy.sparse.linalg.expm_multiply` per node
            ``(xi_i, eta_k)`` on its ``nx * n_moments`` sparse block (any boundary).
            ``"sparse"`` applies ``expm_multiply`` to the whole ``operator.to_sparse()``
            (tiny sizes only; a cross-check). ``"auto"`` picks ``"fourier"`` for the
            periodic boundary and ``"blocks"`` otherwise. At :data:`DEFAULT_SIZES`,
            ``"fourier"`` takes seconds, ``"blocks"`` several minutes.

        Returns
        -------
        numpy.ndarray
            Shape ``dims`` for a scalar ``times``, else ``(len(times), *dims)``.

        Raises
        ------
        ValueError
            Negative or non-finite times, or an unknown method.
        """
        scalar = np.ndim(times) == 0
        t = np.atleast_1d(np.asarray(times, dtype=float))
        if t.ndim != 1:
            raise ValueError(f"reference: times must be a number or a 1-D sequence, got shape {np.shape(times)}")
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            raise ValueError(f"reference: times must be finite and non-negative, got {t}")
        if method == "auto":
            method = "fourier" if self.boundary == "periodic" else "blocks"
        if method == "fourier":
            if self.boundary != "periodic":
                raise ValueError("reference: method 'fourier' needs boundary='periodic'")
            out = self._reference_fourier(t)
        elif method == "blocks":
            out = self._reference_blocks(t)
        elif method == "sparse":
            out = self._reference_sparse(t)
        else:
            raise ValueError(f"reference: method must be 'auto', 'fourier', 'blocks' or 'sparse', got {method!r}")
        return out[0] if scalar else out

    def _propagate(self, matrix: Any, v0: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``exp(t_k M) v0`` for every ``t_k``, stepping through the sorted distinct times."""
        order = np.argsort(t, kind="stable")
        out = np.empty((t.size, v0.size))
        current, t_now = v0, 0.0
        for idx in order:
            step = t[idx] - t_now
            if step > 0:
                current = scipy.sparse.linalg.expm_multiply(step * matrix, current)
                t_now = t[idx]
            out[idx] = current
        return out

    def _reference_fourier(self, t: np.ndarray) -> np.ndarray:
        # Periodic D_x and L_x are circulant: on the Fourier mode exp(i theta j) they act as
        # i sin(theta)/dx and (cos(theta) - 1)/dx. Each mode and node is an n_moments system.
        theta = 2.0 * np.pi * np.arange(self.nx // 2 + 1) / self.nx
        stab = self.abs_transport_matrix if self.stabilization == "roe" else self.max_speed * np.eye(self.n_moments)
        modes = (-1j * np.sin(theta) / self.dx)[:, None, None] * self.transport_matrix + (
            (np.cos(theta) - 1.0) / self.dx
        )[:, None, None] * stab
        projector = self._scattering_projector()
        identity = np.eye(self.n_moments)
        out = np.empty((t.size, *self.dims))
        for i in range(self.n_xi):
            for k in range(self.n_eta):
                block = modes - self.sigma_s[i, k] * projector - self.sigma_a * identity
                start = np.fft.rfft(self.initial[:, :, i, k], axis=0)  # (n_modes, n_moments)
                # Eigendecomposition per mode (the blocks are small and well conditioned in
                # practice); modes with an ill-conditioned eigenbasis fall back to expm.
                evals, evecs = np.linalg.eig(block)
                bad = np.linalg.cond(evecs) > _EIG_COND_LIMIT
                evecs[bad] = identity
                coeffs = np.linalg.solve(evecs, start[..., None])[..., 0]
                for idx, time in enumerate(t):
                    if time == 0:
                        out[idx, :, :, i, k] = self.initial[:, :, i, k]
                        continue
                    current = np.einsum("mab,mb->ma", evecs, np.exp(time * evals) * coeffs)
                    if np.any(bad):
                        current[bad] = np.einsum("mab,mb->ma", scipy.linalg.expm(time * block[bad]), start[bad])
                    out[idx, :, :, i, k] = np.fft.irfft(current, n=self.nx, axis=0)
        return out

    def _reference_blocks(self, t: np.ndarray) -> np.ndarray:
        d_x, l_x = self._difference_matrices()
        csr = scipy.sparse.csr_matrix
        kron = scipy.sparse.kron
        stab = self.abs_transport_matrix if self.stabilization == "roe" else self.max_speed * np.eye(self.n_moments)
        transport = (kron(csr(-d_x), csr(self.transport_matrix)) + kron(csr(l_x), csr(stab))).tocsr()
        projector = kron(scipy.sparse.identity(self.nx), csr(self._scattering_projector())).tocsr()
        identity = scipy.sparse.identity(self.nx * self.n_moments, format="csr")
        out = np.empty((t.size, *self.dims))
        for i in range(self.n_xi):
            for k in range(self.n_eta):
                block = (transport - self.sigma_s[i, k] * projector - self.sigma_a * identity).tocsr()
                v0 = self.initial[:, :, i, k].ravel()
                out[:, :, :, i, k] = self._propagate(block, v0, t).reshape(t.size, self.nx, self.n_moments)
        return out

    def _reference_sparse(self, t: np.ndarray) -> np.ndarray:
        matrix = self.operator.to_sparse()
        return self._propagate(matrix, self.initial.ravel(), t).reshape(t.size, *self.dims)

    def _check_tensor(self, y: Any, where: str) -> np.ndarray:
        if hasattr(y, "to_dense") and not isinstance(y, np.ndarray):
            y = y.to_dense()
        arr = np.asarray(y)
        if arr.ndim < 4 or arr.shape[-4:] != self.dims:
            raise ValueError(f"{where}: expected a tensor of shape (..., {self.dims}), got {arr.shape}")
        return arr


def radiative_transfer_problem(
    nx: int = DEFAULT_SIZES["nx"],
    n_moments: int = DEFAULT_SIZES["n_moments"],
    n_xi: int = DEFAULT_SIZES["n_xi"],
    n_eta: int = DEFAULT_SIZES["n_eta"],
    *,
    quick: bool = False,
    **kwargs: Any,
) -> RadiativeTransfer1D:
    """Build :class:`RadiativeTransfer1D`; ``quick=True`` takes :data:`QUICK_SIZES` instead.

    Parameters
    ----------
    nx : int, optional
        Number of spatial cells; default :data:`DEFAULT_SIZES` (600).
    n_moments : int, optional
        Number of :math:`P_N` moments; default 30.
    n_xi, n_eta : int, optional
        Gauss-Legendre collocation nodes in ``xi`` and ``eta``; default 10 each.
    quick : bool, optional
        Take the sizes of :data:`QUICK_SIZES` (32, 4, 3, 3) and ignore the four above;
        default False.
    **kwargs
        ``domain``, ``t_end``, ``sigma_s_coeffs``, ``sigma_a``, ``source_width``,
        ``boundary``, ``stabilization``: passed on to :class:`RadiativeTransfer1D`.

    Raises
    ------
    ValueError
        Invalid sizes or parameters, e.g. ``n_moments < 1``.

    Examples
    --------
    >>> prob = radiative_transfer_problem(quick=True, sigma_a=0.5)
    >>> prob.dims, prob.operator.num_terms
    ((32, 4, 3, 3), 6)
    >>> y = prob.reference(1.0)
    >>> print(f"{prob.mass(y):.6f} {np.exp(-0.5):.6f}")
    0.606531 0.606531
    >>> radiative_transfer_problem(n_moments=0)
    Traceback (most recent call last):
    ...
    ValueError: RadiativeTransfer1D: n_moments must be an integer >= 1, got 0
    """
    if quick:
        nx, n_moments, n_xi, n_eta = (QUICK_SIZES[k] for k in ("nx", "n_moments", "n_xi", "n_eta"))
    return RadiativeTransfer1D(nx=nx, n_moments=n_moments, n_xi=n_xi, n_eta=n_eta, **kwargs)
