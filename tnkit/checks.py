"""Argument checks shared by every layer: one message per kind of bad input.

Each check raises with a one-line message that starts with the calling function's name
(``fname``), says what is wrong and, where there is one, how to fix it.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from tnkit.backend import namespace
from tnkit.types import Array, Namespace

__all__ = ["is_int", "check_tensor", "check_nonempty"]


def is_int(x: Any) -> bool:
    """Whether ``x`` is an integer (Python or NumPy), excluding ``bool``.

    Parameters
    ----------
    x : object
        Any value.

    Examples
    --------
    >>> import numpy as np
    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def check_tensor(
    x: Array, fname: str, *, what: str = "tensor", min_ndim: int = 1, complex_ok: bool = True
) -> Namespace:
    """Check a dense tensor argument and return its array namespace.

    Parameters
    ----------
    x : array
        The argument.
    fname : str
        The public function's name, the start of every message.
    what : str
        What the argument is called in messages: its parameter name (``"x"``) or a
        noun (``"tensor"``, ``"target"``).
    min_ndim : int
        Fewest axes accepted.
    complex_ok : bool
        Whether complex dtypes are accepted.

    Returns
    -------
    namespace
        ``tnkit.backend.namespace(x)``.

    Raises
    ------
    TypeError
        ``x`` is not an array, or its dtype is not floating point.
    ValueError
        Too few axes, a zero-length axis (an empty tensor or batch), a complex dtype
        where not accepted, NaN or Inf.

    Examples
    --------
    >>> import numpy as np
    >>> xp = check_tensor(np.ones((2, 3)), "f")
    >>> xp.__name__
    'array_api_compat.numpy'
    >>> check_tensor(np.ones(3), "f", min_ndim=2)
    Traceback (most recent call last):
    ...
    ValueError: f: tensor must have at least 2 axes, got shape (3,)
    >>> check_tensor(np.ones((4, 0)), "f", what="x")
    Traceback (most recent call last):
    ...
    ValueError: f: x is empty: it has a zero-length axis 1 (shape (4, 0)); pass at least one entry per axis
    """
    if not hasattr(x, "shape"):
        raise TypeError(f"{fname}: {what} must be an array, got {type(x).__name__}")
    try:
        xp = namespace(x)
    except TypeError:
        raise TypeError(f"{fname}: {what} must be an array, got {type(x).__name__}") from None
    shape = tuple(int(s) for s in x.shape)
    if x.ndim < min_ndim:
        axes = "axis" if min_ndim == 1 else "axes"
        raise ValueError(f"{fname}: {what} must have at least {min_ndim} {axes}, got shape {shape}")
    if not xp.isdtype(x.dtype, ("real floating", "complex floating")):
        raise TypeError(f"{fname}: {what} must have a floating or complex dtype, got {x.dtype}; convert with astype")
    if not complex_ok and xp.isdtype(x.dtype, "complex floating"):
        raise ValueError(
            f"{fname}: {what} is complex ({x.dtype}), which is not supported; fit real and imaginary parts separately"
        )
    check_nonempty(shape, fname, what=what)
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{fname}: {what} contains NaN or Inf; clean the data first")
    return xp


def check_nonempty(shape: Sequence[int], fname: str, *, what: str = "tensor", items: str | None = None) -> None:
    """Refuse a shape with a zero-length axis (an empty tensor, batch or dataset).

    The one empty-input check, shared by :func:`check_tensor` and by entry points whose
    arguments are not plain floating tensors (integer atomic numbers, a set of frames).

    Parameters
    ----------
    shape : sequence of int
        The argument's shape (``(len(data),)`` for a collection).
    fname, what : str
        As in :func:`check_tensor`.
    items : str, optional
        What a collection holds (``"frames"``): the message then counts items instead of
        naming an axis.

    Raises
    ------
    ValueError
        An axis has length 0.

    Examples
    --------
    >>> check_nonempty((0, 3), "fit", what="positions")
    Traceback (most recent call last):
    ...
    ValueError: fit: positions is empty: it has a zero-length axis 0 (shape (0, 3)); pass at least one entry per axis
    >>> check_nonempty((0,), "evaluate", what="frames", items="frames")
    Traceback (most recent call last):
    ...
    ValueError: evaluate: frames is empty (0 frames); pass at least one
    """
    shape = tuple(int(s) for s in shape)
    for axis, n in enumerate(shape):
        if n == 0:
            if items is not None:
                raise ValueError(f"{fname}: {what} is empty (0 {items}); pass at least one")
            raise ValueError(
                f"{fname}: {what} is empty: it has a zero-length axis {axis} (shape {shape}); "
                "pass at least one entry per axis"
            )
