"""GFN2-xTB molecular-dynamics reference datasets (``tnkit data generate xtb-md``).

Recipe ``xtb-md``: Langevin dynamics of one small organic molecule in vacuum on the
GFN2-xTB potential-energy surface (Bannwarth, Ehlert, Grimme, J. Chem. Theory Comput. 15,
1652 (2019)), evaluated by the ``tblite`` library through its ASE calculator, integrated
by ASE's :class:`~ase.md.langevin.Langevin` (Vanden-Eijnden & Ciccotti, Chem. Phys. Lett.
429, 310 (2006)) with the centre of mass fixed (:class:`~ase.constraints.FixCom`). The
molecules are those of the MD17 benchmark (Chmiela et al., Sci. Adv. 3, e1603015 (2017))
at its temperature (500 K) and time step (0.5 fs), re-computed with xTB so that anyone can
regenerate them.

Starting geometry: ASE's G2 collection where it has the molecule, otherwise the SMILES
embedded by RDKit (ETKDGv3, :data:`EMBED_SEED`, :data:`EMBED_CONFORMERS` conformers, the
lowest after MMFF94 optimisation), then relaxed with xTB (ASE BFGS to ``relax_fmax``).

Trajectory: Maxwell-Boltzmann velocities at ``temperature`` and ``equilibration``
discarded steps (noise from ``numpy.random.default_rng([seed, 0])``), then ``frames``
frames ``stride`` steps apart. Frame ``i`` starts from the stored positions and
velocities of frame ``i - 1`` (the equilibrated state for ``i = 0``) with a fresh
integrator, a fresh xTB calculator (its first SCF starts from atomic densities, not from
the previous frame's wavefunction) and the noise ``numpy.random.default_rng([seed, 1, i])``. A
frame therefore depends only on its predecessor and the parameters: an interrupted run
resumes to the same bytes, and ``chunk`` (frames per written block) does not change the
data.

Defaults and why: ``friction`` 0.01 / fs (relaxation time 100 fs, 10 ps^-1): weak next to
the 10-30 fs periods of bond vibrations, so dynamics stay close to Newtonian, yet the
1 ps (``equilibration`` = 2000 steps) warm-up spans ten relaxation times. ``stride`` 40
steps (20 fs, twice the 10 fs suggested by the decay of the velocity autocorrelation):
between stored frames of ethanol / aspirin at 500 K the autocorrelation is 0.2 / 0.03
for velocities, 0.0 / 0.16 for bond lengths and 0.3 / 0.4 for the potential energy
(about 0.45 at 10 fs), so successive frames are distinct configurations; slow torsions
and the overall rotation stay correlated over many frames whatever the stride. 2000
frames span 40 ps.

The kinetic temperature is ``sum(m v^2) / ((3 N - 3) k_B)``: the fixed centre of mass
removes three degrees of freedom, mostly from the heavy atoms (atom ``i`` averages
``(1 - m_i / M) k_B T`` per component), so per-atom temperatures of C and O read below
``temperature`` while the molecule's is on target.

``accuracy`` 0.01 tightens tblite's SCF convergence a hundredfold from its default: stored
forces then agree with a fully converged calculation to about 1e-5 eV/Å whatever the
initial guess (default accuracy: a few 1e-4 eV/Å on aspirin), for 25 % more time.

Reproducibility: a run is bit-identical on the same software stack and thread count. With
another ``OMP_NUM_THREADS``, tblite's OpenMP sums round differently in the last bits; the
shared Langevin noise keeps such trajectories together (about 1e-9 Å apart on ethanol).

Units in the file: positions Å, energies eV (total xTB energy), forces eV/Å, velocities
Å/fs, ``timestep`` fs, ``friction`` 1/fs, ``temperature`` K.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from tnkit.io import ChunkedWriter, DataError, register_schema
from tnkit.run import progress as progress_report

__all__ = [
    "EMBED_CONFORMERS",
    "EMBED_SEED",
    "MOLECULES",
    "XTB_MD_DEFAULTS",
    "MoleculeSource",
    "generate_xtb_md",
    "relaxed_molecule",
    "resolve_xtb_md",
]

SCHEMA = "xtb_md"
register_schema(SCHEMA, 1)

EMBED_SEED = 20261122
EMBED_CONFORMERS = 10
METHODS = ("GFN2-xTB", "GFN1-xTB")


@dataclasses.dataclass(frozen=True)
class MoleculeSource:
    """Where a molecule's starting geometry comes from: ``g2`` (a name in ASE's G2
    collection, :func:`ase.build.molecule`) if set, else the ``smiles`` embedded by RDKit.

    Parameters
    ----------
    smiles : str
        SMILES string of the molecule.
    g2 : str, optional
        Name in ASE's G2 collection; preferred over ``smiles`` when set.
    """

    smiles: str
    g2: str | None = None

    @property
    def description(self) -> str:
        """How the starting geometry is made, in words (for the dataset's provenance)."""
        if self.g2 is not None:
            return f"ase.build.molecule({self.g2!r}) (G2 collection)"
        return (
            f"SMILES {self.smiles} embedded by RDKit (ETKDGv3, randomSeed {EMBED_SEED}, {EMBED_CONFORMERS} "
            "conformers, lowest MMFF94 energy)"
        )


MOLECULES: dict[str, MoleculeSource] = {
    "ethanol": MoleculeSource("CCO", g2="CH3CH2OH"),
    "malonaldehyde": MoleculeSource("O=C/C=C\\O"),  # Z-enol with the intramolecular H-bond
    "uracil": MoleculeSource("O=C1C=CNC(=O)N1"),
    "toluene": MoleculeSource("Cc1ccccc1"),
    "naphthalene": MoleculeSource("c1ccc2ccccc2c1"),
    "salicylic_acid": MoleculeSource("O=C(O)c1ccccc1O"),
    "aspirin": MoleculeSource("CC(=O)Oc1ccccc1C(=O)O"),
    "benzene": MoleculeSource("c1ccccc1", g2="C6H6"),
}

XTB_MD_DEFAULTS: dict[str, Any] = {
    "molecule": None,
    "frames": 2000,
    "temperature": 500.0,
    "timestep": 0.5,
    "friction": 0.01,
    "stride": 40,
    "equilibration": 2000,
    "seed": 0,
    "chunk": 100,
    "method": "GFN2-xTB",
    "accuracy": 0.01,
    "relax_fmax": 0.01,
}


def _need_chem() -> None:
    import importlib

    try:
        for module in ("ase", "tblite.ase"):
            importlib.import_module(module)
    except ImportError:
        raise ImportError("xtb-md needs ase and tblite (pip install 'tnkit[chem]')") from None


def _positive(p: dict[str, Any], key: str, *, integer: bool, zero: bool = False) -> None:
    v = p[key]
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = isinstance(v, kinds) and not isinstance(v, bool) and math.isfinite(float(v))
    if not ok or v < 0 or (v == 0 and not zero):
        what = "an int" if integer else "a finite number"
        raise ValueError(f"{key} must be {what} {'>= 0' if zero else '> 0'}, got {v!r}")


def resolve_xtb_md(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full, checked ``xtb-md`` parameters: :data:`XTB_MD_DEFAULTS` with ``overrides``.

    Parameters
    ----------
    overrides : dict, optional
        Parameters to change from :data:`XTB_MD_DEFAULTS`; each must be a known parameter.

    Raises
    ------
    ValueError
        One line naming the parameter and the allowed values.

    Examples
    --------
    >>> p = resolve_xtb_md({"molecule": "aspirin", "frames": 10})
    >>> p["frames"], p["temperature"], p["stride"]
    (10, 500.0, 40)
    """
    params = dict(XTB_MD_DEFAULTS)
    for key, value in (overrides or {}).items():
        if key not in params:
            raise ValueError(f"xtb-md: unknown parameter {key!r}; known: {', '.join(sorted(params))}")
        params[key] = value
    if params["molecule"] is None:
        raise ValueError(f"xtb-md: molecule is required (--molecule NAME); known: {', '.join(MOLECULES)}")
    if params["molecule"] not in MOLECULES:
        raise ValueError(f"xtb-md: unknown molecule {params['molecule']!r}; known: {', '.join(MOLECULES)}")
    try:
        for key in ("frames", "stride", "chunk"):
            _positive(params, key, integer=True)
        for key in ("equilibration", "seed"):
            _positive(params, key, integer=True, zero=True)
        for key in ("temperature", "timestep", "accuracy", "relax_fmax"):
            _positive(params, key, integer=False)
        _positive(params, "friction", integer=False, zero=True)
    except ValueError as exc:
        raise ValueError(f"xtb-md: {exc}") from None
    if params["method"] not in METHODS:
        raise ValueError(f"xtb-md: method must be one of {METHODS}, got {params['method']!r}")
    for key in ("temperature", "timestep", "friction", "accuracy", "relax_fmax"):
        params[key] = float(params[key])
    return params


def _calculator(method: str, accuracy: float) -> Any:
    from tblite.ase import TBLite

    return TBLite(method=method, accuracy=accuracy, verbosity=0)


def _embed(smiles: str) -> tuple[np.ndarray, np.ndarray]:
    """Atomic numbers and positions (Å) of the lowest-MMFF94 of a few ETKDG conformers."""
    try:
        from rdkit import Chem
        from rdkit.Chem import rdDistGeom, rdForceFieldHelpers  # what AllChem re-exports, with stubs
    except ImportError:
        raise ImportError("embedding a SMILES needs rdkit (pip install 'tnkit[chem]')") from None
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    options = rdDistGeom.ETKDGv3()
    options.randomSeed = EMBED_SEED  # type: ignore[assignment]  # RDKit's stub types this int as EmbedParameters
    ids = list(rdDistGeom.EmbedMultipleConfs(mol, numConfs=EMBED_CONFORMERS, params=options))
    if not ids:
        raise RuntimeError(f"RDKit could not embed {smiles!r}")
    energies = [energy for _, energy in rdForceFieldHelpers.MMFFOptimizeMoleculeConfs(mol, maxIters=2000, numThreads=1)]
    best = ids[int(np.argmin(energies))]
    numbers = np.array([atom.GetAtomicNum() for atom in mol.GetAtoms()], dtype=np.int64)
    return numbers, np.array(mol.GetConformer(best).GetPositions(), dtype=np.float64)


def relaxed_molecule(name: str, *, method: str = "GFN2-xTB", accuracy: float = 0.01, fmax: float = 0.01) -> Any:
    """The starting geometry of molecule ``name`` of :data:`MOLECULES`, relaxed with xTB.

    Parameters
    ----------
    name
        A key of :data:`MOLECULES`.
    method
        xTB Hamiltonian of the relaxation (``"GFN2-xTB"`` or ``"GFN1-xTB"``).
    accuracy
        tblite's SCF accuracy (smaller is tighter; tblite's default is 1).
    fmax
        BFGS stops when every force is below this (eV/Å).

    Returns
    -------
    ase.Atoms
        Relaxed positions (Å, rounded to 1e-6 Å), no calculator; ``info["source"]``
        says where the unrelaxed geometry came from.

    Raises
    ------
    ValueError
        For an unknown molecule. ``RuntimeError`` if BFGS does not converge in 1000 steps.

    Examples
    --------
    >>> atoms = relaxed_molecule("ethanol")
    >>> atoms.get_chemical_formula(), atoms.info["source"]
    ('C2H6O', "ase.build.molecule('CH3CH2OH') (G2 collection)")
    """
    if name not in MOLECULES:
        raise ValueError(f"unknown molecule {name!r}; known: {', '.join(MOLECULES)}")
    _need_chem()
    from ase import Atoms
    from ase.build import molecule
    from ase.optimize import BFGS

    source = MOLECULES[name]
    if source.g2 is not None:
        atoms = molecule(source.g2)
    else:
        numbers, positions = _embed(source.smiles)
        atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = _calculator(method, accuracy)
    if not BFGS(atoms, logfile=None).run(fmax=fmax, steps=1000):
        raise RuntimeError(f"{name}: xTB relaxation did not reach fmax {fmax} eV/Å in 1000 BFGS steps")
    # Rounded to 1e-6 Å (far below what fmax resolves) so that last-bit differences of the
    # BLAS under BFGS (thread count, CPU kernels) do not reach the trajectory.
    relaxed = Atoms(numbers=atoms.numbers, positions=np.round(atoms.positions, 6))
    relaxed.info["source"] = source.description
    return relaxed


def _state(numbers: np.ndarray, positions: np.ndarray, velocities: np.ndarray, p: dict[str, Any]) -> Any:
    """A fresh Atoms (centre of mass fixed, fresh calculator) at a stored state (Å, Å/fs)."""
    from ase import Atoms, units
    from ase.constraints import FixCom

    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.set_constraint(FixCom())
    atoms.set_velocities(velocities / units.fs)
    atoms.calc = _calculator(p["method"], p["accuracy"])
    return atoms


def _langevin(atoms: Any, p: dict[str, Any], rng: np.random.Generator) -> Any:
    from ase import units
    from ase.md.langevin import Langevin

    return Langevin(
        atoms,
        p["timestep"] * units.fs,
        temperature_K=p["temperature"],
        friction=p["friction"] / units.fs,
        fixcm=False,
        rng=rng,
    )


def _run(atoms: Any, p: dict[str, Any], steps: int, rng: np.random.Generator, where: str) -> None:
    from ase.calculators.calculator import CalculationFailed

    dynamics = _langevin(atoms, p, rng)
    forces = None
    try:
        for _ in range(steps):
            forces = dynamics.step(forces)
    except CalculationFailed as exc:
        raise RuntimeError(f"xtb-md {p['molecule']}: xTB failed in {where} ({exc})") from None


def _thermalize(atoms: Any, temperature: float, rng: np.random.Generator) -> None:
    """Maxwell-Boltzmann momenta at ``temperature`` (K) drawn from ``rng``."""
    from ase.md import velocitydistribution

    # ASE 3.29 renamed MaxwellBoltzmannDistribution (same draws); older versions lack the new name.
    thermalize = getattr(velocitydistribution, "thermalize_momenta", None)
    if thermalize is not None:
        thermalize(atoms, temperature, rng=rng)
    else:
        velocitydistribution.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)


def _equilibrated(p: dict[str, Any], start: Any) -> tuple[np.ndarray, np.ndarray]:
    """Positions (Å) and velocities (Å/fs) after the discarded equilibration."""
    from ase import units

    rng = np.random.default_rng([p["seed"], 0])
    atoms = _state(start.numbers, start.positions, np.zeros_like(start.positions), p)
    _thermalize(atoms, p["temperature"], rng)
    _run(atoms, p, p["equilibration"], rng, "the equilibration")
    return atoms.get_positions(), atoms.get_velocities() * units.fs


def _frame(
    p: dict[str, Any], numbers: np.ndarray, positions: np.ndarray, velocities: np.ndarray, index: int
) -> dict[str, Any]:
    """Frame ``index``: ``stride`` steps on from the previous frame's stored state."""
    from ase import units

    atoms = _state(numbers, positions, velocities, p)
    _run(atoms, p, p["stride"], np.random.default_rng([p["seed"], 1, index]), f"frame {index}")
    frame = {
        "positions": atoms.get_positions(),
        "velocities": atoms.get_velocities() * units.fs,
        "energies": np.float64(atoms.get_potential_energy()),
        "forces": atoms.get_forces(apply_constraint=False),
    }
    if not all(np.isfinite(v).all() for v in frame.values()):
        raise RuntimeError(
            f"xtb-md {p['molecule']}: non-finite energy, forces or positions at frame {index}; "
            "lower the timestep or the temperature"
        )
    return frame


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("tblite", "ase", "rdkit"):
        try:
            found[f"{package}_version"] = version(package)
        except PackageNotFoundError:
            found[f"{package}_version"] = "not installed"
    return found


def generate_xtb_md(out: str | Path, *, progress: bool | None = None, **overrides: Any) -> Path:
    """Run (or resume) the ``xtb-md`` recipe for one molecule into the HDF5 file ``out``.

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
        Parameters (defaults :data:`XTB_MD_DEFAULTS`): ``molecule`` (required, a key of
        :data:`MOLECULES`), ``frames``, ``temperature`` (K), ``timestep`` (fs),
        ``friction`` (1/fs), ``stride`` (steps per stored frame), ``equilibration``
        (discarded steps), ``seed``, ``chunk`` (frames per written block), ``method``,
        ``accuracy`` (tblite's SCF accuracy), ``relax_fmax`` (eV/Å).

    Returns
    -------
    pathlib.Path
        The finished file (schema ``xtb_md``): ``positions`` (frames, n_atoms, 3) Å,
        ``energies`` (frames,) eV, ``forces`` (frames, n_atoms, 3) eV/Å, ``velocities``
        (frames, n_atoms, 3) Å/fs; root attributes ``numbers`` (n_atoms,),
        ``start_positions`` (the relaxed geometry), ``molecule``, ``smiles``, ``source``,
        units and tblite / ASE / RDKit versions. Load it with
        :func:`physics.data.load_molecules`.

    Raises
    ------
    ValueError
        For bad parameters (before any file is written).
    ImportError
        Without ase / tblite / rdkit: ``pip install 'tnkit[chem]'``.

    Examples
    --------
    >>> import tempfile, os
    >>> from physics.data import load_molecules
    >>> path = os.path.join(tempfile.mkdtemp(), "ethanol.h5")
    >>> _ = generate_xtb_md(path, molecule="ethanol", frames=3, stride=2, equilibration=4, progress=False)
    >>> d = load_molecules(path)
    >>> d["numbers"].tolist(), d["positions"].shape, d["forces"].shape, d["energies"].shape
    ([6, 6, 8, 1, 1, 1, 1, 1, 1], (3, 9, 3), (3, 9, 3), (3,))
    """
    import h5py

    p = resolve_xtb_md(overrides)
    _need_chem()
    record = {"function": f"{__name__}.generate_xtb_md", "parameters": {"name": "xtb-md", **p}}
    start = relaxed_molecule(p["molecule"], method=p["method"], accuracy=p["accuracy"], fmax=p["relax_fmax"])
    numbers = np.asarray(start.numbers, dtype=np.int64)
    n, total = len(numbers), p["frames"]
    source = MOLECULES[p["molecule"]]
    attrs = {
        "dataset": "xtb-md",
        "molecule": p["molecule"],
        "formula": start.get_chemical_formula(),
        "smiles": source.smiles,
        "source": source.description,
        "numbers": numbers,
        "start_positions": start.positions,
        "start_geometry": f"{source.description}; relaxed with {p['method']} (tblite) by ASE BFGS to fmax "
        f"{p['relax_fmax']:g} eV/Å",
        "summary": f"{p['method']} Langevin MD of {p['molecule']} at {p['temperature']:g} K, {p['timestep']:g} fs "
        f"steps, friction {p['friction']:g}/fs, a frame every {p['stride']} steps after {p['equilibration']} "
        f"discarded steps; centre of mass fixed; tblite SCF accuracy {p['accuracy']:g}",
        "units": "positions: angstrom; energies: eV; forces: eV/angstrom; velocities: angstrom/fs",
        **_versions(),
    }
    arrays = {
        "positions": ((total, n, 3), "float64"),
        "velocities": ((total, n, 3), "float64"),
        "energies": ((total,), "float64"),
        "forces": ((total, n, 3), "float64"),
    }
    writer = ChunkedWriter(
        out, arrays, schema=SCHEMA, generator=record, attrs=attrs, compression="gzip", chunk_rows=p["chunk"]
    )
    if writer.complete:
        return writer.path
    bar = progress_report(total, p["molecule"], progress, unit="frame")
    try:
        if writer.done == 0:
            positions, velocities = _equilibrated(p, start)
        else:
            with h5py.File(writer.partial, "r") as handle:
                positions = handle["positions"][writer.done - 1]
                velocities = handle["velocities"][writer.done - 1]
            if not (np.isfinite(positions).all() and np.isfinite(velocities).all()):
                raise DataError.at(writer.partial, f"frame {writer.done - 1} is not finite; remove the partial file")
        if bar is not None:
            bar.update(writer.done)
        for first in range(writer.done, total, p["chunk"]):
            block: dict[str, list[Any]] = {key: [] for key in arrays}
            for index in range(first, min(first + p["chunk"], total)):
                frame = _frame(p, numbers, positions, velocities, index)
                positions, velocities = frame["positions"], frame["velocities"]
                for key, value in frame.items():
                    block[key].append(value)
                if bar is not None:
                    bar.update(1)
            writer.write(first, {key: np.stack(values) for key, values in block.items()})
        return writer.finish()
    finally:
        writer.close()
        if bar is not None:
            bar.close()
