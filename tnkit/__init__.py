"""tnkit: array-agnostic tensor networks (NumPy, CuPy, PyTorch).

Every function finds the array library from its arguments and returns arrays of
that library, on the same device, in the same dtype.

>>> import numpy as np, tnkit
>>> float(tnkit.contract("ij,ji->", np.eye(3), np.eye(3)))
3.0
"""

from __future__ import annotations

from tnkit import backend, decompositions, io, linalg, mps, network, search, tree
from tnkit.backend import namespace
from tnkit.contract import cache_info, clear_cache, contract, contraction_plan
from tnkit.decompositions import (
    CP,
    TR,
    TT,
    ChebTucker,
    CoreShape,
    CrossInfo,
    Tucker,
    core_shape,
    cp_als,
    hooi,
    hosvd,
    sthosvd,
    tr_als,
    tr_svd,
    tt_cross,
    tt_svd,
)
from tnkit.linalg import eigsh, expm_multiply, lq, qr, randomized_svd, truncated_svd
from tnkit.mps import (
    MPO,
    MPS,
    DMRGResult,
    EvolutionResult,
    OpSum,
    models,
)
from tnkit.mps.dmrg import dmrg
from tnkit.mps.tdvp import tdvp
from tnkit.mps.tebd import tebd
from tnkit.network import Structure, TensorNetwork
from tnkit.run import Run
from tnkit.tree import TTN, KronOperator, Tree, bug
from tnkit.version import __version__

__all__ = [
    "__version__",
    "backend",
    "io",
    "decompositions",
    "mps",
    "tree",
    "linalg",
    "namespace",
    "contract",
    "contraction_plan",
    "cache_info",
    "clear_cache",
    "truncated_svd",
    "qr",
    "lq",
    "randomized_svd",
    "eigsh",
    "expm_multiply",
    "models",
    "MPS",
    "MPO",
    "OpSum",
    "KronOperator",
    "Tree",
    "TTN",
    "bug",
    "network",
    "Structure",
    "TensorNetwork",
    "search",
    "Run",
    "dmrg",
    "DMRGResult",
    "tebd",
    "tdvp",
    "EvolutionResult",
    "Tucker",
    "sthosvd",
    "hosvd",
    "hooi",
    "core_shape",
    "CoreShape",
    "CP",
    "cp_als",
    "TT",
    "tt_svd",
    "tt_cross",
    "CrossInfo",
    "TR",
    "tr_svd",
    "tr_als",
    "ChebTucker",
]
