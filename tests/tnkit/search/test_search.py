"""tnkit.search: objectives by hand, greedy rank growth on planted TT/Tucker/TR targets
(tolerance, parameter counts, pruning, budget, records and resume, completion), TNLS and
TnALE on a planted ring with a hidden permutation (found within a budget, stop_when,
max_evals, caching, determinism, resume without refits), executors (threads, processes,
dask) against serial, targets from every array library (``bk``) and the result plot.

The searches fit in NumPy on the host; a target from another library must give the same
path and return its network, and that network's dense tensor, in the target's library.
The longest searches run in full on NumPy only; the other libraries run the same search on
the clearly named smaller case (:data:`SMALL_EVALS` evaluations, checked against NumPy's
path on that budget)."""

from __future__ import annotations

import concurrent.futures
import math

import numpy as np
import pytest

from tests.conftest import Backend
from tnkit import backend, io
from tnkit.network import Structure, TensorNetwork
from tnkit.run import Run
from tnkit.search import Evaluation, Objective, SearchResult, greedy, load_record, tnale, tnls

LOCAL = (tnls, tnale)


pytestmark = pytest.mark.usefixtures("torch_single_thread")


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _trace(res: SearchResult) -> list[tuple[tuple, float]]:
    return [(e.structure.key, e.rse) for e in res.evaluations]


def _same_evaluations(a: list[Evaluation], b: list[Evaluation], atol: float = 0.0) -> None:
    assert [e.structure.key for e in a] == [e.structure.key for e in b]
    np.testing.assert_allclose([e.rse for e in a], [e.rse for e in b], rtol=0, atol=atol)


def _dense(bk: Backend, res: SearchResult) -> np.ndarray:
    """The result network's dense tensor on the host, after checking that the cores and the
    dense tensor come back in the target's library (and on its device)."""
    lib = bk.name.replace("-cuda", "")
    assert all(backend.library_name(backend.namespace(c)) == lib for c in res.network.cores)
    dense = res.network.to_dense()
    assert backend.library_name(backend.namespace(dense)) == lib
    assert str(backend.device_of(dense)) == str(bk.device)
    return bk.to_numpy(dense)


# The smaller case for the non-NumPy libraries in the long local searches: this many
# evaluations, on the same target and seed, must follow NumPy's path exactly.
SMALL_EVALS = 6


def _small_case(bk: Backend, search, x: np.ndarray, **kw) -> None:
    """Run ``search`` on ``bk``'s copy of ``x`` for :data:`SMALL_EVALS` evaluations and compare
    with the same search on the NumPy target."""
    kw = dict(LOCAL_KW, **kw, max_evals=SMALL_EVALS)
    res = search(bk.asarray(x), **kw)
    ref = search(x, **kw)
    _same_evaluations(res.evaluations, ref.evaluations, atol=1e-12)
    assert res.best.structure == ref.best.structure
    assert _rel(_dense(bk, res), x) == pytest.approx(res.best.rse, rel=1e-3, abs=1e-10)


# ------------------------------------------------------------------ planted targets

TT = Structure.tt((4, 4, 4, 4), (2, 3, 2))  # 4*2 + 2*4*3 + 3*4*2 + 2*4 = 64 parameters
TUCKER = Structure.tucker((4, 4, 4), (2, 2, 2))  # 3 * 4*2 + 2*2*2 = 32 parameters
# ring of four size-3 modes, ranks 2, whose cores carry the modes in a hidden order
RING = Structure.tr((3,) * 4, (2,) * 4, perm=(1, 3, 0, 2))  # 4 * 2*3*2 = 48 parameters
RING_RSE = 1e-4
# the local searches start from all ranks 3 (108 parameters) and the identity permutation
SERIAL = Run(executor="serial")
LOCAL_KW = dict(init_ranks=(3,) * 4, max_rank=3, run=SERIAL)


def test_planted_parameter_counts() -> None:
    assert TT.num_params == 64 and TUCKER.num_params == 32 and RING.num_params == 48
    assert Structure.tr((3,) * 4, (3,) * 4).num_params == 108


@pytest.fixture(scope="module")
def x_tt() -> np.ndarray:
    return TensorNetwork.random(TT, rng=0).to_dense()


@pytest.fixture(scope="module")
def x_ring() -> np.ndarray:
    return TensorNetwork.random(RING, rng=0).to_dense()


