"""An exponential moving average (EMA) of a model's weights.

Examples
--------
>>> import torch
>>> model = torch.nn.Linear(2, 1)
>>> ema = EMA(model, decay=0.99)
>>> with torch.no_grad():
...     _ = model.weight.add_(1.0)
>>> ema.update(model)  # the first updates follow the model closely (warm-up)
>>> bool(torch.allclose(ema.model.weight, model.weight, atol=0.1)), ema.updates
(True, 1)
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """Exponential moving average of a model's parameters (buffers copied as they are).

    The decay after ``t`` updates is ``min(decay, (1 + t) / (10 + t))``, so the average does not
    drag the untrained initial weights along for the first ~1/(1 - decay) steps. ``decay=0``
    makes :attr:`model` a copy of the latest weights.

    Parameters
    ----------
    model : torch.nn.Module
        The model to average; copied.
    decay : float
        Largest decay per update, in ``[0, 1)``.

    Attributes
    ----------
    model : torch.nn.Module
        The averaged copy (its parameters do not require gradients).
    updates : int
        Updates so far (stored in checkpoints so a resumed run continues the warm-up).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model)
        self.updates = 0
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards the current weights of ``model``.

        Parameters
        ----------
        model : torch.nn.Module
            The trained model (same architecture as the copy).
        """
        ema: list[torch.Tensor] = list(self.model.parameters())
        cur: list[torch.Tensor] = [p.detach() for p in model.parameters()]
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        self.updates += 1
        if decay > 0:
            torch._foreach_lerp_(ema, cur, 1.0 - decay)
        else:
            torch._foreach_copy_(ema, cur)
        for b_ema, b in zip(self.model.buffers(), model.buffers()):
            b_ema.copy_(b)
