"""TensorProduct: every backend equals e3nn's TensorProduct on the same weights; gradients; equivariance; errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
o3 = pytest.importorskip("e3nn.o3")

import physics.equivariant._backends as backends_module  # noqa: E402
from physics.equivariant import (  # noqa: E402
    BACKENDS,
    Irreps,
    TensorProduct,
    degree_to_path_weights,
    random_orthogonal,
    scatter_sum,
    spherical_harmonics,
    wigner_D,
)

SH6 = str(Irreps.spherical_harmonics(6))
F6 = str(Irreps.spherical_harmonics(6, 3))
CONFIGS = {
    # name: (in1, in2, out, mode); in2 = harmonics means edge products (so2 applies)
    "sh-l2-uvu-odd": ("4x0e+4x1o+4x2e", "0e+1o+2e", "4x0e+4x1o+4x2e+4x1e+4x0o", "uvu"),
    "sh-l6-uvu": (F6, SH6, F6, "uvu"),
    "sh-l6-uvu-odd": (F6 + "+3x1e+3x2o", SH6, F6 + "+3x1e+3x0o+3x3e", "uvu"),
    "sh-l6-uvw": (F6, SH6, "2x0e+2x1o+2x2e+2x3o+2x4e+2x5o+2x6e+2x1e", "uvw"),
    "general-uvw": ("3x0e+2x1o+4x2e+1x3o", "2x0e+3x1o+2x2e+1x1e", "5x0e+3x1o+2x2e+4x1e+2x3o", "uvw"),
    "general-uvu": ("3x0e+3x1o+3x2e+3x3o", "2x0e+2x1o+2x2e", "3x0e+3x1o+3x2e+3x1e+3x3o", "uvu"),
}


@pytest.fixture
def float64_e3nn():  # type: ignore[no-untyped-def]
    """e3nn builds its constants in the default dtype: float64 for 1e-12 comparisons."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _inputs(tp: TensorProduct, Z: int, dtype: torch.dtype, shared: bool, seed: int = 0):  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(Z, tp.irreps_in1.dim, dtype=dtype, generator=g)
    v = torch.randn(Z, 3, dtype=dtype, generator=g)
    v[0] = torch.tensor([0.0, 1.3, 0.0])  # along the polar axis
    v[1] = torch.tensor([0.0, -0.7, 0.0])
    harmonic = all(m == 1 and ir.p == (-1) ** ir.l for m, ir in tp.irreps_in2)
    y = (
        spherical_harmonics([ir.l for _, ir in tp.irreps_in2], v)
        if harmonic
        else torch.randn(Z, tp.irreps_in2.dim, dtype=dtype, generator=g)
    )
    w = torch.randn((tp.weight_numel,) if shared else (Z, tp.weight_numel), dtype=dtype, generator=g)
    return x, y, v, w, harmonic


def _reference(tp: TensorProduct, shared: bool):  # type: ignore[no-untyped-def]
    instructions = [(p.i1, p.i2, p.i_out, p.mode, True) for p in tp.plan.paths]
    return o3.TensorProduct(
        str(tp.irreps_in1),
        str(tp.irreps_in2),
        str(tp.irreps_out),
        instructions,
        shared_weights=shared,
        internal_weights=False,
    )


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_backend_equals_e3nn_float64(name: str, shared: bool, float64_e3nn) -> None:  # type: ignore[no-untyped-def]
    in1, in2, out, mode = CONFIGS[name]
    dense = TensorProduct(
        in1, in2, out, mode=mode, backend="dense", shared_weights=shared, internal_weights=False, dtype=torch.float64
    )
    ref = _reference(dense, shared)
    assert ref.weight_numel == dense.weight_numel
    x, y, v, w, harmonic = _inputs(dense, 9, torch.float64, shared)
    expected = ref(x, y, w)
    scale = float(expected.abs().max())
    assert float((dense(x, y, w) - expected).abs().max()) <= 1e-12 * scale
    if harmonic:
        assert float((dense(x, weight=w, vectors=v) - expected).abs().max()) <= 1e-12 * scale
        so2 = TensorProduct(
            in1, in2, out, mode=mode, backend="so2", shared_weights=shared, internal_weights=False, dtype=torch.float64
        )
        assert float((so2(x, weight=w, vectors=v) - expected).abs().max()) <= 1e-12 * scale
    else:
        with pytest.raises(ValueError, match="spherical harmonics"):
            TensorProduct(in1, in2, out, mode=mode, backend="so2")


