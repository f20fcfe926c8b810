"""Tree tensor networks: tree specs and their errors, hierarchical SVD against dense
SVDs of the matricisations, truncation bounds, orthonormality, algebra and inner
products against dense NumPy, expansion, I/O, constructor errors."""

from __future__ import annotations

import numpy as np
import pytest

import tnkit
from tests.conftest import random_array
from tnkit.tree import TTN, Tree

TREES = [
    ((0, 1), (2, 3)),
    (((0, 1), 2), 3),
    (0, 1, 2, 3),
    ((0, (1, 2)), (3,), 4),
]
SHAPES = {4: (2, 3, 2, 3), 5: (2, 3, 2, 2, 3)}


def planted(rng: np.random.Generator, shape: tuple[int, ...], rank: int, dtype: str = "float64") -> np.ndarray:
    """A sum of ``rank`` random product tensors (low rank on every edge)."""
    out = np.zeros(shape, dtype=dtype)
    for _ in range(rank):
        t = np.ones((), dtype=dtype)
        for n in shape:
            t = np.multiply.outer(t, random_array(rng, (n,), dtype))
        out = out + t
    return out


def matricise(x: np.ndarray, modes: tuple[int, ...]) -> np.ndarray:
    rest = [m for m in range(x.ndim) if m not in modes]
    moved = np.transpose(x, list(modes) + rest)
    return moved.reshape(int(np.prod([x.shape[m] for m in modes])), -1)


def assert_orthonormal_nodes(y: TTN, atol: float = 1e-12) -> None:
    for node in y.tree.edges:
        t = tnkit.backend.to_host(y.tensors[node])
        m = t.reshape(-1, t.shape[-1])
        np.testing.assert_allclose(m.conj().T @ m, np.eye(m.shape[1]), atol=atol)


# ------------------------------------------------------------------ trees


def test_tree_constructors_specs() -> None:
    assert Tree.balanced(4).spec == ((0, 1), (2, 3))
    assert Tree.balanced(5).spec == (((0, 1), 2), (3, 4))
    assert Tree.balanced(1).spec == (0,)
    assert Tree.caterpillar(4).spec == (((0, 1), 2), 3)
    assert Tree.caterpillar(2).spec == (0, 1)
    assert Tree.tucker(3).spec == (0, 1, 2)
    t = Tree.balanced(4)
    assert (t.num_modes, t.num_nodes, t.root) == (4, 7, 6)
    assert t.children == ((), (), (0, 1), (), (), (3, 4), (2, 5))
    assert t.parent == (2, 2, 6, 5, 5, 6, -1)
    assert t.mode == (0, 1, -1, 2, 3, -1, -1)
    assert t.leaf_of == (0, 1, 3, 4)
    assert t.modes_below[t.root] == (0, 1, 2, 3)
    assert t.edges == (0, 1, 2, 3, 4, 5)
    assert t.depth() == 2 and Tree.tucker(3).depth() == 1
    # modes need not appear in order
    u = Tree((3, (0, 2), 1))
    assert u.modes_below[u.root] == (3, 0, 2, 1)
    assert u.leaf_of[3] == 0 and u.mode[u.leaf_of[1]] == 1


@pytest.mark.parametrize("spec", TREES + [(3, (0, 2), 1), (0,)])
def test_from_parents_round_trip(spec) -> None:
    t = Tree(spec)
    modes = [m for m in t.mode if m >= 0]
    back = Tree.from_parents(t.parent, modes)
    assert back == t and back.spec == t.spec and back.parent == t.parent
    assert hash(back) == hash(t)


def test_from_parents_default_modes() -> None:
    assert Tree.from_parents([4, 4, 5, 5, 6, 6, -1]).spec == ((0, 1), (2, 3))


