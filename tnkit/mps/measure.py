"""Measurements on matrix product states: local expectation values, two-point
correlations, Schmidt spectra, entanglement entropies and perfect sampling.

All functions accept an :class:`~tnkit.MPS` of any library; they move its
orthogonality centre (the state is unchanged) and return arrays of its library.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tnkit import backend
from tnkit.backend import conj as _conj
from tnkit.backend import namespace
from tnkit.contract import contract
from tnkit.linalg import truncated_svd

if TYPE_CHECKING:
    from tnkit.mps.mps import MPS

__all__ = [
    "expectation_local",
    "expectation_all",
    "correlation_matrix",
    "schmidt_values",
    "entanglement_entropy",
    "entanglement_entropies",
    "sample",
]


def _check_op(psi: MPS, op: Any, site: int) -> Any:
    if not (0 <= site < psi.length):
        raise ValueError(f"site {site} outside [0, {psi.length})")
    namespace(op, psi.tensors[0])  # same library and device, or TypeError
    d = psi.local_dims[site]
    if tuple(op.shape) != (d, d):
        raise ValueError(f"operator shape {tuple(op.shape)} does not match local dimension {d} at site {site}")
    return op


def _site_expectation(xp: Any, a: Any, op: Any) -> Any:
    """<A|op|A> / <A|A> for the centre tensor A."""
    op = xp.astype(op, xp.result_type(op.dtype, a.dtype))
    num = contract("atb,ts,asb->", _conj(xp, a), op, a)
    den = contract("asb,asb->", _conj(xp, a), a)
    return num / den


def expectation_local(psi: MPS, op: Any, site: int) -> Any:
    """``<psi|O_site|psi> / <psi|psi>`` as a 0-d array.

    Parameters
    ----------
    psi : MPS
        State, any norm; its orthogonality centre is moved (in place).
    op : array, shape (d, d)
        Local operator on that site's physical index.
    site : int
        Site the operator acts on.

    Examples
    --------
    >>> import numpy as np
    >>> from tnkit.mps.mps import MPS
    >>> z = np.diag([1.0, -1.0])
    >>> float(expectation_local(MPS.product([0, 1, 0], local_dim=2), z, 1))
    -1.0
    """
    _check_op(psi, op, site)
    psi.canonicalize(site)
    return _site_expectation(psi.xp, psi.tensors[site], op)


def expectation_all(psi: MPS, op: Any) -> Any:
    """``<O_i>`` for every site ``i`` (one sweep of the centre), shape ``(L,)``.

    Parameters
    ----------
    psi : MPS
        State, any norm; its orthogonality centre is moved (in place).
    op : array, shape (d, d)
        Local operator, applied at each site in turn.
    """
    xp = psi.xp
    values = []
    for i in range(psi.length):
        _check_op(psi, op, i)
        psi.canonicalize(i)
        values.append(_site_expectation(xp, psi.tensors[i], op))
    return xp.stack(values)


def correlation_matrix(psi: MPS, op_a: Any, op_b: Any, sites: Sequence[int] | None = None) -> Any:
    """``C[i, j] = <A_i B_j>`` (normalised) for ``i, j`` in ``sites``, shape ``(n, n)``.

    The diagonal is ``<(A B)_i>``. Cost ``O(L^2 chi^3)``.

    Parameters
    ----------
    psi : MPS
        State, any norm; its orthogonality centre is moved (in place).
    op_a, op_b : array, shape (d, d)
        Local operators ``A`` and ``B``.
    sites : sequence of int, optional
        Sites to include, ``n`` of them; default all ``L``.
    """
    xp = psi.xp
    sites = list(range(psi.length)) if sites is None else [int(s) for s in sites]
    for s in sites:
        _check_op(psi, op_a, s)
        _check_op(psi, op_b, s)
    dtype = xp.result_type(psi.dtype, op_a.dtype, op_b.dtype)
    op_a, op_b = xp.astype(op_a, dtype), xp.astype(op_b, dtype)
    index = {s: k for k, s in enumerate(sites)}
    n = len(sites)
    rows: dict[tuple[int, int], Any] = {}
    order = sorted(sites)
    for first, second, key in ((op_a, op_b, "ab"), (op_b, op_a, "ba")):
        for i in order:
            psi.canonicalize(i)
            a = xp.astype(psi.tensors[i], dtype)
            norm2 = contract("asb,asb->", _conj(xp, a), a)
            if key == "ab":
                rows[(i, i)] = contract("atb,ts,asb->", _conj(xp, a), first @ second, a) / norm2
            env = contract("atb,ts,asc->bc", _conj(xp, a), first, a)
            for j in range(i + 1, psi.length):
                t = xp.astype(psi.tensors[j], dtype)
                if j in index:
                    val = contract("bc,btd,ts,csd->", env, _conj(xp, t), second, t) / norm2
                    rows[(i, j) if key == "ab" else (j, i)] = val
                if j < order[-1]:
                    env = contract("bc,bsd,csf->df", env, _conj(xp, t), t)
                else:
                    break
    flat = [rows[(i, j)] for i in sites for j in sites]
    return xp.reshape(xp.stack(flat), (n, n))


def schmidt_values(psi: MPS, bond: int) -> Any:
    """Normalised Schmidt coefficients across the cut after site ``bond`` (descending).

    Parameters
    ----------
    psi : MPS
        State, any norm; its orthogonality centre is moved (in place).
    bond : int
        Cut between sites ``bond`` and ``bond + 1``, ``0 <= bond < L - 1``.
    """
    if not (0 <= bond < psi.length - 1):
        raise ValueError(f"bond {bond} outside [0, {psi.length - 1})")
    xp = psi.xp
    psi.canonicalize(bond)
    t = psi.tensors[bond]
    left, d, right = t.shape
    _, s, _, _ = truncated_svd(xp.reshape(t, (left * d, right)))
    return s / xp.linalg.vector_norm(s)


def _entropy_from_schmidt(xp: Any, s: Any, alpha: float) -> Any:
    p = s * s
    positive = p > 0
    if alpha == 1.0:
        return -xp.sum(xp.where(positive, p * xp.log(xp.where(positive, p, xp.ones_like(p))), xp.zeros_like(p)))
    if alpha == 0.0:
        return xp.log(xp.sum(xp.astype(positive, p.dtype)))
    return xp.log(xp.sum(xp.where(positive, p, xp.zeros_like(p)) ** alpha)) / (1.0 - alpha)


def entanglement_entropy(psi: MPS, bond: int, *, alpha: float = 1.0) -> Any:
    """Von Neumann (``alpha=1``) or Rényi-``alpha`` entropy across the cut after ``bond``.

    Parameters
    ----------
    psi : MPS
        State, any norm; its orthogonality centre is moved (in place).
    bond : int
        Cut between sites ``bond`` and ``bond + 1``, ``0 <= bond < L - 1``.
    alpha : float, optional
        Rényi index, >= 0; 1 (default) is the von Neumann entropy (natural log).

    Examples
    --------
    >>> import numpy as np
    >>> from tnkit.mps.mps import MPS
    >>> bell = np.array([1.0, 0.0, 0.0, 1.0]) / np.sqrt(2)
    >>> round(float(entanglement_entropy(MPS.from_dense(bell, 2), 0)), 12) == round(float(np.log(2)), 12)
    True
    """
    if alpha < 0:
        raise ValueError(f"entanglement_entropy: alpha must be >= 0, got {alpha}")
    return _entropy_from_schmidt(psi.xp, schmidt_values(psi, bond), alpha)


def entanglement_entropies(psi: MPS, *, alpha: float = 1.0) -> Any:
    """Entropies at every bond, shape ``(L - 1,)``, from one sweep of the centre.

    Parameters
    ----------
    psi : MPS
        State, any norm; its orthogonality centre is moved (in place).
    alpha : float, optional
        Rényi index, >= 0; 1 (default) is the von Neumann entropy (natural log).
    """
    xp = psi.xp
    return xp.stack([entanglement_entropy(psi, b, alpha=alpha) for b in range(psi.length - 1)])


def sample(psi: MPS, n_samples: int, *, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Draw ``n_samples`` configurations from ``|psi(s)|^2 / <psi|psi>`` exactly.

    Sites are sampled left to right from conditional probabilities computed on the
    device with the state in right-canonical form; only the ``(n_samples, d)``
    probability tables come to the host for the draw.

    Parameters
    ----------
    psi : MPS
        State, any norm; its orthogonality centre is moved (in place).
    n_samples : int
        Number of configurations drawn.
    rng : numpy.random.Generator, int or None, optional
        Source of the draws (see :func:`tnkit.backend.make_rng`).

    Returns
    -------
    numpy.ndarray of int, shape (n_samples, L)
    """
    if n_samples < 1:
        raise ValueError(f"sample: n_samples must be >= 1, got {n_samples}")
    gen = backend.make_rng(rng)
    xp = psi.xp
    psi.canonicalize(0)
    out = np.empty((n_samples, psi.length), dtype=np.int64)
    dev = psi.device
    vec = xp.ones((n_samples, 1), dtype=psi.dtype, device=dev)
    for i, t in enumerate(psi.tensors):
        left, d, right = t.shape
        amp = xp.reshape(vec @ xp.reshape(t, (left, d * right)), (n_samples, d, right))
        weights = xp.sum(xp.abs(amp) ** 2, axis=2)
        probs = backend.to_host(weights).astype(np.float64)
        probs /= probs.sum(axis=1, keepdims=True)
        cdf = np.cumsum(probs, axis=1)
        draws = np.minimum((gen.random(n_samples)[:, None] > cdf).sum(axis=1), d - 1)
        out[:, i] = draws
        flat_index = xp.asarray(np.arange(n_samples) * d + draws, device=dev)
        vec = xp.take(xp.reshape(amp, (n_samples * d, right)), flat_index, axis=0)
        norms = xp.linalg.vector_norm(vec, axis=1, keepdims=True)
        vec = vec / xp.astype(norms, vec.dtype)
    return out
