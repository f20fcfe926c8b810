"""The one training package both trainers share (:func:`physics.operators.train`,
:func:`physics.potentials.fit`): data parallelism under ``torchrun``, checkpoints and
resume, an EMA of the weights, optimisers, PNG plots, and the :class:`TrainingSession`
that runs their plumbing from one :class:`tnkit.run.Run`.
"""

from physics.training.checkpoints import applying, load_checkpoint, read_torch_file, save_atomic, state_sha256
from physics.training.distributed import data_parallel, distributed_rank, epoch_order, rank_share
from physics.training.ema import EMA
from physics.training.optim import make_optimizer
from physics.training.plots import save_png
from physics.training.session import TrainingSession

__all__ = [
    "TrainingSession",
    "EMA",
    "make_optimizer",
    "distributed_rank",
    "epoch_order",
    "rank_share",
    "data_parallel",
    "save_atomic",
    "load_checkpoint",
    "state_sha256",
    "applying",
    "read_torch_file",
    "save_png",
]
