"""General tensor networks on a graph: structure, contraction and fitting.

:class:`Structure` (:mod:`tnkit.network.structure`) is the graph: physical and internal
cores and the bond dimension of every edge. :class:`TensorNetwork`
(:mod:`tnkit.network.network`) holds the cores on it; :func:`fit`
(:mod:`tnkit.network.fit`) fits a structure to a target by alternating least squares or
gradient descent, also to observed entries only (tensor completion). Tensor trains,
rings, Tucker and tree networks are special cases.
"""

from __future__ import annotations

from tnkit.network.fit import FitResult, fit
from tnkit.network.network import TensorNetwork
from tnkit.network.structure import Structure

__all__ = ["Structure", "TensorNetwork", "FitResult", "fit"]
