"""Linear operators on tensors as sums of Kronecker (tensor-product) terms.

A :class:`KronOperator` on tensors of shape ``(n_0, ..., n_{d-1})`` is

    A(t) = sum_k c_k(t) A_k^(0) (x) A_k^(1) (x) ... (x) A_k^(d-1)

with small dense factors ``A_k^(l)`` of shape ``(n_l, n_l)``; a factor left out of a
term is the identity. Coefficients are numbers or callables ``c(t)`` (time-dependent
Hamiltonians, driven systems). Applied to a tensor ``Y`` the term acts on every mode:
``(A_k Y)[i_0..] = sum_j A_k^(0)[i_0, j_0] ... Y[j_0, ...]``.

The operator never forms the ``prod n_l``-sized matrix unless asked
(:meth:`KronOperator.to_sparse`, :meth:`KronOperator.to_dense` for references). The
integrators in :mod:`tnkit.tree.bug` compress it into a tree tensor network operator on
the state's tree and apply it through small environments.

Basis convention (shared with :meth:`tnkit.OpSum.to_sparse` and
:meth:`tnkit.tree.ttn.TTN.to_dense`): mode 0 is the most significant digit of the
C-order ravel.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse

__all__ = ["KronOperator", "KronTerm"]

Coefficient = complex | Callable[[float], complex]


@dataclasses.dataclass(frozen=True)
class KronTerm:
    """``coef * (x)_l factors[l]``; modes missing from ``factors`` carry the identity.

    Parameters
    ----------
    coef : complex or callable
        The coefficient, or a function of time ``t`` returning it.
    factors : mapping of int to numpy.ndarray
        Mode ``l`` to its ``(n_l, n_l)`` matrix.
    """

    coef: Coefficient
    factors: Mapping[int, np.ndarray]

    def coefficient(self, t: float) -> complex:
        """The coefficient at time ``t``.

        Parameters
        ----------
        t : float
            Time (ignored for a constant coefficient).
        """
        return complex(self.coef(t)) if callable(self.coef) else complex(self.coef)


class KronOperator:
    """A sum of Kronecker-product terms acting on tensors of shape ``dims``.

    Parameters
    ----------
    dims : sequence of int
        The mode (leaf) dimensions ``(n_0, ..., n_{d-1})``.

    Examples
    --------
    Two-site Ising coupling plus transverse fields on three spins, checked against
    the explicit Kronecker products:

    >>> import numpy as np
    >>> x, z = np.array([[0., 1.], [1., 0.]]), np.diag([1., -1.])
    >>> h = KronOperator([2, 2, 2])
    >>> _ = h.add({0: z, 1: z}).add({1: z, 2: z})
    >>> for i in range(3):
    ...     _ = h.add({i: x}, coef=0.5)
    >>> h.num_terms, h.shape
    (5, (8, 8))
    >>> i2 = np.eye(2)
    >>> ref = np.kron(np.kron(z, z), i2) + np.kron(i2, np.kron(z, z))
    >>> ref += 0.5 * (np.kron(np.kron(x, i2), i2) + np.kron(np.kron(i2, x), i2) + np.kron(i2, np.kron(i2, x)))
    >>> bool(np.allclose(h.to_dense(), ref))
    True
    """

    def __init__(self, dims: Sequence[int]) -> None:
        dims = tuple(int(n) for n in dims)
        if not dims:
            raise ValueError("KronOperator: needs at least one mode")
        if any(n < 1 for n in dims):
            raise ValueError(f"KronOperator: mode dimensions must be positive, got {dims}")
        self.dims = dims
        self.terms: list[KronTerm] = []
        self.scale: complex = 1.0

    # ------------------------------------------------------------------ building
    def add(self, factors: Mapping[int, Any], coef: Coefficient = 1.0) -> "KronOperator":
        """Add ``coef * (x)_l factors[l]`` and return ``self`` (chainable).

        Parameters
        ----------
        factors : mapping of int to array
            Mode ``l`` to its ``(n_l, n_l)`` matrix (taken to the host).
        coef : complex or callable, optional
            Coefficient, or a function of time returning it; default 1.

        Raises
        ------
        ValueError
            A mode outside ``0..d-1``, a factor of the wrong shape, or NaN/Inf entries.
        """
        checked: dict[int, np.ndarray] = {}
        for mode, op in dict(factors).items():
            if isinstance(mode, bool) or not isinstance(mode, numbers.Integral) or not 0 <= mode < len(self.dims):
                raise ValueError(f"KronOperator.add: mode {mode!r} is not one of 0..{len(self.dims) - 1}")
            arr = _host_matrix(op, f"KronOperator.add: factor on mode {mode}")
            n = self.dims[mode]
            if arr.shape != (n, n):
                raise ValueError(
                    f"KronOperator.add: factor on mode {mode} has shape {arr.shape}, the mode has dimension {n}"
                )
            checked[int(mode)] = arr
        if not callable(coef):
            c = complex(coef)
            if not np.isfinite(c):
                raise ValueError("KronOperator.add: coefficient is NaN or Inf")
            coef = c.real if c.imag == 0 else c
        self.terms.append(KronTerm(coef, dict(sorted(checked.items()))))
        return self

    @classmethod
    def from_opsum(cls, opsum: Any) -> "KronOperator":
        """The same operator as a :class:`tnkit.OpSum` (sites become modes).

        Parameters
        ----------
        opsum : OpSum
            Operator whose sites are the modes; factors on one site are multiplied.
        """
        op = cls(opsum.local_dims)
        for term in opsum.terms:
            factors: dict[int, np.ndarray] = {}
            for site, mat in zip(term.sites, term.ops):
                factors[site] = factors[site] @ mat if site in factors else np.asarray(mat)
            op.add(factors, coef=term.coef)
        return op

    def __mul__(self, other: complex) -> "KronOperator":
        if not isinstance(other, numbers.Number):
            return NotImplemented
        out = self.copy()
        out.scale = self.scale * complex(other)
        return out

    __rmul__ = __mul__

    def __neg__(self) -> "KronOperator":
        return self * -1.0

    def __add__(self, other: "KronOperator") -> "KronOperator":
        if not isinstance(other, KronOperator):
            return NotImplemented
        if other.dims != self.dims:
            raise ValueError(f"KronOperator: cannot add operators on dims {self.dims} and {other.dims}")
        out = KronOperator(self.dims)
        for op in (self, other):
            for term in op.terms:
                out.terms.append(KronTerm(_scaled(term.coef, op.scale), term.factors))
        return out

    def copy(self) -> "KronOperator":
        """A new operator with the same terms and scale."""
        out = KronOperator(self.dims)
        out.terms = list(self.terms)
        out.scale = self.scale
        return out

    # ------------------------------------------------------------------ queries
    @property
    def num_terms(self) -> int:
        """Number of Kronecker-product terms."""
        return len(self.terms)

    @property
    def shape(self) -> tuple[int, int]:
        """Shape ``(prod n_l, prod n_l)`` of the full matrix."""
        n = int(np.prod(self.dims))
        return (n, n)

    @property
    def time_dependent(self) -> bool:
        """Whether any coefficient is a function of time."""
        return any(callable(term.coef) for term in self.terms)

    @property
    def is_complex(self) -> bool:
        """Whether the scale, a coefficient or a factor is complex."""
        if complex(self.scale).imag != 0:
            return True
        for term in self.terms:
            if not callable(term.coef) and complex(term.coef).imag != 0:
                return True
            if any(np.iscomplexobj(f) for f in term.factors.values()):
                return True
        return False

    def coefficients(self, t: float) -> np.ndarray:
        """All term coefficients (times the overall scale) at time ``t``.

        Parameters
        ----------
        t : float
            Time at which callable coefficients are evaluated.
        """
        return np.array([self.scale * term.coefficient(t) for term in self.terms], dtype=complex)

    def norm_bound(self, t: float = 0.0) -> float:
        """An upper bound on the spectral norm: ``sum_k |c_k| prod_l ||A_k^(l)||_2``.

        Parameters
        ----------
        t : float, optional
            Time at which callable coefficients are evaluated; default 0.
        """
        total = 0.0
        for c, term in zip(self.coefficients(t), self.terms):
            total += abs(c) * float(np.prod([np.linalg.norm(f, 2) for f in term.factors.values()]))
        return total

    def lognorm_bound(self, t: float = 0.0) -> float:
        """Upper bound on the logarithmic norm ``max eig((A + A^H) / 2)``.

        ``||exp(s A) Y|| <= exp(s * bound) ||Y||`` for ``s >= 0``. Terms that are
        skew-Hermitian (imaginary coefficient, Hermitian factors) contribute 0, Hermitian
        terms their largest eigenvalue (from the factors' spectra), others their norm.

        Parameters
        ----------
        t : float, optional
            Time at which callable coefficients are evaluated; default 0.
        """
        total = 0.0
        for c, term in zip(self.coefficients(t), self.terms):
            mats = list(term.factors.values())
            herm = [_close(f, f.conj().T) for f in mats]
            skew = [not h and _close(f, -f.conj().T) for f, h in zip(mats, herm)]
            if all(h or k for h, k in zip(herm, skew)):
                # (c K)^H = conj(c) (-1)^{#skew} K: skew-Hermitian terms do not grow the norm
                odd = sum(skew) % 2 == 1
                if (c.real == 0 and not odd) or (c.imag == 0 and odd):
                    continue
            if all(herm) and c.imag == 0:
                spectra = [np.linalg.eigvalsh(f) for f in mats]
                lo = hi = 1.0
                for ev in spectra:
                    cands = [lo * ev[0], lo * ev[-1], hi * ev[0], hi * ev[-1]]
                    lo, hi = min(cands), max(cands)
                total += max(c.real * hi, c.real * lo)
                continue
            total += abs(c) * float(np.prod([np.linalg.norm(f, 2) for f in mats]))
        return total

    # ------------------------------------------------------------------ dense references
    def apply_dense(self, y: Any, t: float = 0.0) -> np.ndarray:
        """``A(t) Y`` for a dense tensor ``Y`` of shape ``dims`` (NumPy), mode by mode.

        Parameters
        ----------
        y : array_like, shape ``dims``
            Dense tensor.
        t : float, optional
            Time at which callable coefficients are evaluated; default 0.
        """
        y = np.asarray(y)
        if y.shape != self.dims:
            raise ValueError(f"KronOperator.apply_dense: tensor has shape {y.shape}, operator acts on {self.dims}")
        out = np.zeros(y.shape, dtype=np.result_type(y, complex if self.is_complex else float))
        for c, term in zip(self.coefficients(t), self.terms):
            z = y
            for mode, f in term.factors.items():
                z = np.moveaxis(np.tensordot(f, z, axes=([1], [mode])), 0, mode)
            out += (c if np.iscomplexobj(out) else c.real) * z
        return out

    def to_sparse(self, t: float = 0.0) -> scipy.sparse.csr_matrix:
        """The full ``(prod n_l, prod n_l)`` matrix as scipy CSR (reference sizes only).

        Parameters
        ----------
        t : float, optional
            Time at which callable coefficients are evaluated; default 0.
        """
        n = self.shape[0]
        dtype = complex if self.is_complex else float
        out = scipy.sparse.csr_matrix((n, n), dtype=dtype)
        for c, term in zip(self.coefficients(t), self.terms):
            m = scipy.sparse.identity(1, format="csr", dtype=dtype)
            for mode, dim in enumerate(self.dims):
                f = term.factors.get(mode)
                m = scipy.sparse.kron(m, scipy.sparse.identity(dim, dtype=dtype) if f is None else f, format="csr")
            out = out + (c if dtype is complex else c.real) * m
        return out.tocsr()

    def to_dense(self, t: float = 0.0) -> np.ndarray:
        """The full matrix as a NumPy array (reference sizes only).

        Parameters
        ----------
        t : float, optional
            Time at which callable coefficients are evaluated; default 0.
        """
        return self.to_sparse(t).toarray()

    def __repr__(self) -> str:
        return f"KronOperator(dims={self.dims}, terms={self.num_terms})"


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(a, b, rtol=0.0, atol=1e-14 * max(1.0, float(np.abs(a).max(initial=0.0)))))


def _scaled(coef: Coefficient, scale: complex) -> Coefficient:
    if scale == 1:
        return coef
    if callable(coef):
        return _ScaledCoefficient(coef, scale)
    return complex(coef) * scale


@dataclasses.dataclass(frozen=True)
class _ScaledCoefficient:
    inner: Callable[[float], complex]
    scale: complex

    def __call__(self, t: float) -> complex:
        return self.scale * complex(self.inner(t))


def _host_matrix(op: Any, where: str) -> np.ndarray:
    if scipy.sparse.issparse(op):
        op = op.toarray()
    try:
        arr = np.asarray(op)
    except Exception as exc:  # torch CUDA tensors etc.
        raise TypeError(f"{where}: factors must be host (NumPy) arrays, got {type(op).__name__}") from exc
    if arr.ndim != 2:
        raise ValueError(f"{where}: expected a matrix, got an array of shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{where}: factors must be numeric, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: factor contains NaN or Inf")
    return arr
