"""Symmetric contraction (MACE product basis) and irreps-wise linear layers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import physics.equivariant._contraction as contraction_module
from physics.equivariant import (
    Irreps,
    IrrepsLinear,
    SymmetricContraction,
    assert_irreps_equivariant,
    random_orthogonal,
    symmetric_coupling_basis,
    wigner_D,
)


def _character(irreps: Irreps, theta: np.ndarray, inversion: int) -> np.ndarray:
    """Character of one channel of ``irreps`` at rotation angle ``theta`` times inversion**k."""
    total = np.zeros_like(theta)
    for _, ir in irreps:
        chi = np.sin((2 * ir.l + 1) * theta / 2) / np.sin(theta / 2)
        total += chi * (ir.p if inversion == -1 else 1)
    return total


def _multiplicity(irreps: str, correlation: int, out: str) -> int:
    """Multiplicity of ``out`` in the symmetric power, by O(3) characters (Molien / Weyl integral)."""
    V, W = Irreps(irreps), Irreps(out)
    x, w = np.polynomial.legendre.leggauss(200)
    theta = (x + 1) * math.pi / 2  # (0, pi)
    weight = w * math.pi / 2 * (1 - np.cos(theta)) / math.pi
    total = 0.0
    for eps in (1, -1):

        def chi(k: int, eps: int = eps) -> np.ndarray:
            return _character(V, k * theta, eps**k)

        if correlation == 1:
            sym = chi(1)
        elif correlation == 2:
            sym = (chi(1) ** 2 + chi(2)) / 2
        else:
            sym = (chi(1) ** 3 + 3 * chi(2) * chi(1) + 2 * chi(3)) / 6
        total += float(np.sum(weight * sym * _character(W, theta, eps))) / 2
    return round(total)


CASES = [
    ("0e+1o", 2, "0e"),
    ("0e+1o+2e", 3, "0e"),
    ("0e+1o+2e", 3, "1o"),
    ("0e+1o+2e+3o", 3, "0e"),
    ("0e+1o+2e+3o", 3, "1o"),
    ("0e+1o+2e+3o", 2, "2e"),
    ("0e+1o+2e+3o", 3, "1e"),
    ("1o", 2, "1e"),
    ("1o+1e", 3, "0o"),
]


@pytest.mark.parametrize("irreps,correlation,out", CASES)
def test_basis_dimension_equals_character_multiplicity(irreps: str, correlation: int, out: str) -> None:
    assert symmetric_coupling_basis(irreps, correlation, out).shape[0] == _multiplicity(irreps, correlation, out)


@pytest.mark.parametrize("irreps,correlation,out", CASES)
def test_basis_is_orthonormal_symmetric_and_equivariant(irreps: str, correlation: int, out: str) -> None:
    U = symmetric_coupling_basis(irreps, correlation, out)
    K = U.shape[0]
    if K == 0:
        return
    flat = U.reshape(K, -1)
    assert torch.allclose(flat @ flat.T, torch.eye(K, dtype=torch.float64), atol=1e-12)
    _assert_symmetric_equivariant(U, irreps, correlation, out)


def _assert_symmetric_equivariant(U: torch.Tensor, irreps: str, correlation: int, out: str) -> None:
    for perm in itertools.permutations(range(1, correlation + 1)):
        assert torch.allclose(U.permute(0, *perm, correlation + 1), U, atol=1e-13)
    gen = torch.Generator().manual_seed(3)
    for improper in (False, True):
        R = random_orthogonal(dtype=torch.float64, generator=gen)
        if improper == bool(torch.linalg.det(R) > 0):
            R = -R
        D, D_out = wigner_D(Irreps(irreps), R), wigner_D(Irreps(out), R)
        moved = U
        for axis in range(1, correlation + 1):
            moved = torch.movedim(torch.tensordot(moved, D, dims=([axis], [1])), -1, axis)
        # U(D x, D y, ...) = D_out U(x, y, ...) for all inputs: U contracted with D^T on each input
        # axis equals D_out^T applied to the output axis
        expected = torch.tensordot(U, D_out, dims=([correlation + 1], [0]))
        assert torch.allclose(moved, expected, atol=1e-12)


def test_basis_refuses_bad_correlation() -> None:
    with pytest.raises(ValueError, match="correlation must be 1..3"):
        symmetric_coupling_basis("0e+1o", 4, "0e")
    with pytest.raises(ValueError, match="kind must be one of"):
        symmetric_coupling_basis("0e+1o", 2, "0e", kind="reduced")


def _tree_count(degrees: list[tuple[int, int]], correlation: int, out: tuple[int, int]) -> int:
    """Coupling trees of every ordered tuple of ``(l, parity)`` into ``out``, counted by degrees."""
    count = 0
    for combo in itertools.product(degrees, repeat=correlation):
        reach = {combo[0]: 1}
        for l2, p2 in combo[1:]:
            grown: dict[tuple[int, int], int] = {}
            for (l1, p1), n in reach.items():
                for l in range(abs(l1 - l2), l1 + l2 + 1):  # noqa: E741
                    grown[(l, p1 * p2)] = grown.get((l, p1 * p2), 0) + n
            reach = grown
        count += reach.get(out, 0)
    return count


@pytest.mark.parametrize("irreps,correlation,out", CASES)
def test_paths_span_the_basis_and_are_the_coupling_trees(irreps: str, correlation: int, out: str) -> None:
    """mace-torch's trees: one per ordered tuple and intermediate degree, inside the basis' span."""
    V = symmetric_coupling_basis(irreps, correlation, out, kind="paths")
    U = symmetric_coupling_basis(irreps, correlation, out)
    degrees = [(ir.l, ir.p) for _, ir in Irreps(irreps)]
    ((_, ir_out),) = Irreps(out)
    assert V.shape[0] == _tree_count(degrees, correlation, (ir_out.l, ir_out.p))
    if V.shape[0] == 0:
        return
    flat = V.reshape(V.shape[0], -1)
    basis = U.reshape(U.shape[0], -1) if U.shape[0] else U.new_zeros((0, flat.shape[1]))
    assert torch.allclose((flat @ basis.T) @ basis, flat, atol=1e-12)  # no component outside the span
    if U.shape[0]:  # and they span it
        assert int(torch.linalg.matrix_rank(flat)) == U.shape[0]
        _assert_symmetric_equivariant(V, irreps, correlation, out)


def test_paths_count_mace_torchs_product_weights() -> None:
    """Weights per term as mace-torch 0.3.16's SymmetricContraction (use_reduced_cg=False) has them."""
    layer = SymmetricContraction("4x0e+4x1o+4x2e", "4x0e+4x1o", n_elements=2, basis="paths")
    assert layer.param_sizes == [1, 3, 11, 1, 4, 21]  # mace-torch: weights (nu = 1, 2), weights_max (nu = 3)
    assert layer.sizes == [1, 3, 5, 1, 2, 5]
    # MACE at l_max 3, hidden 0e + 1o, correlation 3, 32 channels, 3 elements: mace-torch counts
    # 14016 product parameters, 3072 of them its linear maps after the contraction
    both = [
        SymmetricContraction("32x0e+32x1o+32x2e+32x3o", out, n_elements=3, basis="paths")
        for out in ("32x0e+32x1o", "32x0e")
    ]
    assert sum(p.numel() for layer in both for p in layer.parameters()) == 14016 - 3072
    with pytest.raises(ValueError, match="basis must be one of"):
        SymmetricContraction("2x0e", "2x0e", basis="cg")


