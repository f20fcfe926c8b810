"""tnkit.contract against numpy.einsum (a dense reference it does not call) on every backend."""

from __future__ import annotations

import doctest
import importlib
import string

import numpy as np
import opt_einsum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import random_array, rtol_for
from tnkit.backend import device_of, namespace
from tnkit.contract import cache_info, clear_cache, contract, contraction_plan


def _reference(subscripts: str, host: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """numpy.einsum in double precision, and the sum of |terms| that bounds rounding error."""
    wide = [h.astype(np.complex128 if np.iscomplexobj(h) else np.float64) for h in host]
    ref = np.einsum(subscripts, *wide)
    bound = np.einsum(subscripts, *[np.abs(w) for w in wide])
    return np.asarray(ref), np.asarray(bound)


def _check(bk, dtype: str, subscripts: str, shapes: list[tuple[int, ...]], seed: int = 0, **kw):
    rng = np.random.default_rng(seed)
    host = [random_array(rng, s, dtype) for s in shapes]
    arrays = [bk.asarray(h) for h in host]
    out = contract(subscripts, *arrays, **kw)
    assert namespace(out) is namespace(arrays[0])
    assert device_of(out) == device_of(arrays[0])
    got = bk.to_numpy(out)
    ref, bound = _reference(subscripts, host)
    assert got.dtype == np.dtype(dtype)
    assert got.shape == ref.shape
    err = np.abs(got - ref)
    # Rounding error of a sum of products is bounded relative to the sum of |products|.
    assert np.all(err <= rtol_for(dtype) * bound), f"max error {err.max()} for {subscripts}"
    return got


# --------------------------------------------------------------------------------------
# Named cases on every backend and dtype


def test_matrix_chain(bk, dtype):
    _check(bk, dtype, "ab,bc,cd,de->ae", [(3, 5), (5, 4), (4, 6), (6, 2)])


def test_trace(bk, dtype):
    _check(bk, dtype, "ii->", [(5, 5)])
    _check(bk, dtype, "iij->j", [(4, 4, 3)])
    _check(bk, dtype, "ijji", [(3, 2, 2, 3)])


def test_diagonal_kept_in_output(bk, dtype):
    _check(bk, dtype, "ii->i", [(4, 4)])
    _check(bk, dtype, "aab,bc->ac", [(3, 3, 4), (4, 2)])


def test_outer_product(bk, dtype):
    _check(bk, dtype, "i,j->ij", [(3,), (4,)])
    _check(bk, dtype, "ab,cd->cadb", [(2, 3), (4, 1)])


def test_batch_hadamard_index(bk, dtype):
    _check(bk, dtype, "bij,bjk->bik", [(3, 4, 5), (3, 5, 2)])
    _check(bk, dtype, "ij,ij->ij", [(4, 5), (4, 5)])
    _check(bk, dtype, "xaiy,ybj,xay->abij", [(2, 3, 4, 5), (5, 3, 2), (2, 3, 5)])


def test_transpose_only(bk, dtype):
    got = _check(bk, dtype, "ijk->kij", [(2, 3, 4)])
    assert got.shape == (4, 2, 3)


def test_sum_over_single_operand_index(bk, dtype):
    _check(bk, dtype, "ijk->j", [(2, 3, 4)])
    _check(bk, dtype, "ab,bc->c", [(3, 4), (4, 5)])


def test_implicit_output(bk, dtype):
    got = _check(bk, dtype, "ba,cb", [(3, 4), (5, 3)])
    assert got.shape == (4, 5)  # "ac": sorted indices that occur once
    _check(bk, dtype, "ij,jk", [(2, 3), (3, 4)])
    _check(bk, dtype, "ij,ij", [(2, 3), (2, 3)])


def test_scalar_operand(bk, dtype):
    _check(bk, dtype, "ab,,bc->ac", [(2, 3), (), (3, 4)])


def test_mps_sandwich(bk, dtype):
    """<psi|O|psi>-like six-tensor network: two MPS layers around a boundary."""
    chi, d = 5, 3
    _check(
        bk,
        dtype,
        "ab,acd,bce,dfg,efh,gh->",
        [(chi, chi), (chi, d, chi), (chi, d, chi), (chi, d, chi), (chi, d, chi), (chi, chi)],
    )


def test_mps_open_output(bk, dtype):
    chi, d = 4, 2
    _check(
        bk,
        dtype,
        "pa,aqb,brc,csd,dt->pqrst",
        [(d, chi), (chi, d, chi), (chi, d, chi), (chi, d, chi), (chi, d)],
    )


@pytest.mark.parametrize("optimize", ["greedy", "optimal", "dp", False, [(0, 2), (0, 1)]])
def test_path_strategies_agree(bk, optimize):
    _check(bk, "float64", "ab,cd,bc->ad", [(3, 4), (5, 2), (4, 5)], optimize=optimize)


def test_mixed_dtypes_promote(bk):
    rng = np.random.default_rng(1)
    a = bk.asarray(random_array(rng, (3, 4), "float32"))
    b = bk.asarray(random_array(rng, (4, 2), "float64"))
    out = contract("ij,jk->ik", a, b)
    assert bk.to_numpy(out).dtype == np.float64
    ref = bk.to_numpy(a).astype(np.float64) @ bk.to_numpy(b)
    np.testing.assert_allclose(bk.to_numpy(out), ref, rtol=rtol_for("float64"))


def test_more_labels_than_native_einsum_accepts(bk):
    """A step with 54 distinct indices (beyond a-zA-Z) runs through the standard-only path."""
    greek = [chr(c) for c in range(0x3B1, 0x3B1 + 25)] + [chr(c) for c in range(0x391, 0x391 + 17)]
    labels = list(string.ascii_lowercase) + greek[:28]
    left, right = "".join(labels[:27]), "".join(labels[27:])
    a = bk.asarray(np.full((1,) * 27, 2.0))
    b = bk.asarray(np.full((1,) * 27, 3.0))
    out = bk.to_numpy(contract(f"{left},{right}->{right}{left}", a, b))
    assert out.shape == (1,) * 54
    assert out.reshape(()) == 6.0


# --------------------------------------------------------------------------------------
# Property: random networks agree with numpy.einsum


@st.composite
def networks(draw) -> tuple[str, list[tuple[int, ...]]]:
    n_labels = draw(st.integers(1, 7))
    labels = string.ascii_letters[:n_labels]
    dims = {lab: draw(st.integers(1, 4)) for lab in labels}
    n_operands = draw(st.integers(2, 6))
    terms = ["".join(draw(st.lists(st.sampled_from(labels), min_size=0, max_size=4))) for _ in range(n_operands)]
    used = sorted(set("".join(terms)))
    output = "".join(draw(st.lists(st.sampled_from(used), unique=True))) if used else ""
    shapes = [tuple(dims[lab] for lab in term) for term in terms]
    return ",".join(terms) + "->" + output, shapes


@given(network=networks(), seed=st.integers(0, 2**16))
def test_matches_numpy_einsum_on_random_networks(bk, network, seed):
    subscripts, shapes = network
    _check(bk, "float64", subscripts, shapes, seed=seed)


# --------------------------------------------------------------------------------------
# Errors


def test_wrong_operand_count():
    with pytest.raises(ValueError, match="2 operand term.*3 array"):
        contract("ij,jk->ik", np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2)))


