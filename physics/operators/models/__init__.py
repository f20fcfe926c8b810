"""Neural-operator models assembled from :mod:`physics.operators.layers`.

:class:`FNO` and :class:`TFNO` (Fourier neural operators, the latter with factorized
spectral weights), :class:`MGTFNO` (multi-grid domain decomposition around a TFNO),
:class:`MgNO` (multigrid V-cycles) and :class:`LSM` (latent spectral models). Each maps
``(batch, in_channels, *spatial)`` to ``(batch, out_channels, *spatial)``.
"""

from physics.operators.models.fno import FNO, TFNO
from physics.operators.models.lsm import LSM
from physics.operators.models.mg_tfno import MGTFNO, multigrid_patches, stitch
from physics.operators.models.mgno import MgNO

__all__ = ["FNO", "TFNO", "MGTFNO", "multigrid_patches", "stitch", "MgNO", "LSM"]
