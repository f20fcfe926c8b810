"""Discretised partial differential equations posed as linear tensor ODEs ``dY/dt = A Y``.

The operators are :class:`tnkit._kron.KronOperator` sums of Kronecker products, so the
tree-tensor-network integrators can apply them factor by factor.
"""

from physics.pde.radiative_transfer import (
    DEFAULT_SIZES,
    QUICK_SIZES,
    RadiativeTransfer1D,
    legendre_transport_matrix,
    radiative_transfer_problem,
)

__all__ = [
    "DEFAULT_SIZES",
    "QUICK_SIZES",
    "RadiativeTransfer1D",
    "legendre_transport_matrix",
    "radiative_transfer_problem",
]
