"""MPO: automaton construction, minimal bond dimensions, algebra against dense matrices."""

from __future__ import annotations

import numpy as np
import pytest

import tnkit
from tests.conftest import Backend
from tests.tnkit.mps.test_opsum import _random_opsum
from tnkit.mps import models
from tnkit.mps.mpo import MPO
from tnkit.mps.mps import MPS
from tnkit.mps.opsum import OpSum


@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize("compress", [False, True])
def test_from_opsum_is_exact_for_random_terms(bk: Backend, cplx: bool, compress: bool) -> None:
    rng = np.random.default_rng(1)
    dims = [2, 2, 3, 2, 2]
    o, dense = _random_opsum(rng, dims, 15, 4, cplx)
    h = MPO.from_opsum(o, compress=compress, like=_like(bk))
    np.testing.assert_allclose(bk.to_numpy(h.to_dense()), dense, atol=1e-11)


@pytest.mark.parametrize(
    "build,interior",
    [
        (lambda like: models.heisenberg(8, like=like), 5),
        (lambda like: models.heisenberg(8, spin=1, like=like), 5),
        (lambda like: models.heisenberg(8, h=0.2, like=like), 5),
        (lambda like: models.tfim(8, like=like), 3),
        (lambda like: models.xxz(8, delta=0.5, like=like), 5),
    ],
)
def test_textbook_bond_dimensions(bk: Backend, build, interior: int) -> None:
    h = build(_like(bk))
    assert max(h.bond_dims) == interior
    np.testing.assert_allclose(bk.to_numpy(h.to_dense()), h.opsum.to_dense(), atol=1e-13)


def _like(bk: Backend):
    return bk.asarray(np.zeros(1), dtype="float64")


def test_exponential_couplings_written_term_by_term_compress_to_three(bk: Backend) -> None:
    z = models.pauli()["z"]
    o = OpSum(2, 9)
    for i in range(9):
        for j in range(i + 1, 9):
            o.add(0.6 ** (j - i), (z, i), (z, j))
    assert MPO.from_opsum(o, compress=False).bond_dims[4] > 3
    h = MPO.from_opsum(o, like=_like(bk))
    assert h.bond_dims == [2] + [3] * 6 + [2] or max(h.bond_dims) == 3
    np.testing.assert_allclose(bk.to_numpy(h.to_dense()), o.to_dense(), atol=1e-12)


def test_long_range_ising_models(bk: Backend) -> None:
    h = models.long_range_ising(10, decay=0.5, h=0.7, like=_like(bk))
    assert max(h.bond_dims) == 3
    np.testing.assert_allclose(bk.to_numpy(h.to_dense()), h.opsum.to_dense(), atol=1e-12)
    p = models.long_range_ising(10, alpha=2.0, n_exp=3, like=_like(bk))
    assert max(p.bond_dims) == 5 and p.fit_error < 1e-3
    np.testing.assert_allclose(bk.to_numpy(p.to_dense()), p.opsum.to_dense(), atol=1e-12)
    # The fitted couplings approximate r^-alpha.
    c, lam, err = models.fit_exponentials(lambda r: r**-2.0, 40, 6)
    r = np.arange(1, 40)
    assert np.max(np.abs((lam[None, :] ** r[:, None] @ c).real - r**-2.0)) == pytest.approx(err)
    assert err < 1e-4


def test_expectation_variance_apply(bk: Backend, dtype: str) -> None:
    if dtype == "float32":
        pytest.skip("float32 covered by the DMRG tests")
    like = bk.asarray(np.zeros(1), dtype=dtype)
    h = models.heisenberg(6, h=0.3, like=like, dtype=dtype)
    psi = MPS.random(6, 2, 4, rng=3, like=like, dtype=dtype)
    hd = models.heisenberg(6, h=0.3).opsum.to_dense()
    v = bk.to_numpy(psi.to_dense())
    e = np.vdot(v, hd @ v).real
    assert float(bk.to_numpy(h.expectation(psi)).real) == pytest.approx(e, abs=1e-12)
    assert float(bk.to_numpy(h.variance(psi))) == pytest.approx(np.vdot(hd @ v, hd @ v).real - e**2, abs=1e-11)
    hp = h.apply(psi)
    np.testing.assert_allclose(bk.to_numpy(hp.to_dense()), hd @ v, atol=1e-12)
    small = h.apply(psi, max_bond=3, method="fit")
    assert small.max_bond <= 3


def test_hermiticity_check(bk: Backend) -> None:
    s = models.spin_operators(0.5)
    h = models.heisenberg(30, like=_like(bk))
    assert h.is_hermitian()
    o = OpSum(2, 30)
    o += h.opsum
    o.add(0.1, (s["+"], 12))
    assert not MPO.from_opsum(o, like=_like(bk)).is_hermitian()
    small = OpSum(2, 4).add(1.0, (s["+"], 1), (s["z"], 2))
    m = MPO.from_opsum(small, like=_like(bk))
    np.testing.assert_allclose(bk.to_numpy(m.adjoint().to_dense()), small.to_dense().conj().T)


def test_mpo_io_round_trip(tmp_path) -> None:
    h = models.heisenberg(5)
    tnkit.io.save(tmp_path / "h.h5", h)
    back = tnkit.io.load(tmp_path / "h.h5", schema="mpo")
    np.testing.assert_array_equal(back.to_dense(), h.to_dense())


def test_mismatched_dims() -> None:
    h = models.heisenberg(4)
    with pytest.raises(ValueError, match="physical dimension mismatch at site 0: MPO has 2, MPS has 3"):
        h.expectation(MPS.random(4, 3, 2, rng=0))
    with pytest.raises(ValueError, match="MPO has 4 sites but the MPS has 5"):
        h.apply(MPS.random(5, 2, 2, rng=0))
