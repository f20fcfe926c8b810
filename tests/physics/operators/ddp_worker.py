"""Worker for test_train's DDP test: launched twice by ``torch.distributed.run``.

Each rank trains the same small TFNO (same seed) on its half of the data with
:func:`physics.operators.train`, which joins the gloo process group torchrun describes,
and writes its final parameters and history to ``OUT/rank{RANK}.pt``.
"""

import os
import sys

import torch

from physics.operators import TFNO, train
from tnkit.run import Run


def main(out: str) -> None:
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 1, 16, 16, generator=gen)
    y = torch.nn.functional.avg_pool2d(x, 3, 1, 1) + 0.1 * x
    torch.manual_seed(0)
    model = TFNO(1, 1, (6, 6), hidden_channels=8, n_layers=2, factorization="tucker", rank=0.5)
    result = train(model, (x, y), epochs=3, batch_size=8, lr=5e-3, loss="l2", run=Run(progress=False))
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save(
        {"state": state, "history": result.history, "world": int(os.environ["WORLD_SIZE"])},
        os.path.join(out, f"rank{os.environ['RANK']}.pt"),
    )


if __name__ == "__main__":
    main(sys.argv[1])
