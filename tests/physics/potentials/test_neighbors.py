"""Neighbour lists: against an explicit NumPy loop over image offsets and against ASE."""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import physics.potentials._neighbors as neighbors_module  # noqa: E402
from physics.potentials import (  # noqa: E402
    NeighborList,
    cell_volume,
    minimum_image,
    neighbor_list,
    perpendicular_widths,
)

HAS_VESIN = importlib.util.find_spec("vesin_torch") is not None
VESIN = pytest.param("vesin", marks=pytest.mark.skipif(not HAS_VESIN, reason="vesin-torch not installed"))
METHODS = ("brute", "cells", VESIN, "auto")


# --------------------------------------------------------------------------------------
# References


def _reference(positions, cutoff, cell=None, pbc=(False, False, False), self_interaction=False):
    """Every (i, j, offset) with |r| < cutoff, by looping over enough image offsets.

    The offset range along a periodic axis comes from the fractional coordinates and the
    face distances 1 / |column of cell^-1|, so atoms anywhere (also outside the cell) are
    covered; the loop itself is plain NumPy over explicit offsets.
    """
    positions = np.asarray(positions, dtype=np.float64)
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    ranges = []
    if pbc.any():
        cell = np.asarray(cell, dtype=np.float64)
        inverse = np.linalg.inv(cell)
        frac = positions @ inverse
        spread = frac.max(axis=0) - frac.min(axis=0)
        face = 1.0 / np.linalg.norm(inverse, axis=0)
        for k in range(3):
            m = int(np.ceil(cutoff / face[k] + spread[k])) + 1 if pbc[k] else 0
            ranges.append(range(-m, m + 1))
    else:
        cell = np.zeros((3, 3))
        ranges = [range(1)] * 3
    found = set()
    for offset in itertools.product(*ranges):
        d = positions[None, :, :] - positions[:, None, :] + np.asarray(offset, dtype=np.float64) @ cell
        dist = np.sqrt((d**2).sum(-1))
        for i, j in zip(*np.nonzero(dist < cutoff)):
            if i == j and not any(offset) and not self_interaction:
                continue
            found.add((int(i), int(j), *offset))
    return found


def _ase(positions, cutoff, cell=None, pbc=False, self_interaction=False):
    ase_neighborlist = pytest.importorskip("ase.neighborlist")
    from ase import Atoms

    atoms = Atoms(
        numbers=np.ones(len(positions), dtype=int),
        positions=np.asarray(positions, dtype=np.float64),
        cell=np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64),
        pbc=pbc,
    )
    i, j, S = ase_neighborlist.neighbor_list("ijS", atoms, cutoff, self_interaction=self_interaction)
    return {(int(a), int(b), *map(int, s)) for a, b, s in zip(i, j, S)}


def _as_set(nl: NeighborList, start: int = 0):
    i, j = nl.edge_index.tolist()
    return {(a - start, b - start, *o) for a, b, o in zip(i, j, nl.offsets.tolist())}


def _is_sorted(nl: NeighborList) -> bool:
    rows = [(a, b, *o) for (a, b), o in zip(nl.edge_index.T.tolist(), nl.offsets.tolist())]
    return rows == sorted(rows) and len(set(rows)) == len(rows)


def _molecule(n=20, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-scale, scale, size=(n, 3))


TRICLINIC = np.array([[2.1, 0.0, 0.0], [0.7, 1.9, 0.0], [-0.4, 0.5, 1.7]])