@pytest.mark.parametrize("backend", ["dense", "so2"])
def test_float32_within_1e5_of_e3nn_float64(backend: str, float64_e3nn) -> None:  # type: ignore[no-untyped-def]
    in1, in2, out, mode = CONFIGS["sh-l6-uvu-odd"]
    tp = TensorProduct(in1, in2, out, mode=mode, backend=backend, shared_weights=False, internal_weights=False)
    x, y, v, w, _ = _inputs(tp, 9, torch.float64, False)
    expected = _reference(tp, False)(x, y, w)
    got = tp(x.float(), weight=w.float(), vectors=v.float())
    assert got.dtype == torch.float32
    assert float((got.double() - expected).abs().max()) <= 1e-5 * float(expected.abs().max())


@pytest.mark.parametrize("backend", ["dense", "so2"])
def test_degree_weighting_equals_e3nn_on_expanded_weights(backend: str, float64_e3nn) -> None:  # type: ignore[no-untyped-def]
    ir = str(Irreps.spherical_harmonics(4, 2))
    tp = TensorProduct(
        ir,
        str(Irreps.spherical_harmonics(4)),
        ir,
        weighting="degree",
        backend=backend,
        shared_weights=False,
        internal_weights=False,
        dtype=torch.float64,
    )
    x, y, v, w, _ = _inputs(tp, 6, torch.float64, False)
    expected = _reference(tp, False)(x, y, degree_to_path_weights(tp.plan, w))
    assert float((tp(x, weight=w, vectors=v) - expected).abs().max()) <= 1e-12 * float(expected.abs().max())


@pytest.mark.parametrize("backend", ["dense", "so2"])
def test_gradients_first_and_second_order(backend: str) -> None:
    tp = TensorProduct(
        "2x0e+2x1o+2x2e",
        "0e+1o+2e",
        "2x0e+2x1o+2x2e+2x1e",
        backend=backend,
        shared_weights=False,
        internal_weights=False,
        dtype=torch.float64,
    )
    x, _, v, w, _ = _inputs(tp, 3, torch.float64, False)
    v = v + 0.1  # gradcheck's finite differences must not cross |v| = 0
    v[0] = torch.tensor([1e-4, 1.0, -2e-4], dtype=torch.float64)  # near the pole, both branches of the frame
    v[1] = torch.tensor([2e-4, -1.0, 1e-4], dtype=torch.float64)
    args = tuple(t.clone().requires_grad_(True) for t in (x, w, v))

    def f(a, b, c):  # type: ignore[no-untyped-def]
        return tp(a, weight=b, vectors=c)

    assert torch.autograd.gradcheck(f, args)
    assert torch.autograd.gradgradcheck(f, args)


@pytest.mark.parametrize("backend", ["dense", "so2"])
def test_equivariant_under_O3_float32(backend: str) -> None:
    in1, in2, out, mode = CONFIGS["sh-l2-uvu-odd"]
    tp = TensorProduct(in1, in2, out, mode=mode, backend=backend, shared_weights=False, internal_weights=False)
    x, _, v, w, _ = _inputs(tp, 16, torch.float32, False)
    for seed in range(3):
        R = random_orthogonal(dtype=torch.float32, generator=seed)
        D1, Do = wigner_D(tp.irreps_in1, R), wigner_D(tp.irreps_out, R)
        lhs = tp(x @ D1.T, weight=w, vectors=v @ R.T)
        rhs = tp(x, weight=w, vectors=v) @ Do.T
        assert float((lhs - rhs).abs().max()) <= 1e-6 * max(1.0, float(rhs.abs().max()))


