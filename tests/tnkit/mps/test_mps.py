"""MPS: dense round trips, canonical forms, compression, measurements, sampling, I/O."""

from __future__ import annotations

import numpy as np
import pytest

import tnkit
from tests.conftest import Backend, random_array, rtol_for
from tnkit.mps import fit_mps, models, mps_from_quimb, mps_to_quimb
from tnkit.mps.mps import MPS


def _like(bk: Backend, dtype: str):
    return bk.asarray(np.zeros(1), dtype=dtype)


def _dense_state(rng, L, dtype):
    v = random_array(rng, (2**L,), dtype)
    return v / np.linalg.norm(v)


def test_from_dense_round_trip_and_canonical(bk: Backend, dtype: str) -> None:
    rng = np.random.default_rng(0)
    v = _dense_state(rng, 6, dtype)
    psi = MPS.from_dense(bk.asarray(v), 2)
    tol = 50 * rtol_for(dtype)
    np.testing.assert_allclose(bk.to_numpy(psi.to_dense()), v, atol=tol)
    assert psi.bond_dims == [2, 4, 8, 4, 2]
    for center in (0, 3, 5):
        psi.canonicalize(center)
        for i, t in enumerate(bk.to_numpy(x) for x in psi.tensors):
            if i < center:
                m = t.reshape(-1, t.shape[2])
                np.testing.assert_allclose(m.conj().T @ m, np.eye(m.shape[1]), atol=tol)
            elif i > center:
                m = t.reshape(t.shape[0], -1)
                np.testing.assert_allclose(m @ m.conj().T, np.eye(m.shape[0]), atol=tol)
        np.testing.assert_allclose(bk.to_numpy(psi.to_dense()), v, atol=tol)
        assert float(bk.to_numpy(psi.norm())) == pytest.approx(1.0, abs=tol)


def test_random_product_overlap(bk: Backend, dtype: str) -> None:
    like = _like(bk, dtype)
    a = MPS.random(7, 2, 5, rng=1, like=like, dtype=dtype)
    b = MPS.random(7, 2, 3, rng=2, like=like, dtype=dtype)
    assert a.dtype == bk.dtype(dtype) and a.bond_dims == [2, 4, 5, 5, 4, 2]
    ref = np.vdot(bk.to_numpy(a.to_dense()), bk.to_numpy(b.to_dense()))
    assert complex(bk.to_numpy(a.overlap(b))) == pytest.approx(ref, abs=50 * rtol_for(dtype))
    p = MPS.product([0, 1, 1], local_dim=2, like=like, dtype=dtype)
    assert bk.to_numpy(p.to_dense()).nonzero()[0].tolist() == [3]


def test_compress_is_optimal_for_one_bond(bk: Backend) -> None:
    rng = np.random.default_rng(3)
    v = _dense_state(rng, 8, "float64")
    psi = MPS.from_dense(bk.asarray(v), 2)
    full = psi.copy()
    discarded = psi.compress(max_bond=6)
    assert psi.max_bond == 6
    # Truncating only the middle bond of v optimally loses sum of the dropped s^2 there.
    s = np.linalg.svd(v.reshape(16, 16), compute_uv=False)
    fid = abs(complex(bk.to_numpy(full.overlap(psi)))) ** 2 / float(bk.to_numpy(psi.overlap(psi)).real)
    assert 1 - fid >= np.sum(s[6:] ** 2) - 1e-12  # no bond-6 state beats Eckart–Young at the middle
    assert discarded >= np.sum(s[6:] ** 2) - 1e-12
    assert 1 - fid <= 2 * discarded + 1e-12  # the standard bound for sequential truncation


def test_expectations_correlations_entropies_vs_dense(bk: Backend, dtype: str) -> None:
    if dtype == "float32":
        pytest.skip("dense references in double precision")
    rng = np.random.default_rng(4)
    L = 5
    v = _dense_state(rng, L, dtype)
    psi = MPS.from_dense(bk.asarray(v), 2)
    ops = models.spin_operators(0.5)
    sz = bk.asarray(ops["z"], dtype=dtype)
    sx = bk.asarray(ops["x"], dtype=dtype)

    def site_op(op, i):
        return np.kron(np.kron(np.eye(2**i), op), np.eye(2 ** (L - i - 1)))

    ez = [np.vdot(v, site_op(ops["z"], i) @ v).real for i in range(L)]
    np.testing.assert_allclose(bk.to_numpy(psi.expect(sz)).real, ez, atol=1e-12)
    assert complex(bk.to_numpy(psi.expect(sz, 2))).real == pytest.approx(ez[2], abs=1e-12)
    corr = bk.to_numpy(psi.correlation(sz, sx))
    for i in range(L):
        for j in range(L):
            ref = np.vdot(v, site_op(ops["z"], i) @ site_op(ops["x"], j) @ v)
            assert corr[i, j] == pytest.approx(ref, abs=1e-12)
    ent = bk.to_numpy(psi.entropy()).real
    for b in range(L - 1):
        s = np.linalg.svd(v.reshape(2 ** (b + 1), -1), compute_uv=False)
        p = s**2
        assert ent[b] == pytest.approx(-np.sum(p * np.log(p)), abs=1e-10)
        np.testing.assert_allclose(bk.to_numpy(psi.schmidt_values(b)), s, atol=1e-12)
    renyi2 = float(bk.to_numpy(psi.entropy(2, alpha=2.0)))
    s = np.linalg.svd(v.reshape(8, 4), compute_uv=False)
    assert renyi2 == pytest.approx(-np.log(np.sum(s**4)), abs=1e-10)


