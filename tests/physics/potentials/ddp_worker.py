"""Worker for test_fit's DDP test: launched twice by ``torch.distributed.run``.

Each rank fits the same small TensorNet (or MACE, with ``TNKIT_DDP_MODEL=mace``; same seed) with
:func:`physics.potentials.fit`, which
joins the gloo process group torchrun describes and trains on its share of every epoch, and
writes its final parameters and history to ``OUT/rank{RANK}.pt``.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_fit import _morse_frames  # noqa: E402

from physics.potentials import MACE, TensorNet, fit  # noqa: E402
from tnkit.run import Run  # noqa: E402


def small_model(kind: str) -> torch.nn.Module:
    """The model both ranks fit (the test rebuilds it to compare with the start)."""
    if kind == "mace":
        return MACE(4, 1, num_layers=1, elements=(1, 8), cutoff=3.0)
    return TensorNet(8, 1, 4, elements=(1, 8))


def main(out: str) -> None:
    torch.set_num_threads(1)
    frames = _morse_frames(32)
    train, val = frames.split([24, 8])
    torch.manual_seed(0)
    model = small_model(os.environ.get("TNKIT_DDP_MODEL", "tensornet"))
    result = fit(model, train, val, epochs=3, batch_size=4, lr=3e-3, ema_decay=0.0, run=Run(progress=False))
    state = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
    torch.save(
        {"state": state, "history": result.history, "world": int(os.environ["WORLD_SIZE"])},
        os.path.join(out, f"rank{os.environ['RANK']}.pt"),
    )


if __name__ == "__main__":
    main(sys.argv[1])