def _cases():
    rng = np.random.default_rng(1)
    box = 7.0 * np.eye(3)
    return {
        "molecule": dict(positions=_molecule(), cutoff=2.5, cell=None, pbc=False),
        "cubic": dict(positions=rng.uniform(0, 7.0, (40, 3)), cutoff=3.2, cell=box, pbc=True),
        "cubic_unwrapped": dict(positions=rng.uniform(-9.0, 16.0, (30, 3)), cutoff=3.2, cell=box, pbc=True),
        "triclinic_small": dict(positions=rng.uniform(0, 1, (3, 3)) @ TRICLINIC, cutoff=4.7, cell=TRICLINIC, pbc=True),
        "slab": dict(
            positions=np.c_[rng.uniform(0, 5.0, (25, 2)), rng.uniform(-3.0, 9.0, 25)],
            cutoff=2.6,
            cell=np.diag([5.0, 5.0, 4.0]),
            pbc=(True, True, False),
        ),
        "wire_triclinic": dict(
            positions=rng.uniform(-1, 2, (12, 3)) @ TRICLINIC, cutoff=3.0, cell=TRICLINIC, pbc=(False, True, False)
        ),
    }


CASES = _cases()


def _torch(case, dtype=torch.float64):
    positions = torch.tensor(case["positions"], dtype=dtype)
    cell = None if case["cell"] is None else torch.tensor(case["cell"], dtype=dtype)
    return positions, cell


# --------------------------------------------------------------------------------------
# Agreement with the references


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_numpy_reference_and_ase(name, method):
    case = CASES[name]
    positions, cell = _torch(case)
    nl = neighbor_list(positions, case["cutoff"], cell=cell, pbc=case["pbc"], method=method)
    expected = _reference(case["positions"], case["cutoff"], case["cell"], case["pbc"])
    assert len(expected) > 0
    assert _as_set(nl) == expected
    assert _as_set(nl) == _ase(case["positions"], case["cutoff"], case["cell"], case["pbc"])
    assert _is_sorted(nl)
    assert nl.edge_index.dtype == torch.int64 and nl.offsets.dtype == torch.int64
    assert nl.shifts.dtype == torch.float64
    # the bond vectors are within the cutoff and the shifts are offsets @ cell
    assert bool((torch.linalg.vector_norm(nl.vectors(positions), dim=-1) < case["cutoff"]).all())
    if cell is not None:
        torch.testing.assert_close(nl.shifts, nl.offsets.double() @ cell, rtol=0, atol=1e-12)


def test_small_triclinic_cell_needs_many_images():
    case = CASES["triclinic_small"]
    positions, cell = _torch(case)
    nl = neighbor_list(positions, case["cutoff"], cell=cell)
    widths = perpendicular_widths(cell)
    assert float(widths.max()) < case["cutoff"] / 2
    assert int(nl.offsets.abs().max()) >= 3
    # every pair (i, j) appears with many images, both ways round
    assert nl.edge_index.shape[1] > 300


@pytest.mark.parametrize("method", METHODS)
def test_self_interaction_matches_ase(method):
    case = CASES["cubic"]
    positions, cell = _torch(case)
    nl = neighbor_list(positions, case["cutoff"], cell=cell, self_interaction=True, method=method)
    expected = _ase(case["positions"], case["cutoff"], case["cell"], True, self_interaction=True)
    assert _as_set(nl) == expected
    assert _as_set(nl) == _reference(case["positions"], case["cutoff"], case["cell"], True, self_interaction=True)
    n = len(case["positions"])
    assert all((i, i, 0, 0, 0) in expected for i in range(n))


@pytest.mark.parametrize("method", METHODS)
def test_batch_of_structures(method):
    names = ["molecule", "triclinic_small", "cubic", "slab", "wire_triclinic"]
    cases = [CASES[name] for name in names]
    positions = torch.tensor(np.concatenate([c["positions"] for c in cases]))
    sizes = [len(c["positions"]) for c in cases]
    batch = torch.repeat_interleave(torch.arange(len(cases)), torch.tensor(sizes))
    cell = torch.tensor(np.stack([np.eye(3) if c["cell"] is None else c["cell"] for c in cases]))
    pbc = torch.tensor(np.array([np.broadcast_to(c["pbc"], (3,)) for c in cases]))
    cutoff = 2.6
    nl = neighbor_list(positions, cutoff, batch=batch, cell=cell, pbc=pbc, method=method)
    assert _is_sorted(nl)
    i, j = nl.edge_index
    assert bool((batch[i] == batch[j]).all())
    start = 0
    for b, case in enumerate(cases):
        mask = batch[i] == b
        part = NeighborList(nl.edge_index[:, mask], nl.shifts[mask], nl.offsets[mask])
        expected = _ase(case["positions"], cutoff, case["cell"], case["pbc"])
        assert _as_set(part, start) == expected, names[b]
        torch.testing.assert_close(part.shifts, part.offsets.double() @ cell[b], rtol=0, atol=1e-12)
        start += sizes[b]


