"""Tucker decomposition against tensorly on the same noisy low-rank tensor.

* ``tucker hooi``: :func:`tnkit.decompositions.tucker.hooi` (initialised by ST-HOSVD) against
  ``tensorly.decomposition.tucker`` (HOOI, ``init="svd"``, its default
  ``n_iter_max=100, tol=1e-4``), same ranks.
* ``tucker sthosvd``: :func:`tnkit.decompositions.tucker.sthosvd` (one pass, no iterations)
  against the same tensorly call.

The tensor is ``n x n x n`` of exact multilinear rank 16 (Gaussian core,
random orthonormal factors) plus Gaussian noise of relative norm 1e-3; ``n`` is the
size (256, quick: 64). tensorly runs on the same library as tnkit through
``tensorly.backend_context``. The goal: time ratio <= 0.05 with a relative error
at most 1.01x tensorly's; both errors go into the JSON ``details`` and
``max_rel_diff`` is ``|err_tnkit - err_tensorly| / err_tensorly``.

Why tnkit can be this much faster: the mode-``k`` unfolding of the full tensor is
``n x n^2``; ST-HOSVD takes its leading vectors from the ``n x n`` Gram matrix
(one matrix product and a small ``eigh``) and shrinks the tensor before the next
mode, while tensorly's SVD initialisation takes a thin SVD of every full
unfolding. HOOI sweeps then contract the small factors into the tensor first.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from _cases import BACKENDS, Case, Contenders, Skip, from_host, synchronizer, unavailable

RANK = 16
NOISE = 1e-3
SIZE, SIZE_QUICK = 256, 64
TARGET_RATIO = 0.05
ERROR_SLACK = 1.01
PEER = "tensorly.decomposition.tucker (HOOI, init='svd')"
_TL_BACKEND = {"numpy": "numpy", "torch": "pytorch", "torch-cuda": "pytorch", "cupy": "cupy"}


@functools.lru_cache(maxsize=2)
def _host_tensor(n: int) -> np.ndarray:
    rng = np.random.default_rng(n)
    out = rng.standard_normal((RANK, RANK, RANK))
    for k in range(3):
        q, _ = np.linalg.qr(rng.standard_normal((n, RANK)))
        out = np.moveaxis(np.tensordot(q, out, axes=([1], [k])), 0, k)
    noise = rng.standard_normal(out.shape)
    return out + NOISE * np.linalg.norm(out) / np.linalg.norm(noise) * noise


def _prepare(backend: str, n: int, algo: str) -> Contenders:
    reason = unavailable(backend)
    if reason is not None:
        raise Skip(reason)
    try:
        import tensorly as tl
        from tensorly.decomposition import tucker as tl_tucker
    except ImportError:
        raise Skip("tensorly not installed (pip install tensorly)") from None
    try:
        from tnkit.backend import to_host
        from tnkit.decompositions.tucker import hooi, sthosvd
    except ImportError as exc:
        raise Skip(f"tnkit.decompositions.tucker not importable: {exc}") from None
    x = from_host(_host_tensor(n), backend)
    x_host = _host_tensor(n)
    x_norm = float(np.linalg.norm(x_host))
    # Results of every timed call; their errors are measured after timing.
    results: dict[str, list[Any]] = {"tnkit": [], "tensorly": []}

    def rel_err(dense: Any) -> float:
        return float(np.linalg.norm(to_host(dense) - x_host)) / x_norm

    def ours() -> Any:
        t = hooi(x, RANK) if algo == "hooi" else sthosvd(x, ranks=RANK)
        results["tnkit"].append(t)
        return t

    def theirs() -> Any:
        with tl.backend_context(_TL_BACKEND[backend]):
            out = tl_tucker(x, rank=[RANK] * 3, init="svd")
        results["tensorly"].append(out)
        return out

    @functools.cache
    def errors() -> dict[str, list[float]]:
        with tl.backend_context(_TL_BACKEND[backend]):
            peer = [rel_err(tl.tucker_to_tensor((c, f))) for c, f in results["tensorly"]]
        return {"tnkit": [rel_err(t.to_dense()) for t in results["tnkit"]], "tensorly": peer}

    def diff() -> float:
        found = errors()
        return abs(found["tnkit"][-1] - found["tensorly"][-1]) / found["tensorly"][-1]

    def details() -> dict[str, Any]:
        found = errors()
        worst_ours, best_theirs = max(found["tnkit"]), min(found["tensorly"])
        return {
            "tensor": f"{n}^3, multilinear rank {RANK}, relative noise {NOISE:g}",
            "tnkit_algorithm": algo,
            "tnkit_rel_error": worst_ours,
            "tensorly_rel_error": best_theirs,
            "error_ratio": worst_ours / best_theirs,
            "error_goal": f"tnkit <= {ERROR_SLACK} x tensorly in every run",
            "error_goal_met": bool(worst_ours <= ERROR_SLACK * best_theirs),
        }

    return Contenders(tnkit=ours, peer=theirs, sync=synchronizer(backend), max_rel_diff=diff, details=details)


def cases(quick: bool) -> list[Case]:
    """hooi and sthosvd against tensorly's HOOI on every backend; run.py filters and skips."""
    n = SIZE_QUICK if quick else SIZE
    # At 256^3 one tensorly call takes tens of seconds on a CPU: one warm-up-free timed pair.
    effort = None if quick else (0, 0.0, 1, 1)
    return [
        Case(
            name=f"tucker {algo}",
            backend=backend,
            size=n,
            peer=PEER,
            prepare=lambda b=backend, a=algo: _prepare(b, n, a),
            target_ratio=TARGET_RATIO,
            effort=effort,
        )
        for backend in BACKENDS
        for algo in ("hooi", "sthosvd")
    ]
