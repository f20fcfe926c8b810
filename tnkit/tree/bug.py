"""Basis-update & Galerkin (BUG) integrators for tree tensor networks.

Dynamical low-rank approximation evolves ``dY/dt = F(t, Y)`` for a tensor ``Y`` kept
as a :class:`~tnkit.tree.ttn.TTN` (matrices ``U S V^T`` and Tucker tensors are the trees
``(0, 1)`` and ``(0, ..., d-1)``). One step of size ``h`` solves small ODEs on the
node tensors only:

``method="fixed"`` — fixed-rank BUG [CL22]_
    every basis is updated by a K-step (leaves) or a recursive subflow (inner nodes)
    from the old data, then the connecting tensor is evolved by a Galerkin step in the
    new bases. Robust to small singular values; first order.
``method="adaptive"`` — rank-adaptive BUG [CKL22]_ [CLS23]_
    the new bases are augmented by the old ones (rank up to ``2r``), the Galerkin step
    runs in the augmented bases, and the result is truncated to tolerance ``tol`` (per
    edge, absolute) and ``max_rank``. Norm, energy (up to ``tol``) and the robust
    error bound carry over from the matrix case.
``method="parallel"`` — parallel BUG [CKLS24]_
    all K-steps and all Galerkin steps start from the old data and run concurrently
    (through any ``concurrent.futures.Executor``); the augmented connecting tensors
    are assembled from their results, then truncated as above.
``method="ksl"`` — projector-splitting integrator [LO14]_ [CLW21]_
    the classical baseline: K-step, backward S-step, and finally the C-step, node by
    node (Lie-Trotter; exact for exact low-rank solutions but the backward S-step is
    unstable for strongly dissipative problems).

The small ODEs are solved by classical RK4 (``inner="rk4"``, ``substeps`` per step,
any ``F``) or by the Krylov exponential (``inner="krylov"``, linear ``F`` only;
coefficients frozen at the midpoint of the step, exact for time-independent
operators). ``F`` is a :class:`~tnkit.KronOperator` (linear, applied through a tree
tensor network operator without forming the full tensor; ``-1j * H`` for the
Schrödinger equation) or a callable ``F(t, Y)`` on dense tensors.

References
----------
.. [CL22] G. Ceruti, Ch. Lubich, "An unconventional robust integrator for dynamical
   low-rank approximation", BIT Numer. Math. 62 (2022) 23-44.
.. [CKL22] G. Ceruti, J. Kusch, Ch. Lubich, "A rank-adaptive robust integrator for
   dynamical low-rank approximation", BIT Numer. Math. 62 (2022) 1149-1174.
.. [CLS23] G. Ceruti, Ch. Lubich, D. Sulz, "Rank-adaptive time integration of tree
   tensor networks", SIAM J. Numer. Anal. 61 (2023) 194-222.
.. [CKLS24] G. Ceruti, J. Kusch, Ch. Lubich, D. Sulz, "A parallel basis update and
   Galerkin integrator for tree tensor networks", arXiv:2412.00858 (2024).
.. [LO14] Ch. Lubich, I. Oseledets, "A projector-splitting integrator for dynamical
   low-rank approximation", BIT Numer. Math. 54 (2014) 171-188.
.. [CLW21] G. Ceruti, Ch. Lubich, H. Walach, "Time integration of tree tensor
   networks", SIAM J. Numer. Anal. 59 (2021) 289-313.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tnkit import backend, io
from tnkit.run import Run, as_run, time_steps
from tnkit.tree.bug_schemes import _bug, _check_growth, _ksl, _parallel_bug, _Runner
from tnkit.tree.kron import KronOperator
from tnkit.tree.projectors import DenseProjector, OperatorProjector
from tnkit.tree.ttn import (
    TTN,
    _ttn_from_dict,
    _ttn_to_dict,
)

__all__ = ["integrate", "step", "BUGResult", "Method"]

Method = Literal["adaptive", "fixed", "parallel", "ksl"]
_METHODS = ("adaptive", "fixed", "parallel", "ksl")


@dataclasses.dataclass
class BUGResult:
    """Outcome of :func:`integrate`.

    Attributes
    ----------
    state : TTN
        The state at the final time (orthonormal).
    times : ndarray, shape (n_records,)
        Times of the records (every ``every`` steps, plus the start and the end).
    bond_dims : ndarray, shape (n_records, n_edges)
        Bond dimension of every edge at each record.
    norms : ndarray, shape (n_records,)
        ``||Y(t)||``; its drift measures mass/norm conservation.
    observables : dict of str to ndarray
        One row per record for every observable.
    method : str
        The integrator used.
    seconds : float
        Wall time of the steps (checkpoint writes included).
    steps : int
        Steps taken in this call (a resumed run counts only the new ones).
    """

    state: TTN
    times: np.ndarray
    bond_dims: np.ndarray
    norms: np.ndarray
    observables: dict[str, np.ndarray]
    method: str
    seconds: float
    steps: int

    @property
    def max_bond(self) -> np.ndarray:
        """Largest bond dimension at each record."""
        return self.bond_dims.max(axis=1) if self.bond_dims.size else np.zeros(len(self.times), int)

    @property
    def norm_drift(self) -> float:
        """``max_t | ||Y(t)|| - ||Y(0)|| |``."""
        return float(np.max(np.abs(self.norms - self.norms[0])))


# --------------------------------------------------------------------------------------
# public entry points


def integrate(
    y0: TTN,
    rhs: KronOperator | Callable[[float, Any], Any],
    t_final: float,
    dt: float,
    *,
    method: Method = "adaptive",
    tol: float = 1e-8,
    max_rank: int | None = None,
    inner: Literal["rk4", "krylov"] = "rk4",
    substeps: int = 1,
    t0: float = 0.0,
    observables: Mapping[str, Callable[[float, TTN], Any]] | None = None,
    every: int = 1,
    run: Run | None = None,
) -> BUGResult:
    """Evolve ``dY/dt = F(t, Y)`` from ``t0`` to ``t_final`` in steps of ``dt``.

    Parameters
    ----------
    y0 : TTN
        Initial state (orthonormalised first; promoted to complex when ``F`` is).
    rhs : KronOperator or callable
        ``F``. A :class:`~tnkit.KronOperator` ``A(t)`` means ``F(t, Y) = A(t) Y``; a
        callable gets the dense tensor (shape ``y0.dims``, the state's library) and
        returns one of the same shape.
    t_final, dt : float
        End time and step; the last step is shortened to land on ``t_final``.
    t0 : float
        Start time (default 0).
    method : {"adaptive", "fixed", "parallel", "ksl"}
        See the module docstring.
    tol : float
        Truncation tolerance per edge (absolute, in the Frobenius norm) for the
        rank-adaptive and parallel integrators.
    max_rank : int, optional
        Cap on every bond dimension (adaptive and parallel).
    inner : {"rk4", "krylov"}
        Solver of the small ODEs; Krylov needs a linear ``F``.
    substeps : int
        RK4 steps per integrator step.
    observables : mapping of str to callable, optional
        ``f(t, y)`` evaluated at every record; results are stacked with NumPy.
    every : int
        Record every this many steps.
    run : tnkit.Run, optional
        ``executor``: runs the independent small ODEs of ``method="parallel"``
        concurrently; ``checkpoint``: HDF5 file rewritten (atomically) every
        ``checkpoint_every`` steps (default 10) and at the end; ``resume=True``: continue
        from it when it exists (``y0`` then only fixes library and dtype); ``progress``.

    Returns
    -------
    BUGResult

    Raises
    ------
    ValueError
        Unknown method or inner solver, non-positive ``dt``, negative ``tol``, an
        operator whose dimensions do not match the leaves.
    ConvergenceError
        The inner solver produced NaN/Inf, or (linear ``F``) the norm grew faster than
        the operator's log-norm bound allows: the step is too large for the inner solver.

    Examples
    --------
    A rank-one Schrödinger evolution of two uncoupled spins, against the exact phase:

    >>> import numpy as np
    >>> from tnkit import KronOperator
    >>> from tnkit.tree import Tree, TTN
    >>> x = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> h = KronOperator([2, 2]).add({0: x}).add({1: x})
    >>> up = np.array([1.0, 0.0])
    >>> res = integrate(TTN.product([up, up], Tree.tucker(2)), -1j * h, 1.0, 0.05)
    >>> exact = np.kron(np.array([np.cos(1.0), -1j * np.sin(1.0)]), np.array([np.cos(1.0), -1j * np.sin(1.0)]))
    >>> bool(np.abs(res.state.to_dense().reshape(-1) - exact).max() < 1e-6), res.bond_dims[-1].tolist()
    (True, [1, 1])
    """
    _check_args(method, inner, dt, tol, max_rank, substeps, every, t_final, t0)
    run = as_run(run)
    executor = None if isinstance(run.executor, str) else run.executor  # "serial": no executor
    resume = run.resume_from()
    if not isinstance(y0, TTN):
        raise TypeError(f"integrate: y0 must be a tnkit.tree.ttn.TTN, got {type(y0).__name__}")
    y = _prepare_state(y0, rhs)
    proj = _projector(rhs, y)
    if inner == "krylov" and not proj.linear:
        raise ValueError("integrate: inner='krylov' needs a linear right-hand side (a KronOperator)")
    obs = dict(observables or {})
    times: list[float] = []
    bonds: list[tuple[int, ...]] = []
    norms: list[float] = []
    values: dict[str, list[Any]] = {k: [] for k in obs}
    t = float(t0)
    if resume is not None:
        y, t, times, bonds, norms, values = _load_checkpoint(resume, y, obs)
    else:
        _record(y, t, obs, times, bonds, norms, values)
    schedule = time_steps(t_final - t0, dt, "integrate")
    n_done = min(int(round((t - t0) / dt)), len(schedule)) if resume is not None else 0
    bar = run.bar(len(schedule), f"bug[{method}]", unit="step")
    bar.update(n_done)
    start = time.perf_counter()
    steps = 0
    try:
        for k, (h, t_after) in enumerate(schedule[n_done:], start=n_done + 1):
            norm_before = float(backend.to_host(y.norm()))
            y = step(
                y,
                proj,
                t,
                h,
                method=method,
                tol=tol,
                max_rank=max_rank,
                inner=inner,
                substeps=substeps,
                executor=executor,
            )
            if proj.linear:
                _check_growth(y, norm_before, proj.lognorm_bound(t), h, t, inner)
            t = t0 + t_after
            steps += 1
            last = k == len(schedule)
            if k % every == 0 or last:
                _record(y, t, obs, times, bonds, norms, values)
            if run.checkpoint_due(k, last, default_every=10):
                assert run.checkpoint is not None  # checkpoint_due says so
                _save_checkpoint(run.checkpoint, y, t, times, bonds, norms, values, method)
            bar.update(1)
            bar.set_postfix(max_bond=y.max_bond, refresh=False)
    finally:
        bar.close()
    return BUGResult(
        state=y,
        times=np.asarray(times),
        bond_dims=np.asarray(bonds, dtype=int).reshape(len(bonds), -1),
        norms=np.asarray(norms),
        observables={k_: np.asarray(v) for k_, v in values.items()},
        method=method,
        seconds=time.perf_counter() - start,
        steps=steps,
    )


def step(
    y: TTN,
    rhs: Any,
    t: float,
    dt: float,
    *,
    method: Method = "adaptive",
    tol: float = 1e-8,
    max_rank: int | None = None,
    inner: Literal["rk4", "krylov"] = "rk4",
    substeps: int = 1,
    executor: Executor | None = None,
) -> TTN:
    """One integrator step from ``t`` to ``t + dt`` (see :func:`integrate`).

    Parameters
    ----------
    y : TTN
        State at time ``t``.
    rhs : KronOperator, callable or projector
        ``F`` as in :func:`integrate`, or a projector built once by :func:`integrate`
        (internal reuse).
    t, dt : float
        Start time and step.
    method, tol, max_rank, inner, substeps
        As in :func:`integrate`.
    executor : concurrent.futures.Executor, optional
        Runs the independent small ODEs of ``method="parallel"`` concurrently.

    Returns
    -------
    TTN
        The state at ``t + dt``.
    """
    if not isinstance(y, TTN):
        raise TypeError(f"step: y must be a tnkit.tree.ttn.TTN, got {type(y).__name__}")
    if not isinstance(rhs, (OperatorProjector, DenseProjector)):
        _check_args(method, inner, dt, tol, max_rank, substeps, 1, t + dt, t)
        y = _prepare_state(y, rhs)
        rhs = _projector(rhs, y)
    if not y.orthonormal:
        y = y.orthonormalize()
    run = _Runner(rhs, inner, substeps, t, dt)
    if method == "parallel":
        return _parallel_bug(y, run, tol, max_rank, executor)
    if method == "ksl":
        return _ksl(y, run)
    return _bug(y, run, augment=method == "adaptive", tol=tol, max_rank=max_rank)


# --------------------------------------------------------------------------------------
# inner solvers


# --------------------------------------------------------------------------------------
# shared pieces


# --------------------------------------------------------------------------------------
# fixed-rank and rank-adaptive BUG


# --------------------------------------------------------------------------------------
# parallel BUG


# --------------------------------------------------------------------------------------
# projector splitting (KSL)


# --------------------------------------------------------------------------------------
# arguments, records, checkpoints


def _check_args(
    method: str,
    inner: str,
    dt: float,
    tol: float,
    max_rank: int | None,
    substeps: int,
    every: int,
    t_final: float,
    t0: float,
) -> None:
    if method not in _METHODS:
        raise ValueError(f"bug: unknown method {method!r}; choose one of {', '.join(_METHODS)}")
    if inner not in ("rk4", "krylov"):
        raise ValueError(f"bug: unknown inner solver {inner!r}; choose 'rk4' or 'krylov'")
    if not isinstance(dt, numbers.Real) or not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"bug: dt must be a positive finite number, got {dt!r}")
    if not isinstance(tol, numbers.Real) or not math.isfinite(tol) or tol < 0:
        raise ValueError(f"bug: tol must be a non-negative finite number, got {tol!r}")
    if max_rank is not None and (not isinstance(max_rank, numbers.Integral) or max_rank < 1):
        raise ValueError(f"bug: max_rank must be a positive integer, got {max_rank!r}")
    for name, v in (("substeps", substeps), ("every", every)):
        if not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"bug: {name} must be a positive integer, got {v!r}")
    if not math.isfinite(t_final) or t_final < t0:
        raise ValueError(f"bug: t_final={t_final!r} must be finite and not before t0={t0!r}")


def _prepare_state(y0: TTN, rhs: Any) -> TTN:
    y = y0 if y0.orthonormal else y0.orthonormalize()
    xp = y.xp
    if isinstance(rhs, KronOperator):
        if tuple(rhs.dims) != y.dims:
            raise ValueError(f"bug: operator acts on dims {tuple(rhs.dims)} but the state's leaves have dims {y.dims}")
        if rhs.is_complex and not backend.is_complex_dtype(xp, y.dtype):
            cd = backend.complex_dtype(xp, y.dtype)
            y = TTN(y.tree, [xp.astype(t, cd) for t in y.tensors], orthonormal=True)
    elif not callable(rhs):
        raise TypeError(f"bug: rhs must be a KronOperator or a callable F(t, Y), got {type(rhs).__name__}")
    return y


def _projector(rhs: Any, y: TTN) -> Any:
    if isinstance(rhs, KronOperator):
        return OperatorProjector(rhs, y.tree, y)
    return DenseProjector(rhs, y.tree, y)


def _record(
    y: TTN,
    t: float,
    obs: Mapping[str, Callable[[float, TTN], Any]],
    times: list[float],
    bonds: list[tuple[int, ...]],
    norms: list[float],
    values: dict[str, list[Any]],
) -> None:
    times.append(float(t))
    bonds.append(y.bond_dims)
    norms.append(float(backend.to_host(y.norm())))
    for name, f in obs.items():
        val = f(t, y)
        values[name].append(backend.to_host(val) if not isinstance(val, (numbers.Number, np.ndarray)) else val)


def _save_checkpoint(
    path: str | Path,
    y: TTN,
    t: float,
    times: list[float],
    bonds: list[tuple[int, ...]],
    norms: list[float],
    values: dict[str, list[Any]],
    method: str,
) -> None:
    state = _ttn_to_dict(y)
    state["tensors"] = {k: backend.to_host(v) for k, v in state["tensors"].items()}
    payload = {
        "state": state,
        "t": float(t),
        "times": np.asarray(times, dtype=float),
        "bond_dims": np.asarray(bonds, dtype=np.int64).reshape(len(bonds), -1),
        "norms": np.asarray(norms, dtype=float),
        "observables": {k: np.asarray(v) for k, v in values.items()},
    }
    io.save(
        path, payload, schema="bug_checkpoint", generator={"function": "tnkit.tree.bug.integrate", "method": method}
    )


def _load_checkpoint(path: str | Path, like: TTN, obs: Mapping[str, Any]) -> tuple[Any, ...]:
    data = io.load(path, schema="bug_checkpoint")
    try:
        host = _ttn_from_dict(data["state"])
        t = float(data["t"])
        times = [float(v) for v in np.asarray(data["times"])]
        bonds = [tuple(int(b) for b in row) for row in np.asarray(data["bond_dims"])]
        norms = [float(v) for v in np.asarray(data["norms"])]
        stored = data.get("observables", {})
        values = {k: list(np.asarray(stored[k])) for k in obs}
    except (KeyError, TypeError, ValueError) as exc:
        raise io.DataError(f"{path}: not a complete BUG checkpoint ({type(exc).__name__}: {exc})") from None
    if host.tree != like.tree or host.dims != like.dims:
        raise io.DataError(f"{path}: checkpoint holds a state on another tree or dimensions")
    xp = like.xp
    dtype = like.dtype
    if any(np.iscomplexobj(t) for t in host.tensors) and not backend.is_complex_dtype(xp, dtype):
        dtype = backend.complex_dtype(xp, dtype)
    tensors = [xp.asarray(t, dtype=dtype, device=backend.device_of(like.tensors[0])) for t in host.tensors]
    return TTN(like.tree, tensors, orthonormal=True), t, times, bonds, norms, values
