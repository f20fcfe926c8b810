"""MACE: higher-order equivariant message passing with a symmetric product basis.

Batatia, Kovács, Simm, Ortner & Csányi, "MACE: Higher Order Equivariant Message Passing
Neural Networks for Fast and Accurate Force Fields", NeurIPS 2022 (arXiv:2206.07697).

Each atom carries ``C`` channels of O(3) irreps (``h``: scalars in the first layer, then
``0e + 1o + ...`` up to ``hidden_l``). A layer

1. mixes the channels (:class:`~physics.equivariant.IrrepsLinear`), forms for every edge
   ``j -> i`` the channelwise tensor product of ``h_j`` with the spherical harmonics of
   ``r_ij`` up to ``l_max``, weighted per edge and path by an MLP of the radial Bessel basis
   times the polynomial envelope (:class:`~physics.equivariant.TensorProduct`, automatic
   backend), one output slot per path, and sums over neighbours divided by the average
   neighbour count: the atomic basis ``A_i`` (2-body);
2. raises the body order by the symmetric contraction of ``A_i`` with itself up to
   ``correlation`` times, with per-element weights
   (:class:`~physics.equivariant.SymmetricContraction`): ``correlation = 3`` gives 4-body
   features in one layer;
3. adds an element-dependent linear skip connection of ``h`` from the second layer on; the
   first layer maps its basis ``A`` by an element-dependent linear map instead.

Each layer's scalar channels give an atomic energy term (a linear readout, an MLP for the
last layer); their sum is the network energy ``e_i`` of :class:`Potential`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from physics.equivariant import Irreps, IrrepsLinear, SymmetricContraction, TensorProduct
from physics.potentials._model import Potential
from physics.potentials._neighbors import neighbor_list
from physics.potentials._radial import BesselBasis, polynomial_cutoff

__all__ = ["MACE"]


def _silu_second_moment() -> float:
    """``E[silu(z)^2]`` for ``z ~ N(0, 1)`` (Gauss–Hermite quadrature)."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    silu = x / (1.0 + np.exp(-x))
    return float(np.sum(w * silu**2) / np.sqrt(2 * np.pi))


_SILU_GAIN = 1.0 / math.sqrt(_silu_second_moment())


