"""EGNN: E(n)-equivariant graph neural network (Satorras, Hoogeboom & Welling, ICML 2021) as a potential.

Each layer ``l`` updates invariant atom features ``h`` and (optionally) the coordinates:

``m_ij = phi_e(h_i, h_j, |x_i - x_j|^2, rbf(|x_i - x_j|)) * w_ij``
``x_i <- x_i + sum_j (x_i - x_j) / (|x_i - x_j| + 1) * phi_x(m_ij) / n_norm``
``h_i <- h_i + phi_h(h_i, sum_j m_ij)``

(paper Eqs. 3-6). As a potential the graph is the cutoff graph and ``w_ij`` is a smooth
cutoff times an optional learned edge gate ``sigmoid(phi_inf(m_ij))`` (the paper's
"inferring edges"), so the energy is smooth when atoms cross the cutoff; the distances
also enter through a radial basis, which the squared distance alone learns slowly.
The coordinate update moves atoms by differences of bond vectors, so with periodic
boundaries the edge vectors carry their image shifts along. The atomic energy is an MLP
of the final ``h_i``; forces come from autograd through all layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from physics.potentials._model import Potential
from physics.potentials._radial import GaussianBasis, cosine_cutoff

__all__ = ["EGNN"]

_ACTIVATIONS = {"silu": nn.SiLU, "tanh": nn.Tanh, "gelu": nn.GELU, "softplus": nn.Softplus}


def _mlp(sizes: Sequence[int], act: type[nn.Module], last_act: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2 or last_act:
            layers.append(act())
    return nn.Sequential(*layers)


class _Layer(nn.Module):
    def __init__(
        self, hidden: int, n_rbf: int, act: type[nn.Module], update_positions: bool, attention: bool, norm: float
    ) -> None:
        super().__init__()
        self.edge = _mlp([2 * hidden + 1 + n_rbf, hidden, hidden], act, last_act=True)
        self.node = _mlp([2 * hidden, hidden, hidden], act)
        self.gate = nn.Sequential(nn.Linear(hidden, 1), nn.Sigmoid()) if attention else None
        if update_positions:
            last = nn.Linear(hidden, 1, bias=False)
            nn.init.xavier_uniform_(last.weight, gain=1e-3)  # start close to the identity map
            self.coord: nn.Sequential | None = nn.Sequential(nn.Linear(hidden, hidden), act(), last)
        else:
            self.coord = None
        self.norm = norm

    def forward(
        self, h: torch.Tensor, vectors: torch.Tensor, edge_index: torch.Tensor, basis: nn.Module, cut: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        src, dst = edge_index
        d2 = (vectors * vectors).sum(-1)
        d = torch.sqrt(d2 + 1e-12)
        m = self.edge(torch.cat([h[src], h[dst], d2[:, None], basis(d)], dim=-1))
        # The cutoff weight is that of the input geometry's distance, so an edge entering the cutoff
        # sphere contributes nothing in every layer, however far earlier layers moved the atoms.
        w = cut[:, None]
        if self.gate is not None:
            w = w * self.gate(m)
        m = m * w
        if self.coord is not None:
            # x_i - x_j = -vectors (vectors point from the centre to the neighbour).
            step = torch.zeros_like(h[:, :3]).index_add_(0, src, -vectors / (d + 1.0)[:, None] * self.coord(m) * w)
            step = step / self.norm
            vectors = vectors + step[dst] - step[src]
        agg = torch.zeros_like(h).index_add_(0, src, m) / self.norm
        return h + self.node(torch.cat([h, agg], dim=-1)), vectors


class EGNN(Potential):
    """E(n)-equivariant graph network potential (Satorras et al. 2021): invariant energy, equivariant forces.

    Parameters
    ----------
    hidden_channels : int
        Width of the atom features and MLPs (default 128).
    num_layers : int
        Message-passing layers (default 4).
    cutoff : float
        Graph cutoff in Angstrom (default 5.0).
    num_rbf : int
        Gaussian radial basis functions added to the squared distance (0 for the paper's plain
        ``|x_i - x_j|^2``).
    update_positions : bool
        The paper's coordinate update (equivariant); ``False`` gives an invariant MPNN.
    attention : bool
        Learned edge gates ``sigmoid(phi_inf(m_ij))``.
    neighbor_norm : float
        Sums over neighbours are divided by this (a typical neighbour count keeps activations
        O(1)).
    activation : {"silu", "tanh", "gelu", "softplus"}
    elements : sequence of int, optional
        Atomic numbers the model accepts (default: all 1..118).
    dtype : torch.dtype, optional

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = EGNN(hidden_channels=16, num_layers=2, num_rbf=8, elements=(1, 6, 8))
    >>> numbers = torch.tensor([6, 8, 1, 1])
    >>> positions = torch.tensor([[0.0, 0.0, 0.0], [1.2, 0.0, 0.0], [-0.5, 0.9, 0.0], [-0.5, -0.9, 0.0]])
    >>> out = model(numbers, positions)
    >>> out["forces"].shape
    torch.Size([4, 3])

    References
    ----------
    V. G. Satorras, E. Hoogeboom and M. Welling, "E(n) Equivariant Graph Neural Networks",
    ICML 2021, arXiv:2102.09844.
    """

    def __init__(
        self,
        hidden_channels: int = 128,
        num_layers: int = 4,
        cutoff: float = 5.0,
        num_rbf: int = 32,
        *,
        update_positions: bool = True,
        attention: bool = True,
        neighbor_norm: float = 10.0,
        activation: str = "silu",
        elements: Sequence[int] | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(cutoff, elements)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if hidden_channels < 3 or num_layers < 1 or num_rbf < 0 or not neighbor_norm > 0:
            raise ValueError("need hidden_channels >= 3, num_layers >= 1, num_rbf >= 0 and neighbor_norm > 0")
        act = _ACTIVATIONS[activation]
        self.hidden_channels, self.num_layers, self.num_rbf = hidden_channels, num_layers, num_rbf
        self.update_positions = update_positions
        self.attention, self.neighbor_norm, self.activation = attention, float(neighbor_norm), activation
        self.embedding = nn.Embedding(self.n_species, hidden_channels)
        self.basis = GaussianBasis(num_rbf, cutoff) if num_rbf >= 2 else _Empty()
        self.layers = nn.ModuleList(
            _Layer(
                hidden_channels,
                num_rbf if num_rbf >= 2 else 0,
                act,
                update_positions and k < num_layers - 1,
                attention,
                neighbor_norm,
            )
            for k in range(num_layers)
        )
        self.head = _mlp([hidden_channels, hidden_channels, 1], act)
        if dtype is not None:
            self.to(dtype)

    def atomic_energies(self, species: torch.Tensor, edge_index: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        h = self.embedding(species)
        vectors = vectors.to(h.dtype)
        cut = cosine_cutoff(vectors.norm(dim=-1), self.cutoff)
        for layer in self.layers:
            h, vectors = layer(h, vectors, edge_index, self.basis, cut)
        return self.head(h).squeeze(-1)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (see :meth:`Potential.save`)."""
        return {
            "hidden_channels": self.hidden_channels,
            "num_layers": self.num_layers,
            "cutoff": self.cutoff,
            "num_rbf": self.num_rbf,
            "update_positions": self.update_positions,
            "attention": self.attention,
            "neighbor_norm": self.neighbor_norm,
            "activation": self.activation,
            "elements": list(self.elements),
            "dtype": self._dtype_name(),
        }

    def extra_repr(self) -> str:
        return (
            f"hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, num_rbf={self.num_rbf}, "
            f"cutoff={self.cutoff}, update_positions={self.update_positions}"
        )


class _Empty(nn.Module):
    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return d.new_zeros(d.shape + (0,))
