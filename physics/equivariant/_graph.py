"""Message aggregation over the edges of a neighbour graph.

:func:`scatter_sum` is ``torch.zeros(n, ...).index_add(0, index, src)`` with a lighter
backward: autograd's ``index_add`` keeps ``src`` itself for its gradient (only for its
shape), which for edge messages is the largest tensor of a layer; here only ``index`` is
kept. Values and gradients (first and second order) are the same.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["scatter_sum"]


class _ScatterSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, src: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
        ctx.save_for_backward(index)
        return src.new_zeros((n, *src.shape[1:])).index_add_(0, index, src)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (index,) = ctx.saved_tensors
        return grad.index_select(0, index), None, None


def scatter_sum(src: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """``out[i] = sum of src[e] over the edges e with index[e] == i``, for ``i < n``.

    Parameters
    ----------
    src : torch.Tensor, shape (E, ...)
        Per-edge values.
    index : torch.Tensor, shape (E,), int64
        Receiving row of each edge.
    n : int
        Rows of the result.

    Returns
    -------
    torch.Tensor, shape (n, ...)

    Examples
    --------
    >>> scatter_sum(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([0, 2, 0]), 3)
    tensor([5., 0., 2.])
    """
    return _ScatterSum.apply(src, index, int(n))