@pytest.mark.parametrize(
    "spec, match",
    [
        (((0, 1), (1, 2)), "appears twice"),
        ((0, 2), "missing \\[1\\]"),
        (((0, 1), ()), "at least one child"),
        (0, "root must be an inner node"),
        ((0, -1), "non-negative"),
        ((0, 1.5), "mode number or a sequence"),
    ],
)
def test_tree_bad_specs(spec, match) -> None:
    with pytest.raises(ValueError, match=match):
        Tree(spec)


def test_tree_string_leaf_gives_clear_error() -> None:
    with pytest.raises(ValueError, match="Tree"):
        Tree((0, "a"))


@pytest.mark.parametrize(
    "parents, match",
    [
        ([2, 2, 3, 2], "exactly one root"),  # 2 -> 3 -> 2 cycle, no root
        ([2, 0, 1, -1], "cycle"),
        ([1, 1, -1], "own parent"),
        ([2, 2, -1, -1], "exactly one root"),
        ([2, 7, -1], "outside"),
        ([-1], "root must have children"),
    ],
)
def test_from_parents_errors(parents, match) -> None:
    with pytest.raises(ValueError, match=match):
        Tree.from_parents(parents)


def test_tree_counts_must_be_positive() -> None:
    for make in (Tree.balanced, Tree.caterpillar, Tree.tucker):
        with pytest.raises(ValueError, match="positive integer"):
            make(0)
    with pytest.raises(ValueError, match="modes given"):
        Tree.from_parents([2, 2, -1], [0])


# ------------------------------------------------------------------ hierarchical SVD


@pytest.mark.parametrize("spec", TREES)
@pytest.mark.parametrize("dt", ["float64", "complex128"])
def test_from_dense_exact(bk, spec, dt) -> None:
    tree = Tree(spec)
    rng = np.random.default_rng(1)
    x = random_array(rng, SHAPES[tree.num_modes], dt)
    y = TTN.from_dense(bk.asarray(x), tree)
    assert y.orthonormal and y.dims == x.shape
    np.testing.assert_allclose(bk.to_numpy(y.to_dense()), x, atol=1e-12)
    assert_orthonormal_nodes(y)
    # full-rank bonds: min(rows, cols) of every matricisation
    for node in tree.edges:
        m = matricise(x, tree.modes_below[node])
        assert y.bond_dims[node] == min(m.shape)


