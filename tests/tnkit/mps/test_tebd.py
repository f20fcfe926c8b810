"""TEBD against exact evolution (dense matrix exponentials of the OpSum's sparse matrix)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import scipy.linalg

import tnkit
from tnkit.mps import models
from tnkit.mps.mpo import MPO
from tnkit.mps.mps import MPS
from tnkit.mps.opsum import OpSum
from tnkit.mps.tebd import tebd

SZ = models.spin_operators()["z"]


def _exact(h: MPO | OpSum, psi0: MPS, t: float) -> np.ndarray:
    opsum = h.opsum if isinstance(h, MPO) else h
    dense = opsum.to_sparse().toarray()
    return scipy.linalg.expm(-1j * t * dense) @ tnkit.backend.to_host(psi0.to_dense())


def _state(psi: MPS) -> np.ndarray:
    return tnkit.backend.to_host(psi.to_dense())


def _like(bk, dtype: str = "float64"):  # noqa: ANN001, ANN202 - fixture
    return bk.asarray(np.zeros(1), dtype)


def _neel(length: int, **kwargs: object) -> MPS:
    return MPS.product([0, 1] * (length // 2), local_dim=2, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("order", "dts", "ratio"), [(2, (0.1, 0.05), 4.0), (4, (0.2, 0.1), 16.0)])
def test_error_scales_with_trotter_order(bk, order: int, dts: tuple[float, float], ratio: float) -> None:  # noqa: ANN001
    h = models.heisenberg(6, h=0.3, like=_like(bk))  # a field so the one-site terms are split too
    psi0 = _neel(6, like=_like(bk))
    exact = _exact(h, psi0, 1.0)
    errors = []
    for dt in dts:
        res = tebd(psi0, h, 1.0, dt, order=order)
        errors.append(np.linalg.norm(_state(res.state) - exact))
    # Halving dt divides the global error by 2**order.
    assert errors[0] / errors[1] == pytest.approx(ratio, rel=0.1)
    assert errors[1] < (3e-4 if order == 2 else 3e-7)


def test_tfim_fourth_order_matches_exact(bk) -> None:  # noqa: ANN001 - fixture
    h = models.tfim(7, J=1.0, h=0.8, like=_like(bk))
    psi0 = MPS.random(7, 2, 3, rng=5, like=_like(bk))
    res = tebd(psi0, h, 0.6, 0.05, order=4)
    assert np.linalg.norm(_state(res.state) - _exact(h, psi0, 0.6)) < 1e-6


def test_backends_complex128(bk) -> None:  # noqa: ANN001 - fixture
    like = bk.asarray(np.zeros(1), "complex128")
    h = models.heisenberg(6, like=like, dtype="complex128")
    psi0 = _neel(6, like=like, dtype="complex128")
    res = tebd(psi0, h, 0.5, 0.05, order=4, observables={"sz": SZ, "sz2": (SZ, 2)})
    assert res.state.dtype == bk.dtype("complex128")
    assert tnkit.backend.library_name(res.state.xp) == tnkit.backend.library_name(bk.xp)
    exact = _exact(h, psi0, 0.5)
    assert np.linalg.norm(_state(res.state) - exact) < 1e-8
    sz = res.observable("sz")
    assert sz.shape == (11, 6) and not np.iscomplexobj(sz)
    # The final local magnetisation against the exact state's.
    probs = np.abs(exact) ** 2
    bits = (np.arange(64)[:, None] >> (5 - np.arange(6))[None, :]) & 1  # site 0 most significant
    exact_sz = probs @ (0.5 - bits)
    np.testing.assert_allclose(sz[-1], exact_sz, atol=1e-8)
    np.testing.assert_allclose(res.observable("sz2"), sz[:, 2], atol=1e-12)
    assert res.times[0] == 0.0 and res.times[-1] == pytest.approx(0.5)


def test_real_state_is_promoted_and_not_modified(bk) -> None:  # noqa: ANN001 - fixture
    h = models.heisenberg(6, like=_like(bk))
    psi0 = _neel(6, like=_like(bk))
    before = [bk.to_numpy(t).copy() for t in psi0.tensors]
    res = tebd(psi0, h, 0.2, 0.1)
    assert bk.xp.isdtype(res.state.tensors[0].dtype, "complex floating")
    assert all(np.array_equal(a, bk.to_numpy(b)) for a, b in zip(before, psi0.tensors))


def test_float32_gives_complex64(bk) -> None:  # noqa: ANN001 - fixture
    psi0 = MPS.product([0, 1] * 3, local_dim=2, dtype="float32", like=_like(bk, "float32"))
    res = tebd(psi0, models.heisenberg(6).opsum, 0.3, 0.1)
    assert res.state.dtype == bk.dtype("complex64")
    assert np.linalg.norm(_state(res.state) - _exact(models.heisenberg(6), psi0, 0.3)) < 5e-3


def test_imaginary_time_reaches_ground_energy(bk) -> None:  # noqa: ANN001 - fixture
    h = models.heisenberg(6, like=_like(bk))
    e0 = float(np.linalg.eigvalsh(h.opsum.to_dense())[0])
    res = tebd(_neel(6, like=_like(bk)), h, 10.0, 0.1, imaginary=True)
    assert np.all(np.diff(res.energies) < 1e-12)  # imaginary time lowers the energy monotonically
    # Fourth order removes the dt**2 bias of the fixed point; the gap (0.49) sets the rate.
    res = tebd(res.state, h, 8.0, 0.1, order=4, imaginary=True)
    assert res.state.dtype == bk.dtype("float64")  # real arithmetic throughout
    assert abs(res.energies[-1] - e0) < 1e-7
    assert res.norms[-1] == pytest.approx(1.0, abs=1e-12)


def test_truncation_is_tracked(bk) -> None:  # noqa: ANN001 - fixture
    h = models.heisenberg(8, like=_like(bk))
    res = tebd(_neel(8, like=_like(bk)), h, 1.0, 0.1, max_bond=3)
    assert max(res.max_bonds) == 3
    assert res.discarded[0] == 0.0 and res.total_discarded > 1e-6
    assert all(n == pytest.approx(1.0, abs=1e-12) for n in res.norms)
    exact_full = tebd(_neel(8, like=_like(bk)), h, 1.0, 0.1)
    assert exact_full.total_discarded < 1e-20 and exact_full.max_bonds[-1] == 16


def test_time_grid_and_callable_observables(bk) -> None:  # noqa: ANN001 - fixture
    h = models.heisenberg(4, like=_like(bk))
    calls = []

    def entropy(psi: MPS) -> float:
        calls.append(psi.center)
        return float(bk.to_numpy(psi.entropy(1)))

    res = tebd(_neel(4, like=_like(bk)), h, 0.25, 0.1, observables={"S": entropy})
    assert res.times == pytest.approx([0.0, 0.1, 0.2, 0.25])
    assert res.observables["S"][0] == 0.0 and res.observables["S"][-1] > 0.0
    assert len(calls) == 4
    assert len(res.step_seconds) == len(res.discarded) == len(res.max_bonds) == 4
    assert tebd(_neel(4, like=_like(bk)), h, 0.0, 0.1).times == [0.0]


def test_bad_input() -> None:
    h = models.heisenberg(6)
    psi = _neel(6)
    with pytest.raises(ValueError, match="range 2"):
        lr = OpSum(2, 6).add(1.0, (SZ, 0), (SZ, 2))
        tebd(psi, lr, 1.0, 0.1)
    with pytest.raises(ValueError, match="nearest-neighbour"):
        tebd(psi, models.long_range_ising(6, decay=0.5), 1.0, 0.1)
    spin1 = MPS.product([0] * 6, local_dim=3)
    with pytest.raises(ValueError, match="site 0: the Hamiltonian has 2, the state has 3"):
        tebd(spin1, h, 1.0, 0.1)
    with pytest.raises(ValueError, match="4 sites but the state has 6"):
        tebd(psi, models.heisenberg(4), 1.0, 0.1)
    for dt in (0.0, -0.1):
        with pytest.raises(ValueError, match="dt must be > 0"):
            tebd(psi, h, 1.0, dt)
    with pytest.raises(ValueError, match="t_final must be >= 0"):
        tebd(psi, h, -1.0, 0.1)
    with pytest.raises(ValueError, match="order must be 2 or 4"):
        tebd(psi, h, 1.0, 0.1, order=3)
    with pytest.raises(ValueError, match="max_bond"):
        tebd(psi, h, 1.0, 0.1, max_bond=0)
    with pytest.raises(ValueError, match="carries no OpSum"):
        tebd(psi, MPO(h.tensors), 1.0, 0.1)
    with pytest.raises(TypeError, match="OpSum or an MPO"):
        tebd(psi, h.to_dense(), 1.0, 0.1)
    with pytest.raises(ValueError, match="operator of dimension 3"):
        tebd(psi, h, 1.0, 0.1, observables={"x": np.eye(3)})


def test_docstring_example() -> None:
    import tnkit.mps.tebd as module

    failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0
