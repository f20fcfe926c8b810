"""The record of a structure search: every evaluated structure (:class:`Evaluation`), the
result (:class:`SearchResult`), and their HDF5 form, written atomically after each batch
and read back by :func:`load_record` to resume a search.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tnkit import io
from tnkit.network import (
    Structure,
    TensorNetwork,
)

__all__ = ["Evaluation", "SearchResult", "load_record"]


# --------------------------------------------------------------------------------------
# Records


@dataclasses.dataclass
class Evaluation:
    """One fitted structure: its error, loss and the wall time of its fit.

    Attributes
    ----------
    index : int
        Position among the search's evaluations, from 0.
    structure : Structure
        The structure fitted.
    rse : float
        Relative error of the fit.
    loss : float
        The search objective's loss of ``structure`` and ``rse``.
    seconds : float
        Wall time of the fit.
    step : int
        Search step (iteration) that evaluated it.
    """

    index: int
    structure: Structure
    rse: float
    loss: float
    seconds: float
    step: int

    @property
    def params(self) -> int:
        """Number of parameters of the structure."""
        return self.structure.num_params


@dataclasses.dataclass
class SearchResult:
    """What a search found and everything it evaluated.

    Attributes
    ----------
    best : Evaluation
        The lowest-loss evaluation (for :func:`greedy`: the final structure).
    network : TensorNetwork or None
        Fitted cores of ``best`` in the target's library (refitted when the search
        only kept errors).
    evaluations : list of Evaluation
        Every distinct structure fitted, in order.
    method : str
    stopped : str
        Why the search ended ("stop_when", "converged", "max_evals", "n_iter", ...).
    seconds : float
        Wall time of the search (this call; a resumed search counts from its restart).
    """

    best: Evaluation
    network: TensorNetwork | None
    evaluations: list[Evaluation]
    method: str
    stopped: str
    seconds: float

    @property
    def num_evaluations(self) -> int:
        """Number of evaluations."""
        return len(self.evaluations)

    def first(self, predicate: Callable[[Evaluation], bool]) -> int | None:
        """Number of evaluations up to and including the first one satisfying ``predicate``
        (None if none does).

        Parameters
        ----------
        predicate : callable
            ``predicate(evaluation) -> bool``.
        """
        for k, e in enumerate(self.evaluations):
            if predicate(e):
                return k + 1
        return None

    def plot(self, ax: Any = None) -> Any:
        """Loss of every evaluation and the running best, against evaluations (matplotlib).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw into; default a new figure.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        loss = np.array([e.loss for e in self.evaluations])
        ax.plot(np.arange(1, len(loss) + 1), loss, ".", alpha=0.5, label="evaluated")
        ax.plot(np.arange(1, len(loss) + 1), np.minimum.accumulate(loss), "-", label="best so far")
        ax.set_xlabel("evaluations")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.set_title(f"{self.method}: best {self.best.structure.num_params} parameters, RSE {self.best.rse:.2g}")
        ax.legend()
        return ax


def _record_payload(evals: Sequence[Evaluation], method: str, extra: dict[str, Any]) -> dict[str, Any]:
    n = len(evals)
    nodes = max((e.structure.num_nodes for e in evals), default=0)
    ranks = np.zeros((n, nodes, nodes), dtype=np.int64)
    for k, e in enumerate(evals):
        m = e.structure.num_nodes
        ranks[k, :m, :m] = e.structure.ranks
    shape = evals[0].structure.shape if evals else ()
    d = len(shape)
    return {
        "method": method,
        "shape": np.asarray(shape, dtype=np.int64),
        "ranks": ranks,
        "num_nodes": np.asarray([e.structure.num_nodes for e in evals], dtype=np.int64),
        "perm": np.asarray([e.structure.perm for e in evals], dtype=np.int64).reshape(n, d),
        "rse": np.asarray([e.rse for e in evals], dtype=float),
        "loss": np.asarray([e.loss for e in evals], dtype=float),
        "seconds": np.asarray([e.seconds for e in evals], dtype=float),
        "step": np.asarray([e.step for e in evals], dtype=np.int64),
        **extra,
    }


def _save_record(path: str | Path, evals: Sequence[Evaluation], method: str, extra: dict[str, Any]) -> None:
    io.save(
        path,
        _record_payload(evals, method, extra),
        schema="search_record",
        generator={"function": f"tnkit.search.{method}"},
    )


def load_record(path: str | Path) -> tuple[str, list[Evaluation], dict[str, Any]]:
    """Read a search record: method name, evaluations and extra state.

    Parameters
    ----------
    path : str or path
        HDF5 file written by a search with a checkpoint.
    """
    data = io.load(path, schema="search_record")
    try:
        method = str(data["method"])
        shape = tuple(int(n) for n in np.asarray(data["shape"]))
        ranks = np.asarray(data["ranks"])
        nodes = np.asarray(data["num_nodes"])
        perm = np.asarray(data["perm"])
        evals = []
        for k in range(len(nodes)):
            m = int(nodes[k])
            s = Structure(shape, ranks[k, :m, :m], tuple(int(p) for p in perm[k]))
            evals.append(
                Evaluation(
                    k, s, float(data["rse"][k]), float(data["loss"][k]), float(data["seconds"][k]), int(data["step"][k])
                )
            )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise io.DataError(f"{path}: not a complete search record ({type(exc).__name__}: {exc})") from None
    extra = {
        k: v
        for k, v in data.items()
        if k not in ("method", "shape", "ranks", "num_nodes", "perm", "rse", "loss", "seconds", "step")
    }
    return method, evals, extra
