"""Neighbour lists for molecules and periodic crystals, in pure torch on any device.

:func:`neighbor_list` finds every pair of atoms closer than a cutoff, including pairs
with periodic images, in one structure or in a batch of structures of different sizes
and cells. An edge ``(i, j)`` with integer image offset ``n = (n_1, n_2, n_3)`` means
that atom ``j`` moved by ``n @ cell`` lies within the cutoff of atom ``i``::

    r_ij = positions[j] - positions[i] + shifts,    shifts = offsets @ cell,    |r_ij| < cutoff

The list is *full* (both ``(i, j)`` and ``(j, i)``) and strict (``<``, as ASE's
``neighbor_list``). Cells hold their vectors as rows (ASE's convention).

Three methods find the same pairs:

* ``"brute"`` tests every pair of atoms of a structure against every image offset
  that can reach the cutoff: ``O(n^2)`` per structure, the fastest for molecules.
* ``"cells"`` sorts atoms into bins at least a cutoff wide along each axis (a linked
  cell list) and tests only atoms of neighbouring bins: ``O(n)`` per structure.
* ``"vesin"`` asks the compiled cell list of the ``vesin`` library (``vesin-torch``, an
  optional dependency of ``tnkit[torch]``), 13-25x faster than ``"cells"`` on the CPU for
  1,000 to 100,000 atoms; the default there when it is installed.

The first two wrap atoms into the cell first (so atoms outside the cell are handled), look
``ceil(cutoff / w_k)`` images deep along periodic axis ``k`` of perpendicular width
``w_k`` (so cells smaller than the cutoff work, like ASE); all three search a little beyond
the cutoff and pass their candidates through one shared final test and one ordering, so
they return identical lists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from tnkit.types import Array, Device

try:  # optional: the compiled neighbour search of the vesin library (pip install vesin-torch)
    import vesin_torch as _vesin
except ImportError:  # pragma: no cover - depends on the environment
    _vesin = None

__all__ = ["NeighborList", "cell_volume", "minimum_image", "neighbor_list", "perpendicular_widths"]

_METHODS = ("auto", "brute", "cells", "vesin")
_CHUNK = 1 << 21  # candidate pairs tested at once: bounds the memory of large lists
_BRUTE_LIMIT = 600_000  # "auto": brute force while no structure costs more (see _brute_cost)


class NeighborList(NamedTuple):
    """Pairs of atoms within a cutoff, sorted by centre, neighbour, then image offset.

    Attributes
    ----------
    edge_index : torch.Tensor, shape (2, n_edges), int64
        Rows ``(i, j)``: centre and neighbour.
    shifts : torch.Tensor, shape (n_edges, 3)
        Cartesian image shifts ``offsets @ cell`` of the neighbour, differentiable with
        respect to the cell (zero without periodicity).
    offsets : torch.Tensor, shape (n_edges, 3), int64
        Integer image offsets in units of the cell vectors.
    """

    edge_index: torch.Tensor
    shifts: torch.Tensor
    offsets: torch.Tensor

    def vectors(self, positions: torch.Tensor) -> torch.Tensor:
        """Bond vectors ``positions[j] - positions[i] + shifts``, shape ``(n_edges, 3)``.

        Parameters
        ----------
        positions : torch.Tensor, shape (n_atoms, 3)
            Positions the list was built for (or moved ones, for gradients).

        Examples
        --------
        >>> positions = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.5]])
        >>> neighbor_list(positions, 2.0).vectors(positions)
        tensor([[ 0.0000,  0.0000,  1.5000],
                [ 0.0000,  0.0000, -1.5000]])
        """
        i, j = self.edge_index
        return positions[j] - positions[i] + self.shifts


# --------------------------------------------------------------------------------------
# Cell geometry


def cell_volume(cell: torch.Tensor) -> torch.Tensor:
    """Volume ``|det(cell)|`` of cells with vectors as rows.

    Parameters
    ----------
    cell : torch.Tensor, shape (..., 3, 3)

    Returns
    -------
    torch.Tensor, shape (...)

    Examples
    --------
    >>> cell_volume(torch.tensor([[2.0, 0.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, 4.0]]))
    tensor(24.)
    """
    return torch.linalg.det(cell).abs()


def perpendicular_widths(cell: torch.Tensor) -> torch.Tensor:
    """Distances between opposite faces of cells: ``w_k = V / |a_l x a_m|``.

    A sphere of radius ``r`` fits in the cell when ``2 r <= min_k w_k``; a neighbour
    search to ``r`` needs ``ceil(r / w_k)`` images along axis ``k``.

    Parameters
    ----------
    cell : torch.Tensor, shape (..., 3, 3)
        Cell vectors as rows.

    Returns
    -------
    torch.Tensor, shape (..., 3)

    Examples
    --------
    >>> perpendicular_widths(torch.tensor([[2.0, 0.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, 4.0]]))
    tensor([1.8974, 3.0000, 4.0000])
    """
    a, b, c = cell[..., 0, :], cell[..., 1, :], cell[..., 2, :]
    faces = torch.stack([torch.linalg.cross(b, c), torch.linalg.cross(c, a), torch.linalg.cross(a, b)], dim=-2)
    return cell_volume(cell)[..., None] / torch.linalg.vector_norm(faces, dim=-1)


def minimum_image(
    vectors: torch.Tensor, cell: torch.Tensor, pbc: bool | Sequence[bool] | torch.Tensor = True
) -> torch.Tensor:
    """Shortest periodic images of difference vectors, by rounding fractional coordinates.

    Returns ``vectors - round(vectors @ cell^-1) @ cell`` (rounding along periodic axes
    only). This is the true minimum image whenever that image is shorter than half the
    smallest perpendicular width of the cell (:func:`perpendicular_widths`), which is
    the case for every pair within a cutoff below that half-width. Differentiable with
    respect to ``vectors`` and ``cell``.

    Parameters
    ----------
    vectors : torch.Tensor, shape (..., 3)
    cell : torch.Tensor, shape (3, 3) or (..., 3, 3)
        Cell vectors as rows, broadcast against ``vectors``.
    pbc : bool, 3 bools or torch.Tensor of shape (..., 3), default True

    Returns
    -------
    torch.Tensor, shape (..., 3)

    Examples
    --------
    >>> cell = 10.0 * torch.eye(3)
    >>> minimum_image(torch.tensor([9.0, -6.0, 2.0]), cell)
    tensor([-1.,  4.,  2.])
    >>> minimum_image(torch.tensor([9.0, -6.0, 2.0]), cell, pbc=[True, False, False])
    tensor([-1., -6.,  2.])
    """
    if vectors.shape[-1:] != (3,) or cell.shape[-2:] != (3, 3):
        raise ValueError(
            "minimum_image: expected vectors (..., 3) and cell (..., 3, 3), "
            f"got {tuple(vectors.shape)} and {tuple(cell.shape)}"
        )
    if cell.dtype != vectors.dtype or cell.device != vectors.device:
        raise TypeError(
            f"minimum_image: cell ({cell.dtype}, {cell.device}) must match vectors ({vectors.dtype}, {vectors.device})"
        )
    flags = torch.as_tensor(pbc, dtype=torch.bool, device=vectors.device)
    frac = torch.linalg.solve(cell.detach().transpose(-1, -2), vectors.detach()[..., None])[..., 0]
    images = torch.round(frac) * flags
    return vectors - (images[..., None] * cell).sum(dim=-2)


# --------------------------------------------------------------------------------------
# Input checks


def _structures(
    positions: torch.Tensor,
    batch: torch.Tensor | None,
    cell: Array,
    pbc: Any,
) -> tuple[torch.Tensor, int, torch.Tensor | None, torch.Tensor]:
    """Validated ``(batch, n_structures, cell (B, 3, 3) or None, pbc (B, 3))``."""
    n, device = positions.shape[0], positions.device
    single = batch is None
    if single:
        batch = torch.zeros(n, dtype=torch.int64, device=device)
    else:
        if not isinstance(batch, torch.Tensor) or batch.dtype.is_floating_point or batch.dtype == torch.bool:
            raise ValueError("batch must be an integer torch.Tensor of structure indices, one per atom")
        if batch.shape != (n,):
            raise ValueError(f"batch must have shape ({n},), one structure index per atom, got {tuple(batch.shape)}")
        if batch.device != device:
            raise TypeError(f"batch is on {batch.device} but positions on {device}; move them to one device")
        batch = batch.to(torch.int64)
        if n and (bool((batch[1:] < batch[:-1]).any()) or int(batch[0]) < 0):
            raise ValueError("batch must be sorted and non-negative (atoms of each structure contiguous, in order)")
    n_structures = int(batch[-1]) + 1 if n else 1

    if cell is not None:
        if not isinstance(cell, torch.Tensor):
            cell = torch.as_tensor(np.asarray(cell, dtype=np.float64), dtype=positions.dtype, device=device)
        elif cell.dtype != positions.dtype or cell.device != device:
            raise TypeError(
                f"cell ({cell.dtype}, {cell.device}) must match positions ({positions.dtype}, {device}); "
                "convert it first"
            )
        if cell.shape == (3, 3):
            cell = cell.expand(n_structures, 3, 3)
        elif cell.ndim == 3 and cell.shape[1:] == (3, 3):
            if single and cell.shape[0] != 1:
                raise ValueError(
                    f"{cell.shape[0]} cells given for one structure; pass batch= to list several structures"
                )
            if cell.shape[0] < n_structures:
                raise ValueError(f"cell holds {cell.shape[0]} cells but batch refers to {n_structures} structures")
            n_structures = cell.shape[0]
        else:
            raise ValueError(f"cell must have shape (3, 3) or (n_structures, 3, 3), got {tuple(cell.shape)}")
        if not bool(torch.isfinite(cell).all()):
            raise ValueError("cell contains NaN or Inf")

    if pbc is None:
        pbc = cell is not None
    flags = torch.as_tensor(pbc, dtype=torch.bool, device=device)
    if flags.ndim == 0:
        flags = flags.expand(3)
    if flags.shape == (3,):
        flags = flags.expand(n_structures, 3)
    elif flags.shape != (n_structures, 3):
        raise ValueError(f"pbc must be a bool, 3 bools or ({n_structures}, 3) bools, got shape {tuple(flags.shape)}")
    if cell is None:
        if bool(flags.any()):
            raise ValueError("pbc needs a cell: pass cell=(3, 3) or (n_structures, 3, 3) cell vectors as rows")
    else:
        periodic = flags.any(dim=1)
        cell_64 = cell.detach().to(torch.float64) if cell.device.type != "mps" else cell.detach()
        scale = torch.linalg.vector_norm(cell_64, dim=-1).prod(dim=-1)
        flat = torch.linalg.det(cell_64).abs() <= 1e-12 * scale
        if bool((flat & periodic).any()):
            k = int(torch.nonzero(flat & periodic)[0, 0])
            raise ValueError(f"cell {k} has zero volume; periodic structures need three independent cell vectors")
    return batch, n_structures, cell, flags


# --------------------------------------------------------------------------------------
# Candidate pairs


class _Frame(NamedTuple):
    """Per-structure binning frame, in the working precision."""

    matrix: torch.Tensor  # (B, 3, 3) cell, or the identity for structures with no periodic axis
    frac: torch.Tensor  # (N, 3) fractional coordinates, wrapped into [0, 1) along periodic axes
    wrapped: torch.Tensor  # (N, 3) the wrapped positions, Cartesian
    wraps: torch.Tensor  # (N, 3) int64 whole cells removed by the wrapping
    widths: torch.Tensor  # (B, 3) perpendicular widths of the frame


def _frame(
    positions: torch.Tensor, batch: torch.Tensor, cell: torch.Tensor | None, pbc: torch.Tensor, work: torch.dtype
) -> _Frame:
    n_structures = pbc.shape[0]
    eye = torch.eye(3, dtype=work, device=positions.device).expand(n_structures, 3, 3)
    if cell is None:
        matrix = eye
    else:
        matrix = torch.where(pbc.any(dim=1)[:, None, None], cell.detach().to(work), eye)
    inverse = torch.linalg.inv(matrix)
    frac = torch.einsum("nk,nkl->nl", positions.detach().to(work), inverse[batch])
    wraps = torch.floor(frac) * pbc[batch]
    frac = frac - wraps
    wrapped = torch.einsum("nk,nkl->nl", frac, matrix[batch])
    return _Frame(matrix, frac, wrapped, wraps.to(torch.int64), perpendicular_widths(matrix))


def _chunks(counts: torch.Tensor) -> list[tuple[int, int]]:
    """Split consecutive items with ``counts`` candidates each into runs of about ``_CHUNK`` candidates."""
    if counts.numel() == 0:
        return []
    ends = torch.cumsum(counts, 0)
    total = int(ends[-1])
    if total <= _CHUNK:
        return [(0, counts.numel())]
    cuts = torch.searchsorted(ends, torch.arange(_CHUNK, total, _CHUNK, device=counts.device), right=True)
    bounds = [0, *sorted({int(c) for c in cuts.tolist()}), counts.numel()]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _brute(frame: _Frame, batch: torch.Tensor, pbc: torch.Tensor, radius: float) -> list[tuple[torch.Tensor, ...]]:
    device = batch.device
    n_structures = pbc.shape[0]
    atoms = torch.bincount(batch, minlength=n_structures)
    first = torch.cumsum(atoms, 0) - atoms
    reach = torch.ceil(radius / frame.widths).to(torch.int64) * pbc
    found: list[tuple[torch.Tensor, ...]] = []
    # structures needing the same images are searched together (molecules: one image)
    groups, group_of = torch.unique(reach, dim=0, return_inverse=True)
    for g, depth in enumerate(groups.tolist()):
        images = torch.cartesian_prod(*(torch.arange(-m, m + 1, device=device) for m in depth)).reshape(-1, 3)
        shifts = torch.einsum("tk,bkl->tbl", images.to(frame.matrix.dtype), frame.matrix)  # (images, structures, 3)
        pairs = torch.where(group_of == g, atoms * atoms, 0)
        ends = torch.cumsum(pairs, 0)
        total = int(ends[-1])
        for start in range(0, total, _CHUNK):
            # flat pair index -> (structure, i, j); empty structures are skipped by searchsorted
            q = torch.arange(start, min(start + _CHUNK, total), device=device)
            s = torch.searchsorted(ends, q, right=True)
            local = q - (ends - pairs)[s]
            n = atoms[s]
            i, j = first[s] + local // n, first[s] + local % n
            d = frame.wrapped[j] - frame.wrapped[i]
            single = bool((s == s[0]).all())
            for t in range(images.shape[0]):
                r = d + (shifts[t, s[0]] if single else shifts[t][s])
                hit = torch.nonzero((r * r).sum(dim=1) < radius * radius)[:, 0]
                found.append((i[hit], j[hit], images[t].expand(hit.shape[0], 3)))
    return found


def _cells(frame: _Frame, batch: torch.Tensor, pbc: torch.Tensor, radius: float) -> list[tuple[torch.Tensor, ...]]:
    device, work = batch.device, frame.frac.dtype
    n_structures = pbc.shape[0]
    atoms = torch.bincount(batch, minlength=n_structures)
    frac = frame.frac

    # fractional range of each structure: [0, 1) along periodic axes, the atoms' span otherwise
    index = batch[:, None].expand(-1, 3)
    lo = torch.full((n_structures, 3), math.inf, dtype=work, device=device).scatter_reduce(0, index, frac, "amin")
    hi = torch.full((n_structures, 3), -math.inf, dtype=work, device=device).scatter_reduce(0, index, frac, "amax")
    lo = torch.where(pbc, 0.0, torch.nan_to_num(lo, posinf=0.0))
    span = torch.where(pbc, 1.0, torch.nan_to_num(hi, neginf=0.0) - lo)

    # bins at least `radius` wide, at most about 8 per atom
    bins = torch.clamp(torch.floor(span * frame.widths / radius), min=1).to(torch.int64)
    limit = torch.clamp(8 * atoms, min=27).to(work)
    excess = (bins.prod(dim=1).to(work) / limit).clamp(min=1.0)
    bins = torch.clamp(torch.floor(bins.to(work) / excess[:, None] ** (1 / 3)), min=1).to(torch.int64)
    reach = torch.where(pbc, torch.ceil(radius * bins / (span * frame.widths)).to(torch.int64), 1)
    n_bins = bins.prod(dim=1)
    bin_first = torch.cumsum(n_bins, 0) - n_bins

    safe_span = torch.where(span > 0, span, 1.0)
    coord = torch.floor((frac - lo[batch]) / safe_span[batch] * bins[batch]).to(torch.int64)
    coord = torch.minimum(torch.clamp(coord, min=0), bins[batch] - 1)
    bins_b = bins[batch]
    atom_bin = bin_first[batch] + (coord[:, 0] * bins_b[:, 1] + coord[:, 1]) * bins_b[:, 2] + coord[:, 2]
    order = torch.argsort(atom_bin, stable=True)
    occupancy = torch.bincount(atom_bin, minlength=int(n_bins.sum()))
    bin_start = torch.cumsum(occupancy, 0) - occupancy

    # (atom, stencil displacement) pairs
    side = 2 * reach + 1
    stencil = side.prod(dim=1)[batch]
    centre = torch.repeat_interleave(torch.arange(batch.shape[0], device=device), stencil)
    k = torch.arange(centre.shape[0], device=device) - (torch.cumsum(stencil, 0) - stencil)[centre]
    sd = side[batch[centre]]
    step = torch.stack([k // (sd[:, 1] * sd[:, 2]), (k // sd[:, 2]) % sd[:, 1], k % sd[:, 2]], dim=1)
    target = coord[centre] + step - reach[batch[centre]]
    nb = bins[batch[centre]]
    periodic = pbc[batch[centre]]
    image = torch.where(periodic, torch.div(target, nb, rounding_mode="floor"), 0)
    target = target - image * nb
    valid = ((target >= 0) & (target < nb)).all(dim=1)
    target = torch.where(valid[:, None], target, 0)
    target_bin = bin_first[batch[centre]] + (target[:, 0] * nb[:, 1] + target[:, 1]) * nb[:, 2] + target[:, 2]
    count = torch.where(valid, occupancy[target_bin], 0)
    # the centre seen from the target bin's image: r_ij = wrapped[j] - seen_from[slot]
    shift = torch.einsum("tk,tkl->tl", image.to(work), frame.matrix[batch[centre]])
    seen_from = frame.wrapped[centre] - shift

    found: list[tuple[torch.Tensor, ...]] = []
    for a, b in _chunks(count):
        c = count[a:b]
        slot = torch.repeat_interleave(torch.arange(a, b, device=device), c)
        within = torch.arange(slot.shape[0], device=device) - (torch.cumsum(c, 0) - c)[slot - a]
        j = order[bin_start[target_bin[slot]] + within]
        r = frame.wrapped[j] - seen_from[slot]
        keep = torch.nonzero((r * r).sum(dim=1) < radius * radius)[:, 0]
        found.append((centre[slot[keep]], j[keep], image[slot[keep]]))
    return found


def _brute_cost(batch: torch.Tensor, frame: _Frame, pbc: torch.Tensor, radius: float) -> torch.Tensor:
    """Work of the brute-force search per structure: each pair is set up once, then tested per image."""
    atoms = torch.bincount(batch, minlength=pbc.shape[0])
    reach = torch.ceil(radius / frame.widths).to(torch.int64) * pbc
    return atoms * atoms * (4 + (2 * reach + 1).prod(dim=1))


# --------------------------------------------------------------------------------------
# The neighbour list


def neighbor_list(
    positions: torch.Tensor,
    cutoff: float,
    *,
    batch: torch.Tensor | None = None,
    cell: torch.Tensor | None = None,
    pbc: bool | Sequence[bool] | torch.Tensor | None = None,
    self_interaction: bool = False,
    method: str = "auto",
    max_neighbors: int | None = None,
) -> NeighborList:
    """All pairs of atoms closer than ``cutoff``, with periodic images.

    Parameters
    ----------
    positions : torch.Tensor, shape (n_atoms, 3)
        Cartesian positions, float32 or float64, on any device. Atoms need not lie
        inside the cell.
    cutoff : float
        Pairs with ``|r_ij| < cutoff`` (strict) are listed.
    batch : torch.Tensor, shape (n_atoms,), int64, optional
        Structure index of each atom, sorted (atoms of a structure contiguous). None:
        one structure. Pairs never cross structures.
    cell : torch.Tensor, shape (3, 3) or (n_structures, 3, 3), optional
        Cell vectors as rows, same dtype and device as ``positions`` (array-likes such
        as an ``ase.cell.Cell`` are converted). One ``(3, 3)`` cell is shared by all
        structures. Ignored, and allowed to be singular, for structures with no
        periodic axis.
    pbc : bool, 3 bools or (n_structures, 3) bools, optional
        Periodic axes. Default: all three when a cell is given, none otherwise.
    self_interaction : bool, default False
        Also list each atom as its own neighbour with zero offset ``(i, i, 0)``. Images
        of an atom itself (``(i, i, n)``, ``n != 0``) are always listed when in range.
    method : {"auto", "brute", "cells", "vesin"}, default "auto"
        ``"brute"`` tests all pairs of each structure against all images in range;
        ``"cells"`` uses a linked cell list; ``"vesin"`` the ``vesin`` library's compiled
        cell list (CPU). ``"auto"`` takes ``"vesin"`` for CPU tensors when ``vesin-torch``
        is installed; otherwise brute force for small structures
        (``n^2 (4 + images searched) <= 600,000``: molecules of up to about 380 atoms,
        periodic cells searched 27 images deep of up to about 140) and cell lists for
        larger ones. All give identical results.
    max_neighbors : int, optional
        Raise if any atom has more neighbours (a guard against a cutoff in the wrong
        unit; nothing is ever truncated).

    Returns
    -------
    NeighborList
        ``edge_index`` (2, E) int64, ``shifts`` (E, 3) in ``positions``' dtype and
        ``offsets`` (E, 3) int64, such that ``positions[j] - positions[i] + shifts`` is
        the bond vector. Edges are sorted by ``i``, then ``j``, then offsets
        (lexicographic). ``shifts`` is computed as ``offsets @ cell[batch[i]]`` and
        carries gradients to ``cell``; the pair search itself is not differentiated.

    Raises
    ------
    ValueError
        For non-finite positions or cell, a cutoff that is not positive, an unsorted
        batch or one of the wrong length, pbc without a cell, a periodic cell of zero
        volume, an unknown method, or more than ``max_neighbors`` neighbours.
    TypeError
        For a cell or batch of another dtype or device than ``positions``.

    Examples
    --------
    A water molecule, then a periodic simple cubic crystal of one atom (6 nearest
    neighbours, all images of the atom itself):

    >>> positions = torch.tensor([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    >>> neighbor_list(positions, 1.2).edge_index
    tensor([[0, 0, 1, 2],
            [1, 2, 0, 0]])
    >>> nl = neighbor_list(torch.zeros(1, 3), 1.2, cell=torch.eye(3))
    >>> nl.offsets.tolist()
    [[-1, 0, 0], [0, -1, 0], [0, 0, -1], [0, 0, 1], [0, 1, 0], [1, 0, 0]]

    Two structures in one batch, the second periodic along x only:

    >>> positions = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0.0, 0, 0], [2.5, 0, 0]], dtype=torch.float64)
    >>> batch = torch.tensor([0, 0, 1, 1])
    >>> cell = torch.stack([torch.eye(3), 3 * torch.eye(3)]).double()
    >>> pbc = torch.tensor([[False, False, False], [True, False, False]])
    >>> nl = neighbor_list(positions, 1.1, batch=batch, cell=cell, pbc=pbc)
    >>> nl.edge_index.tolist(), nl.shifts[:, 0].tolist()
    ([[0, 1, 2, 3], [1, 0, 3, 2]], [0.0, 0.0, -3.0, 3.0])
    """
    if not isinstance(positions, torch.Tensor):
        raise TypeError(f"positions must be a torch.Tensor, got {type(positions).__name__}")
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions must have shape (n_atoms, 3), got {tuple(positions.shape)}")
    if not positions.dtype.is_floating_point:
        raise ValueError(f"positions must be floating point (float32 or float64), got {positions.dtype}")
    if not bool(torch.isfinite(positions).all()):
        raise ValueError("positions contain NaN or Inf")
    cutoff = float(cutoff)
    if not (math.isfinite(cutoff) and cutoff > 0):
        raise ValueError(f"cutoff must be a positive finite distance, got {cutoff}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}, got {method!r}")
    if method == "vesin" and _vesin is None:
        raise ValueError("method='vesin' needs the vesin-torch package: pip install vesin-torch (or use 'cells')")
    if max_neighbors is not None and (not isinstance(max_neighbors, int) or max_neighbors < 0):
        raise ValueError(f"max_neighbors must be a non-negative int or None, got {max_neighbors!r}")
    batch, n_structures, cell, pbc = _structures(positions, batch, cell, pbc)

    device, dtype = positions.device, positions.dtype
    work = torch.float32 if device.type == "mps" else torch.float64
    # candidates are searched a little beyond the cutoff, so that rounding in the final
    # test (in positions' dtype) can never meet a pair the search missed
    eps = max(torch.finfo(dtype).eps, torch.finfo(work).eps)
    extent = float(positions.detach().abs().max()) if positions.numel() else 0.0
    if cell is not None:
        extent += float(torch.linalg.vector_norm(cell.detach(), dim=-1).sum(dim=-1).max())
    radius = cutoff * (1 + 1e-6) + 64 * eps * (extent + cutoff)

    if method == "auto" and _vesin is not None and device.type == "cpu":
        method = "vesin"
    with torch.no_grad():
        i = j = torch.zeros(0, dtype=torch.int64, device=device)
        offsets = torch.zeros((0, 3), dtype=torch.int64, device=device)
        if positions.shape[0] and method == "vesin":
            i, j, offsets = _vesin_pairs(positions.detach(), batch, n_structures, cell, pbc, radius)
        elif positions.shape[0]:
            frame = _frame(positions, batch, cell, pbc, work)
            if method == "auto":
                largest = int(_brute_cost(batch, frame, pbc, radius).max())
                method = "brute" if largest <= _BRUTE_LIMIT else "cells"
            found = (_brute if method == "brute" else _cells)(frame, batch, pbc, radius)
            if found:
                i, j, image = (torch.cat(parts) for parts in zip(*found))
                offsets = image - frame.wraps[j] + frame.wraps[i]
        if self_interaction and method == "vesin":  # vesin never lists an atom with itself
            every = torch.arange(positions.shape[0], device=device)
            i, j = torch.cat([i, every]), torch.cat([j, every])
            offsets = torch.cat([offsets, offsets.new_zeros((positions.shape[0], 3))])

        # the shared final test, in the positions' own precision
        shifts = _shifts(offsets, cell, batch[i], dtype, device)
        r = positions.detach()[j] - positions.detach()[i] + shifts
        keep = r[:, 0] * r[:, 0] + r[:, 1] * r[:, 1] + r[:, 2] * r[:, 2] < cutoff * cutoff
        if not self_interaction:
            keep &= (i != j) | (offsets != 0).any(dim=1)
        if not bool(keep.all()):  # (vesin, searching just beyond the cutoff, rarely returns extras)
            i, j, offsets = i[keep], j[keep], offsets[keep]
        order = _lexicographic(i, j, offsets, positions.shape[0])
        i, j, offsets = i[order], j[order], offsets[order]

    if max_neighbors is not None and i.numel():
        per_atom = torch.bincount(i, minlength=positions.shape[0])
        worst = int(torch.argmax(per_atom))
        if int(per_atom[worst]) > max_neighbors:
            raise ValueError(
                f"atom {worst} has {int(per_atom[worst])} neighbours within {cutoff}, "
                f"more than max_neighbors={max_neighbors}"
            )
    return NeighborList(torch.stack([i, j]), _shifts(offsets, cell, batch[i], dtype, device), offsets)


def _vesin_pairs(
    positions: torch.Tensor,
    batch: torch.Tensor,
    n_structures: int,
    cell: torch.Tensor | None,
    pbc: torch.Tensor,
    radius: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Candidate pairs ``(i, j, offsets)`` within ``radius`` from vesin, structure by structure."""
    assert _vesin is not None
    search = _vesin.NeighborList(cutoff=radius, full_list=True)
    counts = torch.bincount(batch, minlength=n_structures).tolist()
    parts, start = [], 0
    for s, n in enumerate(counts):
        if n:
            # vesin reads the raw memory: expanded (stride-0) pbc rows or cells must be copied
            periodic = pbc[s].contiguous()
            box = cell[s].contiguous() if cell is not None and bool(periodic.any()) else positions.new_zeros((3, 3))
            points = positions[start : start + n].contiguous()
            i, j, S = search.compute(points, box.to(points.dtype), periodic, "ijS")
            parts.append((i.to(torch.int64) + start, j.to(torch.int64) + start, S.to(torch.int64)))
        start += n
    if not parts:
        empty = torch.zeros(0, dtype=torch.int64, device=positions.device)
        return empty, empty, torch.zeros((0, 3), dtype=torch.int64, device=positions.device)
    i, j, offsets = (torch.cat(p) for p in zip(*parts))
    return i, j, offsets


