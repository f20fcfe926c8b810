"""Neural operators: FNO, TFNO (factorized through tnkit), MG-TFNO, MgNO and LSM, with training.

The building blocks live in :mod:`physics.operators.layers`, the models assembled from
them in :mod:`physics.operators.models`; every public name is re-exported here.

Models map a batch of input functions sampled on a grid, ``(batch, in_channels, *spatial)``,
to output functions ``(batch, out_channels, *spatial)``; :func:`train` fits them to
:mod:`physics.data` datasets with relative L2/H1 losses, normalisation, schedules,
checkpoints and multi-resolution evaluation.
"""

from physics.operators.layers import FACTORIZATIONS, ChannelMLP, Pointwise, SpectralConv, factorized_ranks
from physics.operators.losses import H1Loss, LpLoss, relative_h1, relative_lp
from physics.operators.models import FNO, LSM, MGTFNO, TFNO, MgNO, multigrid_patches, stitch
from physics.operators.train import NormalizedOperator, TrainResult, as_pair, evaluate, train

__all__ = [
    "FNO",
    "TFNO",
    "MGTFNO",
    "multigrid_patches",
    "stitch",
    "MgNO",
    "LSM",
    "ChannelMLP",
    "Pointwise",
    "SpectralConv",
    "FACTORIZATIONS",
    "factorized_ranks",
    "H1Loss",
    "LpLoss",
    "relative_h1",
    "relative_lp",
    "NormalizedOperator",
    "TrainResult",
    "as_pair",
    "evaluate",
    "train",
]
