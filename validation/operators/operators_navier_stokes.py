"""Navier-Stokes, nu = 1e-3: neural operators that step the vorticity forward, one step and rolled out.

The FNO paper's time-stepping task (Li et al., arXiv:2010.08895, Section 5.3) on
``navier_stokes_1e-3_64_seq``: 54 trajectories of the vorticity ``w`` on the 64^2 torus
(FNO forcing, ``nu = 1e-3``), recorded at ``t = 0, 1, ..., 20`` by tnkit's pseudo-spectral
solver (``physics.pde.NavierStokes2D``). A model reads the ten frames ``w(t - 9), ..., w(t)``
as channels and predicts ``w(t + 1)``.

* Training: the first 44 trajectories, every window of the 21 frames (11 per trajectory,
  484 samples), relative L2 loss on the next frame (teacher forcing), per-channel
  normalisation, AdamW, cosine schedule.
* One-step test: the same windows of the last 10 trajectories (110 samples), mean relative
  L2 of the predicted frame.
* Rollout test: from the true ``w(0..9)`` each test trajectory is rolled out to ``t = 20``,
  every prediction fed back as the newest input frame (11 steps); the relative L2 error of
  ``w(t)`` for ``t = 10 .. 20``, averaged over the trajectories, and its mean over the steps
  (the paper's figure of merit).

Baselines that need no model, reported beside the models: persistence ``w(t + 1) = w(t)``
one step ahead, and the frozen field ``w(t) = w(9)`` over the rollout.

Models: FNO and TFNO (Tucker) with the positional grid ``x = j / n`` of the periodic domain,
MgNO with periodic multigrid padding, and LSM. MG-TFNO is left out to keep the full run near
half an hour on one CPU core.

Value: the worst of the normalised checks (each ``<= 1`` passes): every model's rollout error
averaged over the 11 steps, over ``MAX_ROLLOUT[quick]`` (full 0.1, quick 0.3). Full: 30
epochs, batch 16, 32 hidden channels (LSM 16), 23 minutes on one CPU core. Measured (full):
one-step error 0.9 % to 1.3 % for all four models (persistence: 9.9 %); rollout error averaged
over t = 10..20: FNO 2.0 %, TFNO 3.2 %, LSM 6.1 %, MgNO 6.5 % (frozen w(9): 44 %); at t = 20:
2.8 %, 5.1 %, 10.5 %, 10.7 %. Quick: 16 training and 2 test trajectories on the 32^2 subgrid (every other point:
an exact subsample of the periodic 64^2 grid), tiny models, 8 epochs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from physics.data import load_arrays
from physics.operators import FNO, LSM, TFNO, MgNO, relative_lp, train
from tnkit.run import Run
from tnkit.validation import Case, Outcome

DATASET = "navier_stokes_1e-3_64_seq"
HISTORY = 10  # input frames
N_TRAIN_TRAJ = 44
SEED = 0
MAX_ROLLOUT = {True: 0.3, False: 0.1}  # each model's rollout rel L2 averaged over t = 10..20 (quick, full)


def models(quick: bool) -> dict[str, tuple[Callable[[], nn.Module], float, str]]:
    """``name -> (constructor, learning rate, description)``."""
    if quick:
        spectral = dict(
            hidden_channels=12,
            n_layers=2,
            lifting_ratio=1,
            projection_ratio=1,
            channel_mlp=False,
            positional_grid="periodic",
        )
        return {
            "FNO": (lambda: FNO(HISTORY, 1, (8, 8), **spectral), 1e-2, "8 modes, 12 channels, 2 layers"),
            "TFNO": (
                lambda: TFNO(HISTORY, 1, (8, 8), rank=0.2, **spectral),
                1e-2,
                "Tucker rank 0.2, 8 modes, 12 channels, 2 layers",
            ),
            "MgNO": (
                lambda: MgNO(HISTORY, 1, hidden_channels=8, n_layers=2, levels=3, boundary="periodic"),
                5e-3,
                "8 channels, 2 layers, 3 levels, periodic",
            ),
            "LSM": (
                lambda: LSM(HISTORY, 1, hidden_channels=8, n_heads=2, n_scales=3, projection_channels=16),
                5e-3,
                "8 channels, 3 scales, 2 heads",
            ),
        }
    spectral = dict(hidden_channels=32, n_layers=4, positional_grid="periodic")
    return {
        "FNO": (lambda: FNO(HISTORY, 1, (12, 12), **spectral), 5e-3, "12 modes, 32 channels, 4 layers"),
        "TFNO": (
            lambda: TFNO(HISTORY, 1, (12, 12), factorization="tucker", rank=0.2, **spectral),
            5e-3,
            "Tucker rank 0.2, 12 modes, 32 channels, 4 layers",
        ),
        "MgNO": (
            lambda: MgNO(HISTORY, 1, hidden_channels=32, n_layers=4, levels=4, boundary="periodic"),
            1e-3,
            "32 channels, 4 layers, 4 levels, periodic",
        ),
        "LSM": (
            lambda: LSM(HISTORY, 1, hidden_channels=16, n_heads=4, n_scales=4, projection_channels=64),
            1e-3,
            "16 channels, 4 scales, 4 heads, 4 tokens, 12 bases",
        ),
    }


def windows(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ``(w(t-9..t), w(t+1))`` pairs of trajectories ``frames`` (n, T, *grid): inputs
    ``(n * (T - 10), 10, *grid)``, targets ``(n * (T - 10), 1, *grid)``."""
    n, steps = frames.shape[:2]
    xs = [frames[:, s : s + HISTORY] for s in range(steps - HISTORY)]
    ys = [frames[:, s + HISTORY : s + HISTORY + 1] for s in range(steps - HISTORY)]
    return np.concatenate(xs), np.concatenate(ys)


