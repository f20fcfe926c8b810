"""Time-dependent variational principle for MPS: projector-splitting integrators.

The Schrödinger equation projected onto the tangent space of the MPS manifold,
``d/dt psi = -i P(psi) H psi``, is integrated by splitting ``P`` into its one-site
(or two-site) terms and its bond terms [LOV]_ [Hae]_. In a left-to-right sweep each
site tensor is evolved forward by ``exp(-i tau H_eff)``, orthonormalised, and the
bond matrix left behind is evolved backward by ``exp(+i tau K_eff)`` before it moves
on; a right-to-left sweep follows with the roles mirrored. Both sweeps use
``tau = dt/2``, which makes the step symmetric and second order. The two evolutions
of the last site (or pair) meet in the middle and are done as one of length ``dt``.

One-site TDVP keeps every bond dimension fixed and conserves the norm and the
energy ``<H>`` exactly (up to the Krylov tolerance) for any MPO, long-range included.
At the largest bond dimensions (``min(d^i, d^(L-i))``) the manifold is the whole
Hilbert space and the integrator is exact. Two-site TDVP evolves pairs, so bonds
grow (truncated by ``max_bond`` and ``cutoff``); its only projection error is the
truncation, and for a nearest-neighbour ``H`` none at all.

The local exponentials are Krylov projections (:func:`tnkit.linalg.expm_multiply`)
built from the same effective-Hamiltonian contractions as DMRG, on the state's device.

References
----------
.. [LOV] C. Lubich, I. V. Oseledets and B. Vandereycken, "Time integration of tensor
   trains", SIAM J. Numer. Anal. 53, 917 (2015).
.. [Hae] J. Haegeman, C. Lubich, I. Oseledets, B. Vandereycken and F. Verstraete,
   "Unifying time evolution and optimization with matrix product states",
   Phys. Rev. B 94, 165116 (2016).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tnkit.contract import contract
from tnkit.linalg import expm_multiply, lq, qr
from tnkit.mps.automaton import is_hermitian_chain
from tnkit.mps.environments import (
    Environments,
    one_site_matvec,
    split_two_site,
    two_site_matvec,
)
from tnkit.mps.evolution import (
    EvolutionResult,
    ObservableSpec,
    Recorder,
    check_dims,
    energy_mpo,
    evolution_dtype,
    promote,
)
from tnkit.mps.mpo import MPO
from tnkit.mps.mps import MPS, _capped_bonds
from tnkit.mps.opsum import OpSum
from tnkit.mps.tebd import _check_truncation
from tnkit.run import Run, as_run, time_steps

__all__ = ["tdvp"]


class _Krylov:
    """``exp(s A) v`` for a Hermitian effective operator ``A``, with fixed settings."""

    def __init__(self, krylov_dim: int, tol: float | None) -> None:
        self.krylov_dim = krylov_dim
        self.tol = tol

    def __call__(self, matvec: Callable[[Any], Any], v: Any, s: complex) -> Any:
        return expm_multiply(matvec, v, s, hermitian=True, krylov_dim=self.krylov_dim, tol=self.tol)


def _bond_matvec(env: Environments, i: int) -> Callable[[Any], Any]:
    """Effective Hamiltonian of the bond matrix between sites ``i`` and ``i + 1``."""
    left, right = env.left[i + 1], env.right[i]

    def matvec(c: Any) -> Any:
        return contract("awb,ac,cwd->bd", left, c, right)

    return matvec


# ---------------------------------------------------------------------- one-site


def _one_site_step(env: Environments, dt: float, expm: _Krylov) -> None:
    """One symmetric step; the centre starts and ends on site 0."""
    psi = env.psi
    xp = psi.xp
    L = psi.length
    half = dt / 2
    for i in range(L - 1):
        a = expm(one_site_matvec(env, i), psi.tensors[i], -1j * half)
        left, d, _ = a.shape
        q, r = qr(xp.reshape(a, (left * d, a.shape[2])))
        psi.tensors[i] = xp.reshape(q, (left, d, q.shape[1]))
        env.update_left(i)
        r = expm(_bond_matvec(env, i), r, 1j * half)
        psi.tensors[i + 1] = contract("kb,bpc->kpc", r, psi.tensors[i + 1])
        psi.center = i + 1
    # Forward on the last site: both half steps at once.
    psi.tensors[L - 1] = expm(one_site_matvec(env, L - 1), psi.tensors[L - 1], -1j * dt)
    for i in range(L - 1, 0, -1):
        if i < L - 1:
            psi.tensors[i] = expm(one_site_matvec(env, i), psi.tensors[i], -1j * half)
        a = psi.tensors[i]
        _, d, right = a.shape
        lmat, q = lq(xp.reshape(a, (a.shape[0], d * right)))
        psi.tensors[i] = xp.reshape(q, (q.shape[0], d, right))
        env.update_right(i)
        lmat = expm(_bond_matvec(env, i - 1), lmat, 1j * half)
        psi.tensors[i - 1] = contract("apb,bk->apk", psi.tensors[i - 1], lmat)
        psi.center = i - 1
    if L > 1:
        psi.tensors[0] = expm(one_site_matvec(env, 0), psi.tensors[0], -1j * half)
    psi.center = 0


# ---------------------------------------------------------------------- two-site


def _two_site_step(env: Environments, dt: float, expm: _Krylov, max_bond: int | None, cutoff: float) -> float:
    """One symmetric step; returns the discarded weight. Centre on site 0 before and after."""
    psi = env.psi
    L = psi.length
    half = dt / 2
    discarded = 0.0

    def forward_pair(i: int, tau: float, move_right: bool) -> None:
        nonlocal discarded
        theta = contract("asb,bpc->aspc", psi.tensors[i], psi.tensors[i + 1])
        theta = expm(two_site_matvec(env, i), theta, -1j * tau)
        discarded += split_two_site(psi, i, theta, max_bond, cutoff, move_right)

    for i in range(L - 2):
        forward_pair(i, half, move_right=True)
        env.update_left(i)
        psi.tensors[i + 1] = expm(one_site_matvec(env, i + 1), psi.tensors[i + 1], 1j * half)
    # The last pair: both half steps at once, then split towards the left.
    forward_pair(L - 2, dt, move_right=False)
    env.update_right(L - 1)
    for i in range(L - 3, -1, -1):
        psi.tensors[i + 1] = expm(one_site_matvec(env, i + 1), psi.tensors[i + 1], 1j * half)
        forward_pair(i, half, move_right=False)
        env.update_right(i + 1)
    return discarded


# ---------------------------------------------------------------------- bond enlargement


def _enlarge_bonds(psi: MPS, max_bond: int) -> MPS:
    """``psi`` (right canonical, centre 0) with bonds ``min(max_bond, d^i, d^(L-i))``.

    The new right-basis states complete each right-orthonormal tensor to a larger
    orthonormal set and enter the state with zero weight, so the state is unchanged
    while one-site TDVP gets the room to move into them.
    """
    xp = psi.xp
    target = _capped_bonds(psi.local_dims, max_bond)
    tensors = list(psi.tensors)
    for i in range(psi.length - 1, 0, -1):
        b = tensors[i]
        old, d, right = b.shape
        new = max(old, target[i])
        if new > old:
            rows = xp.reshape(b, (old, d * right))
            basis, _ = xp.linalg.qr(xp.conj(xp.matrix_transpose(rows)), mode="complete")
            extra = xp.conj(xp.matrix_transpose(basis[:, old:new]))
            tensors[i] = xp.reshape(xp.concat([rows, extra], axis=0), (new, d, right))
            prv = tensors[i - 1]
            pad = xp.zeros((*prv.shape[:2], new - old), dtype=prv.dtype, device=psi.device)
            tensors[i - 1] = xp.concat([prv, pad], axis=2)
    return MPS(tensors, center=0)


# ---------------------------------------------------------------------- driver


def tdvp(
    psi: MPS,
    h: MPO | OpSum,
    t_final: float,
    dt: float,
    *,
    two_site: bool = False,
    max_bond: int | None = None,
    cutoff: float = 1e-12,
    observables: Mapping[str, ObservableSpec] | None = None,
    krylov_dim: int = 30,
    krylov_tol: float | None = None,
    run: Run | None = None,
) -> EvolutionResult:
    """Evolve an MPS in real time, ``exp(-i t H) |psi>``, by TDVP.

    Parameters
    ----------
    psi : MPS
        Initial state (not modified); normalised first, promoted to complex.
    h : MPO or OpSum
        Hermitian Hamiltonian of any range (an OpSum is turned into an MPO).
    t_final : float
        Final time, ``>= 0``.
    dt : float
        Time step, ``> 0``; a last step that would overshoot ``t_final`` is shortened.
    two_site : bool
        Two-site TDVP (bonds grow up to ``max_bond``) instead of one-site TDVP
        (bonds fixed).
    max_bond : int, optional
        Two-site: the largest bond dimension kept. One-site: bonds smaller than
        ``min(max_bond, d^i, d^(L-i))`` are first enlarged to it by zero-weight
        directions (the state is unchanged), and then stay fixed; larger bonds are
        kept as they are (compress the state first to lower them). One-site TDVP
        cannot leave the bond dimension it starts with, so from a product state
        (all bonds 1) without ``max_bond`` it is refused rather than silently staying
        a product state (as in TeNPy and ITensor, grow the bonds first): give
        ``max_bond`` or use ``two_site=True``. ``max_bond=1`` asks on purpose for the
        product-state (mean-field) evolution.
    cutoff : float
        Two-site: relative singular-value cutoff (keep ``s_i > cutoff * s_0``).
    observables : dict, optional
        As in :func:`tnkit.tebd`: ``name -> callable(psi)``, ``name -> operator``
        (measured on every site) or ``name -> (operator, sites)``.
    krylov_dim : int
        Largest Krylov space of each local exponential.
    krylov_tol : float, optional
        Error tolerance of each local exponential (default: 100 × the dtype's eps).
    run : tnkit.Run, optional
        Progress (default: a bar on a terminal, a line every 30 s on a log).

    Returns
    -------
    EvolutionResult
        Times, observables, energies, norms, bond dimensions, discarded weights
        (two-site) and the final state (centre on site 0).

    Raises
    ------
    ValueError
        ``dt <= 0``, ``t_final < 0``, mismatched physical dimensions (the message names
        the site), a bad ``max_bond``/``cutoff``/``krylov_dim``, a non-Hermitian ``h``,
        two-site TDVP on a single site, or one-site TDVP from a product state without
        ``max_bond``.
    TypeError
        ``h`` is neither an MPO nor an OpSum, ``psi`` is not an MPS, or
        ``observables`` is not a dict.

    See Also
    --------
    tnkit.tebd : Trotter gates for nearest-neighbour Hamiltonians (and imaginary time).

    Examples
    --------
    One-site TDVP at the largest bond dimension is exact, whatever the step:

    >>> import numpy as np, scipy.linalg, tnkit
    >>> h = tnkit.mps.models.heisenberg(6)
    >>> psi0 = tnkit.MPS.product([0, 1] * 3, local_dim=2)
    >>> res = tnkit.tdvp(psi0, h, 1.0, 0.25, max_bond=8)
    >>> res.max_bonds[-1], len(res.times)
    (8, 5)
    >>> exact = scipy.linalg.expm(-1j * h.opsum.to_dense()) @ psi0.to_dense()
    >>> bool(np.abs(res.state.to_dense() - exact).max() < 1e-10)
    True

    At a truncated bond dimension it is approximate but keeps energy and norm:

    >>> res = tnkit.tdvp(psi0, h, 1.0, 0.1, max_bond=2)
    >>> bool(res.energy_drift < 1e-10), bool(abs(res.norms[-1] - 1) < 1e-10)
    (True, True)

    Two-site TDVP grows the bonds from the product state:

    >>> res = tnkit.tdvp(psi0, h, 0.5, 0.1, two_site=True, max_bond=8)
    >>> res.max_bonds[0], res.max_bonds[-1]
    (1, 8)
    """
    fname = "tdvp"
    if isinstance(h, OpSum):
        dims, h_complex = list(h.local_dims), h.is_complex
    elif isinstance(h, MPO):
        dims, h_complex = h.local_dims, bool(h.xp.isdtype(h.dtype, "complex floating"))
    else:
        raise TypeError(f"{fname}: h must be an MPO or an OpSum, got {type(h).__name__}")
    check_dims(psi, dims, "Hamiltonian", fname)
    steps = time_steps(t_final, dt, fname)
    _check_truncation(max_bond, cutoff, fname)
    if isinstance(krylov_dim, bool) or not isinstance(krylov_dim, (int, np.integer)) or krylov_dim < 1:
        raise ValueError(f"{fname}: krylov_dim must be a positive integer, got {krylov_dim!r}")
    if krylov_tol is not None and not (math.isfinite(krylov_tol) and krylov_tol > 0):
        raise ValueError(f"{fname}: krylov_tol must be a positive number, got {krylov_tol!r}")
    if two_site and psi.length < 2:
        raise ValueError(f"{fname}: two-site TDVP needs at least 2 sites; use two_site=False")

    xp = psi.xp
    dtype = evolution_dtype(xp, psi, h_complex, real_time=True)
    psi = promote(psi, dtype)
    psi.canonicalize(0)
    psi.normalize()
    mpo = energy_mpo(h, psi, dtype)
    if not is_hermitian_chain(mpo.tensors, fname=fname):
        raise ValueError(f"{fname}: the Hamiltonian is not Hermitian (||H - H^+||_F is not ~0)")
    if not two_site and max_bond is None and psi.max_bond == 1 and max(_capped_bonds(psi.local_dims, 2)) > 1:
        raise ValueError(
            f"{fname}: one-site TDVP keeps the bond dimension of psi, which is 1 (a product state), so the "
            "state could never entangle; pass max_bond=chi (bonds enlarged first) or two_site=True "
            "(max_bond=1 keeps the product-state evolution)"
        )
    if not two_site and max_bond is not None:
        psi = _enlarge_bonds(psi, max_bond)

    env = Environments(mpo, psi)
    for i in range(psi.length - 1, 0, -1):
        env.update_right(i)
    expm = _Krylov(int(krylov_dim), krylov_tol)

    recorder = Recorder(psi, mpo, observables, fname)
    recorder.record(psi, 0.0, 0.0, 0.0)
    bar = as_run(run).bar(len(steps), "tdvp" + (" (two-site)" if two_site else ""), unit="step")
    for tau, t in steps:
        start = time.perf_counter()
        if two_site:
            discarded = _two_site_step(env, tau, expm, max_bond, cutoff)
        else:
            _one_site_step(env, tau, expm)
            discarded = 0.0
        seconds = time.perf_counter() - start
        recorder.record(psi, t, discarded, seconds)
        bar.update(1)
        bar.set_postfix(chi=psi.max_bond, E=f"{recorder.energy():.8f}")
    bar.close()
    return recorder.result
