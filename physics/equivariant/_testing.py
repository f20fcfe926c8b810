"""Property tests: atomistic functions under E(3) and permutations; functions of irreps; normalisation.

For functions of irreps features (tensor products, layers), :func:`assert_irreps_equivariant`
checks ``f(D_1 x_1, D_2 x_2, ...) == D_out f(x_1, x_2, ...)`` under random O(3) elements with
exact Wigner matrices, and :func:`assert_normalized` checks e3nn's component normalisation of
a :class:`~physics.equivariant.TensorProduct` (unit-variance inputs give unit-variance outputs).

Like ``e3nn.util.test.assert_equivariant``, but for functions of a structure,
``fn(numbers, positions)`` or ``fn(numbers, positions, cell)``: each trial draws a random
:class:`Transformation` (an orthogonal matrix, a translation, a permutation of the atoms
and, with a cell, lattice shifts of single atoms), applies it to the input, and checks
that every output changed the way its *kind* says:

==================  ================  ==========================================
kind                shape             expected output for the moved structure
==================  ================  ==========================================
``scalar``          any               unchanged (energy, any global invariant)
``atom_scalar``     (n, ...)          rows permuted with the atoms
``vector``          (n, 3)            rows permuted, each row ``R v``
``pseudovector``    (n, 3)            rows permuted, each row ``det(R) R v``
``global_vector``   (..., 3)          ``R v`` (dipole of a neutral system)
``rank2``           (..., 3, 3)       ``R X R^T`` (stress, virial)
``atom_rank2``      (n, 3, 3)         rows permuted, each ``R X R^T``
==================  ================  ==========================================

A transformation moves atom ``k`` of the new structure to
``positions'[k] = R (positions[perm[k]] + shifts[k] @ cell) + t``, with
``numbers'[k] = numbers[perm[k]]`` and ``cell' = cell @ R^T`` (cell vectors are rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from physics.equivariant._backends import _harmonics_refusal
from physics.equivariant._irreps import _as_generator, random_orthogonal, random_rotation, wigner_D
from physics.equivariant._products import Irreps
from physics.equivariant._spherical import spherical_harmonics
from tnkit.types import Array

__all__ = [
    "KINDS",
    "Transformation",
    "assert_equivariant",
    "assert_invariant",
    "assert_irreps_equivariant",
    "assert_normalized",
    "equivariance_errors",
    "irreps_equivariance_error",
    "normalization_moments",
    "random_transformation",
]

KINDS = ("scalar", "atom_scalar", "vector", "pseudovector", "global_vector", "rank2", "atom_rank2")
"""How an output may transform; see :func:`assert_equivariant`."""

_GROUPS = ("O(3)", "SO(3)")
_DEFAULT_ATOL = {torch.float64: 1e-10, torch.float32: 1e-5}


class Transformation(NamedTuple):
    """A rigid motion, a relabelling of the atoms and lattice shifts of single atoms.

    Attributes
    ----------
    rotation : torch.Tensor, shape (3, 3)
        Orthogonal matrix ``R`` (``det R = -1`` for an improper rotation).
    translation : torch.Tensor, shape (3,)
    permutation : torch.Tensor, shape (n,), int64
        New atom ``k`` is old atom ``permutation[k]``.
    lattice_shifts : torch.Tensor, shape (n, 3), int64
        Whole cell vectors added to each new atom before the rotation (zero without a cell).
    """

    rotation: torch.Tensor
    translation: torch.Tensor
    permutation: torch.Tensor
    lattice_shifts: torch.Tensor

    def apply(
        self, numbers: torch.Tensor, positions: torch.Tensor, cell: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The moved structure ``(numbers', positions', cell')``.

        Parameters
        ----------
        numbers : torch.Tensor, shape (n,)
            Atomic numbers.
        positions : torch.Tensor, shape (n, 3)
            Atom positions.
        cell : torch.Tensor, shape (3, 3), optional
            Cell vectors as rows; needed for the lattice shifts.

        Examples
        --------
        >>> T = random_transformation(2, generator=0)
        >>> numbers, positions = torch.tensor([1, 8]), torch.tensor([[0.0, 0, 0], [0, 0, 1.0]], dtype=torch.float64)
        >>> _, moved, _ = T.apply(numbers, positions)
        >>> round(float(torch.linalg.vector_norm(moved[1] - moved[0])), 12)
        1.0
        """
        R = self.rotation.to(dtype=positions.dtype, device=positions.device)
        perm = self.permutation.to(positions.device)
        moved = positions[perm]
        if cell is not None:
            moved = moved + self.lattice_shifts.to(device=positions.device, dtype=positions.dtype) @ cell
        moved = moved @ R.T + self.translation.to(dtype=positions.dtype, device=positions.device)
        new_cell = None if cell is None else cell @ R.T
        return numbers[perm.to(numbers.device)], moved, new_cell

    def expected(self, output: torch.Tensor, kind: str) -> torch.Tensor:
        """What an output of ``kind`` must become for the moved structure.

        Parameters
        ----------
        output : torch.Tensor
            Output of the original structure.
        kind : str
            How it transforms, one of :data:`KINDS`.

        Examples
        --------
        >>> T = random_transformation(3, generator=0)
        >>> forces = torch.eye(3, dtype=torch.float64)
        >>> bool(torch.equal(T.expected(forces, "vector"), forces[T.permutation] @ T.rotation.T))
        True
        """
        if kind not in KINDS:
            raise ValueError(f"unknown output kind {kind!r}; choose one of {', '.join(KINDS)}")
        R = self.rotation.to(dtype=output.dtype, device=output.device)
        if kind == "scalar":
            return output
        if kind in ("global_vector", "rank2"):
            _check_trailing(output, (3,) if kind == "global_vector" else (3, 3), kind)
            return output @ R.T if kind == "global_vector" else R @ output @ R.T
        n = self.permutation.shape[0]
        if output.ndim < 1 or output.shape[0] != n:
            raise ValueError(f"a {kind!r} output needs one row per atom ({n}), got shape {tuple(output.shape)}")
        permuted = output[self.permutation.to(output.device)]
        if kind == "atom_scalar":
            return permuted
        if kind == "atom_rank2":
            _check_trailing(output, (3, 3), kind)
            return R @ permuted @ R.T
        _check_trailing(output, (3,), kind)
        rotated = permuted @ R.T
        return rotated * torch.linalg.det(R) if kind == "pseudovector" else rotated


