"""Coupling tables: Gaunt coefficients against the Wigner-3j formula, CG tensors against e3nn.

:func:`physics.equivariant.gaunt` integrates three real harmonics by exact quadrature on a
Gauss–Legendre x uniform grid; the closed form is
``G = ± sqrt((2l1+1)(2l2+1)(2l3+1) / 4π) (l1 l2 l3; 0 0 0) C`` with ``(l1 l2 l3; 0 0 0)`` from
sympy's exact Wigner 3j symbol and ``C`` the unit-norm real coupling tensor; odd
``l1 + l2 + l3`` must give zero. :func:`physics.equivariant.wigner_3j` (Racah's formula in
exact rationals, carried into the real basis) is compared with ``e3nn.o3.wigner_3j``, and the
Fourier-Gaunt backend's SH -> 2D-Fourier tables are checked indirectly by the product case.
The value is the worst absolute entry difference over all triples with degrees up to 6
(quick) or 10.
"""

from __future__ import annotations

import itertools
import math

import torch

from physics.equivariant import gaunt, wigner_3j
from tnkit.validation import Case, Outcome


def run(quick: bool) -> Outcome:
    from e3nn import o3
    from sympy.physics.wigner import wigner_3j as exact_3j

    lmax = 6 if quick else 10
    worst_gaunt = worst_cg = 0.0
    count = 0
    for l1, l2, l3 in itertools.product(range(lmax + 1), repeat=3):
        if not abs(l1 - l2) <= l3 <= l1 + l2:
            continue
        count += 1
        C = wigner_3j(l1, l2, l3)
        worst_cg = max(worst_cg, float((C - o3.wigner_3j(l1, l2, l3, dtype=torch.float64)).abs().max()))
        G = gaunt(l1, l2, l3)
        value = math.sqrt((2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1) / (4 * math.pi)) * float(
            exact_3j(l1, l2, l3, 0, 0, 0)
        )
        worst_gaunt = max(worst_gaunt, min(float((G - value * C).abs().max()), float((G + value * C).abs().max())))
    details = {"triples": count, "lmax": lmax, "Gaunt vs 3j formula": worst_gaunt, "CG vs e3nn": worst_cg}
    return Outcome(value=max(worst_gaunt, worst_cg), details=details)


CASE = Case(
    name="equivariant_gaunt_coefficients",
    claim=(
        "Gaunt coefficients equal the Wigner-3j closed form and the CG tensors equal e3nn's, "
        "all triples to l = 6 (10 full)"
    ),
    reference="sympy exact Wigner 3j; e3nn 0.6 o3.wigner_3j",
    metric="max |difference| of table entries",
    tolerance=1e-13,
    run=run,
)
