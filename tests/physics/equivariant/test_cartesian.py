"""Cartesian rank-2 algebra: against hand computations and NumPy, on every array library."""

from __future__ import annotations

import numpy as np
import pytest

from physics.equivariant import (
    decompose,
    frobenius_inner,
    frobenius_norm,
    invariants,
    skew,
    symmetric_traceless,
    tensor_norm,
    trace,
    vector_from_skew,
)


def _orthogonal(rng: np.random.Generator, improper: bool) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if (np.linalg.det(q) < 0) != improper:
        q[:, 0] = -q[:, 0]
    return q


def _tol(dtype: str) -> float:
    return 1e-5 if dtype == "float32" else 1e-13


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_decompose_parts(bk, dtype):
    rng = np.random.default_rng(0)
    host = rng.standard_normal((4, 5, 3, 3))
    X = bk.asarray(host, dtype)
    I, A, S = (bk.to_numpy(p).astype(np.float64) for p in decompose(X))
    tol = _tol(dtype)
    np.testing.assert_allclose(I + A + S, host, atol=tol)
    # I: multiple of the identity with the trace of X
    np.testing.assert_allclose(I, np.trace(host, axis1=-2, axis2=-1)[..., None, None] / 3 * np.eye(3), atol=tol)
    # A antisymmetric, S symmetric and traceless
    np.testing.assert_allclose(A, -np.swapaxes(A, -1, -2), atol=tol)
    np.testing.assert_allclose(S, np.swapaxes(S, -1, -2), atol=tol)
    np.testing.assert_allclose(np.trace(S, axis1=-2, axis2=-1), 0.0, atol=tol)
    # orthogonal under the Frobenius inner product
    for P, Q in ((I, A), (I, S), (A, S)):
        np.testing.assert_allclose(np.sum(P * Q, axis=(-2, -1)), 0.0, atol=10 * tol)
    assert type(decompose(X)[0]) is type(X)


def test_decompose_by_hand():
    import torch

    X = torch.tensor([[2.0, 1.0, 4.0], [3.0, -1.0, 0.0], [0.0, 2.0, 5.0]], dtype=torch.float64)
    I, A, S = decompose(X)
    assert I.tolist() == [[2.0, 0, 0], [0, 2.0, 0], [0, 0, 2.0]]
    assert A.tolist() == [[0.0, -1.0, 2.0], [1.0, 0.0, -1.0], [-2.0, 1.0, 0.0]]
    assert S.tolist() == [[0.0, 2.0, 2.0], [2.0, -3.0, 1.0], [2.0, 1.0, 3.0]]
    assert float(trace(X)) == 6.0
    assert [float(x) for x in invariants(X)] == [6.0, 12.0, 12.0, 36.0]
    assert float(tensor_norm(X)) == 60.0