class _ScaledSiLU(nn.Module):
    """SiLU scaled to unit second moment on standard normal inputs (e3nn's ``normalize2mom``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.silu(x) * _SILU_GAIN


class _NormalizedLinear(nn.Module):
    """``x W^T / sqrt(fan_in)`` with ``W`` standard normal, no bias (e3nn's parametrisation).

    The same function at initialisation as a linear layer initialised with std
    ``1 / sqrt(fan_in)``, but trained differently: Adam's steps are of the order of the
    learning rate in ``W``, so ``1 / sqrt(fan_in)`` smaller in the map itself. mace-torch's
    learning rates are tuned for this (with the standard parametrisation the radial MLP's
    relative steps were 8x larger and the fits a third worse at equal epochs)."""

    def __init__(self, fan_in: int, fan_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in))
        self.scale = 1.0 / math.sqrt(fan_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.weight.t() * self.scale)


class _MLP(nn.Module):
    """Bias-free MLP of :class:`_NormalizedLinear` layers and unit-second-moment SiLUs:
    inputs of unit scale stay unit scale (the radial MLP; the last readout)."""

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(_NormalizedLinear(a, b))
            if k < len(sizes) - 2:
                layers.append(_ScaledSiLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _degrees(lmax: int, channels: int) -> Irreps:
    """``C x (0e + 1o + 2e + ...)`` up to ``lmax``: the parities of spherical harmonics."""
    return Irreps.spherical_harmonics(lmax, channels)


class _Interaction(nn.Module):
    """One MACE layer: edge products -> atomic basis A -> symmetric contraction (+ skip)."""

    def __init__(
        self,
        irreps_h: Irreps,
        irreps_out: Irreps,
        *,
        channels: int,
        l_max: int,
        correlation: int,
        n_elements: int,
        radial: Sequence[int],
        skip: bool,
        backend: str,
        product_rank: int | None,
        product_format: str,
        product_basis: str,
    ) -> None:
        super().__init__()
        sh = Irreps.spherical_harmonics(l_max)
        target = _degrees(l_max, channels)
        # one output slot per path, as MACE's tensor product: the linear map after it mixes them
        mid: list[tuple[int, tuple[int, str]]] = []
        instructions: list[tuple[int, int, int]] = []
        for i1, (_, ir1) in enumerate(irreps_h):
            for i2, (_, ir2) in enumerate(sh):
                for _, ir in target:
                    if ir.p == ir1.p * ir2.p and abs(ir1.l - ir2.l) <= ir.l <= ir1.l + ir2.l:
                        instructions.append((i1, i2, len(mid)))
                        mid.append((channels, (ir.l, "e" if ir.p == 1 else "o")))
        irreps_mid = Irreps(mid)
        self.up = IrrepsLinear(irreps_h, irreps_h)
        self.product = TensorProduct(
            irreps_h,
            sh,
            irreps_mid,
            instructions,
            mode="uvu",
            shared_weights=False,
            internal_weights=False,
            backend=backend,
        )
        self.radial = _MLP([*radial, self.product.weight_numel])
        self.mix = IrrepsLinear(irreps_mid, target)
        self.contraction = SymmetricContraction(
            target,
            irreps_out,
            correlation=correlation,
            n_elements=n_elements,
            weight_rank=product_rank,
            weight_format=product_format,
            basis=product_basis,
        )
        self.out = IrrepsLinear(irreps_out, irreps_out)
        self.skip = IrrepsLinear(irreps_h, irreps_out, n_elements=n_elements) if skip else None
        # the first layer has no skip connection; its basis gets an element-dependent linear
        # map instead (MACE's first interaction block)
        self.element_mix = None if skip else IrrepsLinear(target, target, n_elements=n_elements)

    def forward(
        self,
        h: torch.Tensor,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        vectors: torch.Tensor,
        radial_basis: torch.Tensor,
        average_neighbors: torch.Tensor,
    ) -> torch.Tensor:
        weights = self.radial(radial_basis)
        if weights.shape[0] != vectors.shape[0]:  # computed on the first half of the edges
            weights = torch.cat([weights, weights], dim=0)
        x = self.up(h)
        A = self.product(
            x[edge_index[1]], weight=weights, vectors=vectors, receivers=edge_index[0], n_receivers=h.shape[0]
        )
        A = self.mix(A / average_neighbors.to(A.dtype))
        if self.element_mix is not None:
            A = self.element_mix(A, species)
        out = self.out(self.contraction(A, species))
        if self.skip is not None:
            out = out + self.skip(h, species)
        return out


class MACE(Potential):
    """MACE interatomic potential (Batatia et al. 2022) on tnkit's fast tensor products.

    Parameters
    ----------
    channels : int, optional
        Channels ``C`` of every irrep (MACE's ``num_channels``; default 32).
    l_max : int, optional
        Degree of the edge harmonics and of the atomic basis ``A`` (default 3, MACE's ``max_ell``).
    hidden_l : int, optional
        Degree of the features passed between layers (default 1: ``C x (0e + 1o)``, MACE's
        ``max_L``); the last layer keeps scalars only.
    num_layers : int, optional
        Interaction layers (default 2).
    correlation : int, optional
        Copies of ``A`` in the symmetric contraction, 1..3 (default 3: body order 4 per layer).
    num_bessel : int, optional
        Radial Bessel functions (default 8).
    polynomial_p : int, optional
        Degree of the envelope (default 5).
    cutoff : float, optional
        Angstrom (default 5).
    radial_hidden : sequence of int, optional
        Hidden widths of the radial MLP (default ``(64, 64, 64)``).
    readout_hidden : int, optional
        Hidden width of the last layer's readout MLP (default 16).
    average_neighbors : float, optional
        Divides the neighbour sums; default 1 until :meth:`calibrate` (called by :func:`fit`)
        sets it to the training set's mean neighbour count.
    product_rank : int, optional
        Low-rank product-basis weights: each ``(elements, K, channels)`` weight tensor of the
        symmetric contraction factorised with this rank (default: full weights, MACE's).
    product_format : {"cp", "tucker"}
        The factorisation (tnkit's :class:`~tnkit.decompositions.CP` or
        :class:`~tnkit.decompositions.Tucker`; default ``"cp"``).
    product_basis : {"orthonormal", "paths"}
        What the product-basis weights multiply (:class:`~physics.equivariant.SymmetricContraction`'s
        ``basis``): an orthonormal basis (default: 42 weights per channel and element at the
        defaults) or mace-torch's linearly dependent coupling trees, one weight each (114:
        its parametrisation and parameter count; the same functions, and on the full ethanol
        split the same test force error within 1 %).
    backend : str, optional
        Tensor-product backend (default ``"auto"``: measured per edge-count octave).
    elements : sequence of int, optional
        Atomic numbers the model accepts (default all; fewer elements mean fewer weights —
        the contraction and skip have one weight set per element).
    dtype : torch.dtype, optional
        Parameter dtype (default: torch's default).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = MACE(channels=8, l_max=2, num_layers=2, elements=(1, 8), dtype=torch.float64).eval()
    >>> numbers = torch.tensor([8, 1, 1])
    >>> positions = torch.tensor([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]], dtype=torch.float64)
    >>> out = model(numbers, positions)
    >>> out["energy"].shape, out["forces"].shape
    (torch.Size([1]), torch.Size([3, 3]))
    >>> float(out["forces"].sum(0).abs().max()) < 1e-12  # no net force on an isolated molecule
    True

    References
    ----------
    I. Batatia, D. P. Kovács, G. N. C. Simm, C. Ortner and G. Csányi, "MACE: Higher Order
    Equivariant Message Passing Neural Networks for Fast and Accurate Force Fields",
    NeurIPS 2022, arXiv:2206.07697.
    """

    average_neighbors: torch.Tensor  # a buffer registered in __init__

    def __init__(
        self,
        channels: int = 32,
        l_max: int = 3,
        hidden_l: int = 1,
        num_layers: int = 2,
        correlation: int = 3,
        num_bessel: int = 8,
        polynomial_p: int = 5,
        cutoff: float = 5.0,
        radial_hidden: Sequence[int] = (64, 64, 64),
        readout_hidden: int = 16,
        *,
        average_neighbors: float = 1.0,
        product_rank: int | None = None,
        product_format: str = "cp",
        product_basis: str = "orthonormal",
        backend: str = "auto",
        elements: Sequence[int] | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(cutoff, elements)
        if channels < 1 or num_layers < 1 or num_bessel < 1 or readout_hidden < 1:
            raise ValueError(
                f"MACE: need channels, num_layers, num_bessel, readout_hidden >= 1; got {channels}, {num_layers}, "
                f"{num_bessel}, {readout_hidden}"
            )
        if not 0 <= hidden_l <= l_max:
            raise ValueError(f"MACE: need 0 <= hidden_l <= l_max, got hidden_l={hidden_l}, l_max={l_max}")
        if not 1 <= correlation <= 3:
            raise ValueError(f"MACE: correlation must be 1..3, got {correlation}")
        if not average_neighbors > 0:
            raise ValueError(f"MACE: average_neighbors must be positive, got {average_neighbors}")
        self.channels, self.l_max, self.hidden_l, self.num_layers = channels, l_max, hidden_l, num_layers
        self.correlation, self.num_bessel, self.polynomial_p = correlation, num_bessel, polynomial_p
        self.radial_hidden, self.readout_hidden, self.backend = tuple(radial_hidden), readout_hidden, backend
        self.product_rank, self.product_format, self.product_basis = product_rank, product_format, product_basis
        self.register_buffer("average_neighbors", torch.tensor(float(average_neighbors), dtype=torch.float64))
        self.bessel = BesselBasis(num_bessel, cutoff)
        self.embedding = nn.Embedding(self.n_species, channels)
        nn.init.normal_(self.embedding.weight)
        # a learned constant per element on top of the least-squares reference energies: the
        # readouts have no biases, and without it the constant part of the initial atomic
        # energies is unlearned only slowly when forces dominate the loss (mace-torch's case)
        self.element_offsets = nn.Parameter(torch.zeros(self.n_species))
        self.layers = nn.ModuleList()
        self.readouts = nn.ModuleList()
        irreps_h = Irreps(f"{channels}x0e")
        for k in range(num_layers):
            last = k == num_layers - 1
            irreps_out = Irreps(f"{channels}x0e") if last else _degrees(hidden_l, channels)
            self.layers.append(
                _Interaction(
                    irreps_h,
                    irreps_out,
                    channels=channels,
                    l_max=l_max,
                    correlation=correlation,
                    n_elements=self.n_species,
                    radial=(num_bessel, *self.radial_hidden),
                    skip=k > 0,
                    backend=backend,
                    product_rank=product_rank,
                    product_format=product_format,
                    product_basis=product_basis,
                )
            )
            # readouts of the scalars: linear in the first layers, one hidden layer in the last (MACE's)
            self.readouts.append(_MLP([channels, readout_hidden, 1] if last else [channels, 1]))
            irreps_h = irreps_out
        if dtype is not None:
            self.to(dtype)
            self.average_neighbors.data = self.average_neighbors.data.to(torch.float64)

    def atomic_energies(self, species: torch.Tensor, edge_index: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        dtype = self.embedding.weight.dtype
        vectors = vectors.to(dtype)
        half = vectors.shape[0] // 2  # pairs, then the same pairs reversed (Potential.forward)
        d = vectors[:half].norm(dim=-1)
        radial_basis = self.bessel(d) * polynomial_cutoff(d, self.cutoff, self.polynomial_p)[:, None]
        h = self.embedding(species)
        energy = self.element_offsets[species]
        for layer, readout in zip(self.layers, self.readouts):
            h = layer(h, species, edge_index, vectors, radial_basis, self.average_neighbors)
            energy = energy + readout(h[:, : self.channels]).squeeze(-1)
        return energy

    def calibrate(self, frames: Any) -> None:
        """Set :attr:`average_neighbors` to the mean neighbour count of the frames.

        Parameters
        ----------
        frames : Frames
            Training frames (up to 512 of them, evenly spread, are counted).
        """
        self.average_neighbors.fill_(_mean_neighbors(self, frames))

    def config(self) -> dict[str, Any]:
        """Constructor arguments (see :meth:`Potential.save`)."""
        return {
            "channels": self.channels,
            "l_max": self.l_max,
            "hidden_l": self.hidden_l,
            "num_layers": self.num_layers,
            "correlation": self.correlation,
            "num_bessel": self.num_bessel,
            "polynomial_p": self.polynomial_p,
            "cutoff": self.cutoff,
            "radial_hidden": list(self.radial_hidden),
            "readout_hidden": self.readout_hidden,
            "average_neighbors": float(self.average_neighbors),
            "product_rank": self.product_rank,
            "product_format": self.product_format,
            "product_basis": self.product_basis,
            "backend": self.backend,
            "elements": list(self.elements),
            "dtype": self._dtype_name(),
        }

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, l_max={self.l_max}, hidden_l={self.hidden_l}, num_layers={self.num_layers}, "
            f"correlation={self.correlation}, cutoff={self.cutoff}, elements={len(self.elements)}"
        )


def _mean_neighbors(model: Potential, frames: Any, limit: int = 512) -> float:
    """Mean number of neighbours within the model's cutoff over (up to ``limit``, evenly spread) frames."""
    if len(frames) == 0:
        raise ValueError("MACE.calibrate: no frames")
    pick = np.linspace(0, len(frames) - 1, min(len(frames), limit)).astype(np.int64)
    edges = atoms = 0
    for batch in frames[pick].batches(64):
        graph = neighbor_list(
            batch["positions"], model.cutoff, batch=batch["batch"], cell=batch.get("cell"), pbc=batch.get("pbc")
        )
        edges += int(graph.edge_index.shape[1])
        atoms += int(batch["positions"].shape[0])
    return max(edges / atoms, 1e-3)
