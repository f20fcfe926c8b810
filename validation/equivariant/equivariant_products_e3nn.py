"""Every tensor-product backend equals e3nn 0.6's ``TensorProduct`` on the same weights.

Products of features with spherical harmonics of edge vectors (the convolution of MACE /
NequIP) and of two general irreps, for all degrees up to 6: channelwise ("uvu") and fully
connected ("uvw"), shared and per-edge weights, with odd paths (``1o x 1o -> 1e``) where the
backend can express them. Path-weighted products run on the backends that weight paths
(dense CG, SO(2) edge frame); degree-weighted products (the Gaunt / S² form) on all backends,
e3nn receiving the same weights expanded to paths by ``degree_to_path_weights``. The value is
the worst ``max |ours - e3nn| / max |e3nn|`` divided by its bound: 1e-12 in float64 (e3nn in
float64 too), 1e-5 for our float32 against e3nn's float64.
"""

from __future__ import annotations

from typing import Any

import torch

from physics.equivariant import BACKENDS, Irreps, TensorProduct, degree_to_path_weights, spherical_harmonics
from tnkit.validation import Case, Outcome

BOUND = {torch.float64: 1e-12, torch.float32: 1e-5}


def _configs(quick: bool) -> list[tuple[str, str, str, str, str, str]]:
    """(name, in1, in2, out, mode, weighting)."""
    out = []
    for L in (2, 6) if quick else (1, 2, 3, 4, 5, 6):
        f, sh = str(Irreps.spherical_harmonics(L, 3)), str(Irreps.spherical_harmonics(L))
        out.append((f"edge L={L} uvu", f, sh, f, "uvu", "path"))
        out.append((f"edge L={L} uvu odd paths", f + "+3x1e+3x2o", sh, f + "+3x1e+3x0o+3x3e", "uvu", "path"))
        out.append((f"edge L={L} uvw", f, sh, str(Irreps.spherical_harmonics(L, 2)) + "+2x1e", "uvw", "path"))
        out.append((f"edge L={L} uvu degree", f, sh, f, "uvu", "degree"))
        out.append((f"edge L={L} uvw degree", f, sh, str(Irreps.spherical_harmonics(L, 2)), "uvw", "degree"))
    out.append(("general uvw", "3x0e+2x1o+4x2e+1x3o", "2x0e+3x1o+2x2e+1x1e", "5x0e+3x1o+2x2e+4x1e+2x3o", "uvw", "path"))
    out.append(("general uvu", "3x0e+3x1o+3x2e+3x3o", "2x0e+2x1o+2x2e", "3x0e+3x1o+3x2e+3x1e+3x3o", "uvu", "path"))
    return out


def run(quick: bool) -> Outcome:
    from e3nn import o3

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn builds its constants in the default dtype
    try:
        worst, details, refused = 0.0, {}, {}
        g = torch.Generator().manual_seed(0)
        for name, in1, in2, out, mode, weighting in _configs(quick):
            for shared in (True, False):
                probe = TensorProduct(
                    in1,
                    in2,
                    out,
                    mode=mode,
                    weighting=weighting,
                    backend="dense",
                    shared_weights=shared,
                    internal_weights=False,
                    dtype=torch.float64,
                )
                plan = probe.plan
                ref = o3.TensorProduct(
                    in1,
                    in2,
                    out,
                    [(p.i1, p.i2, p.i_out, mode, True) for p in plan.paths],
                    shared_weights=shared,
                    internal_weights=False,
                )
                Z = 7
                x = torch.randn(Z, plan.irreps_in1.dim, generator=g)
                v = torch.randn(Z, 3, generator=g)
                v[0] = torch.tensor([0.0, 2.0, 0.0])
                v[1] = torch.tensor([0.0, -1.0, 0.0])
                edge = all(m == 1 and ir.p == (-1) ** ir.l for m, ir in plan.irreps_in2)
                y = (
                    spherical_harmonics([ir.l for _, ir in plan.irreps_in2], v)
                    if edge
                    else torch.randn(Z, plan.irreps_in2.dim, generator=g)
                )
                w = torch.randn((plan.weight_numel,) if shared else (Z, plan.weight_numel), generator=g)
                w_paths = (
                    degree_to_path_weights(plan, w.reshape(-1 if not shared else 1, plan.weight_numel))
                    if weighting == "degree"
                    else w
                )
                expected = ref(x, y, w_paths.reshape(-1) if shared else w_paths)
                scale = float(expected.abs().max())
                for backend, cls in BACKENDS.items():
                    reason = cls.refusal(plan)
                    if reason is not None:
                        refused[f"{backend}: {name}"] = reason
                        continue
                    for dtype in (torch.float64, torch.float32):
                        tp = TensorProduct(
                            in1,
                            in2,
                            out,
                            mode=mode,
                            weighting=weighting,
                            backend=backend,
                            shared_weights=shared,
                            internal_weights=False,
                            dtype=dtype,
                        )
                        kwargs: dict[str, Any] = {"vectors": v.to(dtype)} if cls.needs_vectors or edge else {}
                        got = tp(x.to(dtype), None if kwargs else y.to(dtype), w.to(dtype), **kwargs)
                        error = float((got.double() - expected).abs().max()) / scale
                        key = f"{backend} {str(dtype)[6:]}"
                        details[key] = max(details.get(key, 0.0), error)
                        worst = max(worst, error / BOUND[dtype])
        details["refused (one line each)"] = len(refused)
        details["example refusal"] = next(iter(refused.values()), "")
        return Outcome(value=worst, details=details)
    finally:
        torch.set_default_dtype(previous)


CASE = Case(
    name="equivariant_products_e3nn",
    claim=(
        "every tensor-product backend (dense CG, SO(2) edge frame, S² grid, 2D-Fourier Gaunt) "
        "equals e3nn's TensorProduct on the same weights, l <= 6"
    ),
    reference="e3nn 0.6 o3.TensorProduct in float64",
    metric="worst relative error / bound (float64 1e-12, float32 1e-5)",
    tolerance=1.0,
    run=run,
)