def test_auto_measures_and_reports_its_choice() -> None:
    ir = str(Irreps.spherical_harmonics(2, 4))
    tp = TensorProduct(ir, "0e+1o+2e", ir, shared_weights=False, internal_weights=False)
    assert set(tp.backends) == {"dense", "so2"}
    x, y, v, w, _ = _inputs(tp, 5, torch.float32, False)
    out = tp(x, weight=w, vectors=v)
    (choice,) = tp.chosen.values()
    assert choice in BACKENDS
    assert torch.allclose(out, tp.backends["dense"](x, y, w, None), atol=1e-5)
    tp(x, y, w)  # with x2 only dense applies: no measurement
    assert len(tp.chosen) == 1
    tp(x[:4], weight=w[:4], vectors=v[:4])  # 4..7 edges share one octave: no new measurement
    assert len(tp.chosen) == 1
    x8, _, v8, w8, _ = _inputs(tp, 8, torch.float32, False)
    tp(x8, weight=w8, vectors=v8)
    assert len(tp.chosen) == 2


def test_auto_under_deterministic_algorithms_takes_the_first_backend_untimed(monkeypatch) -> None:
    """Timed choices may differ between runs; deterministic mode must not depend on a clock."""
    ir = str(Irreps.spherical_harmonics(2, 4))
    tp = TensorProduct(ir, "0e+1o+2e", ir, shared_weights=False, internal_weights=False)

    def no_timing(*args: object) -> str:
        raise AssertionError("timed a backend under deterministic algorithms")

    monkeypatch.setattr(tp, "_measure", no_timing)
    x, _, v, w, _ = _inputs(tp, 5, torch.float32, False)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        tp(x, weight=w, vectors=v)
    finally:
        torch.use_deterministic_algorithms(previous)
    assert list(tp.chosen.values()) == [next(iter(tp.backends))] == ["dense"]


def test_internal_weights_are_a_parameter() -> None:
    tp = TensorProduct("2x0e+2x1o", "0e+1o", "2x0e+2x1o", backend="dense")
    assert isinstance(tp.weight, torch.nn.Parameter) and tp.weight.shape == (tp.weight_numel,)
    x = torch.randn(3, tp.irreps_in1.dim)
    tp(x, spherical_harmonics([0, 1], torch.randn(3, 3))).sum().backward()
    assert tp.weight.grad is not None


@pytest.mark.parametrize(
    "build,call,match",
    [
        (dict(backend="so2"), lambda tp, x, y, v, w: tp(x, y, w), "needs edge vectors"),
        (dict(), lambda tp, x, y, v, w: tp(x[:, :-1], y, w), "last axis"),
        (dict(), lambda tp, x, y, v, w: tp(x, y, w[:, :-1]), "weight must have shape"),
        (dict(), lambda tp, x, y, v, w: tp(x, y, w.double()), "convert them to one dtype"),
        (dict(), lambda tp, x, y, v, w: tp(x, y, w, vectors=v), "exactly one of x2 and vectors"),
        (dict(), lambda tp, x, y, v, w: tp(x.int(), y, w), "float32 or float64"),
    ],
)
def test_bad_calls_one_line(build, call, match: str) -> None:  # type: ignore[no-untyped-def]
    tp = TensorProduct("2x0e+2x1o", "0e+1o", "2x0e+2x1o", shared_weights=False, internal_weights=False, **build)
    x, y, v, w, _ = _inputs(tp, 4, torch.float32, False)
    with pytest.raises((ValueError, TypeError), match=match) as info:
        call(tp, x, y, v, w)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(irreps_in1="2x0e", irreps_in2="0e", irreps_out="2x0e", backend="fft"), "unknown backend"),
        (dict(irreps_in1="2x0e", irreps_in2="0e", irreps_out="2x0e", mode="uuu"), "unknown mode"),
        (dict(irreps_in1="2x0e", irreps_in2="0e", irreps_out="2x0e", weighting="free"), "unknown weighting"),
        (dict(irreps_in1="2x1o", irreps_in2="1o", irreps_out="2x1o", instructions=[(0, 0, 0)]), "parity or triangle"),
        (dict(irreps_in1="2x1o", irreps_in2="1o", irreps_out="2x0e", instructions=[(0, 0, 1)]), "does not exist"),
        (dict(irreps_in1="2x1o", irreps_in2="1o", irreps_out="3x0e", instructions=[(0, 0, 0)]), "output multiplicity"),
        (dict(irreps_in1="2x70e", irreps_in2="0e", irreps_out="2x70e"), "coupling tables go to"),
        (dict(irreps_in1="2x1q", irreps_in2="0e", irreps_out="2x1o"), "cannot parse"),
        (dict(irreps_in1="2x0e", irreps_in2="2x0e", irreps_out="2x0e", backend="so2"), "spherical harmonics"),
        (
            dict(irreps_in1="2x0e", irreps_in2="0e", irreps_out="2x0e", shared_weights=False, internal_weights=True),
            "internal_weights",
        ),
    ],
)
def test_bad_construction_one_line(kwargs, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match) as info:
        TensorProduct(**kwargs)
    assert "\n" not in str(info.value)


