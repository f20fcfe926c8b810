"""DMRG against exact diagonalisation, on every backend; checkpoints; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg

import tnkit
from tests.conftest import Backend
from tnkit.io import DataError
from tnkit.mps import models
from tnkit.mps.mps import MPS
from tnkit.mps.opsum import OpSum
from tnkit.run import Run


def _ed(h, k=1):
    return scipy.sparse.linalg.eigsh(h.opsum.to_sparse(), k=k, which="SA", tol=1e-13)[0][0]


@pytest.mark.parametrize("two_site", [True, False])
@pytest.mark.parametrize("eigensolver", ["lanczos", "davidson"])
def test_heisenberg_matches_ed(bk: Backend, two_site: bool, eigensolver: str) -> None:
    # the smaller case for the non-NumPy libraries: 8 sites instead of 10 (bond 16 is exact there)
    length = 10 if bk.name == "numpy" else 8
    like = bk.asarray(np.zeros(1), dtype="float64")
    h = models.heisenberg(length, h=0.1, delta=0.8, like=like)
    res = tnkit.dmrg(h, bond_dims=[8, 32], rng=0, two_site=two_site, tol=1e-12, eig_tol=1e-9, eigensolver=eigensolver)
    assert res.converged
    assert res.energy == pytest.approx(_ed(h), rel=1e-10)
    assert abs(res.variance) < 1e-9
    assert res.energies[-1] == res.energy and len(res.variances) == res.n_sweeps
    assert float(bk.to_numpy(h.expectation(res.state))) == pytest.approx(res.energy, rel=1e-10)


@pytest.mark.parametrize("factorization", ["svd", "eigh"])
def test_dmrg_on_every_backend(bk: Backend, dtype: str, factorization: str) -> None:
    like = bk.asarray(np.zeros(1), dtype=dtype)
    h = models.tfim(8, h=0.8, like=like, dtype=dtype)
    res = tnkit.dmrg(
        h,
        bond_dims=[4, 16],
        rng=1,
        tol=1e-10 if dtype != "float32" else 1e-5,
        eig_tol=1e-8 if dtype != "float32" else 1e-4,
        factorization=factorization,
    )
    assert res.state.dtype == bk.dtype(dtype)
    assert tnkit.backend.library_name(res.state.xp) == bk.name.replace("-cuda", "")
    ref = _ed(models.tfim(8, h=0.8))
    assert res.energy == pytest.approx(ref, rel=1e-10 if dtype != "float32" else 1e-5)


def test_spin1_sector_matches_sector_ed(bk: Backend) -> None:
    like = bk.asarray(np.zeros(1), dtype="float64")
    h = models.heisenberg(6, spin=1, h=0.4, like=like)  # the field makes Sz=0 not the global ground state
    res = tnkit.dmrg(h, sector=0, bond_dims=[27], rng=0, tol=1e-12, eig_tol=1e-9)
    sz = models.total_sz(6, spin=1, like=like)
    assert float(bk.to_numpy(sz.expectation(res.state))) == pytest.approx(0.0, abs=1e-10)
    # ED restricted to basis states with total Sz = 0.
    m = np.array([1, 0, -1])
    digits = np.array(np.unravel_index(np.arange(3**6), (3,) * 6)).T
    keep = np.flatnonzero(m[digits].sum(axis=1) == 0)
    block = h.opsum.to_sparse()[keep][:, keep]
    e_sector = scipy.sparse.linalg.eigsh(block, k=1, which="SA")[0][0]
    assert res.energy == pytest.approx(e_sector, rel=1e-10)
    assert res.energy > _ed(h) + 1e-3  # the global ground state lies in another sector


def test_checkpoint_and_resume(tmp_path) -> None:
    h = models.heisenberg(12)
    path = tmp_path / "run.h5"
    first = tnkit.dmrg(h, bond_dims=[8, 16], max_sweeps=2, rng=0, compute_variance=False, run=Run(checkpoint=path))
    assert path.exists() and len(first.energies) == 2
    again = Run(checkpoint=path, resume=True)
    resumed = tnkit.dmrg(h, bond_dims=[8, 16], max_sweeps=8, tol=1e-11, compute_variance=False, run=again)
    straight = tnkit.dmrg(h, bond_dims=[8, 16], max_sweeps=8, rng=0, tol=1e-11, compute_variance=False)
    assert resumed.energies[:2] == first.energies
    assert resumed.energy == pytest.approx(straight.energy, abs=1e-10)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="run.h5"):
        tnkit.dmrg(h, bond_dims=[8], run=again)


def test_resume_without_a_checkpoint_starts_afresh_and_writes_one(tmp_path) -> None:
    h = models.heisenberg(8)
    path = tmp_path / "new.h5"
    kw = dict(bond_dims=[8], max_sweeps=3, rng=0, compute_variance=False)
    res = tnkit.dmrg(h, **kw, run=Run(checkpoint=path, resume=True, checkpoint_every=2))
    assert res.energies == tnkit.dmrg(h, **kw).energies
    assert tnkit.io.load(path, schema="dmrg_checkpoint")["sweeps_done"] == len(res.energies)


def test_bad_input() -> None:
    s = models.spin_operators(0.5)
    h = models.heisenberg(6)
    with pytest.raises(ValueError, match="bond_dims must be positive integers"):
        tnkit.dmrg(h, bond_dims=[8, 0])
    with pytest.raises(ValueError, match="bond_dims must be positive integers"):
        tnkit.dmrg(h, bond_dims=[2.5])
    with pytest.raises(ValueError, match="bond_dims must be a positive integer or a list"):
        tnkit.dmrg(h, bond_dims=None)
    o = OpSum(2, 6)
    o += h.opsum
    o.add(0.5, (s["+"], 2), (s["z"], 3))
    with pytest.raises(ValueError, match="not Hermitian"):
        tnkit.dmrg(tnkit.MPO.from_opsum(o))
    with pytest.raises(ValueError, match="physical dimension mismatch at site 0: MPO has 2, state has 3"):
        tnkit.dmrg(h, MPS.random(6, 3, 2, rng=0))
    with pytest.raises(ValueError, match="no product state has total charge 0.5"):
        tnkit.dmrg(h, sector=0.5)


def test_docstring_example() -> None:
    import doctest

    import tnkit.mps.dmrg as module

    failures, attempted = doctest.testmod(module)
    assert attempted > 0 and failures == 0
