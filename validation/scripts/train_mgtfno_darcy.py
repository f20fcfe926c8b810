"""Train an MG-TFNO (a TFNO on patches with multi-grid context) on Darcy flow (darcy_64), test at 64^2.

    python validation/scripts/train_mgtfno_darcy.py --epochs 20 --samples 256 --out results/scripts/mgtfno

Writes ``checkpoint.pt`` (resumable: run again with ``--resume``) and ``loss.png`` into
``--out``. The defaults train a small model on 64 samples in well under a minute on one core.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from physics.data import load_arrays
from physics.operators import train
from physics.operators.models.mg_tfno import MGTFNO
from tnkit.run import Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=64, help="training samples (at most 256)")
    parser.add_argument("--hidden", type=int, default=16, help="hidden channels")
    parser.add_argument("--modes", type=int, default=12, help="Fourier modes per axis")
    parser.add_argument("--levels", type=int, default=1, help="coarse context levels per patch")
    parser.add_argument("--patches", type=int, default=2, help="patches per axis (64 must divide by it)")
    parser.add_argument("--out", type=Path, default=Path("results/scripts/mgtfno_darcy"))
    parser.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data = load_arrays("darcy_64")
    # 32 x 32 patches (plus 4 points of overlap per side), each with its 2x wider context averaged
    # down; zero padding outside the domain tells a patch where the boundary (u = 0) is
    model = MGTFNO(
        1,
        1,
        n_modes=(args.modes, args.modes),
        levels=args.levels,
        n_patches=args.patches,
        padding_fraction=0.125,
        boundary="zeros",
        hidden_channels=args.hidden,
        n_layers=4,
        rank=0.2,
    )
    result = train(
        model,
        (data["a"][: args.samples], data["u"][: args.samples]),
        test_data={"64": "darcy_test_64"},
        epochs=args.epochs,
        batch_size=16,
        lr=5e-3,
        loss="l2",
        eval_every=5,
        run=Run(
            checkpoint=args.out / "checkpoint.pt", checkpoint_every=5, resume=args.resume, plot=args.out / "loss.png"
        ),
    )
    final = result.final()
    print(
        f"MG-TFNO: {result.n_params} parameters, test relative L2 {final['64_l2']:.4f} at 64^2; outputs in {args.out}"
    )


if __name__ == "__main__":
    main()