def test_irreps_parsing_and_layout() -> None:
    ir = Irreps("16x0e + 8x1o + 2e")
    assert ir.dim == 16 + 24 + 5 and ir.lmax == 2 and len(ir) == 3
    assert Irreps(str(ir)) == ir and Irreps(o3.Irreps("16x0e+8x1o+1x2e")) == ir
    assert Irreps([(16, (0, "e")), (8, (1, -1)), (1, (2, 1))]) == ir
    assert [s.stop for s in ir.slices()] == [16, 40, 45]
    assert str(Irreps.spherical_harmonics(3)) == "1x0e+1x1o+1x2e+1x3o"
    assert Irreps("").dim == 0


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_assert_irreps_equivariant_on_every_backend(backend: str) -> None:
    from physics.equivariant import assert_irreps_equivariant

    ir = str(Irreps.spherical_harmonics(3, 2))
    weighting = "degree" if backend in ("s2grid", "gaunt") else "path"
    tp = TensorProduct(ir, "0e+1o+2e+3o", ir, weighting=weighting, backend=backend, dtype=torch.float64)
    x = torch.randn(5, tp.irreps_in1.dim, dtype=torch.float64)
    v = torch.randn(5, 3, dtype=torch.float64)
    error = assert_irreps_equivariant(lambda a, b: tp(a, vectors=b), [x, v], [tp.irreps_in1, "1o"], tp.irreps_out)
    assert error < 1e-12


def test_assert_irreps_equivariant_catches_a_broken_function() -> None:
    from physics.equivariant import assert_irreps_equivariant, irreps_equivariance_error

    x = torch.randn(4, 4, dtype=torch.float64)

    def broken(a):  # type: ignore[no-untyped-def]
        return a * a  # squares the vector part componentwise: not equivariant

    assert irreps_equivariance_error(broken, [x], ["0e+1o"], "0e+1o") > 1e-3
    with pytest.raises(AssertionError, match="not equivariant") as info:
        assert_irreps_equivariant(broken, [x], ["0e+1o"], "0e+1o")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="2 arguments but 1"):
        irreps_equivariance_error(broken, [x, x], ["0e+1o"], "0e+1o")


