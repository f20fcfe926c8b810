"""Tree tensor networks and their time integrators.

* :mod:`~tnkit.tree.ttn` — :class:`Tree` and :class:`TTN` (tree tensor networks,
  Tucker and tensor trains as special cases);
* :mod:`~tnkit.tree.kron` — :class:`KronOperator`, sums of Kronecker products acting
  mode by mode;
* :mod:`~tnkit.tree.projectors` — the Galerkin right-hand sides of each node;
* :mod:`~tnkit.tree.bug` — basis-update & Galerkin (BUG) integrators: adaptive, fixed
  rank, parallel, and the projector-splitting (KSL) scheme.
"""

from __future__ import annotations

from tnkit.tree import bug
from tnkit.tree.bug import BUGResult, integrate
from tnkit.tree.kron import KronOperator, KronTerm
from tnkit.tree.topology import Tree
from tnkit.tree.ttn import TTN

__all__ = ["Tree", "TTN", "KronOperator", "KronTerm", "bug", "integrate", "BUGResult"]
