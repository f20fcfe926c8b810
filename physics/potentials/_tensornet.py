"""TensorNet: an O(3)-equivariant message-passing potential on Cartesian rank-2 tensors.

Simeon & De Fabritiis, "TensorNet: Cartesian tensor representations for efficient learning
of molecular potentials", NeurIPS 2023 (arXiv:2306.06482).

Every atom carries ``H`` channels of a 3x3 tensor ``X = I + A + S`` split into its scalar
(``I = i Id``), antisymmetric (``A = skew(a)``, a pseudovector ``a``) and symmetric
traceless (``S``) parts. Internally the parts are kept in compact form (``i``: ``(N, H)``,
``a``: ``(N, 3, H)``, ``S`` by its 5 coordinates in an orthonormal basis: ``(N, 5, H)``) so
messages move 9 instead of 27 numbers per channel; full matrices are formed only per atom,
for the matrix products of the interaction.

Embedding (paper Sec. 3.1): for each bond ``r_ij`` with unit vector ``u``,

``X_ij = phi(r) Z_ij [f_I(r) Id + f_A(r) skew(u) + f_S(r) (u u^T - Id/3)]``

with ``Z_ij`` a linear map of the two atoms' element embeddings, ``f_*`` linear maps of the
exp-normal radial basis and ``phi`` the cosine cutoff; ``X_i = sum_j X_ij``. The three parts
are then scaled channel-wise by an MLP of the (layer-normalised) norm of ``X_i``.

Interaction (Sec. 3.2): ``X <- X / (|X|^2 + 1)``; ``Y`` = channel-mixed parts;
``M_i = sum_j f_I(r_ij) I_j + f_A(r_ij) A_j + f_S(r_ij) S_j`` with ``f_*`` an MLP of the radial
basis times the cutoff; ``P = M Y + Y M`` (O(3)) or ``2 Y M`` (SO(3), which is not parity-even);
the parts of ``P`` are normalised by ``|P|^2 + 1`` and channel-mixed into ``dX``, and
``X <- X + dX + dX^2``.

Output (Sec. 3.3): the norms ``|I|^2, |A|^2, |S|^2`` of every channel, layer-normalised, a
linear layer and an MLP give the atomic energy.

Norms are squared Frobenius norms, as in the authors' implementation: the paper's plain norm
has an infinite derivative at zero (an atom without neighbours).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from physics.potentials._model import Potential
from physics.potentials._radial import ExpNormalBasis, cosine_cutoff

__all__ = ["TensorNet"]

_ACTIVATIONS = {"silu": nn.SiLU, "tanh": nn.Tanh, "gelu": nn.GELU, "softplus": nn.Softplus}
GROUPS = ("O(3)", "SO(3)")


# --------------------------------------------------------------------- compact tensor parts
#
# Layout: channels last. A channel's tensor X = i Id + skew(a) + S is held as i (..., H),
# a (..., 3, H) and the symmetric traceless S as its 5 coordinates s (..., 5, H) in the
# Frobenius-orthonormal basis B1..B5 below, so |X|^2 = 3 i^2 + 2 |a|^2 + |s|^2 and channel
# mixing is a plain nn.Linear on the last axis. Full matrices (..., 3, 3, H) are formed only
# per atom, for the matrix products.

_R2, _R6 = math.sqrt(2.0), math.sqrt(6.0)


def _traceless_coords(u: torch.Tensor) -> torch.Tensor:
    """``(E, 3)`` vectors -> ``(E, 5)`` coordinates of ``u u^T - |u|^2 Id / 3`` in the basis
    ``B1 = (xy + yx)/sqrt2, B2 = (xz + zx)/sqrt2, B3 = (yz + zy)/sqrt2, B4 = (xx - yy)/sqrt2,
    B5 = (2 zz - xx - yy)/sqrt6``."""
    x, y, z = u.unbind(-1)
    return torch.stack(
        [_R2 * x * y, _R2 * x * z, _R2 * y * z, (x * x - y * y) / _R2, (2 * z * z - x * x - y * y) / _R6], dim=-1
    )


def _full(i: torch.Tensor, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Compact parts -> ``(..., 3, 3, H)`` matrices."""
    ax, ay, az = a.unbind(-2)
    s1, s2, s3, s4 = (c / _R2 for c in s[..., :4, :].unbind(-2))
    s5 = s[..., 4, :] / _R6
    rows = [i + s4 - s5, s1 - az, s2 + ay, s1 + az, i - s4 - s5, s3 - ax, s2 - ay, s3 + ax, i + 2.0 * s5]
    return torch.stack(rows, dim=-2).unflatten(-2, (3, 3))


