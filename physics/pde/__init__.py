"""Reference PDE solvers and discretised PDEs.

- Periodic pseudo-spectral solvers (:mod:`physics.pde.spectral_solvers`): 2D
  incompressible Navier-Stokes in vorticity form and 1D viscous Burgers; exact Burgers
  solution by Cole-Hopf (:mod:`physics.pde.cole_hopf`).
- Elliptic problems on the unit square with Dirichlet boundaries
  (:mod:`physics.pde.elliptic`): Darcy flow (conservative 5-point finite differences,
  sparse direct or preconditioned CG), Poisson and Helmholtz (sine-transform solves).
- Gaussian random fields (:mod:`physics.pde.grf`), the random inputs of the datasets.
- Linear tensor ODEs ``dY/dt = A Y`` (radiative transfer, matrix ODEs) whose operators are
  :class:`tnkit.tree.kron.KronOperator` sums of Kronecker products, so the tree-tensor-network
  integrators can apply them factor by factor.
"""

from physics.pde.cole_hopf import burgers_sine_exact
from physics.pde.elliptic import Darcy2D, Helmholtz2D, Poisson2D, unit_square_grid
from physics.pde.grf import GaussianRandomField
from physics.pde.radiative_transfer import (
    DEFAULT_SIZES,
    QUICK_SIZES,
    RadiativeTransfer1D,
    legendre_transport_matrix,
    radiative_transfer_problem,
)
from physics.pde.spectral_solvers import Burgers1D, NavierStokes2D, fno_forcing

__all__ = [
    "Burgers1D",
    "Darcy2D",
    "Helmholtz2D",
    "Poisson2D",
    "unit_square_grid",
    "GaussianRandomField",
    "NavierStokes2D",
    "burgers_sine_exact",
    "fno_forcing",
    "DEFAULT_SIZES",
    "QUICK_SIZES",
    "RadiativeTransfer1D",
    "legendre_transport_matrix",
    "radiative_transfer_problem",
]
