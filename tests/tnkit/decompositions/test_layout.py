"""Input layout: decompositions pay at most one copy into C order, and give the same
result for Fortran-ordered and permuted inputs as for the same values in C order."""

from __future__ import annotations

import numpy as np
import pytest

import tnkit
from tnkit import backend

RNG = np.random.default_rng(23)
X = np.einsum("ir,jr,kr->ijk", *(RNG.standard_normal((n, 3)) for n in (9, 10, 11))) + 1e-3 * RNG.standard_normal(
    (9, 10, 11)
)
LAYOUTS = {
    "fortran": np.asfortranarray(X),
    "permuted view": np.transpose(np.ascontiguousarray(np.transpose(X, (2, 0, 1))), (1, 2, 0)),
}
CALLS = {
    "tt_svd": lambda x: tnkit.tt_svd(x, max_rank=4).cores,
    "sthosvd": lambda x: [*tnkit.sthosvd(x, (3, 3, 3)).factors, tnkit.sthosvd(x, (3, 3, 3)).core],
    "hosvd": lambda x: [*tnkit.hosvd(x, (3, 3, 3)).factors],
    "hooi": lambda x: [*tnkit.hooi(x, (3, 3, 3)).factors, tnkit.hooi(x, (3, 3, 3)).core],
    "cp_als": lambda x: tnkit.cp_als(x, 3, rng=0, n_iter_max=5).factors,
    "tr_svd": lambda x: tnkit.tr_svd(x, ranks=(1, 3, 3)).cores,
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", sorted(CALLS))
def test_other_layouts_give_the_c_order_result(name, layout) -> None:
    assert not LAYOUTS[layout].flags["C_CONTIGUOUS"]
    for got, want in zip(CALLS[name](LAYOUTS[layout]), CALLS[name](X)):
        np.testing.assert_array_equal(got, want)


def test_c_contiguous_copies_only_when_needed(bk) -> None:
    x = bk.asarray(X)
    assert backend.c_contiguous(x) is x  # already in C order: no copy
    if bk.name in ("numpy", "torch"):
        t = x.T if bk.name == "numpy" else x.permute(2, 1, 0)
        out = backend.c_contiguous(t)
        assert (out.flags["C_CONTIGUOUS"] if bk.name == "numpy" else out.is_contiguous()) and out is not t
        np.testing.assert_array_equal(bk.to_numpy(out), X.T)