@pytest.mark.parametrize("spec", TREES)
def test_from_dense_planted_rank_and_singular_values(bk, spec) -> None:
    tree = Tree(spec)
    rng = np.random.default_rng(2)
    x = planted(rng, SHAPES[tree.num_modes], 2)
    y = TTN.from_dense(bk.asarray(x), tree, tol=1e-12)
    assert max(y.bond_dims) <= 2
    np.testing.assert_allclose(bk.to_numpy(y.to_dense()), x, atol=1e-10)
    z = TTN.from_dense(bk.asarray(random_array(rng, x.shape, "float64")), tree)
    sv = z.edge_singular_values()
    xd = bk.to_numpy(z.to_dense())
    assert set(sv) == set(tree.edges)
    for node in tree.edges:
        ref = np.linalg.svd(matricise(xd, tree.modes_below[node]), compute_uv=False)
        np.testing.assert_allclose(np.sort(sv[node])[::-1], ref[: len(sv[node])], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("tol", [1e-1, 3e-1])
@pytest.mark.parametrize("spec", TREES)
def test_from_dense_tolerance(bk, spec, tol) -> None:
    tree = Tree(spec)
    rng = np.random.default_rng(3)
    x = random_array(rng, SHAPES[tree.num_modes], "complex128")
    xb = bk.asarray(x)
    y = TTN.from_dense(xb, tree, tol=tol)
    err = np.linalg.norm(bk.to_numpy(y.to_dense()) - x)
    assert err <= tol * np.linalg.norm(x) * (1 + 1e-12)
    ya = TTN.from_dense(xb, tree, tol=tol, relative=False)
    assert np.linalg.norm(bk.to_numpy(ya.to_dense()) - x) <= tol * (1 + 1e-12)
    ym = TTN.from_dense(xb, tree, max_rank=2)
    assert max(ym.bond_dims) <= 2


@pytest.mark.parametrize("spec", TREES)
def test_truncate_bounds_and_orthonormality(bk, spec) -> None:
    tree = Tree(spec)
    rng = np.random.default_rng(4)
    dims = SHAPES[tree.num_modes]
    # a non-orthonormal TTN: random tensors of bond 3
    tensors = []
    for node, ch in enumerate(tree.children):
        shape = (dims[tree.mode[node]], 3) if not ch else (3,) * len(ch) + (1 if node == tree.root else 3,)
        tensors.append(bk.asarray(random_array(rng, shape, "float64")))
    y = TTN(tree, tensors)
    assert not y.orthonormal
    dense = bk.to_numpy(y.to_dense())
    o = y.orthonormalize()
    assert o.orthonormal
    assert_orthonormal_nodes(o)
    np.testing.assert_allclose(bk.to_numpy(o.to_dense()), dense, atol=1e-10)
    nrm = np.linalg.norm(dense)
    np.testing.assert_allclose(float(bk.to_numpy(o.norm())), nrm, rtol=1e-12)
    np.testing.assert_allclose(float(bk.to_numpy(y.norm())), nrm, rtol=1e-12)
    for tol, max_rank in [(0.2, None), (None, 2), (0.05, 2), (None, 1)]:
        z = y.truncate(tol, max_rank)
        assert_orthonormal_nodes(z)
        err = np.linalg.norm(bk.to_numpy(z.to_dense()) - dense)
        bound = y.truncation_error_bound(tol, max_rank)
        assert err <= bound * (1 + 1e-10) + 1e-12
        if tol is not None and max_rank is None:
            assert err <= tol * nrm * (1 + 1e-10)
        if max_rank is not None:
            assert max(z.bond_dims) <= max_rank
    # the bound is the discarded tail of the edge singular values
    sv = y.edge_singular_values()
    want = np.sqrt(sum(np.sum(np.sort(s)[::-1][1:] ** 2) for s in sv.values()))
    np.testing.assert_allclose(y.truncation_error_bound(max_rank=1), want, rtol=1e-10)


def test_truncate_recovers_rank_of_sum(bk) -> None:
    rng = np.random.default_rng(5)
    x = planted(rng, (3, 3, 3, 3), 2)
    y = TTN.from_dense(bk.asarray(x), Tree.balanced(4), tol=1e-13)
    s = y + y
    assert max(s.bond_dims) == 4
    exact = s.truncate()  # no tolerance: the same tensor
    np.testing.assert_allclose(bk.to_numpy(exact.to_dense()), 2 * x, atol=1e-10)
    z = s.truncate(1e-12)
    np.testing.assert_allclose(bk.to_numpy(z.to_dense()), 2 * x, atol=1e-10)
    assert max(z.bond_dims) <= 2


# ------------------------------------------------------------------ algebra and inner products


@pytest.mark.parametrize("spec", TREES)
def test_inner_norm_sum_scale(bk, spec) -> None:
    tree = Tree(spec)
    rng = np.random.default_rng(6)
    dims = SHAPES[tree.num_modes]
    xa = random_array(rng, dims, "complex128")
    xb = planted(rng, dims, 2, "complex128")
    a = TTN.from_dense(bk.asarray(xa), tree)
    b = TTN.from_dense(bk.asarray(xb), tree, tol=1e-12)
    np.testing.assert_allclose(complex(bk.to_numpy(a.inner(b))), np.vdot(xa, xb), rtol=1e-11)
    np.testing.assert_allclose(complex(bk.to_numpy(b.inner(a))), np.vdot(xb, xa), rtol=1e-11)
    np.testing.assert_allclose(float(bk.to_numpy(b.norm())), np.linalg.norm(xb), rtol=1e-12)
    s = a + b
    assert s.bond_dims == tuple(p + q for p, q in zip(a.bond_dims, b.bond_dims))
    np.testing.assert_allclose(bk.to_numpy(s.to_dense()), xa + xb, atol=1e-11)
    np.testing.assert_allclose(bk.to_numpy((a - b).to_dense()), xa - xb, atol=1e-11)
    np.testing.assert_allclose(bk.to_numpy((2.5 * b).to_dense()), 2.5 * xb, atol=1e-11)
    np.testing.assert_allclose(bk.to_numpy((b * (1 - 2j)).to_dense()), (1 - 2j) * xb, atol=1e-11)
    np.testing.assert_allclose(bk.to_numpy((-b).to_dense()), -xb, atol=1e-11)
    np.testing.assert_allclose(float(bk.to_numpy(s.norm())), np.linalg.norm(xa + xb), rtol=1e-11)


def test_real_times_complex_scalar_promotes(bk) -> None:
    rng = np.random.default_rng(7)
    x = random_array(rng, (2, 3, 2, 3), "float64")
    y = TTN.from_dense(bk.asarray(x), Tree.balanced(4))
    z = 1j * y
    np.testing.assert_allclose(bk.to_numpy(z.to_dense()), 1j * x, atol=1e-12)


def test_product_and_random(bk) -> None:
    rng = np.random.default_rng(8)
    vs = [random_array(rng, (n,), "float64") for n in (2, 3, 2, 3)]
    tree = Tree.caterpillar(4)
    y = TTN.product([bk.asarray(v) for v in vs], tree)
    ref = np.einsum("i,j,k,l->ijkl", *vs)
    np.testing.assert_allclose(bk.to_numpy(y.to_dense()), ref, atol=1e-12)
    assert y.bond_dims == (1,) * 6
    like = bk.asarray(np.zeros(1))
    r = TTN.random(Tree.balanced(4), [2, 3, 2, 3], 3, like=like, rng=1)
    assert r.orthonormal and max(r.bond_dims) <= 3
    np.testing.assert_allclose(float(bk.to_numpy(r.norm())), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(bk.to_numpy(r.to_dense())), 1.0, rtol=1e-12)
    assert_orthonormal_nodes(r)


@pytest.mark.parametrize("spec", [((0, 1), (2, 3)), (0, 1, 2, 3), ((0, (1, 2)), (3,))])
def test_expand_keeps_tensor(bk, spec) -> None:
    tree = Tree(spec)
    rng = np.random.default_rng(9)
    vs = [random_array(rng, (n,), "complex128") for n in (2, 3, 2, 3)]
    y = TTN.product([bk.asarray(v) for v in vs], tree)
    e = y.expand(4, rng=0)
    assert e.orthonormal
    assert_orthonormal_nodes(e)
    np.testing.assert_allclose(bk.to_numpy(e.to_dense()), np.einsum("i,j,k,l->ijkl", *vs), atol=1e-12)
    dims = (2, 3, 2, 3)
    total = int(np.prod(dims))
    for node in tree.edges:
        below = int(np.prod([dims[m] for m in tree.modes_below[node]]))
        assert y.bond_dims[node] <= e.bond_dims[node] <= 4
        assert e.bond_dims[node] <= min(below, total // below)
    assert max(e.bond_dims) > 1


@pytest.mark.parametrize("dt", ["float64", "complex128"])
def test_io_round_trip(tmp_path, dt) -> None:
    rng = np.random.default_rng(10)
    tree = Tree(((0, (1, 2)), (3,), 4))
    y = TTN.from_dense(random_array(rng, SHAPES[5], dt), tree, tol=0.3)
    tnkit.io.save(tmp_path / "y.h5", y)
    back = tnkit.io.load(tmp_path / "y.h5", schema="ttn")
    assert isinstance(back, TTN) and back.tree == tree
    assert back.bond_dims == y.bond_dims and back.orthonormal
    for a, b in zip(back.tensors, y.tensors):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.to_dense(), y.to_dense())


def test_ttn_constructor_errors() -> None:
    tree = Tree.balanced(4)
    rng = np.random.default_rng(11)
    good = [rng.standard_normal(s) for s in [(2, 2), (2, 2), (2, 2, 3), (2, 2), (2, 2), (2, 2, 3), (3, 3, 1)]]
    TTN(tree, good)
    with pytest.raises(ValueError, match="7 nodes but 6 tensors"):
        TTN(tree, good[:-1])
    bad = list(good)
    bad[5] = rng.standard_normal((2, 2, 4))
    with pytest.raises(ValueError, match="bond between node 6 and its child 5"):
        TTN(tree, bad)
    bad = list(good)
    bad[0] = rng.standard_normal((2, 2, 1))
    with pytest.raises(ValueError, match="node 0 \\(leaf\\) needs a 2-d array"):
        TTN(tree, bad)
    bad = list(good)
    bad[2] = rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match="needs a 3-d array"):
        TTN(tree, bad)
    bad = list(good)
    bad[0] = bad[0].astype(np.float32)
    with pytest.raises(TypeError, match="mixed dtypes"):
        TTN(tree, bad)
    with pytest.raises(TypeError, match="Tree"):
        TTN(((0, 1), (2, 3)), good)