def _check_trailing(output: torch.Tensor, trailing: tuple[int, ...], kind: str) -> None:
    if output.ndim < len(trailing) or tuple(output.shape[output.ndim - len(trailing) :]) != trailing:
        raise ValueError(f"a {kind!r} output must end in shape {trailing}, got {tuple(output.shape)}")


def _periodic_axes(pbc: bool | Sequence[bool] | torch.Tensor | None, cell: torch.Tensor | None) -> torch.Tensor:
    if cell is None:
        if pbc is not None and bool(torch.as_tensor(pbc).any()):
            raise ValueError("pbc needs a cell: pass cell=(3, 3) cell vectors as rows")
        return torch.zeros(3, dtype=torch.bool)
    flags = torch.as_tensor(True if pbc is None else pbc, dtype=torch.bool).cpu()
    if flags.ndim == 0:
        flags = flags.expand(3)
    if flags.shape != (3,):
        raise ValueError(f"pbc must be a bool or 3 bools, got shape {tuple(flags.shape)}")
    return flags


def random_transformation(
    n_atoms: int,
    *,
    group: str = "O(3)",
    improper: bool | None = None,
    translations: bool = True,
    permutations: bool = True,
    cell: torch.Tensor | None = None,
    pbc: bool | Sequence[bool] | torch.Tensor | None = None,
    dtype: torch.dtype = torch.float64,
    generator: torch.Generator | int | None = None,
) -> Transformation:
    """Draw a random :class:`Transformation` of a structure of ``n_atoms`` atoms.

    Parameters
    ----------
    n_atoms : int
    group : {"O(3)", "SO(3)"}, default "O(3)"
        Draw from all orthogonal matrices or from rotations only.
    improper : bool, optional
        Under O(3), force an improper (True) or a proper (False) matrix; None draws the
        sign at random. Must not be True under SO(3).
    translations : bool, default True
        Add a random translation (standard normal components, times the largest cell
        vector's length with a cell) and, with a cell, random lattice shifts in
        ``{-1, 0, 1}`` of single atoms along the periodic axes.
    permutations : bool, default True
        Relabel the atoms with a random permutation.
    cell : torch.Tensor, shape (3, 3), optional
        Cell vectors as rows; enables lattice shifts.
    pbc : bool or 3 bools, optional
        Periodic axes for the lattice shifts; default: all axes when a cell is given.
    dtype : torch.dtype, default torch.float64
    generator : torch.Generator or int, optional
        Source of randomness (an int seeds a fresh generator).

    Returns
    -------
    Transformation

    Raises
    ------
    ValueError
        For an unknown group, ``improper=True`` under SO(3), or pbc without a cell.

    Examples
    --------
    >>> T = random_transformation(4, group="O(3)", improper=True, generator=0)
    >>> round(float(torch.linalg.det(T.rotation)), 12)
    -1.0
    >>> sorted(T.permutation.tolist())
    [0, 1, 2, 3]
    """
    if group not in _GROUPS:
        raise ValueError(f"group must be 'O(3)' or 'SO(3)', got {group!r}")
    if group == "SO(3)" and improper:
        raise ValueError("improper=True needs group='O(3)': SO(3) holds proper rotations only")
    gen = _as_generator(generator)
    device = gen.device if gen is not None else torch.device("cpu")
    periodic = _periodic_axes(pbc, cell)
    R = random_rotation(dtype=torch.float64, generator=gen)
    if group == "O(3)":
        flip = bool(torch.rand((), generator=gen, device=device) < 0.5) if improper is None else improper
        if flip:
            R = -R
    if translations:
        scale = 1.0 if cell is None else float(torch.linalg.vector_norm(cell.detach(), dim=-1).max())
        t = scale * torch.randn(3, dtype=torch.float64, generator=gen, device=device).cpu()
        shifts = torch.randint(-1, 2, (n_atoms, 3), generator=gen, device=device).cpu() * periodic
    else:
        t = torch.zeros(3, dtype=torch.float64)
        shifts = torch.zeros((n_atoms, 3), dtype=torch.int64)
    if permutations:
        perm = torch.randperm(n_atoms, generator=gen, device=device).cpu()
    else:
        perm = torch.arange(n_atoms)
    if cell is None:
        shifts = torch.zeros((n_atoms, 3), dtype=torch.int64)
    return Transformation(R.cpu().to(dtype), t.to(dtype), perm, shifts.to(torch.int64))


