"""Matrix product states and operators, and the algorithms that sweep along them.

* :mod:`~tnkit.mps.mps` — :class:`MPS`; :mod:`~tnkit.mps.mpo` — :class:`MPO`;
  :mod:`~tnkit.mps.opsum` — :class:`OpSum`, sums of local terms turned into MPOs
  (:mod:`~tnkit.mps.automaton`); :mod:`~tnkit.mps.models` — spin-chain Hamiltonians;
* :mod:`~tnkit.mps.measure` — expectation values, correlations, entropies, sampling;
  :mod:`~tnkit.mps.fit` — variational compression; :mod:`~tnkit.mps.interop` — quimb;
* :mod:`~tnkit.mps.dmrg` — ground states (the modules :mod:`~tnkit.mps.dmrg`,
  :mod:`~tnkit.mps.tebd` and :mod:`~tnkit.mps.tdvp` keep their names here; the functions
  of the same names are ``tnkit.dmrg``, ``tnkit.tebd``, ``tnkit.tdvp``); :mod:`~tnkit.mps.tebd` and
  :mod:`~tnkit.mps.tdvp` — time evolution (:mod:`~tnkit.mps.evolution` and :mod:`~tnkit.mps.environments` hold what
  they share); :mod:`~tnkit.mps.charges` — U(1) sectors for DMRG.
"""

from __future__ import annotations

from tnkit.mps import dmrg, measure, models, tdvp, tebd
from tnkit.mps.dmrg import DMRGResult
from tnkit.mps.environments import Environments
from tnkit.mps.evolution import EvolutionResult
from tnkit.mps.fit import fit_mps
from tnkit.mps.interop import mps_from_quimb, mps_to_quimb
from tnkit.mps.mpo import MPO
from tnkit.mps.mps import MPS
from tnkit.mps.opsum import OpSum, Term

__all__ = [
    "MPS",
    "MPO",
    "OpSum",
    "Term",
    "models",
    "measure",
    "fit_mps",
    "mps_to_quimb",
    "mps_from_quimb",
    "dmrg",
    "DMRGResult",
    "Environments",
    "tebd",
    "tdvp",
    "EvolutionResult",
]