def test_dimension_mismatch_names_index_and_sizes():
    with pytest.raises(ValueError, match=r"index 'j' has size 3 .* and 4"):
        contract("ij,jk->ik", np.ones((2, 3)), np.ones((4, 5)))


def test_axis_count_mismatch():
    with pytest.raises(ValueError, match="operand 1 has 3 axes"):
        contract("ij,jk->ik", np.ones((2, 3)), np.ones((3, 4, 5)))


@pytest.mark.parametrize(
    ("subscripts", "message"),
    [
        ("...ij,jk->ik", "ellipsis"),
        ("ij,jk->iz", "'z' .* appears in no input"),
        ("ij,jk->ii", "repeats an index"),
        ("i1,1k->ik", "invalid index '1'"),
        ("ij,jk->i->k", "more than one"),
    ],
)
def test_malformed_expressions(subscripts, message):
    with pytest.raises(ValueError, match=message):
        contract(subscripts, np.ones((2, 2)), np.ones((2, 2)))


def test_non_array_operand():
    with pytest.raises(TypeError, match="operand 1 is a float"):
        contract("ij,->ij", np.ones((2, 2)), 2.0)


def test_mixed_libraries_raise_type_error():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="numpy and torch"):
        contract("ij,jk->ik", np.ones((2, 2)), torch.ones((2, 2)))


# --------------------------------------------------------------------------------------
# Autograd, caching, docs


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_torch_gradient_matches_torch_einsum(dtype):
    torch = pytest.importorskip("torch")
    subscripts = "ab,acd,bce,dfg,efh,gh->"
    shapes = [(3, 3), (3, 2, 4), (3, 2, 4), (4, 2, 3), (4, 2, 3), (3, 3)]
    rng = np.random.default_rng(7)
    host = [random_array(rng, s, dtype) for s in shapes]

    def grads(fn):
        leaves = [torch.tensor(h, requires_grad=True) for h in host]
        value = fn(subscripts, *leaves)
        loss = (value * value.conj()).real if value.is_complex() else value**2
        loss.backward()
        return value.detach().numpy(), [t.grad.numpy() for t in leaves]

    value, ours = grads(contract)
    ref_value, theirs = grads(torch.einsum)
    np.testing.assert_allclose(value, ref_value, rtol=rtol_for(dtype))
    for g, r in zip(ours, theirs):
        np.testing.assert_allclose(g, r, rtol=rtol_for(dtype), atol=rtol_for(dtype) * np.abs(r).max())


def test_plan_is_cached_per_shape_signature():
    clear_cache()
    rng = np.random.default_rng(3)
    shapes = [(4, 5), (5, 6), (6, 3)]
    contract("ab,bc,cd->ad", *[rng.normal(size=s) for s in shapes])
    first = cache_info()
    assert (first.hits, first.misses) == (0, 1)
    contract("ab,bc,cd->ad", *[rng.normal(size=s) for s in shapes])
    second = cache_info()
    assert (second.hits, second.misses) == (1, 1)
    contract("ab,bc,cd->ad", rng.normal(size=(2, 5)), *[rng.normal(size=s) for s in shapes[1:]])
    assert cache_info().misses == 2


def test_plan_matches_opt_einsum_cost():
    shapes = [(2, 8), (8, 8), (8, 8)]
    plan = contraction_plan("ab,bc,cd->ad", *shapes)
    _, info = opt_einsum.contract_path("ab,bc,cd->ad", *shapes, shapes=True)
    assert plan.flops == info.opt_cost
    assert plan.output_shape == (2, 8)
    assert len(plan.steps) == 2


def test_docstring_examples_run():
    module = importlib.import_module("tnkit.contract")
    failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0
    assert failures == 0
