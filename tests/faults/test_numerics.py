"""Numeric and argument faults (issue 22, point 7): extreme magnitudes, NaN/Inf operators and
initial conditions, empty tensors and batches, wrong argument types and dtypes.

Each case asserts the exact behaviour: the result against an independent reference (the
unscaled computation, ``numpy.linalg.svd``, a hand count of the singular values), or the
exception type with a match on its one-line message.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tnkit
from physics.operators.models import FNO, LSM, MgNO
from physics.pde import Burgers1D, NavierStokes2D
from physics.potentials import EGNN, Frames, TensorNet, evaluate, fit, fit_reference_energies
from tnkit.decompositions import cp_als, hooi, hosvd, sthosvd, tr_als, tr_svd, tt_svd
from tnkit.linalg import randomized_svd, truncated_svd, truncation_rank
from tnkit.mps import models
from tnkit.tree import TTN, Tree

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def _one_line(info: pytest.ExceptionInfo[BaseException]) -> None:
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------
# 1. truncated_svd / truncation_rank at extreme magnitudes

# Well separated singular values (no cutoff below sits near a rank boundary); at 1e154 the
# sum of their squares, 1.1e309, is beyond float64.
_S = 3.0 * np.array([1.0, 0.3, 0.1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4])
_CUTOFFS = {"rel": 5e-3, "abs": 5e-3, "discarded": 2e-5, "rel_discarded": 1e-3}


def _matrix_with_spectrum(s: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(7)
    u, _ = np.linalg.qr(rng.standard_normal((10, s.size)))
    v, _ = np.linalg.qr(rng.standard_normal((9, s.size)))
    return (u * s) @ v.T


def _reference_rank(s: np.ndarray, cutoff: float, mode: str) -> int:
    """The rank by the definitions in truncated_svd's docstring, counted by hand."""
    if mode == "rel":
        return sum(1 for v in s if v > cutoff * s[0])
    if mode == "abs":
        return sum(1 for v in s if v > cutoff)
    budget = cutoff if mode == "discarded" else cutoff * sum(v * v for v in s)
    return next(k for k in range(1, s.size + 1) if sum(v * v for v in s[k:]) <= budget)


def _scaled_cutoff(mode: str, cutoff: float, scale: float) -> float:
    return cutoff * scale if mode == "abs" else cutoff * scale * scale if mode == "discarded" else cutoff


# "discarded" takes an absolute squared budget: only scales whose square float64 holds.
_SVD_CASES = [
    (mode, scale)
    for mode in _CUTOFFS
    for scale in (1e154, 1e-154, 1e300, 1e-300)
    if mode != "discarded" or abs(math.log10(scale)) < 154.5
]


@pytest.mark.parametrize(("mode", "scale"), _SVD_CASES)
def test_truncated_svd_rank_is_scale_free(bk, mode, scale):
    a = _matrix_with_spectrum(_S)
    want = _reference_rank(_S, _CUTOFFS[mode], mode)
    assert 2 <= want <= 6  # the case is not decided by the "keep at least one" rule
    u, s, vh, dw = truncated_svd(
        bk.asarray(a * scale), cutoff=_scaled_cutoff(mode, _CUTOFFS[mode], scale), cutoff_mode=mode
    )
    assert s.shape[0] == want
    got = float(bk.to_numpy(dw))
    tail = float(np.sum(np.linalg.svd(a, compute_uv=False)[want:] ** 2))  # LAPACK on the unscaled matrix
    exact = tail * scale * scale  # a Python float: inf or 0 where float64 cannot hold it
    if math.isinf(exact):
        assert got == math.inf  # only where the weight itself exceeds float64, as documented
    elif exact > 1e-305:
        assert got == pytest.approx(exact, rel=1e-9)
    else:
        assert got <= 1e-305


@pytest.mark.parametrize(
    ("mode", "scale"),
    [("rel_discarded", 1e200), ("rel_discarded", 1e-200), ("discarded", 1e154), ("discarded", 1e-154)],
)
def test_truncation_rank_host_is_scale_free(mode, scale):
    cutoff = _scaled_cutoff(mode, _CUTOFFS[mode], scale)
    assert truncation_rank(_S * scale, None, cutoff, mode) == _reference_rank(_S, _CUTOFFS[mode], mode)


# --------------------------------------------------------------------------------------
# 2. tol-driven decompositions at extreme magnitudes

_SCALES = [1e155, 1e-155, 1e300, 1e-300]
_TOL = 1e-3


def _graded_tensor() -> np.ndarray:
    """CP rank 3 with weights 1, 1e-2, 1e-5: tol = 1e-3 keeps exactly two terms."""
    rng = np.random.default_rng(3)
    a, b, c = (np.linalg.qr(rng.standard_normal((n, 3)))[0] for n in (6, 7, 5))
    return np.einsum("r,ir,jr,kr->ijk", np.array([1.0, 1e-2, 1e-5]), a, b, c)


