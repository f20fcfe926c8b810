"""Argument checks shared by every layer: one message per kind of bad input.

Each check raises with a one-line message that starts with the calling function's name
(``fname``), says what is wrong and, where there is one, how to fix it.
"""

from __future__ import annotations

import numbers
from typing import Any

from tnkit.backend import namespace
from tnkit.types import Array, Namespace

__all__ = ["is_int", "check_tensor"]


def is_int(x: Any) -> bool:
    """Whether ``x`` is an integer (Python or NumPy), excluding ``bool``.

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
        What the argument is called in messages (``"tensor"``, ``"target"``).
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
        Too few axes, an empty axis, a complex dtype where not accepted, NaN or Inf.

    Examples
    --------
    >>> import numpy as np
    >>> xp = check_tensor(np.ones((2, 3)), "f")
    >>> xp.__name__
    'array_api_compat.numpy'
    >>> check_tensor(np.ones(3), "f", min_ndim=2)
    Traceback (most recent call last):
    ...
    ValueError: f: expected a tensor with at least 2 axes, got shape (3,)
    """
    if not hasattr(x, "shape"):
        raise TypeError(f"{fname}: {what} must be an array, got {type(x).__name__}")
    try:
        xp = namespace(x)
    except TypeError:
        raise TypeError(f"{fname}: {what} must be an array, got {type(x).__name__}") from None
    if x.ndim < min_ndim:
        raise ValueError(f"{fname}: expected a {what} with at least {min_ndim} axes, got shape {tuple(x.shape)}")
    if not xp.isdtype(x.dtype, ("real floating", "complex floating")):
        raise TypeError(f"{fname}: expected a floating or complex dtype, got {x.dtype}; convert with astype")
    if not complex_ok and xp.isdtype(x.dtype, "complex floating"):
        raise ValueError(f"{fname}: complex {what}s are not supported; fit real and imaginary parts separately")
    if any(int(s) == 0 for s in x.shape):
        raise ValueError(f"{fname}: {what} is empty (shape {tuple(x.shape)})")
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{fname}: {what} contains NaN or Inf; clean the data first")
    return xp
