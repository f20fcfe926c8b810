"""SO(3) tables and frames: CG vs e3nn and sympy, Gaunt vs the 3j formula, exact grids, edge frames."""

from __future__ import annotations

import itertools
import math

import pytest

torch = pytest.importorskip("torch")

from physics.equivariant import (  # noqa: E402
    edge_rotation,
    gaunt,
    random_rotation,
    sphere_grid,
    spherical_harmonics,
    su2_clebsch_gordan,
    wigner_3j,
    wigner_D_from_matrix,
)
from physics.equivariant._so3 import fit_harmonics, wigner_D_rows  # noqa: E402


def _triples(lmax: int) -> list[tuple[int, int, int]]:
    return [t for t in itertools.product(range(lmax + 1), repeat=3) if abs(t[0] - t[1]) <= t[2] <= t[0] + t[1]]


def test_wigner_3j_equals_e3nn_to_degree_8() -> None:
    o3 = pytest.importorskip("e3nn.o3")
    worst = 0.0
    for t in _triples(8):
        worst = max(worst, float((wigner_3j(*t) - o3.wigner_3j(*t, dtype=torch.float64)).abs().max()))
    assert worst <= 1e-14


def test_clebsch_gordan_equals_sympy() -> None:
    cg = pytest.importorskip("sympy.physics.quantum.cg")
    for l1, l2, l3 in [(1, 1, 2), (2, 3, 4), (6, 6, 6), (5, 3, 2)]:
        for m1 in range(-l1, l1 + 1):
            for m2 in range(-l2, l2 + 1):
                if abs(m1 + m2) > l3:
                    continue
                ref = float(cg.CG(l1, m1, l2, m2, l3, m1 + m2).doit())
                assert su2_clebsch_gordan(l1, m1, l2, m2, l3, m1 + m2) == pytest.approx(ref, abs=1e-15)
    assert su2_clebsch_gordan(1, 1, 1, 1, 1, 1) == 0.0  # m1 + m2 != m3
    assert su2_clebsch_gordan(1, 0, 1, 0, 3, 0) == 0.0  # triangle rule


def test_wigner_3j_is_invariant_to_degree_12() -> None:
    R = random_rotation(dtype=torch.float64, generator=3)
    D = wigner_D_from_matrix(12, R)
    for t in [(12, 12, 12), (7, 9, 12), (11, 1, 10)]:
        C = wigner_3j(*t)
        rotated = torch.einsum("il,jm,kn,lmn->ijk", D[t[0]], D[t[1]], D[t[2]], C)
        assert float((rotated - C).abs().max()) <= 1e-12
        assert float((C * C).sum()) == pytest.approx(1.0, abs=1e-14)


def test_gaunt_equals_the_3j_formula() -> None:
    w3j = pytest.importorskip("sympy.physics.wigner").wigner_3j
    for l1, l2, l3 in _triples(6):
        G = gaunt(l1, l2, l3)
        if (l1 + l2 + l3) % 2:
            assert float(G.abs().max()) <= 1e-15
            continue
        value = math.sqrt((2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1) / (4 * math.pi)) * float(w3j(l1, l2, l3, 0, 0, 0))
        C = wigner_3j(l1, l2, l3)
        # G is value * C up to the overall sign of C (the closed form fixes |G| entry by entry)
        err = min(float((G - value * C).abs().max()), float((G + value * C).abs().max()))
        assert err <= 1e-13


def test_sphere_grid_is_exact_to_its_degree() -> None:
    points, weights = sphere_grid(10)
    x, y, z = points.unbind(-1)
    assert float(weights.sum()) == pytest.approx(4 * math.pi, abs=1e-13)

    # ∫ x^a y^b z^c over the sphere for even exponents: 4π (a-1)!!(b-1)!!(c-1)!! / (a+b+c+1)!!
    def dfact(n: int) -> int:
        return math.prod(range(n, 0, -2)) if n > 0 else 1

    for a, b, c in [(2, 4, 4), (10, 0, 0), (0, 6, 4), (2, 2, 6)]:
        exact = 4 * math.pi * dfact(a - 1) * dfact(b - 1) * dfact(c - 1) / dfact(a + b + c + 1)
        assert float((weights * x**a * y**b * z**c).sum()) == pytest.approx(exact, abs=1e-13)
    assert float((weights * x * y**3 * z**5).sum()) == pytest.approx(0.0, abs=1e-13)
    with pytest.raises(ValueError, match="degree must be an integer"):
        sphere_grid(-1)