@pytest.mark.parametrize("scale", _SCALES)
def test_tt_svd_tol_any_magnitude(bk, scale):
    x = _graded_tensor()
    ref = tt_svd(bk.asarray(x), tol=_TOL)
    assert ref.ranks == (1, 2, 2, 1)
    got = tt_svd(bk.asarray(x * scale), tol=_TOL)
    assert got.ranks == ref.ranks
    err = np.linalg.norm(bk.to_numpy(got.to_dense()) / scale - x) / np.linalg.norm(x)
    assert err <= _TOL


@pytest.mark.parametrize("scale", _SCALES)
def test_sthosvd_tol_any_magnitude(bk, scale):
    x = _graded_tensor()
    ref = sthosvd(bk.asarray(x), tol=_TOL)
    assert ref.ranks == (2, 2, 2)
    got = sthosvd(bk.asarray(x * scale), tol=_TOL)
    assert got.ranks == ref.ranks
    err = np.linalg.norm(bk.to_numpy(got.to_dense()) / scale - x) / np.linalg.norm(x)
    assert err <= _TOL


def _norm(x: np.ndarray) -> float:
    """||x||_F without squaring x's entries (np.linalg.norm overflows beyond ~1e154)."""
    m = float(np.abs(x).max())
    return m * float(np.linalg.norm(x / m))


def _tt_round(x):
    t = tt_svd(x)
    return (t + t).round(_TOL) / 2  # ranks doubled by the sum, then rounded back


_TOL_DECOMPOSITIONS = {
    "hosvd": (lambda x: hosvd(x, tol=_TOL), lambda t: t.ranks, (2, 2, 2)),
    "tr_svd": (lambda x: tr_svd(x, tol=_TOL), lambda t: tuple(t.bond_dims), (2, 2, 1)),
    "TT.round": (_tt_round, lambda t: t.ranks, (1, 2, 2, 1)),
    "TTN.from_dense": (
        lambda x: TTN.from_dense(x, Tree.balanced(3), tol=_TOL),
        lambda t: t.bond_dims,
        (2, 2, 2, 2),
    ),
    "TTN.from_dense-absolute": (
        lambda x: TTN.from_dense(x, Tree.balanced(3), tol=_TOL * _norm(x), relative=False),
        lambda t: t.bond_dims,
        (2, 2, 2, 2),
    ),
    "TTN.truncate": (
        lambda x: TTN.from_dense(x, Tree.balanced(3)).truncate(tol=_TOL),
        lambda t: t.bond_dims,
        (2, 2, 2, 2),
    ),
}


@pytest.mark.parametrize("scale", [1e155, 1e-155, 1e300])
@pytest.mark.parametrize("name", list(_TOL_DECOMPOSITIONS))
def test_tol_decompositions_any_magnitude(name, scale):
    make, ranks_of, want = _TOL_DECOMPOSITIONS[name]
    x = _graded_tensor()
    ref = make(x)
    assert ranks_of(ref) == want
    got = make(x * scale)
    assert ranks_of(got) == ranks_of(ref)
    err = np.linalg.norm(np.asarray(got.to_dense()) / scale - x) / np.linalg.norm(x)
    assert err <= _TOL


@pytest.mark.parametrize("scale", [1e155, 1e-155, 1e300])
def test_cp_als_and_hooi_any_magnitude(scale):
    x = _graded_tensor()
    for fit_ in (lambda y: cp_als(y, 2, rng=0, tol=1e-10), lambda y: hooi(y, ranks=2)):
        ref = np.asarray(fit_(x).to_dense())
        got = np.asarray(fit_(x * scale).to_dense()) / scale
        assert np.linalg.norm(ref - x) <= 2e-2 * np.linalg.norm(x)  # two of the three terms
        assert np.allclose(got, ref, rtol=0, atol=1e-8 * np.abs(x).max())


# --------------------------------------------------------------------------------------
# 3. Hermiticity of NaN / huge / tiny MPOs


def _heisenberg_tensors() -> list[np.ndarray]:
    return [np.array(w) for w in models.heisenberg(4).tensors]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("entry", ["dmrg", "MPO.is_hermitian", "tdvp"])
