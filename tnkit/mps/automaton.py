"""MPO tensors of an :class:`~tnkit.mps.opsum.OpSum`, built on the host.

A sum of local terms becomes a finite-state automaton (state 0: nothing placed yet; the
last state: every operator of a term placed), written as one rank-4 tensor per site
``W[left, out, in, right]``; unused states are pruned and linearly dependent bond states
removed by SVD. :func:`is_hermitian_chain` checks ``H = H^dagger`` of such a chain from two
trace contractions, without forming a dense matrix. Both :class:`~tnkit.mps.mpo.MPO` and
:class:`~tnkit.mps.opsum.OpSum` use these; they live here so neither imports the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tnkit import backend
from tnkit.backend import conj as _conj
from tnkit.backend import namespace
from tnkit.checks import check_tensor
from tnkit.contract import contract
from tnkit.linalg.scaling import array_exponent, scale_pow2

if TYPE_CHECKING:
    from tnkit.mps.opsum import OpSum

__all__ = ["opsum_tensors", "is_hermitian_chain"]


def opsum_tensors(opsum: OpSum, *, compress: bool = True, tol: float = 1e-13) -> list[np.ndarray]:
    """Host tensors ``W[left, out, in, right]`` of the automaton MPO of ``opsum``.

    Parameters
    ----------
    opsum : OpSum
        The operator.
    compress : bool, optional
        Remove linearly dependent bond states by SVD (default True); the compressed
        tensors are kept only when they lower a bond dimension, otherwise the
        automaton's exact sparse ones are.
    tol : float, optional
        SVD threshold relative to each bond's largest singular value; default ``1e-13``.
    """
    tensors = _prune(_automaton(opsum))
    if compress and len(tensors) > 1:
        compressed = _lossless_compress(tensors, tol)
        if any(c.shape[3] < t.shape[3] for c, t in zip(compressed[:-1], tensors[:-1])):
            tensors = compressed
    return tensors


def is_hermitian_chain(tensors: Sequence[Any], *, rtol: float = 1e-10, fname: str = "is_hermitian_chain") -> bool:
    """Whether the operator chain ``tensors`` satisfies ``||H - H^+||_F^2 <= rtol ||H||_F^2``.

    Uses ``||H - H^+||^2 = 2 Tr(H^+ H) - 2 Re Tr(H H)``, each from a transfer-matrix sweep
    normalised per site (no dense matrix). The test is relative and scale-free: a site
    tensor whose squares would leave the dtype's range (entries beyond ~1e150 in float64)
    is first divided by a power of two, exactly, which scales ``H`` and ``H^+`` alike.

    Parameters
    ----------
    tensors : sequence of arrays, each (w_left, d_out, d_in, w_right)
    rtol : float
        Relative tolerance on the squared norms.
    fname : str
        The public function asking, the start of the error message.

    Raises
    ------
    ValueError
        A site tensor with NaN or Inf entries (the operator then has no Hermiticity to
        test).

    Examples
    --------
    >>> import numpy as np
    >>> sx = np.array([[0.0, 1.0], [1.0, 0.0]]).reshape(1, 2, 2, 1)
    >>> sp = np.array([[0.0, 1.0], [0.0, 0.0]]).reshape(1, 2, 2, 1)
    >>> is_hermitian_chain([sx, sx]), is_hermitian_chain([sp, sx]), is_hermitian_chain([1e300 * sx, sx])
    (True, False, True)
    """
    xp = namespace(*tensors)
    for i, w in enumerate(tensors):
        check_tensor(w, fname, what=f"the operator (MPO site {i})")
    dt = tensors[0].dtype
    left_hh = xp.ones((1, 1), dtype=dt, device=backend.device_of(tensors[0]))
    left_h2 = left_hh
    for w in tensors:
        w = scale_pow2(xp, w, -array_exponent(xp, w))
        left_hh = contract("ab,atsc,btsd->cd", left_hh, _conj(xp, w), w)
        left_h2 = contract("ab,atsc,bstd->cd", left_h2, w, w)
        scale = float(xp.max(xp.abs(left_hh))) or 1.0
        left_hh, left_h2 = left_hh / scale, left_h2 / scale
    tr_hh = float(xp.real(left_hh[0, 0]))
    tr_h2 = float(xp.real(left_h2[0, 0]))
    if tr_hh <= 0:
        return True  # the zero operator
    return 2.0 * (tr_hh - tr_h2) <= rtol * tr_hh


def _automaton(opsum: OpSum) -> list[np.ndarray]:
    """Host tensors of the finite-state-automaton MPO (state 0 = nothing placed yet,
    last state = term complete; intermediates keyed by the placed prefix)."""
    L = opsum.length
    dims = opsum.local_dims
    op_ids: dict[tuple[Any, ...], int] = {}

    def op_key(op: np.ndarray) -> int:
        key = (op.shape, op.dtype.str, op.tobytes())
        return op_ids.setdefault(key, len(op_ids))

    # Intermediate states per bond b (b = 1..L-1: between site b-1 and b).
    states: list[dict[tuple[Any, ...], int]] = [dict() for _ in range(L + 1)]
    # Transitions per site: (left_state_key, right_state_key) -> operator (summed for
    # completions, set once for shared prefixes).
    READY, DONE = ("ready",), ("done",)
    trans: list[dict[tuple[Any, Any], np.ndarray]] = [dict() for _ in range(L)]
    cplx = opsum.is_complex
    dt = np.complex128 if cplx else np.float64

    def put(site: int, lkey: Any, rkey: Any, op: np.ndarray, accumulate: bool) -> None:
        slot = trans[site]
        if accumulate and (lkey, rkey) in slot:
            slot[(lkey, rkey)] = slot[(lkey, rkey)] + op
        elif (lkey, rkey) not in slot:
            slot[(lkey, rkey)] = op.astype(dt)

    for term in opsum.terms:
        if len(term.sites) == 1:
            put(term.sites[0], READY, DONE, term.coef * term.ops[0], accumulate=True)
            continue
        ops = dict(zip(term.sites, term.ops))
        first, last = term.sites[0], term.sites[-1]
        prefix: tuple[Any, ...] = ()
        prev_key: Any = READY
        for site in range(first, last + 1):
            op = ops.get(site)
            if site == last:
                assert op is not None  # a term's last site carries an operator
                put(site, prev_key, DONE, term.coef * op, accumulate=True)
                break
            if op is not None:
                prefix = prefix + ((site, op_key(op)),)
                op_here = op
            else:
                op_here = np.eye(dims[site])
            key = ("open", prefix)
            states[site + 1].setdefault(key, len(states[site + 1]))
            put(site, prev_key, key, op_here, accumulate=False)
            prev_key = key

    # Index the bond states: READY first (bonds 0..L-1), intermediates, DONE last (bonds 1..L).
    index: list[dict[Any, int]] = []
    for b in range(L + 1):
        order: list[Any] = []
        if b < L:
            order.append(READY)
        order.extend(sorted(states[b], key=states[b].__getitem__))
        if b > 0:
            order.append(DONE)
        index.append({k: n for n, k in enumerate(order)})

    tensors = []
    for site in range(L):
        d = dims[site]
        wl, wr = len(index[site]), len(index[site + 1])
        w = np.zeros((wl, d, d, wr), dtype=dt)
        if READY in index[site] and READY in index[site + 1]:
            w[index[site][READY], :, :, index[site + 1][READY]] = np.eye(d)
        if DONE in index[site] and DONE in index[site + 1]:
            w[index[site][DONE], :, :, index[site + 1][DONE]] = np.eye(d)
        for (lkey, rkey), op in trans[site].items():
            w[index[site][lkey], :, :, index[site + 1][rkey]] += op
        tensors.append(w)
    return tensors


def _prune(tensors: list[np.ndarray]) -> list[np.ndarray]:
    """Drop bond states that no nonzero transition enters or leaves (dead ends of the
    automaton, e.g. "term complete" after the first site of a chain with no one-site
    terms). Exact, and keeps the automaton's sparse structure."""
    ts = list(tensors)
    changed = True
    while changed:
        changed = False
        for b in range(1, len(ts)):
            left, right = ts[b - 1], ts[b]
            enters = np.any(left != 0, axis=(0, 1, 2))
            leaves = np.any(right != 0, axis=(1, 2, 3))
            alive = enters & leaves
            if not np.all(alive):
                if not np.any(alive):
                    alive[0] = True  # the zero operator keeps one (zero) state
                ts[b - 1] = left[..., alive]
                ts[b] = right[alive]
                changed = True
    return ts


