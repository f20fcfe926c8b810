"""Train a Latent Spectral Model (LSM) on Darcy flow (darcy_64), test at 64^2.

    python validation/scripts/train_lsm_darcy.py --epochs 30 --samples 256 --out results/scripts/lsm

Writes ``checkpoint.pt`` (resumable: run again with ``--resume``) and ``loss.png`` into
``--out``. The defaults train a small model on 64 samples in well under a minute on one core.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from physics.data import load_arrays
from physics.operators import LSM, train
from tnkit.run import Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=64, help="training samples (at most 256)")
    parser.add_argument("--hidden", type=int, default=16, help="features at the finest scale")
    parser.add_argument("--scales", type=int, default=4, help="U-Net scales (64, 32, 16, 8 points)")
    parser.add_argument("--out", type=Path, default=Path("results/scripts/lsm_darcy"))
    parser.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data = load_arrays("darcy_64")
    model = LSM(1, 1, hidden_channels=args.hidden, n_heads=4, n_scales=args.scales, projection_channels=64)
    result = train(
        model,
        (data["a"][: args.samples], data["u"][: args.samples]),
        test_data={"64": "darcy_test_64"},
        epochs=args.epochs,
        batch_size=16,
        lr=2e-3,
        loss="l2",
        eval_every=5,
        run=Run(
            checkpoint=args.out / "checkpoint.pt", checkpoint_every=5, resume=args.resume, plot=args.out / "loss.png"
        ),
    )
    print(
        f"LSM: {result.n_params} parameters, test relative L2 {result.final()['64_l2']:.4f} at 64^2; "
        f"outputs in {args.out}"
    )


if __name__ == "__main__":
    main()
