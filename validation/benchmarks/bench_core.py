"""Core kernels against each library's own raw call: contraction and thin SVD.

* ``contract mps-sandwich``: :func:`tnkit.contract` on a six-tensor network -- two
  MPS site tensors per layer between left and right environments, the shape of a
  two-site expectation value -- against ``numpy.einsum(..., optimize=True)``
  (``torch.einsum`` / ``cupy.einsum`` on those libraries). Bond dimension chi is
  the size; the physical dimension is 4.
* ``truncated_svd full``: :func:`tnkit.linalg.truncated_svd` with no truncation
  on an n x n Gaussian matrix against ``numpy.linalg.svd(a, full_matrices=False)``
  (``torch.linalg.svd`` / ``cupy.linalg.svd``). This measures the wrapper's cost:
  validation, the rank decision, the discarded weight.

Both sides get the same arrays in the same process; tnkit should cost at most 5%
more than the raw call once the problem is big enough (size >= 256) for that to
be measurable.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from _cases import BACKENDS, Case, Contenders, Skip, from_host, max_rel_diff, synchronizer, unavailable

SANDWICH = "ab,acd,bce,dfg,efh,gh->"
PHYS_DIM = 4
TARGET_RATIO = 1.05
TARGET_FROM_SIZE = 256

CONTRACT_SIZES = (64, 128, 256, 512)
CONTRACT_SIZES_QUICK = (64, 256)
SVD_SIZES = (128, 256, 512, 1024)
SVD_SIZES_QUICK = (128, 256)

_EINSUM_PEER = {
    "numpy": "numpy.einsum(optimize=True)",
    "torch": "torch.einsum",
    "torch-cuda": "torch.einsum",
    "cupy": "cupy.einsum(optimize=True)",
}
_SVD_PEER = {
    "numpy": "numpy.linalg.svd",
    "torch": "torch.linalg.svd",
    "torch-cuda": "torch.linalg.svd",
    "cupy": "cupy.linalg.svd",
}


def _require(backend: str) -> None:
    reason = unavailable(backend)
    if reason is not None:
        raise Skip(reason)


def _sandwich_shapes(chi: int, d: int) -> list[tuple[int, ...]]:
    site = (chi, d, chi)
    return [(chi, chi), site, site, site, site, (chi, chi)]


def _einsum_peer(backend: str) -> Any:
    if backend == "numpy":
        return lambda *ops: np.einsum(SANDWICH, *ops, optimize=True)
    if backend in ("torch", "torch-cuda"):
        import torch

        return lambda *ops: torch.einsum(SANDWICH, *ops)
    import cupy

    return lambda *ops: cupy.einsum(SANDWICH, *ops, optimize=True)


def _prepare_contract(backend: str, chi: int) -> Contenders:
    _require(backend)
    try:
        from tnkit import contract
    except ImportError as exc:
        raise Skip(f"tnkit.contract not importable: {exc}") from None
    rng = np.random.default_rng(chi)
    # Scaled so the scalar result stays O(1) at every chi.
    host = [rng.standard_normal(s) / math.sqrt(s[0]) for s in _sandwich_shapes(chi, PHYS_DIM)]
    arrays = [from_host(h, backend) for h in host]
    peer = _einsum_peer(backend)
    diff = max_rel_diff(contract(SANDWICH, *arrays), peer(*arrays))
    return Contenders(
        tnkit=lambda: contract(SANDWICH, *arrays),
        peer=lambda: peer(*arrays),
        sync=synchronizer(backend),
        max_rel_diff=diff,
    )


def _svd_peer(backend: str) -> Any:
    if backend == "numpy":
        return lambda a: np.linalg.svd(a, full_matrices=False)
    if backend in ("torch", "torch-cuda"):
        import torch

        return lambda a: torch.linalg.svd(a, full_matrices=False)
    import cupy

    return lambda a: cupy.linalg.svd(a, full_matrices=False)


def _prepare_svd(backend: str, n: int) -> Contenders:
    _require(backend)
    try:
        from tnkit.linalg import truncated_svd
    except ImportError as exc:
        raise Skip(f"tnkit.linalg not importable: {exc}") from None
    a = from_host(np.random.default_rng(n).standard_normal((n, n)), backend)
    peer = _svd_peer(backend)
    diff = max_rel_diff(truncated_svd(a, max_rank=None, cutoff=0.0)[1], peer(a)[1])
    return Contenders(
        tnkit=lambda: truncated_svd(a, max_rank=None, cutoff=0.0),
        peer=lambda: peer(a),
        sync=synchronizer(backend),
        max_rel_diff=diff,
    )


def _target(size: int) -> float | None:
    return TARGET_RATIO if size >= TARGET_FROM_SIZE else None


def cases(quick: bool) -> list[Case]:
    """Every core case on every backend; run.py filters and skips."""
    out: list[Case] = []
    for backend in BACKENDS:
        for chi in CONTRACT_SIZES_QUICK if quick else CONTRACT_SIZES:
            out.append(
                Case(
                    name="contract mps-sandwich",
                    backend=backend,
                    size=chi,
                    peer=_EINSUM_PEER[backend],
                    prepare=lambda b=backend, c=chi: _prepare_contract(b, c),
                    target_ratio=_target(chi),
                )
            )
        for n in SVD_SIZES_QUICK if quick else SVD_SIZES:
            out.append(
                Case(
                    name="truncated_svd full",
                    backend=backend,
                    size=n,
                    peer=_SVD_PEER[backend],
                    prepare=lambda b=backend, m=n: _prepare_svd(b, m),
                    target_ratio=_target(n),
                )
            )
    return out
