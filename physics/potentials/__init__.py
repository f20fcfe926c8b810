"""Machine-learned interatomic potentials: TensorNet, MACE and EGNN fitted to energies and forces.

- :func:`neighbor_list` (brute force or cell lists, periodic boundaries, minimum image) in torch;
- :class:`TensorNet` (Simeon & De Fabritiis 2023), :class:`MACE` (Batatia et al. 2022) and
  :class:`EGNN` (Satorras et al. 2021), all :class:`Potential` s: energy as a sum of atomic
  terms plus per-element reference energies, forces by autograd, stress for periodic cells;
- :class:`Frames` (structures with energies and forces; :func:`load_frames` reads the xTB
  datasets of :mod:`physics.data` and extxyz), :func:`fit` and :func:`evaluate` (one loss,
  :func:`energy_force_loss`); :meth:`Potential.save` / :meth:`Potential.load` (also
  :meth:`FitResult.save`) for fitted models;
- :class:`Calculator` for ASE (:meth:`Calculator.from_file` for a saved model) and
  :func:`run_md` (NVE / Langevin with an energy-drift and stability report).

>>> import torch
>>> from physics.potentials import neighbor_list
>>> neighbor_list(torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), 1.5).edge_index
tensor([[0, 1],
        [1, 0]])
"""

from physics.potentials._ase import Calculator, MDResult, bonds_of, run_md
from physics.potentials._egnn import EGNN
from physics.potentials._fit import ENERGY_WEIGHT, FORCE_WEIGHT, FitResult, energy_force_loss, evaluate, fit
from physics.potentials._frames import Batch, Frames, load_frames
from physics.potentials._mace import MACE
from physics.potentials._model import MIN_DISTANCE, Potential, element_counts, fit_reference_energies
from physics.potentials._neighbors import NeighborList, cell_volume, minimum_image, neighbor_list, perpendicular_widths
from physics.potentials._radial import BesselBasis, ExpNormalBasis, GaussianBasis, cosine_cutoff, polynomial_cutoff
from physics.potentials._tensornet import TensorNet

__all__ = [
    "Potential",
    "TensorNet",
    "MACE",
    "EGNN",
    "Frames",
    "Batch",
    "load_frames",
    "fit",
    "evaluate",
    "energy_force_loss",
    "ENERGY_WEIGHT",
    "FORCE_WEIGHT",
    "FitResult",
    "Calculator",
    "run_md",
    "MDResult",
    "bonds_of",
    "fit_reference_energies",
    "element_counts",
    "MIN_DISTANCE",
    "BesselBasis",
    "ExpNormalBasis",
    "GaussianBasis",
    "cosine_cutoff",
    "polynomial_cutoff",
    "NeighborList",
    "cell_volume",
    "minimum_image",
    "neighbor_list",
    "perpendicular_widths",
]
