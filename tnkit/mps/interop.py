"""Conversion between tnkit objects and quimb's (optional dependency)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tnkit import backend
from tnkit.mps.mps import MPS

__all__ = ["mps_to_quimb", "mps_from_quimb"]


def _quimb_tensor() -> Any:
    try:
        import quimb.tensor as qtn
    except ImportError:
        raise ImportError("quimb is not installed: pip install 'tnkit[peers]'") from None
    return qtn


def mps_to_quimb(psi: MPS) -> Any:
    """``quimb.tensor.MatrixProductState`` with psi's tensors (quimb's 'lrp' layout).

    Arrays keep their library (quimb dispatches on them with autoray).

    Parameters
    ----------
    psi : MPS
        State with at least two sites.
    """
    qtn = _quimb_tensor()
    xp = psi.xp
    L = psi.length
    if L == 1:
        raise ValueError("mps_to_quimb: quimb's MatrixProductState needs at least two sites")
    arrays = []
    for i, t in enumerate(psi.tensors):
        if i == 0:
            arrays.append(xp.matrix_transpose(t[0, :, :]))  # (r, p)
        elif i == L - 1:
            arrays.append(t[:, :, 0])  # (l, p)
        else:
            arrays.append(xp.permute_dims(t, (0, 2, 1)))  # (l, r, p)
    return qtn.MatrixProductState(arrays, shape="lrp")


def mps_from_quimb(qmps: Any, *, like: Any = None) -> MPS:
    """tnkit MPS from a quimb ``MatrixProductState`` (any array layout).

    Parameters
    ----------
    qmps : quimb.tensor.MatrixProductState
        The state.
    like : array, optional
        Array whose library, device and dtype the tensors take; default NumPy, the
        arrays' own dtype.
    """
    qmps = qmps.copy()
    qmps.permute_arrays("lrp")
    arrays = list(qmps.arrays)
    L = len(arrays)
    host = [np.asarray(backend.to_host(a)) if not isinstance(a, np.ndarray) else a for a in arrays]
    tensors = []
    for i, a in enumerate(host):
        if i == 0:
            tensors.append(a.T[None, :, :])
        elif i == L - 1:
            tensors.append(a[:, :, None])
        else:
            tensors.append(np.transpose(a, (0, 2, 1)))
    if like is None:
        return MPS([np.ascontiguousarray(t) for t in tensors])
    xp = backend.namespace(like)
    return MPS([xp.asarray(t, dtype=like.dtype, device=backend.device_of(like)) for t in tensors])
