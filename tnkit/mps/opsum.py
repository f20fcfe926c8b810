"""Operators as sums of local terms: the common source of MPOs, exact sparse matrices
and nearest-neighbour bond Hamiltonians.

A term is ``coef * O_{i1} O_{i2} ...`` with small dense operators on sites. The same
:class:`OpSum` builds an :class:`~tnkit.MPO` (finite-state-automaton construction),
an exact sparse matrix for exact diagonalisation (:meth:`OpSum.to_sparse`), and the
two-site bond Hamiltonians that TEBD exponentiates (:meth:`OpSum.bond_hamiltonians`).

Basis convention (shared with :meth:`tnkit.MPS.to_dense`): the product-basis index of
``|s_0 s_1 ... s_{L-1}>`` is the C-order ravel of ``(s_0, ..., s_{L-1})``; site 0 is
the most significant digit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse

from tnkit.mps.automaton import is_hermitian_chain, opsum_tensors

__all__ = ["OpSum", "Term"]


@dataclasses.dataclass(frozen=True)
class Term:
    """``coef * prod_k ops[k]`` acting on ``sites[k]`` (sites strictly increasing).

    Parameters
    ----------
    coef : complex
        Coefficient.
    sites : tuple of int
        Sites the factors act on, strictly increasing.
    ops : tuple of numpy.ndarray
        One ``(d, d)`` matrix per site.
    """

    coef: complex
    sites: tuple[int, ...]
    ops: tuple[np.ndarray, ...]

    @property
    def range(self) -> int:
        """``sites[-1] - sites[0]``."""
        return self.sites[-1] - self.sites[0]


def _as_operator(op: Any, dim: int, where: str) -> np.ndarray:
    try:
        arr = np.asarray(op)
    except Exception as exc:  # torch tensors that need .cpu(), etc.
        raise TypeError(f"{where}: operators must be host (NumPy) arrays, got {type(op).__name__}") from exc
    if arr.shape != (dim, dim):
        raise ValueError(f"{where}: operator has shape {arr.shape}, site has local dimension {dim}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: operator contains NaN or Inf")
    return arr


class OpSum:
    """A sum of local operator products on a chain of ``length`` sites.

    Parameters
    ----------
    local_dims : int or sequence of int
        Local Hilbert-space dimension of every site (or of each site).
    length : int, optional
        Number of sites; required when ``local_dims`` is an int.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.diag([1.0, -1.0]); x = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> h = OpSum(2, 3)
    >>> for i in range(2):
    ...     _ = h.add(-1.0, (z, i), (z, i + 1))
    >>> for i in range(3):
    ...     _ = h.add(-0.5, (x, i))
    >>> h.to_sparse().shape, len(h)
    ((8, 8), 5)
    """

    def __init__(self, local_dims: int | Sequence[int], length: int | None = None) -> None:
        if isinstance(local_dims, (int, np.integer)):
            if length is None:
                raise ValueError("OpSum: give length when local_dims is a single int")
            dims = (int(local_dims),) * int(length)
        else:
            dims = tuple(int(d) for d in local_dims)
            if length is not None and length != len(dims):
                raise ValueError(f"OpSum: length={length} but {len(dims)} local dimensions given")
        if len(dims) < 1 or any(d < 1 for d in dims):
            raise ValueError(f"OpSum: need at least one site and positive local dimensions, got {dims}")
        self.local_dims: tuple[int, ...] = dims
        self.terms: list[Term] = []

    @property
    def length(self) -> int:
        """Number of sites."""
        return len(self.local_dims)

    def __len__(self) -> int:
        return len(self.terms)

    def add(self, coef: complex, *factors: tuple[Any, int]) -> OpSum:
        """Add ``coef * op_a(site_a) op_b(site_b) ...``; factors on one site multiply in order.

        Parameters
        ----------
        coef : complex
            Coefficient of the term.
        *factors : tuple of (array, int)
            ``(operator, site)`` pairs; each operator is a ``(d, d)`` matrix for its site.

        Returns
        -------
        OpSum
            ``self``, so calls chain.
        """
        if not factors:
            raise ValueError("OpSum.add: a term needs at least one (operator, site) factor")
        by_site: dict[int, np.ndarray] = {}
        for k, factor in enumerate(factors):
            if not (isinstance(factor, tuple) and len(factor) == 2):
                raise TypeError(f"OpSum.add: factor {k} must be an (operator, site) pair")
            op, site = factor
            if not isinstance(site, (int, np.integer)) or not (0 <= site < self.length):
                raise ValueError(f"OpSum.add: site {site!r} outside the chain [0, {self.length})")
            site = int(site)
            arr = _as_operator(op, self.local_dims[site], f"OpSum.add (site {site})")
            by_site[site] = by_site[site] @ arr if site in by_site else arr
        if not np.isfinite(complex(coef)):
            raise ValueError("OpSum.add: coefficient is NaN or Inf")
        sites = tuple(sorted(by_site))
        coef_c = complex(coef)
        self.terms.append(Term(coef_c.real if coef_c.imag == 0 else coef_c, sites, tuple(by_site[s] for s in sites)))
        return self

    def __iadd__(self, other: OpSum) -> OpSum:
        if other.local_dims != self.local_dims:
            raise ValueError("OpSum: cannot add sums on chains with different local dimensions")
        self.terms.extend(other.terms)
        return self

    def scaled(self, factor: complex) -> OpSum:
        """A new sum with every coefficient multiplied by ``factor``.

        Parameters
        ----------
        factor : complex
            The multiplier.
        """
        out = OpSum(self.local_dims)
        out.terms = [dataclasses.replace(t, coef=t.coef * factor) for t in self.terms]
        return out

    @property
    def is_complex(self) -> bool:
        """Whether any coefficient or operator is complex."""
        return any(isinstance(t.coef, complex) or any(np.iscomplexobj(o) for o in t.ops) for t in self.terms)

    @property
    def max_range(self) -> int:
        """Largest ``last site - first site`` over the terms (0 for on-site terms)."""
        return max((t.range for t in self.terms), default=0)

    # ------------------------------------------------------------------ exact matrices

    def to_sparse(self, *, max_dim: int = 1 << 24) -> scipy.sparse.csr_array:
        """Exact sparse matrix in the product basis (site 0 most significant).

        Parameters
        ----------
        max_dim : int, optional
            Largest Hilbert-space dimension allowed; default ``2**24``.

        Raises
        ------
        ValueError
            If the Hilbert space is larger than ``max_dim``.
        """
        dim = int(np.prod(self.local_dims, dtype=np.int64))
        if dim > max_dim:
            raise ValueError(f"OpSum.to_sparse: Hilbert-space dimension {dim} exceeds max_dim={max_dim}")
        dtype = np.complex128 if self.is_complex else np.float64
        total = scipy.sparse.csr_array((dim, dim), dtype=dtype)
        for term in self.terms:
            total = total + self._term_sparse(term, dtype)
        return total.tocsr()

    def _term_sparse(self, term: Term, dtype: Any) -> scipy.sparse.csr_array:
        lo, hi = term.sites[0], term.sites[-1]
        left = int(np.prod(self.local_dims[:lo], dtype=np.int64))
        right = int(np.prod(self.local_dims[hi + 1 :], dtype=np.int64))
        block = scipy.sparse.csr_array(np.array([[term.coef]], dtype=dtype))
        ops = dict(zip(term.sites, term.ops))
        for site in range(lo, hi + 1):
            factor = ops.get(site)
            block = scipy.sparse.kron(
                block,
                scipy.sparse.csr_array(factor.astype(dtype))
                if factor is not None
                else scipy.sparse.identity(self.local_dims[site], dtype=dtype, format="csr"),
                format="csr",
            )
        out = scipy.sparse.kron(scipy.sparse.identity(left, dtype=dtype, format="csr"), block, format="csr")
        return scipy.sparse.kron(out, scipy.sparse.identity(right, dtype=dtype, format="csr"), format="csr")

    def to_dense(self) -> np.ndarray:
        """Dense matrix (small chains only)."""
        return self.to_sparse(max_dim=1 << 14).toarray()

    # ------------------------------------------------------------------ structure

    def bond_hamiltonians(self) -> list[np.ndarray]:
        """Two-site Hamiltonians ``h_{i,i+1}`` (shape ``(d_i d_{i+1}, d_i d_{i+1})``) with
        ``H = sum_i h_{i,i+1}``; one-site terms are shared between their neighbouring
        bonds (whole on the end bonds' outer sites).

        Raises
        ------
        ValueError
            If a term acts on sites further apart than nearest neighbours, or the chain
            has a single site.
        """
        L = self.length
        if L < 2:
            raise ValueError("bond_hamiltonians: need at least two sites")
        if self.max_range > 1:
            raise ValueError(
                f"bond_hamiltonians: terms of range {self.max_range} present; TEBD needs nearest-neighbour terms "
                "(use tdvp for longer-range Hamiltonians)"
            )
        dtype = np.complex128 if self.is_complex else np.float64
        shapes = [(self.local_dims[i] * self.local_dims[i + 1],) * 2 for i in range(L - 1)]
        bonds: list[np.ndarray[Any, np.dtype[Any]]] = [np.zeros(shape, dtype=dtype) for shape in shapes]
        for t in self.terms:
            if len(t.sites) == 2:
                i = t.sites[0]
                bonds[i] += t.coef * np.kron(t.ops[0], t.ops[1])
            else:
                i = t.sites[0]
                # Share a one-site term between the bonds that touch the site.
                touching = [b for b in (i - 1, i) if 0 <= b < L - 1]
                weight = t.coef / len(touching)
                for b in touching:
                    if b == i:
                        bonds[b] += weight * np.kron(t.ops[0], np.eye(self.local_dims[i + 1]))
                    else:
                        bonds[b] += weight * np.kron(np.eye(self.local_dims[i - 1]), t.ops[0])
        return bonds

    def is_hermitian(self, *, atol: float = 1e-12) -> bool:
        """Whether the sum is Hermitian (checked on the terms' sparse matrix for small
        chains, else term by term against the conjugate of a matching term).

        Parameters
        ----------
        atol : float, optional
            Tolerance on the anti-Hermitian part, relative to the largest entry (at least 1);
            default ``1e-12``.
        """
        if int(np.prod(self.local_dims, dtype=np.int64)) <= 1 << 12:
            m = self.to_sparse()
            diff = m - m.conj().T
            return float(abs(diff).max()) <= atol * max(1.0, float(abs(m).max())) if diff.nnz else True
        # Large chains: compare the automaton MPO with its adjoint, without a dense matrix.
        tensors = opsum_tensors(self)
        return is_hermitian_chain(
            [np.asarray(t, dtype=np.complex128) for t in tensors], rtol=atol, fname="OpSum.is_hermitian"
        )

    def __repr__(self) -> str:
        return f"OpSum(length={self.length}, terms={len(self.terms)}, max_range={self.max_range})"
