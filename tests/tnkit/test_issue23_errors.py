"""Issue 23: misuses of the MPS drivers and Krylov solvers fail in one clear line, silent
surprises are refused or fixed, and DMRG / evolution results plot themselves."""

from __future__ import annotations

import numpy as np
import pytest

import tnkit
from tnkit.linalg import davidson, eigsh, expm_multiply
from tnkit.mps import models
from tnkit.mps.mps import MPS

SZ = models.spin_operators()["z"]


def _one_line(info: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(info.value)
    assert "\n" not in message
    return message


def _neel(length: int, **kwargs: object) -> MPS:
    return MPS.product([0, 1] * (length // 2), local_dim=2, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize("driver", ["tdvp", "tebd"])
def test_observables_as_an_array_is_a_type_error(driver: str) -> None:
    h = models.heisenberg(4)
    evolve = tnkit.tdvp if driver == "tdvp" else tnkit.tebd
    with pytest.raises(TypeError, match=r"observables must be a dict of name -> operator") as info:
        evolve(_neel(4), h, 0.2, 0.1, max_bond=4, observables=SZ)  # type: ignore[arg-type]
    assert _one_line(info).startswith(f"{driver}: ")


def _wrong_size(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.ravel(x), [0.0]])


@pytest.mark.parametrize("solver", ["eigsh", "davidson", "expm_multiply"])
def test_krylov_matvec_of_the_wrong_shape_is_named(solver: str) -> None:
    v0 = np.ones((2, 5))
    with pytest.raises(ValueError, match=r"matvec returned shape \(11,\) for an input of shape \(2, 5\)") as info:
        if solver == "eigsh":
            eigsh(_wrong_size, v0)
        elif solver == "davidson":
            davidson(_wrong_size, v0)
        else:
            expm_multiply(_wrong_size, v0, -1j)
    assert _one_line(info).startswith(f"{solver}: ")


def test_krylov_matvec_returning_no_array_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"eigsh: matvec must return an array shaped like v0 \(4,\), got NoneType"):
        eigsh(lambda x: None, np.ones(4))  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match=r"expm_multiply: matvec must return an array"):
        expm_multiply(lambda x: None, np.ones(4), -1j)  # type: ignore[arg-type, return-value]


def test_krylov_matvec_returning_a_flat_vector_still_works() -> None:
    # The size is what matters: a flat H @ v for a (2, 5) start vector is accepted as before.
    h = np.diag(np.arange(1.0, 11.0))
    w, v = eigsh(lambda x: h @ np.ravel(x), np.ones((2, 5)), k=1)
    assert float(w[0]) == pytest.approx(1.0, abs=1e-10)
    assert v.shape == (2, 5, 1)


@pytest.mark.parametrize("length", [4, 8])
def test_dmrg_psi0_of_the_wrong_length(length: int) -> None:
    h = models.heisenberg(6)
    with pytest.raises(ValueError, match=rf"dmrg: psi0 has {length} sites but the MPO has 6") as info:
        tnkit.dmrg(h, _neel(length), bond_dims=4)
    _one_line(info)


def test_dmrg_psi0_of_the_wrong_local_dimension() -> None:
    h = models.heisenberg(4)
    with pytest.raises(ValueError, match=r"mismatch at site 0: MPO has 2, state has 3; .*local_dim=2") as info:
        tnkit.dmrg(h, MPS.product([0, 0, 0, 0], local_dim=3), bond_dims=4)
    _one_line(info)


# ---------------------------------------------------------------------- silent surprises


def test_one_site_tdvp_from_a_product_state_is_refused_with_the_fix() -> None:
    h = models.heisenberg(6)
    with pytest.raises(ValueError, match=r"tdvp: one-site TDVP .* product state.*max_bond=chi.*two_site=True") as info:
        tnkit.tdvp(_neel(6), h, 0.2, 0.1)
    _one_line(info)


def test_one_site_tdvp_from_a_product_state_with_either_fix_entangles() -> None:
    h = models.heisenberg(6)
    grown = tnkit.tdvp(_neel(6), h, 0.2, 0.1, max_bond=4)
    two_site = tnkit.tdvp(_neel(6), h, 0.2, 0.1, two_site=True, max_bond=4)
    assert grown.max_bonds[-1] == 4 and two_site.max_bonds[-1] == 4
    for res in (grown, two_site):
        # Out of the product manifold: <Sz_0> moves away from its Neel value 1/2.
        assert abs(float(np.real(tnkit.backend.to_host(res.state.expect(SZ, 0)))) - 0.5) > 1e-3


def test_one_site_tdvp_with_max_bond_one_is_the_product_state_evolution() -> None:
    # Asked for on purpose: the state stays a product state and the call is not refused.
    res = tnkit.tdvp(_neel(4), models.heisenberg(4), 0.2, 0.1, max_bond=1)
    assert res.max_bonds == [1, 1, 1]


