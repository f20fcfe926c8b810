"""TDVP against exact evolution, and its conservation laws at fixed bond dimension."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import scipy.linalg

import tnkit
from tnkit.mps import models
from tnkit.mps.mpo import MPO
from tnkit.mps.mps import MPS
from tnkit.mps.tdvp import tdvp

SZ = models.spin_operators()["z"]


def _exact(h: MPO, psi0: MPS, t: float) -> np.ndarray:
    dense = h.opsum.to_sparse().toarray()
    return scipy.linalg.expm(-1j * t * dense) @ tnkit.backend.to_host(psi0.to_dense())


def _state(psi: MPS) -> np.ndarray:
    return tnkit.backend.to_host(psi.to_dense())


def _like(bk, dtype: str = "float64"):  # noqa: ANN001, ANN202 - fixture
    return bk.asarray(np.zeros(1), dtype)


def _neel(length: int, **kwargs: object) -> MPS:
    return MPS.product([0, 1] * (length // 2), local_dim=2, **kwargs)  # type: ignore[arg-type]


def test_one_site_full_bond_is_exact(bk) -> None:  # noqa: ANN001 - fixture
    # At bond dimensions min(2^i, 2^(L-i)) the MPS manifold is the whole Hilbert space,
    # where the projector-splitting integrator is exact for any step size.
    like = bk.asarray(np.zeros(1), "complex128")
    h = models.heisenberg(6, h=0.2, like=like, dtype="complex128")
    psi0 = MPS.random(6, 2, 8, dtype="complex128", like=like, rng=1)
    res = tdvp(psi0, h, 1.0, 0.25, observables={"sz": SZ})
    assert res.state.dtype == bk.dtype("complex128")
    assert tnkit.backend.library_name(res.state.xp) == tnkit.backend.library_name(bk.xp)
    assert res.max_bonds == [8] * 5
    assert np.linalg.norm(_state(res.state) - _exact(h, psi0, 1.0)) < 1e-10
    assert res.observable("sz").shape == (5, 6)
    assert res.energy_drift < 1e-10


def test_one_site_from_product_state_with_enlarged_bonds(bk) -> None:  # noqa: ANN001 - fixture
    # The Neel state, given zero-weight room up to the full bond dimension, evolves exactly.
    h = models.heisenberg(8, like=_like(bk))
    res = tdvp(_neel(8, like=_like(bk)), h, 1.0, 0.2, max_bond=16)
    assert res.max_bonds[0] == 16
    assert np.linalg.norm(_state(res.state) - _exact(h, _neel(8), 1.0)) < 1e-10


def test_one_site_long_range_mpo_is_exact(bk) -> None:  # noqa: ANN001 - fixture
    h = models.long_range_ising(6, alpha=1.5, h=0.7, like=_like(bk))
    psi0 = MPS.random(6, 2, 8, rng=3, like=_like(bk))
    res = tdvp(psi0, h, 0.8, 0.2)
    assert np.linalg.norm(_state(res.state) - _exact(h, psi0, 0.8)) < 1e-10


def test_two_site_full_bond_is_exact(bk) -> None:  # noqa: ANN001 - fixture
    h = models.tfim(6, J=1.0, h=0.9, like=_like(bk))
    psi0 = MPS.random(6, 2, 8, rng=2, like=_like(bk))
    res = tdvp(psi0, h, 1.0, 0.2, two_site=True, max_bond=8)
    assert np.linalg.norm(_state(res.state) - _exact(h, psi0, 1.0)) < 1e-8
    assert res.total_discarded < 1e-20


def test_two_site_grows_bonds_and_converges_in_dt(bk) -> None:  # noqa: ANN001 - fixture
    h = models.heisenberg(6, like=_like(bk))
    exact = _exact(h, _neel(6), 1.0)
    errors = []
    for dt in (0.1, 0.05):
        res = tdvp(_neel(6, like=_like(bk)), h, 1.0, dt, two_site=True, max_bond=8)
        assert res.max_bonds[0] == 1 and res.max_bonds[-1] == 8
        errors.append(np.linalg.norm(_state(res.state) - exact))
    # Only the first steps, while bonds are still growing, carry a splitting error.
    assert errors[1] < errors[0] / 4 and errors[1] < 1e-4


def test_truncated_two_site_discards_and_stays_normalised(bk) -> None:  # noqa: ANN001 - fixture
    res = tdvp(_neel(8, like=_like(bk)), models.heisenberg(8, like=_like(bk)), 1.0, 0.1, two_site=True, max_bond=3)
    assert max(res.max_bonds) == 3 and res.total_discarded > 1e-6
    assert all(n == pytest.approx(1.0, abs=1e-12) for n in res.norms)


def test_one_site_conserves_energy_and_norm_at_truncated_bond(bk) -> None:  # noqa: ANN001 - fixture
    h = models.heisenberg(8, h=0.1, like=_like(bk))
    psi0 = MPS.random(8, 2, 4, rng=7, like=_like(bk))
    res = tdvp(psi0, h, 1.0, 0.1)
    assert res.max_bonds == [4] * len(res.times)  # fixed bond dimension
    assert res.energy_drift < 1e-8
    assert max(abs(n - 1.0) for n in res.norms) < 1e-8
    # ... while the state is far from the exact one: the check is not trivially exact.
    assert np.linalg.norm(_state(res.state) - _exact(h, psi0, 1.0)) > 1e-2


def test_opsum_input_and_observable_forms(bk) -> None:  # noqa: ANN001 - fixture
    h = models.xxz(6, delta=0.5, like=_like(bk))
    res = tdvp(
        _neel(6, like=_like(bk)),
        h.opsum,
        0.3,
        0.1,
        max_bond=8,
        observables={
            "sz0": (SZ, 0),
            "sz_even": (SZ, [0, 2, 4]),
            "E": lambda p: float(bk.to_numpy(h.expectation(p)).real),
        },
    )
    assert res.times == pytest.approx([0.0, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(res.observable("sz_even")[:, 0], res.observable("sz0"), atol=1e-12)
    np.testing.assert_allclose(res.observables["E"], res.energies, atol=1e-12)
    assert res.observable("sz0")[0] == pytest.approx(0.5)


def test_bad_input() -> None:
    h = models.heisenberg(6)
    psi = _neel(6)
    with pytest.raises(ValueError, match="site 0: the Hamiltonian has 2, the state has 3"):
        tdvp(MPS.product([0] * 6, local_dim=3), h, 1.0, 0.1)
    with pytest.raises(ValueError, match="dt must be > 0"):
        tdvp(psi, h, 1.0, 0.0)
    with pytest.raises(ValueError, match="t_final must be >= 0"):
        tdvp(psi, h, -0.5, 0.1)
    with pytest.raises(TypeError, match="dt must be a real number"):
        tdvp(psi, h, 1.0, 0.1j)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not Hermitian"):
        w = [t.astype(np.complex128) for t in h.tensors]  # one dtype per chain
        w[0] = w[0] * 1j
        tdvp(psi, MPO(w), 1.0, 0.1)
    with pytest.raises(ValueError, match="at least 2 sites"):
        tdvp(MPS.product([0], local_dim=2), models.total_sz(1), 1.0, 0.1, two_site=True)
    with pytest.raises(ValueError, match="krylov_dim"):
        tdvp(psi, h, 1.0, 0.1, krylov_dim=0)
    with pytest.raises(TypeError, match="MPO or an OpSum"):
        tdvp(psi, "heisenberg", 1.0, 0.1)  # type: ignore[arg-type]


def test_docstring_example() -> None:
    import tnkit.mps.tdvp as module

    failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0
