"""The interface every interatomic potential of :mod:`physics.potentials` shares.

A :class:`Potential` maps atomic numbers and positions (and, for periodic systems, a cell)
to a total energy written as a sum of atomic terms,

``E = sum_i [ scale * e_i + shift + E_ref(Z_i) ]``,

where ``e_i`` is what the network (:class:`TensorNet`, :class:`EGNN`) predicts from the
atom's neighbourhood, ``E_ref`` are per-element reference energies fitted by least
squares to the training energies (:meth:`Potential.fit_reference_energies`) and
``scale``/``shift`` put the network's output in eV. Forces are ``-dE/dr`` by autograd;
the stress is ``(1/V) dE/d(strain)`` (ASE's sign convention, eV/A^3).

:meth:`Potential.save` writes a model (its constructor arguments and its weights) to one
checksummed file; :meth:`Potential.load` rebuilds it, with predictions equal to the saved
model's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from physics.potentials._neighbors import cell_volume, neighbor_list
from physics.training import read_torch_file, save_atomic, state_sha256
from tnkit.checks import check_nonempty
from tnkit.io import DataError
from tnkit.types import Array, Device

__all__ = ["Potential", "MIN_DISTANCE", "N_ELEMENTS", "element_counts", "fit_reference_energies"]

N_ELEMENTS = 118
MIN_DISTANCE = 0.1  # Angstrom: closer atoms are treated as an input error

# What a file written by Potential.save holds (besides the digest written by save_atomic).
_FORMAT = "tnkit.potential"
_FORMAT_VERSION = 1
_SHA = "tnkit_sha256"
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}

P = TypeVar("P", bound="Potential")


def element_counts(numbers: Sequence[Array], elements: Sequence[int]) -> np.ndarray:
    """``(n_structures, n_elements)`` counts of each element in each structure.

    Parameters
    ----------
    numbers : sequence of int arrays
        Atomic numbers of each structure.
    elements : sequence of int
        Atomic numbers of the columns.

    Examples
    --------
    >>> element_counts([[8, 1, 1], [6, 1, 1, 1, 1]], elements=(1, 6, 8)).tolist()
    [[2, 0, 1], [4, 1, 0]]
    """
    column = {int(z): k for k, z in enumerate(elements)}
    counts = np.zeros((len(numbers), len(column)), dtype=np.int64)
    for row, zs in enumerate(numbers):
        for z in np.asarray(zs, dtype=np.int64).ravel():
            if int(z) not in column:
                raise ValueError(f"element Z={int(z)} is not among the model's elements {tuple(elements)}")
            counts[row, column[int(z)]] += 1
    return counts


def fit_reference_energies(
    numbers: Sequence[Array], energies: Array, elements: Sequence[int] | None = None
) -> dict[int, float]:
    """Per-element energies ``E_ref`` minimising ``sum_s (E_s - sum_Z n_sZ E_ref(Z))^2``.

    Parameters
    ----------
    numbers : sequence of int arrays
        Atomic numbers of each structure.
    energies : array, shape (n_structures,)
        Total energies (eV).
    elements : sequence of int, optional
        Elements to fit (default: those present).

    Returns
    -------
    dict
        ``{Z: E_ref}``. When the compositions do not determine every element (e.g. all
        frames of one molecule) the minimum-norm least-squares solution is returned: the
        fitted total of every composition seen is still the least-squares one.

    Examples
    --------
    >>> ref = fit_reference_energies([[1, 1], [1, 8], [8, 8]], [-2.0, -11.0, -20.0])
    >>> {z: round(e, 6) for z, e in ref.items()}
    {1: -1.0, 8: -10.0}
    """
    e = np.asarray(energies, dtype=np.float64).ravel()
    check_nonempty((len(numbers),), "fit_reference_energies", what="numbers", items="structures")
    if len(e) != len(numbers):
        raise ValueError(f"fit_reference_energies: {len(numbers)} structures but {len(e)} energies")
    if not np.all(np.isfinite(e)):
        raise ValueError("fit_reference_energies: energies contain NaN or Inf")
    if elements is None:
        elements = sorted({int(z) for zs in numbers for z in np.asarray(zs).ravel()})
    counts = element_counts(numbers, elements).astype(np.float64)
    solution = np.linalg.lstsq(counts, e, rcond=None)[0]
    return {int(z): float(v) for z, v in zip(elements, solution)}


def _pairs_then_reversed(edge_index: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reorder a full neighbour list as ``[pairs; the same pairs reversed]``.

    A pair ``(i, j, n)`` (``n`` the image offset) is kept in the first half when ``i < j``, or
    ``i == j`` (an atom and its own image) with ``n`` lexicographically positive.
    """
    src, dst = edge_index
    positive = (offsets[:, 0] > 0) | (
        (offsets[:, 0] == 0) & ((offsets[:, 1] > 0) | ((offsets[:, 1] == 0) & (offsets[:, 2] > 0)))
    )
    keep = (src < dst) | ((src == dst) & positive)
    half, half_offsets = edge_index[:, keep], offsets[keep]
    return torch.cat([half, half.flip(0)], dim=1), torch.cat([half_offsets, -half_offsets], dim=0)


