"""Train an FNO on Darcy flow (darcy_64) and test it at 64^2 and, zero-shot, at 127^2.

    python validation/scripts/train_fno_darcy.py --epochs 20 --samples 256 --out results/scripts/fno

Writes ``checkpoint.pt`` (resumable: run again with ``--resume``) and ``loss.png`` into
``--out``. The defaults train a small model on 64 samples in well under a minute on one core.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from physics.data import load_arrays
from physics.operators import FNO, train
from tnkit.run import Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=64, help="training samples (at most 256)")
    parser.add_argument("--hidden", type=int, default=16, help="hidden channels")
    parser.add_argument("--modes", type=int, default=12, help="Fourier modes per axis")
    parser.add_argument("--out", type=Path, default=Path("results/scripts/fno_darcy"))
    parser.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data = load_arrays("darcy_64")
    model = FNO(1, 1, n_modes=(args.modes, args.modes), hidden_channels=args.hidden, n_layers=4)
    result = train(
        model,
        (data["a"][: args.samples], data["u"][: args.samples]),
        test_data={"64": "darcy_test_64", "127": "darcy_test_127"},
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
        f"FNO: {result.n_params} parameters, test relative L2 {final['64_l2']:.4f} at 64^2, "
        f"{final['127_l2']:.4f} at 127^2 (zero-shot); outputs in {args.out}"
    )


if __name__ == "__main__":
    main()
