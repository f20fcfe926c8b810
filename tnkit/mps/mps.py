"""Matrix product states on any array library.

An :class:`MPS` is a list of rank-3 tensors ``A[i]`` of shape ``(chi_left, d_i, chi_right)``
with boundary bonds of size 1, so that

    psi[s_0, ..., s_{L-1}] = A[0][:, s_0, :] @ A[1][:, s_1, :] @ ... @ A[L-1][:, s_{L-1}, :]

The product-basis index used by :meth:`MPS.to_dense` is the C-order ravel of
``(s_0, ..., s_{L-1})`` (site 0 most significant), the same as :class:`tnkit.OpSum`.

``center`` records a known orthogonality centre: every tensor left of it is left
orthonormal and every tensor right of it right orthonormal. Operations that need a
canonical form create one and keep the record up to date.

References
----------
.. [Sch] U. Schollwöck, "The density-matrix renormalization group in the age of matrix
   product states", Ann. Phys. 326, 96 (2011).
.. [FW] A. J. Ferris and G. Vidal, "Perfect sampling with unitary tensor networks",
   Phys. Rev. B 85, 165146 (2012).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.backend import conj as _conj
from tnkit.backend import namespace
from tnkit.checks import check_tensor
from tnkit.contract import contract
from tnkit.decompositions.chain import Chain, move_left, move_right
from tnkit.decompositions.tt import TT
from tnkit.io import register_type
from tnkit.linalg import CutoffMode, truncated_svd
from tnkit.mps import measure

__all__ = ["MPS"]


class MPS(Chain):
    """A matrix product state: a tensor train (:class:`tnkit.TT`) read as a quantum state.

    It shares the chain of :mod:`tnkit.decompositions.chain` (checks, QR/LQ sweeps) with
    :class:`tnkit.TT`; :meth:`from_tt` and :meth:`to_tt` convert without copying.

    Parameters
    ----------
    tensors : sequence of arrays, each of shape (chi_left, d, chi_right)
        Site tensors from one library, on one device, with one dtype.
    center : int, optional
        A known orthogonality centre (not checked; pass only when true).

    Examples
    --------
    >>> import numpy as np
    >>> psi = MPS.random(6, 2, 4, rng=0)
    >>> round(float(psi.norm()), 12)
    1.0
    >>> psi.bond_dims
    [2, 4, 4, 4, 2]
    """

    def __init__(self, tensors: Sequence[Any], *, center: int | None = None) -> None:
        super().__init__(tensors, "MPS", unit="site")
        if center is not None and not (0 <= center < len(self.tensors)):
            raise ValueError(f"MPS: center {center} outside [0, {len(self.tensors)})")
        self.center = center

    # ------------------------------------------------------------------ construction

    @classmethod
    def random(
        cls,
        length: int,
        local_dim: int | Sequence[int],
        bond_dim: int,
        *,
        dtype: str = "float64",
        like: Any = None,
        rng: np.random.Generator | int | None = None,
        normalize: bool = True,
    ) -> MPS:
        """Random MPS with Gaussian entries, bonds capped by ``bond_dim`` and by the
        Hilbert-space dimensions on either side, normalised and in right-canonical form.

        Parameters
        ----------
        length : int
            Number of sites ``L``.
        local_dim : int or sequence of int
            Physical dimension of every site, or one per site.
        bond_dim : int
            Largest bond dimension, >= 1.
        dtype : str, optional
            Dtype name, e.g. ``"float64"`` or ``"complex128"``; default ``"float64"``.
        like : array, optional
            Array whose library and device the tensors use; default NumPy on the CPU.
        rng : numpy.random.Generator, int or None, optional
            Source of the entries (see :func:`tnkit.backend.make_rng`).
        normalize : bool, optional
            Scale to unit norm (default True).
        """
        dims = _local_dims(local_dim, length)
        if isinstance(bond_dim, bool) or not isinstance(bond_dim, (int, np.integer)) or bond_dim < 1:
            raise ValueError(f"MPS.random: bond_dim must be a positive integer, got {bond_dim!r}")
        xp, device = _target(like)
        dt = getattr(xp, dtype)
        gen = backend.make_rng(rng)
        bonds = _capped_bonds(dims, bond_dim)
        tensors = [
            backend.random_normal(xp, (bonds[i], dims[i], bonds[i + 1]), dtype=dt, device=device, rng=gen)
            for i in range(length)
        ]
        psi = cls(tensors)
        psi.canonicalize(0)
        if normalize:
            psi.normalize()
        return psi

    @classmethod
    def product(
        cls,
        states: Sequence[Any],
        *,
        local_dim: int | Sequence[int] | None = None,
        dtype: str = "float64",
        like: Any = None,
    ) -> MPS:
        """Product state from per-site basis indices (ints, with ``local_dim``) or vectors.

        Parameters
        ----------
        states : sequence of int or of vector
            Per site, a basis index (needs ``local_dim``) or the local state vector.
        local_dim : int or sequence of int, optional
            Physical dimension of every site, or one per site; needed for integer states.
        dtype : str, optional
            Dtype name of the tensors; default ``"float64"``.
        like : array, optional
            Array whose library and device the tensors use; default NumPy on the CPU.

        Examples
        --------
        >>> neel = MPS.product([0, 1, 0, 1], local_dim=2)
        >>> neel.to_dense().nonzero()[0].tolist()
        [5]
        """
        xp, device = _target(like)
        dt = getattr(xp, dtype)
        dims = _local_dims(local_dim, len(states)) if local_dim is not None else None
        tensors = []
        for i, s in enumerate(states):
            if isinstance(s, (int, np.integer)):
                if dims is None:
                    raise ValueError("MPS.product: give local_dim when states are basis indices")
                if not (0 <= s < dims[i]):
                    raise ValueError(f"MPS.product: state {s} at site {i} outside [0, {dims[i]})")
                vec = np.zeros(dims[i])
                vec[s] = 1.0
            else:
                vec = backend.to_host(s) if not isinstance(s, (list, tuple)) else np.asarray(s)
                vec = np.asarray(vec).reshape(-1)
            tensors.append(xp.asarray(vec.astype(np.dtype(dtype)).reshape(1, -1, 1), dtype=dt, device=device))
        psi = cls(tensors, center=0)
        return psi

    @classmethod
    def from_dense(
        cls,
        psi: Any,
        local_dims: int | Sequence[int],
        *,
        max_bond: int | None = None,
        cutoff: float = 0.0,
    ) -> MPS:
        """MPS of a state vector by successive SVDs (exact unless truncated).

        ``psi`` has ``prod(local_dims)`` entries (any shape); the result is left
        canonical with its centre on the last site and keeps ``psi``'s library.
        Raises ``ValueError`` for an empty ``psi`` or one with NaN/Inf entries.

        Parameters
        ----------
        psi : array
            State vector with ``prod(local_dims)`` entries, any shape.
        local_dims : int or sequence of int
            Per-site physical dimensions; an int is used for every site (the number of sites
            then follows from ``psi.size``).
        max_bond : int, optional
            Largest bond dimension kept; default no cap.
        cutoff : float, optional
            Relative singular-value cutoff: values ``<= cutoff * s_0`` are dropped (default 0,
            none).
        """
        xp = check_tensor(psi, "MPS.from_dense", what="psi")
        total = math.prod(psi.shape)
        if isinstance(local_dims, (int, np.integer)):
            length = round(math.log(total) / math.log(local_dims)) if total > 1 else 1
            dims = (int(local_dims),) * length
        else:
            dims = tuple(int(d) for d in local_dims)
        if math.prod(dims) != total:
            raise ValueError(f"MPS.from_dense: vector of size {total} does not match local dimensions {dims}")
        rest = xp.reshape(psi, (1, total))
        tensors = []
        left = 1
        for i, d in enumerate(dims[:-1]):
            mat = xp.reshape(rest, (left * d, -1))
            u, s, vh, _ = truncated_svd(mat, max_rank=max_bond, cutoff=cutoff)
            k = s.shape[0]
            tensors.append(xp.reshape(u, (left, d, k)))
            rest = xp.astype(s, vh.dtype)[:, None] * vh
            left = k
        tensors.append(xp.reshape(rest, (left, dims[-1], 1)))
        return cls(tensors, center=len(dims) - 1)

    def to_dense(self) -> Any:
        """The state vector, shape ``(prod(d_i),)`` (small chains only)."""
        xp = self.xp
        total = math.prod(self.local_dims)
        if total > 1 << 24:
            raise ValueError(f"MPS.to_dense: dimension {total} too large for a dense vector")
        out = self.tensors[0]
        for t in self.tensors[1:]:
            left, phys, _ = out.shape
            out = xp.reshape(out, (left * phys, out.shape[2])) @ xp.reshape(t, (t.shape[0], -1))
            out = xp.reshape(out, (1, left * phys * t.shape[1], t.shape[2]))
        return xp.reshape(out, (total,))

    def copy(self) -> MPS:
        """A new MPS sharing the tensors (a shallow copy; the tensor list is new)."""
        return MPS(list(self.tensors), center=self.center)

    def to(self, like: Any) -> MPS:
        """The same state with ``like``'s library, device and dtype (host round trip).

        Parameters
        ----------
        like : array
            Array whose library, device and dtype the tensors take.
        """
        return MPS(self._tensors_like(like), center=self.center)

    @classmethod
    def from_tt(cls, t: TT) -> MPS:
        """The state whose amplitudes are the entries of the tensor train ``t`` (same cores).

        Parameters
        ----------
        t : TT
            Tensor train whose cores become the site tensors.

        Examples
        --------
        >>> import numpy as np
        >>> from tnkit.decompositions import tt_svd
        >>> x = np.random.default_rng(0).normal(size=(2, 2, 2))
        >>> psi = MPS.from_tt(tt_svd(x, tol=1e-12))
        >>> bool(np.allclose(psi.to_dense(), x.reshape(-1))), psi.to_tt().shape
        (True, (2, 2, 2))
        """
        if not isinstance(t, TT):
            raise TypeError(f"MPS.from_tt: expected a tnkit.TT, got {type(t).__name__}")
        return cls(list(t.cores))

    def to_tt(self) -> TT:
        """The tensor train of the amplitudes, shape ``local_dims`` (same cores)."""
        return TT(list(self.cores))

    # ------------------------------------------------------------------ properties

    @property
    def local_dims(self) -> list[int]:
        """Physical dimension of every site."""
        return [int(t.shape[1]) for t in self.tensors]

    @property
    def max_bond(self) -> int:
        """Largest bond dimension (1 for a product state)."""
        return max(self.bond_dims, default=1)

    def __repr__(self) -> str:
        return (
            f"MPS(length={self.length}, local_dims={sorted(set(self.local_dims))}, "
            f"max_bond={self.max_bond}, dtype={self.dtype}, center={self.center})"
        )

    # ------------------------------------------------------------------ canonical forms

    def _move_right(self, i: int) -> None:
        """Left-orthonormalise site i by QR, pushing R into site i+1."""
        move_right(self.cores, i)

    def _move_left(self, i: int) -> None:
        """Right-orthonormalise site i by LQ, pushing L into site i-1."""
        move_left(self.cores, i)

    def canonicalize(self, center: int) -> MPS:
        """Bring the orthogonality centre to ``center`` (in place; returns self).

        Parameters
        ----------
        center : int
            Site of the orthogonality centre, ``0 <= center < L``.
        """
        if not (0 <= center < self.length):
            raise ValueError(f"canonicalize: center {center} outside [0, {self.length})")
        if self.center is None:
            for i in range(center):
                self._move_right(i)
            for i in range(self.length - 1, center, -1):
                self._move_left(i)
        else:
            for i in range(self.center, center):
                self._move_right(i)
            for i in range(self.center, center, -1):
                self._move_left(i)
        self.center = center
        return self

    def left_canonicalize(self) -> MPS:
        """Left-canonical form: the centre on the last site (in place; returns self)."""
        return self.canonicalize(self.length - 1)

    def right_canonicalize(self) -> MPS:
        """Right-canonical form: the centre on the first site (in place; returns self)."""
        return self.canonicalize(0)

    # ------------------------------------------------------------------ norms and overlaps

    def norm(self) -> Any:
        """``sqrt(<psi|psi>)`` as a 0-d array."""
        xp = self.xp
        if self.center is not None:
            return xp.linalg.vector_norm(self.tensors[self.center])
        return xp.sqrt(xp.abs(self.overlap(self)))

    def normalize(self) -> MPS:
        """Scale to unit norm (in place; returns self)."""
        if self.center is None:
            self.canonicalize(0)
        c = self.center
        assert c is not None  # canonicalised above
        nrm = self.norm()
        if float(nrm) == 0.0:
            raise ValueError("normalize: the state has zero norm")
        self.tensors[c] = self.tensors[c] / self.xp.astype(nrm, self.tensors[c].dtype)
        return self

    def overlap(self, other: MPS) -> Any:
        """``<self|other>`` (self conjugated) as a 0-d array.

        Parameters
        ----------
        other : MPS
            State with the same local dimensions.
        """
        _check_compatible(self, other)
        xp = self.xp
        env = xp.ones((1, 1), dtype=xp.result_type(self.dtype, other.dtype), device=self.device)
        for a, b in zip(self.tensors, other.tensors):
            env = contract("ab,asc,bsd->cd", env, _conj(xp, a), b)
        return env[0, 0]

    # ------------------------------------------------------------------ compression

    def compress(
        self,
        max_bond: int | None = None,
        cutoff: float = 0.0,
        *,
        cutoff_mode: CutoffMode = "rel",
    ) -> Any:
        """Truncate every bond by SVD (in place), sweeping right to left from a left
        canonical form so each truncation is optimal for its bond.

        Returns the total discarded weight (sum over bonds, relative to the norm²).

        Parameters
        ----------
        max_bond : int, optional
            Largest bond dimension kept; default no cap.
        cutoff : float, optional
            Singular-value threshold, read by ``cutoff_mode``; default 0 (none).
        cutoff_mode : {"rel", "abs", "discarded", "rel_discarded"}, optional
            How ``cutoff`` is read, as in :func:`tnkit.linalg.truncated_svd`; default ``"rel"``.
        """
        xp = self.xp
        self.canonicalize(self.length - 1)
        discarded = 0.0
        for i in range(self.length - 1, 0, -1):
            t = self.tensors[i]
            left, d, right = t.shape
            u, s, vh, dw = truncated_svd(
                xp.reshape(t, (left, d * right)), max_rank=max_bond, cutoff=cutoff, cutoff_mode=cutoff_mode
            )
            norm2 = float(xp.sum(s * s)) + float(dw)
            discarded += float(dw) / norm2 if norm2 > 0 else 0.0
            k = s.shape[0]
            self.tensors[i] = xp.reshape(vh, (k, d, right))
            us = u * xp.astype(s, u.dtype)[None, :]
            prv = self.tensors[i - 1]
            self.tensors[i - 1] = xp.reshape(xp.reshape(prv, (-1, prv.shape[2])) @ us, (*prv.shape[:2], k))
            self.center = i - 1
        return discarded

    # ------------------------------------------------------------------ measurements

    def expect(self, op: Any, site: int | None = None) -> Any:
        """``<op_site>`` (normalised); all sites as a 1-d array when ``site`` is None.

        Parameters
        ----------
        op : array, shape (d, d)
            Local operator.
        site : int, optional
            Site to measure; default every site.
        """
        if site is None:
            return measure.expectation_all(self, op)
        return measure.expectation_local(self, op, site)

    def correlation(self, op_a: Any, op_b: Any, sites: Sequence[int] | None = None) -> Any:
        """Matrix ``C[i, j] = <A_i B_j>`` over ``sites`` (all by default).

        Parameters
        ----------
        op_a, op_b : array, shape (d, d)
            Local operators ``A`` and ``B``.
        sites : sequence of int, optional
            Sites ``i, j`` to include; default all.
        """
        return measure.correlation_matrix(self, op_a, op_b, sites)

    def schmidt_values(self, bond: int) -> Any:
        """Schmidt coefficients across the cut between sites ``bond`` and ``bond + 1``.

        Parameters
        ----------
        bond : int
            Cut index, ``0 <= bond < L - 1``.
        """
        return measure.schmidt_values(self, bond)

    def entropy(self, bond: int | None = None, *, alpha: float = 1.0) -> Any:
        """Entanglement (Rényi-``alpha``) entropy at one bond, or at every bond.

        Parameters
        ----------
        bond : int, optional
            Cut after site ``bond``; default every bond (a 1-d array of ``L - 1`` values).
        alpha : float, optional
            Rényi index, >= 0; 1 (default) is the von Neumann entropy (natural log).
        """
        if bond is None:
            return measure.entanglement_entropies(self, alpha=alpha)
        return measure.entanglement_entropy(self, bond, alpha=alpha)

    def sample(self, n_samples: int, *, rng: np.random.Generator | int | None = None) -> Any:
        """Perfect samples of basis configurations, shape ``(n_samples, L)`` [FW]_.

        An int64 array in the state's library and on its device (NumPy for a NumPy
        state); the draws depend only on ``rng``, not on the library.

        Parameters
        ----------
        n_samples : int
            Number of configurations drawn.
        rng : numpy.random.Generator, int or None, optional
            Source of the draws (see :func:`tnkit.backend.make_rng`).

        References
        ----------
        .. [FW] A. J. Ferris and G. Vidal, "Perfect sampling with unitary tensor networks",
           Phys. Rev. B 85, 165146 (2012).

        Examples
        --------
        >>> MPS.product([1, 0, 1], local_dim=2).sample(2, rng=0).tolist()
        [[1, 0, 1], [1, 0, 1]]
        """
        samples = measure.sample(self, n_samples, rng=rng)
        if isinstance(self.tensors[0], np.ndarray):
            return samples
        return self.xp.asarray(samples, device=self.device)


def _local_dims(local_dim: int | Sequence[int], length: int) -> list[int]:
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"need a positive number of sites, got {length!r}")
    if isinstance(local_dim, (int, np.integer)):
        dims = [int(local_dim)] * length
    else:
        dims = [int(d) for d in local_dim]
        if len(dims) != length:
            raise ValueError(f"{len(dims)} local dimensions given for {length} sites")
    if any(d < 1 for d in dims):
        raise ValueError(f"local dimensions must be positive, got {dims}")
    return dims


def _capped_bonds(dims: Sequence[int], bond_dim: int) -> list[int]:
    """Bond sizes min(bond_dim, dim of the left part, dim of the right part)."""
    length = len(dims)
    bonds = [1] * (length + 1)
    for b in range(1, length):
        left = math.prod(dims[:b])
        right = math.prod(dims[b:])
        bonds[b] = min(bond_dim, left, right)
    return bonds


def _target(like: Any) -> tuple[Any, Any]:
    if like is None:
        import array_api_compat.numpy as xnp

        return xnp, "cpu"
    return namespace(like), backend.device_of(like)


def _check_compatible(a: MPS, b: MPS) -> None:
    if a.length != b.length:
        raise ValueError(f"MPS lengths differ: {a.length} and {b.length}")
    if a.local_dims != b.local_dims:
        bad = next(i for i, (x, y) in enumerate(zip(a.local_dims, b.local_dims)) if x != y)
        raise ValueError(f"physical dimensions differ at site {bad}: {a.local_dims[bad]} and {b.local_dims[bad]}")


def _mps_to_dict(psi: MPS) -> dict[str, Any]:
    return {
        "tensors": {f"{i:05d}": t for i, t in enumerate(psi.tensors)},
        "center": -1 if psi.center is None else int(psi.center),
    }


def _mps_from_dict(data: dict[str, Any]) -> MPS:
    tensors = [data["tensors"][k] for k in sorted(data["tensors"])]
    center = int(data["center"])
    return MPS(tensors, center=None if center < 0 else center)


register_type(MPS, "mps", _mps_to_dict, _mps_from_dict, version=1)