def test_batch_with_shared_cell_and_single_atom_structures():
    rng = np.random.default_rng(5)
    sizes = [1, 7, 1, 12]
    parts = [rng.uniform(0, 4.0, (n, 3)) for n in sizes]
    cell = 4.0 * np.eye(3)
    positions = torch.tensor(np.concatenate(parts))
    batch = torch.repeat_interleave(torch.arange(4), torch.tensor(sizes))
    for method in ("brute", "cells", "vesin", "auto") if HAS_VESIN else ("brute", "cells", "auto"):
        nl = neighbor_list(positions, 2.0, batch=batch, cell=torch.tensor(cell), method=method)
        got, start = [], 0
        for b, part in enumerate(parts):
            mask = batch[nl.edge_index[0]] == b
            got.append(_as_set(NeighborList(nl.edge_index[:, mask], nl.shifts[mask], nl.offsets[mask]), start))
            start += sizes[b]
        assert got == [_ase(p, 2.0, cell, True) for p in parts]


def _random_structures(seed):
    """A periodic box large enough for several bins, and a large molecule."""
    rng = np.random.default_rng(seed)
    box = np.array([[11.0, 0.0, 0.0], [2.0, 10.0, 0.0], [1.0, -1.5, 12.0]])
    crystal = rng.uniform(0, 1, (300, 3)) @ box
    molecule = rng.uniform(-8, 8, (250, 3))
    return box, crystal, molecule


def test_methods_identical_on_larger_systems():
    box, crystal, molecule = _random_structures(3)
    others = ("cells", "vesin") if HAS_VESIN else ("cells",)
    for positions, cell, pbc in [(crystal, box, True), (molecule, None, False), (crystal, box, (True, False, True))]:
        pos = torch.tensor(positions)
        c = None if cell is None else torch.tensor(cell)
        a = neighbor_list(pos, 3.0, cell=c, pbc=pbc, method="brute")
        assert a.edge_index.shape[1] > 1000
        for method in others:
            b = neighbor_list(pos, 3.0, cell=c, pbc=pbc, method=method)
            assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.offsets, b.offsets), method
            assert torch.equal(a.shifts, b.shifts)
        assert _as_set(a) == _ase(positions, 3.0, cell, pbc)


def test_chunked_search_gives_the_same_list(monkeypatch):
    box, crystal, _ = _random_structures(4)
    pos, cell = torch.tensor(crystal), torch.tensor(box)
    whole = {m: neighbor_list(pos, 3.0, cell=cell, method=m) for m in ("brute", "cells")}
    monkeypatch.setattr(neighbors_module, "_CHUNK", 997)
    for method, reference in whole.items():
        chunked = neighbor_list(pos, 3.0, cell=cell, method=method)
        assert torch.equal(chunked.edge_index, reference.edge_index)
        assert torch.equal(chunked.offsets, reference.offsets)


def test_sparse_molecule_caps_the_number_of_bins():
    positions = torch.tensor(
        [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1e5, 1e5, 1e5], [1e5, 1e5, 1e5 + 0.5]], dtype=torch.float64
    )
    nl = neighbor_list(positions, 2.0, method="cells")
    assert _as_set(nl) == {(0, 1, 0, 0, 0), (1, 0, 0, 0, 0), (2, 3, 0, 0, 0), (3, 2, 0, 0, 0)}


# --------------------------------------------------------------------------------------
# Precision and gradients


