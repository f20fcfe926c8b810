"""Loading operator datasets: NumPy arrays, or a torch ``Dataset`` with normalisers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tnkit import io
from tnkit.types import Array, Device

__all__ = ["GaussianNormalizer", "UnitGaussianNormalizer", "load_arrays", "torch_dataset"]


def load_arrays(source: str | Path, *, like: Array | None = None) -> dict[str, Array]:
    """The arrays of a dataset file: ``a`` (inputs), ``u`` (outputs) and any stored
    attributes (``times`` for Navier-Stokes).

    Parameters
    ----------
    source : str or path
        A file path, or the name of a dataset in ``datasets/manifest.toml`` (verified
        against its sha256 first).
    like : array, optional
        Array whose library and device the arrays take; default NumPy.

    Raises
    ------
    tnkit.io.DataError
        A missing, corrupt or foreign file.
    """
    path = Path(source)
    if not path.suffix and not path.exists():
        data = io.load_dataset(str(source), like=like)
        where = str(source)
    else:
        data = io.load(path, like=like)
        where = str(path)
    if not isinstance(data, dict) or "a" not in data or "u" not in data:
        raise io.DataError(f"{where}: not an operator dataset (needs arrays 'a' and 'u')")
    return data


class UnitGaussianNormalizer:
    """Pointwise standardisation as in the FNO code: ``(x - mean) / (std + eps)`` with the
    mean and standard deviation over the sample axis (axis 0) of the training data.
    Works on NumPy arrays and torch tensors (statistics are kept in the fitted library).

    Parameters
    ----------
    x : array, shape (n_samples, ...)
        Training data (NumPy array or torch tensor).
    eps : float, optional
        Added to the standard deviation; default ``1e-5``.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (500, 4))
    >>> n = UnitGaussianNormalizer(x)
    >>> z = n.encode(x)
    >>> bool(np.allclose(z.mean(0), 0, atol=1e-12)), bool(np.allclose(n.decode(z), x))
    (True, True)
    """

    def __init__(self, x: Array, eps: float = 1e-5) -> None:
        self.mean = x.mean(0)
        self.std = x.std(0)
        self.eps = float(eps)

    def encode(self, x: Array) -> Array:
        """``(x - mean) / (std + eps)``.

        Parameters
        ----------
        x : array
            Data of the fitted library, broadcasting against the statistics.
        """
        return (x - self.mean) / (self.std + self.eps)

    def decode(self, x: Array) -> Array:
        """``x * (std + eps) + mean``, the inverse of :meth:`encode`.

        Parameters
        ----------
        x : array
            Normalised data of the fitted library.
        """
        return x * (self.std + self.eps) + self.mean

    def to(self, device: Device) -> "UnitGaussianNormalizer":
        """Move torch statistics to ``device`` (no-op for NumPy).

        Parameters
        ----------
        device : torch.device or str
            Target device.
        """
        if hasattr(self.mean, "to"):
            self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self


class GaussianNormalizer(UnitGaussianNormalizer):
    """Standardisation by one global mean and standard deviation.

    Parameters
    ----------
    x : array
        Training data (NumPy array or torch tensor).
    eps : float, optional
        Added to the standard deviation; default ``1e-5``.
    """

    def __init__(self, x: Array, eps: float = 1e-5) -> None:
        self.mean = x.mean()
        self.std = x.std()
        self.eps = float(eps)


def torch_dataset(
    source: str | Path | dict[str, Array],
    *,
    n: int | None = None,
    start: int = 0,
    normalize: str | None = "unit_gaussian",
    x_normalizer: UnitGaussianNormalizer | None = None,
    y_normalizer: UnitGaussianNormalizer | None = None,
    dtype: str = "float32",
    channels: bool = True,
) -> Any:
    """A ``torch.utils.data.Dataset`` of ``(x, y)`` pairs from a dataset file or name (or a
    dict with ``a`` and ``u``), samples ``start`` up to ``start + n``.

    Parameters
    ----------
    source : path, dataset name or dict
        What :func:`load_arrays` reads, or a dict with arrays ``a`` and ``u``.
    n, start : int
        The samples ``start .. start + n`` (default: all from ``start``).
    normalize : {"unit_gaussian", "gaussian"} or None
        Normalisation of the inputs: pointwise (FNO's) or global. The normalisers are
        fitted on these samples unless given (pass the training set's to a test set).
    x_normalizer, y_normalizer : UnitGaussianNormalizer, optional
    dtype : {"float32", "float64"}
    channels : bool
        Channels-first samples, as neural operators take them (neuraloperator's
        ``(batch, channels, *grid)``): inputs stored as ``(n, *grid)`` become
        ``(n, 1, *grid)``; outputs on the same grid too, while outputs with one more axis
        (Navier-Stokes ``(n, frames, *grid)``) already have their channels first.
        ``False`` keeps the stored layout.

    Returns
    -------
    torch.utils.data.TensorDataset
        With ``x_normalizer`` and ``y_normalizer`` attributes (``decode`` maps values back
        to physical units; their statistics have the stored layout, so they apply to
        channels-first tensors too). :func:`physics.operators.train` takes it directly.

    Examples
    --------
    >>> import numpy as np
    >>> data = {"a": np.ones((4, 8, 8)), "u": np.zeros((4, 8, 8))}
    >>> x, y = torch_dataset(data, normalize=None)[:]
    >>> tuple(x.shape), tuple(y.shape)
    ((4, 1, 8, 8), (4, 1, 8, 8))
    """
    try:
        import torch
    except ImportError:
        raise ImportError("torch_dataset needs torch (pip install 'tnkit[torch]')") from None
    data = source if isinstance(source, dict) else load_arrays(source)
    total = int(np.asarray(data["a"]).shape[0])
    stop = total if n is None else start + int(n)
    if not 0 <= start < stop <= total:
        raise ValueError(f"torch_dataset: samples {start}..{stop} are outside the {total} stored")
    if normalize not in (None, "unit_gaussian", "gaussian"):
        raise ValueError(f"torch_dataset: normalize must be 'unit_gaussian', 'gaussian' or None, got {normalize!r}")
    tdt = {"float32": torch.float32, "float64": torch.float64}[dtype]
    x = torch.as_tensor(np.asarray(data["a"][start:stop]), dtype=tdt)
    y = torch.as_tensor(np.asarray(data["u"][start:stop]), dtype=tdt)
    kind = {"unit_gaussian": UnitGaussianNormalizer, "gaussian": GaussianNormalizer}.get(normalize or "")
    if kind is not None:
        x_normalizer = x_normalizer or kind(x)
        y_normalizer = y_normalizer or kind(y)
        x = x_normalizer.encode(x)
    if channels:
        grid_axes = x.ndim - 1
        x = x[:, None]
        y = y[:, None] if y.ndim == grid_axes + 1 else y
    ds = torch.utils.data.TensorDataset(x, y)
    # Attributes of this dataset instance (see above), which torch's class does not declare.
    ds.x_normalizer, ds.y_normalizer = x_normalizer, y_normalizer  # type: ignore[attr-defined]
    return ds
