"""The products of whole functions on the sphere (S² grid, 2D-Fourier Gaunt): equal to the dense CG
contraction and to e3nn on Gaunt-factored weights, refusals, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physics.equivariant._backend_gaunt import GauntBackend, sine_moments
from physics.equivariant._backend_grid import S2GridBackend, SphereProductBackend
from physics.equivariant._backends import DenseBackend, degree_to_path_weights, edge_harmonics
from physics.equivariant._products import Irreps, ProductPlan
from physics.equivariant._tensor_product import TensorProduct


@pytest.fixture(params=[S2GridBackend, GauntBackend], ids=["s2grid", "gaunt"])
def backend_cls(request: pytest.FixtureRequest) -> type[SphereProductBackend]:
    return request.param


# (l1max, l2max, lo_max, mul1, mul2, mul_out); mul_out is mul1 in channelwise mode
CASES = [(2, 2, 2, 3, 1, 3), (3, 2, 4, 2, 2, 3), (6, 6, 6, 2, 1, 2), (1, 3, 2, 2, 3, 4), (0, 0, 0, 1, 1, 1)]


def _plan(case: tuple[int, ...], mode: str) -> ProductPlan:
    l1, l2, lo, u, v, w = case
    w = u if mode == "uvu" else w
    return ProductPlan(
        Irreps.spherical_harmonics(l1, u),
        Irreps.spherical_harmonics(l2, v),
        Irreps.spherical_harmonics(lo, w),
        mode=mode,
        weighting="degree",
    )


def _inputs(plan: ProductPlan, Z: int, B: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x1 = torch.randn(Z, plan.irreps_in1.dim, dtype=torch.float64, generator=g)
    x2 = torch.randn(Z, plan.irreps_in2.dim, dtype=torch.float64, generator=g)
    w = torch.randn(B, plan.weight_numel, dtype=torch.float64, generator=g)
    vectors = torch.randn(Z, 3, dtype=torch.float64, generator=g)
    return x1, x2, w, vectors


def _relative(got: torch.Tensor, ref: torch.Tensor) -> float:
    return float((got.double() - ref).abs().max() / ref.abs().max())


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("mode", ["uvu", "uvw"])
@pytest.mark.parametrize("case", CASES)
def test_equals_dense(
    backend_cls: type[SphereProductBackend],
    case: tuple[int, ...],
    mode: str,
    shared: bool,
    dtype: torch.dtype,
    tol: float,
) -> None:
    plan = _plan(case, mode)
    Z = 6
    x1, x2, w, _ = _inputs(plan, Z, 1 if shared else Z)
    ref = DenseBackend(plan)(x1, x2, w, None)
    got = backend_cls(plan)(x1.to(dtype), x2.to(dtype), w.to(dtype), None)
    assert got.dtype == dtype and got.shape == ref.shape == (Z, plan.irreps_out.dim)
    assert _relative(got, ref) < tol


@pytest.mark.parametrize("mode", ["uvu", "uvw"])
def test_vectors_equal_their_harmonics(backend_cls: type[SphereProductBackend], mode: str) -> None:
    plan = _plan((4, 3, 4, 3, 1, 2), mode)
    x1, _, w, vectors = _inputs(plan, 7, 7)
    backend = backend_cls(plan)
    got = backend(x1, None, w, vectors)
    ref = DenseBackend(plan)(x1, edge_harmonics(plan.irreps_in2, vectors), w, None)
    assert _relative(got, ref) < 1e-12
    assert _relative(backend(x1, edge_harmonics(plan.irreps_in2, vectors), w, None), got) < 1e-14


def test_through_tensor_product_module(backend_cls: type[SphereProductBackend]) -> None:
    kwargs = dict(weighting="degree", shared_weights=False, dtype=torch.float64)
    args = ("4x0e + 4x1o + 4x2e + 4x3o", Irreps.spherical_harmonics(3), "4x0e + 4x1o + 4x2e")
    ours = TensorProduct(*args, backend=backend_cls.name, **kwargs)
    dense = TensorProduct(*args, backend="dense", **kwargs)
    x1, _, w, vectors = _inputs(ours.plan, 5, 5)
    assert _relative(ours(x1, weight=w, vectors=vectors), dense(x1, weight=w, vectors=vectors)) < 1e-12


def test_output_slots_no_path_reaches_are_zero(backend_cls: type[SphereProductBackend]) -> None:
    # l_out = 5 > l1 + l2: no coupling reaches it, and its block must be exactly zero
    plan = ProductPlan("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o + 2x2e + 2x5o", weighting="degree")
    x1, x2, w, _ = _inputs(plan, 4, 4)
    got = backend_cls(plan)(x1, x2, w, None)
    assert bool((got[:, -22:] == 0).all())
    assert _relative(got, DenseBackend(plan)(x1, x2, w, None)) < 1e-12


REFUSALS = [
    (
        dict(irreps_in1="2x0e + 2x1o", irreps_in2="0e + 1o", irreps_out="2x0e + 2x1o", weighting="path"),
        "weighting='degree'",
    ),
    # 1o x 1o -> 1e is an odd path
    (dict(irreps_in1="2x0e + 2x1o", irreps_in2="0e + 1o", irreps_out="2x0e + 2x1e"), "odd l1 \\+ l2 \\+ l3"),
    # 1e x 0e -> 1o has l1 + l2 + l3 even, but parity forbids it
    (dict(irreps_in1="2x0e + 2x1e", irreps_in2="0e", irreps_out="2x0e + 2x1o"), "which the plan lacks"),
    # instructions leaving out the even coupling 1o x 1o -> 0e
    (
        dict(
            irreps_in1="2x0e + 2x1o",
            irreps_in2="0e + 1o",
            irreps_out="2x0e + 2x1o",
            instructions=[(0, 0, 0), (0, 1, 1), (1, 0, 1)],
        ),
        "which the plan lacks",
    ),
    (
        dict(irreps_in1="2x0e + 2x1o + 2x1e", irreps_in2="0e + 1o", irreps_out="2x0e + 2x1o"),
        "degree 1 appears in two slots",
    ),
    (
        dict(irreps_in1="2x0e + 2x1o", irreps_in2="0e + 1o", irreps_out="2x0e + 3x1o", mode="uvw"),
        "mixes multiplicities",
    ),
    (
        dict(
            irreps_in1="2x0e + 2x1o",
            irreps_in2="0e + 1o",
            irreps_out="2x0e + 2x1o",
            instructions=[
                (0, 0, 0, "uvu", True, 1.0),
                (1, 1, 0, "uvu", True, 2.0),
                (0, 1, 1, "uvu", True),
                (1, 0, 1, "uvu", True),
            ],
        ),
        "different normalisations",
    ),
]


@pytest.mark.parametrize("spec, message", REFUSALS)
def test_refusals(backend_cls: type[SphereProductBackend], spec: dict, message: str) -> None:
    spec = {"weighting": "degree", **spec}
    plan = ProductPlan(
        spec.pop("irreps_in1"), spec.pop("irreps_in2"), spec.pop("irreps_out"), spec.pop("instructions", None), **spec
    )
    reason = backend_cls.refusal(plan)
    assert reason is not None and "\n" not in reason
    with pytest.raises(ValueError, match=message):
        backend_cls(plan)


def test_accepts_what_it_computes(backend_cls: type[SphereProductBackend]) -> None:
    assert backend_cls.refusal(_plan((3, 2, 4, 2, 2, 3), "uvw")) is None
    with pytest.raises(ValueError, match="weighting='degree'"):
        TensorProduct("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o", backend=backend_cls.name)


def _tiny(backend_cls: type[SphereProductBackend]) -> tuple[SphereProductBackend, tuple[torch.Tensor, ...]]:
    plan = _plan((2, 1, 2, 2, 1, 2), "uvu")
    x1, x2, w, vectors = _inputs(plan, 2, 2, seed=3)
    return backend_cls(plan), (x1.requires_grad_(), x2.requires_grad_(), w.requires_grad_(), vectors.requires_grad_())


def test_gradcheck(backend_cls: type[SphereProductBackend]) -> None:
    backend, (x1, x2, w, vectors) = _tiny(backend_cls)
    assert torch.autograd.gradcheck(lambda a, b, c: backend(a, b, c, None), (x1, x2, w))
    assert torch.autograd.gradcheck(lambda a, c, r: backend(a, None, c, r), (x1, w, vectors))


def test_gradgradcheck(backend_cls: type[SphereProductBackend]) -> None:
    backend, (x1, x2, w, _) = _tiny(backend_cls)
    assert torch.autograd.gradgradcheck(lambda a, b, c: backend(a, b, c, None), (x1, x2, w))


def test_equals_e3nn_on_expanded_weights(backend_cls: type[SphereProductBackend]) -> None:
    o3 = pytest.importorskip("e3nn.o3")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn builds its tables in the default dtype
    try:
        for mode in ("uvu", "uvw"):
            plan = _plan((3, 2, 3, 2, 2, 3), mode)
            ref_tp = o3.TensorProduct(
                str(plan.irreps_in1),
                str(plan.irreps_in2),
                str(plan.irreps_out),
                [(p.i1, p.i2, p.i_out, mode, True) for p in plan.paths],
                internal_weights=False,
                shared_weights=False,
            )
            x1, x2, w, _ = _inputs(plan, 5, 5)
            ref = ref_tp(x1, x2, degree_to_path_weights(plan, w))
            assert _relative(backend_cls(plan)(x1, x2, w, None), ref) < 1e-12
    finally:
        torch.set_default_dtype(previous)


def test_sine_moments_equal_quadrature() -> None:
    # Gauss–Legendre with 64 nodes integrates these entire functions to rounding
    nodes, weights = np.polynomial.legendre.leggauss(64)
    theta = (nodes + 1.0) * np.pi / 2.0
    u = np.arange(-9, 10)
    numeric = (weights * np.exp(1j * u[:, None] * theta) * np.sin(theta)).sum(axis=1) * np.pi / 2.0
    assert np.abs(sine_moments(u) - numeric).max() < 1e-13


def test_gaunt_and_grid_agree_in_float32() -> None:
    plan = _plan((6, 6, 6, 4, 1, 4), "uvu")
    x1, x2, w, _ = _inputs(plan, 8, 8)
    args = (x1.float(), x2.float(), w.float(), None)
    assert _relative(GauntBackend(plan)(*args), S2GridBackend(plan)(*args).double()) < 1e-5
