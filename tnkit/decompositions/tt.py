"""Tensor trains (TT) of general tensors: TT-SVD, arithmetic, rounding, evaluation.

A :class:`TT` stores a ``d``-way tensor ``X`` of shape ``(n_0, ..., n_{d-1})`` as cores
``G_k`` of shape ``(r_k, n_k, r_{k+1})`` with ``r_0 = r_d = 1``:

    X[i_0, ..., i_{d-1}] = G_0[:, i_0, :] @ G_1[:, i_1, :] @ ... @ G_{d-1}[:, i_{d-1}, :]

Unlike :class:`tnkit.MPS` (a state, with canonical forms and measurements), a TT is a
general tensor format: it is built from dense data by :func:`tt_svd`, from a black-box
function by :func:`tnkit.tt_cross`, and supports linear algebra (sums, Hadamard
products, inner products) followed by :meth:`TT.round`.

References
----------
.. [Ose] I. V. Oseledets, "Tensor-train decomposition", SIAM J. Sci. Comput. 33,
   2295 (2011).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.backend import adjoint as _adjoint
from tnkit.backend import conj as _conj
from tnkit.backend import namespace
from tnkit.checks import check_tensor
from tnkit.decompositions.chain import Chain, left_orthonormal, right_orthonormal
from tnkit.io import register_type
from tnkit.linalg import qr, truncated_svd, truncation_rank
from tnkit.linalg.scaling import array_exponent, scale_pow2

__all__ = ["TT", "tt_svd"]


def _host_float(v: Any) -> float:
    """A 0-d array as a Python float (detached from any autograd graph)."""
    return float(backend.to_host(v))


def _check_rank_cap(max_rank: int | None, fname: str) -> None:
    if max_rank is None:
        return
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)):
        raise TypeError(f"{fname}: max_rank must be an int or None, got {type(max_rank).__name__}")
    if max_rank < 1:
        raise ValueError(f"{fname}: max_rank must be >= 1, got {max_rank}")


def _check_tol(tol: float | None, fname: str) -> None:
    if tol is not None and not (math.isfinite(tol) and tol >= 0.0):
        raise ValueError(f"{fname}: tol must be a finite number >= 0, got {tol}")


class TT(Chain):
    """A tensor in tensor-train format.

    Parameters
    ----------
    cores : sequence of arrays
        ``G_k`` of shape ``(r_k, n_k, r_{k+1})``, one library and dtype, with
        ``r_0 = r_d = 1``.

    Raises
    ------
    ValueError
        Wrong number of axes, boundary ranks other than 1, or mismatched bonds.
    TypeError
        Mixed libraries, devices or dtypes, or an integer dtype.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(24.0).reshape(2, 3, 4)
    >>> t = tt_svd(x, tol=1e-12)
    >>> t.shape, t.ranks
    ((2, 3, 4), (1, 2, 2, 1))
    >>> bool(np.allclose(t.to_dense(), x))
    True
    """

    def __init__(self, cores: Sequence[Any]) -> None:
        super().__init__(cores, "TT")

    # ------------------------------------------------------------------ structure

    @property
    def ranks(self) -> tuple[int, ...]:
        """TT ranks ``(r_0, ..., r_d)`` with ``r_0 = r_d = 1``."""
        return (1, *(int(g.shape[2]) for g in self.cores))

    def __repr__(self) -> str:
        return f"TT(shape={self.shape}, ranks={self.ranks}, dtype={self.dtype})"

    # ------------------------------------------------------------------ dense and values

    def to_dense(self) -> Any:
        """The full tensor, shape ``self.shape`` (differentiable on torch).

        Examples
        --------
        >>> import numpy as np
        >>> t = TT([np.ones((1, 2, 1)), np.full((1, 3, 1), 2.0)])
        >>> t.to_dense().tolist()
        [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
        """
        xp = self.xp
        acc = xp.reshape(self.cores[0], (-1, self.cores[0].shape[2]))
        for g in self.cores[1:]:
            r, n, r2 = g.shape
            acc = xp.reshape(acc @ xp.reshape(g, (r, n * r2)), (-1, r2))
        return xp.reshape(acc, self.shape)

    def evaluate(self, indices: Any) -> Any:
        """Entries at a batch of multi-indices.

        Parameters
        ----------
        indices : integer array, shape (m, d)
            NumPy or the cores' library.

        Returns
        -------
        array, shape (m,)

        Examples
        --------
        >>> import numpy as np
        >>> x = np.arange(24.0).reshape(2, 3, 4)
        >>> tt_svd(x).evaluate(np.array([[1, 2, 3], [0, 0, 1]])).round(10).tolist()
        [23.0, 1.0]
        """
        xp = self.xp
        dev = backend.device_of(self.cores[0])
        host = np.asarray(backend.to_host(indices) if backend._array_library(indices) else indices)
        if host.ndim != 2 or host.shape[1] != self.ndim:
            raise ValueError(f"TT.evaluate: indices must have shape (m, {self.ndim}), got {host.shape}")
        if not np.issubdtype(host.dtype, np.integer):
            raise TypeError(f"TT.evaluate: indices must be integers, got {host.dtype}")
        dims = np.asarray(self.shape)
        if host.size and (np.any(host < 0) or np.any(host >= dims[None, :])):
            raise IndexError(f"TT.evaluate: indices out of range for shape {self.shape}")
        m = host.shape[0]
        vec = xp.ones((m, 1), dtype=self.dtype, device=dev)
        for k, g in enumerate(self.cores):
            idx = xp.asarray(host[:, k].astype(np.int64), device=dev)
            sl = xp.permute_dims(xp.take(g, idx, axis=1), (1, 0, 2))  # (m, r_k, r_k+1)
            vec = (vec[:, None, :] @ sl)[:, 0, :]
        return vec[:, 0]

    def __getitem__(self, index: Any) -> Any:
        """``t[i0, ..., i_{d-1}]`` (a 0-d array) or ``t[indices]`` for an (m, d) batch."""
        if isinstance(index, tuple) and all(isinstance(i, (int, np.integer)) for i in index):
            return self.evaluate(np.asarray([index], dtype=np.int64))[0]
        return self.evaluate(index)

    # ------------------------------------------------------------------ inner products

    def dot(self, other: TT) -> Any:
        """Inner product ``<self, other> = sum conj(self) * other`` as a 0-d array.

        Parameters
        ----------
        other : TT
            Tensor train of the same shape.

        Examples
        --------
        >>> import numpy as np
        >>> x = np.arange(8.0).reshape(2, 2, 2)
        >>> round(float(tt_svd(x).dot(tt_svd(x))), 8)
        140.0
        """
        _check_same_shape(self, other)
        xp = namespace(*self.cores, *other.cores)
        env = xp.ones((1, 1), dtype=self.dtype, device=backend.device_of(self.cores[0]))
        for a, b in zip(self.cores, other.cores):
            ra, n, ra2 = a.shape
            rb, _, rb2 = b.shape
            # env[a', b'] = sum_{a, i, b} env[a, b] conj(A[a, i, a']) B[b, i, b']
            t = xp.matrix_transpose(env) @ xp.reshape(_conj(xp, a), (ra, n * ra2))  # (rb, n*ra2)
            t = xp.reshape(xp.permute_dims(xp.reshape(t, (rb, n, ra2)), (2, 0, 1)), (ra2, rb * n))
            env = t @ xp.reshape(b, (rb * n, rb2))
        return env[0, 0]

    def norm(self) -> Any:
        """Frobenius norm (0-d real array), from a QR sweep (no cancellation).

        Examples
        --------
        >>> import numpy as np
        >>> x = np.arange(8.0).reshape(2, 2, 2)
        >>> round(float(tt_svd(x).norm()), 10) == round(float(np.linalg.norm(x)), 10)
        True
        """
        xp = self.xp
        cores = left_orthonormal(self.cores)
        return xp.linalg.vector_norm(cores[-1])

    # ------------------------------------------------------------------ arithmetic

    def __add__(self, other: TT) -> TT:
        """Sum; ranks add (block-diagonal cores, a row and a column at the ends)."""
        if not isinstance(other, TT):
            return NotImplemented
        _check_same_shape(self, other)
        xp = namespace(*self.cores, *other.cores)
        d = self.ndim
        if d == 1:
            return TT([self.cores[0] + other.cores[0]])
        dev = backend.device_of(self.cores[0])
        out = []
        for k, (a, b) in enumerate(zip(self.cores, other.cores)):
            ra, n, ra2 = a.shape
            rb, _, rb2 = b.shape
            if k == 0:
                out.append(xp.concat([a, b], axis=2))
            elif k == d - 1:
                out.append(xp.concat([a, b], axis=0))
            else:
                top = xp.concat([a, xp.zeros((ra, n, rb2), dtype=a.dtype, device=dev)], axis=2)
                bottom = xp.concat([xp.zeros((rb, n, ra2), dtype=a.dtype, device=dev), b], axis=2)
                out.append(xp.concat([top, bottom], axis=0))
        return TT(out)

    def __neg__(self) -> TT:
        return self.scale(-1.0)

    def __sub__(self, other: TT) -> TT:
        if not isinstance(other, TT):
            return NotImplemented
        return self + (-other)

    def scale(self, alpha: Any) -> TT:
        """``alpha * self`` (the first core is scaled).

        Parameters
        ----------
        alpha : scalar
            Factor.
        """
        return TT([self.cores[0] * alpha, *self.cores[1:]])

    def hadamard(self, other: TT) -> TT:
        """Elementwise product; ranks multiply (Kronecker products of the core slices).

        Parameters
        ----------
        other : TT
            Tensor train of the same shape.

        Examples
        --------
        >>> import numpy as np
        >>> x = np.arange(1.0, 9.0).reshape(2, 2, 2)
        >>> t = tt_svd(x).hadamard(tt_svd(x))
        >>> t.ranks, bool(np.allclose(t.to_dense(), x * x))
        ((1, 4, 4, 1), True)
        """
        _check_same_shape(self, other)
        xp = namespace(*self.cores, *other.cores)
        out = []
        for a, b in zip(self.cores, other.cores):
            ra, n, ra2 = a.shape
            rb, _, rb2 = b.shape
            prod = a[:, None, :, :, None] * b[None, :, :, None, :]  # (ra, rb, n, ra2, rb2)
            out.append(xp.reshape(prod, (ra * rb, n, ra2 * rb2)))
        return TT(out)

    def __mul__(self, other: Any) -> TT:
        if isinstance(other, TT):
            return self.hadamard(other)
        if isinstance(other, (int, float, complex, np.number)) or getattr(other, "ndim", None) == 0:
            return self.scale(other)
        return NotImplemented

    def __rmul__(self, other: Any) -> TT:
        if isinstance(other, TT):
            return other.hadamard(self)
        return self.__mul__(other)

    def __truediv__(self, other: Any) -> TT:
        if isinstance(other, (int, float, complex, np.number)) or getattr(other, "ndim", None) == 0:
            return self.scale(1.0 / other)
        return NotImplemented

    # ------------------------------------------------------------------ rounding

    def round(self, tol: float | None = None, max_rank: int | None = None) -> TT:
        """Recompress to lower ranks with ``||X - X_round||_F <= tol * ||X||_F``.

        Right-to-left LQ sweep (right-orthonormal cores), then a left-to-right sweep of
        truncated SVDs, each allowed the discarded weight ``tol**2 ||X||**2 / (d-1)``
        ([Ose]_, Algorithm 2).

        Parameters
        ----------
        tol : float, optional
            Relative Frobenius-norm bound; default no bound (only ``max_rank``).
        max_rank : int, optional
            Cap on every rank (the bound then holds only when the cap is not active).

        References
        ----------
        .. [Ose] I. V. Oseledets, "Tensor-train decomposition", SIAM J. Sci. Comput. 33,
           2295 (2011).

        Examples
        --------
        >>> import numpy as np
        >>> t = tt_svd(np.arange(24.0).reshape(2, 3, 4), tol=1e-12)
        >>> (t + t).ranks, (t + t).round(1e-12).ranks
        ((1, 4, 4, 1), (1, 2, 2, 1))
        """
        fname = "TT.round"
        _check_tol(tol, fname)
        _check_rank_cap(max_rank, fname)
        xp = self.xp
        d = self.ndim
        cores = right_orthonormal(self.cores)
        if d == 1:
            return TT(cores)
        budget = 0.0
        e = 0
        if tol:
            # As in tt_svd: a norm whose square leaves the dtype's range is divided out
            # exactly (cores[0] carries it) and put back into the last core.
            e = array_exponent(xp, cores[0])
            cores[0] = scale_pow2(xp, cores[0], -e)
            total = _host_float(xp.linalg.vector_norm(cores[0])) ** 2
            budget = tol * tol * total / (d - 1)
        out = []
        carry = cores[0]
        for k in range(d - 1):
            r, n, r2 = carry.shape
            u, s, vh, _ = truncated_svd(
                xp.reshape(carry, (r * n, r2)), max_rank=max_rank, cutoff=budget, cutoff_mode="discarded"
            )
            out.append(xp.reshape(u, (r, n, u.shape[1])))
            sv = xp.astype(s, vh.dtype)[:, None] * vh
            nxt = cores[k + 1]
            rn, nn, rn2 = nxt.shape
            carry = xp.reshape(sv @ xp.reshape(nxt, (rn, nn * rn2)), (sv.shape[0], nn, rn2))
        out.append(scale_pow2(xp, carry, e))
        return TT(out)


def _check_same_shape(a: TT, b: TT) -> None:
    if not isinstance(b, TT):
        raise TypeError(f"expected a TT, got {type(b).__name__}")
    if a.shape != b.shape:
        raise ValueError(f"TT shapes differ: {a.shape} and {b.shape}")


# --------------------------------------------------------------------------------------
# TT-SVD


# Wide unfoldings at least this large (and this much wider than tall) are split through
# their Gram matrix; below, the full SVD is cheap enough and more accurate.
_GRAM_MIN_SIZE = 1 << 20
_GRAM_MIN_ASPECT = 8
# The Gram route resolves singular values only down to ~sqrt(eps) * ||A||; it is used
# only when the truncation budget is coarser than that.
_GRAM_MIN_REL_BUDGET = 1e-12


def _split_left(c: Any, max_rank: int | None, budget: float, total: float) -> tuple[Any, Any]:
    """``c ~= u @ w`` with orthonormal ``u`` (m, k), discarded weight within ``budget``.

    Large, strongly rectangular matrices whose truncation tolerates it go through the
    Gram matrix of their short side (one GEMM and a small ``eigh``, much cheaper than
    the SVD of a 256 x 65536 unfolding). Wide: ``c c^H = V diag(s^2) V^H``, ``u = V_k``
    and ``w = u^H c``. Tall: ``c^H c = V diag(s^2) V^H``, ``c V_k = u r`` by QR and
    ``w = r V_k^H``. Both project ``c`` onto the dominant singular subspace without
    dividing by small singular values.
    """
    xp = namespace(c)
    m, n = c.shape
    short = min(m, n)
    big = m * n >= _GRAM_MIN_SIZE and max(m, n) >= _GRAM_MIN_ASPECT * short
    if budget > 0.0:
        gram_ok = big and budget >= _GRAM_MIN_REL_BUDGET * total
    else:
        gram_ok = big and max_rank is not None and max_rank < short
    if not gram_ok:
        u, s, vh, _ = truncated_svd(c, max_rank=max_rank, cutoff=budget, cutoff_mode="discarded")
        return u, xp.astype(s, vh.dtype)[:, None] * vh
    wide = n >= m
    gram = c @ _adjoint(xp, c) if wide else _adjoint(xp, c) @ c
    w, v = xp.linalg.eigh((gram + _adjoint(xp, gram)) / 2)
    w_host = np.clip(backend.to_host(w)[::-1].astype(np.float64), 0.0, None)
    keep = truncation_rank(np.sqrt(w_host), max_rank, budget, "discarded") if budget > 0 else short
    if max_rank is not None:
        keep = min(keep, max_rank)
    order = xp.asarray(np.arange(short - 1, short - 1 - keep, -1, dtype=np.int64), device=backend.device_of(c))
    vk = xp.take(v, order, axis=1)
    if wide:
        return vk, _adjoint(xp, vk) @ c
    u, r = qr(c @ vk)
    return u, r @ _adjoint(xp, vk)


def tt_svd(x: Any, tol: float | None = None, max_rank: int | None = None) -> TT:
    """TT decomposition of a dense tensor by sequential truncated SVDs [Ose]_.

    Parameters
    ----------
    x : array, shape (n_0, ..., n_{d-1})
        Real or complex tensor, ``d >= 1``.
    tol : float, optional
        Relative accuracy: the result satisfies ``||x - X||_F <= tol * ||x||_F``
        (each of the ``d - 1`` truncations discards at most ``tol**2 ||x||**2 / (d-1)``).
        None: no truncation beyond ``max_rank`` (exact up to rounding).
    max_rank : int, optional
        Cap on every TT rank. The ``tol`` bound holds only where the cap is not active.

    Returns
    -------
    TT
        Cores in ``x``'s library, device and dtype; cores ``0..d-2`` left-orthonormal.

    Raises
    ------
    ValueError
        NaN/Inf in ``x``, a zero-length axis, ``x.ndim == 0``, negative ``tol`` or
        ``max_rank < 1``.
    TypeError
        ``x`` is not an array, or has an integer dtype.

    Notes
    -----
    Data whose squared norm would leave the dtype's range (float64 entries beyond
    ~1e150 or below ~1e-139) are decomposed after an exact rescaling by a power of two,
    so the ranks are those of the data scaled to unit size.

    References
    ----------
    .. [Ose] I. V. Oseledets, "Tensor-train decomposition", SIAM J. Sci. Comput. 33,
       2295 (2011).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b, c = rng.standard_normal((3, 5, 2))
    >>> x = np.einsum("ir,jr,kr->ijk", a, b, c)  # CP rank 2, so TT ranks <= 2
    >>> t = tt_svd(x, tol=1e-12)
    >>> t.ranks, bool(np.linalg.norm(t.to_dense() - x) <= 1e-12 * np.linalg.norm(x))
    ((1, 2, 2, 1), True)
    """
    fname = "tt_svd"
    xp = check_tensor(x, fname, what="x")
    x = backend.c_contiguous(x)  # at most one copy, into the layout every unfolding wants
    _check_tol(tol, fname)
    _check_rank_cap(max_rank, fname)
    shape = tuple(int(n) for n in x.shape)
    d = len(shape)
    if d == 1:
        return TT([xp.reshape(x, (1, shape[0], 1))])
    e = array_exponent(xp, x)
    if e:
        # Squared norms of x would leave the dtype's range: decompose x / 2**e (exact),
        # whose ranks are those of x, and put 2**e back into the last core.
        t = tt_svd(scale_pow2(xp, x, -e), tol, max_rank)
        return TT(t.cores[:-1] + [scale_pow2(xp, t.cores[-1], e)])
    total = _host_float(xp.linalg.vector_norm(x)) ** 2
    budget = tol * tol * total / (d - 1) if tol else 0.0
    cores = []
    carry = xp.reshape(x, (shape[0], -1))
    r = 1
    for k in range(d - 1):
        u, carry = _split_left(carry, max_rank, budget, total)
        r2 = u.shape[1]
        cores.append(xp.reshape(u, (r, shape[k], r2)))
        r = r2
        carry = xp.reshape(carry, (r * shape[k + 1], -1))
    cores.append(xp.reshape(carry, (r, shape[-1], 1)))
    return TT(cores)


# --------------------------------------------------------------------------------------
# tnkit.io


def _tt_to_dict(t: TT) -> dict[str, Any]:
    return {"cores": {f"{k:05d}": g for k, g in enumerate(t.cores)}}


def _tt_from_dict(data: dict[str, Any]) -> TT:
    return TT([data["cores"][k] for k in sorted(data["cores"])])


register_type(TT, "tt", _tt_to_dict, _tt_from_dict, version=1)
