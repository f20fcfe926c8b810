"""tnkit: array-agnostic tensor networks (NumPy, CuPy, PyTorch)."""

from __future__ import annotations

from tnkit import backend
from tnkit.backend import namespace

__version__ = "0.1.0"

__all__ = ["backend", "namespace", "__version__"]
