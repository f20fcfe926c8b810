"""Data parallelism under ``torchrun``: the rank of this process and its share of an epoch.

Every rank draws the same shuffled order (it depends only on the seed and the epoch, so a
resumed run repeats it) and trains on its own contiguous slice of it.

Examples
--------
>>> distributed_rank()  # a plain process: rank 0 of a world of 1
(0, 1)
>>> epoch_order(5, seed=0, epoch=1).tolist() == epoch_order(5, seed=0, epoch=1).tolist()
True
>>> rank_share(epoch_order(10, 0, 0), rank=1, world=2).numel()
5
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["distributed_rank", "epoch_order", "rank_share", "data_parallel"]


def distributed_rank() -> tuple[int, int]:
    """(rank, world size); joins the process group torchrun describes if not yet joined."""
    if not dist.is_available():
        return 0, 1
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled sample order of ``epoch``: depends only on ``seed`` and ``epoch`` (so resumes repeat it).

    Parameters
    ----------
    n : int
        Number of samples.
    seed : int
        Seed of the run.
    epoch : int
        Epoch, 0-based.
    """
    gen = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63))
    return torch.randperm(n, generator=gen)


def rank_share(order: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """The slice of ``order`` rank ``rank`` of ``world`` trains on (equal shares; the remainder is dropped).

    Parameters
    ----------
    order : torch.Tensor, shape (n,)
        Sample order of the epoch (from :func:`epoch_order`).
    rank : int
        This process's rank, ``0 <= rank < world``.
    world : int
        Number of processes.
    """
    if world == 1:
        return order
    share = order.numel() // world
    return order[rank * share : (rank + 1) * share]


def data_parallel(module: nn.Module, world: int) -> nn.Module:
    """``module`` wrapped in :class:`torch.nn.parallel.DistributedDataParallel` when ``world > 1``.

    Parameters
    ----------
    module : torch.nn.Module
        The model.
    world : int
        Number of processes training together.
    """
    return nn.parallel.DistributedDataParallel(module) if world > 1 else module
