"""Tensor decompositions, one module per format.

* :mod:`~tnkit.decompositions.tucker` — :class:`Tucker`, ST-HOSVD, HOSVD, HOOI;
  :mod:`~tnkit.decompositions.core_shape` — the Tucker core shape within a budget;
* :mod:`~tnkit.decompositions.cp` — :class:`CP` and CP-ALS;
* :mod:`~tnkit.decompositions.tt` — :class:`TT` and TT-SVD;
  :mod:`~tnkit.decompositions.tt_cross` — TT-cross interpolation of a black-box tensor;
* :mod:`~tnkit.decompositions.tr` — :class:`TR`, TR-SVD and TR-ALS;
* :mod:`~tnkit.decompositions.chebyshev` — :class:`ChebTucker`, Tucker-compressed
  Chebyshev series of functions on a box.
"""

from __future__ import annotations

from tnkit.decompositions.chebyshev import ChebTucker
from tnkit.decompositions.chebyshev_basis import chebyshev_coefficients, chebyshev_nodes
from tnkit.decompositions.core_shape import (
    CoreShape,
    core_shape,
    core_shape_from_spectra,
    mode_spectra,
)
from tnkit.decompositions.cp import CP, cp_als
from tnkit.decompositions.tr import TR, tr_als, tr_svd
from tnkit.decompositions.tt import TT, tt_svd
from tnkit.decompositions.tt_cross import CrossInfo, maxvol, tt_cross
from tnkit.decompositions.tucker import Tucker, hooi, hosvd, sthosvd

__all__ = [
    "Tucker",
    "sthosvd",
    "hosvd",
    "hooi",
    "CoreShape",
    "core_shape",
    "core_shape_from_spectra",
    "mode_spectra",
    "CP",
    "cp_als",
    "TT",
    "tt_svd",
    "tt_cross",
    "CrossInfo",
    "maxvol",
    "TR",
    "tr_svd",
    "tr_als",
    "ChebTucker",
    "chebyshev_nodes",
    "chebyshev_coefficients",
]