def test_one_site_tdvp_on_an_entangled_state_keeps_its_bonds() -> None:
    psi0 = MPS.random(6, 2, 3, rng=0)
    res = tnkit.tdvp(psi0, models.heisenberg(6), 0.2, 0.1)
    assert res.max_bonds == [3, 3, 3]


def test_sample_returns_the_state_library(bk) -> None:  # noqa: ANN001 - fixture
    psi_np = MPS.random(5, 2, 3, rng=4)
    psi = MPS([bk.asarray(t) for t in psi_np.tensors])
    samples = psi.sample(50, rng=7)
    assert tnkit.backend.library_name(tnkit.backend.namespace(samples)) == tnkit.backend.library_name(bk.xp)
    assert tnkit.backend.device_of(samples) == psi.device
    assert samples.dtype == psi.xp.int64 and samples.shape == (50, 5)
    reference = psi_np.sample(50, rng=7)
    assert type(reference) is np.ndarray
    np.testing.assert_array_equal(bk.to_numpy(samples), reference)  # the draws depend on rng only


# ---------------------------------------------------------------------- progress and plots


class _RecordingBar:
    """Stands in for tnkit.run.Progress and records the count shown with each postfix."""

    def __init__(
        self, total: int | None, desc: str, enabled: bool | None = None, *, unit: str = "it", initial: int = 0
    ) -> None:
        self.n = initial
        self.shown: list[tuple[int, dict[str, object]]] = []

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, values: object = None, **kwargs: object) -> None:
        self.shown.append((self.n, kwargs))

    def close(self) -> None:
        pass


def test_dmrg_bar_count_matches_its_postfix(monkeypatch: pytest.MonkeyPatch) -> None:
    bars: list[_RecordingBar] = []

    def fake_progress(*args: object, **kwargs: object) -> _RecordingBar:
        bars.append(_RecordingBar(*args, **kwargs))  # type: ignore[arg-type]
        return bars[-1]

    monkeypatch.setattr(tnkit.run, "progress", fake_progress)
    res = tnkit.dmrg(models.heisenberg(6), bond_dims=[4, 8], rng=0, max_sweeps=3, tol=0.0)
    (bar,) = bars
    assert [count for count, _ in bar.shown] == [1, 2, 3]
    assert [float(postfix["E"]) for _, postfix in bar.shown] == pytest.approx(res.energies, abs=1e-9)  # type: ignore[arg-type]


def test_dmrg_result_plot_writes_a_png(tmp_path) -> None:  # noqa: ANN001 - fixture
    res = tnkit.dmrg(models.heisenberg(6), bond_dims=[2, 4, 8], rng=0, max_sweeps=4, tol=0.0)
    fig = res.plot()
    assert [ax.get_xlabel() for ax in fig.axes][1] == "sweep"
    assert len(fig.axes[0].lines) == 2  # energy error and variance
    path = res.plot(tmp_path / "dmrg.png")
    assert path == tmp_path / "dmrg.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dmrg.png"]  # no temporary left


def test_result_plots_draw_into_a_pyplot_figure() -> None:
    """``fig=plt.figure()`` puts the plot where pyplot, a notebook or sphinx-gallery finds it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = tnkit.dmrg(models.heisenberg(6), bond_dims=[2, 4], rng=0, max_sweeps=3, tol=0.0)
    run = tnkit.tebd(_neel(4), models.heisenberg(4), 0.2, 0.1, max_bond=2, observables={"sz": SZ})
    try:
        for result in (res, run):
            fig = plt.figure()
            assert result.plot(fig=fig) is fig and fig.axes and plt.gcf() is fig
        with pytest.raises(ValueError, match="already has axes"):
            res.plot(fig=fig)
        with pytest.raises(TypeError, match="matplotlib Figure"):
            res.plot(fig="figure.png")
    finally:
        plt.close("all")


@pytest.mark.parametrize("driver", ["tdvp", "tebd"])
def test_evolution_result_plot_writes_a_png(tmp_path, driver: str) -> None:  # noqa: ANN001 - fixture
    h = models.heisenberg(4)
    evolve = tnkit.tdvp if driver == "tdvp" else tnkit.tebd
    kwargs = {"two_site": True} if driver == "tdvp" else {}
    res = evolve(_neel(4), h, 0.3, 0.1, max_bond=2, observables={"sz": SZ, "sz0": (SZ, 0)}, **kwargs)
    fig = res.plot()
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels[:5] == ["sz", "sz0", "|1 - norm|", "|E(t) - E(0)|", "max bond dim"]
    assert len(fig.axes[0].lines) == 4  # one line per site
    np.testing.assert_allclose(fig.axes[4].lines[0].get_ydata(), res.max_bonds)
    path = res.plot(tmp_path / "evolution.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