def _shifts(
    offsets: torch.Tensor, cell: torch.Tensor | None, structure: torch.Tensor, dtype: torch.dtype, device: Device
) -> torch.Tensor:
    if cell is None:
        return torch.zeros((offsets.shape[0], 3), dtype=dtype, device=device)
    o = offsets.to(dtype)
    if cell.shape[0] == 1 or bool((cell == cell[:1]).all()):  # one cell: a matrix product, no (E, 3, 3) gather
        return o @ cell[0]
    c = cell[structure]
    return o[:, 0:1] * c[:, 0] + o[:, 1:2] * c[:, 1] + o[:, 2:3] * c[:, 2]


def _lexicographic(i: torch.Tensor, j: torch.Tensor, offsets: torch.Tensor, n_atoms: int) -> torch.Tensor:
    """Permutation sorting edges by ``i``, then ``j``, then offsets."""
    if i.numel() == 0:
        return torch.zeros(0, dtype=torch.int64, device=i.device)
    low = offsets - offsets.min(dim=0).values
    span = low.max(dim=0).values + 1
    image_key = (low[:, 0] * span[1] + low[:, 1]) * span[2] + low[:, 2]
    images = int(span.prod())
    if n_atoms * n_atoms * images < 2**62:  # one key, one sort (keys are unique: no stability needed)
        return torch.argsort((i * n_atoms + j) * images + image_key)
    first = torch.argsort(image_key, stable=True)
    pair_key = (i * n_atoms + j)[first]
    return first[torch.argsort(pair_key, stable=True)]