def _call(
    fn: Callable[..., Any], numbers: torch.Tensor, positions: torch.Tensor, cell: torch.Tensor | None
) -> tuple[torch.Tensor, ...]:
    out = fn(numbers, positions) if cell is None else fn(numbers, positions, cell)
    outputs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    for k, o in enumerate(outputs):
        if not isinstance(o, torch.Tensor):
            raise TypeError(f"fn must return tensors; output {k} is a {type(o).__name__}")
    return outputs


def _error(actual: torch.Tensor, expected: torch.Tensor, index: int) -> float:
    if actual.shape != expected.shape:
        raise AssertionError(
            f"output {index} changed shape under the transformation: {tuple(expected.shape)} -> {tuple(actual.shape)}"
        )
    if actual.numel() == 0:
        return 0.0
    return float((actual.detach() - expected.detach()).abs().max())


def _components(T: Transformation) -> list[tuple[str, Transformation]]:
    """The transformation split into single effects, for a failure message."""
    n = T.permutation.shape[0]
    eye = torch.eye(3, dtype=T.rotation.dtype)
    det = float(torch.linalg.det(T.rotation.double()))
    proper = T.rotation * det
    none = Transformation(eye, torch.zeros_like(T.translation), torch.arange(n), torch.zeros_like(T.lattice_shifts))
    parts = [("rotation", none._replace(rotation=proper))]
    if det < 0:
        parts.append(("reflection (inversion)", none._replace(rotation=-eye)))
    if bool(T.translation.any()):
        parts.append(("translation", none._replace(translation=T.translation)))
    if bool(T.lattice_shifts.any()):
        parts.append(("lattice shift of single atoms", none._replace(lattice_shifts=T.lattice_shifts)))
    if not bool(torch.equal(T.permutation, torch.arange(n))):
        parts.append(("permutation", none._replace(permutation=T.permutation)))
    return parts


