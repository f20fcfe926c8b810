"""Input checks shared by the operator models: one-line errors that name the cause."""

from __future__ import annotations

from typing import Any

from tnkit.checks import check_nonempty
from tnkit.types import Array

__all__ = ["check_input", "check_finite"]


def check_input(x: Array, in_channels: int, dims: int, name: str, *, model: Any = None) -> None:
    """Raise if ``x`` is not a real tensor of shape ``(batch, in_channels, *spatial)``
    with ``dims`` spatial axes, none of them empty.

    Parameters
    ----------
    x : torch.Tensor
        The input.
    in_channels, dims : int
        What the layer or model takes.
    name : str
        The layer or model, the start of every message.
    model : torch.nn.Module, optional
        The model whose parameters ``x`` meets first: outside ``torch.autocast`` its
        dtype must then be the parameters' (real) dtype. Layers inside a model leave it
        out (autocast hands them reduced-precision activations on purpose).

    Raises
    ------
    TypeError
        ``x`` is not a torch tensor, is complex/integer, or (with ``model``) has another
        dtype than the model (float16/bfloat16 inputs: run a float32 model under autocast).
    ValueError
        Wrong number of axes, a channel mismatch, or a zero-length axis (an empty batch).
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
    check_nonempty(tuple(x.shape), name, what="x")
    if model is not None and not torch.is_autocast_enabled(x.device.type):
        want = _model_dtype(model)
        if want is not None and x.dtype != want:
            if x.dtype in (torch.float16, torch.bfloat16):
                raise TypeError(
                    f"{name}: inputs of dtype {x.dtype} are not supported; pass {want} (the model's dtype), "
                    "and for mixed precision run a float32 model under torch.autocast"
                )
            raise TypeError(
                f"{name}: the input has dtype {x.dtype} but the model {want}; convert one of them, "
                f"x.to({want}) or model.to({x.dtype})"
            )


def _model_dtype(model: Any) -> Any:
    """The real dtype of a module's first floating parameter (None without one)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
        if p.is_complex():
            return p.dtype.to_real()
    return None


def check_finite(x: Array, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` if ``x`` holds NaN or Inf."""
    import torch

    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        count = int(bad.sum())
        raise ValueError(f"{what} holds {count} non-finite value(s) (NaN or Inf); clean the data first")