def _ring_hit(e: Evaluation) -> bool:
    return e.params <= RING.num_params and e.rse <= RING_RSE


@pytest.fixture(scope="module")
def tnale_serial(x_ring: np.ndarray) -> SearchResult:
    """A short TnALE run (permutation and ranks) shared by the executor and torch tests."""
    return tnale(x_ring, max_evals=8, seed=1, **LOCAL_KW)


# ------------------------------------------------------------------ Objective


def test_objective_penalty_by_hand() -> None:
    s = Structure.tt((4, 4, 4), (2, 2))
    assert s.num_params == 4 * 2 + 2 * 4 * 2 + 2 * 4 == 32 and s.numel == 64
    assert Objective("penalty", lam=10.0)(s, 0.01) == pytest.approx(32 / 64 + 10 * 0.01)
    assert Objective("penalty", lam=3.0)(s, 0.2) == pytest.approx(0.5 + 0.6)
    assert Objective(lam=2.0)(s, 0.0) == pytest.approx(0.5)  # penalty is the default kind
    assert Objective()(s, 0.01) == pytest.approx(0.5 + 10 * 0.01)  # default lam 10


def test_objective_constraint_by_hand() -> None:
    s = Structure.tt((4, 4, 4), (2, 2))
    c = Objective("constraint", eps=1e-3)
    assert c(s, 1e-4) == pytest.approx(0.5)
    assert c(s, 1e-3) == pytest.approx(0.5)  # on the bound: feasible
    assert c(s, 1e-1) == pytest.approx(0.5 + 1 + math.log10(1e-1 / 1e-3))  # 3.5
    assert c(s, 2e-3) == pytest.approx(1.5 + math.log10(2))
    # a larger feasible structure beats a smaller infeasible one (params below 2 * numel)
    big = Structure.tt((4, 4, 4), (4, 4))
    assert big.num_params == 96 and c(big, 1e-5) < c(s, 1.01e-3)
    assert "constraint" in repr(c) and "0.001" in repr(c)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("penalt",), {}, "kind"),
        (("constraints",), {}, "kind"),
        ((), {"lam": 0.0}, "lam"),
        ((), {"lam": -1.0}, "lam"),
        ((), {"lam": float("nan")}, "lam"),
        ((), {"lam": float("inf")}, "lam"),
        ((), {"lam": "10"}, "lam"),
        (("constraint",), {"eps": 0.0}, "eps"),
        (("constraint",), {"eps": -1e-3}, "eps"),
        (("constraint",), {"eps": float("nan")}, "eps"),
    ],
)
def test_objective_bad_arguments(args, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        Objective(*args, **kwargs)


def _small_target() -> np.ndarray:
    return TensorNetwork.random(Structure.tt((3, 3, 3), (2, 2)), rng=3).to_dense()


def _call(search, x, **kw):
    if search is greedy:
        return greedy(x, run=SERIAL, **kw)
    return search(x, run=SERIAL, max_evals=3, **kw)


@pytest.mark.parametrize("search", [greedy, tnls, tnale])
def test_objective_nan_raises(search) -> None:
    with pytest.raises(ValueError, match="NaN"):
        _call(search, _small_target(), objective=lambda s, rse: float("nan"))


@pytest.mark.parametrize("search", [greedy, tnls, tnale])
@pytest.mark.parametrize("value", [None, "abc", object(), [1.0, 2.0]])
def test_objective_non_number_raises_type_error(search, value) -> None:
    with pytest.raises(TypeError, match="not a number"):
        _call(search, _small_target(), objective=lambda s, rse: value)


@pytest.mark.parametrize("search", [greedy, tnls, tnale])
def test_objective_not_callable_raises_type_error(search) -> None:
    with pytest.raises(TypeError, match="objective"):
        _call(search, _small_target(), objective=3)


def test_callable_and_named_objectives_fill_losses(bk, x_ring) -> None:
    x = bk.asarray(x_ring)
    res = tnale(x, max_evals=4, seed=0, objective=lambda s, rse: s.num_params + rse, **LOCAL_KW)
    for e in res.evaluations:
        assert e.loss == pytest.approx(e.params + e.rse)
    res = tnls(x, max_evals=4, seed=0, objective="constraint", **LOCAL_KW)
    c = Objective("constraint")  # default eps 1e-4
    for e in res.evaluations:
        assert e.loss == pytest.approx(c(e.structure, e.rse))
    assert res.best.loss == min(e.loss for e in res.evaluations)


# ------------------------------------------------------------------ greedy


def test_greedy_planted_tt(bk, x_tt) -> None:
    tol = 1e-6
    res = greedy(bk.asarray(x_tt), tol=tol, run=SERIAL)
    assert res.method == "greedy" and res.stopped == "converged"
    assert res.best.rse <= tol and res.best.params <= TT.num_params
    # the reported error is the network's: rebuild the tensor from the returned cores
    assert res.network.structure == res.best.structure
    assert _rel(_dense(bk, res), x_tt) <= tol * 1.01
    assert res.network.num_params == res.best.params
    # the starting point is the fully connected rank-1 network: 4 cores of 4 * 1 * 1 * 1
    first = res.evaluations[0]
    assert first.structure == Structure.full(TT.shape, 1) and first.params == 16 and first.step == 0
    # losses are the constraint objective with eps = tol
    obj = Objective("constraint", eps=tol)
    for k, e in enumerate(res.evaluations):
        assert e.index == k and e.loss == pytest.approx(obj(e.structure, e.rse))
    assert res.best.loss == pytest.approx(res.best.params / 256)
    assert res.best is res.evaluations[res.best.index]
    assert res.num_evaluations == len(res.evaluations) and res.seconds > 0


def test_greedy_star_recovers_tucker(bk) -> None:
    x = TensorNetwork.random(TUCKER, rng=0).to_dense()
    res = greedy(bk.asarray(x), tol=1e-6, start="star", run=SERIAL)
    assert res.evaluations[0].structure == Structure.tucker(TUCKER.shape, (1, 1, 1))
    assert res.best.structure.num_nodes == 4  # the hub is kept
    assert res.best.rse <= 1e-6 and res.best.params <= TUCKER.num_params
    assert _rel(_dense(bk, res), x) <= 1e-6 * 1.01
    # only the star's edges grow
    assert all(j == 3 for _, j, _ in res.best.structure.edges)
    # one edge of a rank-1 star adds nothing (multilinear rank (2, 1, 1) is rank one), so
    # the single-edge candidates of step 1 keep the start's error and two edges grow at once
    step1 = [e for e in res.evaluations if e.step == 1]
    singles = [e for e in step1 if sorted(r for *_, r in e.structure.edges) == [1, 1, 2]]
    assert len(singles) == 3
    assert all(e.rse == pytest.approx(res.evaluations[0].rse, rel=1e-6) for e in singles)
    chosen = min(step1, key=lambda e: e.rse)
    assert sorted(r for *_, r in chosen.structure.edges) == [1, 2, 2]
    assert chosen.rse < 0.99 * res.evaluations[0].rse
    # step 2 grows from the chosen pair
    assert all(e.params > chosen.params for e in res.evaluations if e.step == 2)


def test_greedy_start_structure_grows_only_its_edges(bk, x_tt) -> None:
    chain = Structure.tt(TT.shape, (1, 1, 1))
    res = greedy(bk.asarray(x_tt), tol=1e-6, start=chain, run=SERIAL)
    assert res.evaluations[0].structure == chain
    for e in res.evaluations:
        assert [(i, j) for i, j, _ in e.structure.edges] == [(0, 1), (1, 2), (2, 3)]
    assert res.best.structure == TT and res.best.rse <= 1e-6


def test_greedy_prune_lowers_parameters(bk) -> None:
    # a 3-mode ring on which growth overshoots; found by a scan of small targets
    x = TensorNetwork.random(Structure.tr((4, 4, 4), (2, 3, 2)), rng=5).to_dense()
    tol = 1e-6
    grown = greedy(bk.asarray(x), tol=tol, prune=False, seed=1, run=SERIAL)
    pruned = greedy(bk.asarray(x), tol=tol, prune=True, seed=1, run=SERIAL)
    assert grown.stopped == pruned.stopped == "converged"
    n = grown.num_evaluations
    # pruning only appends evaluations to the same growth path
    _same_evaluations(pruned.evaluations[:n], grown.evaluations)
    extra = pruned.evaluations[n:]
    assert extra, "pruning evaluated nothing"
    before = grown.best
    assert pruned.best.params < before.params and pruned.best.rse <= tol
    assert pruned.best.params <= 64  # the planted ring's count (measured: 104 grown, 64 pruned)
    assert _rel(_dense(bk, pruned), x) <= tol * 1.01
    # every pruning candidate lowers one rank of a network on the pruning path
    for e in extra:
        assert e.params < before.params and e.step > before.step
        assert np.all(e.structure.ranks <= before.structure.ranks)
    assert np.all(pruned.best.structure.ranks <= before.structure.ranks)
    assert pruned.best in extra


def test_greedy_max_params(bk, x_tt) -> None:
    res = greedy(bk.asarray(x_tt), tol=1e-6, max_params=40, run=SERIAL)
    assert res.stopped == "max_params"
    assert max(e.params for e in res.evaluations) <= 40
    assert res.best.rse > 1e-6  # the planted TT needs 64
    assert res.network.num_params <= 40


def test_greedy_max_steps_and_score_error(bk, x_tt) -> None:
    res = greedy(bk.asarray(x_tt), tol=1e-6, max_steps=2, run=SERIAL)
    assert res.stopped == "max_steps" and max(e.step for e in res.evaluations) == 2
    res = greedy(bk.asarray(x_tt), tol=1e-6, score="error", run=SERIAL)
    assert res.best.rse <= 1e-6


def test_greedy_record_roundtrip(bk, tmp_path, x_tt) -> None:
    path = tmp_path / "greedy.h5"
    res = greedy(bk.asarray(x_tt), tol=1e-6, run=Run(executor="serial", checkpoint=path))
    method, evals, extra = load_record(path)
    assert method == "greedy"
    assert len(evals) == res.num_evaluations
    for a, b in zip(evals, res.evaluations):
        assert a.index == b.index and a.structure == b.structure and a.step == b.step
        assert a.rse == b.rse and a.loss == b.loss and a.seconds == b.seconds
    # the stored state is the final network
    st = extra["state"]
    np.testing.assert_array_equal(np.asarray(st["ranks"]), res.network.structure.ranks)
    for k, core in enumerate(res.network.cores):
        np.testing.assert_array_equal(np.asarray(st["cores"][str(k)]), bk.to_numpy(core))


def test_greedy_resume_continues(bk, tmp_path, x_tt) -> None:
    path = tmp_path / "greedy.h5"
    x = bk.asarray(x_tt)
    first = greedy(x, tol=1e-6, max_steps=2, run=Run(executor="serial", checkpoint=path))
    assert first.stopped == "max_steps" and first.best.rse > 1e-6
    res = greedy(x, tol=1e-6, run=Run(executor="serial", checkpoint=path, resume=True))
    assert res.stopped == "converged" and res.best.rse <= 1e-6 and res.best.params <= TT.num_params
    n = first.num_evaluations
    assert res.num_evaluations > n
    _same_evaluations(res.evaluations[:n], first.evaluations)
    assert [e.seconds for e in res.evaluations[:n]] == [e.seconds for e in first.evaluations]
    assert min(e.step for e in res.evaluations[n:]) == 3  # continues after step 2
    assert _rel(_dense(bk, res), x_tt) <= 1e-6 * 1.01


def test_greedy_masked_completion(bk, x_tt) -> None:
    rng = np.random.default_rng(5)
    mask = rng.random(x_tt.shape) < 0.6
    # garbage where unobserved: only a fit restricted to the mask can reach tol
    corrupted = np.where(mask, x_tt, 100.0 * rng.standard_normal(x_tt.shape))
    tol = 1e-6
    res = greedy(bk.asarray(corrupted), tol=tol, run=SERIAL, fit_options={"mask": bk.asarray(mask)})
    assert res.stopped == "converged" and res.best.rse <= tol
    dense = _dense(bk, res)
    assert _rel(dense[mask], x_tt[mask]) == pytest.approx(res.best.rse, rel=1e-6, abs=1e-14)
    assert res.best.params <= TT.num_params
    assert _rel(dense, x_tt) < 1e-3  # the planted TT is also recovered off the mask
    # without the mask the same budget cannot fit the garbage
    plain = greedy(bk.asarray(corrupted), tol=tol, max_params=TT.num_params, run=SERIAL)
    assert plain.best.rse > 1e-2


@pytest.mark.parametrize(
    ("target", "kwargs", "match"),
    [
        (np.zeros((0, 3)), {}, "empty"),
        (np.full((3, 3), np.nan), {}, "NaN"),
        (np.ones(5), {}, "at least 2 modes"),
        (None, {"tol": -1e-3}, "tol"),
        (None, {"tol": float("nan")}, "tol"),
        (None, {"rank_step": 0}, "rank_step"),
        (None, {"max_steps": 0}, "max_steps"),
        (None, {"max_params": 0}, "max_params"),
        (None, {"internal": -1}, "internal"),
        (None, {"start": "ring"}, "start must be"),
        (None, {"start": Structure.tt((3, 3), (2,))}, "start shape"),
        (None, {"fit_options": {"method": "gradient"}}, "unsupported fit option"),
        (None, {"fit_options": {"n_iters": 3}}, "n_iters"),
        (None, {"score": "per-param"}, "score must be 'per_param' or 'error'"),
    ],
)
def test_greedy_bad_input(target, kwargs, match) -> None:
    x = _small_target() if target is None else target
    with pytest.raises(ValueError, match=match):
        greedy(x, run=SERIAL, **kwargs)


def test_greedy_resume_wrong_record(tmp_path, x_ring) -> None:
    path = tmp_path / "tnls.h5"
    tnls(x_ring, max_evals=2, **dict(LOCAL_KW, run=Run(executor="serial", checkpoint=path)))
    with pytest.raises(io.DataError, match="greedy"):
        greedy(x_ring, run=Run(executor="serial", checkpoint=path, resume=True))


# ------------------------------------------------------------------ TNLS and TnALE


@pytest.mark.parametrize(("search", "seed"), [(tnls, 0), (tnale, 1)])
def test_local_search_finds_hidden_ring(bk, search, seed, x_ring) -> None:
    if bk.name != "numpy":
        _small_case(bk, search, x_ring, stop_when=_ring_hit, seed=seed)
        return
    res = search(x_ring, max_evals=60, stop_when=_ring_hit, seed=seed, **LOCAL_KW)
    k = res.first(_ring_hit)
    assert k is not None and k <= 60, f"{search.__name__} missed the planted ring"
    found = res.evaluations[k - 1]
    assert found.params <= RING.num_params and found.rse <= RING_RSE
    assert found.structure.perm != (0, 1, 2, 3)  # the identity order does not fit it
    assert res.stopped == "stop_when" and res.method == search.__name__


@pytest.mark.parametrize("search", LOCAL)
def test_local_search_constraint_best_and_network(bk, search, x_ring) -> None:
    kw = dict(LOCAL_KW, max_evals=60, seed=1, objective=Objective("constraint", eps=RING_RSE))
    if search is tnls:
        kw.update(n_iter=1000, patience=1000)
    if bk.name != "numpy":
        _small_case(bk, search, x_ring, **{k: v for k, v in kw.items() if k != "max_evals"}, stop_when=_ring_hit)
        return
    res = search(x_ring, stop_when=_ring_hit, **kw)
    # fewest parameters subject to the bound: the hit is the best evaluation so far
    assert res.best.params <= RING.num_params and res.best.rse <= RING_RSE
    assert res.best.loss == min(e.loss for e in res.evaluations)
    # the returned network is a refit of best: check the error from its dense tensor
    assert res.network.structure == res.best.structure
    assert _rel(res.network.to_dense(), x_ring) <= RING_RSE


@pytest.mark.parametrize("search", LOCAL)
def test_stop_when_ends_with_the_hits_batch(bk, search, x_ring) -> None:
    if bk.name != "numpy":
        _small_case(bk, search, x_ring, stop_when=_ring_hit, seed=1 if search is tnale else 0)
        return
    res = search(x_ring, max_evals=60, stop_when=_ring_hit, seed=1 if search is tnale else 0, **LOCAL_KW)
    k = res.first(_ring_hit)
    assert res.stopped == "stop_when" and k is not None
    # nothing is evaluated after the batch holding the first hit
    hit_step = res.evaluations[k - 1].step
    assert all(e.step == hit_step for e in res.evaluations[k - 1 :])


def test_stop_when_stops_at_first_hit(bk, x_ring) -> None:
    if bk.name != "numpy":
        _small_case(bk, tnls, x_ring, stop_when=_ring_hit, seed=0)
        return
    res = tnls(x_ring, max_evals=60, stop_when=_ring_hit, seed=0, **LOCAL_KW)
    assert res.first(_ring_hit) == res.num_evaluations


@pytest.mark.parametrize("search", LOCAL)
def test_max_evals(bk, search, x_ring) -> None:
    res = search(bk.asarray(x_ring), max_evals=7, seed=0, **LOCAL_KW)
    assert res.num_evaluations == 7 and res.stopped == "max_evals"
    assert [e.index for e in res.evaluations] == list(range(7))
    assert _rel(_dense(bk, res), x_ring) == pytest.approx(res.best.rse, rel=1e-3, abs=1e-10)


@pytest.mark.parametrize("search", LOCAL)
def test_no_structure_fitted_twice(bk, search, x_ring) -> None:
    kw = dict(LOCAL_KW, seed=0, max_evals=40)
    if search is tnls:
        kw.update(n_samples=8, n_iter=6)  # 48 draws from a small neighbourhood: repeats
    if bk.name != "numpy":
        _small_case(bk, search, x_ring, **{k: v for k, v in kw.items() if k != "max_evals"})
        return
    res = search(x_ring, **kw)
    keys = [e.structure.key for e in res.evaluations]
    assert len(keys) == len(set(keys))
    assert res.stopped in ("converged", "n_iter", "n_rounds", "max_evals")
    if search is tnale:  # a converged TnALE revisits its centre in every enumeration
        assert res.stopped == "converged" and res.num_evaluations < 40


@pytest.mark.parametrize("search", LOCAL)
def test_same_seed_same_path(bk, search, x_ring) -> None:
    n = 10 if bk.name == "numpy" else SMALL_EVALS
    a = search(bk.asarray(x_ring), max_evals=n, seed=3, **LOCAL_KW)
    b = search(bk.asarray(x_ring), max_evals=n, seed=3, **LOCAL_KW)
    assert _trace(a) == _trace(b)
    assert [e.loss for e in a.evaluations] == [e.loss for e in b.evaluations]


def test_tnls_seed_changes_samples(bk, x_ring) -> None:
    n = 8 if bk.name == "numpy" else SMALL_EVALS
    a = tnls(bk.asarray(x_ring), max_evals=n, seed=0, **LOCAL_KW)
    b = tnls(bk.asarray(x_ring), max_evals=n, seed=1, **LOCAL_KW)
    assert a.evaluations[0].structure == b.evaluations[0].structure  # the same start
    assert [e.structure.key for e in a.evaluations] != [e.structure.key for e in b.evaluations]


@pytest.mark.parametrize("search", LOCAL)
def test_resume_replays_without_refitting(bk, search, tmp_path, x_ring) -> None:
    path = tmp_path / f"{search.__name__}.h5"
    # the smaller case for the other libraries: resume after 3 of 8 evaluations (NumPy: 6 of 16)
    k, total = (6, 16) if bk.name == "numpy" else (3, 8)
    x = bk.asarray(x_ring)
    first = search(x, max_evals=k, seed=2, **dict(LOCAL_KW, run=Run(executor="serial", checkpoint=path)))
    assert first.num_evaluations == k
    method, stored, _ = load_record(path)
    assert method == search.__name__
    _same_evaluations(stored, first.evaluations)
    resumed = Run(executor="serial", checkpoint=path, resume=True)
    res = search(x, max_evals=total, seed=2, **dict(LOCAL_KW, run=resumed))
    assert res.num_evaluations > k
    _same_evaluations(res.evaluations[:k], first.evaluations)
    # replayed, not refitted: the recorded fit times come back unchanged
    assert [e.seconds for e in res.evaluations[:k]] == [e.seconds for e in stored]
    # and the resumed search follows the uninterrupted path
    straight = search(x, max_evals=total, seed=2, **LOCAL_KW)
    assert _trace(res) == _trace(straight)
    assert _rel(_dense(bk, res), x_ring) == pytest.approx(res.best.rse, rel=1e-3, abs=1e-10)


@pytest.mark.parametrize(("recorded", "resumed"), [(tnls, tnale), (tnale, tnls), (greedy, tnale)])
def test_resume_from_other_method_raises(recorded, resumed, tmp_path, x_ring) -> None:
    path = tmp_path / "record.h5"
    if recorded is greedy:
        greedy(x_ring, max_steps=1, run=Run(executor="serial", checkpoint=path))
    else:
        recorded(x_ring, max_evals=2, **dict(LOCAL_KW, run=Run(executor="serial", checkpoint=path)))
    with pytest.raises(io.DataError, match=recorded.__name__):
        resumed(x_ring, **dict(LOCAL_KW, run=Run(executor="serial", checkpoint=path, resume=True)))


@pytest.mark.parametrize("search", LOCAL)
def test_resume_other_shape_raises(search, tmp_path, x_ring) -> None:
    path = tmp_path / "record.h5"
    search(x_ring, max_evals=2, **dict(LOCAL_KW, run=Run(executor="serial", checkpoint=path)))
    other = TensorNetwork.random(Structure.tr((2,) * 4, (2,) * 4), rng=0).to_dense()
    with pytest.raises(io.DataError, match="shape"):
        search(other, init_ranks=(2,) * 4, run=Run(executor="serial", checkpoint=path, resume=True))


@pytest.mark.parametrize("search", LOCAL)
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"template": Structure.tucker((3,) * 4, (2,) * 4)}, "internal nodes"),
        ({"template": Structure.tr((2,) * 4, (2,) * 4)}, "template shape"),
        ({"template": "star"}, "template must be"),
        ({"init_ranks": (3, 3, 3)}, "init_ranks must be 4 ints"),
        ({"init_ranks": (3, 3, 3, 3, 3)}, "init_ranks must be 4 ints"),
        ({"init_ranks": (3.0, 3.0, 3.0, 3.0)}, "init_ranks"),
        ({"init_ranks": (3, 0, 3, 3)}, ">= 1"),
        ({"init_ranks": (3, 3, 9, 3)}, r"\[1, 8\]"),
        ({"init_ranks": (3, 1, 3, 3), "min_rank": 2}, r"\[2, 8\]"),
        ({"min_rank": 3, "max_rank": 2}, "max_rank"),
        ({"min_rank": 0}, "min_rank"),
        ({"max_evals": 0}, "max_evals"),
        ({"perm_radius": -1}, "perm_radius"),
        ({"fit_options": {"sweeps": 3}}, "unknown fit option"),
    ],
)
def test_local_search_bad_input(search, kwargs, match, x_ring) -> None:
    kw = {"run": SERIAL, **kwargs}
    with pytest.raises(ValueError, match=match):
        search(x_ring, **kw)


