"""Atomistic training data: a ragged collection of structures with energies and forces.

:class:`Frames` holds any number of structures of any sizes (one molecule's MD trajectory,
several molecules, periodic crystals) as flat arrays plus per-frame atom counts, which is
what batching for message passing needs: a batch is a slice of the flat arrays and a
``batch`` index vector.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physics.data import load_crystals, load_molecules
from tnkit import io
from tnkit.types import Array, Device

__all__ = ["Frames", "Batch", "load_frames"]

# Rows and columns of ASE's Voigt order (xx, yy, zz, yz, xz, xy) in a 3 x 3 stress.
_VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])


class Batch(dict):
    """A collated batch: ``numbers`` (N,), ``positions`` (N, 3), ``batch`` (N,), ``energy`` (B,),
    ``forces`` (N, 3), ``n_atoms`` (B,), optionally ``cell`` (B, 3, 3), ``pbc`` (B, 3) and
    ``stress`` (B, 3, 3), as torch tensors."""

    def to(self, device: Device | None = None, dtype: torch.dtype | None = None) -> "Batch":
        """The batch with every tensor moved to ``device`` and floating tensors but ``energy`` cast to ``dtype``.

        Parameters
        ----------
        device : torch.device or str, optional
            Target device; default keep.
        dtype : torch.dtype, optional
            Floating dtype; default keep.
        """
        out = Batch()
        for key, value in self.items():
            if value.is_floating_point() and dtype is not None and key not in ("energy",):
                value = value.to(dtype)
            out[key] = value.to(device) if device is not None else value
        return out


class Frames:
    """Structures with reference energies (eV) and forces (eV/A), stored flat.

    Parameters
    ----------
    numbers : array (total_atoms,) of int
    positions : array (total_atoms, 3), Angstrom
    n_atoms : array (n_frames,) of int
        Atoms per frame; frames are consecutive runs of the flat arrays.
    energies : array (n_frames,), eV
    forces : array (total_atoms, 3), eV/A, optional
    cells : array (n_frames, 3, 3), optional
        Cell vectors as rows, Angstrom.
    pbc : array (n_frames, 3) of bool, optional
        Periodic directions of each cell; default all periodic when ``cells`` is given.
    stress : array (n_frames, 3, 3), optional
        Reference stress, eV/A^3, ASE's sign convention (``(1/V) dE/d(strain)``, positive
        under tension); needs ``cells``.
    labels : array (n_frames,) of str, optional
        A name per frame (e.g. the system of a crystal dataset), kept by slicing, ``+`` and
        ``split``; default none.
    source : str, optional
        Name of where the data came from, used in error messages; default ``"arrays"``.

    Raises
    ------
    ValueError
        Inconsistent lengths, NaN or Inf anywhere, an unknown element.

    Examples
    --------
    Two frames of a diatomic:

    >>> f = Frames.from_arrays([1, 1], [[[0, 0, 0], [0.74, 0, 0]], [[0, 0, 0], [0.8, 0, 0]]],
    ...                        energies=[-31.7, -31.6], forces=np.zeros((2, 2, 3)))
    >>> len(f), f.total_atoms, f[1:].energies.tolist()
    (2, 4, [-31.6])
    """

    def __init__(
        self,
        numbers: Array,
        positions: Array,
        n_atoms: Array,
        energies: Array,
        forces: Array | None = None,
        cells: Array | None = None,
        pbc: Array | None = None,
        *,
        stress: Array | None = None,
        labels: Sequence[str] | np.ndarray | None = None,
        source: str = "arrays",
    ) -> None:
        self.numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
        self.positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        self.n_atoms = np.asarray(n_atoms, dtype=np.int64).reshape(-1)
        self.energies = np.asarray(energies, dtype=np.float64).reshape(-1)
        self.forces = None if forces is None else np.asarray(forces, dtype=np.float64).reshape(-1, 3)
        self.cells = None if cells is None else np.asarray(cells, dtype=np.float64).reshape(-1, 3, 3)
        self.pbc: np.ndarray | None = None
        self.stress = None if stress is None else np.asarray(stress, dtype=np.float64).reshape(-1, 3, 3)
        self.labels = None if labels is None else np.asarray(labels, dtype=str).reshape(-1)
        self.source = source
        total = int(self.n_atoms.sum())
        if self.numbers.shape[0] != total or self.positions.shape[0] != total:
            raise ValueError(
                f"{source}: n_atoms sums to {total} but there are {self.numbers.shape[0]} atomic numbers "
                f"and {self.positions.shape[0]} positions"
            )
        if self.energies.shape[0] != len(self.n_atoms):
            raise ValueError(f"{source}: {len(self.n_atoms)} frames but {self.energies.shape[0]} energies")
        if self.forces is not None and self.forces.shape[0] != total:
            raise ValueError(f"{source}: {total} atoms but {self.forces.shape[0]} force rows")
        if np.any(self.n_atoms < 1):
            raise ValueError(f"{source}: every frame needs at least one atom")
        if np.any((self.numbers < 1) | (self.numbers > 118)):
            bad = int(self.numbers[(self.numbers < 1) | (self.numbers > 118)][0])
            raise ValueError(f"{source}: unknown element Z={bad}")
        for name, arr in (
            ("positions", self.positions),
            ("energies", self.energies),
            ("forces", self.forces),
            ("cells", self.cells),
            ("stress", self.stress),
        ):
            if arr is not None and not np.all(np.isfinite(arr)):
                raise ValueError(f"{source}: {name} contain NaN or Inf (first bad frame {self._bad_frame(name, arr)})")
        if self.cells is not None:
            if self.cells.shape[0] != len(self.n_atoms):
                raise ValueError(f"{source}: {len(self.n_atoms)} frames but {self.cells.shape[0]} cells")
            self.pbc = (
                np.ones((len(self.n_atoms), 3), dtype=bool)
                if pbc is None
                else np.broadcast_to(np.asarray(pbc, dtype=bool), (len(self.n_atoms), 3)).copy()
            )
            periodic = self.pbc.any(axis=1)
            if np.any(np.abs(np.linalg.det(self.cells[periodic])) < 1e-9):
                raise ValueError(f"{source}: a periodic frame's cell has zero volume")
        if self.stress is not None:
            if self.cells is None:
                raise ValueError(f"{source}: stress needs cells (the volume it is per)")
            if self.stress.shape[0] != len(self.n_atoms):
                raise ValueError(f"{source}: {len(self.n_atoms)} frames but {self.stress.shape[0]} stress tensors")
        if self.labels is not None and self.labels.shape[0] != len(self.n_atoms):
            raise ValueError(f"{source}: {len(self.n_atoms)} frames but {self.labels.shape[0]} labels")
        self.offsets = np.concatenate([[0], np.cumsum(self.n_atoms)])

    def _bad_frame(self, name: str, arr: np.ndarray) -> int:
        rows = np.nonzero(~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1))[0]
        if name in ("energies", "cells", "stress"):
            return int(rows[0])
        return int(np.searchsorted(np.cumsum(self.n_atoms), rows[0], side="right"))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        numbers: Array,
        positions: Array,
        energies: Array,
        forces: Array | None = None,
        cells: Array | None = None,
        pbc: Array | None = None,
        *,
        stress: Array | None = None,
        labels: Sequence[str] | np.ndarray | None = None,
        source: str = "arrays",
    ) -> "Frames":
        """Frames of one fixed composition: ``numbers`` (n,), ``positions`` (F, n, 3), ``forces`` (F, n, 3).

        Parameters
        ----------
        numbers : array (n,) of int
            Atomic numbers, the same in every frame.
        positions : array (F, n, 3)
            Positions, Angstrom.
        energies : array (F,)
            Energies, eV.
        forces : array (F, n, 3), optional
            Forces, eV/A.
        cells : array (F, 3, 3), optional
            Cell vectors as rows, Angstrom.
        pbc : array (F, 3) of bool, optional
            Periodic directions; default all periodic when ``cells`` is given.
        stress : array (F, 3, 3), optional
            Stress, eV/A^3 (as :class:`Frames`).
        labels : array (F,) of str, optional
            A name per frame.
        source : str, optional
            Name of where the data came from, used in error messages; default ``"arrays"``.
        """
        numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
        positions = np.asarray(positions, dtype=np.float64)
        if positions.ndim != 3 or positions.shape[1:] != (numbers.shape[0], 3):
            raise ValueError(
                f"{source}: positions must have shape (frames, {numbers.shape[0]}, 3), got {positions.shape}"
            )
        n_frames = positions.shape[0]
        return cls(
            np.tile(numbers, n_frames),
            positions,
            np.full(n_frames, numbers.shape[0]),
            energies,
            None if forces is None else np.asarray(forces).reshape(-1, 3),
            cells,
            pbc,
            stress=stress,
            labels=labels,
            source=source,
        )

    @classmethod
    def from_ase(cls, images: Sequence[Any], *, source: str = "ase") -> "Frames":
        """From ASE ``Atoms`` with energies and forces attached (e.g. ``ase.io.read(path, ":")``).

        Parameters
        ----------
        images : sequence of ase.Atoms
            Structures with a calculator or results giving energy and forces; the stress
            is taken when every periodic structure's calculator results hold one, and
            ``info["label"]`` as the frame's label when every structure has one.
        source : str, optional
            Name of where the data came from, used in error messages; default ``"ase"``.
        """
        numbers, positions, forces, energies, cells, pbcs, stresses = [], [], [], [], [], [], []
        periodic = any(bool(np.any(a.pbc)) for a in images)
        for k, atoms in enumerate(images):
            try:
                energies.append(atoms.get_potential_energy())
                forces.append(atoms.get_forces())
            except Exception as exc:  # ase raises several kinds when nothing is attached
                raise ValueError(f"{source}: frame {k} has no energy/forces attached ({exc})") from None
            numbers.append(atoms.numbers)
            positions.append(atoms.positions)
            cells.append(np.asarray(atoms.cell))
            pbcs.append(atoms.pbc)
            results = getattr(atoms.calc, "results", {})
            stresses.append(atoms.get_stress(voigt=False) if "stress" in results else None)
        labels = [atoms.info.get("label") for atoms in images]
        return cls(
            np.concatenate(numbers),
            np.concatenate(positions),
            [len(n) for n in numbers],
            energies,
            np.concatenate(forces),
            cells if periodic else None,
            pbcs if periodic else None,
            stress=stresses if periodic and stresses and all(s is not None for s in stresses) else None,
            labels=labels if labels and all(isinstance(x, str) for x in labels) else None,
            source=source,
        )

    @classmethod
    def load(cls, source: str | Path) -> "Frames":
        """A dataset by manifest name (e.g. ``"xtb_md_ethanol"``, ``"emt_crystals"``), HDF5 path or extxyz path.

        Parameters
        ----------
        source : str or path
            Manifest dataset name, the path of an HDF5 file, or of an extxyz file (suffix
            ``.xyz`` or ``.extxyz``). A crystal dataset (schema ``emt_crystals``,
            :func:`physics.data.load_crystals`) comes with cells, pbc, stress and each
            frame's system as its label; a molecular one (:func:`physics.data.load_molecules`)
            without.
        """
        path = Path(source)
        if path.suffix in (".xyz", ".extxyz"):
            import ase.io

            images = ase.io.read(path, ":")
            assert isinstance(images, list)  # the index ":" reads every frame
            return cls.from_ase(images, source=str(path))
        by_name = not path.suffix and not path.exists()
        schema = io.dataset_entry(str(source)).schema if by_name else io.provenance(path)["schema"]
        if schema == "emt_crystals":
            d = load_crystals(source)
            return cls(
                d["numbers"],
                d["positions"],
                d["n_atoms"],
                d["energies"],
                d["forces"],
                d["cells"],
                d["pbc"],
                stress=d["stress"],
                labels=np.asarray(d["system_names"])[d["systems"]],
                source=str(source),
            )
        data = load_molecules(source)
        return cls.from_arrays(data["numbers"], data["positions"], data["energies"], data["forces"], source=str(source))

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.n_atoms)

    @property
    def total_atoms(self) -> int:
        """Number of atoms over all frames."""
        return int(self.offsets[-1])

    def atom_rows(self, frames: Array) -> np.ndarray:
        """Flat atom indices of the given frame indices, in order.

        Parameters
        ----------
        frames : array of int
            Frame indices.
        """
        frames = np.asarray(frames, dtype=np.int64).reshape(-1)
        starts, counts = self.offsets[frames], self.n_atoms[frames]
        return np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())

    def __getitem__(self, index: Any) -> "Frames":
        if isinstance(index, np.ndarray) and index.dtype == bool:  # a mask, e.g. frames.labels == "cu_slab"
            if index.shape != (len(self),):
                raise IndexError(f"a boolean frame mask needs shape ({len(self)},), got {index.shape}")
            index = np.flatnonzero(index)
        frames = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index, dtype=np.int64)
        frames = np.atleast_1d(frames)
        if frames.size and (frames.min() < -len(self) or frames.max() >= len(self)):
            raise IndexError(f"frame index out of range for {len(self)} frames")
        frames = frames % max(len(self), 1)
        rows = self.atom_rows(frames)
        return Frames(
            self.numbers[rows],
            self.positions[rows],
            self.n_atoms[frames],
            self.energies[frames],
            None if self.forces is None else self.forces[rows],
            None if self.cells is None else self.cells[frames],
            None if self.pbc is None else self.pbc[frames],
            stress=None if self.stress is None else self.stress[frames],
            labels=None if self.labels is None else self.labels[frames],
            source=self.source,
        )

    def __add__(self, other: "Frames") -> "Frames":
        for what in ("forces", "cells", "stress", "labels"):
            if (getattr(self, what) is None) != (getattr(other, what) is None):
                raise ValueError(f"cannot concatenate frames with and without {what}")
        cat = np.concatenate
        return Frames(
            cat([self.numbers, other.numbers]),
            cat([self.positions, other.positions]),
            cat([self.n_atoms, other.n_atoms]),
            cat([self.energies, other.energies]),
            None if self.forces is None else cat([self.forces, other.forces]),
            None if self.cells is None else cat([self.cells, other.cells]),
            None if self.pbc is None else cat([self.pbc, other.pbc]),
            stress=None if self.stress is None else cat([self.stress, other.stress]),
            labels=None if self.labels is None else cat([self.labels, other.labels]),
            source=f"{self.source}+{other.source}",
        )

    def split(self, sizes: Sequence[int], *, seed: int = 0) -> list["Frames"]:
        """Random disjoint subsets of the given sizes (``numpy.random.default_rng(seed)`` permutation).

        Parameters
        ----------
        sizes : sequence of int
            Number of frames of each subset; their sum at most ``len(self)``.
        seed : int, optional
            Seed of the permutation; default 0.

        Examples
        --------
        >>> f = Frames.from_arrays([1], np.zeros((10, 1, 3)), np.arange(10.0))
        >>> [len(p) for p in f.split([6, 2, 2])]
        [6, 2, 2]
        """
        if sum(sizes) > len(self) or any(s < 0 for s in sizes):
            raise ValueError(f"split sizes {list(sizes)} do not fit in {len(self)} frames")
        order = np.random.default_rng(seed).permutation(len(self))
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        return [self[np.sort(order[a:b])] for a, b in zip(bounds[:-1], bounds[1:])]

    def composition(self) -> list[np.ndarray]:
        """Atomic numbers of each frame."""
        return [self.numbers[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def collate(self, frames: Array | None = None) -> Batch:
        """The given frames (default all) as one :class:`Batch` of torch tensors (float64).

        Parameters
        ----------
        frames : array of int, optional
            Frame indices; default all.
        """
        frames = np.arange(len(self)) if frames is None else np.asarray(frames, dtype=np.int64).reshape(-1)
        rows = self.atom_rows(frames)
        counts = self.n_atoms[frames]
        out = Batch(
            numbers=torch.from_numpy(self.numbers[rows]),
            positions=torch.from_numpy(self.positions[rows]),
            batch=torch.from_numpy(np.repeat(np.arange(len(frames)), counts)),
            energy=torch.from_numpy(self.energies[frames]),
            n_atoms=torch.from_numpy(counts),
        )
        if self.forces is not None:
            out["forces"] = torch.from_numpy(self.forces[rows])
        if self.cells is not None:
            assert self.pbc is not None  # set whenever cells are
            out["cell"] = torch.from_numpy(self.cells[frames])
            out["pbc"] = torch.from_numpy(self.pbc[frames])
        if self.stress is not None:
            out["stress"] = torch.from_numpy(self.stress[frames])
        return out

    def batches(
        self, batch_size: int, *, shuffle: bool = False, generator: np.random.Generator | None = None
    ) -> Iterator[Batch]:
        """Iterate over :class:`Batch` es of ``batch_size`` frames (the last may be smaller).

        Parameters
        ----------
        batch_size : int
            Frames per batch.
        shuffle : bool, optional
            Visit the frames in a random order (default False: in order).
        generator : numpy.random.Generator, optional
            Source of the shuffle; default a fresh one.
        """
        order = np.arange(len(self))
        if shuffle:
            order = (generator or np.random.default_rng()).permutation(len(self))
        for start in range(0, len(self), batch_size):
            yield self.collate(order[start : start + batch_size])

    def to_ase(self) -> list[Any]:
        """ASE ``Atoms`` with a single-point calculator holding each frame's energy, forces and stress
        (when stored); a frame's label goes to ``info["label"]``."""
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator

        images = []
        for k, (a, b) in enumerate(zip(self.offsets[:-1], self.offsets[1:])):
            atoms = Atoms(
                numbers=self.numbers[a:b],
                positions=self.positions[a:b],
                cell=None if self.cells is None else self.cells[k],
                pbc=False if self.pbc is None else self.pbc[k],
            )
            atoms.calc = SinglePointCalculator(
                atoms,
                energy=float(self.energies[k]),
                forces=None if self.forces is None else self.forces[a:b],
                stress=None if self.stress is None else self.stress[k][_VOIGT],
            )
            if self.labels is not None:
                atoms.info["label"] = str(self.labels[k])
            images.append(atoms)
        return images

    def __repr__(self) -> str:
        return (
            f"Frames({len(self)} frames, {self.total_atoms} atoms, elements {sorted(set(self.numbers.tolist()))}, "
            f"source={self.source!r})"
        )


def load_frames(source: str | Path) -> Frames:
    """:meth:`Frames.load`: a dataset name (``"xtb_md_ethanol"``, ``"emt_crystals"``), an HDF5 path or an extxyz file.

    Parameters
    ----------
    source : str or path
        Manifest dataset name, or the path of an HDF5 or extxyz file.
    """
    return Frames.load(source)