def _describe(T: Transformation) -> str:
    return " + ".join(name for name, _ in _components(T))


def assert_equivariant(
    fn: Callable[..., Any],
    numbers: torch.Tensor,
    positions: torch.Tensor,
    *,
    kinds: str | Sequence[str],
    cell: torch.Tensor | None = None,
    pbc: bool | Sequence[bool] | torch.Tensor | None = None,
    group: str = "O(3)",
    translations: bool = True,
    permutations: bool = True,
    trials: int = 3,
    atol: float | None = None,
    seed: int = 0,
) -> None:
    """Check that ``fn``'s outputs transform as ``kinds`` say under random symmetry operations.

    Each trial draws a :class:`Transformation` (under O(3) the first trial, and every
    second one after it, is an improper rotation, so reflections are always tested),
    evaluates ``fn`` on the original and the moved structure, and compares the moved
    output with :meth:`Transformation.expected` of the original one. Output ``k``
    passes when ``max|actual - expected| <= atol * max(1, max|output_k|)``, the
    maximum taken over all entries of the original output.

    Parameters
    ----------
    fn : callable
        ``fn(numbers, positions)`` or, with a cell, ``fn(numbers, positions, cell)``,
        returning a tensor or a tuple of tensors.
    numbers : torch.Tensor, shape (n,)
        Atomic numbers (permuted together with the positions).
    positions : torch.Tensor, shape (n, 3)
    kinds : str or sequence of str
        One entry of :data:`KINDS` per output (a single string for a single output).
    cell : torch.Tensor, shape (3, 3), optional
        Cell vectors as rows; rotated with the atoms (``cell @ R^T``).
    pbc : bool or 3 bools, optional
        Axes along which single atoms may be shifted by a cell vector; default all
        three when a cell is given. Use ``translations=False`` to test without these.
    group : {"O(3)", "SO(3)"}, default "O(3)"
        O(3) includes reflections; SO(3) draws proper rotations only.
    translations : bool, default True
        Include a random translation (and lattice shifts with a cell).
    permutations : bool, default True
        Relabel the atoms.
    trials : int, default 3
    atol : float, optional
        Relative tolerance as defined above; default 1e-10 for float64 outputs and 1e-5
        for float32 (lower precision: 1e-2).
    seed : int, default 0
        Seed of the transformations (the check is reproducible).

    Raises
    ------
    AssertionError
        Naming the output, its kind, the transformation (and which of its parts fail
        on their own), the largest error and the tolerance.
    ValueError
        For an unknown kind, a wrong number of kinds, or bad shapes.

    Examples
    --------
    Pair-potential energy and forces:

    >>> def energy_forces(numbers, positions):
    ...     positions = positions.detach().requires_grad_(True)
    ...     i, j = torch.triu_indices(len(numbers), len(numbers), offset=1)
    ...     r = torch.linalg.vector_norm(positions[j] - positions[i], dim=-1)
    ...     energy = (numbers[i] * numbers[j] / r).sum()
    ...     forces = -torch.autograd.grad(energy, positions)[0]
    ...     return energy, forces
    >>> positions = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> numbers = torch.tensor([1, 1, 6, 8, 1])
    >>> assert_equivariant(energy_forces, numbers, positions, kinds=("scalar", "vector"))

    Position-dependent forces fail:

    >>> try:
    ...     assert_equivariant(lambda z, x: x, numbers, positions, kinds="vector")
    ... except AssertionError as err:
    ...     print(err)  # doctest: +ELLIPSIS
    output 0 (vector) is not equivariant under rotation + ... fails alone under: translation
    """
    reference, kind_list, moved = _trials(
        fn, numbers, positions, kinds, cell, pbc, group, translations, permutations, trials, seed
    )
    numbers = torch.as_tensor(numbers, device=positions.device)
    tolerances = []
    for out in reference:
        tol = atol if atol is not None else _DEFAULT_ATOL.get(out.dtype, 1e-2)
        tolerances.append(tol * _scale(out))
    for trial, T, outputs in moved:
        for index, (out, new, kind, tol) in enumerate(zip(reference, outputs, kind_list, tolerances)):
            err = _error(new, T.expected(out, kind), index)
            if err <= tol:
                continue
            failing = []
            for name, part in _components(T):
                part_out = _call(fn, *part.apply(numbers, positions, cell))[index]
                if _error(part_out, part.expected(out, kind), index) > tol:
                    failing.append(name)
            alone = f"; fails alone under: {', '.join(failing)}" if failing else "; no single part fails alone"
            prop = "invariant" if kind == "scalar" else "equivariant"
            raise AssertionError(
                f"output {index} ({kind}) is not {prop} under {_describe(T)} (trial {trial}): "
                f"max |error| = {err:.3g} > tolerance {tol:.3g}{alone}"
            )


