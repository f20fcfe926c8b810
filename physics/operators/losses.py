"""Relative Lp and H1 losses for functions sampled on a grid.

Both are relative errors per sample, averaged over the batch (``reduction="mean"``) or
summed; they do not depend on the grid's resolution for the same functions (the grid
measure ``h^d`` cancels in the ratio, and the H1 derivatives are scaled by the spacing),
so one loss compares models across resolutions.

Examples
--------
>>> import torch
>>> from physics.operators import relative_lp, relative_h1
>>> x = torch.linspace(0, 1, 33)
>>> u = torch.sin(3.0 * x)[None, None].repeat(1, 1, 1)
>>> round(float(relative_lp(1.1 * u, u)), 6), round(float(relative_h1(u, u)), 6)
(0.1, 0.0)
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["LpLoss", "H1Loss", "relative_lp", "relative_h1"]


def _flat(x: torch.Tensor, dims: int) -> torch.Tensor:
    return x.reshape(*x.shape[: x.ndim - dims], -1)


def _check(pred: torch.Tensor, target: torch.Tensor, name: str) -> int:
    if pred.shape != target.shape:
        raise ValueError(f"{name}: prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    if pred.ndim < 3:
        raise ValueError(f"{name}: expected (batch, channels, *spatial), got shape {tuple(pred.shape)}")
    return pred.ndim - 2


def relative_lp(
    pred: torch.Tensor, target: torch.Tensor, p: float = 2, reduction: str = "mean", eps: float = 1e-12
) -> torch.Tensor:
    """``||pred - target||_p / ||target||_p`` per sample (channels and grid together).

    Parameters
    ----------
    pred, target : torch.Tensor, shape ``(batch, channels, *spatial)``
        Prediction and reference.
    p : float, optional
        Order of the norm; default 2.
    reduction : {"mean", "sum", "none"}, optional
        Mean (default) or sum over the batch, or the ``(batch,)`` values.
    eps : float, optional
        Added to the denominator; default ``1e-12``.

    Returns
    -------
    torch.Tensor
        A scalar (``"mean"``, ``"sum"``) or shape ``(batch,)`` (``"none"``).
    """
    _check(pred, target, "relative_lp")
    diff = torch.linalg.vector_norm((pred - target).reshape(pred.shape[0], -1), ord=p, dim=1)
    ref = torch.linalg.vector_norm(target.reshape(target.shape[0], -1), ord=p, dim=1)
    return _reduce(diff / (ref + eps), reduction)


def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _derivatives(u: torch.Tensor, dims: int, periodic: bool, length: float, nodes: bool) -> list[torch.Tensor]:
    """Finite-difference derivatives along each spatial axis: centred (second order)
    inside, one-sided second order at the ends unless periodic."""
    out = []
    for axis in range(dims):
        d = u.ndim - dims + axis
        n = u.shape[d]
        h = length / (n if periodic or not nodes else n - 1)
        if periodic:
            du = (torch.roll(u, -1, d) - torch.roll(u, 1, d)) / (2 * h)
        elif n < 3:
            raise ValueError(f"relative_h1: {n} points along spatial axis {axis}; need at least 3")
        else:
            inner = (u.narrow(d, 2, n - 2) - u.narrow(d, 0, n - 2)) / (2 * h)
            first = (-3 * u.narrow(d, 0, 1) + 4 * u.narrow(d, 1, 1) - u.narrow(d, 2, 1)) / (2 * h)
            last = (3 * u.narrow(d, n - 1, 1) - 4 * u.narrow(d, n - 2, 1) + u.narrow(d, n - 3, 1)) / (2 * h)
            du = torch.cat([first, inner, last], d)
        out.append(du)
    return out


def relative_h1(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    periodic: bool = False,
    length: float = 1.0,
    nodes: bool = True,
    reduction: str = "mean",
    eps: float = 1e-12,
) -> torch.Tensor:
    """Relative H1 error ``|pred - target|_H1 / |target|_H1`` per sample, with
    ``|u|_H1^2 = ||u||^2 + sum_axes ||du/dx||^2`` (grid sums, derivatives by second-order
    finite differences). Both the node and the periodic case converge to the continuous
    ratio at second order.

    Parameters
    ----------
    pred, target : torch.Tensor, shape ``(batch, channels, *spatial)``
        Prediction and reference.
    periodic : bool, optional
        Periodic data: spacing ``length / n``, centred differences that wrap around
        (default False).
    length : float, optional
        Side of the domain along every spatial axis; default 1.
    nodes : bool, optional
        Without ``periodic``: data on nodes including both ends, spacing
        ``length / (n - 1)`` and trapezoid sums (default True); False: spacing
        ``length / n`` and plain sums.
    reduction : {"mean", "sum", "none"}, optional
        Mean (default) or sum over the batch, or the ``(batch,)`` values.
    eps : float, optional
        Added to the denominator; default ``1e-12``.

    Returns
    -------
    torch.Tensor
        A scalar (``"mean"``, ``"sum"``) or shape ``(batch,)`` (``"none"``).
    """
    dims = _check(pred, target, "relative_h1")
    diff = pred - target
    w = _trapezoid(target, dims) if nodes and not periodic else None

    def sq(x: torch.Tensor) -> torch.Tensor:
        x2 = x.pow(2) if w is None else x.pow(2) * w
        return x2.reshape(x.shape[0], -1).sum(1)

    num, den = sq(diff), sq(target)
    for dd, dt in zip(
        _derivatives(diff, dims, periodic, length, nodes), _derivatives(target, dims, periodic, length, nodes)
    ):
        num = num + sq(dd)
        den = den + sq(dt)
    return _reduce(torch.sqrt(num) / (torch.sqrt(den) + eps), reduction)


def _trapezoid(u: torch.Tensor, dims: int) -> torch.Tensor:
    """Trapezoid-rule weights (1/2 on each end node per axis) broadcastable to ``u``: with
    them the node sums are second-order accurate integrals (plain sums are first order
    when the integrand does not vanish at the ends)."""
    w = torch.ones((), dtype=u.real.dtype if u.is_complex() else u.dtype, device=u.device)
    for axis in range(dims):
        n = u.shape[u.ndim - dims + axis]
        wa = torch.ones(n, dtype=w.dtype, device=u.device)
        wa[0] = wa[-1] = 0.5
        w = w[..., None] * wa
    return w


class LpLoss:
    """Callable relative Lp loss (see :func:`relative_lp`).

    Parameters
    ----------
    p : float, optional
        Order of the norm; default 2.
    reduction : {"mean", "sum", "none"}, optional
        Mean (default) or sum over the batch, or the ``(batch,)`` values.
    """

    def __init__(self, p: float = 2, reduction: str = "mean") -> None:
        self.p, self.reduction = p, reduction

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return relative_lp(pred, target, self.p, self.reduction)

    def __repr__(self) -> str:
        return f"LpLoss(p={self.p})"


class H1Loss:
    """Callable relative H1 loss (see :func:`relative_h1`).

    Parameters
    ----------
    periodic : bool, optional
        Periodic data: spacing ``length / n``, centred differences that wrap around
        (default False).
    length : float, optional
        Side of the domain along every spatial axis; default 1.
    nodes : bool, optional
        Without ``periodic``: data on nodes including both ends, spacing
        ``length / (n - 1)`` and trapezoid sums (default True); False: spacing
        ``length / n`` and plain sums.
    reduction : {"mean", "sum", "none"}, optional
        Mean (default) or sum over the batch, or the ``(batch,)`` values.
    """

    def __init__(
        self, *, periodic: bool = False, length: float = 1.0, nodes: bool = True, reduction: str = "mean"
    ) -> None:
        self.options: dict[str, Any] = {"periodic": periodic, "length": length, "nodes": nodes, "reduction": reduction}

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return relative_h1(pred, target, **self.options)

    def __repr__(self) -> str:
        return f"H1Loss(periodic={self.options['periodic']})"
