"""Operator-learning datasets: generators (``tnkit data generate NAME``) and loaders.

>>> from physics.data import DATASETS
>>> sorted(DATASETS)
['burgers', 'darcy', 'helmholtz', 'navier-stokes', 'poisson']
"""

from physics.data._generators import DATASETS, DatasetSpec, generate, resolve_parameters
from physics.data._loaders import GaussianNormalizer, UnitGaussianNormalizer, load_arrays, torch_dataset
from physics.data._registry import ON_DEMAND, SMALL, register_all

register_all()

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "GaussianNormalizer",
    "ON_DEMAND",
    "SMALL",
    "UnitGaussianNormalizer",
    "generate",
    "load_arrays",
    "resolve_parameters",
    "torch_dataset",
]