@torch.no_grad()
def rollout(model: nn.Module, frames: np.ndarray) -> np.ndarray:
    """Relative L2 error per rollout step ``(T - 10,)``: start from the true first ten
    frames of ``frames`` (n, T, *grid) and feed every prediction back."""
    model.eval()
    truth = torch.as_tensor(frames, dtype=torch.float32)
    window = truth[:, :HISTORY]
    errors = []
    for t in range(HISTORY, truth.shape[1]):
        pred = model(window)
        errors.append(float(relative_lp(pred, truth[:, t : t + 1])))
        window = torch.cat([window[:, 1:], pred], dim=1)
    return np.asarray(errors)


@torch.no_grad()
def one_step(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 32) -> float:
    model.eval()
    total = 0.0
    for s in range(0, x.shape[0], batch):
        pred = model(torch.as_tensor(x[s : s + batch]))
        total += float(relative_lp(pred, torch.as_tensor(y[s : s + batch]), reduction="sum"))
    return total / x.shape[0]


def run(quick: bool) -> Outcome:
    data = load_arrays(DATASET)
    frames = np.concatenate([data["a"][:, None], data["u"]], axis=1).astype(np.float32)  # w(0..20)
    times = np.concatenate([[0.0], np.asarray(data["times"], dtype=float)])
    if quick:
        frames = frames[..., ::2, ::2]
        train_traj, test_traj, epochs, batch = frames[:16], frames[N_TRAIN_TRAJ : N_TRAIN_TRAJ + 2], 8, 16
    else:
        train_traj, test_traj, epochs, batch = frames[:N_TRAIN_TRAJ], frames[N_TRAIN_TRAJ:], 30, 16
    x_train, y_train = windows(train_traj)
    x_test, y_test = windows(test_traj)

    # what a model must beat: persistence w(t+1) = w(t) one step ahead, w(t) = w(9) for the rollout
    persistence = one_step(nn.Identity(), x_test[:, -1:], y_test)
    frozen = np.asarray(
        [
            float(
                relative_lp(
                    torch.as_tensor(test_traj[:, HISTORY - 1 : HISTORY]), torch.as_tensor(test_traj[:, t : t + 1])
                )
            )
            for t in range(HISTORY, test_traj.shape[1])
        ]
    )

    rows: list[dict[str, Any]] = []
    curves: dict[str, np.ndarray] = {}
    for name, (make, lr, description) in models(quick).items():
        torch.manual_seed(SEED)
        start = time.perf_counter()
        result = train(
            make(),
            (x_train, y_train),
            epochs=epochs,
            batch_size=batch,
            lr=lr,
            loss="l2",
            periodic=True,
            nodes=False,
            run=Run(progress=False),
            seed=SEED,
        )
        seconds = time.perf_counter() - start
        curve = rollout(result.model, test_traj)
        curves[name] = curve
        rows.append(
            {
                "model": name,
                "description": description,
                "params": result.n_params,
                "one_step_l2": one_step(result.model, x_test, y_test),
                "rollout_l2_mean": float(curve.mean()),
                "rollout_l2_final": float(curve[-1]),
                "train_seconds": seconds,
                "final_train_loss": result.history["train_loss"][-1],
            }
        )

    table = [
        "| model | params | one-step rel L2 | rollout rel L2 (mean t=10..20) | at t=20 | train s |",
        "|---|---|---|---|---|---|",
    ]
    table += [
        f"| {r['model']} | {r['params']} | {r['one_step_l2']:.4f} | {r['rollout_l2_mean']:.4f} | "
        f"{r['rollout_l2_final']:.4f} | {r['train_seconds']:.0f} |"
        for r in rows
    ]
    table.append(
        f"| no model: w(t+1) = w(t); rollout w(t) = w(9) | 0 | {persistence:.4f} | {frozen.mean():.4f} | "
        f"{frozen[-1]:.4f} | - |"
    )
    checks = {
        f"{r['model']} rollout mean / {MAX_ROLLOUT[quick]}": r["rollout_l2_mean"] / MAX_ROLLOUT[quick] for r in rows
    }
    rollout_times = times[HISTORY:]
    details = {
        "table": "\n".join(table),
        "rows": rows,
        "baselines": {
            "persistence_one_step_l2": persistence,
            "frozen_w9_rollout_l2_mean": float(frozen.mean()),
            "frozen_w9_rollout_l2_final": float(frozen[-1]),
        },
        "rollout_times": rollout_times.tolist(),
        "rollout_l2": {k: v.tolist() for k, v in curves.items()},
        "grid": frames.shape[-1],
        "train": {
            "trajectories": len(train_traj),
            "windows": int(x_train.shape[0]),
            "epochs": epochs,
            "batch_size": batch,
            "loss": "l2",
        },
        "test": {"trajectories": len(test_traj), "windows": int(x_test.shape[0])},
        "checks": checks,
    }

    def plot(fig: Any) -> None:
        ax = fig.subplots()
        for r in rows:
            ax.semilogy(
                rollout_times,
                curves[r["model"]],
                "o-",
                ms=3,
                label=f"{r['model']} ({r['params'] / 1e3:.0f}k params, one-step {r['one_step_l2']:.3f})",
            )
        ax.semilogy(rollout_times, frozen, "k:", label="w(t) = w(9) (no dynamics)")
        ax.set_xlabel("t (rollout from the true w(0..9))")
        ax.set_ylabel("relative L2 error of w(t)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title(
            f"Navier-Stokes nu=1e-3, {frames.shape[-1]}^2: {len(train_traj)} train / {len(test_traj)} test "
            f"trajectories, {epochs} epochs",
            fontsize=9,
        )

    return Outcome(value=max(checks.values()), details=details, plot=plot)


CASE = Case(
    name="operators_navier_stokes",
    claim=(
        "FNO, TFNO, MgNO and LSM trained one step ahead on Navier-Stokes (nu = 1e-3, 64^2, 10 frames in) roll out "
        "from t = 10 to t = 20 with a bounded relative error"
    ),
    reference="pseudo-spectral Navier-Stokes trajectories (navier_stokes_1e-3_64_seq, 10 held-out trajectories)",
    metric="worst model's rollout rel L2 averaged over t = 10..20 / 0.1 (quick: / 0.3)",
    tolerance=1.0,
    run=run,
)