def test_ttn_method_errors() -> None:
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 2, 2, 2))
    y = TTN.from_dense(x, Tree.balanced(4))
    with pytest.raises(ValueError, match="tree has 3 leaves"):
        TTN.from_dense(x, Tree.tucker(3))
    with pytest.raises(ValueError, match="tol must be"):
        TTN.from_dense(x, Tree.balanced(4), tol=-1.0)
    with pytest.raises(ValueError, match="max_rank must be"):
        y.truncate(max_rank=0)
    with pytest.raises(ValueError, match="tol must be"):
        y.truncate(tol=float("nan"))
    with pytest.raises(ValueError, match="same tree"):
        y + TTN.from_dense(x, Tree.caterpillar(4))
    with pytest.raises(ValueError, match="different trees"):
        y.inner(TTN.from_dense(x, Tree.caterpillar(4)))
    with pytest.raises(ValueError, match="3 vectors"):
        TTN.product([np.ones(2)] * 3, Tree.balanced(4))
    with pytest.raises(ValueError, match="max_rank must be"):
        y.expand(0)


def test_tucker_round_trip_and_bug_step(bk) -> None:
    from tnkit import KronOperator, sthosvd
    from tnkit.tree import bug

    rng = np.random.default_rng(7)
    x = bk.asarray(rng.standard_normal((4, 5, 3)))
    t = sthosvd(x, ranks=(2, 2, 2))
    y = TTN.from_tucker(t)
    np.testing.assert_allclose(bk.to_numpy(y.to_dense()), bk.to_numpy(t.to_dense()), atol=1e-12)
    back = y.to_tucker()
    np.testing.assert_allclose(bk.to_numpy(back.to_dense()), bk.to_numpy(t.to_dense()), atol=1e-12)
    # one step of dY/dt = -Y (identity operator): the exact solution is e^{-h} Y
    op = KronOperator([4, 5, 3]).add({}, coef=-1.0)
    out = bug.step(y, op, 0.0, 0.1, method="adaptive", tol=0.0, inner="krylov").to_tucker()
    np.testing.assert_allclose(bk.to_numpy(out.to_dense()), np.exp(-0.1) * bk.to_numpy(t.to_dense()), atol=1e-12)


def test_to_tucker_needs_depth_one_tree() -> None:
    y = TTN.random(Tree.balanced(4), [2, 2, 2, 2], 2, rng=0)
    with pytest.raises(ValueError, match="depth-one"):
        y.to_tucker()
