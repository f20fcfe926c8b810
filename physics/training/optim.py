"""Optimisers of the training loops.

Examples
--------
>>> import torch
>>> opt = make_optimizer(torch.optim.AdamW, torch.nn.Linear(2, 1).parameters(), lr=1e-3, weight_decay=1e-4)
>>> type(opt).__name__, opt.param_groups[0]["lr"]
('AdamW', 0.001)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

__all__ = ["make_optimizer"]


def make_optimizer(
    cls: Callable[..., torch.optim.Optimizer],
    params: Iterable[torch.Tensor],
    lr: float,
    weight_decay: float,
    **options: object,
) -> torch.optim.Optimizer:
    """``cls(params, lr=lr, weight_decay=weight_decay, **options)``, with one fused kernel over
    all parameters where the device and dtype allow it (CPU and CUDA float tensors).

    Parameters
    ----------
    cls : callable
        Optimiser class, e.g. :class:`torch.optim.AdamW`.
    params : iterable of torch.Tensor
        Parameters to optimise.
    lr : float
        Learning rate.
    weight_decay : float
        Weight decay.
    **options
        Further arguments of ``cls`` (e.g. ``amsgrad=True``).
    """
    params = list(params)
    try:
        return cls(params, lr=lr, weight_decay=weight_decay, fused=True, **options)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, lr=lr, weight_decay=weight_decay, **options)
