r"""Periodic pseudo-spectral reference solvers: 2D incompressible Navier-Stokes in
vorticity form and 1D viscous Burgers.

Both are semilinear, :math:`\partial_t \hat w = L \hat w + N(\hat w)` in Fourier space, with
the diagonal viscous part :math:`L = -\nu |\kappa|^2` (angular wavenumbers
:math:`\kappa = 2\pi k / \ell` on the period :math:`\ell`) and the non-linear part (with any
forcing) evaluated pseudo-spectrally: products on the grid, derivatives in Fourier space,
Orszag's 2/3 rule (modes with :math:`|k_i| \ge n/3` of the product dropped) so no product
of two resolved modes aliases back onto a resolved mode. Time stepping, per step ``dt``:

``"cn-heun"`` (default)
    Crank-Nicolson on :math:`L` and Heun's predictor-corrector (second order, explicit) on
    :math:`N`: two evaluations of :math:`N` per step, second order overall, stateless.
``"cn-euler"``
    Crank-Nicolson on :math:`L`, forward Euler on :math:`N` — the recipe of the FNO
    paper's data generator (first order; one evaluation per step).
``"etdrk4"``
    Cox-Matthews exponential time differencing RK4, the linear part integrated exactly
    (coefficients by Kassam-Trefethen contour means): fourth order, four evaluations per
    step. With :math:`\nu = 0` it is the classical RK4.

Arrays: the state may be NumPy, CuPy, torch (CPU or CUDA) or any array-API library, float32
or float64, with any leading batch axes; results come back in the same library, device and
dtype. Only ``xp.fft`` and elementwise operations run per step.

Bad input fails early: a negative viscosity, an odd or tiny grid, a time that is not a
whole number of steps, an initial state with NaN or Inf values, and a step that breaks
the advective CFL bound ``max_cfl`` (checked on the initial state and at every recorded
snapshot) raise ``ValueError``.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable, TypeAlias, cast

import numpy as np

from physics.pde import _spectral as sp
from tnkit import backend
from tnkit.run import progress as progress_report
from tnkit.types import Array, Namespace

__all__ = ["Burgers1D", "NavierStokes2D", "fno_forcing"]

METHODS = ("cn-heun", "cn-euler", "etdrk4")
_NUMPY_FFT_OUT = np.lib.NumpyVersion(np.__version__) >= "2.0.0"  # numpy.fft functions take out=

# The spectral multipliers for one library, device and dtype by name, and (NumPy only) the
# workspace buffers of each state shape and thread under the key ("ws", shape, thread id).
_Ops: TypeAlias = dict[str | tuple[str, tuple[int, ...], int], Any]
_Workspace: TypeAlias = dict[str, list[np.ndarray]]


def fno_forcing(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The FNO Navier-Stokes forcing ``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))``.

    Parameters
    ----------
    x, y : numpy.ndarray
        Coordinates of the grid points (broadcast together).
    """
    return 0.1 * (np.sin(2 * np.pi * (x + y)) + np.cos(2 * np.pi * (x + y)))