def equivariance_errors(
    fn: Callable[..., Any],
    numbers: torch.Tensor,
    positions: torch.Tensor,
    *,
    kinds: str | Sequence[str],
    cell: torch.Tensor | None = None,
    pbc: bool | Sequence[bool] | torch.Tensor | None = None,
    group: str = "O(3)",
    translations: bool = True,
    permutations: bool = True,
    trials: int = 3,
    seed: int = 0,
) -> list[float]:
    """The measurements behind :func:`assert_equivariant`, without a verdict.

    The same transformations as :func:`assert_equivariant` for the same ``seed``.

    Parameters
    ----------
    fn : callable
        ``fn(numbers, positions)`` or, with a cell, ``fn(numbers, positions, cell)``,
        returning a tensor or a tuple of tensors.
    numbers : torch.Tensor, shape (n,)
        Atomic numbers (permuted together with the positions).
    positions : torch.Tensor, shape (n, 3)
        Atom positions.
    kinds : str or sequence of str
        One entry of :data:`KINDS` per output (a single string for a single output).
    cell : torch.Tensor, shape (3, 3), optional
        Cell vectors as rows; rotated with the atoms (``cell @ R^T``).
    pbc : bool or 3 bools, optional
        Axes along which single atoms may be shifted by a cell vector; default all
        three when a cell is given.
    group : {"O(3)", "SO(3)"}, default "O(3)"
        O(3) includes reflections; SO(3) draws proper rotations only.
    translations : bool, default True
        Include a random translation (and lattice shifts with a cell).
    permutations : bool, default True
        Relabel the atoms.
    trials : int, default 3
        Number of random transformations.
    seed : int, default 0
        Seed of the transformations (the check is reproducible).

    Returns
    -------
    list of float
        Per output, ``max over trials of max|actual - expected| / max(1, max|output|)``:
        the number :func:`assert_equivariant` compares with ``atol``.

    Examples
    --------
    >>> positions = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> centred = lambda z, x: x - x.mean(dim=0)
    >>> errors = equivariance_errors(centred, torch.ones(4, dtype=torch.int64), positions, kinds="vector")
    >>> errors[0] < 1e-14
    True
    """
    reference, kind_list, moved = _trials(
        fn, numbers, positions, kinds, cell, pbc, group, translations, permutations, trials, seed
    )
    worst = [0.0] * len(reference)
    for _, T, outputs in moved:
        for index, (out, new, kind) in enumerate(zip(reference, outputs, kind_list)):
            worst[index] = max(worst[index], _error(new, T.expected(out, kind), index) / _scale(out))
    return worst


def _scale(out: torch.Tensor) -> float:
    return max(1.0, float(out.detach().abs().max()) if out.numel() else 0.0)