@pytest.mark.parametrize("search", LOCAL)
@pytest.mark.parametrize(
    ("target", "match"),
    [(np.zeros((3, 0, 3)), "empty"), (np.full((3, 3, 3), np.inf), "NaN or Inf"), (np.ones(4), "at least 2 modes")],
)
def test_local_search_bad_target(search, target, match) -> None:
    with pytest.raises(ValueError, match=match):
        search(target, run=SERIAL)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_iter": 0}, "n_iter"),
        ({"patience": 0}, "patience"),
        ({"rank_radius": 0}, "rank_radius"),
    ],
)
def test_tnls_bad_input(kwargs, match, x_ring) -> None:
    with pytest.raises(ValueError, match=match):
        tnls(x_ring, run=SERIAL, **kwargs)


def test_tnale_restarts_extend_a_converged_search(bk, x_ring) -> None:
    if bk.name != "numpy":
        _small_case(bk, tnale, x_ring, seed=0, restarts=2)
        return
    one = tnale(x_ring, seed=0, **LOCAL_KW)
    assert one.stopped == "converged"
    more = tnale(x_ring, seed=0, restarts=2, **LOCAL_KW)
    n = one.num_evaluations
    _same_evaluations(more.evaluations[:n], one.evaluations)  # the first start is unchanged
    later = more.evaluations[n:]
    assert later and all(e.step > one.evaluations[-1].step for e in later)
    # a restart begins at the initial ranks with another permutation
    assert tuple(int(r) for r in later[0].structure.ranks[0, [1, 3]]) == (3, 3)
    assert later[0].structure.perm != (0, 1, 2, 3)
    assert more.best.loss <= one.best.loss
    assert more.best.loss == min(e.loss for e in more.evaluations)
    keys = [e.structure.key for e in more.evaluations]
    assert len(keys) == len(set(keys))  # the cache spans the starts


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_rounds": 0}, "n_rounds"), ({"radius": 0}, "radius"), ({"restarts": -1}, "restarts must be an int >= 0")],
)
def test_tnale_bad_input(kwargs, match, x_ring) -> None:
    with pytest.raises(ValueError, match=match):
        tnale(x_ring, run=SERIAL, **kwargs)