@pytest.mark.parametrize("name", ["cubic_unwrapped", "triclinic_small", "slab"])
def test_float32(name):
    case = CASES[name]
    positions, cell = _torch(case, torch.float32)
    methods = ("brute", "cells", "vesin") if HAS_VESIN else ("brute", "cells")
    lists = [neighbor_list(positions, case["cutoff"], cell=cell, pbc=case["pbc"], method=m) for m in methods]
    for other in lists[1:]:
        assert torch.equal(lists[0].edge_index, other.edge_index) and torch.equal(lists[0].offsets, other.offsets)
    nl = lists[0]
    assert nl.shifts.dtype == torch.float32
    host = positions.double().numpy()  # the float32 positions, exactly
    assert _as_set(nl) == _ase(host, case["cutoff"], cell.double().numpy(), case["pbc"])
    assert bool((torch.linalg.vector_norm(nl.vectors(positions), dim=-1) < case["cutoff"]).all())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("method", ("brute", "cells"))
def test_cuda_matches_cpu(method):
    box, crystal, molecule = _random_structures(6)
    positions = torch.tensor(np.concatenate([crystal, molecule]))
    batch = torch.repeat_interleave(torch.arange(2), torch.tensor([len(crystal), len(molecule)]))
    cell = torch.tensor(np.stack([box, np.eye(3)]))
    pbc = torch.tensor([[True, True, True], [False, False, False]])
    cpu = neighbor_list(positions, 3.0, batch=batch, cell=cell, pbc=pbc, method=method)
    gpu = neighbor_list(positions.cuda(), 3.0, batch=batch.cuda(), cell=cell.cuda(), pbc=pbc, method=method)
    assert gpu.edge_index.device.type == "cuda"
    assert torch.equal(gpu.edge_index.cpu(), cpu.edge_index) and torch.equal(gpu.offsets.cpu(), cpu.offsets)
    torch.testing.assert_close(gpu.shifts.cpu(), cpu.shifts, rtol=0, atol=1e-12)


def _sum_of_distances(positions, cell, cutoff, pbc):
    nl = neighbor_list(positions, cutoff, cell=cell, pbc=pbc)
    return torch.linalg.vector_norm(nl.vectors(positions), dim=-1).sum()


@pytest.mark.parametrize("name", ["cubic_unwrapped", "triclinic_small", "slab"])
def test_gradients_match_finite_differences(name):
    case = CASES[name]
    positions, cell = _torch(case)
    positions.requires_grad_(True)
    cell.requires_grad_(True)
    value = _sum_of_distances(positions, cell, case["cutoff"], case["pbc"])
    g_pos, g_cell = torch.autograd.grad(value, (positions, cell))
    assert float(g_cell.abs().max()) > 0
    h = 1e-6
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for tensor, grad in ((positions, g_pos), (cell, g_cell)):
            picks = [tuple(rng.integers(0, s) for s in tensor.shape) for _ in range(6)] + [(1, 2), (2, 0)]
            for index in picks:
                if name == "slab" and tensor is cell and index[0] == 2:
                    continue  # the non-periodic cell vector is not used
                base = tensor[index].item()
                tensor[index] = base + h
                up = _sum_of_distances(positions, cell, case["cutoff"], case["pbc"])
                tensor[index] = base - h
                down = _sum_of_distances(positions, cell, case["cutoff"], case["pbc"])
                tensor[index] = base
                assert float((up - down) / (2 * h)) == pytest.approx(float(grad[index]), rel=1e-6, abs=1e-7)


def test_shifts_carry_the_gradient_of_the_cell_only():
    case = CASES["cubic"]
    positions, cell = _torch(case)
    cell.requires_grad_(True)
    nl = neighbor_list(positions, case["cutoff"], cell=cell)
    assert nl.shifts.requires_grad and not nl.offsets.requires_grad
    (g,) = torch.autograd.grad(nl.shifts.sum(), cell)
    torch.testing.assert_close(g, nl.offsets.double().sum(0)[:, None].expand(3, 3))


# --------------------------------------------------------------------------------------
# Helpers


