"""Equivariance toolkit: Cartesian rank-2 tensors, irreps over e3nn, symmetry property tests.

* Cartesian algebra (:mod:`physics.equivariant._cartesian`): the I/A/S decomposition of
  ``(..., 3, 3)`` tensors that TensorNet is built on, cross-product matrices, norms and
  invariants.
* Irreps (:mod:`physics.equivariant._irreps`): rank-2 tensors as ``0e + 1e + 2e``
  coefficients in e3nn's basis, Wigner matrices, random rotations.
* Spherical harmonics (:mod:`physics.equivariant._spherical`): real harmonics of any degree
  in e3nn's basis, on any array library, differentiable.
* SO(3) tables and frames (:mod:`physics.equivariant._so3`): Clebsch–Gordan coefficients
  (Racah's formula, e3nn's real basis), Gaunt coefficients, exact sphere grids, smooth edge
  frames and their Wigner matrices.
* Tensor products (:mod:`physics.equivariant._tensor_product`): :class:`TensorProduct` with
  interchangeable backends — dense CG contraction, the eSCN edge-frame SO(2) product, the S²
  grid product, the 2D-Fourier Gaunt product — equal to e3nn's on the same weights, and an
  automatic measured choice; :class:`SphereGrid` transforms to exact sphere grids and back.
* MACE layers (:mod:`physics.equivariant._contraction`): :class:`IrrepsLinear` (e3nn's
  linear map, optionally per element) and :class:`SymmetricContraction` (the product basis of
  body order up to 4 on coupling tensors from :func:`symmetric_coupling_basis`).
* Property tests (:mod:`physics.equivariant._testing`): :func:`assert_invariant` and
  :func:`assert_equivariant` for functions of atomic structures.

>>> import torch
>>> from physics.equivariant import decompose, random_rotation
>>> R = random_rotation(generator=0)
>>> X = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> I, A, S = decompose(R @ X @ R.T)
>>> bool(torch.allclose(S, R @ decompose(X)[2] @ R.T, atol=1e-14))
True
"""

from physics.equivariant._backend_grid import SphereGrid
from physics.equivariant._backends import degree_to_path_weights, gaunt_ratio
from physics.equivariant._cartesian import (
    decompose,
    frobenius_inner,
    frobenius_norm,
    invariants,
    skew,
    symmetric_traceless,
    tensor_norm,
    trace,
    vector_from_skew,
)
from physics.equivariant._contraction import IrrepsLinear, SymmetricContraction, symmetric_coupling_basis
from physics.equivariant._graph import scatter_sum
from physics.equivariant._irreps import (
    RANK2_IRREPS,
    irreps_to_rank2,
    random_orthogonal,
    random_rotation,
    rank2_change_of_basis,
    rank2_to_irreps,
    rank2_wigner_D,
    wigner_D,
)
from physics.equivariant._products import MODES, WEIGHTINGS, Irrep, Irreps, ProductPlan
from physics.equivariant._so3 import (
    edge_rotation,
    gaunt,
    sphere_grid,
    su2_clebsch_gordan,
    wigner_3j,
    wigner_D_from_matrix,
)
from physics.equivariant._spherical import NORMALIZATIONS, spherical_harmonics
from physics.equivariant._tensor_product import BACKENDS, TensorProduct
from physics.equivariant._testing import (
    KINDS,
    Transformation,
    assert_equivariant,
    assert_invariant,
    assert_irreps_equivariant,
    assert_normalized,
    equivariance_errors,
    irreps_equivariance_error,
    normalization_moments,
    random_transformation,
)

__all__ = [
    "BACKENDS",
    "KINDS",
    "MODES",
    "NORMALIZATIONS",
    "WEIGHTINGS",
    "Irrep",
    "Irreps",
    "IrrepsLinear",
    "ProductPlan",
    "SphereGrid",
    "SymmetricContraction",
    "TensorProduct",
    "degree_to_path_weights",
    "edge_rotation",
    "gaunt",
    "gaunt_ratio",
    "scatter_sum",
    "sphere_grid",
    "su2_clebsch_gordan",
    "wigner_3j",
    "wigner_D_from_matrix",
    "RANK2_IRREPS",
    "Transformation",
    "assert_equivariant",
    "assert_invariant",
    "assert_irreps_equivariant",
    "assert_normalized",
    "decompose",
    "equivariance_errors",
    "frobenius_inner",
    "frobenius_norm",
    "invariants",
    "irreps_equivariance_error",
    "irreps_to_rank2",
    "normalization_moments",
    "random_orthogonal",
    "random_rotation",
    "random_transformation",
    "rank2_change_of_basis",
    "rank2_to_irreps",
    "rank2_wigner_D",
    "skew",
    "spherical_harmonics",
    "symmetric_coupling_basis",
    "symmetric_traceless",
    "tensor_norm",
    "trace",
    "vector_from_skew",
    "wigner_D",
]