@pytest.mark.parametrize("executor", [42, "threads", object()])
def test_bad_executor_type(executor) -> None:
    with pytest.raises(TypeError, match="executor must be"):
        Run(executor=executor)


@pytest.mark.parametrize("search", [greedy, tnls, tnale])
def test_run_must_be_a_run(search) -> None:
    with pytest.raises(TypeError, match="tnkit.Run"):
        search(_small_target(), run={"executor": "serial"})


# ------------------------------------------------------------------ executors


def test_thread_pool_matches_serial(tnale_serial, x_ring) -> None:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        res = tnale(x_ring, max_evals=8, seed=1, **dict(LOCAL_KW, run=Run(executor=pool)))
    _same_evaluations(res.evaluations, tnale_serial.evaluations, atol=1e-10)


def test_process_pool_matches_serial(tnale_serial, x_ring) -> None:
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        res = tnale(x_ring, max_evals=8, seed=1, **dict(LOCAL_KW, run=Run(executor=pool)))
    _same_evaluations(res.evaluations, tnale_serial.evaluations, atol=1e-10)


def test_default_executor_is_a_process_pool(tnale_serial, x_ring) -> None:
    res = tnale(x_ring, max_evals=8, seed=1, **dict(LOCAL_KW, run=Run()))
    _same_evaluations(res.evaluations, tnale_serial.evaluations, atol=1e-10)