def _balance(tensors: list[np.ndarray]) -> list[np.ndarray]:
    """Rescale site tensors to equal Frobenius norms (their product is unchanged), so
    long chains neither overflow nor concentrate the whole norm on one site."""
    logs = [math.log(max(float(np.linalg.norm(t)), 1e-300)) for t in tensors]
    mean = sum(logs) / len(logs)
    return [t * math.exp(mean - lg) for t, lg in zip(tensors, logs)]


def _lossless_compress(tensors: list[np.ndarray], tol: float) -> list[np.ndarray]:
    """Remove numerically dependent bond states by QR then SVD sweeps (host, float64/complex128).

    The MPO is treated as an MPS with ``d^2``-dimensional sites. A left-to-right QR
    sweep makes it left orthonormal (rescaling by ``1/sqrt(d)`` per site keeps the
    numbers of order one); the right-to-left SVD sweep then drops singular values
    below ``tol`` times the bond's largest, i.e. only directions that are zero up to
    rounding.
    """
    ts = [t.copy() for t in tensors]
    L = len(ts)
    for i in range(L - 1):
        wl, d, _, wr = ts[i].shape
        q, r = np.linalg.qr(ts[i].reshape(wl * d * d, wr))
        ts[i] = q.reshape(wl, d, d, q.shape[1])
        nxt = ts[i + 1]
        ts[i + 1] = (r @ nxt.reshape(nxt.shape[0], -1)).reshape(r.shape[0], *nxt.shape[1:])
    for i in range(L - 1, 0, -1):
        wl, d, _, wr = ts[i].shape
        u, s, vh = np.linalg.svd(ts[i].reshape(wl, d * d * wr), full_matrices=False)
        keep = max(1, int(np.count_nonzero(s > tol * s[0]))) if s.size else 0
        ts[i] = vh[:keep].reshape(keep, d, d, wr)
        us = u[:, :keep] * s[:keep]
        prv = ts[i - 1]
        ts[i - 1] = (prv.reshape(-1, prv.shape[3]) @ us).reshape(*prv.shape[:3], keep)
    return _balance(ts)
