"""TensorNet and EGNN: energies invariant and forces equivariant under O(3), translations and
relabelling of atoms; forces equal minus the finite-difference gradient of the energy.

Both models are evaluated on rattled ethanol and aspirin (an xTB MD frame) geometries and, for the
periodic case, a rattled silicon supercell
(stress checked as a rank-2 tensor): in float64 with every weight randomly perturbed (an
exact-symmetry test in which no path is near zero), in float32 as initialised (a rounding
test). Random rotations (half of them improper), translations, lattice shifts and
permutations are drawn and measured by :func:`physics.equivariant.equivariance_errors` (the
measurement behind ``assert_equivariant``): ``max |out(g x) - g out(x)| / max(1, max |out(x)|)``;
the value of the case is the
worst of these over models, structures and dtypes, divided by the dtype's bound (float64:
1e-10, float32: 1e-5). The force check compares ``-dE/dx`` from central differences (float64,
step 1e-5 A, error O(h^2) ~ 1e-10) with the autograd forces on 12 random coordinates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from physics.equivariant import equivariance_errors
from physics.potentials import EGNN, TensorNet
from tnkit.validation import Case, Outcome

BOUND = {torch.float64: 1e-10, torch.float32: 1e-5}
FD_BOUND = 1e-7  # relative to max |F|


def _structures(quick: bool) -> dict[str, tuple[Any, Any, Any]]:
    from ase.build import bulk, molecule

    rng = np.random.default_rng(0)
    out = {}
    ethanol = molecule("CH3CH2OH")
    out["ethanol"] = (ethanol.numbers, ethanol.positions + 0.05 * rng.normal(size=ethanol.positions.shape), None)
    if not quick:
        from physics.data import load_molecules

        aspirin = load_molecules("xtb_md_aspirin")
        out["aspirin"] = (aspirin["numbers"], aspirin["positions"][0], None)
    si = bulk("Si", "diamond", a=5.43) * (2, 2, 1)
    si.rattle(0.05, seed=1)
    out["Si (periodic)"] = (si.numbers, si.positions, np.asarray(si.cell))
    return out


def _models(dtype: torch.dtype) -> dict[str, torch.nn.Module]:
    """float64: every weight perturbed (so no path is accidentally near zero: an exact-symmetry
    test); float32: the models as initialised, as training starts (a rounding test: wildly
    perturbed weights give forces of ~100 eV/A whose float32 rounding alone exceeds 1e-5)."""
    gen = torch.Generator().manual_seed(1)
    models = {}
    for name, cls in (("TensorNet", TensorNet), ("EGNN", EGNN)):
        torch.manual_seed(0)
        m = cls(32, 2, num_rbf=16, elements=(1, 6, 8, 14), dtype=dtype).eval()
        if dtype == torch.float64:
            with torch.no_grad():
                for p in m.parameters():
                    p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        models[name] = m
    return models


def _worst_deviation(
    model: torch.nn.Module, numbers: Any, positions: Any, cell: Any, dtype: torch.dtype, trials: int
) -> float:
    z = torch.tensor(numbers)
    r = torch.tensor(positions, dtype=dtype)
    c = None if cell is None else torch.tensor(cell, dtype=dtype)

    def outputs(zz: torch.Tensor, rr: torch.Tensor, cc: torch.Tensor | None = None) -> list[torch.Tensor]:
        out = model(zz, rr, cell=cc, stress=cc is not None)
        return [out["energy"].to(dtype), out["forces"]] + ([out["stress"][0]] if cc is not None else [])

    kinds = ["scalar", "vector"] + (["rank2"] if c is not None else [])
    return max(equivariance_errors(outputs, z, r, kinds=kinds, cell=c, trials=trials))


def _fd_error(model: torch.nn.Module, numbers: Any, positions: Any) -> float:
    z = torch.tensor(numbers)
    r = torch.tensor(positions, dtype=torch.float64)
    forces = model(z, r)["forces"]
    rng = np.random.default_rng(2)
    h, worst = 1e-5, 0.0
    for _ in range(12):
        atom, axis = int(rng.integers(len(numbers))), int(rng.integers(3))
        plus, minus = r.clone(), r.clone()
        plus[atom, axis] += h
        minus[atom, axis] -= h
        fd = -(model(z, plus, forces=False)["energy"] - model(z, minus, forces=False)["energy"]) / (2 * h)
        worst = max(worst, abs(float(fd[0] - forces[atom, axis])))
    return worst / max(1.0, float(forces.abs().max()))


def run(quick: bool) -> Outcome:
    structures = _structures(quick)
    rows, table = [], ["| model | structure | dtype | max deviation / scale | bound |", "|---|---|---|---|---|"]
    ratio = 0.0
    for dtype in (torch.float64, torch.float32):
        for model_name, model in _models(dtype).items():
            for name, (numbers, positions, cell) in structures.items():
                dev = _worst_deviation(model, numbers, positions, cell, dtype, trials=2 if quick else 6)
                rows.append({"model": model_name, "structure": name, "dtype": str(dtype), "deviation": dev})
                table.append(f"| {model_name} | {name} | {str(dtype)[6:]} | {dev:.2e} | {BOUND[dtype]:g} |")
                ratio = max(ratio, dev / BOUND[dtype])
    fd = {}
    for model_name, model in _models(torch.float64).items():
        for name, (numbers, positions, cell) in structures.items():
            if cell is None:
                fd[f"{model_name} {name}"] = _fd_error(model, numbers, positions)
                ratio = max(ratio, fd[f"{model_name} {name}"] / FD_BOUND)
    details = {
        "table": "\n".join(table),
        "runs": rows,
        "force_vs_finite_difference": fd,
        "bounds": {"float64": BOUND[torch.float64], "float32": BOUND[torch.float32], "fd": FD_BOUND},
    }
    return Outcome(value=ratio, details=details)


CASE = Case(
    name="potentials_equivariance",
    claim=(
        "TensorNet and EGNN energies are invariant and forces (and the stress) equivariant under rotations, "
        "reflections, translations and atom permutations to 1e-10 in float64 and 1e-5 in float32; forces equal "
        "minus the finite-difference energy gradient"
    ),
    reference="exact symmetry (random O(3) transformations, translations, lattice shifts, permutations); central "
    "finite differences of the energy",
    metric="max over models, structures, dtypes of max|out(g x) - g out(x)| / max(1, |out|), over the dtype's bound",
    tolerance=1.0,
    run=run,
)