def test_non_finite_mpo_is_named(entry, bad):
    tensors = _heisenberg_tensors()
    tensors[2][0, 0, 0, 0] = bad
    h = tnkit.MPO(tensors)
    with pytest.raises(ValueError, match=r"the operator \(MPO site 2\) contains NaN or Inf") as info:
        if entry == "dmrg":
            tnkit.dmrg(h, bond_dims=4, rng=0)
        elif entry == "tdvp":
            tnkit.tdvp(tnkit.MPS.product([0, 1, 0, 1], local_dim=2), h, 0.1, 0.1)
        else:
            h.is_hermitian()
    assert str(info.value).startswith(entry)
    _one_line(info)


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e154])
@pytest.mark.parametrize("hermitian", [True, False])
def test_hermiticity_is_scale_free(scale, hermitian):
    tensors = _heisenberg_tensors()
    if not hermitian:
        tensors[1] = tensors[1].copy()
        tensors[1][1, 0, 1, 0] += 0.5  # one asymmetric entry of a local operator
    assert tnkit.MPO(tensors).is_hermitian() is hermitian  # the reference: the unscaled operator
    tensors[0] = tensors[0] * scale
    assert tnkit.MPO(tensors).is_hermitian() is hermitian


# --------------------------------------------------------------------------------------
# 4. NaN initial conditions of the spectral solvers


@pytest.mark.parametrize(
    ("solver", "state", "bad"),
    [
        (NavierStokes2D(16, 1e-3, dt=1e-3), "vorticity", float("nan")),
        (NavierStokes2D(16, 1e-3, dt=1e-3), "vorticity", float("inf")),
        (Burgers1D(16, 1e-2, dt=1e-3), "velocity", float("nan")),
    ],
    ids=["ns-nan", "ns-inf", "burgers-nan"],
)
def test_non_finite_initial_state_is_not_blamed_on_dt(solver, state, bad):
    w0 = np.zeros((solver.n,) * solver.dims)
    w0[(1,) * solver.dims] = bad
    with pytest.raises(ValueError, match=f"the initial {state} has NaN or Inf values") as info:
        solver.solve(w0, 10 * solver.dt)
    assert "dt" not in str(info.value)
    _one_line(info)


# --------------------------------------------------------------------------------------
# 5. Empty tensors and batches


def _empty(shape):
    return np.zeros(shape)


_EMPTY_TENSOR_CASES = {
    "tt_svd": (lambda: tt_svd(_empty((3, 0, 2)), tol=1e-3), "tt_svd: x is empty", "axis 1"),
    "sthosvd": (lambda: sthosvd(_empty((0, 3, 2)), tol=0.1), "sthosvd: x is empty", "axis 0"),
    "hosvd": (lambda: hosvd(_empty((3, 2, 0)), tol=0.1), "hosvd: x is empty", "axis 2"),
    "hooi": (lambda: hooi(_empty((3, 0, 2)), ranks=1), "hooi: x is empty", "axis 1"),
    "cp_als": (lambda: cp_als(_empty((3, 0)), 1), "cp_als: x is empty", "axis 1"),
    "tr_svd": (lambda: tr_svd(_empty((0, 3, 2)), tol=0.1), "tr_svd: x is empty", "axis 0"),
    "tr_als": (lambda: tr_als(_empty((3, 0, 2)), (1, 1, 1)), "tr_als: x is empty", "axis 1"),
    "truncated_svd": (lambda: truncated_svd(_empty((0, 4)), cutoff=1e-3), "truncated_svd: a is empty", "axis 0"),
    "randomized_svd": (lambda: randomized_svd(_empty((4, 0)), 1), "randomized_svd: a is empty", "axis 1"),
    "TTN.from_dense": (
        lambda: TTN.from_dense(_empty((2, 0, 2)), Tree.balanced(3)),
        "TTN.from_dense: x is empty",
        "axis 1",
    ),
    "MPS.from_dense": (lambda: tnkit.MPS.from_dense(_empty((0,)), 2), "MPS.from_dense: psi is empty", "axis 0"),
    "NavierStokes2D.solve": (
        lambda: NavierStokes2D(16, 1e-3, dt=1e-3).solve(_empty((0, 16, 16)), 1e-3),
        "NavierStokes2D: the initial state is empty",
        "axis 0",
    ),
}


@pytest.mark.parametrize("name", list(_EMPTY_TENSOR_CASES))
def test_empty_tensor_is_named(name):
    call, start, axis = _EMPTY_TENSOR_CASES[name]
    with pytest.raises(ValueError, match=f"^{start}: it has a zero-length {axis}") as info:
        call()
    _one_line(info)


@pytest.mark.parametrize("model", [FNO(1, 1, (4, 4), hidden_channels=4), MgNO(1, 1), LSM(1, 1)], ids=type)
def test_operator_empty_batch_is_named(model):
    with pytest.raises(ValueError, match=r"x is empty: it has a zero-length axis 0 \(shape \(0, 1, 16, 16\)\)") as info:
        model(torch.zeros(0, 1, 16, 16))
    assert str(info.value).startswith(type(model).__name__)
    _one_line(info)


