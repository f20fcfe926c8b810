"""PNG output of training curves and trajectories.

Examples
--------
>>> import tempfile, pathlib
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> fig, ax = plt.subplots()
>>> _ = ax.plot([1, 2, 3])
>>> save_png(fig, pathlib.Path(tempfile.mkdtemp()) / "curve.png").suffix
'.png'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tnkit.io import atomic_write

__all__ = ["save_png"]


def save_png(fig: Any, path: str | Path) -> Path:
    """Write a Matplotlib figure as a PNG atomically (:func:`tnkit.io.atomic_write`) and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; closed afterwards.
    path : str or path
        PNG file to write.
    """
    import matplotlib.pyplot as plt  # optional and slow to import: only when a plot is asked for

    path = Path(path)
    try:
        with atomic_write(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)
    return path
