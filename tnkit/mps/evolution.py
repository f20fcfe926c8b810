"""What TEBD and TDVP share: the time grid, input checks, the result record and the
measurements taken along a trajectory.

Measurements are taken on a copy of the state (same tensors, own list), so moving its
orthogonality centre never disturbs the gauge or the environments an integrator keeps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Union

import numpy as np

from tnkit import backend, io
from tnkit.mps.mpo import MPO
from tnkit.mps.mps import MPS
from tnkit.mps.opsum import OpSum

__all__ = ["EvolutionResult", "ObservableSpec"]

#: An observable is ``callable(psi) -> value``, a one-site operator (measured on every
#: site), or ``(operator, sites)`` with ``sites`` an int, a sequence of ints or None (all).
ObservableSpec = Union[Callable[[MPS], Any], Any, tuple[Any, Any]]


@dataclasses.dataclass
class EvolutionResult:
    """A trajectory recorded by :func:`tnkit.tebd` or :func:`tnkit.tdvp`.

    Every list has one entry per recorded time: ``t = 0`` and the end of every step.

    Attributes
    ----------
    times : list of float
    observables : dict of str to list
        For a one-site operator, arrays of shape ``(n_sites,)`` (or 0-d for a single
        site) in the state's library, real when the operator is Hermitian; for a
        callable, whatever it returned.
    energies : list of float
        ``Re <psi|H|psi>`` (normalised), from the MPO.
    norms : list of float
        ``||psi||`` (TEBD renormalises after every gate, TDVP is norm-conserving).
    max_bonds : list of int
        Largest bond dimension of the state.
    discarded : list of float
        Discarded weight (sum over the truncations of the step, each relative to the
        norm squared); 0 at ``t = 0``.
    step_seconds : list of float
        Wall time of each step, measurements excluded (0 at ``t = 0``).
    state : MPS
        The final state.
    """

    times: list[float]
    observables: dict[str, list[Any]]
    energies: list[float]
    norms: list[float]
    max_bonds: list[int]
    discarded: list[float]
    step_seconds: list[float]
    state: MPS

    @property
    def total_discarded(self) -> float:
        """Sum of the discarded weights of all steps."""
        return float(sum(self.discarded))

    @property
    def energy_drift(self) -> float:
        """``max_t |E(t) - E(0)|``."""
        return max((abs(e - self.energies[0]) for e in self.energies), default=0.0)

    def observable(self, name: str) -> np.ndarray:
        """The recorded values of ``name`` as a host array, shape ``(n_times, ...)``.

        Parameters
        ----------
        name : str
            Name of a recorded observable.
        """
        if name not in self.observables:
            raise KeyError(f"no observable {name!r} recorded; have {sorted(self.observables)}")
        values = self.observables[name]
        return np.stack([_host(v) for v in values])

    def plot(self, path: str | Path | None = None, *, fig: Any = None) -> Any:
        """The trajectory at a glance: observables, norm, energy drift and bond dimension.

        One panel per recorded observable (a one-site operator measured on several
        sites gives one line per site; complex values plot their real part), then
        ``|1 - ||psi|| |``, ``|E(t) - E(0)|`` and the largest bond dimension (with the
        discarded weight of each step when anything was discarded), all against time.

        Parameters
        ----------
        path : path, optional
            Write the figure there as a PNG (atomically, :func:`tnkit.io.atomic_write`)
            and return the path; without it, return the figure.
        fig : matplotlib.figure.Figure, optional
            An empty figure to draw on, e.g. ``plt.figure()`` so that pyplot (a script's
            ``plt.show()``, a notebook, sphinx-gallery) shows it. By default a new figure
            outside pyplot's state, which needs no display.

        Returns
        -------
        matplotlib.figure.Figure or pathlib.Path

        Examples
        --------
        >>> import tnkit
        >>> h = tnkit.mps.models.heisenberg(4)
        >>> psi0 = tnkit.MPS.product([0, 1, 0, 1], local_dim=2)
        >>> sz = tnkit.mps.models.spin_operators()["z"]
        >>> res = tnkit.tdvp(psi0, h, 0.4, 0.1, max_bond=4, observables={"sz": sz})
        >>> [ax.get_ylabel() for ax in res.plot().axes]
        ['sz', '|1 - norm|', '|E(t) - E(0)|', 'max bond dim']
        """
        times = np.asarray(self.times, dtype=float)
        panels = len(self.observables) + 3
        fig = new_figure(figsize=(7.0, 1.9 * panels), into=fig)
        axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
        for ax, name in zip(axes, self.observables):
            values = self.observable(name).real.reshape(len(times), -1)
            for column in range(values.shape[1]):
                ax.plot(times, values[:, column], lw=1.0)
            ax.set_ylabel(name)
        ax_norm, ax_energy, ax_bond = axes[-3:]
        plot_positive(ax_norm, times, np.abs(1.0 - np.asarray(self.norms)))
        ax_norm.set_ylabel("|1 - norm|")
        energies = np.asarray(self.energies, dtype=float)
        plot_positive(ax_energy, times, np.abs(energies - energies[0]))
        ax_energy.set_ylabel("|E(t) - E(0)|")
        ax_bond.step(times, self.max_bonds, where="post", color="C0")
        ax_bond.set_ylabel("max bond dim")
        if any(w > 0 for w in self.discarded):
            twin = ax_bond.twinx()
            plot_positive(twin, times, np.asarray(self.discarded), ".", color="C3", ms=3)
            twin.set_ylabel("discarded weight", color="C3")
        ax_bond.set_xlabel("time")
        for ax in axes:
            ax.grid(True, alpha=0.3)
        fig.tight_layout()
        return fig if path is None else save_figure(fig, path)


def _host(v: Any) -> np.ndarray:
    if isinstance(v, (int, float, complex, np.number, np.ndarray)):
        return np.asarray(v)
    try:
        return backend.to_host(v)
    except TypeError:
        return np.asarray(v)


# ---------------------------------------------------------------------- plots


def new_figure(figsize: tuple[float, float], into: Any = None) -> Any:
    """A Matplotlib figure on the Agg canvas (no pyplot state, no display needed), or ``into``.

    ``into`` is a caller's empty figure to draw on (``plt.figure()``, so that pyplot, a
    notebook or sphinx-gallery shows it); it is resized to ``figsize``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # optional and slow: only when plotting
    from matplotlib.figure import Figure

    if into is not None:
        if not isinstance(into, Figure):
            raise TypeError(f"plot: fig must be a matplotlib Figure (e.g. plt.figure()), not {type(into).__name__}")
        if into.axes:
            raise ValueError("plot: fig already has axes; pass an empty figure (plt.figure())")
        into.set_size_inches(*figsize)
        return into
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def plot_positive(ax: Any, x: Any, y: Any, *fmt: str, **kwargs: Any) -> None:
    """Plot ``y >= 0`` on a log axis, leaving out exact zeros (a linear axis if all are zero).

    Deviations of round-off size (norm, energy drift, discarded weight) span many decades;
    an exact zero has no place on a log axis and is left as a gap.
    """
    y = np.asarray(y, dtype=float)
    positive = y > 0
    if not fmt:
        kwargs.setdefault("marker", ".")  # a point between two zeros has no line to show it
    if positive.any():
        ax.set_yscale("log")
        ax.plot(x, np.where(positive, y, np.nan), *fmt, **kwargs)
    else:
        ax.plot(x, y, *fmt, **kwargs)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` in one atomic rename; returns the path."""
    path = Path(path)
    with io.atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


# ---------------------------------------------------------------------- input checks


def check_dims(psi: MPS, dims: list[int] | tuple[int, ...], what: str, fname: str) -> None:
    """One-line ValueError naming the first site whose physical dimension differs."""
    if not isinstance(psi, MPS):
        raise TypeError(f"{fname}: psi must be a tnkit.MPS, got {type(psi).__name__}")
    if len(dims) != psi.length:
        raise ValueError(f"{fname}: the {what} has {len(dims)} sites but the state has {psi.length}")
    for i, (dh, dp) in enumerate(zip(dims, psi.local_dims)):
        if dh != dp:
            raise ValueError(
                f"{fname}: physical dimension mismatch at site {i}: the {what} has {dh}, the state has {dp}"
            )


def evolution_dtype(xp: Any, psi: MPS, h_complex: bool, real_time: bool) -> Any:
    """The state's dtype, promoted to complex for real-time evolution or complex H."""
    if real_time or h_complex:
        return backend.complex_dtype(xp, psi.dtype)
    return psi.dtype


def energy_mpo(h: MPO | OpSum, psi: MPS, dtype: Any) -> MPO:
    """``h`` as an MPO in the state's library, device and ``dtype``."""
    xp = psi.xp
    if isinstance(h, OpSum):
        name = backend.dtype_name(xp, dtype)
        return MPO.from_opsum(h, like=psi.tensors[0], dtype=name)
    backend.namespace(h.tensors[0], psi.tensors[0])  # same library and device, or TypeError
    if h.dtype == dtype:
        return h
    if backend.is_complex_dtype(xp, h.dtype) and not backend.is_complex_dtype(xp, dtype):
        raise ValueError("the MPO is complex but the evolution is in real arithmetic; pass a complex state")
    return MPO([xp.astype(w, dtype) for w in h.tensors], opsum=h.opsum)


def promote(psi: MPS, dtype: Any) -> MPS:
    """A copy of ``psi`` in ``dtype`` (tensors shared when the dtype already matches)."""
    xp = psi.xp
    if psi.dtype == dtype:
        return psi.copy()
    return MPS([xp.astype(t, dtype) for t in psi.tensors], center=psi.center)


# ---------------------------------------------------------------------- recording


@dataclasses.dataclass
class _Local:
    op: Any
    sites: Any  # None (all), int, or list of int
    hermitian: bool


class Recorder:
    """Measures a trajectory: observables, energy, norm, bond dimension, truncation."""

    def __init__(
        self,
        psi: MPS,
        h: MPO,
        observables: Mapping[str, ObservableSpec] | None,
        fname: str,
    ) -> None:
        self.h = h
        self.specs: dict[str, Callable[[MPS], Any] | _Local] = {}
        if observables is not None and not isinstance(observables, Mapping):
            raise TypeError(
                f"{fname}: observables must be a dict of name -> operator (or callable), got "
                f"{type(observables).__name__}; e.g. observables={{'sz': sz}}"
            )
        for name, spec in (observables or {}).items():
            if not isinstance(name, str):
                raise TypeError(f"{fname}: observable names must be strings, got {name!r}")
            self.specs[name] = _parse_observable(psi, spec, name, fname)
        self.result = EvolutionResult(
            times=[],
            observables={name: [] for name in self.specs},
            energies=[],
            norms=[],
            max_bonds=[],
            discarded=[],
            step_seconds=[],
            state=psi,
        )

    def record(self, psi: MPS, t: float, discarded: float, seconds: float) -> None:
        res = self.result
        res.times.append(float(t))
        res.discarded.append(float(discarded))
        res.step_seconds.append(float(seconds))
        res.max_bonds.append(psi.max_bond)
        res.norms.append(float(psi.norm()))
        res.energies.append(float(psi.xp.real(self.h.expectation(psi))))
        for name, spec in self.specs.items():
            res.observables[name].append(_measure(psi.copy(), spec))
        res.state = psi

    def energy(self) -> float:
        return self.result.energies[-1]


def _parse_observable(psi: MPS, spec: Any, name: str, fname: str) -> Callable[[MPS], Any] | _Local:
    if callable(spec) and not hasattr(spec, "shape"):
        return spec
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ValueError(f"{fname}: observable {name!r} must be an operator, (operator, sites) or a callable")
        op, sites = spec
    else:
        op, sites = spec, None
    try:
        host = backend.to_host(op)
    except TypeError:  # nested sequences
        host = np.asarray(op)
    if host.ndim != 2 or host.shape[0] != host.shape[1]:
        raise ValueError(f"{fname}: observable {name!r}: operator must be a square matrix, got shape {host.shape}")
    if sites is None:
        site_list = list(range(psi.length))
    elif isinstance(sites, (int, np.integer)):
        site_list = [int(sites)]
    else:
        site_list = [int(s) for s in sites]
    for s in site_list:
        if not (0 <= s < psi.length):
            raise ValueError(f"{fname}: observable {name!r}: site {s} outside [0, {psi.length})")
        if psi.local_dims[s] != host.shape[0]:
            raise ValueError(
                f"{fname}: observable {name!r}: operator of dimension {host.shape[0]} at site {s}, "
                f"which has physical dimension {psi.local_dims[s]}"
            )
    xp = psi.xp
    cplx = bool(np.iscomplexobj(host))
    dtype = backend.complex_dtype(xp, psi.dtype) if cplx else psi.dtype
    dev_op = xp.asarray(host.astype(np.complex128 if cplx else np.float64), dtype=dtype, device=psi.device)
    hermitian = bool(np.allclose(host, host.conj().T, rtol=0.0, atol=1e-14 * max(1.0, float(np.abs(host).max()))))
    keep = None if sites is None else (int(sites) if isinstance(sites, (int, np.integer)) else site_list)
    return _Local(dev_op, keep, hermitian)


def _measure(psi: MPS, spec: Callable[[MPS], Any] | _Local) -> Any:
    if not isinstance(spec, _Local):
        return spec(psi)
    xp = psi.xp
    if spec.sites is None:
        value = psi.expect(spec.op)
    elif isinstance(spec.sites, int):
        value = psi.expect(spec.op, spec.sites)
    else:
        value = xp.stack([psi.expect(spec.op, s) for s in spec.sites])
    return xp.real(value) if spec.hermitian and xp.isdtype(value.dtype, "complex floating") else value
