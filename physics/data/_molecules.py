"""Loading molecular datasets (energies and forces of atomic configurations) and
exporting them to extended XYZ for other codes (ASE, MACE, NequIP, SchNetPack)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tnkit import io
from tnkit.io import atomic_write

__all__ = ["load_molecules", "to_extxyz"]

_PER_FRAME = ("positions", "energies", "forces", "velocities")


def load_molecules(source: str | Path) -> dict[str, Any]:
    """The arrays of a molecular dataset file, checked for consistency and finiteness.

    Parameters
    ----------
    source
        A path, or the name of a dataset in ``datasets/manifest.toml`` (verified
        against its sha256 first), e.g. ``"xtb_md_ethanol"``.

    Returns
    -------
    dict
        ``numbers`` (n_atoms,) int64, ``positions`` (frames, n_atoms, 3) float64 Å,
        ``energies`` (frames,) float64 eV, ``forces`` (frames, n_atoms, 3) float64 eV/Å,
        ``velocities`` (frames, n_atoms, 3) float64 Å/fs when stored, and the file's other
        root attributes (``molecule``, ``smiles``, ``start_positions``, ``units``, ...).

    Raises
    ------
    tnkit.io.DataError
        One line naming the file and the fault: missing, corrupt or foreign file,
        inconsistent shapes, or a NaN / Inf energy, force, position or velocity.

    Examples
    --------
    >>> d = load_molecules("xtb_md_ethanol")
    >>> d["numbers"].shape, d["positions"].shape, d["energies"].shape, d["forces"].shape
    ((9,), (2000, 9, 3), (2000,), (2000, 9, 3))
    """
    path = Path(source)
    if not path.suffix and not path.exists():
        data, where = io.load_dataset(str(source)), str(source)
    else:
        data, where = io.load(path), str(path)
    needed = ("numbers", "positions", "energies", "forces")
    if not isinstance(data, dict) or any(key not in data for key in needed):
        raise io.DataError(f"{where}: not a molecular dataset (needs {', '.join(needed)})")
    numbers = np.asarray(data["numbers"])
    frames = np.asarray(data["energies"]).shape[0] if np.ndim(data["energies"]) == 1 else -1
    expected = {
        "positions": (frames, numbers.size, 3),
        "energies": (frames,),
        "forces": (frames, numbers.size, 3),
        "velocities": (frames, numbers.size, 3),
    }
    if numbers.ndim != 1 or numbers.dtype.kind not in "iu" or frames < 0:
        raise io.DataError(
            f"{where}: numbers must be (n_atoms,) integers and energies (frames,), got shapes "
            f"{numbers.shape} and {np.shape(data['energies'])}"
        )
    out = dict(data)
    out["numbers"] = numbers.astype(np.int64)
    for key in _PER_FRAME:
        if key not in data:
            continue
        value = np.asarray(data[key])
        if value.shape != expected[key] or value.dtype.kind != "f":
            raise io.DataError(
                f"{where}: {key} has shape {value.shape} ({value.dtype}), expected {expected[key]} floats"
            )
        bad = ~np.isfinite(value)
        if bad.any():
            frame = int(np.argwhere(bad)[0][0])
            raise io.DataError(
                f"{where}: {key} hold NaN or Inf ({int(bad.sum())} values, first in frame {frame}); "
                "the file is unusable, regenerate it"
            )
        out[key] = value.astype(np.float64, copy=False)
    return out


def _frame_indices(frames: int | slice | Sequence[int] | None, total: int) -> list[int]:
    if frames is None:
        return list(range(total))
    if isinstance(frames, slice):
        return list(range(total))[frames]
    if isinstance(frames, bool):  # an int to Python, but never meant as a frame number
        raise TypeError(f"to_extxyz: frames must be an int, a slice, a sequence of int or None, got {frames!r}")
    if isinstance(frames, (int, np.integer)):
        picked = [int(frames)]
    else:
        picked = [int(i) for i in frames]
    outside = [i for i in picked if not -total <= i < total]
    if outside:
        raise ValueError(f"to_extxyz: frames {outside} are outside the {total} stored")
    return [i % total for i in picked]


def to_extxyz(
    source: str | Path | dict[str, Any], path: str | Path, *, frames: int | slice | Sequence[int] | None = None
) -> Path:
    """Write a molecular dataset as extended XYZ (readable by ``ase.io.read(path, ":")``).

    Each frame becomes one structure with its energy (eV) and forces (eV/Å) attached as
    a single-point calculation (extxyz keys ``energy`` and ``forces``), velocities as
    momenta (ASE units) when stored, and ``frame`` (its index in the dataset) and
    ``molecule`` in the comment line. The file is published atomically (:func:`tnkit.io.atomic_write`).

    Parameters
    ----------
    source
        A path or manifest name (as :func:`load_molecules`), or its result.
    path
        The ``.xyz`` file to write.
    frames
        Frames to export: an index, a slice or a sequence of indices (default: all).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, os, ase.io
    >>> path = os.path.join(tempfile.mkdtemp(), "ethanol.xyz")
    >>> _ = to_extxyz("xtb_md_ethanol", path, frames=slice(0, 10))
    >>> images = ase.io.read(path, ":")
    >>> len(images), int(images[3].info["frame"]), images[3].get_forces().shape
    (10, 3, (9, 3))
    """
    try:
        import ase.io
        from ase import Atoms, units
        from ase.calculators.singlepoint import SinglePointCalculator
    except ImportError:
        raise ImportError("to_extxyz needs ase (pip install 'tnkit[chem]')") from None
    data = source if isinstance(source, dict) else load_molecules(source)
    indices = _frame_indices(frames, int(np.shape(data["energies"])[0]))
    images = []
    for i in indices:
        atoms = Atoms(numbers=data["numbers"], positions=data["positions"][i])
        if "velocities" in data:
            atoms.set_velocities(data["velocities"][i] / units.fs)
        atoms.info["frame"] = i
        if "molecule" in data:
            atoms.info["molecule"] = str(data["molecule"])
        atoms.calc = SinglePointCalculator(atoms, energy=float(data["energies"][i]), forces=data["forces"][i])
        images.append(atoms)
    target = Path(path)
    with atomic_write(target) as tmp:
        ase.io.write(tmp, images, format="extxyz")
    return target
