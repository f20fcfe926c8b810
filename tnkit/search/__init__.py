"""Tensor-network structure search: which network fits a tensor with the fewest parameters?

Three searches over :class:`tnkit.network.Structure` graphs:

* :func:`greedy` (:mod:`tnkit.search.greedy`) — start from the fully connected network with all ranks one and
  repeatedly grow the edge whose increment lowers the error most per added parameter,
  refitting from the previous cores each time [HLMR]_;
* :func:`tnls` (:mod:`tnkit.search.local`) — local sampling: draw structures (ranks and mode permutation) around the
  current centre, move to the best one when it improves the objective [TNLS]_;
* :func:`tnale` — alternating local enumeration: update one structure variable at a time
  (one edge rank, or the permutation) by enumerating its neighbourhood with the rest
  fixed, shrinking the radius once a round brings no improvement [TnALE]_.

Every evaluated structure is recorded (:class:`Evaluation`: structure, parameters,
relative error, loss, fit time). The plumbing comes in one :class:`tnkit.Run`:
candidates are fitted through its ``executor`` — a process pool by default, ``"serial"``
in the calling process, or anything with ``submit`` returning futures with ``result()``
(a ``dask.distributed.Client`` works unchanged); with ``checkpoint=path`` the record is
written to HDF5 (atomically) after every batch, and ``resume=True`` continues a search
from it: TNLS and TnALE replay their seeded path using the recorded fits instead of
refitting, greedy restarts from its stored network.

The objective of TNLS/TnALE is an :class:`Objective`: parameters per tensor entry plus
``lam`` times the relative error (RSE = ``||X - target||_F / ||target||_F``, the papers'
name), or the
fewest parameters subject to RSE <= ``eps``; any callable ``f(structure, rse)`` works.

References
----------
.. [HLMR] M. Hashemizadeh, M. Liu, J. Miller and G. Rabusseau, "Adaptive learning of
   tensor network structures", arXiv:2008.05437 (2020).
.. [TNLS] C. Li, J. Zeng, Z. Tao and Q. Zhao, "Permutation search of tensor network
   structures via local sampling", ICML 2022.
.. [TnALE] C. Li, J. Zeng, C. Li, C. Caiafa and Q. Zhao, "Alternating local enumeration
   (TnALE): solving tensor network structure search with fewer evaluations", ICML 2023.
"""

from __future__ import annotations

from tnkit.search.greedy import greedy
from tnkit.search.local import tnale, tnls
from tnkit.search.objective import Objective
from tnkit.search.records import Evaluation, SearchResult, load_record

__all__ = ["Objective", "Evaluation", "SearchResult", "load_record", "greedy", "tnls", "tnale"]
