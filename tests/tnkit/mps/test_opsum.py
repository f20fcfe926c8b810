"""OpSum: exact sparse matrices and bond Hamiltonians against an independent dense build."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from tests.conftest import random_array
from tnkit.mps import models
from tnkit.mps.opsum import OpSum


def _dense_term(dims, sites, ops, coef):
    factors = [np.eye(d) for d in dims]
    for s, op in zip(sites, ops):
        factors[s] = factors[s] @ op
    return coef * functools.reduce(np.kron, factors)


def _random_opsum(rng, dims, n_terms, max_range, cplx):
    o = OpSum(dims)
    dense = np.zeros((int(np.prod(dims)),) * 2, dtype=complex)
    L = len(dims)
    for _ in range(n_terms):
        first = int(rng.integers(0, L))
        width = int(rng.integers(0, max_range + 1))
        last = min(L - 1, first + width)
        sites = sorted(set([first, last] + [int(s) for s in rng.integers(first, last + 1, size=2)]))
        ops = [random_array(rng, (dims[s], dims[s]), "complex128" if cplx else "float64") for s in sites]
        coef = complex(rng.standard_normal(), rng.standard_normal() if cplx else 0.0)
        o.add(coef, *zip(ops, sites))
        dense += _dense_term(dims, sites, ops, coef)
    return o, dense


@pytest.mark.parametrize("cplx", [False, True])
def test_to_sparse_matches_dense_kronecker(cplx: bool) -> None:
    rng = np.random.default_rng(0)
    dims = [2, 3, 2, 2]
    o, dense = _random_opsum(rng, dims, 12, 3, cplx)
    np.testing.assert_allclose(o.to_sparse().toarray(), dense, atol=1e-12)


def test_same_site_factors_multiply_in_order() -> None:
    s = models.spin_operators(0.5)
    o = OpSum(2, 2).add(1.0, (s["+"], 0), (s["-"], 0))
    np.testing.assert_allclose(o.to_dense(), np.kron(s["+"] @ s["-"], np.eye(2)))


def test_bond_hamiltonians_sum_to_the_operator() -> None:
    h = models.heisenberg(5, h=0.3, delta=0.7).opsum
    bonds = h.bond_hamiltonians()
    total = sum(np.kron(np.kron(np.eye(2**i), b), np.eye(2 ** (5 - i - 2))) for i, b in enumerate(bonds))
    np.testing.assert_allclose(total, h.to_dense(), atol=1e-14)


def test_bad_input_messages() -> None:
    o = OpSum(2, 3)
    with pytest.raises(ValueError, match="operator has shape \\(3, 3\\), site has local dimension 2"):
        o.add(1.0, (np.eye(3), 0))
    with pytest.raises(ValueError, match="outside the chain"):
        o.add(1.0, (np.eye(2), 3))
    with pytest.raises(ValueError, match="NaN or Inf"):
        o.add(1.0, (np.full((2, 2), np.nan), 1))
    o.add(1.0, (np.eye(2), 0), (np.eye(2), 2))
    with pytest.raises(ValueError, match="terms of range 2"):
        o.bond_hamiltonians()
    with pytest.raises(ValueError, match="give length"):
        OpSum(2)


def test_is_hermitian() -> None:
    s = models.spin_operators(0.5)
    assert models.heisenberg(4).opsum.is_hermitian()
    o = OpSum(2, 3).add(1.0, (s["+"], 0), (s["-"], 1))
    assert not o.is_hermitian()
