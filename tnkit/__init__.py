"""tnkit: array-agnostic tensor networks (NumPy, CuPy, PyTorch).

Every function finds the array library from its arguments and returns arrays of
that library, on the same device, in the same dtype.

>>> import numpy as np, tnkit
>>> float(tnkit.contract("ij,ji->", np.eye(3), np.eye(3)))
3.0
"""

from __future__ import annotations

from tnkit import backend, bug, chebyshev, cp, io, linalg, models, network, search, tr, tt, ttn, tucker
from tnkit._contract import cache_info, clear_cache, contract, contraction_plan
from tnkit.backend import namespace
from tnkit._dmrg import DMRGResult, dmrg
from tnkit._evolution import EvolutionResult
from tnkit._tdvp import tdvp
from tnkit._tebd import tebd
from tnkit._tt_cross import CrossInfo, tt_cross
from tnkit.chebyshev import ChebTucker
from tnkit.cp import CP, cp_als
from tnkit.tr import TR, tr_als, tr_svd
from tnkit.tt import TT, tt_svd
from tnkit.tucker import CoreShape, Tucker, core_shape, hooi, hosvd, sthosvd
from tnkit.linalg import eigsh, expm_multiply, lq, qr, randomized_svd, truncated_svd
from tnkit.mpo import MPO
from tnkit.mps import MPS
from tnkit.opsum import OpSum
from tnkit._kron import KronOperator
from tnkit.ttn import TTN, Tree
from tnkit.network import Structure, TensorNetwork

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "backend",
    "io",
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
    "ttn",
    "Tree",
    "TTN",
    "bug",
    "network",
    "Structure",
    "TensorNetwork",
    "search",
    "dmrg",
    "DMRGResult",
    "tebd",
    "tdvp",
    "EvolutionResult",
    "tucker",
    "Tucker",
    "sthosvd",
    "hosvd",
    "hooi",
    "core_shape",
    "CoreShape",
    "cp",
    "CP",
    "cp_als",
    "tt",
    "TT",
    "tt_svd",
    "tt_cross",
    "CrossInfo",
    "tr",
    "TR",
    "tr_svd",
    "tr_als",
    "chebyshev",
    "ChebTucker",
]