def test_sampling_follows_born_rule(bk: Backend) -> None:
    rng = np.random.default_rng(5)
    v = _dense_state(rng, 4, "complex128")
    psi = MPS.from_dense(bk.asarray(v), 2)
    samples = bk.to_numpy(psi.sample(20000, rng=7))  # in the state's library
    assert samples.shape == (20000, 4)
    idx = samples @ (2 ** np.arange(3, -1, -1))
    freq = np.bincount(idx, minlength=16) / 20000
    p = np.abs(v) ** 2
    # Chi-square statistic with 15 dof: 99.9% quantile ~ 37.7.
    chi2 = 20000 * np.sum((freq - p) ** 2 / p)
    assert chi2 < 37.7
    again = [bk.to_numpy(psi.sample(50, rng=7)) for _ in range(2)]
    np.testing.assert_array_equal(*again)  # reproducible from a seed


def test_fit_and_quimb_round_trip(bk: Backend) -> None:
    like = _like(bk, "float64")
    guess = MPS.random(8, 2, 6, rng=2, like=like)
    assert fit_mps(guess, MPS.random(8, 2, 6, rng=1, like=like), sweeps=6) == pytest.approx(1.0, abs=1e-12)
    pytest.importorskip("quimb")
    phi = MPS.random(8, 2, 6, rng=1)  # quimb holds NumPy arrays
    q = mps_to_quimb(phi)
    np.testing.assert_allclose(q.to_dense().ravel(), phi.to_dense(), atol=1e-14)
    np.testing.assert_allclose(mps_from_quimb(q).to_dense(), phi.to_dense(), atol=1e-14)


def test_mps_io_round_trip(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    psi = MPS.random(6, 3, 4, rng=0, dtype="complex128")
    tnkit.io.save(tmp_path / "psi.h5", psi)
    back = tnkit.io.load(tmp_path / "psi.h5", schema="mps")
    np.testing.assert_array_equal(back.to_dense(), psi.to_dense())
    on_torch = tnkit.io.load(tmp_path / "psi.h5", like=torch.zeros(1, dtype=torch.complex128))
    assert isinstance(on_torch.tensors[0], torch.Tensor)


def test_bad_input() -> None:
    a = np.zeros((1, 2, 3))
    b = np.zeros((2, 2, 1))
    with pytest.raises(ValueError, match="bond 0-1 mismatch: site 0 has right bond 3, site 1 has left bond 2"):
        MPS([a, b])
    with pytest.raises(ValueError, match="boundary bonds must have size 1"):
        MPS([np.zeros((2, 2, 1))])
    with pytest.raises(ValueError, match="physical dimensions differ at site 0: 2 and 3"):
        MPS.random(3, 2, 2, rng=0).overlap(MPS.random(3, 3, 2, rng=0))
    with pytest.raises(ValueError, match="bond_dim must be a positive integer"):
        MPS.random(3, 2, 0)
    with pytest.raises(ValueError, match="does not match local dimension 2 at site 1"):
        MPS.random(3, 2, 2, rng=0).expect(np.eye(3), 1)
    with pytest.raises(TypeError, match="mixed array libraries"):
        torch = pytest.importorskip("torch")
        MPS.random(3, 2, 2, rng=0).expect(torch.eye(2, dtype=torch.float64), 1)


def test_to_moves_library_and_dtype(bk: Backend) -> None:
    psi = MPS.random(5, 2, 3, rng=0)
    moved = psi.to(_like(bk, "complex128"))
    assert tnkit.backend.library_name(moved.xp) == bk.name.replace("-cuda", "")
    assert moved.dtype == bk.dtype("complex128")
    np.testing.assert_allclose(bk.to_numpy(moved.to_dense()), psi.to_dense())
    h = models.heisenberg(5).to(_like(bk, "float32"))
    assert h.dtype == bk.dtype("float32") and h.length == len(h) == 5