def test_edge_rotation_maps_every_direction_to_plus_y_with_finite_gradients() -> None:
    v = torch.randn(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    v[:4] = torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [1e-12, -3.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    v[3] = torch.tensor([1e-9, 2.0, -1e-9], dtype=torch.float64)
    v.requires_grad_(True)
    R = edge_rotation(v)
    unit = v / v.norm(dim=-1, keepdim=True)
    mapped = (R @ unit[..., None]).squeeze(-1).detach()
    assert float((mapped - torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)).abs().max()) <= 1e-14
    Rd = R.detach()
    assert float((Rd @ Rd.transpose(-1, -2) - torch.eye(3, dtype=torch.float64)).abs().max()) <= 1e-14
    assert float((torch.linalg.det(Rd) - 1).abs().max()) <= 1e-14
    (grad,) = torch.autograd.grad((R**2 * torch.arange(9.0, dtype=torch.float64).reshape(3, 3)).sum(), v)
    assert bool(torch.isfinite(grad).all())
    with pytest.raises(ValueError, match="shape"):
        edge_rotation(torch.zeros(4, 2))


def test_edge_rotation_gradcheck_near_the_poles() -> None:
    v = torch.tensor(
        [[1e-3, 1.0, -2e-3], [2e-3, -1.0, 1e-3], [0.3, 0.4, -0.5]], dtype=torch.float64, requires_grad=True
    )
    assert torch.autograd.gradcheck(edge_rotation, (v,))
    assert torch.autograd.gradgradcheck(edge_rotation, (v,))


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_wigner_D_from_matrix_rotates_harmonics(dtype: torch.dtype, tol: float) -> None:
    R = random_rotation(4, dtype=dtype, generator=1)
    r = torch.randn(4, 3, dtype=dtype, generator=torch.Generator().manual_seed(2))
    D = wigner_D_from_matrix(10, R)
    for d in range(11):
        lhs = spherical_harmonics(d, (R @ r[..., None]).squeeze(-1))
        rhs = (D[d] @ spherical_harmonics(d, r)[..., None]).squeeze(-1)
        assert float((lhs - rhs).abs().max()) <= tol * math.sqrt(2 * d + 1)
        eye = torch.eye(2 * d + 1, dtype=dtype)
        assert float((D[d] @ D[d].transpose(-1, -2) - eye).abs().max()) <= tol


def test_wigner_D_rows_selects_and_pads() -> None:
    R = random_rotation(3, dtype=torch.float64, generator=4)
    D = wigner_D_from_matrix(3, R)
    rows = [(1, 2), (0, 0), (1, -3), (1, 4)]  # slot 1 is degree 3; |m| = 4 > 3 is padding
    M = wigner_D_rows([1, 3], rows, R, Y=fit_harmonics(5, R), lmax=5)
    assert M.shape == (3, 4, 10)
    assert float((M[:, 0, 3:] - D[3][:, 3 + 2]).abs().max()) <= 1e-12
    assert float((M[:, 1, :3] - D[1][:, 1]).abs().max()) <= 1e-12
    assert float((M[:, 2, 3:] - D[3][:, 0]).abs().max()) <= 1e-12
    assert float(M[:, 3].abs().max()) == 0.0
    assert float(M[:, 0, :3].abs().max()) == 0.0


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: wigner_3j(1, 1, 3), "triangle rule"),
        (lambda: wigner_3j(-1, 1, 1), "degrees must be integers"),
        (lambda: wigner_3j(1, 1, 1, dtype=torch.int64), "dtype must be"),
        (lambda: su2_clebsch_gordan(1, 2, 1, 0, 1, 2), "projection 2"),
        (lambda: gaunt(1, 1, 100), "0..64"),
        (lambda: wigner_D_from_matrix(2, torch.eye(2)), r"\(\.\.\., 3, 3\)"),
    ],
)
def test_bad_input_one_line(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((ValueError, TypeError), match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_tables_are_cached_per_dtype_and_device() -> None:
    a = wigner_3j(2, 2, 2, dtype=torch.float32)
    assert wigner_3j(2, 2, 2, dtype=torch.float32) is a
    assert wigner_3j(2, 2, 2).dtype == torch.float64


def test_sphere_grid_transform_round_trip_and_values() -> None:
    from physics.equivariant import SphereGrid

    L = 5
    grid = SphereGrid(L, dtype=torch.float64)
    x = torch.randn(2, 3, (L + 1) ** 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    values = grid.to_grid(x)
    assert values.shape == (2, 3, *grid.shape) == (2, 3, L + 1, 2 * L + 1)
    points, _ = sphere_grid(2 * L)  # the same nodes, latitude-major
    direct = (x @ spherical_harmonics(list(range(L + 1)), points).T).reshape(values.shape)
    assert float((values - direct).abs().max()) <= 1e-12
    assert float((grid.from_grid(values) - x).abs().max()) <= 1e-12
    # the degree-<= L part of a product of two degree-L functions, on a grid exact to degree 3L
    fine = SphereGrid(L, 3 * L, dtype=torch.float64)
    y = torch.randn(2, 3, (L + 1) ** 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fine_points, weights = sphere_grid(3 * L)
    Y = spherical_harmonics(list(range(L + 1)), fine_points)
    f = (x @ Y.T) * (y @ Y.T)
    expected = f @ (Y * weights[:, None]) / (4 * math.pi)
    got = fine.from_grid(fine.to_grid(x) * fine.to_grid(y))
    assert float((got - expected).abs().max()) <= 1e-12
    with pytest.raises(ValueError, match="degree must be an integer >= lmax"):
        SphereGrid(3, 2)
    with pytest.raises(ValueError, match="expected last axis 36"):
        grid.to_grid(torch.zeros(4, 35, dtype=torch.float64))
