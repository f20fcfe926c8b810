"""A tensor network with its cores: :class:`TensorNetwork` on a :class:`Structure`.

Core ``i`` is an array whose axes are its physical leg (if any) followed by one axis per
edge, in increasing order of the neighbour's node number. Networks convert from tensor
trains, rings, Tucker and tree networks (:meth:`TensorNetwork.from_ttn`), contract to a
dense tensor or to selected entries, and grow or truncate one edge at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.backend import namespace
from tnkit.contract import contract
from tnkit.linalg import qr
from tnkit.network.structure import Structure
from tnkit.types import RNG, Array, DType, Namespace

__all__ = ["TensorNetwork"]


# --------------------------------------------------------------------------------------
# Networks


class TensorNetwork:
    """A :class:`Structure` with its cores.

    Parameters
    ----------
    structure : Structure
    cores : sequence of arrays
        One per node, of shape ``structure.core_shape(i)``; one library and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> s = Structure.tt((2, 3, 4), (2, 2))
    >>> tn = TensorNetwork.random(s, rng=0)
    >>> tn.to_dense().shape, tn.num_params
    ((2, 3, 4), 24)
    """

    def __init__(self, structure: Structure, cores: Sequence[Array]) -> None:
        if not isinstance(structure, Structure):
            raise TypeError(f"TensorNetwork: structure must be a Structure, got {type(structure).__name__}")
        cores = list(cores)
        if len(cores) != structure.num_nodes:
            raise ValueError(f"TensorNetwork: {structure.num_nodes} nodes but {len(cores)} cores")
        namespace(*cores)
        for v, c in enumerate(cores):
            if tuple(c.shape) != structure.core_shape(v):
                raise ValueError(
                    f"TensorNetwork: core {v} has shape {tuple(c.shape)}, the structure needs {structure.core_shape(v)}"
                )
        self.structure = structure
        self.cores = cores

    @classmethod
    def random(
        cls,
        structure: Structure,
        rng: RNG = None,
        *,
        like: Array | None = None,
        dtype: DType | None = None,
    ) -> "TensorNetwork":
        """Gaussian cores scaled so the dense tensor has entries of order one.

        Parameters
        ----------
        structure : Structure
            Graph, mode sizes and ranks of the network.
        rng : numpy.random.Generator, int or None, optional
            Source of the entries (see :func:`tnkit.backend.make_rng`).
        like : array, optional
            Array whose library, device and dtype the cores take; default NumPy float64.
        dtype : dtype, optional
            Dtype of the cores (of ``like``'s library), overriding ``like.dtype``.
        """
        gen = backend.make_rng(rng)
        if like is None:
            like = np.zeros(0)
        xp = namespace(like)
        dt = like.dtype if dtype is None else dtype
        dev = backend.device_of(like)
        cores = []
        for v in range(structure.num_nodes):
            shp = structure.core_shape(v)
            bonds = shp[1:] if v < structure.ndim else shp
            scale = 1.0 / math.sqrt(max(1, math.prod(bonds)) ** 0.5) if bonds else 1.0
            cores.append(backend.random_normal(xp, shp, dtype=dt, device=dev, rng=gen) * scale)
        return cls(structure, cores)

    @classmethod
    def from_tt(cls, t: Any) -> "TensorNetwork":
        """From a :class:`tnkit.decompositions.tt.TT` (or an MPS-like object with ``cores`` ``(r, n, r')``).

        Parameters
        ----------
        t : TT
            Tensor train with cores of shape ``(r_{k-1}, n_k, r_k)``.
        """
        cores = list(t.cores)
        xp = namespace(*cores)
        d = len(cores)
        shape = tuple(int(c.shape[1]) for c in cores)
        if d == 1:
            return cls(Structure(shape, {}), [xp.reshape(cores[0], (shape[0],))])
        s = Structure.tt(shape, tuple(int(c.shape[2]) for c in cores[:-1]))
        out = [xp.reshape(cores[0], cores[0].shape[1:])]
        out += [xp.permute_dims(cores[k], (1, 0, 2)) for k in range(1, d - 1)]
        out.append(xp.reshape(cores[-1], cores[-1].shape[:2]).T)
        return cls(s, out)

    @classmethod
    def from_tr(cls, t: Any) -> "TensorNetwork":
        """From a :class:`tnkit.decompositions.tr.TR`; core ``k``'s axes become ``(n_k, left, right)``.

        Parameters
        ----------
        t : TR
            Tensor ring with cores of shape ``(r_{k-1}, n_k, r_k)``.
        """
        cores = list(t.cores)
        xp = namespace(*cores)
        d = len(cores)
        s = Structure.tr(tuple(int(c.shape[1]) for c in cores), tuple(int(c.shape[2]) for c in cores))
        out = []
        for k, c in enumerate(cores):
            c = xp.permute_dims(c, (1, 0, 2))  # (n, left=bond to k-1, right=bond to k+1)
            left, right = (k - 1) % d, (k + 1) % d
            # axes go in increasing neighbour order; the wrap-around puts "right" first for k = d-1
            out.append(c if left < right else xp.permute_dims(c, (0, 2, 1)))
        return cls(s, out)

    @classmethod
    def from_tucker(cls, t: Any) -> "TensorNetwork":
        """From a :class:`tnkit.decompositions.tucker.Tucker`: factors are the physical cores, the core node ``d``.

        Parameters
        ----------
        t : Tucker
            Tucker decomposition; its factors are ``(n_k, R_k)``.
        """
        s = Structure.tucker(t.shape, t.ranks)
        return cls(s, [*t.factors, t.core])

    @classmethod
    def from_ttn(cls, y: Any) -> "TensorNetwork":
        """From a :class:`tnkit.tree.ttn.TTN` with root dimension 1: leaves become the physical
        cores, inner tree nodes the internal nodes ``d, d+1, ...`` (in the tree's post-order).

        Parameters
        ----------
        y : TTN
            Tree tensor network with ``root_dim == 1``.
        """
        tree = y.tree
        if y.root_dim != 1:
            raise ValueError(f"TensorNetwork.from_ttn: root dimension must be 1, got {y.root_dim}")
        xp = y.xp
        d = tree.num_modes
        inner = [v for v in range(tree.num_nodes) if not tree.is_leaf(v)]
        number = {v: tree.mode[v] for v in range(tree.num_nodes) if tree.is_leaf(v)}
        number.update({v: d + k for k, v in enumerate(inner)})
        edges = {}
        for v in range(tree.num_nodes):
            p = tree.parent[v]
            if p >= 0:
                edges[(number[v], number[p])] = int(y.tensors[v].shape[-1])
        s = Structure(y.dims, edges, num_nodes=d + len(inner))
        cores: list[Array] = [None] * s.num_nodes
        for v in range(tree.num_nodes):
            t = y.tensors[v]
            if tree.is_leaf(v):
                cores[number[v]] = t
                continue
            if tree.parent[v] < 0:
                t = xp.reshape(t, t.shape[:-1])
                axes_nodes = [number[c] for c in tree.children[v]]
            else:
                axes_nodes = [number[c] for c in tree.children[v]] + [number[tree.parent[v]]]
            order = sorted(range(len(axes_nodes)), key=lambda a: axes_nodes[a])
            cores[number[v]] = xp.permute_dims(t, tuple(order))
        return cls(s, cores)

    # -- properties -------------------------------------------------------------------

    @property
    def xp(self) -> Namespace:
        """Array namespace of the cores."""
        return namespace(*self.cores)

    @property
    def dtype(self) -> DType:
        """Dtype of the cores."""
        return self.cores[0].dtype

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the represented tensor."""
        return self.structure.shape

    @property
    def num_params(self) -> int:
        """Number of core entries."""
        return self.structure.num_params

    @property
    def compression_ratio(self) -> float:
        """Entries of the dense tensor per core entry."""
        return self.structure.compression_ratio

    def __repr__(self) -> str:
        return f"TensorNetwork({self.structure!r}, dtype={self.dtype})"

    def to_dense(self) -> Array:
        """The full tensor, modes in the target's order (differentiable on torch)."""
        expr, nodes = self.structure._expression()
        return contract(expr, *(self.cores[v] for v in nodes))

    def entries(self, index: Array) -> Array:
        """Entries at integer positions ``index`` of shape ``(m, d)`` (an array of the cores'
        library), without forming the full tensor.

        Parameters
        ----------
        index : array of int, shape (m, d)
            Row ``k`` is the multi-index of entry ``k``.
        """
        s = self.structure
        expr, nodes = self.structure._expression(batch=True)
        ops = [self.cores[v] if v >= s.ndim else _gather(self.xp, self.cores[v], index[:, s.perm[v]]) for v in nodes]
        return contract(expr, *ops)

    def rse(self, target: Array, mask: Array | None = None) -> float:
        """Relative error ``||target - X||_F / ||target||_F`` (over ``mask`` when given).

        Parameters
        ----------
        target : array
            Tensor of shape ``self.shape`` to compare with.
        mask : array of bool, optional
            Entries that count; default all.
        """
        xp = namespace(target, *self.cores)
        diff = target - self.to_dense()
        if mask is not None:
            diff = xp.where(mask, diff, xp.zeros_like(diff))
            target = xp.where(mask, target, xp.zeros_like(target))
        num, den = float(xp.linalg.vector_norm(diff)), float(xp.linalg.vector_norm(target))
        if den == 0.0:
            return 0.0 if num == 0.0 else math.inf
        return num / den

    def copy(self) -> "TensorNetwork":
        """A network with the same structure and copies of the cores."""
        xp = self.xp
        return TensorNetwork(self.structure, [xp.asarray(c, copy=True) for c in self.cores])

    def to(self, like: Array) -> "TensorNetwork":
        """The same network with cores in ``like``'s library, device and dtype.

        Parameters
        ----------
        like : array
            Array whose library, device and dtype the cores take.
        """
        return TensorNetwork(self.structure, [backend.asarray_like(backend.to_host(c), like) for c in self.cores])

    # -- edge surgery -----------------------------------------------------------------

    def _bond_axis(self, node: int, other: int) -> int:
        s = self.structure
        return (1 if node < s.ndim else 0) + s.neighbours(node).index(other)

    def expand_edge(self, i: int, j: int, rank: int, *, noise: float = 1e-2, rng: RNG = None) -> "TensorNetwork":
        """Grow edge ``(i, j)`` (creating it if absent) to ``rank``: the old slices are
        kept, the new ones are small random numbers (relative size ``noise``) on one side
        and zero-mean random numbers of full size on the other, so the tensor changes by
        ``O(noise)`` and the new directions can be learned [HLMR]_.

        Parameters
        ----------
        i, j : int
            Nodes joined by the edge.
        rank : int
            New rank, at least the current one (and at least 1).
        noise : float, optional
            Relative size of the new slices on node ``i``'s side; default ``1e-2``.
        rng : numpy.random.Generator, int or None, optional
            Source of the new entries (see :func:`tnkit.backend.make_rng`).

        References
        ----------
        .. [HLMR] M. Hashemizadeh, M. Liu, J. Miller and G. Rabusseau, "Adaptive learning of
           tensor network structures", arXiv:2008.05437 (2020).
        """
        s = self.structure
        old = int(s.ranks[i, j])
        if rank < max(old, 1):
            raise ValueError(f"expand_edge: new rank {rank} is below the current rank {old} of edge ({i}, {j})")
        if rank == old:
            return self.copy()
        xp = self.xp
        gen = backend.make_rng(rng)
        new = s.with_rank(i, j, rank)
        cores = list(self.cores)
        for v, w, scale in ((i, j, noise), (j, i, 1.0)):
            c = cores[v]
            if old == 0:  # create the axis
                ax = (1 if v < s.ndim else 0) + sum(1 for u in s.neighbours(v) if u < w)
                c = xp.expand_dims(c, axis=ax)
            else:
                ax = self._bond_axis(v, w)
            shp = list(c.shape)
            shp[ax] = rank - max(old, 1)
            ref = float(xp.linalg.vector_norm(c)) / math.sqrt(max(1, math.prod(c.shape)))
            extra = backend.random_normal(xp, tuple(shp), dtype=c.dtype, device=backend.device_of(c), rng=gen)
            cores[v] = xp.concat([c, extra * (scale * (ref if ref > 0 else 1.0))], axis=ax)
        return TensorNetwork(new, cores)

    def truncate_edge(self, i: int, j: int, rank: int) -> "TensorNetwork":
        """Cut edge ``(i, j)`` to ``rank`` by an SVD of the bond between the two cores'
        QR factors (optimal when the rest of the network is orthonormal about the edge,
        as in a tree; a good start for a refit otherwise).

        Parameters
        ----------
        i, j : int
            Nodes joined by the edge.
        rank : int
            New rank, ``1 <= rank <=`` the current one.
        """
        s = self.structure
        old = int(s.ranks[i, j])
        if not 1 <= rank <= old:
            raise ValueError(f"truncate_edge: rank must be in 1..{old} for edge ({i}, {j}), got {rank}")
        xp = self.xp
        mats, shapes = [], []
        for v, w in ((i, j), (j, i)):
            ax = self._bond_axis(v, w)
            c = xp.moveaxis(self.cores[v], ax, -1)
            shapes.append((ax, c.shape))
            mats.append(xp.reshape(c, (-1, old)))
        qi, ri = qr(mats[0])
        qj, rj = qr(mats[1])
        u, sv, vh = backend.thin_svd(ri @ rj.T)
        keep = min(rank, int(sv.shape[0]))
        root = xp.sqrt(sv[:keep])
        new_i = (qi @ u[:, :keep]) * root[None, :]
        new_j = (qj @ vh[:keep, :].T) * root[None, :]
        if keep < rank:  # the bond carries fewer directions than asked for: pad with zeros
            new_i = xp.concat(
                [new_i, xp.zeros((new_i.shape[0], rank - keep), dtype=new_i.dtype, device=backend.device_of(new_i))],
                axis=1,
            )
            new_j = xp.concat(
                [new_j, xp.zeros((new_j.shape[0], rank - keep), dtype=new_j.dtype, device=backend.device_of(new_j))],
                axis=1,
            )
        cores = list(self.cores)
        for v, m, (ax, shp) in ((i, new_i, shapes[0]), (j, new_j, shapes[1])):
            cores[v] = xp.moveaxis(xp.reshape(m, (*shp[:-1], rank)), -1, ax)
        return TensorNetwork(s.with_rank(i, j, rank), cores)


def _gather(xp: Namespace, core: Array, idx: Array) -> Array:
    return xp.take(core, idx, axis=0)
