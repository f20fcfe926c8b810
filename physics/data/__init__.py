"""Reference datasets: generators (``tnkit data generate NAME``) and loaders.

A tnkit plug-in: :func:`register` (the ``tnkit.datasets`` entry point, also called on
import) registers this package's manifest and generators with :mod:`tnkit.io`.

Operator-learning recipes (:data:`DATASETS`, loaded with :func:`load_arrays`), GFN2-xTB
molecular dynamics of small molecules (``xtb-md``, :func:`generate_xtb_md`, loaded with
:func:`load_molecules`, exported with :func:`to_extxyz`) and EMT dynamics of periodic Cu / Al
crystals with stress (``emt-crystals``, :func:`generate_emt_crystals`, loaded with
:func:`load_crystals`).

>>> from physics.data import DATASETS, MOLECULES
>>> sorted(DATASETS)
['burgers', 'darcy', 'helmholtz', 'navier-stokes', 'poisson']
>>> list(CRYSTALS)
['cu_bulk', 'al_bulk', 'cu_vacancy', 'cu_slab']
>>> list(MOLECULES)
['ethanol', 'malonaldehyde', 'uracil', 'toluene', 'naphthalene', 'salicylic_acid', 'aspirin', 'benzene']
"""

from physics.data._emt import (
    CRYSTALS,
    EMT_CRYSTALS_DEFAULTS,
    CrystalSystem,
    emt_lattice_constant,
    generate_emt_crystals,
    load_crystals,
    relaxed_crystal,
    resolve_emt_crystals,
)
from physics.data._generators import DATASETS, DatasetSpec, generate, resolve_parameters
from physics.data._loaders import GaussianNormalizer, UnitGaussianNormalizer, load_arrays, torch_dataset
from physics.data._molecules import load_molecules, to_extxyz
from physics.data._registry import ON_DEMAND, SMALL, register
from physics.data._xtb import (
    MOLECULES,
    XTB_MD_DEFAULTS,
    MoleculeSource,
    generate_xtb_md,
    relaxed_molecule,
    resolve_xtb_md,
)

register()

__all__ = [
    "CRYSTALS",
    "CrystalSystem",
    "DATASETS",
    "DatasetSpec",
    "EMT_CRYSTALS_DEFAULTS",
    "GaussianNormalizer",
    "MOLECULES",
    "MoleculeSource",
    "ON_DEMAND",
    "SMALL",
    "UnitGaussianNormalizer",
    "XTB_MD_DEFAULTS",
    "emt_lattice_constant",
    "generate",
    "generate_emt_crystals",
    "generate_xtb_md",
    "load_arrays",
    "load_crystals",
    "load_molecules",
    "register",
    "relaxed_crystal",
    "relaxed_molecule",
    "resolve_emt_crystals",
    "resolve_parameters",
    "resolve_xtb_md",
    "to_extxyz",
    "torch_dataset",
]