def _reference_contraction(layer: SymmetricContraction, x: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
    """Dense einsum over the full (unsymmetrised-index) coupling tensors, atom by atom; with
    ``basis="paths"`` over the trees and the (full) parameters themselves, not the mapped weights."""
    C = layer.channels
    N = x.shape[0]
    slots_in = [ir for _, ir in layer.irreps_in]
    A = torch.cat([x[:, s].reshape(N, C, ir.dim) for s, ir in zip(layer.irreps_in.slices(), slots_in)], dim=2)
    outs = []
    for o, (_, ir) in enumerate(layer.irreps_out):
        y = x.new_zeros((N, C, ir.dim))
        paths = layer.basis == "paths"
        for (oo, nu), W in zip(layer.terms, list(layer.weights) if paths else layer.dense_weights()):
            if oo != o:
                continue
            kind = "paths" if paths else "orthonormal"
            U = symmetric_coupling_basis(Irreps("+".join(str(i) for i in slots_in)), nu, ir, kind=kind).to(x.dtype)
            w = W[species]  # (N, K, C)
            if nu == 1:
                y = y + torch.einsum("kam,nkc,nca->ncm", U, w, A)
            elif nu == 2:
                y = y + torch.einsum("kabm,nkc,nca,ncb->ncm", U, w, A, A)
            else:
                y = y + torch.einsum("kabdm,nkc,nca,ncb,ncd->ncm", U, w, A, A, A)
        outs.append(y.reshape(N, -1))
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("basis", ["orthonormal", "paths"])
@pytest.mark.parametrize("atoms", [7, 30])  # per-atom weights (a few atoms), per-element products (more)
@pytest.mark.parametrize("correlation", [1, 2, 3])
def test_contraction_equals_dense_reference_and_is_equivariant(correlation: int, atoms: int, basis: str) -> None:
    torch.manual_seed(0)
    irreps_in, irreps_out = "3x0e+3x1o+3x2e", "3x0e+3x1o+3x2e+3x1e"
    layer = SymmetricContraction(irreps_in, irreps_out, correlation=correlation, n_elements=3, basis=basis).double()
    x = torch.randn(atoms, Irreps(irreps_in).dim, dtype=torch.float64)
    species = torch.tensor([0, 2, 2, 0, 1, 2, 0] * 5)[:atoms]
    out = layer(x, species)
    assert torch.allclose(out, _reference_contraction(layer, x, species), rtol=0, atol=1e-12)
    assert_irreps_equivariant(lambda a: layer(a, species), [x], [irreps_in], irreps_out, atol=1e-11)


def test_contraction_float32_equivariant_and_second_derivatives() -> None:
    torch.manual_seed(1)
    layer = SymmetricContraction("2x0e+2x1o+2x2e+2x3o", "2x0e+2x1o", n_elements=2)
    x = torch.randn(5, 32)
    species = torch.tensor([1, 0, 1, 1, 0])
    assert_irreps_equivariant(lambda a: layer(a, species), [x], ["2x0e+2x1o+2x2e+2x3o"], "2x0e+2x1o", atol=1e-5)
    layer64 = layer.double()
    x64 = x.double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: layer64(a, species), (x64,))
    assert torch.autograd.gradgradcheck(lambda a: layer64(a, species), (x64,))


