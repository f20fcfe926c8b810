"""Periodic EMT reference data for interatomic potentials (``tnkit data generate emt-crystals``).

Recipe ``emt-crystals``: Langevin dynamics of small copper and aluminium crystals on the
effective-medium-theory potential of ASE (:class:`ase.calculators.emt.EMT`; Jacobsen,
Stoltze and Nørskov, Surf. Sci. 366, 394 (1996), the parameters of ASE's implementation),
storing energies, forces and stress of every frame. EMT is fast and has no external
dependency beyond ASE, so the set is regenerated in minutes on one core.

Systems (:data:`CRYSTALS`), all built by :mod:`ase.build` at EMT's own lattice constant
(``a`` where EMT's stress of the cubic fcc cell vanishes, found by Brent's method to 1e-12 Å
and rounded to 1e-6 Å; recorded in the file):

- ``cu_bulk``, ``al_bulk``: fcc conventional cell repeated 2 x 2 x 2 (32 atoms);
- ``cu_vacancy``: ``cu_bulk`` less its first atom (31 atoms), positions relaxed;
- ``cu_slab``: a Cu(111) slab, 3 x 3 atoms per layer, 4 layers (36 atoms), 12 Å of vacuum
  between periodic images along z, periodic in x and y only (``pbc`` (True, True, False); the
  cell's third row spans slab and vacuum so that the stored cell is well defined), positions
  relaxed.

Relaxations: ASE BFGS at fixed cell to ``relax_fmax``, positions rounded to 1e-6 Å (far below
what ``relax_fmax`` resolves, so last-bit differences of the arithmetic do not reach the data).

Runs: one per system and temperature, in the order systems x temperatures. A run strains the
relaxed structure's cell by ``I + e`` (atoms moved with it), ``e`` a symmetric matrix with
entries uniform in [-``strain``, ``strain``] (components along a non-periodic direction
zero, so the slab is strained in plane only), draws Maxwell-Boltzmann velocities at its
temperature and discards ``equilibration`` steps of Langevin dynamics (:class:`ase.md.langevin.
Langevin`, Vanden-Eijnden & Ciccotti, Chem. Phys. Lett. 429, 310 (2006); centre of mass
fixed), all from ``numpy.random.default_rng([seed, s, mK, 0])`` with ``s`` the system's
index in :data:`CRYSTALS` and ``mK`` the temperature in millikelvin. Then ``frames_per_run``
frames ``stride`` steps apart at fixed (strained) cell: NVT. Frame ``i`` of a run starts
from the stored positions and velocities of frame ``i - 1`` (the equilibrated state for
``i = 0``) with a fresh integrator and the noise ``default_rng([seed, s, mK, 1, i])``:
a frame depends only on its predecessor and the parameters, ``chunk`` does not change the
data, and a run is the same whichever other systems and temperatures a file holds.
Velocities are not stored (they would add a third to the file): an interrupted run resumes
by replaying the current run from its start (at most ``frames_per_run`` frames, checked
against the stored positions) and then continues to the same bytes.

Stored per frame: positions wrapped into the cell (along periodic directions), energy,
forces and stress evaluated there. The stress is the potential (virial) stress ``(1/V)
dE/d(strain)`` that ASE's calculators return, without the kinetic (ideal-gas) term, full 3 x 3
in ASE's sign convention (positive under tension); ``V`` is the cell volume, for the slab
including its vacuum, and the slab's components along z (``zz``, ``xz``, ``yz``) are not
physical (there is no periodic image along z to strain against); they are stored as EMT gives
them.

Defaults and why: 2 fs steps (the ASE tutorials run EMT copper at 5 fs; 2 fs leaves margin
for aluminium's lighter atoms at 1200 K). ``friction`` 0.01 / fs (relaxation time 100 fs,
comparable to the 100-140 fs periods at the top of the Cu and Al phonon spectra), ``stride``
25 steps (50 fs) and 2 ps of equilibration (twenty relaxation times). Aluminium melts near
930 K, but over a run (7.5 ps) the periodic 32-atom Al cell stays a superheated crystal at
900 and 1200 K (atoms move 0.4-0.5 Å on average from a run's first to its last frame); the
vacancy hops at 1200 K and the slab's surface atoms wander at 900-1200 K: valid training data.

Units in the file: positions and cells Å, energies eV, forces eV/Å, stress eV/Å^3,
``timestep`` fs, ``friction`` 1/fs, temperatures K.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from physics.data._xtb import _langevin, _positive, _thermalize
from tnkit import io
from tnkit.io import ChunkedWriter, DataError, register_schema
from tnkit.run import progress as progress_report

__all__ = [
    "CRYSTALS",
    "EMT_CRYSTALS_DEFAULTS",
    "CrystalSystem",
    "emt_lattice_constant",
    "generate_emt_crystals",
    "load_crystals",
    "relaxed_crystal",
    "resolve_emt_crystals",
]

SCHEMA = "emt_crystals"
register_schema(SCHEMA, 1)


@dataclasses.dataclass(frozen=True)
class CrystalSystem:
    """A structure of the ``emt-crystals`` recipe, built at EMT's lattice constant of ``element``.

    Parameters
    ----------
    element : str
        Chemical symbol of the fcc metal.
    kind : str
        ``"bulk"`` (2 x 2 x 2 conventional cells), ``"vacancy"`` (the bulk cell less its
        first atom) or ``"slab111"`` (a 3 x 3 x 4 (111) slab).
    """

    element: str
    kind: str

    @property
    def description(self) -> str:
        """How the structure is built, in words (for the dataset's provenance)."""
        return {
            "bulk": f"fcc {self.element}, conventional cell repeated 2 x 2 x 2 (ase.build.bulk, cubic=True)",
            "vacancy": f"fcc {self.element} 2 x 2 x 2 conventional cells less atom 0, positions relaxed",
            "slab111": f"{self.element}(111) slab, 3 x 3 atoms x 4 layers (ase.build.fcc111), 12 A vacuum "
            "between images along z, pbc (True, True, False), positions relaxed",
        }[self.kind]


CRYSTALS: dict[str, CrystalSystem] = {
    "cu_bulk": CrystalSystem("Cu", "bulk"),
    "al_bulk": CrystalSystem("Al", "bulk"),
    "cu_vacancy": CrystalSystem("Cu", "vacancy"),
    "cu_slab": CrystalSystem("Cu", "slab111"),
}

EMT_CRYSTALS_DEFAULTS: dict[str, Any] = {
    "systems": list(CRYSTALS),
    "temperatures": [300.0, 600.0, 900.0, 1200.0],
    "frames_per_run": 150,
    "strain": 0.02,
    "timestep": 2.0,
    "friction": 0.01,
    "stride": 25,
    "equilibration": 1000,
    "seed": 0,
    "chunk": 100,
    "relax_fmax": 0.001,
}

_PER_FRAME = ("energies", "stress", "cells", "pbc", "temperatures", "systems", "n_atoms")
_PER_ATOM = ("numbers", "positions", "forces")


def _need_ase() -> None:
    import importlib

    try:
        importlib.import_module("ase.calculators.emt")
    except ImportError:
        raise ImportError("emt-crystals needs ase (pip install 'tnkit[chem]')") from None


def _names(value: Any, what: str, parse: Callable[[str], Any]) -> list[Any]:
    """A list from a sequence or from the command line's comma-separated text."""
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, Sequence) or not value:
        raise ValueError(f"emt-crystals: {what} must be a non-empty list, got {value!r}")
    try:
        return [parse(v.strip()) if isinstance(v, str) else v for v in value]
    except ValueError:
        raise ValueError(f"emt-crystals: {what} must be a non-empty list, got {value!r}") from None