def _frames() -> Frames:
    return Frames.from_arrays(
        [1, 1], np.array([[[0.0, 0, 0], [0.75, 0, 0]]] * 2), [-1.0, -1.1], forces=np.zeros((2, 2, 3))
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m, f: evaluate(m, f[0:0]), r"^evaluate: frames is empty \(0 frames\)"),
        (lambda m, f: fit(m, f, f[0:0], epochs=1), r"^fit: validation is empty \(0 frames\)"),
        (lambda m, f: m.fit_reference_energies([], []), r"^fit_reference_energies: numbers is empty \(0 structures\)"),
        (lambda m, f: fit_reference_energies([], []), r"^fit_reference_energies: numbers is empty \(0 structures\)"),
    ],
    ids=["evaluate", "fit-validation", "Potential.fit_reference_energies", "fit_reference_energies"],
)
def test_potential_empty_dataset_is_named(call, match):
    model = TensorNet(8, 1, 4, elements=(1,)).double()
    with pytest.raises(ValueError, match=match) as info:
        call(model, _frames())
    _one_line(info)


# --------------------------------------------------------------------------------------
# 6. dmrg with something other than an MPO


@pytest.mark.parametrize(
    ("make", "kind", "match"),
    [
        (lambda: np.eye(16), "h", r"dmrg: h must be an MPO, got ndarray; build one with tnkit\.MPO\.from_opsum"),
        (lambda: models.heisenberg(4).opsum, "h", r"dmrg: h is an OpSum; pass its MPO, tnkit\.MPO\.from_opsum\(h\)"),
        (lambda: list(models.heisenberg(4).tensors), "h", r"dmrg: h must be an MPO, got list"),
        (lambda: np.ones(16) / 4, "psi0", r"dmrg: psi0 must be an MPS or None, got ndarray"),
    ],
    ids=["ndarray", "OpSum", "list", "psi0-ndarray"],
)
def test_dmrg_names_what_to_pass(make, kind, match):
    arg = make()
    with pytest.raises(TypeError, match=match) as info:
        if kind == "h":
            tnkit.dmrg(arg, bond_dims=4)
        else:
            tnkit.dmrg(models.heisenberg(4), arg, bond_dims=4)
    _one_line(info)


def test_opsum_conversion_named_by_dmrg_works():
    opsum = models.heisenberg(4).opsum
    res = tnkit.dmrg(tnkit.MPO.from_opsum(opsum), bond_dims=8, rng=0)
    exact = np.linalg.eigvalsh(opsum.to_dense())[0]
    assert res.energy == pytest.approx(exact, abs=1e-8)


# --------------------------------------------------------------------------------------
# 7. Position and input dtypes of the potentials and operators

_WATER = [[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]]


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("cls", [TensorNet, EGNN], ids=lambda c: c.__name__)
def test_potential_positions_dtype(cls, dtype):
    model = cls(cutoff=4.0, elements=(1, 8))
    positions = torch.tensor(_WATER, dtype=torch.float64).round().to(dtype)
    name = str(dtype).removeprefix("torch.")
    with pytest.raises(
        ValueError,
        match=f"^{cls.__name__}: positions must be a float32 or float64 tensor, got torch.{name}; "
        r"convert with positions\.double\(\) or positions\.float\(\)$",
    ) as info:
        model(torch.tensor([8, 1, 1]), positions)
    _one_line(info)
    ok = model(torch.tensor([8, 1, 1]), positions.to(torch.float32))  # the suggested conversion works
    assert torch.isfinite(ok["energy"]).all()


@pytest.mark.parametrize(
    ("dtype", "match"),
    [
        (torch.float16, r"inputs of dtype torch\.float16 are not supported; pass torch\.float32"),
        (torch.bfloat16, r"inputs of dtype torch\.bfloat16 are not supported; pass torch\.float32"),
        (torch.float64, r"the input has dtype torch\.float64 but the model torch\.float32"),
    ],
    ids=["float16", "bfloat16", "float64"],
)
@pytest.mark.parametrize("model", [FNO(1, 1, (4, 4), hidden_channels=4), MgNO(1, 1), LSM(1, 1)], ids=type)
def test_operator_input_dtype(model, dtype, match):
    x = torch.randn(2, 1, 16, 16)
    with pytest.raises(TypeError, match=f"^{type(model).__name__}: {match}") as info:
        model(x.to(dtype))
    _one_line(info)
    assert model(x).dtype == torch.float32  # the supported dtype runs
    with torch.autocast("cpu", dtype=torch.bfloat16):  # mixed precision stays allowed
        assert torch.isfinite(model(x)).all()