def test_contraction_errors() -> None:
    with pytest.raises(ValueError, match="same multiplicity"):
        SymmetricContraction("2x0e+3x1o", "2x0e")
    with pytest.raises(ValueError, match="channelwise"):
        SymmetricContraction("2x0e+2x1o", "3x0e")
    layer = SymmetricContraction("2x0e+2x1o", "2x0e", n_elements=2)
    with pytest.raises(ValueError, match="pass species="):
        layer(torch.randn(3, 8))
    with pytest.raises(ValueError, match="needs 8"):
        layer(torch.randn(3, 9), torch.zeros(3, dtype=torch.long))


def test_linear_matches_per_element_reference_and_is_equivariant() -> None:
    torch.manual_seed(2)
    lin = IrrepsLinear("3x0e+2x1o+1x0e+2x2e", "2x0e+4x1o+1x1e", n_elements=2, bias=True).double()
    x = torch.randn(6, Irreps("3x0e+2x1o+1x0e+2x2e").dim, dtype=torch.float64)
    species = torch.tensor([0, 1, 1, 0, 1, 0])
    out = lin(x, species)
    # reference: row by row with that atom's weights
    for n in range(6):
        e = int(species[n])
        scal = torch.cat([x[n, 0:3], x[n, 9:10]])  # the two 0e slots, fan-in 4
        w0 = torch.cat([lin.weights[0][e], lin.weights[1][e]])  # paths in order: (0,0), (2,0), (1,1)
        expected0 = scal @ w0 / 2.0 + lin.biases[0][e]
        assert torch.allclose(out[n, 0:2], expected0, atol=1e-12)
        vec = x[n, 3:9].reshape(2, 3)
        expected1 = torch.einsum("ui,uw->wi", vec, lin.weights[2][e]) / math.sqrt(2)
        assert torch.allclose(out[n, 2:14].reshape(4, 3), expected1, atol=1e-12)
    assert torch.equal(out[:, 14:], torch.zeros(6, 3, dtype=torch.float64))  # no 1e input
    assert_irreps_equivariant(lambda a: lin(a, species), [x], ["3x0e+2x1o+1x0e+2x2e"], "2x0e+4x1o+1x1e", atol=1e-12)