def resolve_emt_crystals(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full, checked ``emt-crystals`` parameters: :data:`EMT_CRYSTALS_DEFAULTS` with ``overrides``.

    Parameters
    ----------
    overrides : dict, optional
        Parameters to change; each must be a known parameter. ``systems`` and
        ``temperatures`` take a list or comma-separated text (``"cu_bulk,al_bulk"``).

    Raises
    ------
    ValueError
        One line naming the parameter and the allowed values.

    Examples
    --------
    >>> p = resolve_emt_crystals({"systems": "cu_bulk,cu_slab", "temperatures": 300})
    >>> p["systems"], p["temperatures"], p["frames_per_run"]
    (['cu_bulk', 'cu_slab'], [300.0], 150)
    """
    params = dict(EMT_CRYSTALS_DEFAULTS)
    for key, value in (overrides or {}).items():
        if key not in params:
            raise ValueError(f"emt-crystals: unknown parameter {key!r}; known: {', '.join(sorted(params))}")
        params[key] = value
    systems = _names(params["systems"], "systems", str)
    unknown = [s for s in systems if s not in CRYSTALS]
    if unknown or len(set(systems)) != len(systems):
        raise ValueError(
            f"emt-crystals: systems must be distinct names of {', '.join(CRYSTALS)}, got {', '.join(map(str, systems))}"
        )
    temperatures = _names(params["temperatures"], "temperatures", float)
    try:
        for key in ("frames_per_run", "stride", "chunk"):
            _positive(params, key, integer=True)
        for key in ("equilibration", "seed"):
            _positive(params, key, integer=True, zero=True)
        for key in ("timestep", "relax_fmax"):
            _positive(params, key, integer=False)
        for key in ("friction", "strain"):
            _positive(params, key, integer=False, zero=True)
        for t in temperatures:
            _positive({"temperatures": t}, "temperatures", integer=False)
    except ValueError as exc:
        raise ValueError(f"emt-crystals: {exc}") from None
    millikelvin = [round(float(t) * 1000) for t in temperatures]
    if len(set(millikelvin)) != len(millikelvin):
        raise ValueError(f"emt-crystals: temperatures must differ by at least 1 mK, got {temperatures}")
    if params["strain"] >= 0.2:
        raise ValueError(f"emt-crystals: strain must be < 0.2 (a fraction of the cell), got {params['strain']!r}")
    params["systems"], params["temperatures"] = systems, [float(t) for t in temperatures]
    for key in ("strain", "timestep", "friction", "relax_fmax"):
        params[key] = float(params[key])
    for key in ("frames_per_run", "stride", "chunk", "equilibration", "seed"):
        params[key] = int(params[key])
    return params


def emt_lattice_constant(element: str) -> float:
    """EMT's equilibrium fcc lattice constant (Å) of ``element``: where the stress vanishes.

    Brent's method on the hydrostatic stress of the 4-atom cubic cell, to 1e-12 Å, rounded
    to 1e-6 Å.

    Parameters
    ----------
    element : str
        A metal that ASE's EMT parametrises (Al, Cu, Ag, Au, Ni, Pd, Pt).

    Returns
    -------
    float
        The lattice constant, Å.

    Examples
    --------
    >>> round(emt_lattice_constant("Cu"), 4), round(emt_lattice_constant("Al"), 4)
    (3.5898, 3.9943)
    """
    _need_ase()
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.data import atomic_numbers, reference_states
    from scipy.optimize import brentq

    reference: Any = reference_states[atomic_numbers[element]]  # ASE's experimental structure
    guess = float(reference["a"])

    def pressure(a: float) -> float:
        atoms = bulk(element, "fcc", a=a, cubic=True)
        atoms.calc = EMT()
        return float(atoms.get_stress(voigt=False)[0, 0])

    return round(float(brentq(pressure, 0.9 * guess, 1.1 * guess, xtol=1e-12)), 6)


def relaxed_crystal(name: str, lattice_constant: float | None = None, *, fmax: float = 0.001) -> Any:
    """Structure ``name`` of :data:`CRYSTALS` at EMT's lattice constant, positions relaxed with EMT.

    Parameters
    ----------
    name : str
        A key of :data:`CRYSTALS`.
    lattice_constant : float, optional
        fcc lattice constant (Å); default :func:`emt_lattice_constant` of the element.
    fmax : float, optional
        BFGS (fixed cell) stops when every force is below this (eV/Å).

    Returns
    -------
    ase.Atoms
        Positions rounded to 1e-6 Å, the cell and pbc set, no calculator.

    Raises
    ------
    ValueError
        For an unknown name. ``RuntimeError`` if BFGS does not converge in 1000 steps.

    Examples
    --------
    >>> atoms = relaxed_crystal("cu_slab")
    >>> len(atoms), atoms.pbc.tolist()
    (36, [True, True, False])
    """
    if name not in CRYSTALS:
        raise ValueError(f"unknown crystal {name!r}; known: {', '.join(CRYSTALS)}")
    _need_ase()
    from ase import Atoms
    from ase.build import bulk, fcc111
    from ase.calculators.emt import EMT
    from ase.optimize import BFGS

    system = CRYSTALS[name]
    a = emt_lattice_constant(system.element) if lattice_constant is None else float(lattice_constant)
    if system.kind == "slab111":
        atoms = fcc111(system.element, size=(3, 3, 4), a=a, vacuum=6.0)
    else:
        atoms = bulk(system.element, "fcc", a=a, cubic=True).repeat(2)
        if system.kind == "vacancy":
            del atoms[0]
    if system.kind != "bulk":  # a perfect crystal is already at rest
        atoms.calc = EMT()
        if not BFGS(atoms, logfile=None).run(fmax=fmax, steps=1000):
            raise RuntimeError(f"{name}: EMT relaxation did not reach fmax {fmax} eV/Å in 1000 BFGS steps")
    return Atoms(numbers=atoms.numbers, positions=np.round(atoms.positions, 6), cell=atoms.cell[:], pbc=atoms.pbc)


def _run_seed(p: dict[str, Any], system: str, temperature: float) -> list[int]:
    return [p["seed"], list(CRYSTALS).index(system), round(temperature * 1000)]


def _state(start: Any, cell: np.ndarray, positions: np.ndarray, velocities: np.ndarray) -> Any:
    """A fresh Atoms (centre of mass fixed, fresh EMT) at a stored state (Å, Å/fs)."""
    from ase import Atoms, units
    from ase.calculators.emt import EMT
    from ase.constraints import FixCom

    atoms = Atoms(numbers=start.numbers, positions=positions, cell=cell, pbc=start.pbc)
    atoms.set_constraint(FixCom())
    atoms.set_velocities(velocities / units.fs)
    atoms.calc = EMT()
    return atoms


def _steps(atoms: Any, p: dict[str, Any], temperature: float, steps: int, rng: np.random.Generator) -> None:
    dynamics = _langevin(atoms, {**p, "temperature": temperature}, rng)
    forces = None
    for _ in range(steps):
        forces = dynamics.step(forces)


def _equilibrated(p: dict[str, Any], start: Any, system: str, temperature: float) -> tuple[Any, ...]:
    """Strained cell, positions (Å) and velocities (Å/fs) of a run after its discarded steps."""
    from ase import units

    rng = np.random.default_rng([*_run_seed(p, system, temperature), 0])
    e = rng.uniform(-p["strain"], p["strain"], size=(3, 3))
    e = (e + e.T) / 2
    e[~start.pbc, :] = 0.0
    e[:, ~start.pbc] = 0.0
    cell = np.asarray(start.cell) @ (np.eye(3) + e)
    atoms = _state(start, cell, start.positions @ (np.eye(3) + e), np.zeros_like(start.positions))
    _thermalize(atoms, temperature, rng)
    _steps(atoms, p, temperature, p["equilibration"], rng)
    return cell, atoms.get_positions(), atoms.get_velocities() * units.fs


def _frame(p: dict[str, Any], start: Any, state: tuple[Any, ...], run: tuple[str, float], index: int) -> dict[str, Any]:
    """Frame ``index`` of a run: ``stride`` steps on from the previous frame's stored state."""
    from ase import units

    system, temperature = run
    cell, positions, velocities = state
    atoms = _state(start, cell, positions, velocities)
    _steps(atoms, p, temperature, p["stride"], np.random.default_rng([*_run_seed(p, system, temperature), 1, index]))
    atoms.wrap()
    frame = {
        "positions": atoms.get_positions(),
        "velocities": atoms.get_velocities() * units.fs,
        "energies": np.float64(atoms.get_potential_energy()),
        "forces": atoms.get_forces(apply_constraint=False),
        "stress": atoms.get_stress(voigt=False),
    }
    if not all(np.isfinite(v).all() for v in frame.values()):
        raise RuntimeError(
            f"emt-crystals {system} at {temperature:g} K: non-finite energy, forces or positions at frame {index}; "
            "lower the timestep or the temperature"
        )
    return frame


def _provenance(elements: Sequence[str]) -> dict[str, str]:
    """ASE's version and the EMT parameters of ``elements`` as this ASE holds them."""
    from importlib.metadata import version

    from ase.calculators import emt

    names = ("E0", "s0", "V0", "eta2", "kappa", "lambda", "n0")
    table = {element: dict(zip(names, map(float, emt.parameters[element]))) for element in elements}
    return {
        "ase_version": version("ase"),
        "emt_source": f"ase.calculators.emt.EMT of ASE {version('ase')} (its built-in parameters; Jacobsen, "
        "Stoltze and Norskov, Surf. Sci. 366, 394 (1996))",
        "emt_parameters": json.dumps(table),
    }


def generate_emt_crystals(out: str | Path, *, progress: bool | None = None, **overrides: Any) -> Path:
    """Run (or resume) the ``emt-crystals`` recipe into the HDF5 file ``out``.

    Parameters
    ----------
    out : path
        The file. A finished file with the same parameters is left as it is; one with
        other parameters, or a partial run of other parameters, raises
        :class:`tnkit.io.DataError` and nothing is overwritten. A killed run leaves
        ``out.partial`` and resumes from its last block.
    progress : bool, optional
        Progress bar over frames (default: on a terminal).
    **overrides
        Parameters (defaults :data:`EMT_CRYSTALS_DEFAULTS`): ``systems`` (keys of
        :data:`CRYSTALS`), ``temperatures`` (K), ``frames_per_run``, ``strain`` (largest
        strain component), ``timestep`` (fs), ``friction`` (1/fs), ``stride`` (steps per
        stored frame), ``equilibration`` (discarded steps per run), ``seed``, ``chunk``
        (frames per written block), ``relax_fmax`` (eV/Å).

    Returns
    -------
    pathlib.Path
        The finished file, schema ``emt_crystals`` v1. Per frame (``F`` = systems x
        temperatures x ``frames_per_run``, runs in that order): ``energies`` (F,) eV,
        ``stress`` (F, 3, 3) eV/Å^3, ``cells`` (F, 3, 3) Å (rows), ``pbc`` (F, 3) bool,
        ``temperatures`` (F,) K (the thermostat's), ``systems`` (F,) int64 (index into the
        attribute ``system_names``), ``n_atoms`` (F,) int64. Per atom, flat (``A`` =
        sum of ``n_atoms``; frame ``f`` holds rows ``offsets[f] : offsets[f + 1]``):
        ``numbers`` (A,) int64, ``positions`` (A, 3) Å, ``forces`` (A, 3) eV/Å. Root
        attributes: ``system_names`` (space-separated), ``lattice_constants`` (JSON, Å per
        element), ``system_descriptions`` (JSON), units, ASE version, EMT's source and
        parameters. Load it with :func:`load_crystals`.

    Raises
    ------
    ValueError
        For bad parameters (before any file is written).
    ImportError
        Without ase: ``pip install 'tnkit[chem]'``.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "cu.h5")
    >>> _ = generate_emt_crystals(path, systems="cu_bulk,cu_vacancy", temperatures=300, frames_per_run=2,
    ...                           stride=2, equilibration=4, progress=False)
    >>> d = load_crystals(path)
    >>> d["n_atoms"].tolist(), d["positions"].shape, d["stress"].shape
    ([32, 32, 31, 31], (126, 3), (4, 3, 3))
    """
    import h5py

    p = resolve_emt_crystals(overrides)
    _need_ase()
    record = {"function": f"{__name__}.generate_emt_crystals", "parameters": {"name": "emt-crystals", **p}}
    elements = sorted({CRYSTALS[s].element for s in p["systems"]})
    constants = {element: emt_lattice_constant(element) for element in elements}
    starts = {s: relaxed_crystal(s, constants[CRYSTALS[s].element], fmax=p["relax_fmax"]) for s in p["systems"]}
    runs = [(s, t) for s in p["systems"] for t in p["temperatures"]]
    per_run = p["frames_per_run"]
    total = len(runs) * per_run
    counts = np.repeat([len(starts[s]) for s, _ in runs], per_run).astype(np.int64)
    atoms_total = int(counts.sum())
    attrs = {
        "dataset": "emt-crystals",
        "system_names": " ".join(p["systems"]),
        "system_descriptions": json.dumps({s: CRYSTALS[s].description for s in p["systems"]}),
        "lattice_constants": json.dumps(constants),
        "summary": f"EMT Langevin MD (NVT) of {', '.join(p['systems'])} at "
        f"{', '.join(f'{t:g}' for t in p['temperatures'])} K: "
        f"per run a random symmetric strain up to {p['strain']:g}, {p['equilibration']} discarded steps of "
        f"{p['timestep']:g} fs, friction {p['friction']:g}/fs, then {per_run} frames {p['stride']} steps apart; "
        "centre of mass fixed; stress without the kinetic term (the slab's z components are not physical)",
        "units": "positions, cells: angstrom; energies: eV; forces: eV/angstrom; stress: eV/angstrom^3 "
        "(ASE sign: positive under tension); temperatures: K",
        **_provenance(elements),
    }
    arrays = {
        "energies": ((total,), "float64"),
        "stress": ((total, 3, 3), "float64"),
        "cells": ((total, 3, 3), "float64"),
        "pbc": ((total, 3), "bool"),
        "temperatures": ((total,), "float64"),
        "systems": ((total,), "int64"),
        "n_atoms": ((total,), "int64"),
        "numbers": ((atoms_total,), "int64"),
        "positions": ((atoms_total, 3), "float64"),
        "forces": ((atoms_total, 3), "float64"),
    }
    writer = ChunkedWriter(
        out,
        arrays,
        schema=SCHEMA,
        generator=record,
        attrs=attrs,
        compression="gzip",
        chunk_rows=p["chunk"],
        ragged={key: "n_atoms" for key in _PER_ATOM},
    )
    if writer.complete:
        return writer.path
    bar = progress_report(total, "emt-crystals", progress, unit="frame")
    try:
        if bar is not None:
            bar.update(writer.done)
        state: tuple[Any, ...] = ()
        if writer.done % per_run:
            # Velocities are not stored: replay the interrupted run to its last stored frame.
            run, last = runs[writer.done // per_run], writer.done - 1
            state = _equilibrated(p, starts[run[0]], *run)
            for index in range(writer.done % per_run):
                frame = _frame(p, starts[run[0]], state, run, index)
                state = (state[0], frame["positions"], frame["velocities"])
            row = int(counts[:last].sum())
            with h5py.File(writer.partial, "r") as handle:
                stored = handle["positions"][row : row + int(counts[last])]
            if not np.array_equal(stored, state[1]):
                raise DataError.at(
                    writer.partial,
                    f"frame {last} does not replay to the stored positions (written by another software stack?); "
                    "remove the partial file",
                )
        for first in range(writer.done, total, p["chunk"]):
            block: dict[str, list[Any]] = {key: [] for key in arrays}
            for f in range(first, min(first + p["chunk"], total)):
                run, index = runs[f // per_run], f % per_run
                start = starts[run[0]]
                if index == 0:
                    state = _equilibrated(p, start, *run)
                frame = _frame(p, start, state, run, index)
                state = (state[0], frame["positions"], frame.pop("velocities"))
                frame.update(
                    cells=state[0],
                    pbc=start.pbc,
                    temperatures=np.float64(run[1]),
                    systems=np.int64(p["systems"].index(run[0])),
                    n_atoms=np.int64(len(start)),
                    numbers=start.numbers,
                )
                for key, value in frame.items():
                    block[key].append(value)
                if bar is not None:
                    bar.update(1)
            writer.write(
                first,
                {k: np.concatenate(v) if k in _PER_ATOM else np.stack(v) for k, v in block.items()},
            )
        return writer.finish()
    finally:
        writer.close()
        if bar is not None:
            bar.close()


def load_crystals(source: str | Path) -> dict[str, Any]:
    """The arrays of an ``emt_crystals`` file, checked for consistency and finiteness.

    Parameters
    ----------
    source : str or path
        A path, or the name of a dataset in the manifest (verified against its sha256
        first), e.g. ``"emt_crystals"``.

    Returns
    -------
    dict
        The arrays of :func:`generate_emt_crystals` (float64, int64, bool), ``offsets``
        (F + 1,) int64 (frame ``f``'s atoms are rows ``offsets[f] : offsets[f + 1]``),
        ``system_names`` as a list, ``lattice_constants`` as a dict, and the file's other
        root attributes.

    Raises
    ------
    tnkit.io.DataError
        One line naming the file and the fault: missing, corrupt, foreign or wrong-version
        file, inconsistent shapes, or a NaN / Inf value.

    Examples
    --------
    >>> d = load_crystals("emt_crystals")
    >>> d["system_names"], d["energies"].shape, d["stress"].shape
    (['cu_bulk', 'al_bulk', 'cu_vacancy', 'cu_slab'], (2400,), (2400, 3, 3))
    """
    path = Path(source)
    if not path.suffix and not path.exists():
        where = str(source)
        schema = io.dataset_entry(where).schema
        if schema != SCHEMA:
            raise DataError(f"{where}: not an {SCHEMA} dataset (its schema is {schema!r})")
        data = io.load_dataset(where)
    else:
        data, where = io.load(path, schema=SCHEMA), str(path)
    missing = [key for key in (*_PER_FRAME, *_PER_ATOM, "system_names") if key not in data]
    if missing:
        raise DataError(f"{where}: not an {SCHEMA} dataset (missing {', '.join(missing)})")
    out = dict(data)
    counts = np.asarray(data["n_atoms"])
    frames = counts.shape[0] if counts.ndim == 1 else -1
    atoms = int(counts.sum()) if frames >= 0 and np.all(counts > 0) else -1
    expected = {
        "energies": (frames,),
        "stress": (frames, 3, 3),
        "cells": (frames, 3, 3),
        "pbc": (frames, 3),
        "temperatures": (frames,),
        "systems": (frames,),
        "n_atoms": (frames,),
        "numbers": (atoms,),
        "positions": (atoms, 3),
        "forces": (atoms, 3),
    }
    for key, shape in expected.items():
        value = np.asarray(data[key])
        if value.shape != shape:
            raise DataError(f"{where}: {key} has shape {value.shape}, expected {shape} (n_atoms must be > 0)")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise DataError(f"{where}: {key} hold NaN or Inf; the file is unusable, regenerate it")
        out[key] = value
    out["system_names"] = str(data["system_names"]).split()
    if not np.all((out["systems"] >= 0) & (out["systems"] < len(out["system_names"]))):
        raise DataError(f"{where}: systems index outside system_names ({len(out['system_names'])} names)")
    out["lattice_constants"] = json.loads(str(data.get("lattice_constants", "{}")))
    out["offsets"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return out
