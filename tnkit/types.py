"""Static types of the arrays, namespaces, devices, dtypes and random generators tnkit takes.

tnkit runs one code path on NumPy, CuPy, PyTorch and any library that implements the
array API standard. These libraries share no static type: ``numpy.ndarray``,
``cupy.ndarray`` and ``torch.Tensor`` are unrelated classes, and the standard describes its
array object in prose, not as a class or protocol the libraries declare. So :data:`Array`
is an alias of :data:`typing.Any`: a type checker accepts an array of any library there,
and the name tells the reader that an array is meant, not an arbitrary value.
:data:`Namespace` (the module ``tnkit.backend.namespace`` returns), :data:`Device` and
:data:`DType` are ``Any`` for the same reason: each library has its own.

:data:`RNG` is the ``rng`` argument of the functions that draw random numbers: a
``numpy.random.Generator``, a seed, or None for fresh entropy (``tnkit.backend.make_rng``
turns it into a generator). Draws happen on the host and are then moved to the
array's device, so one seed gives the same numbers on every library.

Examples
--------
>>> import numpy as np
>>> from tnkit.types import RNG, Array
>>> def noise_like(a: Array, rng: RNG = None) -> Array:
...     return np.random.default_rng(rng).standard_normal(np.shape(a))
>>> noise_like(np.zeros(3), rng=0).shape
(3,)
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np

__all__ = ["RNG", "Array", "DType", "Device", "Namespace"]

#: An array of any supported library (NumPy, CuPy, torch, an array-API array). ``Any``
#: because the libraries share no static type (see the module docstring).
Array: TypeAlias = Any

#: An array namespace: ``numpy``-like module holding the array API functions, as
#: ``tnkit.backend.namespace`` returns it. ``Any`` because the compat modules' stubs do not
#: declare the functions.
Namespace: TypeAlias = Any

#: A device of the array's library (``"cpu"``, ``torch.device("cuda:0")``, a CuPy device).
Device: TypeAlias = Any

#: A dtype of the array's library (``numpy.float64``, ``torch.complex128``, ...).
DType: TypeAlias = Any

#: The ``rng`` argument: a generator, a seed, or None for fresh entropy.
RNG: TypeAlias = np.random.Generator | int | None