def test_cell_geometry_against_numpy():
    cell = torch.tensor(TRICLINIC)
    assert float(cell_volume(cell)) == pytest.approx(abs(np.linalg.det(TRICLINIC)), rel=1e-14)
    widths = 1.0 / np.linalg.norm(np.linalg.inv(TRICLINIC), axis=0)
    np.testing.assert_allclose(perpendicular_widths(cell).numpy(), widths, rtol=1e-14)
    batch_cells = torch.stack([cell, 2 * cell])
    np.testing.assert_allclose(perpendicular_widths(batch_cells).numpy(), [widths, 2 * widths], rtol=1e-14)


def test_minimum_image_against_explicit_images():
    rng = np.random.default_rng(2)
    cell = np.array([[6.0, 0.0, 0.0], [1.0, 5.5, 0.0], [0.5, 1.0, 6.5]])
    half = perpendicular_widths(torch.tensor(cell)).min().item() / 2
    short = rng.normal(size=(200, 3))
    short = short / np.linalg.norm(short, axis=1, keepdims=True) * rng.uniform(0, 0.99 * half, (200, 1))
    lattice = rng.integers(-3, 4, (200, 3)) @ cell
    got = minimum_image(torch.tensor(short + lattice), torch.tensor(cell)).numpy()
    np.testing.assert_allclose(got, short, atol=1e-12)
    # explicit search over images agrees in length
    images = np.array(list(itertools.product(range(-4, 5), repeat=3))) @ cell
    best = np.linalg.norm((short + lattice)[:, None, :] + images[None], axis=-1).min(axis=1)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), best, atol=1e-12)
    # non-periodic axes are left alone
    partial = minimum_image(
        torch.tensor([[13.0, 13.0, 13.0]], dtype=torch.float64),
        5.0 * torch.eye(3, dtype=torch.float64),
        pbc=[True, False, True],
    )
    assert partial.tolist() == [[-2.0, 13.0, -2.0]]
    with pytest.raises(TypeError, match="must match vectors"):
        minimum_image(torch.zeros(3), torch.eye(3, dtype=torch.float64))


def test_minimum_image_is_differentiable():
    vectors = torch.tensor([[4.0, -3.0, 0.5]], dtype=torch.float64, requires_grad=True)
    cell = (5.0 * torch.eye(3, dtype=torch.float64)).requires_grad_(True)
    out = minimum_image(vectors, cell)
    assert out.tolist() == [[-1.0, 2.0, 0.5]]
    g_vec, g_cell = torch.autograd.grad(out.sum(), (vectors, cell))
    assert g_vec.tolist() == [[1.0, 1.0, 1.0]]
    assert g_cell.tolist() == [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]


def test_empty_and_isolated_inputs():
    nl = neighbor_list(torch.zeros((0, 3)), 1.0)
    assert nl.edge_index.shape == (2, 0) and nl.shifts.shape == (0, 3) and nl.offsets.shape == (0, 3)
    nl = neighbor_list(torch.tensor([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]]), 1.0)
    assert nl.edge_index.shape == (2, 0)
    nl = neighbor_list(torch.zeros((0, 3)), 1.0, cell=torch.eye(3))
    assert nl.edge_index.shape == (2, 0)


def test_cell_defaults_to_periodic_and_accepts_array_likes():
    from ase import Atoms

    case = CASES["triclinic_small"]
    atoms = Atoms("H3", positions=case["positions"], cell=case["cell"], pbc=True)
    positions = torch.tensor(atoms.positions)
    from_ase = neighbor_list(positions, case["cutoff"], cell=atoms.cell, pbc=atoms.pbc)
    default = neighbor_list(positions, case["cutoff"], cell=torch.tensor(case["cell"]))
    assert torch.equal(from_ase.edge_index, default.edge_index) and torch.equal(from_ase.offsets, default.offsets)
    assert _as_set(default) == _ase(case["positions"], case["cutoff"], case["cell"], True)