class _Periodic:
    """Shared stepping for ``w_t = L w + N(w)`` with diagonal ``L`` on a periodic grid."""

    dims: int
    name: str
    state: str  # what the solution is called in messages ("vorticity")
    # Only solvers with a NumPy workspace path define it (``_workspace`` checks hasattr).
    _nonlinear_ws: Callable[[Array, _Ops, _Workspace, Array], Array]

    def __init__(self, n: int, nu: float, length: float, dt: float, method: str, dealias: bool, max_cfl: float) -> None:
        self.n = sp.check_grid(n, self.name)
        self.nu = sp.check_positive(nu, "the viscosity nu", self.name, allow_zero=True)
        self.length = sp.check_positive(length, "the period length", self.name)
        self.dt = sp.check_positive(dt, "the time step dt", self.name)
        self.max_cfl = sp.check_positive(max_cfl, "max_cfl", self.name)
        if method not in METHODS:
            raise ValueError(f"{self.name}: method must be one of {METHODS}, got {method!r}")
        self.method = method
        self.dealias = bool(dealias)
        self.dx = self.length / self.n
        self._k = sp.wavenumbers(self.n, self.dims, self.length)
        k2 = cast(np.ndarray, sum(k**2 for k in self._k))  # a sum of arrays
        self._lin = -self.nu * k2
        self._mask = sp.dealias_mask(self.n, self.dims) if self.dealias else np.ones_like(k2)
        self._cache: dict[tuple[str, str, str], _Ops] = {}

    # ------------------------------------------------------------------ host-side set-up
    @property
    def grid(self) -> tuple[np.ndarray, ...]:
        """Grid coordinates (NumPy, ``indexing="ij"``), ``x_j = j * length / n``."""
        x = np.arange(self.n) * self.dx
        return tuple(np.meshgrid(*([x] * self.dims), indexing="ij"))

    def _ops(self, w: Array) -> _Ops:
        """Device copies of the spectral multipliers for ``w``'s library/device/dtype."""
        xp = backend.namespace(w)
        key = (backend.library_name(xp), str(backend.device_of(w)), str(w.dtype))
        ops = self._cache.get(key)
        if ops is None:
            h = self.dt
            hl = h * self._lin
            inv = 1 / (1 - hl / 2)
            # Crank-Nicolson folded: w+ = A w + H N (Euler) or A w + (H / 2)(N0 + N1) (Heun)
            host = {"mask": self._mask, "cn_a": (1 + hl / 2) * inv, "cn_h": h * inv, "cn_h2": (h / 2) * inv}
            if self.method == "etdrk4":
                for name, c in zip(("E", "E2", "Q", "f1", "f2", "f3"), sp.etdrk4_coefficients(self._lin, h)):
                    host[name] = c
            ops = {name: sp.to_device(v, w) for name, v in host.items()}
            ops.update(self._extra_ops(w))
            self._cache = {key: ops}  # one library at a time is the common case
        return ops

    def _extra_ops(self, w: Array) -> _Ops:
        return {}

    # ------------------------------------------------------------------ stepping
    def _axes(self) -> tuple[int, ...]:
        return tuple(range(-self.dims, 0))

    def _fft(self, xp: Namespace, u: Array) -> Array:
        return xp.fft.rfftn(u, axes=self._axes())

    def _ifft(self, xp: Namespace, uh: Array) -> Array:
        return xp.fft.irfftn(uh, s=(self.n,) * self.dims, axes=self._axes())

    def _nonlinear(self, xp: Namespace, wh: Array, ops: _Ops) -> Array:
        raise NotImplementedError

    def _step_hat(self, xp: Namespace, wh: Array, ops: _Ops) -> Array:
        ws = self._workspace(xp, wh, ops)
        if ws is not None:
            return self._step_hat_ws(wh, ops, ws)
        if self.method == "etdrk4":
            nv = self._nonlinear(xp, wh, ops)
            half = ops["E2"] * wh
            a = half + ops["Q"] * nv
            na = self._nonlinear(xp, a, ops)
            b = half + ops["Q"] * na
            nb = self._nonlinear(xp, b, ops)
            c = ops["E2"] * a + ops["Q"] * (2 * nb - nv)
            nc = self._nonlinear(xp, c, ops)
            return ops["E"] * wh + ops["f1"] * nv + 2 * ops["f2"] * (na + nb) + ops["f3"] * nc
        # In-place updates of fresh temporaries (array-API in-place operators): at 512^2 a
        # step is memory-bound and every new 2 MB temporary costs page faults.
        n0 = self._nonlinear(xp, wh, ops)
        decayed = ops["cn_a"] * wh
        pred = ops["cn_h"] * n0
        pred += decayed
        if self.method == "cn-euler":
            return pred
        n1 = self._nonlinear(xp, pred, ops)
        n1 += n0
        n1 *= ops["cn_h2"]
        n1 += decayed
        return n1

    # ------------------------------------------------------------------ workspace path
    # NumPy >= 2 writes FFTs and products into preallocated buffers (``out=``): the same
    # operations in the same order as the generic path (identical numbers), without the
    # allocator's page faults on large temporaries, which otherwise cost as much as the
    # FFTs themselves (NS at 256^2: 2.4 ms a step instead of 5.3 ms). torch gains nothing
    # from it on the CPU (measured) and has a caching allocator on CUDA.
    def _workspace(self, xp: Namespace, wh: Array, ops: _Ops) -> _Workspace | None:
        if (
            self.method == "etdrk4"
            or not hasattr(self, "_nonlinear_ws")
            or backend.library_name(xp) != "numpy"
            or not _NUMPY_FFT_OUT
        ):
            return None
        key = ("ws", tuple(wh.shape), threading.get_ident())  # one workspace per thread
        ws = ops.get(key)
        if ws is None:
            real = tuple(wh.shape[:-1]) + (self.n,)
            ws = {
                "real": [np.empty(real, dtype=ops["mask"].dtype) for _ in range(4)],
                "cplx": [np.empty(wh.shape, dtype=wh.dtype) for _ in range(6)],
            }
            ops[key] = ws
        return ws

    def _step_hat_ws(self, wh: Array, ops: _Ops, ws: _Workspace) -> Array:
        """The Crank-Nicolson steps of :meth:`_step_hat` in workspace buffers. The result
        is one of two alternating buffers, never ``wh`` itself, so ``wh = step(wh)`` loops
        are safe; it is overwritten two calls later."""
        c = ws["cplx"]
        dst = c[5] if wh is c[4] else c[4]
        n0, decayed, pred = c[1], c[2], c[3]
        self._nonlinear_ws(wh, ops, ws, n0)
        np.multiply(ops["cn_a"], wh, out=decayed)
        np.multiply(ops["cn_h"], n0, out=dst if self.method == "cn-euler" else pred)
        if self.method == "cn-euler":
            dst += decayed
            return dst
        pred += decayed
        self._nonlinear_ws(pred, ops, ws, dst)
        dst += n0
        dst *= ops["cn_h2"]
        dst += decayed
        return dst

    def _check_state(self, w: Array, what: str) -> Namespace:
        return sp.real_float(w, self.name, what, (self.n,) * self.dims)

    def _check_cfl(self, xp: Namespace, w: Array, t: float) -> None:
        speed = self.max_speed(w)
        if not math.isfinite(speed):
            raise FloatingPointError(
                f"{self.name}: the solution is not finite at t = {t:.6g} (the time step "
                f"dt = {self.dt:g} is unstable; lower it)"
            )
        cfl = self.dt * speed / self.dx
        if cfl > self.max_cfl:
            raise ValueError(
                f"{self.name}: CFL violation at t = {t:.6g}: dt * max speed / dx = {cfl:.3g} > "
                f"max_cfl = {self.max_cfl:g}; lower dt to <= {self.max_cfl * self.dx / speed:.3g}"
            )

    def max_speed(self, w: Array) -> float:
        """Sum over directions of the largest absolute velocity component (CFL speed).

        Parameters
        ----------
        w : array, shape (..., n, ..., n)
            Real field on the grid (trailing grid axes, any batch axes first).
        """
        raise NotImplementedError

    def _num_steps(self, t: Any, what: str) -> int:
        t = sp.check_positive(t, what, self.name, allow_zero=True)
        steps = round(t / self.dt)
        if abs(steps * self.dt - t) > 1e-9 * max(t, self.dt):
            raise ValueError(f"{self.name}: {what} = {t:g} is not a whole number of steps dt = {self.dt:g}")
        return int(steps)

    def step(self, w: Array, steps: int = 1) -> Array:
        """Advance the state (trailing grid axes, any batch axes first) by ``steps`` steps.

        Parameters
        ----------
        w : array, shape (..., n, ..., n)
            Real field on the grid (trailing grid axes, any batch axes first).
        steps : int, optional
            Number of time steps, >= 0; default 1.
        """
        xp = self._check_state(w, "the state")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"{self.name}: steps must be an int >= 0, got {steps!r}")
        ops = self._ops(w)
        wh = self._fft(xp, w)
        for _ in range(int(steps)):
            wh = self._step_hat(xp, wh, ops)
        return xp.astype(self._ifft(xp, wh), w.dtype)

    def solve(
        self,
        w0: Array,
        t_final: float,
        *,
        snapshots: int = 0,
        progress: bool | None = None,
        callback: Callable[[float, Array], None] | None = None,
    ) -> tuple[Array, Array | None]:
        """Integrate from ``w0`` to ``t_final``.

        The CFL bound is checked on ``w0`` and at each snapshot.

        Parameters
        ----------
        w0 : array, shape (..., n, ..., n)
            Initial real field (trailing grid axes, any batch axes first), finite.
        t_final : float
            End time; ``t_final / dt`` must be a whole number of steps.
        snapshots : int, optional
            Number of equally spaced states after the start (the last at ``t_final``) to
            keep, stacked on a new axis before the grid axes; the steps must split evenly
            into them. Default 0 (none).
        progress : bool, optional
            Progress display; default None: a bar on a terminal, a line every 30 s on a log.
        callback : callable, optional
            ``callback(t, w)`` called at each snapshot (at ``t_final`` when ``snapshots`` is 0).

        Returns
        -------
        w : array
            The state at ``t_final``.
        trajectory : array or None
            The snapshots, None when ``snapshots == 0``.
        """
        xp = self._check_state(w0, "the initial state")
        if not bool(xp.all(xp.isfinite(w0))):
            # Without this the first CFL check would blame the time step for it.
            raise ValueError(f"{self.name}: the initial {self.state} has NaN or Inf values; clean it first")
        total = self._num_steps(t_final, "t_final")
        if isinstance(snapshots, bool) or not isinstance(snapshots, (int, np.integer)) or snapshots < 0:
            raise ValueError(f"{self.name}: snapshots must be an int >= 0, got {snapshots!r}")
        if snapshots and total % snapshots:
            raise ValueError(
                f"{self.name}: {total} steps do not split into {snapshots} equal snapshot "
                f"intervals; choose t_final, dt and snapshots so they do"
            )
        self._check_cfl(xp, w0, 0.0)
        every = total // snapshots if snapshots else max(total, 1)
        ops = self._ops(w0)
        wh = self._fft(xp, w0)
        frames = []
        bar = progress_report(total, self.name, progress, unit="step")
        try:
            for k in range(1, total + 1):
                wh = self._step_hat(xp, wh, ops)
                if bar is not None:
                    bar.update(1)
                if k % every == 0 or k == total:
                    w = xp.astype(self._ifft(xp, wh), w0.dtype)
                    self._check_cfl(xp, w, k * self.dt)
                    if snapshots and k % every == 0:
                        frames.append(w)
                    if callback is not None:
                        callback(k * self.dt, w)
        finally:
            if bar is not None:
                bar.close()
        w_end = xp.astype(self._ifft(xp, wh), w0.dtype)
        traj = xp.stack(frames, axis=w0.ndim - self.dims) if snapshots else None
        return w_end, traj


