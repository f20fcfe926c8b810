"""Train an MgNO (multigrid V-cycles as the linear operators) on Darcy flow (darcy_64), test at 64^2.

    python validation/scripts/train_mgno_darcy.py --epochs 30 --samples 256 --out results/scripts/mgno

Writes ``checkpoint.pt`` (resumable: run again with ``--resume``) and ``loss.png`` into
``--out``. The defaults train a small model on 64 samples in well under a minute on one core.
The Dirichlet multigrid padding matches the Darcy boundary condition ``u = 0``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from physics.data import load_arrays
from physics.operators import MgNO, train
from tnkit.run import Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=64, help="training samples (at most 256)")
    parser.add_argument("--hidden", type=int, default=16, help="channels of every layer and grid level")
    parser.add_argument("--levels", type=int, default=4, help="grids per V-cycle (64, 32, 16, 8 points)")
    parser.add_argument("--out", type=Path, default=Path("results/scripts/mgno_darcy"))
    parser.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data = load_arrays("darcy_64")
    model = MgNO(1, 1, hidden_channels=args.hidden, n_layers=4, levels=args.levels, boundary="dirichlet")
    result = train(
        model,
        (data["a"][: args.samples], data["u"][: args.samples]),
        test_data={"64": "darcy_test_64"},
        epochs=args.epochs,
        batch_size=16,
        lr=1e-3,
        loss="l2",
        eval_every=5,
        run=Run(
            checkpoint=args.out / "checkpoint.pt", checkpoint_every=5, resume=args.resume, plot=args.out / "loss.png"
        ),
    )
    print(
        f"MgNO: {result.n_params} parameters, test relative L2 {result.final()['64_l2']:.4f} at 64^2; "
        f"outputs in {args.out}"
    )


if __name__ == "__main__":
    main()
