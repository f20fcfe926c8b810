"""tnkit.network: structures (parameter counts by hand, axis order, permutations,
validation), networks against hand-written einsums and the TT/TR/Tucker/TTN classes,
edge surgery against SVDs of unfoldings, and fitting (ALS, gradient, completion)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.conftest import random_array
from tnkit.decompositions.tr import tr_svd
from tnkit.decompositions.tt import tt_svd
from tnkit.decompositions.tucker import hosvd
from tnkit.network import FitResult, Structure, TensorNetwork, fit
from tnkit.network.fit import _solve
from tnkit.tree import TTN, Tree

CPU_BACKENDS = ("numpy", "array_api_strict", "torch")


pytestmark = pytest.mark.usefixtures("torch_single_thread")


def _cpu_only(bk) -> None:
    if bk.name not in CPU_BACKENDS:
        pytest.skip("fit tests run on the CPU backends only")


def _random_cores(rng: np.random.Generator, s: Structure) -> list[np.ndarray]:
    return [random_array(rng, s.core_shape(v), "float64") for v in range(s.num_nodes)]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ------------------------------------------------------------------ Structure


def test_num_params_hand_formulas() -> None:
    n = 7
    tt = Structure.tt((n,) * 5, (2, 3, 6, 5))
    assert tt.num_params == n * 2 + 2 * n * 3 + 3 * n * 6 + 6 * n * 5 + 5 * n == 427
    tr = Structure.tr((n,) * 5, (2, 3, 4, 5, 5))
    # core k carries ranks[k-1] * n * ranks[k]
    assert tr.num_params == n * (5 * 2 + 2 * 3 + 3 * 4 + 4 * 5 + 5 * 5) == 511
    tk = Structure.tucker((n,) * 5, (2, 3, 4, 3, 2))
    assert tk.num_params == n * (2 + 3 + 4 + 3 + 2) + 2 * 3 * 4 * 3 * 2 == 242
    assert tk.num_nodes == 6 and tk.ndim == 5
    full = Structure.full((2, 3, 4), rank=2)
    assert full.num_params == 2 * 2 * 2 + 3 * 2 * 2 + 4 * 2 * 2
    assert full.edges == ((0, 1, 2), (0, 2, 2), (1, 2, 2))
    full_int = Structure.full((2, 3), rank=3, internal=1)
    assert full_int.num_nodes == 3
    assert full_int.num_params == 2 * 3 * 3 + 3 * 3 * 3 + 3 * 3
    assert len(Structure.full((2, 2, 2, 2)).edges) == 6


def test_compression_ratio_and_numel() -> None:
    s = Structure.tr((3, 3, 3, 3), (2, 2, 2, 2))
    assert s.num_params == 4 * (2 * 3 * 2)
    assert s.numel == 81
    assert s.compression_ratio == pytest.approx(81 / 48)
    t = Structure.tt((7,) * 5, (2, 3, 6, 5))
    assert t.compression_ratio == pytest.approx(7**5 / 427)


def test_constructors_edges_and_ranks_matrix() -> None:
    s = Structure.tt((2, 3, 4, 5), (2, 3, 4))
    assert s.edges == ((0, 1, 2), (1, 2, 3), (2, 3, 4))
    r = Structure.tr((2, 3, 4, 5), (6, 7, 8, 9))
    assert r.edges == ((0, 1, 6), (0, 3, 9), (1, 2, 7), (2, 3, 8))
    expected = np.array([[0, 6, 0, 9], [6, 0, 7, 0], [0, 7, 0, 8], [9, 0, 8, 0]])
    np.testing.assert_array_equal(r.ranks, expected)
    assert not r.ranks.flags.writeable
    k = Structure.tucker((2, 3, 4), (1, 2, 3))
    assert k.edges == ((0, 3, 1), (1, 3, 2), (2, 3, 3))
    assert k.phys_dim(3) is None and k.phys_dim(1) == 3
    assert k.neighbours(3) == (0, 1, 2)
    # a matrix and a mapping describe the same structure
    assert Structure((2, 3, 4), expected[:3, :3]) == Structure((2, 3, 4), {(1, 0): 6, (2, 1): 7})


def test_core_shape_axis_order() -> None:
    # phys leg first, then one axis per neighbour in increasing node number
    s = Structure((2, 3, 4, 5), {(0, 1): 6, (0, 3): 9, (1, 2): 7, (2, 3): 8, (0, 2): 10})
    assert s.core_shape(0) == (2, 6, 10, 9)
    assert s.core_shape(1) == (3, 6, 7)
    assert s.core_shape(2) == (4, 10, 7, 8)
    assert s.core_shape(3) == (5, 9, 8)
    tr = Structure.tr((2, 3, 4), (5, 6, 7))  # ring: core 2 sees node 0 (rank 7) before node 1 (rank 6)
    assert tr.core_shape(2) == (4, 7, 6)
    assert tr.core_shape(0) == (2, 5, 7)
    tk = Structure.tucker((2, 3), (4, 5))
    assert tk.core_shape(2) == (4, 5)
    assert Structure((4, 5), {(0, 1): 3}).core_shape(1) == (5, 3)
    # with a permutation the phys leg has the size of the mode the core carries
    p = Structure.tr((2, 3, 4), (5, 6, 7), perm=(2, 0, 1))
    assert p.core_shape(0) == (4, 5, 7) and p.core_shape(1) == (2, 5, 6) and p.core_shape(2) == (3, 7, 6)


def test_with_rank_with_perm_eq_hash_key() -> None:
    s = Structure.tt((2, 3, 4), (2, 2))
    s2 = s.with_rank(0, 2, 3)  # creates the closing edge: a ring
    assert s2 == Structure.tr((2, 3, 4), (2, 2, 3))
    assert s2.with_rank(2, 0, 0) == s  # 0 removes it
    assert s.with_rank(1, 0, 5).ranks[0, 1] == 5 and s.ranks[0, 1] == 2  # copy, original unchanged
    p = s.with_perm((1, 2, 0))
    assert p.perm == (1, 2, 0) and s.perm == (0, 1, 2)
    assert p != s and hash(p.with_perm((0, 1, 2))) == hash(s)
    assert p.key == ((2, 3, 4), 3, ((0, 1, 2), (1, 2, 2)), (1, 2, 0))
    assert s == Structure.tt([2, 3, 4], [2, 2]) and hash(s) == hash(Structure.tt((2, 3, 4), (2, 2)))
    assert s != Structure.tt((2, 3, 4), (2, 3))
    assert s != "not a structure"
    assert len({s, Structure.tt((2, 3, 4), (2, 2)), p}) == 2
    assert "perm=(1, 2, 0)" in repr(p) and "params=" in repr(s)


@pytest.mark.parametrize(
    "s",
    [
        Structure.tt((2, 3, 4), (2, 3)),
        Structure.tr((2, 3, 4, 5), (2, 3, 2, 1), perm=(3, 1, 0, 2)),
        Structure.tucker((2, 3, 4), (1, 2, 3)),
        Structure.full((2, 2, 2), rank=2, internal=2),
    ],
)
def test_to_dict_from_dict_round_trip(s) -> None:
    data = s.to_dict()
    assert set(data) == {"shape", "ranks", "perm"}
    back = Structure.from_dict(data)
    assert back == s and hash(back) == hash(s)
    assert back.num_nodes == s.num_nodes and back.perm == s.perm
    np.testing.assert_array_equal(back.ranks, s.ranks)


def test_structure_bad_input() -> None:
    with pytest.raises(ValueError, match=r"dangling edge \(0, 5\): node 5 does not exist"):
        Structure((2, 3, 4), {(0, 1): 2, (0, 5): 2})
    with pytest.raises(ValueError, match="dangling edge .*symmetric"):
        Structure((2, 3), np.array([[0, 2], [3, 0]]))
    with pytest.raises(ValueError, match="dangling edge"):
        Structure((2, 3), {(0, 1, 2): 2})
    with pytest.raises(ValueError, match="ranks must be >= 0"):
        Structure((2, 3), np.array([[0, -1], [-1, 0]]))
    with pytest.raises(ValueError, match="must be an int >= 0"):
        Structure((2, 3), {(0, 1): -2})
    with pytest.raises(ValueError, match="self-loop on node 1"):
        Structure((2, 3), {(1, 1): 2})
    with pytest.raises(ValueError, match="self-loop on node 0"):
        Structure((2, 3), np.array([[1, 2], [2, 0]]))
    with pytest.raises(ValueError, match="internal node 3 has no edges"):
        Structure((2, 3, 4), {(0, 1): 2}, num_nodes=4)
    with pytest.raises(ValueError, match="perm must be a permutation of 0..2"):
        Structure((2, 3, 4), {(0, 1): 2}, perm=(0, 1, 1))
    with pytest.raises(ValueError, match="perm must be a permutation"):
        Structure((2, 3, 4), {(0, 1): 2}, perm=(0, 1))
    with pytest.raises(ValueError, match="perm must be a permutation"):
        Structure.tt((2, 3, 4), (2, 2)).with_perm((0, 1, 3))
    with pytest.raises(ValueError, match="mode sizes must be ints >= 1"):
        Structure((2, 0), {(0, 1): 2})
    with pytest.raises(ValueError, match="non-empty"):
        Structure((), {})
    with pytest.raises(ValueError, match="square matrix"):
        Structure((2, 3, 4), np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="integers"):
        Structure((2, 3), np.array([[0, 1.5], [1.5, 0]]))
    with pytest.raises(ValueError, match="num_nodes"):
        Structure((2, 3, 4), {(0, 1): 2}, num_nodes=2)
    with pytest.raises(ValueError, match="contraction labels"):
        Structure.full((2,) * 10)  # 10 modes + 45 edges > 52
    with pytest.raises(ValueError, match=r"Structure.tt: ranks must be ints >= 1"):
        Structure.tt((2, 3, 4), (2, 0))
    with pytest.raises(ValueError, match=r"Structure.tt: need 2 ranks"):
        Structure.tt((2, 3, 4), (2,))
    with pytest.raises(ValueError, match=r"Structure.tr: ranks must be ints >= 1"):
        Structure.tr((2, 3, 4), (2, -1, 2))
    with pytest.raises(ValueError, match=r"Structure.tr: a ring needs at least 3 modes"):
        Structure.tr((2, 3), (2, 2))
    with pytest.raises(ValueError, match=r"Structure.tucker: ranks must be ints >= 1"):
        Structure.tucker((2, 3, 4), (1, 0, 1))
    with pytest.raises(ValueError, match=r"Structure.tucker: need 3 ranks"):
        Structure.tucker((2, 3, 4), (1, 1))
    with pytest.raises(ValueError, match=r"Structure.full: ranks must be ints >= 1"):
        Structure.full((2, 3), rank=0)
    with pytest.raises(ValueError, match="self-loop"):
        Structure.tt((2, 3), (2,)).with_rank(1, 1, 2)
    with pytest.raises(ValueError, match="ranks must be >= 0"):
        Structure.tt((2, 3), (2,)).with_rank(0, 1, -1)


# ------------------------------------------------------------------ TensorNetwork: contraction


def test_to_dense_triangle_matches_einsum(bk) -> None:
    s = Structure((2, 3, 4), {(0, 1): 2, (0, 2): 3, (1, 2): 4})
    c = _random_cores(np.random.default_rng(0), s)
    assert [g.shape for g in c] == [(2, 2, 3), (3, 2, 4), (4, 3, 4)]
    want = np.einsum("iab,jac,kbc->ijk", *c)
    tn = TensorNetwork(s, [bk.asarray(g) for g in c])
    np.testing.assert_allclose(bk.to_numpy(tn.to_dense()), want, rtol=1e-12, atol=1e-12)
    assert tn.shape == (2, 3, 4) and tn.num_params == s.num_params


def test_to_dense_internal_node_matches_einsum(bk) -> None:
    # node 3 is internal, joined to 0, 1 and 2; 1 and 2 also share an edge
    s = Structure((2, 3, 4), {(0, 3): 2, (1, 3): 3, (1, 2): 2, (2, 3): 2}, num_nodes=4)
    c = _random_cores(np.random.default_rng(1), s)
    assert [g.shape for g in c] == [(2, 2), (3, 2, 3), (4, 2, 2), (2, 3, 2)]
    want = np.einsum("ia,jbc,kbd,acd->ijk", *c)
    tn = TensorNetwork(s, [bk.asarray(g) for g in c])
    np.testing.assert_allclose(bk.to_numpy(tn.to_dense()), want, rtol=1e-12, atol=1e-12)


def test_entries_match_to_dense(bk) -> None:
    rng = np.random.default_rng(2)
    s = Structure((2, 3, 4, 5), {(0, 4): 2, (1, 4): 3, (2, 3): 2, (3, 4): 2, (0, 2): 2}, perm=(3, 1, 0, 2), num_nodes=5)
    tn = TensorNetwork(s, [bk.asarray(g) for g in _random_cores(rng, s)])
    dense = bk.to_numpy(tn.to_dense())
    assert dense.shape == (2, 3, 4, 5)
    idx = np.stack([rng.integers(0, n, size=17) for n in s.shape], axis=1)
    got = bk.to_numpy(tn.entries(bk.asarray(idx)))
    np.testing.assert_allclose(got, dense[tuple(idx.T)], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("perm", [(2, 0, 3, 1), (1, 0, 2, 3), (3, 2, 1, 0)])
def test_perm_convention(perm) -> None:
    """Core i carries mode perm[i]: the permuted network is the identity-perm network
    (same cores, shape permuted) with its modes moved by the inverse permutation."""
    shape = (2, 3, 4, 5)
    s = Structure.tr(shape, (2, 3, 2, 2), perm=perm)
    cores = _random_cores(np.random.default_rng(3), s)
    ident = Structure.tr(tuple(shape[p] for p in perm), (2, 3, 2, 2))
    x_id = TensorNetwork(ident, cores).to_dense()
    x_p = TensorNetwork(s, cores).to_dense()
    assert x_p.shape == shape
    np.testing.assert_allclose(x_p, np.transpose(x_id, np.argsort(perm)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.transpose(x_p, perm), x_id, rtol=1e-12, atol=1e-12)
    # and by hand: core i's physical label is the letter of mode perm[i]
    m = "ijkl"
    terms = [m[perm[0]] + "ad", m[perm[1]] + "ab", m[perm[2]] + "bc", m[perm[3]] + "dc"]
    np.testing.assert_allclose(x_p, np.einsum(",".join(terms) + "->ijkl", *cores), rtol=1e-12, atol=1e-12)


def test_constructor_errors() -> None:
    s = Structure.tt((2, 3), (2,))
    with pytest.raises(ValueError, match="2 nodes but 1 cores"):
        TensorNetwork(s, [np.zeros((2, 2))])
    with pytest.raises(ValueError, match=r"core 1 has shape \(3, 3\)"):
        TensorNetwork(s, [np.zeros((2, 2)), np.zeros((3, 3))])
    with pytest.raises(TypeError, match="must be a Structure"):
        TensorNetwork("tt", [])


# ------------------------------------------------------------------ conversions


def test_from_tt(bk) -> None:
    x = random_array(np.random.default_rng(4), (3, 4, 2, 5), "float64")
    t = tt_svd(bk.asarray(x))
    tn = TensorNetwork.from_tt(t)
    assert tn.structure == Structure.tt((3, 4, 2, 5), t.ranks[1:-1])
    np.testing.assert_allclose(bk.to_numpy(tn.to_dense()), bk.to_numpy(t.to_dense()), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(bk.to_numpy(tn.to_dense()), x, rtol=1e-10, atol=1e-11)


def test_from_tt_short_trains(bk) -> None:
    rng = np.random.default_rng(5)
    for shape in [(4,), (3, 5)]:
        x = rng.standard_normal(shape)
        tn = TensorNetwork.from_tt(tt_svd(bk.asarray(x)))
        np.testing.assert_allclose(bk.to_numpy(tn.to_dense()), x, rtol=1e-12, atol=1e-12)


def test_from_tr(bk) -> None:
    rng = np.random.default_rng(6)
    ranks = (2, 3, 2, 2)
    shape = (3, 4, 5, 3)
    ring = [random_array(rng, (ranks[k], n, ranks[(k + 1) % 4]), "float64") for k, n in enumerate(shape)]
    want = np.einsum("aib,bjc,ckd,dla->ijkl", *ring)
    t = tr_svd(bk.asarray(want), tol=1e-12)
    tn = TensorNetwork.from_tr(t)
    assert tn.structure.shape == shape
    assert tn.structure.edges == ((0, 1, t.ranks[1]), (0, 3, t.ranks[0]), (1, 2, t.ranks[2]), (2, 3, t.ranks[3]))
    np.testing.assert_allclose(bk.to_numpy(tn.to_dense()), bk.to_numpy(t.to_dense()), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(bk.to_numpy(tn.to_dense()), want, rtol=1e-9, atol=1e-10)


def test_from_tr_three_modes(bk) -> None:
    from tnkit.decompositions.tr import TR

    rng = np.random.default_rng(7)
    ring = [rng.standard_normal(sh) for sh in [(2, 3, 4), (4, 5, 3), (3, 2, 2)]]
    tn = TensorNetwork.from_tr(TR([bk.asarray(g) for g in ring]))
    np.testing.assert_allclose(bk.to_numpy(tn.to_dense()), np.einsum("aib,bjc,cka->ijk", *ring), rtol=1e-12, atol=1e-12)


def test_from_tucker(bk) -> None:
    rng = np.random.default_rng(8)
    x = random_array(rng, (4, 5, 3), "float64")
    t = hosvd(bk.asarray(x), ranks=(2, 3, 2))
    tn = TensorNetwork.from_tucker(t)
    assert tn.structure == Structure.tucker((4, 5, 3), (2, 3, 2))
    np.testing.assert_allclose(bk.to_numpy(tn.to_dense()), bk.to_numpy(t.to_dense()), rtol=1e-11, atol=1e-12)
    core = bk.to_numpy(t.core)
    u = [bk.to_numpy(f) for f in t.factors]
    np.testing.assert_allclose(
        bk.to_numpy(tn.to_dense()), np.einsum("abc,ia,jb,kc->ijk", core, *u), rtol=1e-11, atol=1e-12
    )


@pytest.mark.parametrize("spec", [((0, 1), (2, 3)), (((0, 1), 2), 3), (0, 1, 2, 3), ((3, 1), (0, 2))])
def test_from_ttn(bk, spec) -> None:
    x = random_array(np.random.default_rng(9), (2, 3, 2, 3), "float64")
    tree = Tree(spec)
    y = TTN.from_dense(bk.asarray(x), tree, max_rank=3)
    tn = TensorNetwork.from_ttn(y)
    inner = sum(1 for v in range(tree.num_nodes) if not tree.is_leaf(v))
    assert tn.structure.num_nodes == 4 + inner
    assert len(tn.structure.edges) == tree.num_nodes - 1
    assert tn.num_params == y.num_params()  # the root leg of size 1 is dropped, no entries lost
    np.testing.assert_allclose(bk.to_numpy(tn.to_dense()), bk.to_numpy(y.to_dense()), rtol=1e-11, atol=1e-12)


# ------------------------------------------------------------------ edge surgery


def test_expand_edge_existing_and_new(bk) -> None:
    rng = np.random.default_rng(10)
    s = Structure.tt((3, 4, 5, 3), (2, 2, 2))
    tn = TensorNetwork(s, [bk.asarray(g) for g in _random_cores(rng, s)])
    x = bk.to_numpy(tn.to_dense())
    for noise in (1e-2, 1e-5):
        grown = tn.expand_edge(1, 2, 4, noise=noise, rng=0)
        assert grown.structure == Structure.tt((3, 4, 5, 3), (2, 4, 2))
        for v in range(4):
            assert tuple(grown.cores[v].shape) == grown.structure.core_shape(v)
        err = _rel(bk.to_numpy(grown.to_dense()), x)
        assert 0 < err < 50 * noise
        # the old slices are kept
        np.testing.assert_array_equal(bk.to_numpy(grown.cores[1])[:, :, :2], bk.to_numpy(tn.cores[1]))
        np.testing.assert_array_equal(bk.to_numpy(grown.cores[2])[:, :2, :], bk.to_numpy(tn.cores[2]))
    # a missing edge (0, 3) is created: the TT becomes a ring
    ring = tn.expand_edge(3, 0, 3, noise=1e-6, rng=1)
    assert ring.structure == Structure.tr((3, 4, 5, 3), (2, 2, 2, 3))
    assert tuple(ring.cores[0].shape) == (3, 2, 3) and tuple(ring.cores[3].shape) == (3, 3, 2)
    assert _rel(bk.to_numpy(ring.to_dense()), x) < 1e-4
    # noise 0: exactly the same tensor
    same = tn.expand_edge(0, 2, 2, noise=0.0, rng=2)
    assert same.structure.ranks[0, 2] == 2
    np.testing.assert_allclose(bk.to_numpy(same.to_dense()), x, rtol=1e-12, atol=1e-12)
    # same rank: a copy
    cp = tn.expand_edge(0, 1, 2)
    assert cp.structure == s and cp is not tn
    with pytest.raises(ValueError, match="below the current rank"):
        tn.expand_edge(0, 1, 1)


def test_expand_edge_internal_node(bk) -> None:
    rng = np.random.default_rng(11)
    s = Structure.tucker((3, 4, 5), (2, 2, 2))
    tn = TensorNetwork(s, [bk.asarray(g) for g in _random_cores(rng, s)])
    dense = bk.to_numpy(tn.to_dense())
    grown = tn.expand_edge(3, 1, 4, noise=1e-6, rng=3)
    assert grown.structure == Structure.tucker((3, 4, 5), (2, 4, 2))
    assert _rel(bk.to_numpy(grown.to_dense()), dense) < 1e-4
    linked = tn.expand_edge(0, 2, 2, noise=1e-6, rng=4)
    assert linked.structure.core_shape(0) == (3, 2, 2) and linked.structure.core_shape(2) == (5, 2, 2)
    assert _rel(bk.to_numpy(linked.to_dense()), dense) < 1e-4


def test_truncate_edge_full_rank_is_exact(bk) -> None:
    rng = np.random.default_rng(12)
    s = Structure((2, 3, 4), {(0, 1): 2, (0, 2): 3, (1, 2): 4})  # a loop: truncation is still exact at full rank
    tn = TensorNetwork(s, [bk.asarray(g) for g in _random_cores(rng, s)])
    for i, j in [(0, 1), (2, 0), (1, 2)]:
        out = tn.truncate_edge(i, j, int(s.ranks[i, j]))
        assert out.structure == s
        np.testing.assert_allclose(bk.to_numpy(out.to_dense()), bk.to_numpy(tn.to_dense()), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="rank must be in 1..2"):
        tn.truncate_edge(0, 1, 3)
    with pytest.raises(ValueError, match="rank must be in 1..2"):
        tn.truncate_edge(0, 1, 0)


def test_truncate_edge_exact_rank_unfolding(bk) -> None:
    """A TT edge of rank 4 whose unfolding has rank 2 truncates to 2 without error."""
    rng = np.random.default_rng(13)
    s = Structure.tt((3, 4, 5, 3), (3, 4, 3))
    cores = _random_cores(rng, s)
    cores[1] = np.einsum("iar,rs->ias", cores[1][:, :, :2], rng.standard_normal((2, 4)))  # bond (1, 2) rank 2
    tn = TensorNetwork(s, [bk.asarray(g) for g in cores])
    x = bk.to_numpy(tn.to_dense())
    assert np.linalg.matrix_rank(x.reshape(12, 15)) == 2
    cut = tn.truncate_edge(1, 2, 2)
    assert cut.structure == Structure.tt((3, 4, 5, 3), (3, 2, 3))
    np.testing.assert_allclose(bk.to_numpy(cut.to_dense()), x, rtol=1e-9, atol=1e-10)
    # a tree with an internal node too
    tk = Structure.tucker((3, 4, 5), (3, 3, 3))
    cores = _random_cores(rng, tk)
    cores[1] = cores[1][:, :2] @ rng.standard_normal((2, 3))
    tn = TensorNetwork(tk, [bk.asarray(g) for g in cores])
    cut = tn.truncate_edge(1, 3, 2)
    assert cut.structure == Structure.tucker((3, 4, 5), (3, 2, 3))
    np.testing.assert_allclose(bk.to_numpy(cut.to_dense()), bk.to_numpy(tn.to_dense()), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_truncate_edge_is_best_rank_k(bk, k) -> None:
    """Last edge of a left-orthonormal TT (tt_svd): the rest of the network is orthonormal
    about the edge, so the truncation error is that of the best rank-k approximation of
    the unfolding (modes 0..d-2) x (mode d-1)."""
    x = np.random.default_rng(14).standard_normal((3, 4, 3, 5))
    tn = TensorNetwork.from_tt(tt_svd(bk.asarray(x)))
    assert tn.structure.ranks[2, 3] == 5
    sv = np.linalg.svd(x.reshape(36, 5), compute_uv=False)
    best = math.sqrt(float(np.sum(sv[k:] ** 2)))
    cut = tn.truncate_edge(2, 3, k)
    assert cut.structure.ranks[2, 3] == k
    assert np.linalg.norm(bk.to_numpy(cut.to_dense()) - x) == pytest.approx(best, rel=1e-8)


# ------------------------------------------------------------------ fit: ALS


PLANTED = {
    "tt": Structure.tt((4, 4, 4, 4), (2, 3, 2)),
    "tr": Structure.tr((4, 4, 4, 4), (2, 2, 2, 2)),
    "tucker": Structure.tucker((4, 4, 4, 4), (2, 3, 2, 2)),
    "tr-perm": Structure.tr((3, 4, 5, 4), (2, 2, 2, 2), perm=(2, 0, 3, 1)),
}


@pytest.mark.parametrize("kind", list(PLANTED))
def test_als_recovers_planted(bk, kind) -> None:
    _cpu_only(bk)
    s = PLANTED[kind]
    x = TensorNetwork.random(s, rng=1).to_dense()
    res = fit(bk.asarray(x), s, rng=2, restarts=3, rse_tol=1e-10, n_iter=300)
    assert isinstance(res, FitResult)
    assert res.rse < 1e-8
    assert res.network.structure == s
    got = bk.to_numpy(res.network.to_dense())
    assert _rel(got, x) < 1e-8  # independent of the reported rse
    assert res.rse == pytest.approx(_rel(got, x), rel=1e-3, abs=1e-12)
    assert type(res.network.cores[0]) is type(bk.asarray(x))
    assert res.converged and res.iterations == len(res.history) >= 1
    assert 1 <= len(res.restarts) <= 3 and min(res.restarts) == res.rse
    assert res.seconds > 0


def test_als_history_and_restarts_fields(bk) -> None:
    _cpu_only(bk)
    rng = np.random.default_rng(15)
    x = rng.standard_normal((4, 4, 4))
    s = Structure.tt((4, 4, 4), (2, 2))
    res = fit(bk.asarray(x), s, rng=0, restarts=4, n_iter=15, tol=0.0)
    # not a planted tensor: every restart runs, and the best one is returned
    assert len(res.restarts) == 4
    assert res.rse == min(res.restarts)
    assert res.iterations == 15 and len(res.history) == 15 and not res.converged
    assert res.history[-1] == pytest.approx(res.rse)
    assert all(b <= a * (1 + 1e-10) for a, b in zip(res.history, res.history[1:]))  # ALS is monotone
    assert res.rse == pytest.approx(_rel(bk.to_numpy(res.network.to_dense()), x), rel=1e-10)
    # the best rank-(2, 2) TT cannot beat the best rank-2 approximations of the unfoldings
    sv = np.linalg.svd(x.reshape(4, 16), compute_uv=False)
    assert res.rse >= math.sqrt(np.sum(sv[2:] ** 2)) / np.linalg.norm(x) - 1e-12
    # rse_tol stops at the first restart that reaches it
    planted = TensorNetwork.random(s, rng=3).to_dense()
    done = fit(bk.asarray(planted), s, rng=4, restarts=5, rse_tol=1e-6)
    assert done.rse <= 1e-6 and done.restarts[-1] == done.rse
    assert all(r > 1e-6 for r in done.restarts[:-1])


def test_als_warm_start(bk) -> None:
    _cpu_only(bk)
    s = Structure.tr((4, 4, 4, 4), (2, 2, 2, 2))
    truth = TensorNetwork.random(s, rng=5)
    x = truth.to_dense()
    xb = bk.asarray(x)
    # a start next to the answer converges in very few sweeps (the start stays on the host:
    # cores follow the target)
    near = TensorNetwork(s, [c + 1e-6 * np.random.default_rng(6).standard_normal(c.shape) for c in truth.cores])
    res = fit(xb, near, rng=7, n_iter=50, rse_tol=1e-10)
    cold = fit(xb, s, rng=7, n_iter=50, rse_tol=1e-10)
    assert res.rse < 1e-10 and res.iterations <= 10 and res.iterations < cold.iterations
    assert res.history[0] < 1e-5 < cold.history[0]
    assert type(res.network.cores[0]) is type(xb)
    np.testing.assert_allclose(bk.to_numpy(res.network.to_dense()), x, rtol=1e-8, atol=1e-9)
    # the warm start is used for the first run only: n_iter=1 from the truth is (nearly) exact
    one = fit(xb, truth, n_iter=1, rng=8)
    assert one.rse < 1e-10 and one.iterations == 1
    # warm start on another backend than the target's: cores follow the target
    torch = pytest.importorskip("torch")
    res_t = fit(torch.tensor(x), near, n_iter=20, rse_tol=1e-10)
    assert isinstance(res_t.network.cores[0], torch.Tensor) and res_t.rse < 1e-10


@pytest.mark.parametrize("case", ["tall", "rank_deficient", "wide"])
def test_solve_matches_lstsq(bk, case) -> None:
    """The R-only QR solve (and its pseudo-inverse fallback) equals LAPACK's minimum-norm
    least squares, residual included."""
    rng = np.random.default_rng(21)
    if case == "tall":
        env = rng.standard_normal((60, 8))
    elif case == "rank_deficient":
        env = rng.standard_normal((60, 5)) @ rng.standard_normal((5, 8))  # rank 5 < 8 columns
    else:
        env = rng.standard_normal((6, 8))
    rhs = rng.standard_normal((env.shape[0], 3))
    w, sq = _solve(bk.xp, bk.asarray(env), bk.asarray(rhs), 0.0)
    ref, *_ = np.linalg.lstsq(env, rhs, rcond=None)
    np.testing.assert_allclose(bk.to_numpy(w), ref, atol=1e-9 * np.abs(ref).max())
    assert sq == pytest.approx(float(np.sum((rhs - env @ ref) ** 2)), rel=1e-8, abs=1e-20)


def test_anneal_reaches_exact_triangle_more_often(bk) -> None:
    """Annealed ridge sweeps (then plain ALS) recover a planted loop network from random
    starts where plain ALS stalls in a local minimum; both end in exact fits when they
    succeed, and anneal adds its sweeps to n_iter. The statistics over 8 starts run on
    NumPy; the smaller case for the other libraries is the sweep count of one annealed fit."""
    _cpu_only(bk)
    s = Structure((6, 6, 6, 6), {(0, 1): 3, (1, 2): 3, (0, 2): 3, (2, 3): 2})
    x = TensorNetwork.random(s, rng=30).to_dense()
    if bk.name != "numpy":
        res = fit(bk.asarray(x), s, rng=0, n_iter=5, tol=0.0, anneal=7)
        assert res.iterations == 12 and len(res.history) == 12
        ref = fit(x, s, rng=0, n_iter=5, tol=0.0, anneal=7)
        assert res.rse == pytest.approx(ref.rse, rel=1e-6)
        return
    plain = [fit(x, s, rng=k, n_iter=200, tol=1e-13, rse_tol=1e-9).rse for k in range(8)]
    annealed = [fit(x, s, rng=k, n_iter=200, tol=1e-13, rse_tol=1e-9, anneal=50).rse for k in range(8)]
    assert sum(r <= 1e-9 for r in annealed) >= 6 > 2 >= sum(r <= 1e-9 for r in plain)  # measured: 8 vs 0
    res = fit(x, s, rng=0, n_iter=5, tol=0.0, anneal=7)
    assert res.iterations == 12 and len(res.history) == 12
    with pytest.raises(ValueError, match="anneal must be an int >= 0"):
        fit(x, s, anneal=-1)


def test_masked_completion_planted_tt(bk) -> None:
    _cpu_only(bk)
    s = Structure.tt((5, 5, 5, 5), (2, 2, 2))
    x = TensorNetwork.random(s, rng=9).to_dense()
    mask = np.random.default_rng(10).random(x.shape) < 0.4
    assert 0.35 < mask.mean() < 0.45
    corrupted = np.where(mask, x, 1e3)  # unobserved values must not matter
    cb, mb = bk.asarray(corrupted), bk.asarray(mask)
    res = fit(cb, s, mask=mb, rng=11, restarts=3, rse_tol=1e-10, n_iter=300)
    assert res.rse < 1e-8  # on the observed entries
    got = bk.to_numpy(res.network.to_dense())
    unobs = ~mask
    err_unobs = np.linalg.norm((got - x)[unobs]) / np.linalg.norm(x[unobs])
    assert err_unobs < 1e-6
    assert res.rse == pytest.approx(float(res.network.rse(cb, mb)), rel=1e-6, abs=1e-13)
    assert float(res.network.rse(cb)) > 1  # against the corrupted entries the error is huge


def test_masked_fit_permuted_ring(bk) -> None:
    """Completion where core i carries mode perm[i]: the per-value solves must follow perm."""
    _cpu_only(bk)
    s = Structure.tr((3, 4, 5, 4), (2, 2, 2, 2), perm=(2, 0, 3, 1))
    x = TensorNetwork.random(s, rng=1).to_dense()
    mask = np.random.default_rng(0).random(x.shape) < 0.6
    res = fit(bk.asarray(x), s, mask=bk.asarray(mask), rng=2, restarts=3, rse_tol=1e-10, n_iter=300)
    got = bk.to_numpy(res.network.to_dense())
    assert np.linalg.norm((got - x)[mask]) / np.linalg.norm(x[mask]) < 1e-8
    assert np.linalg.norm((got - x)[~mask]) / np.linalg.norm(x[~mask]) < 1e-6


def test_masked_fit_backends(bk) -> None:
    _cpu_only(bk)
    s = Structure.tucker((4, 4, 4), (2, 2, 2))
    x = TensorNetwork.random(s, rng=12).to_dense()
    mask = np.random.default_rng(13).random(x.shape) < 0.6
    res = fit(bk.asarray(x), s, mask=bk.asarray(mask), rng=14, restarts=3, rse_tol=1e-10, n_iter=300)
    got = bk.to_numpy(res.network.to_dense())
    assert np.linalg.norm((got - x)[mask]) / np.linalg.norm(x[mask]) < 1e-8
    assert np.linalg.norm((got - x)[~mask]) / np.linalg.norm(x[~mask]) < 1e-5


# ------------------------------------------------------------------ fit: gradient


def test_gradient_numpy_and_torch() -> None:
    torch = pytest.importorskip("torch")
    s = Structure.tt((3, 3, 3), (2, 2))
    x = TensorNetwork.random(s, rng=15).to_dense()
    start = TensorNetwork.random(s, rng=16)
    start_err = _rel(start.to_dense(), x)
    res = fit(x, start, method="gradient", n_iter=3000, lr=0.05, rse_tol=1e-4, patience=50)
    assert isinstance(res.network.cores[0], np.ndarray)
    assert res.network.cores[0].dtype == np.float64
    got = _rel(res.network.to_dense(), x)
    assert got < 1e-3 < start_err
    assert res.rse == pytest.approx(got, rel=1e-6)
    assert res.history and res.iterations >= 1 and len(res.restarts) == 1
    res_t = fit(torch.tensor(x), start, method="gradient", n_iter=3000, lr=0.05, rse_tol=1e-4, patience=50)
    assert isinstance(res_t.network.cores[0], torch.Tensor)
    assert not res_t.network.cores[0].requires_grad
    assert _rel(res_t.network.to_dense().numpy(), x) < 1e-3


def test_gradient_masked() -> None:
    pytest.importorskip("torch")
    s = Structure.tt((3, 3, 3), (2, 2))
    x = TensorNetwork.random(s, rng=17).to_dense()
    mask = np.ones(x.shape, dtype=bool)
    mask[0, 0, 0] = mask[1, 2, 1] = False
    corrupted = np.where(mask, x, 100.0)
    res = fit(corrupted, s, mask=mask, method="gradient", rng=18, n_iter=3000, lr=0.05, rse_tol=1e-4, patience=50)
    got = res.network.to_dense()
    assert np.linalg.norm((got - x)[mask]) / np.linalg.norm(x[mask]) < 1e-3


# ------------------------------------------------------------------ fit: errors


def test_fit_bad_input() -> None:
    s = Structure.tt((3, 4), (2,))
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match="target is empty"):
        fit(np.ones((0, 4)), s)
    nan = x.copy()
    nan[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        fit(nan, s)
    with pytest.raises(ValueError, match=r"target shape \(4, 3\) differs from the structure's \(3, 4\)"):
        fit(np.ones((4, 3)), s)
    with pytest.raises(ValueError, match="mask observes no entry"):
        fit(x, s, mask=np.zeros((3, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"mask shape \(4, 3\) differs"):
        fit(x, s, mask=np.ones((4, 3), dtype=bool))
    with pytest.raises(ValueError, match="method must be 'als' or 'gradient', got 'alss'"):
        fit(x, s, method="alss")
    with pytest.raises(ValueError, match="complex"):
        fit(x.astype(complex), s)
    with pytest.raises(ValueError, match="restarts must be an int >= 1"):
        fit(x, s, restarts=0)
    with pytest.raises(ValueError, match="tol must be a finite number"):
        fit(x, s, tol=-1.0)
    with pytest.raises(TypeError, match="must be a Structure or TensorNetwork"):
        fit(x, "tt")
    with pytest.raises(TypeError, match="target must be an array"):
        fit([[1.0]], s)


def test_fit_zero_target(bk) -> None:
    _cpu_only(bk)
    s = Structure.tt((3, 4), (2,))
    res = fit(bk.asarray(np.zeros((3, 4))), s, rng=0)
    assert res.rse == 0.0
    np.testing.assert_array_equal(bk.to_numpy(res.network.to_dense()), np.zeros((3, 4)))
