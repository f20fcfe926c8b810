"""Every tensor-product backend is O(3)-equivariant and has correct first and second derivatives.

Equivariance: edge products with odd paths (path-weighted backends) and degree-weighted ones
(all backends), in float32, under random orthogonal matrices (half improper): features
rotate by their Wigner matrices times the parity factor, edge vectors by ``R``; the measure
is ``max |f(D x, R v) - D f(x, v)| / max(1, max |f|)`` with bound 1e-6. Gradients: in float64
the derivative of a random projection of the output with respect to features, weights and edge
vectors (including edges 1e-4 from either pole, where the edge frame switches form) against
central differences (step 1e-6, bound 1e-7 relative), and the second derivative — the gradient
of ``|d out / d v|^2``, as force training needs — against differences of the autograd first
derivative (bound 1e-6 relative). The value is the worst measure divided by its bound.
"""

from __future__ import annotations

import torch

from physics.equivariant import BACKENDS, Irreps, TensorProduct, random_orthogonal, wigner_D
from tnkit.validation import Case, Outcome


def _products(L: int, dtype: torch.dtype) -> list[tuple[str, TensorProduct]]:
    f, sh = str(Irreps.spherical_harmonics(L, 2)), str(Irreps.spherical_harmonics(L))
    out = []
    for backend, cls in BACKENDS.items():
        for weighting, in1, o in (("path", f + "+2x1e", f + "+2x1e+2x0o"), ("degree", f, f)):
            tp = TensorProduct(
                in1, sh, o, weighting=weighting, backend="dense", shared_weights=False, internal_weights=False
            )
            if cls.refusal(tp.plan) is None:
                out.append(
                    (
                        f"{backend} {weighting}",
                        TensorProduct(
                            in1,
                            sh,
                            o,
                            weighting=weighting,
                            backend=backend,
                            shared_weights=False,
                            internal_weights=False,
                            dtype=dtype,
                        ),
                    )
                )
    return out


def run(quick: bool) -> Outcome:
    details: dict[str, float] = {}
    worst = 0.0
    g = torch.Generator().manual_seed(0)
    for L in (2,) if quick else (2, 4):
        for name, tp in _products(L, torch.float32):
            Z = 16
            x = torch.randn(Z, tp.irreps_in1.dim, generator=g)
            v = torch.randn(Z, 3, generator=g)
            w = torch.randn(Z, tp.weight_numel, generator=g)
            base = tp(x, weight=w, vectors=v)
            err = 0.0
            for seed in range(4):
                R = random_orthogonal(generator=seed, dtype=torch.float64)
                if seed % 2:
                    R = -R
                R32 = R.float()
                D1, Do = wigner_D(tp.irreps_in1, R).float(), wigner_D(tp.irreps_out, R).float()
                moved = tp(x @ D1.T, weight=w, vectors=v @ R32.T)
                err = max(err, float((moved - base @ Do.T).abs().max()) / max(1.0, float(base.abs().max())))
            details[f"equivariance {name} L={L}"] = err
            worst = max(worst, err / 1e-6)
        for name, tp32 in _products(L, torch.float32):
            tp = TensorProduct(
                tp32.irreps_in1,
                tp32.irreps_in2,
                tp32.irreps_out,
                weighting=tp32.plan.weighting,
                backend=name.split()[0],
                shared_weights=False,
                internal_weights=False,
                dtype=torch.float64,
            )
            Z = 4
            x = torch.randn(Z, tp.irreps_in1.dim, generator=g, dtype=torch.float64)
            v = torch.randn(Z, 3, generator=g, dtype=torch.float64)
            v[0] = torch.tensor([1e-4, 1.0, -2e-4], dtype=torch.float64)
            v[1] = torch.tensor([2e-4, -1.5, 1e-4], dtype=torch.float64)
            w = torch.randn(Z, tp.weight_numel, generator=g, dtype=torch.float64)
            probe = torch.randn(Z, tp.irreps_out.dim, generator=g, dtype=torch.float64)

            def f(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
                return (tp(a, weight=b, vectors=c) * probe).sum()

            args = [t.clone().requires_grad_(True) for t in (x, w, v)]
            grads = torch.autograd.grad(f(*args), args, create_graph=True)
            first = 0.0
            h = 1e-6
            for i, (a, ga) in enumerate(zip(args, [t.detach() for t in grads])):
                for k in torch.randperm(a.numel(), generator=g)[:6].tolist():
                    shifted = [t.detach().clone() for t in args]
                    shifted[i].view(-1)[k] += h
                    plus = float(f(*shifted))
                    shifted[i].view(-1)[k] -= 2 * h
                    minus = float(f(*shifted))
                    fd = (plus - minus) / (2 * h)
                    first = max(first, abs(fd - float(ga.reshape(-1)[k])) / max(1.0, float(ga.abs().max())))
            # second order: d/dv |dF/dv|^2 against differences of the autograd first derivative
            force2 = (grads[2] ** 2).sum()
            (hess,) = torch.autograd.grad(force2, args[2])
            second = 0.0
            for k in range(6):
                shifted = [t.detach().clone().requires_grad_(True) for t in args]
                with torch.no_grad():
                    shifted[2].view(-1)[k] += h
                gp = torch.autograd.grad(f(*shifted), shifted[2])[0]
                shifted = [t.detach().clone().requires_grad_(True) for t in args]
                with torch.no_grad():
                    shifted[2].view(-1)[k] -= h
                gm = torch.autograd.grad(f(*shifted), shifted[2])[0]
                fd = float(((gp**2).sum() - (gm**2).sum()) / (2 * h))
                second = max(second, abs(fd - float(hess.reshape(-1)[k])) / max(1.0, float(hess.abs().max())))
            details[f"gradient {name} L={L}"] = first
            details[f"second derivative {name} L={L}"] = second
            worst = max(worst, first / 1e-7, second / 1e-6)
    return Outcome(value=worst, details=details)


CASE = Case(
    name="equivariant_products_symmetry",
    claim=(
        "every tensor-product backend is O(3)-equivariant (float32) "
        "and its first and second derivatives match finite differences"
    ),
    reference="Wigner matrices x parity; central differences",
    metric="worst error / bound (equivariance 1e-6, gradient 1e-7, second derivative 1e-6)",
    tolerance=1.0,
    run=run,
)
