"""Krylov solvers on any array namespace: thick-restart Lanczos, Davidson, ``expm_multiply``.

Each takes a ``matvec`` and a start vector and returns arrays of the start vector's
library, device and dtype. Convergence tests read a few scalars back to the host; the
Krylov basis never leaves the device.

References
----------
.. [WS] K. Wu and H. Simon, "Thick-restart Lanczos method for large symmetric
   eigenvalue problems", SIAM J. Matrix Anal. Appl. 22, 602 (2000).
.. [Saad] Y. Saad, "Analysis of some Krylov subspace approximations to the matrix
   exponential operator", SIAM J. Numer. Anal. 29, 209 (1992).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from tnkit import backend
from tnkit.backend import adjoint as _adjoint
from tnkit.backend import namespace
from tnkit.linalg.decomp import _check_finite
from tnkit.types import RNG, Array, Device, DType, Namespace

__all__ = ["eigsh", "davidson", "expm_multiply", "ConvergenceError"]


class ConvergenceError(RuntimeError):
    """An iterative solver did not reach its tolerance within its iteration budget."""


# --------------------------------------------------------------------------------------
# Krylov helpers


def _flat(xp: Namespace, v: Array) -> Array:
    return xp.reshape(v, (-1,))


def _checked_matvec(
    xp: Namespace, matvec: Callable[[Array], Array], shape: tuple[int, ...], fname: str
) -> Callable[[Array], Array]:
    """``matvec`` on flat vectors, refusing (in one line) a result of the wrong size."""
    n = math.prod(shape)

    def op(x: Array) -> Array:
        y = matvec(xp.reshape(x, shape))
        out_shape = getattr(y, "shape", None)
        if out_shape is None:
            raise TypeError(f"{fname}: matvec must return an array shaped like v0 {shape}, got {type(y).__name__}")
        if math.prod(out_shape) != n:
            raise ValueError(
                f"{fname}: matvec returned shape {tuple(out_shape)} for an input of shape {shape}; "
                f"it must return H @ v with v's shape {shape}"
            )
        return _flat(xp, y)

    return op


def _vdot(xp: Namespace, a: Array, b: Array) -> Array:
    """<a, b> = sum(conj(a) * b) as a 0-d array."""
    if xp.isdtype(a.dtype, "complex floating"):
        return xp.sum(xp.conj(a) * b)
    return xp.sum(a * b)


def _norm(xp: Namespace, v: Array) -> Array:
    return xp.linalg.vector_norm(v)


def _orthogonalize(xp: Namespace, basis: Array, w: Array) -> tuple[Array, Array]:
    """Project ``w`` off the columns of ``basis`` twice (classical Gram–Schmidt, DGKS).

    Returns the projected vector and the total coefficients ``basis^H w``.
    """
    h = _adjoint(xp, basis) @ w
    w = w - basis @ h
    h2 = _adjoint(xp, basis) @ w
    w = w - basis @ h2
    return w, h + h2


def _orthogonalize_rows(xp: Namespace, rows: Array, w: Array) -> tuple[Array, Array]:
    """As :func:`_orthogonalize` for a basis stored as orthonormal rows ``(m, n)``.

    ``rows^* w`` is formed as ``conj(conj(w) @ rows^T)`` so only the vector, never the
    basis, is conjugated (matrix-vector products on contiguous rows).
    """
    cplx = xp.isdtype(w.dtype, "complex floating")
    rt = xp.matrix_transpose(rows)
    h = xp.conj(xp.conj(w) @ rt) if cplx else rows @ w
    w = w - h @ rows
    h2 = xp.conj(xp.conj(w) @ rt) if cplx else rows @ w
    w = w - h2 @ rows
    return w, h + h2


def _random_unit_like(xp: Namespace, v: Array, rng: np.random.Generator) -> Array:
    r = backend.random_normal(xp, tuple(v.shape), dtype=v.dtype, device=backend.device_of(v), rng=rng)
    return r / _norm(xp, r)


# --------------------------------------------------------------------------------------
# Lanczos eigensolver (thick restart)


def _bordered(xp: Namespace, hm: Array, col: Array, corner: Array) -> Array:
    """The Hermitian matrix [[hm, col], [col^H, corner]] (all on the device)."""
    m = hm.shape[0]
    col = xp.reshape(col, (m, 1))
    row = xp.conj(xp.matrix_transpose(col)) if xp.isdtype(col.dtype, "complex floating") else xp.matrix_transpose(col)
    top = xp.concat([hm, col], axis=1)
    bottom = xp.concat([row, xp.reshape(corner, (1, 1))], axis=1)
    return xp.concat([top, bottom], axis=0)


def eigsh(
    matvec: Callable[[Array], Array],
    v0: Array,
    k: int = 1,
    tol: float = 1e-10,
    *,
    which: Literal["SA", "LA"] = "SA",
    ncv: int | None = None,
    max_restarts: int = 500,
    check_every: int = 1,
    rng: RNG = 0,
) -> tuple[Array, Array]:
    """Extremal eigenpairs of a Hermitian operator by thick-restart Lanczos [WS]_.

    The Krylov basis is kept fully orthogonal (two classical Gram–Schmidt passes), so
    no spurious copies of converged eigenvalues appear; at a restart the wanted Ritz
    vectors and a buffer of the next ones are kept together with the residual
    direction. Vectors never leave ``v0``'s device; a few scalars per step go to the
    host for control flow.

    Parameters
    ----------
    matvec : callable
        ``matvec(v)`` returns ``H @ v`` for an array ``v`` shaped like ``v0``.
    v0 : array
        Start vector of any shape (treated as a flat vector); sets the library,
        device and dtype. It must overlap the wanted eigenvectors (a random vector
        does; a vector in one symmetry sector finds that sector's eigenpairs).
    k : int
        Number of eigenpairs.
    tol : float
        Converged when every residual ``||H x - theta x|| <= tol * max(1, |theta|)``.
    which : {"SA", "LA"}
        Smallest or largest algebraic eigenvalues.
    ncv : int, optional
        Krylov basis size before a restart (default ``max(2k + 10, 20)``, capped by
        the dimension).
    max_restarts : int
        Restart budget; exceeding it raises :class:`ConvergenceError`.
    check_every : int
        Test convergence every this many Krylov steps (each test is a small ``eigh``
        and a host read; on a GPU a larger value saves synchronisations).
    rng : numpy.random.Generator, int or None
        Used only to continue after an invariant subspace is exhausted.

    Returns
    -------
    w : array, shape (k,)
        Eigenvalues, ascending for "SA", descending for "LA", real dtype.
    v : array, shape ``(*v0.shape, k)``
        Orthonormal eigenvectors; ``v[..., i]`` belongs to ``w[i]``.

    Raises
    ------
    ValueError
        ``k`` out of range, ``v0`` zero or non-finite, or ``matvec`` returning an
        array with a different number of entries than ``v0``.
    TypeError
        ``matvec`` returning something that is not an array.
    ConvergenceError
        Residuals still above ``tol`` after ``max_restarts`` restarts.

    References
    ----------
    .. [WS] K. Wu and H. Simon, "Thick-restart Lanczos method for large symmetric
       eigenvalue problems", SIAM J. Matrix Anal. Appl. 22, 602 (2000).

    Examples
    --------
    >>> import numpy as np
    >>> h = np.diag(np.arange(1.0, 11.0))
    >>> w, v = eigsh(lambda x: h @ x, np.ones(10), k=2)
    >>> np.round(w, 12).tolist()
    [1.0, 2.0]
    """
    fname = "eigsh"
    xp = namespace(v0)
    shape = tuple(v0.shape)
    n = math.prod(shape)
    if not (1 <= k <= n):
        raise ValueError(f"{fname}: k must be in [1, {n}], got {k}")
    if which not in ("SA", "LA"):
        raise ValueError(f"{fname}: which must be 'SA' or 'LA', got {which!r}")
    gen = backend.make_rng(rng)
    ncv = min(n, ncv if ncv is not None else max(2 * k + 10, 20))
    if ncv < min(n, k + 1):
        raise ValueError(f"{fname}: ncv={ncv} must exceed k={k}")
    sign = 1.0 if which == "SA" else -1.0

    v = _flat(xp, v0)
    _check_finite(xp, v, fname)
    nrm = float(_norm(xp, v))
    if nrm == 0.0:
        raise ValueError(f"{fname}: v0 is the zero vector")

    op = _checked_matvec(xp, matvec, shape, fname)

    q = v / nrm
    hq = op(q)
    dtype = xp.result_type(q.dtype, hq.dtype)
    q, hq = xp.astype(q, dtype), xp.astype(hq, dtype)
    dev = backend.device_of(q)
    rdtype = backend.real_dtype(xp, dtype)
    eps = backend.dtype_eps(xp, dtype)

    # Orthonormal Krylov vectors as rows of a preallocated buffer (room for a few
    # extra directions after an invariant subspace).
    capacity = min(n, ncv + 4)
    rows = xp.zeros((capacity, n), dtype=dtype, device=dev)
    m = 0
    hm = xp.zeros((0, 0), dtype=dtype, device=dev)
    scale = 1.0
    restarts = 0
    deflated = False
    res_host = np.full(k, np.inf)
    while True:
        # Add q (unit, orthogonal to the basis) with hq = H q.
        rows[m, :] = q
        m += 1
        w, h = _orthogonalize_rows(xp, rows[:m, :], hq)
        hm = _bordered(xp, hm, h[: m - 1], h[m - 1 :])
        beta = float(_norm(xp, w))
        scale = max(scale, abs(float(xp.real(h[m - 1]))))
        full = m >= ncv or m == n
        # At an invariant subspace the residuals vanish, but the wanted eigenpairs may lie
        # outside it: continue with a random direction before testing (as ARPACK does).
        breakdown = beta <= 100 * math.sqrt(n) * eps * scale and m < n
        deflated = deflated or breakdown
        # After a breakdown only full-basis tests are trusted: a short random
        # continuation cannot yet show eigenpairs lying outside the invariant subspace.
        if breakdown and m == capacity:
            breakdown = False
        if m >= k and not breakdown and (full or (not deflated and m % check_every == 0)):
            theta, y = xp.linalg.eigh((hm + _adjoint(xp, hm)) / 2)
            order = xp.argsort(sign * theta)
            theta = xp.take(theta, order)
            y = xp.take(y, order, axis=1)
            th_host = backend.to_host(theta[:k])
            # H V = V Hm + w e_m^T, so the Ritz pair (theta_i, V y_i) has residual ||w|| |y_{m,i}|.
            res_host = beta * np.abs(backend.to_host(y[m - 1, :k]))
            if m == n or bool(np.all(res_host <= tol * np.maximum(1.0, np.abs(th_host)))):
                vecs = xp.matrix_transpose(xp.matrix_transpose(y[:, :k]) @ rows[:m, :])
                return xp.astype(theta[:k], rdtype), xp.reshape(vecs, (*shape, k))
            if full:
                if restarts == max_restarts:
                    break
                restarts += 1
                # Thick restart: the wanted Ritz vectors plus a buffer, then the residual.
                keep = min(m - 1, k + max(1, (ncv - k) // 2))
                ritz = xp.matrix_transpose(y[:, :keep]) @ rows[:m, :]
                rows[:keep, :] = ritz
                m = keep
                hm = xp.astype(_diag(xp, theta[:keep]), dtype)
                q = w / beta
                hq = xp.astype(op(q), dtype)
                continue
        if breakdown:
            w, _ = _orthogonalize_rows(xp, rows[:m, :], _random_unit_like(xp, q, gen))
            q = w / _norm(xp, w)
        else:
            q = w / beta
        hq = xp.astype(op(q), dtype)
    raise ConvergenceError(
        f"{fname}: no convergence to tol={tol} after {max_restarts} restarts "
        f"(largest residual {float(res_host.max()):.2e}); increase ncv or max_restarts"
    )


def _diag(xp: Namespace, d: Array) -> Array:
    n = d.shape[0]
    eye = xp.eye(n, dtype=d.dtype, device=backend.device_of(d))
    return eye * d[None, :]


# --------------------------------------------------------------------------------------
# Davidson eigensolver


def davidson(
    matvec: Callable[[Array], Array],
    v0: Array,
    k: int = 1,
    tol: float = 1e-10,
    *,
    diag: Array | None = None,
    max_subspace: int = 24,
    max_iter: int = 1000,
) -> tuple[Array, Array]:
    """Lowest eigenpairs of a Hermitian operator by Davidson's method [Dav]_.

    Each step adds the preconditioned residual ``(theta - diag)^-1 r`` of the first
    unconverged Ritz pair to the search space (plain residual when ``diag`` is None);
    the space is restarted from the current Ritz vectors when it reaches
    ``max_subspace``. Diagonally dominant operators (DMRG effective Hamiltonians with
    a good guess) often need fewer products than Lanczos.

    Parameters
    ----------
    matvec : callable
        ``matvec(v)`` returns ``H @ v`` for ``v`` shaped like ``v0``.
    v0 : array
        Start vector of any shape; sets library, device and dtype.
    k : int
        Number of eigenpairs (smallest algebraic).
    tol : float
        Residual tolerance ``||H x - theta x|| <= tol * max(1, |theta|)``.
    diag : array, optional
        Diagonal of ``H`` shaped like ``v0`` (the preconditioner).
    max_subspace, max_iter : int
        Search-space size before a restart; total iteration budget.

    Returns
    -------
    w : array, shape (k,)
    v : array, shape ``(*v0.shape, k)``

    Raises
    ------
    ValueError, TypeError
        ``matvec`` returning an array of the wrong size, or no array (as :func:`eigsh`).
    ConvergenceError
        If ``max_iter`` iterations do not reach ``tol``.

    References
    ----------
    .. [Dav] E. R. Davidson, "The iterative calculation of a few of the lowest
       eigenvalues and corresponding eigenvectors of large real-symmetric matrices",
       J. Comput. Phys. 17, 87 (1975).

    Examples
    --------
    >>> import numpy as np
    >>> h = np.diag(np.arange(1.0, 31.0)) + 0.01
    >>> w, v = davidson(lambda x: h @ x, np.ones(30), diag=np.diag(h).copy())
    >>> round(float(w[0]), 10) == round(float(np.linalg.eigvalsh(h)[0]), 10)
    True
    """
    fname = "davidson"
    xp = namespace(v0)
    shape = tuple(v0.shape)
    n = math.prod(shape)
    if not (1 <= k <= n):
        raise ValueError(f"{fname}: k must be in [1, {n}], got {k}")
    v = _flat(xp, v0)
    _check_finite(xp, v, fname)
    nrm = float(_norm(xp, v))
    if nrm == 0.0:
        raise ValueError(f"{fname}: v0 is the zero vector")
    max_subspace = max(min(max_subspace, n), k + 1) if n > k else n

    op = _checked_matvec(xp, matvec, shape, fname)

    q = v / nrm
    hq = op(q)
    dtype = xp.result_type(q.dtype, hq.dtype)
    q, hq = xp.astype(q, dtype), xp.astype(hq, dtype)
    rdtype = backend.real_dtype(xp, dtype)
    eps = backend.dtype_eps(xp, dtype)
    dflat = None if diag is None else xp.astype(_flat(xp, diag), dtype)
    rows = xp.reshape(q, (1, n))
    hrows = xp.reshape(hq, (1, n))
    res_host = np.full(k, np.inf)
    for _ in range(max_iter):
        m = rows.shape[0]
        cplx = xp.isdtype(dtype, "complex floating")
        proj = (xp.conj(rows) if cplx else rows) @ xp.matrix_transpose(hrows)  # proj[i, j] = <v_i|H|v_j>
        theta, y = xp.linalg.eigh((proj + _adjoint(xp, proj)) / 2)
        kk = min(k, m)
        ritz = xp.matrix_transpose(y[:, :kk]) @ rows  # (kk, n)
        hritz = xp.matrix_transpose(y[:, :kk]) @ hrows
        resid = hritz - xp.astype(theta[:kk], dtype)[:, None] * ritz
        res_host = backend.to_host(xp.linalg.vector_norm(resid, axis=1))
        th_host = backend.to_host(theta[:kk])
        ok = res_host <= tol * np.maximum(1.0, np.abs(th_host))
        if kk == k and (bool(np.all(ok)) or m == n):
            return xp.astype(theta[:k], rdtype), xp.reshape(xp.matrix_transpose(ritz), (*shape, k))
        j = int(np.argmin(ok)) if kk == k else 0
        r = resid[j, :]
        if dflat is not None:
            denom = xp.astype(theta[j], dtype) - dflat
            small = xp.abs(denom) < 1e-8
            denom = xp.where(small, xp.full_like(denom, 1e-8), denom)
            t = r / denom
        else:
            t = r
        if m >= max_subspace:
            keep = min(m - 1, max(k + 1, max_subspace // 2))
            rows = xp.matrix_transpose(y[:, :keep]) @ rows
            hrows = xp.matrix_transpose(y[:, :keep]) @ hrows
        t, _ = _orthogonalize_rows(xp, rows, t)
        tn = float(_norm(xp, t))
        if tn <= 100 * eps * max(1.0, float(np.abs(th_host).max())):
            # The correction is already in the space: fall back to the plain residual.
            t, _ = _orthogonalize_rows(xp, rows, r)
            tn = float(_norm(xp, t))
            if tn <= 100 * eps:
                return xp.astype(theta[:k], rdtype), xp.reshape(xp.matrix_transpose(ritz), (*shape, k))
        t = t / tn
        rows = xp.concat([rows, xp.reshape(t, (1, n))], axis=0)
        hrows = xp.concat([hrows, xp.reshape(xp.astype(op(t), dtype), (1, n))], axis=0)
    raise ConvergenceError(
        f"{fname}: no convergence to tol={tol} in {max_iter} iterations (largest residual {float(res_host.max()):.2e})"
    )


# --------------------------------------------------------------------------------------
# Krylov matrix exponential


def expm_multiply(
    matvec: Callable[[Array], Array],
    v: Array,
    t: complex = 1.0,
    *,
    tol: float | None = None,
    krylov_dim: int = 30,
    hermitian: bool = False,
    max_steps: int = 10_000,
) -> Array:
    """``exp(t A) v`` by Krylov projection with adaptive sub-stepping [Saad]_.

    An orthonormal Krylov basis of ``A`` at ``v`` is built by Arnoldi (two
    Gram–Schmidt passes); the small projected exponential is evaluated on the
    device. The a-posteriori estimate ``|h_{m+1,m}| |[exp(tau H_m)]_{m,1}|`` decides
    whether the step ``tau`` is accepted; otherwise ``tau`` is halved on the same
    basis, which does not depend on ``tau``.

    Parameters
    ----------
    matvec : callable
        ``matvec(x)`` returns ``A @ x`` for ``x`` shaped like ``v``.
    v : array
        Vector of any shape (treated as flat).
    t : float or complex
        Time; ``t = -1j * dt`` gives Schrödinger evolution ``exp(-i dt H) v``.
    tol : float, optional
        Accepted error per unit norm over the whole interval (default: 100 × the
        dtype's epsilon).
    krylov_dim : int
        Largest Krylov basis per step.
    hermitian : bool
        ``A`` is Hermitian: the projected exponential is formed through ``eigh``.
    max_steps : int
        Sub-step budget.

    Returns
    -------
    array
        Shaped like ``v``; complex when ``t`` or the operator is complex.

    Raises
    ------
    ValueError
        Non-finite ``v``, or ``matvec`` returning an array of the wrong size.
    ConvergenceError
        Step size underflow or more than ``max_steps`` sub-steps.

    References
    ----------
    .. [Saad] Y. Saad, "Analysis of some Krylov subspace approximations to the matrix
       exponential operator", SIAM J. Numer. Anal. 29, 209 (1992).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.diag([0.0, -1.0])
    >>> np.round(expm_multiply(lambda x: a @ x, np.ones(2), 2.0), 12).tolist()
    [1.0, 0.135335283237]
    """
    fname = "expm_multiply"
    xp = namespace(v)
    shape = tuple(v.shape)
    n = math.prod(shape)
    x = _flat(xp, v)
    _check_finite(xp, x, fname)
    tc = complex(t)
    dtype = x.dtype
    real_input = not xp.isdtype(dtype, "complex floating")
    if tc.imag != 0.0 and real_input:
        dtype = backend.complex_dtype(xp, dtype)
    x = xp.astype(x, dtype)
    if n == 0 or tc == 0:
        return xp.reshape(x, shape)

    split = False  # apply matvec to real and imaginary parts separately
    checked = _checked_matvec(xp, matvec, shape, fname)

    def op(y: Array) -> Array:
        nonlocal split
        if not split:
            try:
                return checked(y)
            except (TypeError, RuntimeError) as exc:
                # A real operator that refuses complex vectors (torch does not promote
                # real @ complex); linearity gives A y = A re(y) + i A im(y). Our own
                # refusal of a wrong-shaped result (prefixed with fname) is passed on.
                if str(exc).startswith(f"{fname}: ") or not (real_input and xp.isdtype(y.dtype, "complex floating")):
                    raise
                split = True
        re_part = checked(xp.real(y))
        im_part = checked(xp.imag(y))
        cdt = xp.result_type(y.dtype, re_part.dtype)
        return xp.astype(re_part, cdt) + 1j * xp.astype(im_part, cdt)

    dev = backend.device_of(x)
    eps = backend.dtype_eps(xp, dtype)
    tol = 100 * eps if tol is None else float(tol)
    m_max = max(1, min(krylov_dim, n))

    done, tau, steps = 0.0, 1.0, 0
    while 1.0 - done > 1e-13:
        beta = float(_norm(xp, x))
        if beta == 0.0:
            break
        q = x / beta
        basis = xp.zeros((n, 0), dtype=dtype, device=dev)
        cols: list[Array] = []
        hnorm, h_next, breakdown = 0.0, 0.0, False
        for j in range(m_max):
            w = op(q)
            if w.dtype != dtype:  # complex operator on a real vector
                dtype = xp.result_type(dtype, w.dtype)
                basis, q, x = xp.astype(basis, dtype), xp.astype(q, dtype), xp.astype(x, dtype)
                cols = [xp.astype(c, dtype) for c in cols]
            basis = xp.concat([basis, xp.reshape(q, (n, 1))], axis=1)
            w, coeff = _orthogonalize(xp, basis, xp.astype(w, dtype))
            h_next_dev = _norm(xp, w)
            h_next = float(h_next_dev)
            cols.append(xp.concat([coeff, xp.reshape(xp.astype(h_next_dev, dtype), (1,))]))
            hnorm = max(hnorm, float(xp.max(xp.abs(coeff))))
            if h_next <= 10 * math.sqrt(n) * eps * max(1.0, hnorm):
                breakdown = True
                break
            q = w / h_next
        m = basis.shape[1]
        hm = _hessenberg(xp, cols, m, dtype, dev)
        remaining = 1.0 - done
        tau = min(tau, remaining)
        while True:
            small = _projected_exp_e1(xp, hm, tau * tc, hermitian)
            err = 0.0 if breakdown else h_next * float(xp.abs(small[m - 1]))
            # Roundoff puts a floor under the estimate: ``small`` carries an absolute error of a
            # few eps, which ``h_next`` scales up; an estimate below that floor cannot be resolved,
            # and asking for it would halve tau to underflow when ``h_next`` is large (a scaled H).
            if err <= max(tol * tau, 4 * eps * max(1.0, h_next)):
                break
            tau /= 2.0
            if tau < 1e-14:
                raise ConvergenceError(f"{fname}: step size underflow; increase krylov_dim")
        x = beta * (basis @ xp.astype(small, basis.dtype))
        dtype = x.dtype
        done = 1.0 if tau >= remaining else done + tau
        steps += 1
        if steps > max_steps:
            raise ConvergenceError(f"{fname}: more than {max_steps} sub-steps; increase krylov_dim")
        tau *= 2.0
    return xp.reshape(x, shape)


def _hessenberg(xp: Namespace, cols: list[Array], m: int, dtype: DType, dev: Device) -> Array:
    """Square upper-Hessenberg ``H_m`` from Arnoldi columns of lengths 2, 3, ..., m+1."""
    padded = []
    for j, c in enumerate(cols):
        c = c[: min(j + 2, m)]
        pad = m - c.shape[0]
        if pad:
            c = xp.concat([c, xp.zeros((pad,), dtype=dtype, device=dev)])
        padded.append(c)
    return xp.stack(padded, axis=1)


def _projected_exp_e1(xp: Namespace, hm: Array, s: complex, hermitian: bool) -> Array:
    """First column of ``exp(s * hm)`` for the small projected matrix, on its device."""
    cplx = s.imag != 0.0 or xp.isdtype(hm.dtype, "complex floating")
    if cplx and not xp.isdtype(hm.dtype, "complex floating"):
        hm = xp.astype(hm, backend.complex_dtype(xp, hm.dtype))
    scal: complex | float = s if cplx else s.real
    if hermitian:
        theta, y = xp.linalg.eigh((hm + _adjoint(xp, hm)) / 2)
        theta = xp.astype(theta, y.dtype)
        phase = xp.exp(theta * scal)
        return y @ (phase * xp.conj(y[0, :]) if cplx else phase * y[0, :])
    return backend.expm(hm * scal)[:, 0]
