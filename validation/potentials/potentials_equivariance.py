"""TensorNet, MACE and EGNN: energies invariant and forces equivariant under O(3), translations and
relabelling of atoms; forces and the stress equal finite-difference derivatives of the energy.

The models are evaluated on rattled ethanol and aspirin (an xTB MD frame) geometries and, for the
periodic case, a rattled silicon supercell
(stress checked as a rank-2 tensor): in float64 with every weight randomly perturbed (an
exact-symmetry test in which no path is near zero), in float32 as initialised (a rounding
test). Random rotations (half of them improper), translations, lattice shifts and
permutations are drawn and measured by :func:`physics.equivariant.equivariance_errors` (the
measurement behind ``assert_equivariant``): ``max |out(g x) - g out(x)| / max(1, max |out(x)|)``;
the value of the case is the
worst of these over models, structures and dtypes, divided by the dtype's bound (float64:
1e-10, float32: 1e-5). The force check compares ``-dE/dx`` from central differences (float64,
step 1e-5 A, error O(h^2) ~ 1e-10) with the autograd forces on 12 random coordinates; the
stress check compares ``(1/V) dE/d(strain)`` from central differences of a symmetric strain
(step 1e-5) with the autograd stress, all six components, on the periodic structure. MACE
(16 channels, ``l_max = 3``, correlation 3) is perturbed relative to each weight's scale (its
product basis is cubic in its features: absolute perturbations of 0.3 give energies of 1e10).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from physics.equivariant import equivariance_errors
from physics.potentials import EGNN, MACE, TensorNet
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
    for name in ("TensorNet", "MACE", "EGNN"):
        torch.manual_seed(0)
        if name == "MACE":
            m: torch.nn.Module = MACE(16, 3, elements=(1, 6, 8, 14), average_neighbors=10.0, dtype=dtype).eval()
        else:
            m = (TensorNet if name == "TensorNet" else EGNN)(32, 2, num_rbf=16, elements=(1, 6, 8, 14), dtype=dtype)
            m = m.eval()
        if dtype == torch.float64:
            with torch.no_grad():
                for p in m.parameters():
                    scale = float(p.pow(2).mean().sqrt()) if name == "MACE" else 1.0
                    p.add_(0.3 * scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
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


def _stress_fd_error(model: torch.nn.Module, numbers: Any, positions: Any, cell: Any) -> float:
    z = torch.tensor(numbers)
    r, c = torch.tensor(positions, dtype=torch.float64), torch.tensor(cell, dtype=torch.float64)
    stress = model(z, r, cell=c, stress=True)["stress"][0]
    volume = float(torch.linalg.det(c).abs())
    h, worst = 1e-5, 0.0
    for a, b in ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)):
        energies = []
        for sign in (1.0, -1.0):
            eps = torch.zeros(3, 3, dtype=torch.float64)
            eps[a, b] += 0.5 * sign * h
            eps[b, a] += 0.5 * sign * h
            deform = torch.eye(3, dtype=torch.float64) + eps
            energies.append(float(model(z, r @ deform, cell=c @ deform, forces=False)["energy"][0]))
        fd = (energies[0] - energies[1]) / (2 * h) / volume
        worst = max(worst, abs(fd - float(stress[a, b])))
    return worst / max(1e-3, float(stress.abs().max()))


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
            else:
                fd[f"{model_name} {name} stress"] = _stress_fd_error(model, numbers, positions, cell)
                ratio = max(ratio, fd[f"{model_name} {name} stress"] / FD_BOUND)
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
        "TensorNet, MACE and EGNN energies are invariant and forces (and the stress) equivariant under rotations, "
        "reflections, translations and atom permutations to 1e-10 in float64 and 1e-5 in float32; forces and "
        "the stress equal finite-difference derivatives of the energy"
    ),
    reference="exact symmetry (random O(3) transformations, translations, lattice shifts, permutations); central "
    "finite differences of the energy",
    metric="max over models, structures, dtypes of max|out(g x) - g out(x)| / max(1, |out|), over the dtype's bound",
    tolerance=1.0,
    run=run,
)
