"""TensorNet fitted to GFN2-xTB energies and forces of ethanol and aspirin: errors and NVE dynamics.

For each molecule the committed 2,000-frame xTB dataset (``xtb_md_ethanol``,
``xtb_md_aspirin``: 500 K Langevin MD, 20 fs between frames) is split at random (seed 0)
into 950 training, 50 validation and the remaining 1,000 test frames. A TensorNet with the
paper's defaults (128 channels, 2 layers, 32 radial functions, cutoff 4.5 A, O(3)) is fitted
with :func:`physics.potentials.fit` following torchmd-net's rMD17 recipe
(``examples/TensorNet-rMD17.yaml``: batch 8, Adam lr 1e-3 with 500 warm-up steps,
ReduceLROnPlateau factor 0.8 / patience 25, loss ``0.5 MSE(E) + 0.5 MSE(F)`` on total
energies, gradient clipping 40) but for ``EPOCHS`` epochs instead of up to 10,000 (a CPU
budget; the errors are those of this budget, not converged ones).

Then a 10 ps NVE run (velocity Verlet, 0.5 fs, float64 copy of the model) starts from the
first test frame with its xTB velocities (500 K).

Value: the worst of ``drift / 1 meV/atom`` (``|<E_tot>`` over the last 10 % minus the first
10 %| per atom), ``force MAE / (FORCE_FRACTION x mean |F|)`` (the fit must explain most of the
force, not only the mean) and 10 for a run where any bond of the starting structure changed
by more than 0.5 A. Quick: ethanol only, a 16-channel, 1-layer model,
100 training frames, 20 epochs (lr 5e-3) and a 0.1 ps run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physics.potentials import TensorNet, evaluate, run_md
from tnkit.validation import Case, Outcome

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _potentials as common  # noqa: E402

DRIFT_BOUND = 1.0  # meV/atom
FORCE_FRACTION = {True: 0.8, False: 0.2}
MD_PS = {True: 0.1, False: 10.0}


def run(quick: bool) -> Outcome:
    cfg = common.settings(quick)
    rows, md_runs, ratio = [], {}, 0.0
    for name in cfg["molecules"]:
        result, parts, idx = common.fitted_tensornet(name, quick)
        frames, data = common.dataset(name)
        test = parts["test"]
        metrics = evaluate(result.model, test, batch_size=64)
        mean_force = float(np.abs(test.forces).mean()) * 1e3
        md_model = TensorNet(**cfg["model"], dtype=torch.float64)
        md_model.load_state_dict(result.model.state_dict())
        k0 = int(idx["test"][0])
        md = run_md(
            common.md_start(frames[[k0]], 0, data["velocities"][k0]),
            md_model,
            time_ps=MD_PS[quick],
            timestep_fs=0.5,
            ensemble="nve",
            interval=20,
            progress=False,
        )
        md_runs[name] = md
        force_ratio = metrics["force_mae"] / (FORCE_FRACTION[quick] * mean_force)
        ratio = max(ratio, md.drift / DRIFT_BOUND, force_ratio, 0.0 if md.stable else 10.0)
        rows.append(
            {
                "molecule": name,
                "atoms": int(frames.n_atoms[0]),
                "epochs": len(result.history["train_loss"]),
                "best_epoch": result.best_epoch,
                "fit_seconds": float(sum(result.history["epoch_time"])),
                "energy_mae_meV": metrics["energy_mae"],
                "energy_mae_meV_per_atom": metrics["energy_mae_per_atom"],
                "force_mae_meV_per_A": metrics["force_mae"],
                "force_rmse_meV_per_A": metrics["force_rmse"],
                "mean_abs_force_meV_per_A": mean_force,
                "md": md.summary(),
                "md_drift_meV_per_atom": md.drift,
                "md_max_deviation_meV_per_atom": md.max_deviation,
                "md_stable": md.stable,
                "md_mean_temperature_K": float(md.temperature.mean()),
            }
        )
    table = [
        "| molecule | epochs | energy MAE (meV) | force MAE (meV/A) | mean abs F (meV/A) | NVE drift "
        "(meV/atom) | stable |",
        "|---|---|---|---|---|---|---|",
    ]
    table += [
        f"| {r['molecule']} | {r['epochs']} | {r['energy_mae_meV']:.1f} | {r['force_mae_meV_per_A']:.1f} | "
        f"{r['mean_abs_force_meV_per_A']:.0f} | {r['md_drift_meV_per_atom']:.3f} | {r['md_stable']} |"
        for r in rows
    ]
    details = {
        "table": "\n".join(table),
        "runs": rows,
        "split": cfg["split"],
        "recipe": cfg["recipe"],
        "model": cfg["model"] or "TensorNet defaults",
    }

    def plot(fig: Any) -> None:
        common.plot_md(fig, md_runs, "TensorNet")

    return Outcome(value=ratio, details=details, plot=plot)


CASE = Case(
    name="potentials_tensornet_md",
    claim=(
        "TensorNet fitted to 950 xTB frames each of ethanol and aspirin predicts test forces well (MAE < 20% of "
        "mean |F|) and runs 10 ps of stable NVE dynamics with <= 1 meV/atom energy drift"
    ),
    reference="GFN2-xTB energies and forces (xtb_md_ethanol, xtb_md_aspirin test frames); exact energy conservation",
    metric="max(drift / 1 meV/atom, force MAE / (0.2 mean|F|), 10 if any bond changed by > 0.5 A)",
    tolerance=1.0,
    run=run,
)
