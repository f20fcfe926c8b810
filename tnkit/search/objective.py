"""What a structure search minimises: :class:`Objective` (parameters per entry plus
``lam`` times the relative error, or the fewest parameters with RSE <= ``eps``) or any
callable ``f(structure, rse)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from tnkit.network import (
    Structure,
)

__all__ = ["Objective"]


# --------------------------------------------------------------------------------------
# Objective


class Objective:
    """Loss of a structure from its parameter count and relative error.

    Parameters
    ----------
    kind : {"penalty", "constraint"}
        ``"penalty"``: ``params / numel + lam * rse``; ``"constraint"``: ``params / numel``
        when ``rse <= eps``, otherwise ``params / numel + 1 + log10(rse / eps)``: an
        infeasible structure pays at least one tensor's worth of parameters, so it loses
        to every feasible structure that is not larger than the tensor itself.
    lam : float
        Weight of the error in ``"penalty"``.
    eps : float
        Error bound of ``"constraint"``.

    Examples
    --------
    >>> s = Structure.tt((4, 4, 4), (2, 2))
    >>> Objective("penalty", lam=10.0)(s, 0.01)
    0.6
    >>> Objective("constraint", eps=1e-3)(s, 1e-4)
    0.5
    """

    def __init__(self, kind: str = "penalty", *, lam: float = 10.0, eps: float = 1e-4) -> None:
        if kind not in ("penalty", "constraint"):
            raise ValueError(f"Objective: kind must be 'penalty' or 'constraint', got {kind!r}")
        for name, v in (("lam", lam), ("eps", eps)):
            if not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"Objective: {name} must be a finite number > 0, got {v!r}")
        self.kind, self.lam, self.eps = kind, float(lam), float(eps)

    def __call__(self, structure: Structure, rse: float) -> float:
        frac = structure.num_params / structure.numel
        if self.kind == "penalty":
            return frac + self.lam * rse
        if rse <= self.eps:
            return frac
        return frac + 1.0 + math.log10(rse / self.eps)

    def __repr__(self) -> str:
        return f"Objective({self.kind!r}, lam={self.lam}, eps={self.eps})"


def _as_objective(objective: Any, fname: str) -> Callable[[Structure, float], float]:
    if objective is None:
        return Objective()
    if isinstance(objective, str):
        return Objective(objective)
    if callable(objective):
        return objective
    raise TypeError(
        f"{fname}: objective must be an Objective, 'penalty', 'constraint' or a callable, "
        f"got {type(objective).__name__}"
    )


def _loss(objective: Callable[[Structure, float], float], s: Structure, rse: float, fname: str) -> float:
    val = objective(s, rse)
    if not isinstance(val, numbers.Real) or isinstance(val, bool):
        raise TypeError(f"{fname}: objective returned {type(val).__name__}, not a number, for {s!r}")
    val = float(val)
    if math.isnan(val):
        raise ValueError(f"{fname}: objective returned NaN for {s!r} (rse={rse:.3g})")
    return val