def test_zero_cell_is_ignored_without_periodicity():
    """ASE molecules carry a zero cell and pbc=False."""
    positions = torch.tensor(_molecule(8))
    plain = neighbor_list(positions, 3.0)
    with_zero = neighbor_list(positions, 3.0, cell=np.zeros((3, 3)), pbc=[False, False, False])
    assert torch.equal(plain.edge_index, with_zero.edge_index)
    assert bool((with_zero.shifts == 0).all())


def test_max_neighbors_raises_instead_of_truncating():
    case = CASES["cubic"]
    positions, cell = _torch(case)
    nl = neighbor_list(positions, case["cutoff"], cell=cell)
    most = int(torch.bincount(nl.edge_index[0]).max())
    assert (
        neighbor_list(positions, case["cutoff"], cell=cell, max_neighbors=most).edge_index.shape == nl.edge_index.shape
    )
    with pytest.raises(ValueError, match="max_neighbors"):
        neighbor_list(positions, case["cutoff"], cell=cell, max_neighbors=most - 1)


# --------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(positions=torch.tensor([[0.0, 0.0, float("nan")]])), ValueError, "NaN"),
        (dict(positions=torch.tensor([[0.0, 0.0, float("inf")]])), ValueError, "NaN or Inf"),
        (dict(positions=torch.zeros(4, 2)), ValueError, r"shape \(n_atoms, 3\)"),
        (dict(positions=torch.zeros(2, 3, dtype=torch.int64)), ValueError, "floating point"),
        (dict(cutoff=0.0), ValueError, "cutoff must be a positive"),
        (dict(cutoff=-1.0), ValueError, "cutoff must be a positive"),
        (dict(cutoff=float("nan")), ValueError, "cutoff must be a positive"),
        (dict(batch=torch.tensor([0, 1, 0])), ValueError, "sorted"),
        (dict(batch=torch.tensor([0, 0])), ValueError, r"shape \(3,\)"),
        (dict(batch=torch.tensor([-1, 0, 0])), ValueError, "non-negative"),
        (dict(batch=torch.tensor([0.0, 0.0, 0.0])), ValueError, "integer"),
        (dict(pbc=True), ValueError, "pbc needs a cell"),
        (dict(pbc=[True, False, False]), ValueError, "pbc needs a cell"),
        (dict(cell=torch.zeros(3, 3, dtype=torch.float64)), ValueError, "zero volume"),
        (
            dict(
                cell=torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [1.0, 1.0, 0]], dtype=torch.float64),
                pbc=[True, False, False],
            ),
            ValueError,
            "zero volume",
        ),
        (dict(cell=torch.eye(3, dtype=torch.float32)), TypeError, "must match positions"),
        (dict(cell=torch.eye(2, dtype=torch.float64)), ValueError, "cell must have shape"),
        (dict(cell=torch.eye(3, dtype=torch.float64).expand(2, 3, 3)), ValueError, "one structure"),
        (dict(cell=torch.full((3, 3), float("nan"), dtype=torch.float64)), ValueError, "cell contains NaN"),
        (dict(cell=torch.eye(3, dtype=torch.float64), pbc=[True, False]), ValueError, "pbc must be"),
        (dict(method="octree"), ValueError, "method must be one of"),
        (dict(max_neighbors=-1), ValueError, "max_neighbors"),
    ],
)
def test_errors(kwargs, error, match):
    args = dict(
        positions=torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64), cutoff=1.5
    )
    args.update(kwargs)
    with pytest.raises(error, match=match) as info:
        neighbor_list(args.pop("positions"), args.pop("cutoff"), **args)
    assert "\n" not in str(info.value)


def test_batch_refers_to_missing_cells():
    positions = torch.zeros((3, 3), dtype=torch.float64)
    with pytest.raises(ValueError, match="batch refers to 3 structures"):
        neighbor_list(
            positions,
            1.0,
            batch=torch.tensor([0, 1, 2]),
            cell=torch.eye(3, dtype=torch.float64).expand(2, 3, 3).clone(),
        )