def test_greedy_thread_pool_matches_serial(x_tt) -> None:
    serial = greedy(x_tt, tol=1e-6, max_steps=2, run=SERIAL)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        res = greedy(x_tt, tol=1e-6, max_steps=2, run=Run(executor=pool))
    _same_evaluations(res.evaluations, serial.evaluations, atol=1e-10)


def test_dask_client_matches_serial(tnale_serial, x_ring) -> None:
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        res = tnale(x_ring, max_evals=8, seed=1, **dict(LOCAL_KW, run=Run(executor=client)))
    _same_evaluations(res.evaluations, tnale_serial.evaluations, atol=1e-10)


# ------------------------------------------------------------------ torch targets


def test_greedy_torch_target(x_tt) -> None:
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x_tt)
    res = greedy(xt, tol=1e-6, run=SERIAL)
    ref = greedy(x_tt, tol=1e-6, run=SERIAL)
    _same_evaluations(res.evaluations, ref.evaluations, atol=1e-12)
    assert all(isinstance(c, torch.Tensor) and c.dtype == torch.float64 for c in res.network.cores)
    dense = res.network.to_dense()
    assert isinstance(dense, torch.Tensor)
    assert _rel(dense.numpy(), x_tt) <= 1e-6 * 1.01 and res.best.params <= TT.num_params


