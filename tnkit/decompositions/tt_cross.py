"""TT-cross: a tensor train from a black-box function by two-site DMRG cross interpolation.

The tensor is never formed. Sweeps alternate left-to-right and right-to-left over the
pairs of neighbouring modes ``(k, k+1)``. For each pair the *superblock*
``A(I_k, i_k, i_{k+1}, J_{k+2})`` is evaluated in one call of ``f`` (``I_k``: chosen
left multi-indices, ``J_{k+2}``: chosen right ones), its SVD truncated at the requested
accuracy (which adapts the rank), and the maximum-volume rows of the orthonormalised
factor [GOSTZ]_ give the new index set ``I_{k+1}`` (or ``J_{k+1}`` going left). The
result interpolates ``f`` on the chosen crosses [SO]_ [OT]_.

The pivoting linear algebra is small (matrices of at most ``r * n`` rows) and runs on
the host in float64/complex128; index batches for ``f`` are built in the library of
``like`` and the cores are returned there.

References
----------
.. [OT] I. Oseledets and E. Tyrtyshnikov, "TT-cross approximation for
   multidimensional arrays", Linear Algebra Appl. 432, 70 (2010).
.. [SO] D. Savostyanov and I. Oseledets, "Fast adaptive interpolation of
   multi-dimensional arrays in tensor train format", Proc. 7th Int. Workshop on
   Multidimensional Systems (nDS), IEEE (2011).
.. [GOSTZ] S. A. Goreinov, I. V. Oseledets, D. V. Savostyanov, E. E. Tyrtyshnikov and
   N. L. Zamarashkin, "How to find a good submatrix", in Matrix Methods: Theory,
   Algorithms and Applications, World Scientific (2010).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.linalg

from tnkit import backend
from tnkit.decompositions.tt import TT
from tnkit.linalg.scaling import square_exponent
from tnkit.types import RNG, Array, DType, Namespace

__all__ = ["tt_cross", "CrossInfo", "maxvol"]


@dataclasses.dataclass
class CrossInfo:
    """What :func:`tt_cross` did.

    Attributes
    ----------
    evaluations : int
        Number of entries of the tensor requested from ``f`` (all calls together).
    calls : int
        Number of calls of ``f``.
    sweeps : int
        Half-sweeps (one direction each) performed.
    converged : bool
        Whether the relative change between half-sweeps fell below ``tol``.
    changes : list of float
        ``||X_s - X_{s-1}||_F / ||X_s||_F`` after each half-sweep ``s >= 1``.
    ranks : list of tuple
        TT ranks after each half-sweep.
    evaluations_per_sweep : list of int
        Cumulative evaluation count after each half-sweep.
    """

    evaluations: int = 0
    calls: int = 0
    sweeps: int = 0
    converged: bool = False
    changes: list[float] = dataclasses.field(default_factory=list)
    ranks: list[tuple[int, ...]] = dataclasses.field(default_factory=list)
    evaluations_per_sweep: list[int] = dataclasses.field(default_factory=list)


def maxvol(a: np.ndarray, tol: float = 1.05, max_iter: int = 100) -> np.ndarray:
    """Rows of a tall matrix spanning a submatrix of (quasi-)maximal volume [GOSTZ]_.

    Starts from the pivots of an LU factorisation with partial pivoting and swaps rows
    while some entry of ``a @ inv(a[rows])`` exceeds ``tol`` in modulus.

    Parameters
    ----------
    a : numpy.ndarray, shape (n, r), n >= r
        Full column rank.
    tol : float
        Stop once every coefficient satisfies ``|c_ij| <= tol`` (>= 1).
    max_iter : int
        Row-swap budget.

    Returns
    -------
    numpy.ndarray of int, shape (r,)

    References
    ----------
    .. [GOSTZ] S. A. Goreinov, I. V. Oseledets, D. V. Savostyanov, E. E. Tyrtyshnikov and
       N. L. Zamarashkin, "How to find a good submatrix", in Matrix Methods: Theory,
       Algorithms and Applications, World Scientific (2010).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1.0, 0.0], [0.0, 0.1], [0.5, 3.0]])
    >>> sorted(maxvol(a).tolist())
    [0, 2]
    """
    n, r = a.shape
    if n < r:
        raise ValueError(f"maxvol: need at least as many rows as columns, got shape {a.shape}")
    if r == 0:
        return np.zeros(0, dtype=np.int64)
    # Start from the pivot rows of LU with partial pivoting (LAPACK's row swaps).
    _, swaps = scipy.linalg.lu_factor(a, check_finite=False)
    perm = np.arange(n)
    for k, p in enumerate(swaps[:r]):
        perm[k], perm[p] = perm[p], perm[k]
    rows = perm[:r].astype(np.int64)
    sub = a[rows]
    try:
        coef = np.linalg.solve(sub.T, a.T).T  # a @ inv(sub)
    except np.linalg.LinAlgError:
        coef = a @ np.linalg.pinv(sub)
    for _ in range(max_iter):
        i, j = np.unravel_index(int(np.argmax(np.abs(coef))), coef.shape)
        piv = coef[i, j]
        if abs(piv) <= tol:
            break
        rows[j] = i
        # Sherman-Morrison update of a @ inv(sub) after replacing row j of sub by a[i].
        col = coef[:, j].copy()
        row = coef[i, :].copy()
        row[j] -= 1.0
        coef -= np.outer(col, row / piv)
    return rows


def _pivots(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """maxvol rows of ``q`` and the interpolation matrix ``q @ inv(q[rows])``."""
    rows = maxvol(q)
    sub = q[rows]
    interp = np.linalg.solve(sub.T, q.T).T
    interp[rows] = np.eye(len(rows), dtype=interp.dtype)  # exact at the pivots
    return rows, interp


def _truncation_rank(s: np.ndarray, rel_tol: float, max_rank: int) -> int:
    s64 = s.astype(np.float64)
    # Function values beyond ~1e154 (or below ~1e-154): squares in units of 4**e, exactly.
    e = square_exponent(float(np.max(np.abs(s64))), count=s64.size) if s64.size else 0
    w = (np.ldexp(s64, -e) if e else s64) ** 2
    total = float(w.sum())
    if total == 0.0:
        return 1
    tail = np.concatenate([np.cumsum(w[::-1])[::-1], [0.0]])
    keep = int(np.argmax(tail <= rel_tol * rel_tol * total))
    return max(1, min(keep, max_rank))


class _Oracle:
    """Calls ``f`` on host index batches, checks what comes back, counts evaluations."""

    def __init__(self, f: Callable[[Array], Array], d: int, like: Array, info: CrossInfo) -> None:
        self.f, self.d, self.like, self.info = f, d, like, info

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        m = idx.shape[0]
        arg = idx if self.like is None else backend.asarray_like(idx, self.like, dtype=_int_dtype(self.like))
        out = self.f(arg)
        self.info.calls += 1
        self.info.evaluations += m
        lib = backend._array_library(out)
        host = backend.to_host(out) if lib is not None and lib != "numpy" else np.asarray(out)
        if host.shape != (m,):
            raise ValueError(
                f"tt_cross: f must return an array of shape ({m},) for indices of shape "
                f"({m}, {self.d}), got shape {host.shape}"
            )
        if not np.all(np.isfinite(host)):
            raise ValueError("tt_cross: f returned NaN or Inf; the function must be finite on the whole grid")
        return host.astype(np.complex128 if np.iscomplexobj(host) else np.float64)


def _int_dtype(like: Array) -> DType:
    return backend.namespace(like).int64


def _superblock(oracle: _Oracle, left: np.ndarray, n1: int, n2: int, right: np.ndarray) -> np.ndarray:
    """f on left x [n1] x [n2] x right, shape (len(left), n1, n2, len(right))."""
    rl, rr = left.shape[0], right.shape[0]
    shape = (rl, n1, n2, rr)
    cols = [np.broadcast_to(left[:, None, None, None, j], shape) for j in range(left.shape[1])]
    cols.append(np.broadcast_to(np.arange(n1)[None, :, None, None], shape))
    cols.append(np.broadcast_to(np.arange(n2)[None, None, :, None], shape))
    cols += [np.broadcast_to(right[None, None, None, :, j], shape) for j in range(right.shape[1])]
    idx = np.stack([c.reshape(-1) for c in cols], axis=1).astype(np.int64)
    return oracle(idx).reshape(shape)


def _random_right_sets(shape: Sequence[int], rank: int, gen: np.random.Generator) -> list[np.ndarray]:
    """J_k for k = 1..d (J_d empty): distinct random multi-indices over modes k..d-1."""
    d = len(shape)
    sets: list[np.ndarray] = [np.zeros((1, 0), dtype=np.int64)] * (d + 1)
    for k in range(d - 1, 0, -1):
        r = min(rank, math.prod(shape[k:]), math.prod(shape[:k]))
        draws = np.stack([gen.integers(0, n, size=r) for n in shape[k:]], axis=1)
        sets[k] = np.unique(draws, axis=0).astype(np.int64)
    return sets


def _host_tt(cores: Sequence[np.ndarray]) -> TT:
    import array_api_compat.numpy

    xnp: Namespace = array_api_compat.numpy  # its stubs do not declare the array API functions
    return TT([xnp.asarray(c) for c in cores])


def _record_sweep(
    current: TT, previous: TT | None, info: CrossInfo, tol: float, callback: Callable[[TT, CrossInfo], None] | None
) -> bool:
    """Book-keep one finished sweep; True when the relative change since the last is <= tol.

    The change ``||current - previous|| / ||current||`` is computed in TT arithmetic,
    so it costs no evaluations of ``f``.
    """
    info.sweeps += 1
    info.ranks.append(current.ranks)
    info.evaluations_per_sweep.append(info.evaluations)
    if previous is not None:
        nrm = float(current.norm())
        diff = float((current - previous).norm())
        change = diff / nrm if nrm > 0 else diff
        info.changes.append(change)
        info.converged = change <= tol
    if callback is not None:
        callback(current, info)
    return info.converged


def tt_cross(
    f: Callable[[Array], Array],
    shape: Sequence[int],
    tol: float = 1e-6,
    *,
    max_rank: int = 64,
    n_sweeps: int = 20,
    init_rank: int = 2,
    kick: int = 2,
    rng: RNG = None,
    like: Array | None = None,
    dtype: DType | None = None,
    callback: Callable[[TT, CrossInfo], None] | None = None,
    method: str = "one-site",
) -> tuple[TT, CrossInfo]:
    """TT approximation of a tensor known only through its entries.

    ``method="one-site"`` (default): alternating sweeps over single modes; each step
    evaluates one fibre block ``f(I_k, :, J_{k+1})`` (``n r^2`` entries, one call of
    ``f``), truncates its column space by SVD at ``tol / sqrt(d - 1)``, picks the new
    index set by maxvol and grows it by up to ``kick`` rows (rectangular maxvol, the
    last one at random): about ``2 d n r^2`` evaluations per sweep. Entries are cached,
    so each distinct multi-index is requested once. The result is rounded at ``tol``.
    ``method="two-site"``: two-site DMRG cross with maxvol pivoting [SO]_ [OT]_, about
    ``2 d n^2 r^2`` evaluations per sweep, ranks from SVD truncation of each superblock
    at ``tol / sqrt(d - 1)``, result rounded at ``tol / 100``.

    Parameters
    ----------
    f : callable
        ``f(indices)`` with ``indices`` an integer array of shape (m, d) (NumPy, or the
        library of ``like``) returns the m entries, shape (m,). Every half-sweep step
        asks for a whole superblock in one call.
    shape : sequence of int
        Mode sizes ``(n_0, ..., n_{d-1})``, ``d >= 2``.
    tol : float
        Target relative accuracy; iteration stops when the relative Frobenius change
        of the approximation between half-sweeps is below ``tol``.
    max_rank : int
        Cap on every TT rank.
    n_sweeps : int
        Most full sweeps (each a left-to-right and a right-to-left half-sweep).
    init_rank : int
        Rank of the random initial right index sets.
    kick : int
        Extra singular directions kept beyond the truncation rank, so that the index
        sets keep exploring (they are dropped by a final rounding at ``tol / 100``).
    rng : numpy.random.Generator, int or None
        Source of the initial index sets.
    like : array, optional
        Indices are passed to ``f`` and cores returned in this array's library and
        device (default NumPy).
    dtype : dtype, optional
        dtype of the cores (default: ``like``'s dtype, else float64 / complex128 as ``f``
        returns).
    callback : callable, optional
        ``callback(tt, info)`` after every half-sweep, with the current approximation
        (NumPy cores, float64/complex128) — e.g. to record an error history.
    method : {"one-site", "two-site"}
        Cross scheme (see above); ``"one-site"`` needs far fewer evaluations.

    Returns
    -------
    tt : TT
    info : CrossInfo
        ``info.evaluations`` counts every entry requested from ``f`` (for
        ``"one-site"`` each distinct entry once; repeats come from the cache).

    Raises
    ------
    ValueError
        ``f`` returns a wrong shape or NaN/Inf; ``d < 2``, non-positive sizes,
        ``max_rank < 1`` or a negative ``tol``.

    References
    ----------
    .. [OT] I. Oseledets and E. Tyrtyshnikov, "TT-cross approximation for
       multidimensional arrays", Linear Algebra Appl. 432, 70 (2010).
    .. [SO] D. Savostyanov and I. Oseledets, "Fast adaptive interpolation of
       multi-dimensional arrays in tensor train format", Proc. 7th Int. Workshop on
       Multidimensional Systems (nDS), IEEE (2011).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.0, 1.0, 8)
    >>> f = lambda idx: np.sum(x[idx], axis=1)  # rank-2 separable sum
    >>> t, info = tt_cross(f, (8, 8, 8, 8), tol=1e-10, rng=0)
    >>> t.ranks, info.converged, info.evaluations < 8**4
    ((1, 2, 2, 2, 1), True, True)
    >>> bool(abs(float(t[3, 1, 4, 1]) - (x[3] + x[1] + x[4] + x[1])) < 1e-10)
    True
    """
    fname = "tt_cross"
    shape = tuple(int(n) for n in shape)
    d = len(shape)
    if d < 2:
        raise ValueError(f"{fname}: need at least 2 modes, got shape {shape}")
    if any(n < 1 for n in shape):
        raise ValueError(f"{fname}: mode sizes must be positive, got {shape}")
    if not (math.isfinite(tol) and tol >= 0.0):
        raise ValueError(f"{fname}: tol must be a finite number >= 0, got {tol}")
    for name, val, low in (
        ("max_rank", max_rank, 1),
        ("n_sweeps", n_sweeps, 1),
        ("init_rank", init_rank, 1),
        ("kick", kick, 0),
    ):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < low:
            raise ValueError(f"{fname}: {name} must be an int >= {low}, got {val!r}")
    if method not in ("one-site", "two-site"):
        raise ValueError(f"{fname}: method must be 'one-site' or 'two-site', got {method!r}")
    gen = backend.make_rng(rng)
    info = CrossInfo()
    oracle = _Oracle(f, d, like, info)
    if method == "one-site":
        result = _one_site(_CachedOracle(oracle), shape, tol, max_rank, n_sweeps, init_rank, kick, gen, info, callback)
        return _to_target(result, like, dtype), info
    rel = tol / math.sqrt(d - 1)

    left: list[np.ndarray] = [np.zeros((1, 0), dtype=np.int64)] * (d + 1)
    right = _random_right_sets(shape, min(init_rank, max_rank), gen)
    cores: list[np.ndarray] = [np.zeros(0)] * d
    previous: TT | None = None

    def step_rank(s: np.ndarray, rows: int, cols: int) -> int:
        r = _truncation_rank(s, rel, max_rank)
        return min(r + kick, max_rank, rows, cols, s.shape[0])

    for half in range(2 * n_sweeps):
        if half % 2 == 0:  # left to right: update I_{k+1}
            for k in range(d - 1):
                blk = _superblock(oracle, left[k], shape[k], shape[k + 1], right[k + 2])
                rl, n1, n2, rr = blk.shape
                mat = blk.reshape(rl * n1, n2 * rr)
                u, s, vh = np.linalg.svd(mat, full_matrices=False)
                r = step_rank(s, rl * n1, n2 * rr)
                q, rfac = np.linalg.qr(u[:, :r])
                rows, interp = _pivots(q)
                pairs = np.stack(np.unravel_index(rows, (rl, n1)), axis=1)
                left[k + 1] = np.concatenate([left[k][pairs[:, 0]], pairs[:, 1:]], axis=1)
                cores[k] = interp.reshape(rl, n1, r)
                if k == d - 2:
                    # The last pair keeps its superblock: (q[rows] R) S V^H ~ mat[rows].
                    tail = (q[rows] @ rfac) @ (s[:r, None] * vh[:r])
                    cores[k + 1] = tail.reshape(r, n2, rr)
        else:  # right to left: update J_{k+1}
            for k in range(d - 2, -1, -1):
                blk = _superblock(oracle, left[k], shape[k], shape[k + 1], right[k + 2])
                rl, n1, n2, rr = blk.shape
                mat = blk.reshape(rl * n1, n2 * rr)
                u, s, vh = np.linalg.svd(mat, full_matrices=False)
                r = step_rank(s, rl * n1, n2 * rr)
                q, rfac = np.linalg.qr(vh[:r].T)
                cols, interp = _pivots(q)
                pairs = np.stack(np.unravel_index(cols, (n2, rr)), axis=1)
                right[k + 1] = np.concatenate([pairs[:, :1], right[k + 2][pairs[:, 1]]], axis=1)
                cores[k + 1] = interp.T.reshape(r, n2, rr)
                if k == 0:
                    head = (u[:, :r] * s[:r]) @ (q[cols] @ rfac).T
                    cores[k] = head.reshape(rl, n1, r)
        current = _host_tt([c.copy() for c in cores])
        if _record_sweep(current, previous, info, tol, callback):
            break
        previous = current

    result = current.round(tol=tol / 100) if tol > 0 else current
    return _to_target(result, like, dtype), info


def _to_target(t: TT, like: Array, dtype: DType) -> TT:
    cplx = np.iscomplexobj(backend.to_host(t.cores[0]))
    if like is None:
        import array_api_compat.numpy

        xnp: Namespace = array_api_compat.numpy  # its stubs do not declare the array API functions
        target_dtype = dtype if dtype is not None else (xnp.complex128 if cplx else xnp.float64)
        return TT([xnp.asarray(backend.to_host(g), dtype=target_dtype) for g in t.cores])
    target_dtype = dtype if dtype is not None else like.dtype
    if cplx and not backend.namespace(like).isdtype(target_dtype, "complex floating"):
        raise ValueError(f"tt_cross: f returned complex values but dtype {target_dtype} is real; pass a complex dtype")
    return TT([backend.asarray_like(backend.to_host(g), like, dtype=target_dtype) for g in t.cores])


# ----------------------------------------------------------------------------- one-site cross


class _CachedOracle:
    """Entries of the tensor through ``_Oracle``, each distinct multi-index asked for once.

    Values are kept in a dict keyed by the raw bytes of the int64 index row; only the
    rows not seen before go to ``f`` (in one call), and ``info.evaluations`` counts
    those unique entries.
    """

    def __init__(self, oracle: _Oracle) -> None:
        self.oracle = oracle
        self.store: dict[bytes, Any] = {}

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        idx = np.ascontiguousarray(idx, dtype=np.int64)
        m, width = idx.shape
        keys = idx.view(np.dtype((np.void, 8 * width))).reshape(m).tolist() if width else [b""] * m
        store = self.store
        fresh: dict[bytes, int] = {}
        for pos, key in enumerate(keys):
            if key not in store and key not in fresh:
                fresh[key] = pos
        if fresh:
            where = np.fromiter(fresh.values(), dtype=np.int64, count=len(fresh))
            values = self.oracle(idx[where])
            for key, val in zip(fresh.keys(), values.tolist()):
                store[key] = val
        out = np.array([store[key] for key in keys])
        if out.dtype.kind not in "fc":
            out = out.astype(np.float64)
        return out


def _fibres(oracle: Callable[[np.ndarray], np.ndarray], left: np.ndarray, n: int, right: np.ndarray) -> np.ndarray:
    """f on left x [n] x right, shape (len(left), n, len(right))."""
    rl, rr = left.shape[0], right.shape[0]
    shape = (rl, n, rr)
    cols = [np.broadcast_to(left[:, None, None, j], shape) for j in range(left.shape[1])]
    cols.append(np.broadcast_to(np.arange(n)[None, :, None], shape))
    cols += [np.broadcast_to(right[None, None, :, j], shape) for j in range(right.shape[1])]
    idx = np.stack([c.reshape(-1) for c in cols], axis=1).astype(np.int64)
    return oracle(idx).reshape(shape)


def _rect_pivots(
    mat: np.ndarray, rel: float, max_rank: int, kick: int, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Row pivots of a fibre matrix and the matrix interpolating all rows from them.

    The column space of ``mat`` (m x c) is truncated by SVD at relative accuracy
    ``rel`` to ``r`` directions ``U``; maxvol gives ``r`` rows, and up to ``kick``
    more are added greedily, each time the row of ``U @ pinv(U[rows])`` with the
    largest norm (rectangular maxvol), which lets the rank grow on the next sweep.
    Returns ``rows`` and ``B = U @ pinv(U[rows])`` (m x len(rows)), with
    ``B @ mat[rows] ~= mat`` and ``B[rows] = I``.
    """
    m = mat.shape[0]
    u, s, _ = np.linalg.svd(mat, full_matrices=False)
    r = _truncation_rank(s, rel, max_rank) if s.size and s[0] > 0 else 1
    r = min(r, u.shape[1])
    q = u[:, :r]
    rows = maxvol(q)
    target = min(r + kick, max_rank, m)
    interp = np.linalg.solve(q[rows].T, q.T).T
    chosen = np.zeros(m, dtype=bool)
    chosen[rows] = True
    rows_list = rows.tolist()
    while len(rows_list) < target:
        if len(rows_list) == target - 1:  # the last extra row at random: keeps exploring
            i = int(gen.choice(np.flatnonzero(~chosen)))
        else:
            weight = np.sum(np.abs(interp) ** 2, axis=1)
            weight[chosen] = -1.0
            i = int(np.argmax(weight))
        rows_list.append(i)
        chosen[i] = True
        interp = q @ np.linalg.pinv(q[rows_list])
    rows = np.asarray(rows_list, dtype=np.int64)
    interp[rows] = np.eye(len(rows), dtype=interp.dtype)  # exact at the pivots
    return rows, interp