@pytest.mark.parametrize("improper", [False, True])
def test_rotation_maps_parts_to_parts(bk, improper):
    rng = np.random.default_rng(1)
    host = rng.standard_normal((6, 3, 3))
    R = _orthogonal(rng, improper)
    rotated = R @ host @ R.T
    parts = [bk.to_numpy(p) for p in decompose(bk.asarray(host, "float64"))]
    parts_rotated = [bk.to_numpy(p) for p in decompose(bk.asarray(rotated, "float64"))]
    for p, q in zip(parts, parts_rotated):
        np.testing.assert_allclose(q, R @ p @ R.T, atol=1e-13)
    for a, b in zip(invariants(bk.asarray(host, "float64")), invariants(bk.asarray(rotated, "float64"))):
        np.testing.assert_allclose(bk.to_numpy(a), bk.to_numpy(b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_skew_is_the_cross_product(bk, dtype):
    rng = np.random.default_rng(2)
    v, u = rng.standard_normal((2, 10, 3))
    M = bk.to_numpy(skew(bk.asarray(v, dtype))).astype(np.float64)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", M, u), np.cross(v, u), atol=10 * _tol(dtype))
    np.testing.assert_allclose(M, -np.swapaxes(M, -1, -2), atol=0)
    np.testing.assert_allclose(bk.to_numpy(vector_from_skew(bk.asarray(M, dtype))), v, atol=_tol(dtype))


def test_skew_by_hand_and_pseudovector_rule():
    import torch

    assert skew(torch.tensor([1.0, 0.0, 0.0])).tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]
    rng = np.random.default_rng(3)
    v = rng.standard_normal(3)
    for improper in (False, True):
        R = _orthogonal(rng, improper)
        lhs = R @ skew(torch.tensor(v)).numpy() @ R.T
        rhs = skew(torch.tensor(np.linalg.det(R) * R @ v)).numpy()
        np.testing.assert_allclose(lhs, rhs, atol=1e-14)
    # the vector of a general matrix is that of its antisymmetric part
    X = torch.tensor(rng.standard_normal((3, 3)))
    torch.testing.assert_close(vector_from_skew(X), vector_from_skew(decompose(X)[1]), rtol=0, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_symmetric_traceless(bk, dtype):
    v = bk.asarray([[1.0, 2.0, 2.0]], dtype)
    expected = np.outer([1, 2, 2], [1, 2, 2]) - 3.0 * np.eye(3)
    np.testing.assert_allclose(bk.to_numpy(symmetric_traceless(v))[0], expected, atol=10 * _tol(dtype))
    np.testing.assert_allclose(bk.to_numpy(symmetric_traceless(v, normalize=True))[0], expected / 9.0, atol=_tol(dtype))
    rng = np.random.default_rng(4)
    w = rng.standard_normal((7, 3))
    S = bk.to_numpy(symmetric_traceless(bk.asarray(w, dtype)))
    # equal to the symmetric traceless part of the outer product
    outer = bk.asarray(np.einsum("ni,nj->nij", w, w), dtype)
    np.testing.assert_allclose(S, bk.to_numpy(decompose(outer)[2]), atol=10 * _tol(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_norms_against_numpy(bk, dtype):
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((2, 8, 3, 3))
    tol = 10 * _tol(dtype)
    np.testing.assert_allclose(
        bk.to_numpy(tensor_norm(bk.asarray(X, dtype))), np.linalg.norm(X, "fro", axis=(-2, -1)) ** 2, rtol=tol
    )
    np.testing.assert_allclose(
        bk.to_numpy(frobenius_norm(bk.asarray(X, dtype))), np.linalg.norm(X, "fro", axis=(-2, -1)), rtol=tol
    )
    np.testing.assert_allclose(
        bk.to_numpy(frobenius_inner(bk.asarray(X, dtype), bk.asarray(Y, dtype))),
        np.einsum("nij,nij->n", X, Y),
        rtol=tol,
        atol=tol,
    )
    total = sum(bk.to_numpy(p) for p in invariants(bk.asarray(X, dtype))[1:])
    np.testing.assert_allclose(total, np.linalg.norm(X, "fro", axis=(-2, -1)) ** 2, rtol=tol)


def test_differentiable():
    torch = pytest.importorskip("torch")
    X = torch.randn(2, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    v = torch.randn(2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: decompose(x), (X,))
    assert torch.autograd.gradcheck(lambda x: invariants(x), (X,))
    assert torch.autograd.gradcheck(lambda x: symmetric_traceless(x, normalize=True), (v,))
    assert torch.autograd.gradcheck(skew, (v,))
    # d|X|^2 / dX = 2 X
    (g,) = torch.autograd.grad(tensor_norm(X).sum(), X)
    torch.testing.assert_close(g, 2 * X.detach())


def test_shape_errors():
    torch = pytest.importorskip("torch")
    for fn in (decompose, trace, tensor_norm, frobenius_norm, invariants, vector_from_skew):
        with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
            fn(torch.zeros(3, 4))
    for fn in (skew, symmetric_traceless):
        with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
            fn(torch.zeros(4))