class Potential(torch.nn.Module):
    """Base class: neighbour list, reference energies, energy / forces / stress by autograd.

    Subclasses implement :meth:`atomic_energies` from a neighbour graph.

    Parameters
    ----------
    cutoff : float
        Interaction cutoff in Angstrom.
    elements : sequence of int, optional
        Atomic numbers the model accepts (default: all 1..118). Others raise ``ValueError``.
    """

    # Buffers registered in __init__; declared so that they read as tensors, not modules.
    species_index: torch.Tensor
    reference_energies: torch.Tensor
    energy_scale: torch.Tensor
    energy_shift: torch.Tensor

    def __init__(self, cutoff: float, elements: Sequence[int] | None = None) -> None:
        super().__init__()
        if not cutoff > 0:
            raise ValueError(f"cutoff must be positive, got {cutoff}")
        self.cutoff = float(cutoff)
        zs = list(range(1, N_ELEMENTS + 1)) if elements is None else sorted({int(z) for z in elements})
        if not zs or zs[0] < 1 or zs[-1] > N_ELEMENTS:
            raise ValueError(f"elements must be atomic numbers in 1..{N_ELEMENTS}, got {elements}")
        self.elements = tuple(zs)
        index = torch.full((N_ELEMENTS + 1,), -1, dtype=torch.long)
        index[torch.tensor(zs)] = torch.arange(len(zs))
        self.register_buffer("species_index", index, persistent=False)
        self.register_buffer("reference_energies", torch.zeros(len(zs), dtype=torch.float64))
        self.register_buffer("energy_scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("energy_shift", torch.zeros((), dtype=torch.float64))
        self.check_inputs = True

    @property
    def n_species(self) -> int:
        """Number of elements the model accepts."""
        return len(self.elements)

    # ------------------------------------------------------------------ saving and loading
    def config(self) -> dict[str, Any]:
        """The keyword arguments of the constructor that rebuild this model (weights aside).

        Subclasses return every argument of their ``__init__`` as plain values (numbers,
        strings, lists, None); the dtype as its name (``"float32"``).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot be saved: it does not define config()")

    def _dtype_name(self) -> str:
        p = next((p for p in self.parameters() if p.is_floating_point()), None)
        return str(p.dtype if p is not None else torch.get_default_dtype()).removeprefix("torch.")

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path``: its class, :meth:`config` and weights, with a sha256.

        The file is published atomically (a crash never leaves half a file) and reads back
        with :meth:`load` (``torch.load(weights_only=True)``: no code runs on loading).

        Parameters
        ----------
        path : str or path
            File to write.

        Returns
        -------
        pathlib.Path
            ``path``.

        Examples
        --------
        >>> import tempfile, pathlib, torch
        >>> from physics.potentials import TensorNet
        >>> _ = torch.manual_seed(0)
        >>> model = TensorNet(8, 1, 4, elements=(1, 8))
        >>> path = model.save(pathlib.Path(tempfile.mkdtemp()) / "water.pt")
        >>> same = Potential.load(path)
        >>> type(same).__name__, same.elements
        ('TensorNet', (1, 8))
        >>> all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), same.state_dict().values()))
        True
        """
        path = Path(path)
        weights = {k: v.detach().to("cpu") for k, v in self.state_dict().items()}
        save_atomic(
            {
                "format": _FORMAT,
                "version": _FORMAT_VERSION,
                "class": type(self).__qualname__,
                "module": type(self).__module__,
                "config": self.config(),
                "state_dict": weights,
            },
            path,
        )
        return path

    @classmethod
    def load(cls: type[P], path: str | Path, *, device: Device = "cpu") -> P:
        """The model saved at ``path`` by :meth:`save`, in eval mode on ``device``.

        Called on :class:`Potential` it returns whichever model the file holds; called on a
        subclass (``TensorNet.load``) it also checks that the file holds that class.

        Parameters
        ----------
        path : str or path
            File written by :meth:`save`.
        device : torch.device or str, optional
            Device the model is put on; default ``"cpu"``.

        Raises
        ------
        tnkit.io.DataError
            Missing, empty, damaged (checksum) or foreign file, a model of another class, or
            of a class not imported in this process (one line naming the file).
        """
        path = Path(path)
        state = read_torch_file(path, device, "potential file")
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise DataError.at(path, "not a potential saved by Potential.save")
        missing = [k for k in ("version", "module", "class", "config", "state_dict") if k not in state]
        if missing:
            raise DataError.at(path, f"potential file without {missing}; not written by Potential.save")
        if state.get("version") != _FORMAT_VERSION:
            raise DataError.at(
                path, f"potential file version {state.get('version')!r}; this tnkit reads {_FORMAT_VERSION}"
            )
        if state.get(_SHA) != state_sha256(state):
            raise DataError.at(path, "checksum mismatch: the potential file is corrupt")
        model_cls = _saved_class(path, state["module"], state["class"])
        if not issubclass(model_cls, cls):
            raise DataError.at(path, f"holds a {state['class']}, not a {cls.__name__}; load it with Potential.load")
        config = dict(state["config"])
        if "dtype" in config:
            if config["dtype"] not in _DTYPES:
                raise DataError.at(path, f"unknown dtype {config['dtype']!r} in the saved model's config")
            config["dtype"] = _DTYPES[config["dtype"]]
        try:
            model = model_cls(**config)
            # assign=True keeps the saved tensors' own dtypes (float64 reference energies of a
            # float32 network), so the loaded model predicts exactly what the saved one did.
            model.load_state_dict(state["state_dict"], assign=True)
        except (TypeError, ValueError, RuntimeError, KeyError) as exc:
            raise DataError.caused_by(path, f"cannot rebuild the saved {state['class']}", exc) from None
        return model.to(device).eval()

    # ------------------------------------------------------------------ to implement
    def atomic_energies(self, species: torch.Tensor, edge_index: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """``(N,)`` network energies ``e_i`` of the atoms from their species and bond vectors.

        The edges come as every pair once followed by the same pairs reversed: edge
        ``k + E/2`` is edge ``k`` seen from the other atom (its vector negated), so functions
        of the distance alone need only be computed for the first half.

        Parameters
        ----------
        species : torch.Tensor, shape (N,)
            Rows of ``self.elements`` of the atoms (from :meth:`species`).
        edge_index : torch.Tensor, shape (2, E)
            Centre and neighbour atom of each edge.
        vectors : torch.Tensor, shape (E, 3)
            ``r_neighbour - r_centre``, Angstrom.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ data statistics
    def calibrate(self, frames: Any) -> None:
        """Set statistics of the training data the architecture needs (:func:`fit` calls it first).

        The base class needs none; :class:`MACE` sets its average neighbour count.

        Parameters
        ----------
        frames : Frames
            The training frames.
        """

    # ------------------------------------------------------------------ reference energies
    def fit_reference_energies(self, numbers: Sequence[Array], energies: Array) -> dict[int, float]:
        """Fit and store the per-element reference energies (:func:`fit_reference_energies`).

        Parameters
        ----------
        numbers : sequence of int arrays
            Atomic numbers of each structure, from the model's elements.
        energies : array, shape (n_structures,)
            Total energies (eV).
        """
        check_nonempty((len(numbers),), "fit_reference_energies", what="numbers", items="structures")
        present = sorted({int(z) for zs in numbers for z in np.asarray(zs).ravel()})
        self.species(torch.tensor(present, dtype=torch.long))  # raises on unknown elements
        ref = fit_reference_energies(numbers, energies, present)
        values = torch.zeros_like(self.reference_energies)
        for z, e in ref.items():
            values[self.elements.index(z)] = e
        self.reference_energies.copy_(values)
        return ref

    def species(self, numbers: torch.Tensor) -> torch.Tensor:
        """Rows of ``self.elements`` for atomic numbers; ``ValueError`` on an unknown element.

        Parameters
        ----------
        numbers : torch.Tensor of int
            Atomic numbers, any shape.
        """
        numbers = torch.as_tensor(numbers)
        if numbers.dtype.is_floating_point or numbers.dtype.is_complex:
            raise ValueError(f"atomic numbers must be integers, got dtype {numbers.dtype}")
        numbers = numbers.to(self.species_index.device, torch.long)
        bad = (numbers < 1) | (numbers > N_ELEMENTS)
        rows = self.species_index[numbers.clamp(0, N_ELEMENTS)]
        bad = bad | (rows < 0)
        if bool(bad.any()):
            z = int(numbers[bad][0])
            raise ValueError(f"unknown element Z={z}: this model accepts {self._element_text()}")
        return rows

    def _element_text(self) -> str:
        if self.elements == tuple(range(1, N_ELEMENTS + 1)):
            return f"Z = 1..{N_ELEMENTS}"
        return "Z in " + str(self.elements)

    # ------------------------------------------------------------------ evaluation
    def forward(
        self,
        numbers: torch.Tensor,
        positions: torch.Tensor,
        *,
        batch: torch.Tensor | None = None,
        cell: torch.Tensor | None = None,
        pbc: Any = None,
        forces: bool = True,
        stress: bool = False,
        create_graph: bool | None = None,
    ) -> dict[str, torch.Tensor]:
        """Energy (and forces, stress) of one structure or a batch.

        Parameters
        ----------
        numbers : torch.Tensor, shape (N,)
            Atomic numbers.
        positions : torch.Tensor, shape (N, 3)
            Cartesian positions in Angstrom (float32 or float64: the model's dtype).
        batch : torch.Tensor, shape (N,), optional
            Structure index of each atom, sorted (default: one structure).
        cell : torch.Tensor, shape (3, 3) or (B, 3, 3), optional
            Cell vectors as rows (Angstrom); needed for periodic boundaries and the stress.
        pbc : bool or sequence of 3 bool, optional
            Periodic directions (default: all periodic when a cell is given).
        forces, stress : bool
            What to compute besides the energy.
        create_graph : bool, optional
            Keep the graph to the parameters (needed to train; forces are then differentiable
            too); default ``self.training``. Without it the outputs are detached.

        Returns
        -------
        dict
            ``energy`` (B,) in eV and ``atomic_energies`` (N,) (both float64), ``forces``
            (N, 3) in eV/A and ``stress`` (B, 3, 3) in eV/A^3 (in the positions' dtype).

        Raises
        ------
        ValueError
            Unknown element, positions that are not float32/float64 (integers, float16,
            bfloat16), non-finite positions, atoms closer than 0.1 A, a cell of zero
            volume, shapes that do not match.
        """

        positions, numbers, batch, cell, n_structures = self._check(numbers, positions, batch, cell, pbc, stress)
        species = self.species(numbers)
        if create_graph is None:
            create_graph = self.training
        if forces and not positions.requires_grad:
            positions = positions.detach().requires_grad_(True)
        unstrained = positions
        if stress:
            # Homogeneous deformation r -> r (1 + eps), cell -> cell (1 + eps): dE/d(eps) = V * stress.
            strain = torch.zeros(
                (n_structures, 3, 3), dtype=positions.dtype, device=positions.device, requires_grad=True
            )
            sym = 0.5 * (strain + strain.transpose(-1, -2))
            positions = positions + torch.einsum("ni,nij->nj", positions, sym[batch])
            cell = cell + cell @ sym
        with torch.no_grad():
            graph = neighbor_list(
                positions.detach(), self.cutoff, batch=batch, cell=None if cell is None else cell.detach(), pbc=pbc
            )
        edge_index, offsets = _pairs_then_reversed(graph.edge_index, graph.offsets)
        vectors = positions[edge_index[1]] - positions[edge_index[0]]
        if cell is not None and edge_index.shape[1]:
            vectors = vectors + torch.einsum("ei,eij->ej", offsets.to(positions.dtype), cell[batch[edge_index[0]]])
        if self.check_inputs and edge_index.shape[1]:
            self._check_overlap(edge_index, vectors)
        e_atom = self.atomic_energies(species, edge_index, vectors)
        # Totals are accumulated in float64: a float32 total of -1e3 eV would round at 1e-4 eV.
        e_atom = e_atom.to(torch.float64) * self.energy_scale + self.energy_shift + self.reference_energies[species]
        energy = torch.zeros(n_structures, dtype=torch.float64, device=positions.device).index_add_(0, batch, e_atom)
        out = {"energy": energy, "atomic_energies": e_atom}
        wrt = ([unstrained] if forces else []) + ([strain] if stress else [])
        if wrt:
            raw = torch.autograd.grad(energy.sum(), wrt, create_graph=create_graph, allow_unused=True)
            grads = [torch.zeros_like(w) if g is None else g for g, w in zip(raw, wrt)]
            if forces:
                out["forces"] = -grads[0]
            if stress:
                volume = cell_volume(cell.detach())
                out["stress"] = grads[-1] / volume[:, None, None]
        if not create_graph:
            out = {k: v.detach() for k, v in out.items()}
        return out

    def _check(self, numbers: Array, positions: Array, batch: Array, cell: Array, pbc: Any, stress: bool) -> tuple:
        positions = torch.as_tensor(positions)
        if positions.dtype not in (torch.float32, torch.float64):
            # Integers cannot carry forces (autograd); float16/bfloat16 are too coarse for bond
            # vectors, and the cell algebra of the stress has no half-precision kernels.
            raise ValueError(
                f"{type(self).__name__}: positions must be a float32 or float64 tensor, got {positions.dtype}; "
                "convert with positions.double() or positions.float()"
            )
        if positions.ndim != 2 or positions.shape[1] != 3:
            raise ValueError(f"positions must have shape (N, 3), got {tuple(positions.shape)}")
        numbers = torch.as_tensor(numbers, device=positions.device)
        if numbers.shape != positions.shape[:1]:
            raise ValueError(f"numbers has shape {tuple(numbers.shape)} but positions has {positions.shape[0]} atoms")
        if self.check_inputs and not bool(torch.isfinite(positions).all()):
            raise ValueError("positions contain NaN or Inf")
        if batch is None:
            batch = torch.zeros(positions.shape[0], dtype=torch.long, device=positions.device)
            n_structures = 1
        else:
            batch = torch.as_tensor(batch, device=positions.device).to(torch.long)
            if batch.shape != positions.shape[:1]:
                raise ValueError(f"batch has shape {tuple(batch.shape)}, expected ({positions.shape[0]},)")
            n_structures = int(batch.max()) + 1 if batch.numel() else 0
        if cell is not None:
            cell = torch.as_tensor(cell, dtype=positions.dtype, device=positions.device)
            if cell.shape == (3, 3):
                cell = cell.expand(n_structures, 3, 3)
            if cell.shape != (n_structures, 3, 3):
                raise ValueError(f"cell must have shape (3, 3) or ({n_structures}, 3, 3), got {tuple(cell.shape)}")
            volume = cell_volume(cell)
            scale = cell.norm(dim=(-2, -1)) ** 3
            if bool((volume <= 1e-12 * scale).any()):
                raise ValueError("cell has zero volume (its vectors are linearly dependent)")
        elif stress:
            raise ValueError("the stress needs a cell")
        return positions, numbers, batch, cell, n_structures

    def _check_overlap(self, edge_index: torch.Tensor, vectors: torch.Tensor) -> None:
        d = vectors.detach().norm(dim=-1)
        k = int(torch.argmin(d))
        if float(d[k]) < MIN_DISTANCE:
            i, j = (int(v) for v in edge_index[:, k])
            raise ValueError(f"atoms {i} and {j} are {float(d[k]):.3g} A apart (< {MIN_DISTANCE} A): overlapping atoms")


def _subclasses(cls: type[Potential]) -> Iterator[type[Potential]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _saved_class(path: Path, module: str, name: str) -> type[Potential]:
    """The imported :class:`Potential` subclass ``module.name``; files never import code."""
    for sub in _subclasses(Potential):
        if sub.__module__ == module and sub.__qualname__ == name:
            return sub
    raise DataError.at(path, f"holds a {module}.{name}, which is not an imported Potential; import its module first")