@pytest.mark.parametrize("mode", ["uvu", "uvw"])
def test_component_normalisation_holds(mode: str) -> None:
    from physics.equivariant import assert_normalized, normalization_moments

    ir = "8x0e+8x1o+8x2e"
    tp = TensorProduct(
        ir, "0e+1o+2e", ir + "+8x1e", mode=mode, backend="dense", shared_weights=False, internal_weights=False
    )
    moments = assert_normalized(tp)
    assert moments.shape == (4,) and bool(((moments - 1).abs() < 0.1).all())
    unnormalised = TensorProduct(ir, "0e+1o+2e", ir, mode=mode, backend="dense", path_normalization="none")
    assert float(normalization_moments(unnormalised).max()) > 1.5
    with pytest.raises(AssertionError, match="not normalised: output slot") as info:
        assert_normalized(unnormalised)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_backends_on_torch_cuda_equal_cpu(backend: str) -> None:
    """Same product on the GPU (run by `make gpu-check`, skipped without CUDA)."""
    if not torch.cuda.is_available():
        pytest.skip("torch-cuda: no CUDA device on this machine")
    ir = str(Irreps.spherical_harmonics(3, 4))
    weighting = "degree" if backend in ("s2grid", "gaunt") else "path"
    for mode in ("uvu", "uvw"):
        kwargs = dict(mode=mode, weighting=weighting, backend=backend, shared_weights=mode == "uvw")
        cpu = TensorProduct(ir, "0e+1o+2e+3o", ir, internal_weights=False, dtype=torch.float64, **kwargs)
        gpu = TensorProduct(ir, "0e+1o+2e+3o", ir, internal_weights=False, dtype=torch.float64, **kwargs).cuda()
        x, _, v, w, _ = _inputs(cpu, 7, torch.float64, mode == "uvw")
        expected = cpu(x, weight=w, vectors=v)
        got = gpu(x.cuda(), weight=w.cuda(), vectors=v.cuda())
        assert got.device.type == "cuda"
        assert float((got.cpu() - expected).abs().max()) <= 1e-12 * float(expected.abs().max())


@pytest.mark.parametrize("backend", ["dense", "so2"])
@pytest.mark.parametrize("shared", [False, True])
def test_convolution_equals_summed_products(backend: str, shared: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """receivers=: the products summed per receiving row; the dense backend's fused, chunked form included."""
    monkeypatch.setattr(backends_module, "_EDGE_CHUNK", 4)  # several chunks on a small graph
    h, sh = Irreps("3x0e+3x1o"), Irreps.spherical_harmonics(2)
    mid: list = []
    instructions: list = []
    for i1, (_, ir1) in enumerate(h):
        for i2, (_, ir2) in enumerate(sh):
            for l3 in range(abs(ir1.l - ir2.l), min(ir1.l + ir2.l, 2) + 1):
                if ir1.p * ir2.p == (-1) ** l3:
                    instructions.append((i1, i2, len(mid)))
                    mid.append((3, (l3, "e" if l3 % 2 == 0 else "o")))
    tp = TensorProduct(
        h,
        sh,
        Irreps(mid),
        instructions,
        backend=backend,
        shared_weights=shared,
        internal_weights=False,
        dtype=torch.float64,
    )
    g = torch.Generator().manual_seed(3)
    E, N = 11, 5
    x = torch.randn(E, h.dim, dtype=torch.float64, generator=g, requires_grad=True)
    v = torch.randn(E, 3, dtype=torch.float64, generator=g, requires_grad=True)
    w_shape = (tp.weight_numel,) if shared else (E, tp.weight_numel)
    w = torch.randn(w_shape, dtype=torch.float64, generator=g, requires_grad=True)
    receivers = torch.tensor([0, 3, 1, 0, 4, 4, 2, 0, 1, 3, 3])
    fused = tp(x, weight=w, vectors=v, receivers=receivers, n_receivers=N)
    reference = scatter_sum(tp(x, weight=w, vectors=v), receivers, N)
    assert fused.shape == (N, tp.irreps_out.dim)
    assert torch.allclose(fused, reference, atol=1e-13)
    f = lambda a, b, c: tp(a, weight=c, vectors=b, receivers=receivers, n_receivers=N)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x, v, w))
    assert torch.autograd.gradgradcheck(f, (x, v, w))
    with pytest.raises(ValueError, match="n_receivers"):
        tp(x, weight=w, vectors=v, receivers=receivers)