def test_tnale_torch_target(tnale_serial, x_ring) -> None:
    torch = pytest.importorskip("torch")
    res = tnale(torch.tensor(x_ring), max_evals=8, seed=1, **LOCAL_KW)
    _same_evaluations(res.evaluations, tnale_serial.evaluations, atol=1e-12)
    assert res.best.structure == tnale_serial.best.structure
    assert all(isinstance(c, torch.Tensor) for c in res.network.cores)
    assert _rel(res.network.to_dense().numpy(), x_ring) == pytest.approx(res.best.rse, rel=1e-3, abs=1e-10)


# ------------------------------------------------------------------ results


def test_first_and_plot(tnale_serial) -> None:
    from matplotlib.figure import Figure

    res = tnale_serial
    assert res.first(lambda e: True) == 1
    assert res.first(lambda e: False) is None
    assert res.first(lambda e: e.index == 4) == 5
    ax = Figure().subplots()
    assert res.plot(ax) is ax
    lines = ax.get_lines()
    loss = np.array([e.loss for e in res.evaluations])
    np.testing.assert_allclose(lines[0].get_ydata(), loss)
    np.testing.assert_allclose(lines[1].get_ydata(), np.minimum.accumulate(loss))
    np.testing.assert_array_equal(lines[1].get_xdata(), np.arange(1, len(loss) + 1))
    assert ax.get_yscale() == "log" and "tnale" in ax.get_title()


def test_plot_without_axes(tnale_serial) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = tnale_serial.plot()
    try:
        assert len(ax.get_lines()) == 2 and ax.get_xlabel() == "evaluations"
    finally:
        plt.close(ax.figure)