def _one_site(
    oracle: Callable[[np.ndarray], np.ndarray],
    shape: tuple[int, ...],
    tol: float,
    max_rank: int,
    n_sweeps: int,
    init_rank: int,
    kick: int,
    gen: np.random.Generator,
    info: CrossInfo,
    callback: Callable[[TT, CrossInfo], None] | None,
) -> TT:
    d = len(shape)
    rel = tol / math.sqrt(d - 1)
    left: list[np.ndarray] = [np.zeros((1, 0), dtype=np.int64)] * (d + 1)
    right = _random_right_sets(shape, min(init_rank, max_rank), gen)
    cores: list[np.ndarray] = [np.zeros(0)] * d
    previous: TT | None = None
    current: TT | None = None
    for half in range(2 * n_sweeps):
        if half % 2 == 0:  # left to right: new I_{k+1} from the rows of the (r_{k-1} n_k) x r_k fibres
            for k in range(d):
                blk = _fibres(oracle, left[k], shape[k], right[k + 1])
                rl, n, rr = blk.shape
                if k == d - 1:
                    cores[k] = blk
                    break
                rows, interp = _rect_pivots(blk.reshape(rl * n, rr), rel, max_rank, kick, gen)
                pairs = np.stack(np.unravel_index(rows, (rl, n)), axis=1)
                left[k + 1] = np.concatenate([left[k][pairs[:, 0]], pairs[:, 1:]], axis=1)
                cores[k] = interp.reshape(rl, n, len(rows))
        else:  # right to left: new J_k from the columns of the r_{k-1} x (n_k r_k) fibres
            for k in range(d - 1, -1, -1):
                blk = _fibres(oracle, left[k], shape[k], right[k + 1])
                rl, n, rr = blk.shape
                if k == 0:
                    cores[k] = blk
                    break
                mat = blk.reshape(rl, n * rr).T
                cols, interp = _rect_pivots(mat, rel, max_rank, kick, gen)
                pairs = np.stack(np.unravel_index(cols, (n, rr)), axis=1)
                right[k] = np.concatenate([pairs[:, :1], right[k + 1][pairs[:, 1]]], axis=1)
                cores[k] = interp.T.reshape(len(cols), n, rr)
        current = _host_tt([c.copy() for c in cores])
        if _record_sweep(current, previous, info, tol, callback):
            break
        previous = current
    assert current is not None
    return current.round(tol=tol) if tol > 0 else current