class NavierStokes2D(_Periodic):
    r"""2D incompressible Navier-Stokes in vorticity form on the periodic square
    :math:`[0, \ell)^2`:

    .. math::
        \partial_t \omega + u \cdot \nabla \omega = \nu \Delta \omega + f, \qquad
        u = (\partial_y \psi, -\partial_x \psi), \qquad -\Delta \psi = \omega,

    the form and conventions of the FNO paper's data (axis -2 is ``x``, axis -1 is ``y``).
    The mean of ``omega`` is conserved; the stream function has zero mean.

    Parameters
    ----------
    n : int
        Grid points per side (even).
    nu : float
        Viscosity (>= 0).
    length : float
        Period (1 for the FNO data, ``2 pi`` for Taylor-Green).
    forcing : array or callable ``f(x, y)`` (NumPy), optional
        Time-independent forcing on the ``n x n`` grid (e.g. :func:`fno_forcing`).
    dt : float
        Time step.
    method : {"cn-heun", "cn-euler", "etdrk4"}
    dealias : bool
        Apply the 2/3 rule to the non-linear term.
    max_cfl : float
        Bound on ``dt (max|u| + max|v|) / dx``.

    Shapes: states ``(..., n, n)``; :meth:`solve` trajectories ``(..., snapshots, n, n)``.

    Examples
    --------
    Taylor-Green decays without changing shape: ``omega = 2 sin x sin y e^{-2 nu t}``.

    >>> import numpy as np
    >>> ns = NavierStokes2D(32, 0.1, length=2 * np.pi, dt=0.01, method="etdrk4")
    >>> x, y = ns.grid
    >>> w, _ = ns.solve(2 * np.sin(x) * np.sin(y), 1.0)
    >>> float(np.abs(w - 2 * np.sin(x) * np.sin(y) * np.exp(-0.2)).max()) < 1e-10
    True
    """

    dims = 2
    name = "NavierStokes2D"
    state = "vorticity"

    def __init__(
        self,
        n: int,
        nu: float,
        *,
        length: float = 1.0,
        forcing: Any = None,
        dt: float = 1e-4,
        method: str = "cn-heun",
        dealias: bool = True,
        max_cfl: float = 1.0,
    ) -> None:
        super().__init__(n, nu, length, dt, method, dealias, max_cfl)
        if forcing is None:
            f = np.zeros((self.n, self.n))
        elif callable(forcing):
            f = np.asarray(forcing(*self.grid), dtype=np.float64)
        else:
            f = np.asarray(
                backend.to_host(forcing) if not isinstance(forcing, np.ndarray) else forcing, dtype=np.float64
            )
        if f.shape != (self.n, self.n):
            raise ValueError(f"{self.name}: forcing must be an ({self.n}, {self.n}) grid, got shape {f.shape}")
        if not np.isfinite(f).all():
            raise ValueError(f"{self.name}: forcing has NaN or Inf values")
        self.forcing = f
        kx, ky = self._k
        k2 = kx**2 + ky**2
        inv = np.zeros_like(k2)
        inv[k2 > 0] = 1 / k2[k2 > 0]
        self._inv_lap = inv  # psi_hat = omega_hat / |k|^2 (zero mean)

    def _extra_ops(self, w: Array) -> _Ops:
        kx, ky = self._k
        return {
            "ikx": sp.to_device(1j * kx, w, complex_=True),
            "iky": sp.to_device(1j * ky, w, complex_=True),
            "u_op": sp.to_device(1j * ky * self._inv_lap, w, complex_=True),  # u = psi_y
            "v_op": sp.to_device(-1j * kx * self._inv_lap, w, complex_=True),  # v = -psi_x
            "f_hat": sp.to_device(np.fft.rfftn(self.forcing) * self._mask, w, complex_=True),
            "neg_mask": sp.to_device(-self._mask, w),
        }

    def _nonlinear(self, xp: Namespace, wh: Array, ops: _Ops) -> Array:
        u = self._ifft(xp, ops["u_op"] * wh)
        v = self._ifft(xp, ops["v_op"] * wh)
        wx = self._ifft(xp, ops["ikx"] * wh)
        wy = self._ifft(xp, ops["iky"] * wh)
        u *= wx
        v *= wy
        u += v
        out = self._fft(xp, u)
        out *= ops["neg_mask"]
        out += ops["f_hat"]
        return out

    def _nonlinear_ws(self, wh: Array, ops: _Ops, ws: _Workspace, out: Array) -> Array:
        """:meth:`_nonlinear` into ``out`` through the workspace buffers."""
        u, v, wx, wy = ws["real"]
        tmp = ws["cplx"][0]
        for op, dst in (("u_op", u), ("v_op", v), ("ikx", wx), ("iky", wy)):
            np.multiply(ops[op], wh, out=tmp)
            np.fft.irfftn(tmp, s=(self.n, self.n), axes=(-2, -1), out=dst)
        u *= wx
        v *= wy
        u += v
        np.fft.rfftn(u, axes=(-2, -1), out=out)
        out *= ops["neg_mask"]
        out += ops["f_hat"]
        return out

    def velocity(self, w: Array) -> tuple[Array, Array]:
        """The velocity ``(u, v)`` of vorticity ``w`` (same shapes).

        Parameters
        ----------
        w : array, shape (..., n, n)
            Vorticity.
        """
        xp = self._check_state(w, "the vorticity")
        ops = self._ops(w)
        wh = self._fft(xp, w)
        return (
            xp.astype(self._ifft(xp, ops["u_op"] * wh), w.dtype),
            xp.astype(self._ifft(xp, ops["v_op"] * wh), w.dtype),
        )

    def max_speed(self, w: Array) -> float:
        xp = backend.namespace(w)
        u, v = self.velocity(w)
        return float(backend.to_host(xp.max(xp.abs(u)) + xp.max(xp.abs(v))))

    def energy(self, w: Array) -> Array:
        """Kinetic energy ``1/2 int |u|^2`` per sample (shape of the batch axes).

        Parameters
        ----------
        w : array, shape (..., n, n)
            Vorticity.
        """
        xp = backend.namespace(w)
        u, v = self.velocity(w)
        return 0.5 * xp.mean(u * u + v * v, axis=(-2, -1)) * self.length**2

    def enstrophy(self, w: Array) -> Array:
        """Enstrophy ``1/2 int omega^2`` per sample.

        Parameters
        ----------
        w : array, shape (..., n, n)
            Vorticity.
        """
        xp = self._check_state(w, "the vorticity")
        return 0.5 * xp.mean(w * w, axis=(-2, -1)) * self.length**2


