"""Input checks shared by the operator models: one-line errors that name the cause."""

from __future__ import annotations

from tnkit.types import Array

__all__ = ["check_input", "check_finite"]


def check_input(x: Array, in_channels: int, dims: int, name: str) -> None:
    """Raise if ``x`` is not a real tensor of shape ``(batch, in_channels, *spatial)``
    with ``dims`` spatial axes.

    Raises
    ------
    TypeError
        ``x`` is not a torch tensor, or is complex/integer.
    ValueError
        Wrong number of axes or a channel mismatch.
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a real floating-point tensor, got {x.dtype}")
    if x.ndim != dims + 2:
        raise ValueError(
            f"{name}: expected input of shape (batch, {in_channels}, "
            + ", ".join(["n"] * dims)
            + f") ({dims + 2} axes), got shape {tuple(x.shape)}"
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{name}: channel mismatch: the model takes {in_channels} input channel(s), the input "
            f"has {x.shape[1]} (shape {tuple(x.shape)}; channels are axis 1)"
        )


def check_finite(x: Array, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` if ``x`` holds NaN or Inf."""
    import torch

    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        count = int(bad.sum())
        raise ValueError(f"{what} holds {count} non-finite value(s) (NaN or Inf); clean the data first")