@pytest.mark.parametrize("weight_format", ["cp", "tucker"])
def test_low_rank_weights_equal_reference_and_are_equivariant(weight_format: str) -> None:
    torch.manual_seed(4)
    irreps_in, irreps_out = "3x0e+3x1o+3x2e", "3x0e+3x1o"
    layer = SymmetricContraction(
        irreps_in, irreps_out, n_elements=2, weight_rank=2, weight_format=weight_format
    ).double()
    x = torch.randn(5, Irreps(irreps_in).dim, dtype=torch.float64)
    species = torch.tensor([0, 1, 1, 0, 1])
    assert torch.allclose(layer(x, species), _reference_contraction(layer, x, species), atol=1e-12)
    assert_irreps_equivariant(lambda a: layer(a, species), [x], [irreps_in], irreps_out, atol=1e-11)
    expected = 0
    for K in layer.sizes:
        shape = (2, K, 3)
        ranks = (2, 2, 2) if weight_format == "cp" else tuple(min(2, n) for n in shape)
        expected += sum(n * r for n, r in zip(shape, ranks)) + (math.prod(ranks) if weight_format == "tucker" else 0)
    assert sum(p.numel() for p in layer.parameters()) == expected


def test_full_rank_tucker_reproduces_the_full_layer() -> None:
    torch.manual_seed(5)
    irreps = "2x0e+2x1o"
    full = SymmetricContraction(irreps, irreps, n_elements=2).double()
    tucker = SymmetricContraction(irreps, irreps, n_elements=2, weight_rank=64, weight_format="tucker").double()
    with torch.no_grad():
        for W, factors in zip(full.weights, tucker.factors):
            core, *mats = factors
            core.copy_(W)
            for m in mats:
                m.copy_(torch.eye(m.shape[0], dtype=m.dtype))
    x, species = torch.randn(4, 8, dtype=torch.float64), torch.tensor([1, 0, 0, 1])
    assert torch.allclose(tucker(x, species), full(x, species), atol=1e-13)


def test_low_rank_errors() -> None:
    with pytest.raises(ValueError, match="weight_format must be one of"):
        SymmetricContraction("2x0e", "2x0e", weight_format="tt")
    with pytest.raises(ValueError, match="weight_rank must be >= 1"):
        SymmetricContraction("2x0e", "2x0e", weight_rank=0)


def test_linear_per_element_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Weights gathered per atom (moderate batches) and applied element by element (large ones) agree."""
    torch.manual_seed(6)
    lin = IrrepsLinear("4x0e+3x1o+2x1o", "5x0e+2x1o", n_elements=3).double()
    x = torch.randn(11, Irreps("4x0e+3x1o+2x1o").dim, dtype=torch.float64)
    species = torch.tensor([2, 0, 1, 1, 2, 0, 0, 2, 1, 0, 2])
    gathered = lin(x, species)
    monkeypatch.setattr(contraction_module, "_GATHER_LIMIT", 0)
    assert torch.allclose(lin(x, species), gathered, atol=1e-13)


@pytest.mark.parametrize(
    "n_elements, weight_rank, basis",
    [(1, None, "orthonormal"), (3, None, "orthonormal"), (3, 2, "orthonormal"), (3, None, "paths"), (3, 2, "paths")],
)
def test_contraction_sparse_per_atom_and_per_element_paths_agree(
    monkeypatch: pytest.MonkeyPatch, n_elements: int, weight_rank: int | None, basis: str
) -> None:
    """The nonzero-coupling path (a few atoms) and the per-element products: same values, same gradients."""
    torch.manual_seed(7)
    irreps_in, irreps_out = "4x0e+4x1o+4x2e+4x3o", "4x0e+4x1o"
    layer = SymmetricContraction(
        irreps_in, irreps_out, n_elements=n_elements, weight_rank=weight_rank, basis=basis
    ).double()
    x = torch.randn(10, Irreps(irreps_in).dim, dtype=torch.float64, requires_grad=True)
    species = torch.tensor([0, 2, 1, 1, 0, 2, 2, 0, 1, 0]) % n_elements if n_elements > 1 else None
    results = []
    for rows in (10**6, 0):  # every batch through the sparse path, then none
        monkeypatch.setattr(contraction_module, "PER_ATOM_ROWS", rows)
        out = layer(x, species)
        grads = torch.autograd.grad((out * torch.linspace(-1, 1, out.shape[1])).sum(), [x, *layer.parameters()])
        results.append((out, grads))
    (a, ga), (b, gb) = results
    assert torch.allclose(a, b, atol=1e-12)
    assert all(torch.allclose(u, v, atol=1e-11) for u, v in zip(ga, gb))
