"""Linear algebra on any array namespace: dense factorisations and Krylov solvers.

:mod:`tnkit.linalg.decomp` holds the truncated/randomized SVD, QR and LQ;
:mod:`tnkit.linalg.krylov` the thick-restart Lanczos eigensolver, Davidson and the
Krylov matrix exponential. Every function returns arrays of its input's library, on
its device, in its dtype.
"""

from __future__ import annotations

from tnkit.linalg.decomp import (
    CutoffMode,
    lq,
    qr,
    randomized_svd,
    truncated_svd,
    truncation_rank,
)
from tnkit.linalg.krylov import ConvergenceError, davidson, eigsh, expm_multiply

__all__ = [
    "truncated_svd",
    "qr",
    "lq",
    "randomized_svd",
    "truncation_rank",
    "CutoffMode",
    "eigsh",
    "davidson",
    "expm_multiply",
    "ConvergenceError",
]