def _trials(
    fn: Callable[..., Any],
    numbers: Array,
    positions: torch.Tensor,
    kinds: str | Sequence[str],
    cell: torch.Tensor | None,
    pbc: Any,
    group: str,
    translations: bool,
    permutations: bool,
    trials: Any,
    seed: int,
) -> tuple[tuple[torch.Tensor, ...], list[str], Any]:
    """Check the arguments; the reference outputs, the kinds and a generator of
    ``(trial, transformation, outputs of the moved structure)``."""
    kind_list = [kinds] if isinstance(kinds, str) else list(kinds)
    for kind in kind_list:
        if kind not in KINDS:
            raise ValueError(f"unknown output kind {kind!r}; choose one of {', '.join(KINDS)}")
    if group not in _GROUPS:
        raise ValueError(f"group must be 'O(3)' or 'SO(3)', got {group!r}")
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions must have shape (n, 3), got {tuple(positions.shape)}")
    numbers = torch.as_tensor(numbers, device=positions.device)
    if numbers.shape != (positions.shape[0],):
        raise ValueError(
            f"numbers must have shape ({positions.shape[0]},) to match positions, got {tuple(numbers.shape)}"
        )
    if cell is not None and tuple(cell.shape) != (3, 3):
        raise ValueError(f"cell must have shape (3, 3), got {tuple(cell.shape)}")
    if not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive int, got {trials!r}")

    reference = _call(fn, numbers, positions, cell)
    if len(reference) != len(kind_list):
        raise ValueError(f"fn returned {len(reference)} outputs but {len(kind_list)} kinds were given")

    def moved() -> Any:
        generator = torch.Generator().manual_seed(seed)
        for trial in range(trials):
            improper = None if group == "SO(3)" else trial % 2 == 0
            T = random_transformation(
                positions.shape[0],
                group=group,
                improper=improper,
                translations=translations,
                permutations=permutations,
                cell=cell,
                pbc=pbc,
                dtype=positions.dtype,
                generator=generator,
            )
            yield trial, T, _call(fn, *T.apply(numbers, positions, cell))

    return reference, kind_list, moved()


