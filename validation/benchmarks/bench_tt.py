"""Tensor-train decompositions against their peers: TT-SVD vs tensorly, TT-cross vs teneva.

* ``tt_svd 256^3``: :func:`tnkit.decompositions.tt.tt_svd` with ``max_rank=16`` against
  ``tensorly.decomposition.tensor_train(x, rank=[1, 16, 16, 1])`` on an n x n x n tensor
  of multilinear rank 16 plus 1e-3 relative Gaussian noise. tnkit splits the wide first
  unfolding (n x n^2) through its n x n Gram matrix instead of a full SVD; the goal is a
  time ratio <= 0.05 at n = 256 with a relative error no more than 1.01x tensorly's
  (``max_rel_diff`` is ``|err_tnkit - err_tensorly| / err_tensorly``; both errors go
  into the JSON).
* ``tt_cross gaussians``: :func:`tnkit.tt_cross` (one-site cross, the default, tol 1e-7)
  against ``teneva.cross`` (one-site cross with rect-maxvol rank growth, e=1e-7, start
  rank 2) on a sum of four Gaussians on an n^d grid over [-1, 1]^d; the JSON records
  each method's evaluation count and relative error on 10^4 random grid points.

NumPy only: tensorly and teneva run on NumPy here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
from _cases import Case, Contenders, Skip

TT_SIZES = (128, 256)
TT_SIZES_QUICK = (64,)
TT_RANK = 16
NOISE = 1e-3
CROSS_SIZES = {False: ((10, 32),), True: ((6, 16),)}


def _noisy_tucker(n: int, rank: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    core = rng.standard_normal((rank, rank, rank))
    u = [np.linalg.qr(rng.standard_normal((n, rank)))[0] for _ in range(3)]
    x = np.einsum("abc,ia,jb,kc->ijk", core, *u)
    return x + NOISE * np.linalg.norm(x) / np.sqrt(x.size) * rng.standard_normal(x.shape)


def _prepare_tt_svd(n: int) -> Contenders:
    try:
        from tnkit.decompositions.tt import tt_svd
    except ImportError as exc:
        raise Skip(f"tnkit.decompositions.tt not importable: {exc}") from None
    if importlib.util.find_spec("tensorly") is None:
        raise Skip("tensorly not installed (pip install 'tnkit[peers]')")
    import tensorly as tl
    from tensorly.decomposition import tensor_train

    x = _noisy_tucker(n, TT_RANK, n)
    nx = float(np.linalg.norm(x))
    ranks = [1, TT_RANK, TT_RANK, 1]
    errors: dict[str, float] = {}

    def ours() -> Any:
        return tt_svd(x, max_rank=TT_RANK)

    def theirs() -> Any:
        return tensor_train(x, rank=ranks)

    errors["tnkit_rel_error"] = float(np.linalg.norm(ours().to_dense() - x)) / nx
    errors["tensorly_rel_error"] = float(np.linalg.norm(tl.tt_to_tensor(theirs()) - x)) / nx
    diff = abs(errors["tnkit_rel_error"] - errors["tensorly_rel_error"]) / errors["tensorly_rel_error"]
    return Contenders(tnkit=ours, peer=theirs, max_rel_diff=diff, details=lambda: dict(errors))


def _gaussians(d: int, n: int) -> tuple[Any, np.ndarray, np.ndarray]:
    here = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location(
        "_tt_cross_gaussians", here / "decompositions" / "tt_cross_gaussians.py"
    )
    if spec is None or spec.loader is None:
        raise Skip("validation/decompositions/tt_cross_gaussians.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(2010)
    grid, at_points = module._gaussian_sum(d, n, rng)
    probe = rng.integers(0, n, size=(10_000, d))
    return (lambda idx: at_points(grid[idx])), probe, at_points(grid[probe])


def _prepare_cross(d: int, n: int) -> Contenders:
    try:
        from tnkit.decompositions.tt_cross import tt_cross
    except ImportError as exc:
        raise Skip(f"tnkit.tt_cross not importable: {exc}") from None
    if importlib.util.find_spec("teneva") is None:
        raise Skip("teneva not installed (pip install teneva; numpy-only peer)")
    import teneva

    f, probe, ref = _gaussians(d, n)
    facts: dict[str, Any] = {"grid_size": float(n) ** d}

    def ours() -> Any:
        return tt_cross(f, (n,) * d, tol=1e-7, rng=0)

    def theirs() -> Any:
        info: dict[str, Any] = {}
        cores = teneva.cross(f, teneva.rand([n] * d, 2, seed=0), e=1e-7, nswp=30, dr_max=2, info=info)
        return cores, info

    tt, info = ours()
    cores, tinfo = theirs()
    nref = float(np.linalg.norm(ref))
    facts["tnkit_evaluations"] = info.evaluations
    facts["teneva_evaluations"] = int(tinfo["m"])
    facts["tnkit_rel_error"] = float(np.linalg.norm(np.asarray(tt.evaluate(probe)) - ref)) / nref
    facts["teneva_rel_error"] = float(np.linalg.norm(teneva.get_many(cores, probe) - ref)) / nref
    facts["tnkit_ranks"] = list(tt.ranks)
    diff = abs(facts["tnkit_rel_error"] - facts["teneva_rel_error"])
    return Contenders(tnkit=ours, peer=theirs, max_rel_diff=diff, details=lambda: dict(facts))


def cases(quick: bool) -> list[Case]:
    """NumPy cases; run.py filters and skips."""
    out: list[Case] = []
    for n in TT_SIZES_QUICK if quick else TT_SIZES:
        out.append(
            Case(
                name="tt_svd noisy-tucker",
                backend="numpy",
                size=n,
                peer="tensorly.decomposition.tensor_train",
                prepare=lambda m=n: _prepare_tt_svd(m),
                target_ratio=0.05 if n >= 256 else None,
                effort=(0 if n >= 256 else 1, 5.0, 3, 10),
            )
        )
    for d, n in CROSS_SIZES[quick]:
        out.append(
            Case(
                name=f"tt_cross gaussians d={d}",
                backend="numpy",
                size=n,
                peer="teneva.cross",
                prepare=lambda dd=d, m=n: _prepare_cross(dd, m),
                target_ratio=None,
                effort=(1, 3.0, 3, 20),
            )
        )
    return out
