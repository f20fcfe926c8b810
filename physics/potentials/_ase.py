"""ASE interface: a calculator for any :class:`Potential` and a molecular-dynamics helper.

:class:`Calculator` lets ASE's optimisers, MD integrators, vibrational analysis etc. use a
fitted model. :func:`run_md` runs NVE (velocity Verlet) or Langevin dynamics and reports
what a potential's user checks first: energy conservation (drift of the total energy per
atom) and stability (the first time any bond of the starting structure stretches or
shrinks by more than ``max_bond_change``, 0.5 A by default).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch

from physics.potentials._model import Potential
from physics.training import save_png
from tnkit.run import progress as progress_report

__all__ = ["Calculator", "MDResult", "run_md", "bonds_of"]


class _MDState(TypedDict):
    """What :func:`run_md`'s observer has seen so far."""

    unstable: float | None  # time (ps) of the first bond change over the limit
    max_change: float  # largest bond-length change (Angstrom)


_AseCalculator: Any  # ASE's Calculator class, or None without ASE
try:
    from ase.calculators.calculator import Calculator as _AseCalculator
except ImportError:  # pragma: no cover - ase is part of the 'chem' extra
    _AseCalculator = None


class Calculator(_AseCalculator or object):  # type: ignore[misc]
    """ASE calculator evaluating a :class:`Potential`.

    Parameters
    ----------
    model : Potential
        A (fitted) model; used in eval mode on its own device and dtype.
    **kwargs
        Passed to :class:`ase.calculators.calculator.Calculator`.

    Implemented properties: ``energy``, ``free_energy`` (the same), ``energies`` (per atom),
    ``forces`` and, for cells periodic in all three directions, ``stress`` (Voigt order
    ``xx yy zz yz xz xy``, eV/A^3, ASE's sign convention).

    Examples
    --------
    >>> import torch
    >>> from ase.build import molecule
    >>> from physics.potentials import TensorNet
    >>> _ = torch.manual_seed(0)
    >>> atoms = molecule("H2O")
    >>> atoms.calc = Calculator(TensorNet(16, 1, 8, elements=(1, 8), dtype=torch.float64))
    >>> atoms.get_forces().shape
    (3, 3)
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model: Potential, **kwargs: Any) -> None:
        if _AseCalculator is None:  # pragma: no cover
            raise ImportError("physics.potentials.Calculator needs ASE: pip install 'tnkit[chem]'")
        super().__init__(**kwargs)
        if not isinstance(model, Potential):
            raise TypeError(f"Calculator needs a physics.potentials.Potential, got {type(model).__name__}")
        self.model = model.eval()
        p = next(model.parameters())
        self.device, self.dtype = p.device, p.dtype

    @classmethod
    def from_file(cls, path: str | Path, *, device: str | torch.device = "cpu", **kwargs: Any) -> Calculator:
        """A calculator for the potential saved at ``path`` by :meth:`Potential.save`.

        Parameters
        ----------
        path : str or path
            File written by :meth:`Potential.save`.
        device : str or torch.device, optional
            Where the model is loaded; default ``"cpu"``.
        **kwargs
            Passed to :class:`Calculator`.

        Raises
        ------
        tnkit.io.DataError
            A missing, damaged or foreign file.

        Examples
        --------
        >>> import tempfile, pathlib, torch
        >>> from ase.build import molecule
        >>> from physics.potentials import TensorNet
        >>> _ = torch.manual_seed(0)
        >>> path = TensorNet(8, 1, 4, elements=(1, 8)).save(pathlib.Path(tempfile.mkdtemp()) / "m.pt")
        >>> atoms = molecule("H2O")
        >>> atoms.calc = Calculator.from_file(path)
        >>> atoms.get_forces().shape
        (3, 3)
        """
        return cls(Potential.load(path, device=device), **kwargs)

    def calculate(self, atoms: Any = None, properties: Any = ("energy",), system_changes: Any = None) -> None:
        """Compute the requested properties of ``atoms`` (ASE's calculator interface).

        Parameters
        ----------
        atoms : ase.Atoms, optional
            Structure; default the last one.
        properties : sequence of str, optional
            Properties wanted; ``"stress"`` needs a cell periodic in all three directions.
        system_changes : sequence of str, optional
            What changed since the last call; default everything.
        """
        from ase.calculators.calculator import PropertyNotImplementedError, all_changes

        super().calculate(atoms, properties, system_changes if system_changes is not None else all_changes)
        atoms = self.atoms
        pbc = np.asarray(atoms.pbc, dtype=bool)
        want_stress = "stress" in properties
        if want_stress and not pbc.all():
            raise PropertyNotImplementedError("stress needs a cell periodic in all three directions")
        kwargs: dict[str, Any] = {"forces": True, "stress": want_stress, "create_graph": False}
        if pbc.any():
            kwargs["cell"] = torch.tensor(np.asarray(atoms.cell), dtype=self.dtype, device=self.device)
            kwargs["pbc"] = tuple(bool(b) for b in pbc)
        numbers = torch.tensor(atoms.numbers, dtype=torch.long, device=self.device)
        positions = torch.tensor(atoms.positions, dtype=self.dtype, device=self.device)
        out = self.model(numbers, positions, **kwargs)
        energy = float(out["energy"][0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": out["atomic_energies"].detach().cpu().numpy().astype(np.float64),
            "forces": out["forces"].detach().cpu().numpy().astype(np.float64),
        }
        if want_stress:
            s = out["stress"][0].detach().cpu().numpy().astype(np.float64)
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def bonds_of(atoms: Any, scale: float = 1.2) -> np.ndarray:
    """``(n_bonds, 2)`` atom pairs closer than ``scale`` times the sum of their covalent radii.

    Parameters
    ----------
    atoms : ase.Atoms
        Structure.
    scale : float, optional
        Factor on the covalent-radius sums; default 1.2.

    Examples
    --------
    >>> from ase.build import molecule
    >>> len(bonds_of(molecule("CH4")))
    4
    """
    from ase.data import covalent_radii

    pos = atoms.get_positions()
    radii = covalent_radii[atoms.numbers]
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    i, j = np.nonzero(np.triu(d < scale * (radii[:, None] + radii[None]), k=1))
    return np.stack([i, j], axis=1)


@dataclasses.dataclass
class MDResult:
    """What :func:`run_md` returns.

    Attributes
    ----------
    times : array (n_records,)
        Picoseconds.
    potential_energy, kinetic_energy, total_energy : arrays (n_records,)
        eV.
    temperature : array (n_records,)
        Kelvin.
    n_atoms : int
    drift : float
        ``|<E_tot>_last 10% - <E_tot>_first 10%| / n_atoms`` in meV/atom (NVE: should be ~0).
    max_deviation : float
        ``max_t |E_tot(t) - E_tot(0)| / n_atoms`` in meV/atom.
    stable : bool
        No bond of the starting structure changed by more than ``max_bond_change``.
    unstable_time : float or None
        Picoseconds at which the first bond did (None if stable).
    max_bond_change : float
        Largest bond-length change seen (A).
    """

    times: np.ndarray
    potential_energy: np.ndarray
    kinetic_energy: np.ndarray
    total_energy: np.ndarray
    temperature: np.ndarray
    n_atoms: int
    drift: float
    max_deviation: float
    stable: bool
    unstable_time: float | None
    max_bond_change: float

    def summary(self) -> str:
        """One line: length, mean temperature, energy drift and deviation, stability."""
        state = "stable" if self.stable else f"UNSTABLE at {self.unstable_time:.3f} ps"
        return (
            f"{self.times[-1]:.3f} ps, <T> = {self.temperature.mean():.0f} K, drift {self.drift:.3f} meV/atom, "
            f"max |dE| {self.max_deviation:.3f} meV/atom, {state} (max bond change {self.max_bond_change:.3f} A)"
        )

    def plot(self, path: str | Path) -> Path:
        """Energies and temperature against time as a PNG.

        Parameters
        ----------
        path : str or path
            PNG file to write.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
        e0 = self.total_energy[0]
        ax1.plot(self.times, 1e3 * (self.total_energy - e0) / self.n_atoms, label="total")
        ax1.plot(self.times, 1e3 * (self.potential_energy - e0) / self.n_atoms, lw=0.6, label="potential")
        ax1.set_ylabel("E - E_tot(0) (meV/atom)")
        ax1.legend(fontsize=8)
        ax2.plot(self.times, self.temperature)
        ax2.set_ylabel("T (K)")
        ax2.set_xlabel("time (ps)")
        if self.unstable_time is not None:
            for ax in (ax1, ax2):
                ax.axvline(self.unstable_time, color="r", ls="--", lw=1)
        fig.tight_layout()
        return save_png(fig, path)


def run_md(
    atoms: Any,
    model: Potential | Any,
    *,
    time_ps: float = 1.0,
    timestep_fs: float = 0.5,
    temperature_K: float = 300.0,
    ensemble: str = "nve",
    friction: float = 0.01,
    interval: int = 10,
    seed: int = 0,
    max_bond_change: float = 0.5,
    stop_when_unstable: bool = False,
    trajectory: str | Path | None = None,
    progress: bool | None = None,
) -> MDResult:
    """Molecular dynamics of ``atoms`` with a model (or any ASE calculator).

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure (copied; velocities are drawn unless it already has momenta).
    model : Potential or ase calculator
    time_ps, timestep_fs : float
        Length and step.
    temperature_K : float
        Maxwell-Boltzmann initial velocities (total momentum and rotation removed), and the
        Langevin bath temperature.
    ensemble : {"nve", "langevin"}
        Velocity Verlet or Langevin.
    friction : float
        Langevin friction, 1/fs.
    interval : int
        Record energies every ``interval`` steps (bonds are checked every step).
    seed : int
        Velocities and Langevin noise.
    max_bond_change : float
        Stability threshold in A.
    stop_when_unstable : bool
        End the run at the first unstable step.
    trajectory : path, optional
        Write the recorded frames as extxyz.
    progress : bool, optional

    Returns
    -------
    MDResult

    Raises
    ------
    TypeError
        ``atoms`` is not an ``ase.Atoms`` (for :class:`Frames`, pass one frame,
        ``frames.to_ase()[0]``).

    Examples
    --------
    >>> import torch
    >>> from ase.build import molecule
    >>> from physics.potentials import TensorNet
    >>> _ = torch.manual_seed(0)
    >>> model = TensorNet(16, 1, 8, elements=(1, 8), dtype=torch.float64)
    >>> r = run_md(molecule("H2O"), model, time_ps=0.005, temperature_K=100, progress=False)
    >>> len(r.times), float(r.times[-1])
    (2, 0.005)
    """
    from ase import Atoms, units
    from ase.md.langevin import Langevin
    from ase.md.md import MolecularDynamics
    from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    if not isinstance(atoms, Atoms):
        hint = "; pick one frame, e.g. frames.to_ase()[0]" if hasattr(atoms, "to_ase") else ""
        raise TypeError(f"run_md: atoms must be an ase.Atoms, got {type(atoms).__name__}{hint}")
    if ensemble not in ("nve", "langevin"):
        raise ValueError(f"run_md: ensemble must be 'nve' or 'langevin', got {ensemble!r}")
    if not time_ps > 0 or not timestep_fs > 0 or interval < 1:
        raise ValueError("run_md: time_ps and timestep_fs must be positive and interval >= 1")
    atoms = atoms.copy()
    atoms.calc = Calculator(model) if isinstance(model, Potential) else model
    rng = np.random.default_rng(seed)
    if not np.any(atoms.get_momenta()):
        thermalize_momenta(atoms, temperature_K, rng=rng)
        Stationary(atoms)
        if not np.any(atoms.pbc):
            ZeroRotation(atoms)
    dt = timestep_fs * units.fs
    dyn: MolecularDynamics
    if ensemble == "nve":
        dyn = VelocityVerlet(atoms, dt)
    else:
        from ase.constraints import FixCom

        atoms.set_constraint(FixCom())  # the centre of mass stays put without biasing the NVT sampling
        dyn = Langevin(atoms, dt, temperature_K=temperature_K, friction=friction / units.fs, rng=rng, fixcm=False)
    steps = int(round(time_ps * 1000.0 / timestep_fs))
    bonds = bonds_of(atoms)
    ref = np.linalg.norm(atoms.positions[bonds[:, 1]] - atoms.positions[bonds[:, 0]], axis=1) if len(bonds) else None
    records: list[tuple[float, float, float, float]] = []
    frames: list[Any] = []
    state: _MDState = {"unstable": None, "max_change": 0.0}

    def observe() -> None:
        step = dyn.nsteps
        if ref is not None:
            p = atoms.positions
            change = float(np.max(np.abs(np.linalg.norm(p[bonds[:, 1]] - p[bonds[:, 0]], axis=1) - ref)))
            state["max_change"] = max(state["max_change"], change)
            if change > max_bond_change and state["unstable"] is None:
                state["unstable"] = step * timestep_fs / 1000.0
        if step % interval == 0 or step == steps:
            epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
            records.append((step * timestep_fs / 1000.0, epot, ekin, atoms.get_temperature()))
            if trajectory is not None:
                frames.append(atoms.copy())

    bar = progress_report(steps, "md", progress, unit="step")
    observe()
    try:
        done = 0
        while done < steps:
            chunk = min(interval, steps - done)
            for _ in range(chunk):
                dyn.run(1)
                observe()
                if stop_when_unstable and state["unstable"] is not None:
                    break
            done += chunk
            if bar is not None:
                bar.update(chunk)
            if stop_when_unstable and state["unstable"] is not None:
                break
    finally:
        if bar is not None:
            bar.close()
    if trajectory is not None:
        import ase.io

        ase.io.write(trajectory, frames, format="extxyz")
    t, epot, ekin, temp = (np.array(c) for c in zip(*records))
    etot = epot + ekin
    n = len(atoms)
    w = max(1, len(etot) // 10)
    return MDResult(
        times=t,
        potential_energy=epot,
        kinetic_energy=ekin,
        total_energy=etot,
        temperature=temp,
        n_atoms=n,
        drift=1e3 * abs(etot[-w:].mean() - etot[:w].mean()) / n,
        max_deviation=1e3 * float(np.max(np.abs(etot - etot[0]))) / n,
        stable=state["unstable"] is None,
        unstable_time=state["unstable"],
        max_bond_change=state["max_change"],
    )