def assert_invariant(
    fn: Callable[..., Any],
    numbers: torch.Tensor,
    positions: torch.Tensor,
    *,
    cell: torch.Tensor | None = None,
    pbc: bool | Sequence[bool] | torch.Tensor | None = None,
    group: str = "O(3)",
    translations: bool = True,
    permutations: bool = True,
    trials: int = 3,
    atol: float | None = None,
    seed: int = 0,
) -> None:
    """Check that every output of ``fn`` is unchanged by rotations, translations and relabelling.

    Shorthand for :func:`assert_equivariant` with every output of kind ``"scalar"``
    (a global invariant such as the energy; per-atom invariants that follow the atoms
    under permutations are ``"atom_scalar"`` outputs of :func:`assert_equivariant`).

    Parameters
    ----------
    fn : callable
        ``fn(numbers, positions)`` or, with a cell, ``fn(numbers, positions, cell)``,
        returning a tensor or a tuple of tensors.
    numbers : torch.Tensor, shape (n,)
        Atomic numbers (permuted together with the positions).
    positions : torch.Tensor, shape (n, 3)
        Atom positions.
    cell : torch.Tensor, shape (3, 3), optional
        Cell vectors as rows; rotated with the atoms (``cell @ R^T``).
    pbc : bool or 3 bools, optional
        Axes along which single atoms may be shifted by a cell vector; default all
        three when a cell is given.
    group : {"O(3)", "SO(3)"}, default "O(3)"
        O(3) includes reflections; SO(3) draws proper rotations only.
    translations : bool, default True
        Include a random translation (and lattice shifts with a cell).
    permutations : bool, default True
        Relabel the atoms.
    trials : int, default 3
        Number of random transformations.
    atol : float, optional
        Relative tolerance, as in :func:`assert_equivariant`; default 1e-10 for float64
        outputs and 1e-5 for float32.
    seed : int, default 0
        Seed of the transformations (the check is reproducible).

    Examples
    --------
    >>> def radius_of_gyration(numbers, positions):
    ...     centred = positions - positions.mean(dim=0)
    ...     return (centred ** 2).sum(dim=-1).mean().sqrt()
    >>> positions = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> assert_invariant(radius_of_gyration, torch.ones(6, dtype=torch.int64), positions)
    """
    reference = _call(fn, torch.as_tensor(numbers, device=positions.device), positions, cell)

    def wrapped(*args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return _call(fn, args[0], args[1], args[2] if len(args) > 2 else None)

    assert_equivariant(
        wrapped,
        numbers,
        positions,
        kinds=["scalar"] * len(reference),
        cell=cell,
        pbc=pbc,
        group=group,
        translations=translations,
        permutations=permutations,
        trials=trials,
        atol=atol,
        seed=seed,
    )


def irreps_equivariance_error(
    fn: Callable[..., torch.Tensor],
    args: Sequence[torch.Tensor],
    irreps_in: Sequence[Any],
    irreps_out: Any,
    *,
    trials: int = 4,
    generator: torch.Generator | int | None = 0,
) -> float:
    """``max |fn(D_i args_i) - D_out fn(args)| / max(1, max |fn(args)|)`` over random O(3) elements.

    Each trial draws an orthogonal matrix (every other one improper) and acts on argument ``i``
    with ``wigner_D(irreps_in[i], R)`` (parity included: edge vectors are ``"1o"``); an
    ``irreps_in`` entry ``None`` leaves that argument alone (weights, invariant inputs).

    Parameters
    ----------
    fn : callable
        ``fn(*args) -> torch.Tensor`` with last axis ``Irreps(irreps_out).dim``.
    args : sequence of torch.Tensor
        The arguments, each with the irreps on its last axis.
    irreps_in : sequence
        One irreps spec (or None) per argument.
    irreps_out : str or Irreps
        The output's irreps.
    trials : int
        Random group elements drawn.
    generator : torch.Generator, int or None
        Seeds the draws.

    Returns
    -------
    float

    Examples
    --------
    >>> import torch
    >>> from physics.equivariant import TensorProduct
    >>> tp = TensorProduct("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o + 4x1e", backend="so2", dtype=torch.float64)
    >>> x, v = torch.randn(6, 16, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    >>> irreps_equivariance_error(lambda a, b: tp(a, vectors=b), [x, v], [tp.irreps_in1, "1o"], tp.irreps_out) < 1e-12
    True
    """
    return _irreps_error(fn, args, irreps_in, irreps_out, trials, generator)[0]


def _irreps_error(
    fn: Callable[..., torch.Tensor],
    args: Sequence[torch.Tensor],
    irreps_in: Sequence[Any],
    irreps_out: Any,
    trials: int,
    generator: torch.Generator | int | None,
) -> tuple[float, torch.dtype]:
    """:func:`irreps_equivariance_error` and the output's dtype (one evaluation of ``fn(args)``)."""
    if len(args) != len(irreps_in):
        raise ValueError(f"irreps_equivariance_error: {len(args)} arguments but {len(irreps_in)} irreps_in entries")
    gen = _as_generator(generator)
    base = fn(*args)
    scale = max(1.0, float(base.detach().abs().max()))
    worst = 0.0
    for trial in range(trials):
        R = random_orthogonal(dtype=torch.float64, generator=gen)
        if trial % 2 == 1 and torch.linalg.det(R) > 0:
            R = -R
        moved = []
        for a, irreps in zip(args, irreps_in):
            if irreps is None:
                moved.append(a)
            else:
                D = wigner_D(irreps, R).to(dtype=a.dtype, device=a.device)
                moved.append(a @ D.transpose(-1, -2))
        D_out = wigner_D(irreps_out, R).to(dtype=base.dtype, device=base.device)
        error = fn(*moved) - base @ D_out.transpose(-1, -2)
        worst = max(worst, float(error.detach().abs().max()) / scale)
    return worst, base.dtype


def assert_irreps_equivariant(
    fn: Callable[..., torch.Tensor],
    args: Sequence[torch.Tensor],
    irreps_in: Sequence[Any],
    irreps_out: Any,
    *,
    trials: int = 4,
    atol: float | None = None,
    generator: torch.Generator | int | None = 0,
) -> float:
    """Check ``fn(D_i args_i) == D_out fn(args)`` under random O(3) elements (e3nn's ``assert_equivariant``).

    Parameters
    ----------
    fn, args, irreps_in, irreps_out, trials, generator
        As :func:`irreps_equivariance_error`.
    atol : float, optional
        Largest error accepted, relative to ``max(1, max |fn(args)|)``; default 1e-10 for
        float64 outputs and 1e-5 for float32.

    Returns
    -------
    float
        The error measured.

    Raises
    ------
    AssertionError
        One line with the error and the tolerance.

    Examples
    --------
    >>> import torch
    >>> from physics.equivariant import TensorProduct
    >>> tp = TensorProduct("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o", backend="dense")
    >>> x, y = torch.randn(6, 16), torch.randn(6, 4)
    >>> assert_irreps_equivariant(tp, [x, y], [tp.irreps_in1, tp.irreps_in2], tp.irreps_out) < 1e-5
    True
    """
    error, dtype = _irreps_error(fn, args, irreps_in, irreps_out, trials, generator)
    bound = atol if atol is not None else _DEFAULT_ATOL.get(dtype, 1e-5)
    if not error <= bound:
        raise AssertionError(f"not equivariant: error {error:.3e} > tolerance {bound:.1e} over {trials} O(3) elements")
    return error


def normalization_moments(tp: Any, *, batch: int = 4000, generator: torch.Generator | int | None = 0) -> torch.Tensor:
    """Mean square of each output slot of a tensor product for unit-variance inputs and weights.

    Inputs and weights are standard normal per component (a fresh weight draw per sample); for
    a product whose second input is spherical harmonics (``1x0e + 1x1o + ...``) the second
    input is the harmonics of random directions (component-normalised, so also unit mean
    square). e3nn's component
    normalisation makes every entry 1 up to sampling error (about ``3 / sqrt(batch)``
    relative); slots no path reaches give 0.

    Parameters
    ----------
    tp : TensorProduct
        A product with path weights (the Gaunt factors of ``weighting="degree"`` are not
        normalised).
    batch : int
        Samples.
    generator : torch.Generator, int or None
        Seeds the draws.

    Returns
    -------
    torch.Tensor, shape (len(tp.irreps_out),)

    Examples
    --------
    >>> from physics.equivariant import TensorProduct
    >>> tp = TensorProduct("8x0e + 8x1o", "0e + 1o", "8x0e + 8x1o + 8x1e", backend="dense")
    >>> m = normalization_moments(tp)
    >>> bool(((m - 1).abs() < 0.1).all())
    True
    """
    gen = _as_generator(generator)
    dtype = torch.float64
    x1 = torch.randn(batch, tp.irreps_in1.dim, dtype=dtype, generator=gen)
    if _harmonics_refusal(tp.irreps_in2) is None:
        x2 = spherical_harmonics([ir.l for _, ir in tp.irreps_in2], torch.randn(batch, 3, dtype=dtype, generator=gen))
    else:
        x2 = torch.randn(batch, tp.irreps_in2.dim, dtype=dtype, generator=gen)
    # a fresh weight draw per sample (also for shared weights): the moments average over the
    # weights' distribution, not over the few channels one draw has
    w = torch.randn((batch, tp.weight_numel), dtype=dtype, generator=gen)
    backend = next(iter(tp.backends.values()))
    if backend.needs_vectors:
        raise ValueError(
            "normalization_moments: build the product with backend='dense' (the moments do not depend on it)"
        )
    out = backend(x1, x2, w, None)
    moments = []
    for sl in Irreps(tp.irreps_out).slices():
        moments.append(out[:, sl].square().mean() if sl.stop > sl.start else out.new_zeros(()))
    return torch.stack(moments)


def assert_normalized(
    tp: Any, *, tolerance: float = 0.1, batch: int = 4000, generator: torch.Generator | int | None = 0
) -> torch.Tensor:
    """Check e3nn's component normalisation: every reached output slot has mean square 1 within ``tolerance``.

    Parameters
    ----------
    tp : TensorProduct
        See :func:`normalization_moments`.
    tolerance : float
        Accepted ``|mean square - 1|`` (sampling error is about ``3 / sqrt(batch)``).
    batch : int
        Samples.
    generator : torch.Generator, int or None
        Seeds the draws.

    Returns
    -------
    torch.Tensor
        The moments.

    Raises
    ------
    AssertionError
        One line naming the slot and its mean square.

    Examples
    --------
    >>> from physics.equivariant import TensorProduct
    >>> _ = assert_normalized(TensorProduct("8x0e + 8x1o", "0e + 1o", "8x0e + 8x1o", backend="dense"))
    """
    moments = normalization_moments(tp, batch=batch, generator=generator)
    reached = {p.i_out for p in tp.plan.paths}
    for o, m in enumerate(moments.tolist()):
        if o in reached and abs(m - 1.0) > tolerance:
            raise AssertionError(
                f"not normalised: output slot {o} ({tp.irreps_out[o][0]}x{tp.irreps_out[o][1]}) has mean square "
                f"{m:.3f}, not 1 +- {tolerance}"
            )
    return moments
