"""Fitting a :class:`~tnkit.network.Structure` to a target tensor.

:func:`fit` fits by alternating least squares (each core in turn from the normal
equations of its environment) or by gradient descent with PyTorch autograd, with random
restarts and early stopping; a boolean ``mask`` restricts the fit to observed entries
(tensor completion).

References
----------
.. [TRALS] Q. Zhao, G. Zhou, S. Xie, L. Zhang and A. Cichocki, "Tensor ring
   decomposition", arXiv:1606.05535 (2016).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time

import numpy as np

from tnkit import backend
from tnkit.backend import namespace
from tnkit.checks import check_tensor, is_int
from tnkit.contract import contract
from tnkit.network.network import TensorNetwork, _gather
from tnkit.network.structure import Structure
from tnkit.types import RNG, Array, Namespace

__all__ = ["FitResult", "fit"]


# --------------------------------------------------------------------------------------
# Fitting


@dataclasses.dataclass
class FitResult:
    """Outcome of :func:`fit`.

    Attributes
    ----------
    network : TensorNetwork
        The best network over all restarts.
    rse : float
        Its relative error on the fitted entries.
    history : list of float
        Relative error after every sweep (ALS) or check (gradient) of the best run.
    iterations : int
        Sweeps or optimizer steps of the best run.
    converged : bool
        Stopped by ``rse_tol``, ``tol`` or ``patience`` rather than ``n_iter``.
    seconds : float
        Wall time of all restarts.
    restarts : list of float
        Final relative error of every restart.
    """

    network: TensorNetwork
    rse: float
    history: list[float]
    iterations: int
    converged: bool
    seconds: float
    restarts: list[float]


def _check_target(target: Array, fname: str) -> Namespace:
    return check_tensor(target, fname, what="target", complex_ok=False)


def fit(
    target: Array,
    structure: Structure | TensorNetwork,
    *,
    method: str = "als",
    mask: Array | None = None,
    n_iter: int = 200,
    tol: float = 1e-9,
    rse_tol: float = 0.0,
    restarts: int = 1,
    patience: int = 20,
    lr: float = 1e-2,
    ridge: float = 0.0,
    anneal: int = 0,
    rng: RNG = None,
) -> FitResult:
    """Fit a tensor network to ``target`` (or to its entries where ``mask`` is True).

    Parameters
    ----------
    target : array
        The tensor, of shape ``structure.shape``; real, finite, not empty.
    structure : Structure or TensorNetwork
        What to fit. A :class:`TensorNetwork` is the starting point of the first run
        (a warm start); later restarts begin from random cores.
    method : {"als", "gradient"}
        ``"als"``: alternating least squares, one core at a time from the normal
        equations of its environment (QR least squares, or
        ridge-regularised normal equations); ``"gradient"``: Adam on all cores through PyTorch autograd (NumPy
        input is converted to torch and back).
    mask : boolean array, optional
        Observed entries; the fit and the reported error use only these.
    n_iter : int
        Most ALS sweeps, or most Adam steps.
    tol : float
        ALS stops when the error changes by less than ``tol`` (relative) between sweeps.
    rse_tol : float
        Stop as soon as the relative error is at most this.
    restarts : int
        Independent runs; the one with the lowest error is returned.
    patience : int
        Gradient: stop after this many checks (every 10 steps) without improvement.
    lr : float
        Gradient: Adam learning rate.
    ridge : float
        ALS Tikhonov regularisation relative to the mean diagonal of the normal
        equations (0: plain least squares by QR, robust to ill-conditioning; a small
        value such as 1e-6 regularises tensor completion).
    anneal : int
        ALS: ``anneal`` extra sweeps at the start of each run, with a ridge that decays
        geometrically from 1 to 1e-2 (relative, as ``ridge``) before the plain sweeps.
        Strong early regularisation keeps ALS out of the poor local minima that graphs
        with loops fall into from random cores (on a 7^5 triangle network: exact fits
        from about 30 % of random starts without, about 90 % with ``anneal=50``).
    rng : numpy.random.Generator, int or None
        Random initial cores.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        Empty, complex or non-finite target; shape mismatch with the structure; a mask
        of the wrong shape or with no observed entry; bad option values.

    Examples
    --------
    >>> import numpy as np
    >>> s = Structure.tr((4, 4, 4, 4), (2, 2, 2, 2))
    >>> x = TensorNetwork.random(s, rng=1).to_dense()
    >>> res = fit(x, s, rng=2, restarts=3, rse_tol=1e-8)
    >>> bool(res.rse < 1e-6), res.network.num_params
    (True, 64)
    """
    fname = "fit"
    xp = _check_target(target, fname)
    warm = structure if isinstance(structure, TensorNetwork) else None
    s = warm.structure if warm is not None else structure
    if not isinstance(s, Structure):
        raise TypeError(f"{fname}: structure must be a Structure or TensorNetwork, got {type(structure).__name__}")
    if tuple(target.shape) != s.shape:
        raise ValueError(f"{fname}: target shape {tuple(target.shape)} differs from the structure's {s.shape}")
    if method not in ("als", "gradient"):
        raise ValueError(f"{fname}: method must be 'als' or 'gradient', got {method!r}")
    for name, val in (("n_iter", n_iter), ("restarts", restarts), ("patience", patience)):
        if not is_int(val) or val < 1:
            raise ValueError(f"{fname}: {name} must be an int >= 1, got {val!r}")
    if not is_int(anneal) or anneal < 0:
        raise ValueError(f"{fname}: anneal must be an int >= 0, got {anneal!r}")
    for name, num in (("tol", tol), ("rse_tol", rse_tol), ("ridge", ridge), ("lr", lr)):
        if not isinstance(num, numbers.Real) or not math.isfinite(num) or num < 0:
            raise ValueError(f"{fname}: {name} must be a finite number >= 0, got {num!r}")
    if mask is not None:
        if tuple(mask.shape) != s.shape:
            raise ValueError(f"{fname}: mask shape {tuple(mask.shape)} differs from the target's {s.shape}")
        if backend.library_name(namespace(mask)) != backend.library_name(xp):
            mask = backend.asarray_like(backend.to_host(mask), target)
        mask = xp.astype(mask, xp.bool) if mask.dtype != xp.bool else mask
        if not bool(xp.any(mask)):
            raise ValueError(f"{fname}: mask observes no entry")
    gen = backend.make_rng(rng)
    t0 = time.perf_counter()
    best: tuple[TensorNetwork, float, list[float], int, bool] | None = None
    finals = []
    for run in range(restarts):
        start = warm.to(target) if (run == 0 and warm is not None) else TensorNetwork.random(s, gen, like=target)
        if method == "als":
            out = _als(xp, target, start, mask, n_iter, tol, rse_tol, ridge, anneal)
        else:
            out = _gradient(target, start, mask, n_iter, rse_tol, patience, lr)
        finals.append(out[1])
        if best is None or out[1] < best[1]:
            best = out
        if best[1] <= rse_tol:
            break
    assert best is not None  # restarts >= 1, so at least one run
    net, err, hist, its, conv = best
    return FitResult(net, err, hist, its, conv, time.perf_counter() - t0, finals)


def _als(
    xp: Namespace,
    target: Array,
    net: TensorNetwork,
    mask: Array,
    n_iter: int,
    tol: float,
    rse_tol: float,
    ridge: float,
    anneal: int = 0,
) -> tuple[TensorNetwork, float, list[float], int, bool]:
    s = net.structure
    d = s.ndim
    cores = list(net.cores)
    tnorm = float(xp.linalg.vector_norm(target if mask is None else xp.where(mask, target, xp.zeros_like(target))))
    if tnorm == 0.0:
        zero = TensorNetwork(s, [xp.zeros_like(c) for c in cores])
        return zero, 0.0, [0.0], 0, True
    # Per physical node: the target with that node's mode last, flattened to (rows, n).
    if mask is None:
        unfold = {}
        for v in range(d):
            m = s.perm[v]
            order = [k for k in range(d) if k != m] + [m]
            unfold[v] = xp.reshape(xp.permute_dims(target, tuple(order)), (-1, s.shape[m]))
        vec = xp.reshape(target, (-1, 1))
    else:
        index = xp.stack(xp.nonzero(mask), axis=1)
        values = target[mask]
        by_value = {}
        for v in range(d):
            col = index[:, s.perm[v]]
            by_value[v] = [xp.nonzero(col == i)[0] for i in range(s.shape[s.perm[v]])]
    plans = [s._expression(skip=v, batch=mask is not None) for v in range(s.num_nodes)]
    history: list[float] = []
    converged = False
    sweeps = 0
    err = math.inf
    total = anneal + n_iter
    for sweep in range(total):
        sweeps = sweep + 1
        sq = 0.0
        lam = 10.0 ** (-2.0 * sweep / max(anneal - 1, 1)) if sweep < anneal else ridge
        for v in range(s.num_nodes):
            expr, nodes = plans[v]
            shp = s.core_shape(v)
            bonds = shp[1:] if v < d else shp
            nb = math.prod(bonds)
            if mask is None:
                env = xp.reshape(contract(expr, *(cores[u] for u in nodes)), (-1, nb))
                rhs_t = unfold[v] if v < d else vec
                w, resid = _solve(xp, env, rhs_t, lam)
                cores[v] = xp.reshape(w.T, shp) if v < d else xp.reshape(w[:, 0], shp)
            else:
                ops = [cores[u] if u >= d else _gather(xp, cores[u], index[:, s.perm[u]]) for u in nodes]
                env = xp.reshape(contract(expr, *ops), (-1, nb))
                if v < d:
                    cols, resid = [], 0.0
                    for rows in by_value[v]:
                        if rows.shape[0] == 0:
                            cols.append(xp.zeros((nb,), dtype=env.dtype, device=backend.device_of(env)))
                            continue
                        w, r = _solve(xp, xp.take(env, rows, axis=0), xp.take(values, rows, axis=0)[:, None], lam)
                        cols.append(w[:, 0])
                        resid += r
                    cores[v] = xp.reshape(xp.stack(cols, axis=0), shp)
                else:
                    w, resid = _solve(xp, env, values[:, None], lam)
                    cores[v] = xp.reshape(w[:, 0], shp)
            sq = resid
        new = math.sqrt(max(sq, 0.0)) / tnorm
        if not math.isfinite(new):
            raise ValueError("fit: ALS produced NaN/Inf (ill-conditioned structure); raise ridge")
        history.append(new)
        if new <= rse_tol or (sweep >= anneal and math.isfinite(err) and abs(err - new) <= tol * max(err, 1e-300)):
            err = new
            converged = True
            break
        err = new
    return TensorNetwork(s, cores), err, history, sweeps, converged


def _solve(xp: Namespace, env: Array, rhs: Array, ridge: float) -> tuple[Array, float]:
    """Least squares ``min ||env @ w - rhs||^2 + ridge * mean(diag(env^T env)) ||w||^2``.

    Without ridge: Householder QR ``env = Q R`` (the normal equations square the
    condition number, and the environments of an un-gauged network are often ill
    conditioned), then ``R w = Q^T rhs``; a rank-deficient ``R`` is solved by its
    truncated pseudo-inverse (an SVD of the small ``R``, not of ``env``), a wide ``env``
    by its own. Returns ``w`` and the squared residual of the unregularised problem.
    """
    m, nb = env.shape
    if ridge > 0.0:
        gram = env.T @ env
        shift = ridge * float(xp.sum(xp.linalg.diagonal(gram))) / nb
        eye = xp.eye(nb, dtype=gram.dtype, device=backend.device_of(gram))
        w = xp.linalg.solve(gram + max(shift, 1e-300) * eye, env.T @ rhs)
    else:
        if m >= nb:
            q, r = xp.linalg.qr(env, mode="reduced")
            a, b = r, q.T @ rhs
            dg = backend.to_host(xp.abs(xp.linalg.diagonal(r)))
            w = xp.linalg.solve(r, b) if dg.min() > 1e-12 * dg.max() else None
        else:
            a, b, w = env, rhs, None
        if w is None:
            u, sv, vh = backend.thin_svd(a)
            sh = backend.to_host(sv)
            keep = int(np.count_nonzero(sh > 1e-13 * sh[0])) if sh.size and sh[0] > 0 else 0
            if keep == 0:
                w = xp.zeros((nb, rhs.shape[1]), dtype=env.dtype, device=backend.device_of(env))
            else:
                w = vh[:keep, :].T @ ((u[:, :keep].T @ b) / sv[:keep][:, None])
    res = rhs - env @ w
    return w, float(xp.sum(res * res))


def _gradient(
    target: Array, net: TensorNetwork, mask: Array, n_iter: int, rse_tol: float, patience: int, lr: float
) -> tuple[TensorNetwork, float, list[float], int, bool]:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is in the test extra
        raise ImportError("fit(method='gradient') needs PyTorch: pip install 'tnkit[torch]'") from None
    is_torch = isinstance(target, torch.Tensor)
    tt = target if is_torch else torch.as_tensor(backend.to_host(target))
    mm = None
    if mask is not None:
        mm = mask if isinstance(mask, torch.Tensor) else torch.as_tensor(backend.to_host(mask))
    params = [torch.as_tensor(backend.to_host(c)).to(tt).detach().clone().requires_grad_(True) for c in net.cores]
    s = net.structure
    expr, nodes = s._expression()
    goal = tt if mm is None else tt[mm]
    tnorm2 = float((goal * goal).sum())
    opt = torch.optim.Adam(params, lr=lr)
    history: list[float] = []
    best, best_params, bad = math.inf, [p.detach().clone() for p in params], 0
    converged, steps = False, 0
    for step in range(n_iter):
        steps = step + 1
        opt.zero_grad()
        dense = contract(expr, *(params[v] for v in nodes))
        diff = (dense - tt) if mm is None else (dense[mm] - goal)
        loss = (diff * diff).sum() / tnorm2
        loss.backward()
        opt.step()
        val = math.sqrt(float(loss.detach()))
        if not math.isfinite(val):
            raise ValueError("fit: gradient descent diverged (NaN/Inf loss); lower lr")
        if val < best:
            best, best_params = val, [p.detach().clone() for p in params]
        if step % 10 == 0 or step == n_iter - 1:
            history.append(val)
            if len(history) > 1 and history[-1] >= min(history[:-1]) * (1 - 1e-4):
                bad += 1
            else:
                bad = 0
            if best <= rse_tol or bad >= patience:
                converged = True
                break
    cores = best_params if is_torch else [backend.asarray_like(p.numpy(), target) for p in best_params]
    out = TensorNetwork(s, cores)
    return out, out.rse(target, mask), history, steps, converged