class Burgers1D(_Periodic):
    r"""1D viscous Burgers equation on the periodic interval :math:`[x_0, x_0 + \ell)`:

    .. math:: \partial_t u + \partial_x (u^2 / 2) = \nu\, \partial_{xx} u,

    the non-linear term in conservative form (the mean of ``u`` is conserved).

    Parameters
    ----------
    n : int
        Grid points (even); ``x_j = x0 + j * length / n``.
    nu : float
        Viscosity (>= 0).
    length, x0 : float
        Period and left end of the interval (FNO: 1 and 0; the Cole-Hopf benchmark on
        ``[-1, 1]``: 2 and -1).
    dt, method, dealias, max_cfl
        As in :class:`NavierStokes2D` (default ``method="etdrk4"``).

    Shapes: states ``(..., n)``; :meth:`solve` trajectories ``(..., snapshots, n)``.

    Examples
    --------
    A small-amplitude mode decays at the linear rate ``nu k^2``:

    >>> import numpy as np
    >>> b = Burgers1D(64, 0.1, length=2 * np.pi, dt=1e-3)
    >>> u, _ = b.solve(1e-8 * np.sin(b.grid[0]), 1.0)
    >>> bool(np.allclose(u, 1e-8 * np.sin(b.grid[0]) * np.exp(-0.1), rtol=0, atol=1e-15))
    True
    """

    dims = 1
    name = "Burgers1D"
    state = "velocity"

    def __init__(
        self,
        n: int,
        nu: float,
        *,
        length: float = 1.0,
        x0: float = 0.0,
        dt: float = 1e-4,
        method: str = "etdrk4",
        dealias: bool = True,
        max_cfl: float = 1.0,
    ) -> None:
        super().__init__(n, nu, length, dt, method, dealias, max_cfl)
        if not isinstance(x0, (int, float, np.integer, np.floating)) or not math.isfinite(float(x0)):
            raise ValueError(f"{self.name}: x0 must be a finite number, got {x0!r}")
        self.x0 = float(x0)

    @property
    def grid(self) -> tuple[np.ndarray, ...]:
        """Grid coordinates ``x_j = x0 + j * dx`` (NumPy), a one-tuple."""
        return (self.x0 + np.arange(self.n) * self.dx,)

    def _extra_ops(self, w: Array) -> _Ops:
        (k,) = self._k
        return {"half_ik": sp.to_device(0.5j * k, w, complex_=True)}

    def _nonlinear(self, xp: Namespace, uh: Array, ops: _Ops) -> Array:
        u = self._ifft(xp, uh)
        return -ops["half_ik"] * self._fft(xp, u * u) * ops["mask"]

    def max_speed(self, w: Array) -> float:
        xp = backend.namespace(w)
        return float(backend.to_host(xp.max(xp.abs(w))))