def _parts(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(..., 3, 3, H)`` matrices -> compact ``(i, a, s)``."""
    x00, x01, x02, x10, x11, x12, x20, x21, x22 = x.flatten(-3, -2).unbind(-2)
    i = (x00 + x11 + x22) / 3.0
    a = 0.5 * torch.stack([x21 - x12, x02 - x20, x10 - x01], dim=-2)
    s = torch.stack(
        [(x01 + x10) / _R2, (x02 + x20) / _R2, (x12 + x21) / _R2, (x00 - x11) / _R2, (2.0 * x22 - x00 - x11) / _R6],
        dim=-2,
    )
    return i, a, s


def _matmul(m: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Channel-wise 3x3 products of ``(..., 3, 3, H)`` stacks."""
    return (
        m[..., :, 0:1, :] * y[..., 0:1, :, :]
        + m[..., :, 1:2, :] * y[..., 1:2, :, :]
        + m[..., :, 2:3, :] * y[..., 2:3, :, :]
    )


def _sq_norm(i: torch.Tensor, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius norm of ``i Id + skew(a) + S`` (the three parts are orthogonal)."""
    return 3.0 * i * i + 2.0 * (a * a).sum(-2) + (s * s).sum(-2)


class _Embedding(nn.Module):
    def __init__(self, n_species: int, hidden: int, n_rbf: int, act: type[nn.Module]) -> None:
        super().__init__()
        self.atom = nn.Embedding(n_species, hidden)
        self.pair = nn.Linear(2 * hidden, hidden)  # Z_ij = W [z_i, z_j] + b
        self.radial = nn.Linear(n_rbf, 3 * hidden)
        self.norm = nn.LayerNorm(hidden)
        self.scalar = nn.ModuleList([nn.Linear(hidden, 2 * hidden), nn.Linear(2 * hidden, 3 * hidden)])
        self.mix = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(3))
        self.act = act()

    def forward(
        self, species: torch.Tensor, edge_index: torch.Tensor, unit: torch.Tensor, rbf: torch.Tensor, cut: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, (src, dst) = species.shape[0], edge_index
        z = self.atom(species)
        hidden = z.shape[-1]
        # W [z_i, z_j] = W_1 z_i + W_2 z_j: two per-atom products instead of one per edge.
        w1, w2 = self.pair.weight.split(hidden, dim=1)
        zij = ((z @ w1.T)[src] + (z @ w2.T + self.pair.bias)[dst]) * cut[:, None]
        half = rbf.shape[0] // 2
        radial = self.radial(rbf[:half])  # a function of the distance: the same for both directions
        f = torch.cat([radial, radial]).unflatten(-1, (3, hidden)) * zij[:, None, :]
        # One scatter for all nine coordinates: [i | a (3) | s (5)] per channel.
        geometry = torch.cat([torch.ones_like(unit[:, :1]), unit, _traceless_coords(unit)], dim=-1)
        weights = torch.cat([f[:, :1], f[:, 1:2].expand(-1, 3, -1), f[:, 2:].expand(-1, 5, -1)], dim=1)
        x = z.new_zeros(n, 9, hidden).index_add_(0, src, weights * geometry[:, :, None])
        i, a, s = x[:, 0], x[:, 1:4], x[:, 4:]
        g = self.norm(_sq_norm(i, a, s))
        for lin in self.scalar:
            g = self.act(lin(g))
        gi, ga, gs = g.chunk(3, dim=-1)
        return self.mix[0](i) * gi, self.mix[1](a) * ga[:, None], self.mix[2](s) * gs[:, None]


class _Interaction(nn.Module):
    def __init__(self, hidden: int, n_rbf: int, act: type[nn.Module], group: str) -> None:
        super().__init__()
        self.radial = nn.ModuleList(
            [nn.Linear(n_rbf, hidden), nn.Linear(hidden, 2 * hidden), nn.Linear(2 * hidden, 3 * hidden)]
        )
        self.mix = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(6))
        self.act = act()
        self.group = group

    def forward(
        self,
        parts: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        edge_index: torch.Tensor,
        rbf: torch.Tensor,
        cut: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src, dst = edge_index
        half = rbf.shape[0] // 2
        f = rbf[:half]
        for lin in self.radial:
            f = self.act(lin(f))
        f = f * cut[:half, None]
        f = torch.cat([f, f]).unflatten(-1, (3, -1))
        i, a, s = parts
        scale = 1.0 / (_sq_norm(i, a, s) + 1.0)
        i, a, s = i * scale, a * scale[:, None], s * scale[:, None]
        yi, ya, ys = self.mix[0](i), self.mix[1](a), self.mix[2](s)
        fi, fa, fs = f.unbind(1)
        mi = torch.zeros_like(yi).index_add_(0, src, fi * yi.index_select(0, dst))
        ma = torch.zeros_like(ya).index_add_(0, src, fa[:, None] * ya.index_select(0, dst))
        ms = torch.zeros_like(ys).index_add_(0, src, fs[:, None] * ys.index_select(0, dst))
        y, m = _full(yi, ya, ys), _full(mi, ma, ms)
        p = _matmul(m, y) + _matmul(y, m) if self.group == "O(3)" else 2.0 * _matmul(y, m)
        pi, pa, ps = _parts(p)
        scale = 1.0 / (_sq_norm(pi, pa, ps) + 1.0)
        di, da, ds = self.mix[3](pi * scale), self.mix[4](pa * scale[:, None]), self.mix[5](ps * scale[:, None])
        dx = _full(di, da, ds)
        qi, qa, qs = _parts(_matmul(dx, dx))
        return i + di + qi, a + da + qa, s + ds + qs


class TensorNet(Potential):
    """TensorNet potential (Simeon & De Fabritiis 2023): energies and forces of molecules and crystals.

    Parameters
    ----------
    hidden_channels : int
        Channels ``H`` of the atomic tensors (paper: 128).
    num_layers : int
        Interaction layers (paper: 2).
    num_rbf : int
        Exp-normal radial basis functions (paper: 32).
    cutoff : float
        Cutoff radius in Angstrom (paper: 4.5).
    group : {"O(3)", "SO(3)"}
        Symmetry group of the tensor products: ``"O(3)"`` gives energies invariant under
        rotations *and* reflections; ``"SO(3)"`` only under rotations (chiral models).
    activation : {"silu", "tanh", "gelu", "softplus"}
    elements : sequence of int, optional
        Atomic numbers the model accepts (default: all 1..118); others raise ``ValueError``.
    dtype : torch.dtype, optional
        Parameter dtype (default: torch's default dtype).

    Examples
    --------
    Energy and forces of a water molecule from an untrained model:

    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = TensorNet(hidden_channels=16, num_layers=1, num_rbf=8, elements=(1, 8)).eval()
    >>> numbers = torch.tensor([8, 1, 1])
    >>> positions = torch.tensor([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    >>> out = model(numbers, positions)
    >>> out["energy"].shape, out["forces"].shape
    (torch.Size([1]), torch.Size([3, 3]))
    >>> float(out["forces"].sum(0).abs().max()) < 1e-5  # no net force on an isolated molecule
    True

    Fitting to energies and forces (see :func:`physics.potentials.fit`)::

        from physics.potentials import TensorNet, fit, load_frames
        frames = load_frames("xtb_md_ethanol")
        result = fit(TensorNet(), frames[:1000], epochs=300, batch_size=16)

    References
    ----------
    G. Simeon and G. De Fabritiis, "TensorNet: Cartesian Tensor Representations for Efficient
    Learning of Molecular Potentials", NeurIPS 2023, arXiv:2306.06482.
    """

    def __init__(
        self,
        hidden_channels: int = 128,
        num_layers: int = 2,
        num_rbf: int = 32,
        cutoff: float = 4.5,
        *,
        group: str = "O(3)",
        activation: str = "silu",
        elements: Sequence[int] | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(cutoff, elements)
        if group not in GROUPS:
            raise ValueError(f"group must be one of {GROUPS}, got {group!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if hidden_channels < 1 or num_layers < 0 or num_rbf < 1:
            raise ValueError(
                f"need hidden_channels >= 1, num_layers >= 0, num_rbf >= 1; got {hidden_channels}, "
                f"{num_layers}, {num_rbf}"
            )
        act = _ACTIVATIONS[activation]
        self.hidden_channels, self.num_layers, self.num_rbf, self.group = hidden_channels, num_layers, num_rbf, group
        self.activation = activation
        self.rbf = ExpNormalBasis(num_rbf, cutoff)
        self.embedding = _Embedding(self.n_species, hidden_channels, num_rbf, act)
        self.layers = nn.ModuleList(_Interaction(hidden_channels, num_rbf, act, group) for _ in range(num_layers))
        self.out_norm = nn.LayerNorm(3 * hidden_channels)
        self.out_linear = nn.Linear(3 * hidden_channels, hidden_channels)
        self.head = nn.Sequential(
            nn.Linear(hidden_channels, hidden_channels // 2 or 1), act(), nn.Linear(hidden_channels // 2 or 1, 1)
        )
        self.act = act()
        if dtype is not None:
            self.to(dtype)

    def atomic_energies(self, species: torch.Tensor, edge_index: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        dtype = self.out_linear.weight.dtype
        vectors = vectors.to(dtype)
        d = vectors.norm(dim=-1)
        unit = vectors / d.clamp_min(1e-12)[:, None]
        rbf = self.rbf(d).to(dtype)
        cut = cosine_cutoff(d, self.cutoff)
        parts = self.embedding(species, edge_index, unit, rbf, cut)
        for layer in self.layers:
            parts = layer(parts, edge_index, rbf, cut)
        i, a, s = parts
        feats = torch.cat([3.0 * i * i, 2.0 * (a * a).sum(-2), (s * s).sum(-2)], dim=-1)
        h = self.act(self.out_linear(self.out_norm(feats)))
        return self.head(h).squeeze(-1)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (see :meth:`Potential.save`)."""
        return {
            "hidden_channels": self.hidden_channels,
            "num_layers": self.num_layers,
            "num_rbf": self.num_rbf,
            "cutoff": self.cutoff,
            "group": self.group,
            "activation": self.activation,
            "elements": list(self.elements),
            "dtype": self._dtype_name(),
        }

    def extra_repr(self) -> str:
        return (
            f"hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, num_rbf={self.num_rbf}, "
            f"cutoff={self.cutoff}, group={self.group!r}, elements={len(self.elements)}"
        )
