"""Ground states of MPOs by the density-matrix renormalisation group.

Two-site DMRG [W92]_ optimises pairs of neighbouring tensors and lets bonds grow up to a
schedule of bond dimensions; one-site DMRG with subspace expansion [HMS15]_ keeps the
cost per step at ``chi^3 d w`` and still adapts bonds. The local eigenproblems are
solved by Lanczos (:func:`tnkit.linalg.eigsh`) on the state's own device; only
scalars come to the host.

References
----------
.. [W92] S. R. White, "Density matrix formulation for quantum renormalization
   groups", Phys. Rev. Lett. 69, 2863 (1992).
.. [HMS15] C. Hubig, I. P. McCulloch, U. Schollwöck and F. A. Wolf, "Strictly
   single-site DMRG algorithm with subspace expansion", Phys. Rev. B 91, 155115 (2015).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tnkit import backend, io
from tnkit.contract import contract
from tnkit.linalg import davidson, eigsh, truncated_svd
from tnkit.mps.automaton import is_hermitian_chain
from tnkit.mps.charges import BondCharges
from tnkit.mps.environments import (
    Environments,
    one_site_diagonal,
    one_site_matvec,
    split_two_site,
    two_site_diagonal,
    two_site_matvec,
)
from tnkit.mps.evolution import new_figure, plot_positive, save_figure
from tnkit.mps.mpo import MPO
from tnkit.mps.mps import MPS
from tnkit.mps.opsum import OpSum
from tnkit.run import Run, as_run

__all__ = ["dmrg", "DMRGResult"]


@dataclasses.dataclass
class DMRGResult:
    """What :func:`dmrg` found.

    Attributes
    ----------
    energy : float
        Final ground-state energy estimate.
    state : MPS
        The optimised state (normalised, centre on site 0).
    energies, variances : list of float
        Per sweep; variances are ``<H^2> - <H>^2`` (NaN when not computed).
    bond_dims : list of int
        Largest bond after each sweep.
    discarded : list of float
        Largest discarded weight of any truncation in each sweep.
    sweep_seconds : list of float
    converged : bool
        The energy change of the last sweep fell below ``tol`` at the final bond
        dimension of the schedule.
    """

    energy: float
    state: MPS
    energies: list[float]
    variances: list[float]
    bond_dims: list[int]
    discarded: list[float]
    sweep_seconds: list[float]
    converged: bool

    @property
    def n_sweeps(self) -> int:
        """Number of sweeps run."""
        return len(self.energies)

    @property
    def variance(self) -> float:
        """Energy variance after the last sweep (NaN when not computed)."""
        return self.variances[-1] if self.variances else float("nan")

    def plot(self, path: str | Path | None = None, *, fig: Any = None) -> Any:
        """Convergence per sweep: energy change, variance, discarded weight and bond dimension.

        The top panel shows ``|E_k - E_final|`` (the last sweep is the reference, so its
        point is left out) and the variance when it was recorded; the bottom one the
        largest discarded weight of each sweep and, on a second axis, the largest bond.

        Parameters
        ----------
        path : path, optional
            Write the figure there as a PNG (atomically, :func:`tnkit.io.atomic_write`)
            and return the path; without it, return the figure.
        fig : matplotlib.figure.Figure, optional
            An empty figure to draw on, e.g. ``plt.figure()`` so that pyplot (a script's
            ``plt.show()``, a notebook, sphinx-gallery) shows it. By default a new figure
            outside pyplot's state, which needs no display.

        Returns
        -------
        matplotlib.figure.Figure or pathlib.Path

        Examples
        --------
        >>> import tnkit
        >>> res = tnkit.dmrg(tnkit.mps.models.heisenberg(6), bond_dims=[4, 8], rng=0, max_sweeps=4)
        >>> [ax.get_ylabel() for ax in res.plot().axes]
        ['energy error', 'discarded weight', 'max bond dim']
        """
        sweeps = np.arange(1, self.n_sweeps + 1)
        fig = new_figure(figsize=(7.0, 5.0), into=fig)
        ax_e, ax_w = fig.subplots(2, 1, sharex=True)
        energies = np.asarray(self.energies, dtype=float)
        if len(energies) > 1:
            plot_positive(ax_e, sweeps[:-1], np.abs(energies[:-1] - energies[-1]), "o-", ms=3, label="|E - E_final|")
        variances = np.asarray(self.variances, dtype=float)
        if np.isfinite(variances).any():
            plot_positive(ax_e, sweeps, np.abs(variances), "s--", ms=3, label="variance")
        ax_e.set_ylabel("energy error")
        ax_e.set_title(f"E = {self.energy:.12g}" + (" (converged)" if self.converged else " (not converged)"))
        if ax_e.lines:
            ax_e.legend(fontsize=8)
        plot_positive(ax_w, sweeps, np.asarray(self.discarded, dtype=float), "o-", ms=3, color="C3")
        ax_w.set_ylabel("discarded weight")
        ax_w.set_xlabel("sweep")
        twin = ax_w.twinx()
        twin.step(sweeps, self.bond_dims, where="mid", color="C0")
        twin.set_ylabel("max bond dim")
        for ax in (ax_e, ax_w):
            ax.grid(True, alpha=0.3)
        fig.tight_layout()
        return fig if path is None else save_figure(fig, path)


def _check_bond_dims(bond_dims: Sequence[int] | int) -> list[int]:
    dims = [bond_dims] if isinstance(bond_dims, (int, np.integer)) and not isinstance(bond_dims, bool) else bond_dims
    try:
        out = list(dims)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"dmrg: bond_dims must be a positive integer or a list of them, got {bond_dims!r}") from None
    if not out or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in out):
        raise ValueError(f"dmrg: bond_dims must be positive integers, got {bond_dims!r}")
    return [int(d) for d in out]


def _local_ground(
    matvec: Any, v0: Any, tol: float, ncv: int, solver: str = "lanczos", diag: Any = None
) -> tuple[float, Any]:
    if solver == "davidson":
        w, v = davidson(matvec, v0, k=1, tol=tol, diag=diag() if diag is not None else None, max_subspace=max(ncv, 4))
    else:
        w, v = eigsh(matvec, v0, k=1, tol=tol, ncv=min(ncv, math.prod(v0.shape)), check_every=2)
    return float(w[0]), v[..., 0]


def _sector_state(
    h: MPO, sector: float, charges: Sequence[float] | None, like: Any, dtype: str
) -> tuple[MPS, BondCharges]:
    """A product state whose total charge is ``sector`` (Neel-like, then a greedy fix)
    and the charges of its bonds."""
    L = h.length
    site_q = []
    for d in h.local_dims:
        q = np.asarray(charges if charges is not None else (d - 1) / 2 - np.arange(d), dtype=float)
        if q.shape != (d,):
            raise ValueError(f"dmrg: charges must list one value per basis state ({d}), got {q.shape[0]}")
        site_q.append(q)
    config = [int(np.argmax(q)) if i % 2 == 0 else int(np.argmin(q)) for i, q in enumerate(site_q)]
    total = float(sum(site_q[i][c] for i, c in enumerate(config)))
    for i in range(L):
        if abs(total - sector) < 1e-9:
            break
        q = site_q[i]
        best, best_total = config[i], total
        for c in range(q.shape[0]):
            new_total = total - q[config[i]] + q[c]
            if abs(new_total - sector) < abs(best_total - sector) - 1e-12:
                best, best_total = c, new_total
        config[i], total = best, best_total
    if abs(total - sector) > 1e-9:
        raise ValueError(f"dmrg: no product state has total charge {sector} with local charges {site_q[0].tolist()}")
    psi = MPS.product(config, local_dim=h.local_dims, like=like, dtype=dtype)
    return psi, BondCharges.product(config, site_q)


def dmrg(
    h: MPO,
    psi0: MPS | None = None,
    *,
    bond_dims: Sequence[int] | int = (16, 32, 64, 128),
    cutoff: float = 1e-10,
    tol: float = 1e-9,
    max_sweeps: int = 30,
    two_site: bool = True,
    eig_tol: float = 1e-6,
    ncv: int = 16,
    eigensolver: str = "lanczos",
    factorization: str = "svd",
    sector: float | None = None,
    charges: Sequence[float] | None = None,
    expansion: float = 1e-4,
    compute_variance: bool = True,
    rng: np.random.Generator | int | None = None,
    run: Run | None = None,
) -> DMRGResult:
    """Ground state of a Hermitian MPO by DMRG.

    Parameters
    ----------
    h : MPO
        Hermitian operator (checked).
    psi0 : MPS, optional
        Start state; default a random state of bond dimension ``bond_dims[0]``, or a
        product state in the requested ``sector``.
    bond_dims : int or list of int
        Bond-dimension schedule: sweep ``k`` uses ``bond_dims[min(k, len - 1)]``.
    cutoff : float
        Relative singular-value cutoff of every truncation (``s_i > cutoff * s_0``).
    tol : float
        Stop when the energy changes by less than ``tol`` over a sweep at the last
        bond dimension of the schedule.
    max_sweeps : int
        A sweep is one pass left-to-right and back.
    two_site : bool
        Two-site DMRG (default) or one-site DMRG with subspace expansion.
    eig_tol, ncv : float, int
        Lanczos residual tolerance and Krylov size of the local problems. The local
        energy error is of order ``eig_tol**2 / gap``, so the default 1e-6 is far
        below the sweep tolerance while saving most Lanczos steps.
    eigensolver : {"lanczos", "davidson"}
        Local solver: thick-restart Lanczos, or Davidson preconditioned with the
        diagonal of the effective Hamiltonian.
    factorization : {"svd", "eigh"}
        How two-site tensors are split: truncated SVD (default), or the dominant
        eigenvectors of the reduced density matrix (White's original scheme; about
        twice as fast for large bonds, resolves singular values only down to ~1e-7 of
        the largest, and falls back to the SVD in a symmetry sector).
    sector : float, optional
        Target value of a conserved U(1) charge (e.g. total S^z; two-site only). The
        run starts from a product state in the sector, gives every bond index a
        definite charge, projects each local solution onto the sector and splits it
        blockwise, so roundoff cannot drift into lower-energy sectors.
    charges : list of float, optional
        Local charge of each basis state (default: ``S^z = s, s-1, ..., -s``).
    expansion : float
        Subspace-expansion mixing factor of one-site DMRG.
    compute_variance : bool
        Record ``<H^2> - <H>^2`` after each sweep (costs about one sweep of work).
    rng : numpy.random.Generator, int or None
        Random start state.
    run : tnkit.Run, optional
        ``checkpoint``: HDF5 file rewritten (atomically) every ``checkpoint_every`` sweeps
        (default every sweep) and at the end; ``resume=True``: continue from it when it
        exists (the resumed run repeats the uninterrupted one's energies); ``progress``.

    Returns
    -------
    DMRGResult

    Raises
    ------
    ValueError
        Non-Hermitian MPO, an MPO with NaN or Inf entries, mismatched physical
        dimensions, or bond dimensions that are not positive integers.
    TypeError
        ``h`` is not an MPO (an OpSum: convert it with ``MPO.from_opsum``), or ``psi0``
        is not an MPS.
    tnkit.io.DataError
        A corrupt or foreign checkpoint to resume from.

    Examples
    --------
    >>> import tnkit
    >>> res = tnkit.dmrg(tnkit.mps.models.heisenberg(10), bond_dims=[8, 16], rng=0)
    >>> round(res.energy, 8)
    -4.2580352
    """
    if isinstance(h, OpSum):
        raise TypeError("dmrg: h is an OpSum; pass its MPO, tnkit.MPO.from_opsum(h)")
    if not isinstance(h, MPO):
        raise TypeError(
            f"dmrg: h must be an MPO, got {type(h).__name__}; build one with tnkit.MPO.from_opsum(terms), "
            "tnkit.MPO(site_tensors) or tnkit.mps.models"
        )
    if psi0 is not None and not isinstance(psi0, MPS):
        raise TypeError(f"dmrg: psi0 must be an MPS or None, got {type(psi0).__name__}; see tnkit.MPS.from_dense")
    schedule = _check_bond_dims(bond_dims)
    if max_sweeps < 1:
        raise ValueError(f"dmrg: max_sweeps must be >= 1, got {max_sweeps}")
    if factorization not in ("svd", "eigh"):
        raise ValueError(f"dmrg: factorization must be 'svd' or 'eigh', got {factorization!r}")
    if eigensolver not in ("lanczos", "davidson"):
        raise ValueError(f"dmrg: eigensolver must be 'lanczos' or 'davidson', got {eigensolver!r}")
    if h.length < 2:
        raise ValueError("dmrg: need at least two sites")
    if not is_hermitian_chain(h.tensors, fname="dmrg"):
        raise ValueError("dmrg: the MPO is not Hermitian (||H - H^+||_F is not ~0); DMRG needs a Hermitian operator")

    history: dict[str, list[float]] = {
        "energies": [],
        "variances": [],
        "bond_dims": [],
        "discarded": [],
        "sweep_seconds": [],
    }
    start_sweep = 0
    bond_charges: BondCharges | None = None
    if sector is not None and not two_site:
        raise ValueError("dmrg: sector conservation needs two_site=True")
    if sector is not None and psi0 is not None:
        raise ValueError("dmrg: with sector= the start state is built in the sector; do not pass psi0")
    run = as_run(run)
    resume = run.resume_from()
    if resume is not None:
        psi, history, start_sweep, bond_charges = _load_checkpoint(resume, h)
        if (sector is None) != (bond_charges is None):
            raise ValueError("dmrg: resume with the same sector setting the checkpoint was written with")
    elif psi0 is not None:
        psi = psi0.copy()
    elif sector is not None:
        psi, bond_charges = _sector_state(h, sector, charges, h.tensors[0], _dtype_name(h))
    else:
        psi = MPS.random(h.length, h.local_dims, schedule[0], like=h.tensors[0], dtype=_dtype_name(h), rng=rng)
    if psi.length != h.length:
        what = "the checkpoint's state" if resume is not None else "psi0"
        raise ValueError(
            f"dmrg: {what} has {psi.length} sites but the MPO has {h.length}; pass a state of {h.length} sites "
            "(or psi0=None for a random start)"
        )
    if psi.local_dims != h.local_dims:
        bad = next(i for i, (a, b) in enumerate(zip(psi.local_dims, h.local_dims)) if a != b)
        raise ValueError(
            f"dmrg: physical dimension mismatch at site {bad}: MPO has {h.local_dims[bad]}, "
            f"state has {psi.local_dims[bad]}; build psi0 with local_dim={h.local_dims[bad]} there"
        )
    xp = backend.namespace(psi.tensors[0], h.tensors[0])
    dtype = xp.result_type(psi.dtype, h.dtype)
    if psi.dtype != dtype:
        psi = MPS([xp.astype(t, dtype) for t in psi.tensors], center=psi.center)
    if h.dtype != dtype:
        h = MPO([xp.astype(w, dtype) for w in h.tensors], opsum=h.opsum)

    psi.canonicalize(0)
    psi.normalize()
    env = Environments(h, psi)
    for i in range(h.length - 1, 0, -1):
        env.update_right(i)

    bar = run.bar(max_sweeps, "dmrg", unit="sweep", initial=start_sweep)
    converged = False
    for sweep in range(start_sweep, max_sweeps):
        chi = schedule[min(sweep, len(schedule) - 1)]
        t0 = time.perf_counter()
        if two_site:
            energy, worst = _sweep_two_site(env, chi, cutoff, eig_tol, ncv, bond_charges, eigensolver, factorization)
        else:
            energy, worst = _sweep_one_site(env, chi, cutoff, eig_tol, ncv, expansion, eigensolver)
        seconds = time.perf_counter() - t0
        variance = float(h.variance(psi)) if compute_variance else float("nan")
        history["energies"].append(energy)
        history["variances"].append(variance)
        history["bond_dims"].append(psi.max_bond)
        history["discarded"].append(worst)
        history["sweep_seconds"].append(seconds)
        delta = abs(history["energies"][-1] - history["energies"][-2]) if len(history["energies"]) > 1 else math.inf
        at_final = sweep >= len(schedule) - 1
        converged = at_final and delta < tol
        if run.checkpoint_due(sweep + 1, last=converged or sweep + 1 == max_sweeps):
            assert run.checkpoint is not None  # checkpoint_due says so
            _save_checkpoint(run.checkpoint, psi, history, sweep + 1, bond_charges)
        # Count first: a bar redraws on set_postfix, so the count shown with this sweep's
        # figures must already include it.
        bar.update()
        bar.set_postfix(E=f"{energy:.10f}", dE=f"{delta:.1e}", chi=psi.max_bond)
        if converged:
            break
    bar.close()
    return DMRGResult(
        energy=history["energies"][-1] if history["energies"] else float("nan"),
        state=psi,
        energies=history["energies"],
        variances=history["variances"],
        bond_dims=[int(b) for b in history["bond_dims"]],
        discarded=history["discarded"],
        sweep_seconds=history["sweep_seconds"],
        converged=converged,
    )


def _dtype_name(h: MPO) -> str:
    return backend.dtype_name(h.xp, h.dtype)


def _sweep_two_site(
    env: Environments,
    chi: int,
    cutoff: float,
    eig_tol: float,
    ncv: int,
    charges: BondCharges | None = None,
    solver: str = "lanczos",
    factorization: str = "svd",
) -> tuple[float, float]:
    psi = env.psi
    xp = psi.xp
    L = psi.length
    energy, worst = math.nan, 0.0
    order = [(i, True) for i in range(L - 1)] + [(i, False) for i in range(L - 2, -1, -1)]
    for i, move_right in order:
        theta = contract("asb,bpc->aspc", psi.tensors[i], psi.tensors[i + 1])
        if charges is not None:
            theta = charges.project(xp, theta, i)
        energy, theta = _local_ground(
            two_site_matvec(env, i), theta, eig_tol, ncv, solver, lambda: two_site_diagonal(env, i)
        )
        if charges is not None:
            theta = charges.project(xp, theta, i)
        worst = max(worst, split_two_site(psi, i, theta, chi, cutoff, move_right, charges, factorization))
        if move_right:
            env.update_left(i)
        else:
            env.update_right(i + 1)
    return energy, worst


def _sweep_one_site(
    env: Environments, chi: int, cutoff: float, eig_tol: float, ncv: int, alpha: float, solver: str = "lanczos"
) -> tuple[float, float]:
    """One-site DMRG with subspace expansion (Hubig et al. 2015)."""
    psi = env.psi
    xp = psi.xp
    L = psi.length
    energy, worst = math.nan, 0.0
    for direction in ("right", "left"):
        sites = range(L - 1) if direction == "right" else range(L - 1, 0, -1)
        for i in sites:
            energy, a = _local_ground(
                one_site_matvec(env, i), psi.tensors[i], eig_tol, ncv, solver, lambda: one_site_diagonal(env, i)
            )
            if direction == "right":
                # Expansion term P = alpha * (left env . W . A), fused over (w, chi_right).
                p = contract("awb,asc,wtsx->btxc", env.left[i], a, env.h.tensors[i])
                bl, d, wx, cr = p.shape
                p = xp.reshape(p, (bl, d, wx * cr)) * alpha
                expanded = xp.concat([a, p], axis=2)
                nxt = psi.tensors[i + 1]
                zeros = xp.zeros((wx * cr, *nxt.shape[1:]), dtype=nxt.dtype, device=psi.device)
                nxt = xp.concat([nxt, zeros], axis=0)
                left, d, right = expanded.shape
                u, sv, vh, dw = truncated_svd(xp.reshape(expanded, (left * d, right)), max_rank=chi, cutoff=cutoff)
                norm2 = float(xp.sum(sv * sv)) + float(dw)
                worst = max(worst, float(dw) / norm2 if norm2 > 0 else 0.0)
                k = sv.shape[0]
                psi.tensors[i] = xp.reshape(u, (left, d, k))
                carry = xp.astype(sv, u.dtype)[:, None] * vh
                psi.tensors[i + 1] = contract("kb,bpc->kpc", carry, nxt)
                psi.center = i + 1
                env.update_left(i)
            else:
                p = contract("asc,wtsx,cxd->atwd", a, env.h.tensors[i], env.right[i])
                al, d, wx, dr = p.shape
                p = xp.reshape(xp.permute_dims(p, (0, 2, 1, 3)), (al * wx, d, dr)) * alpha
                expanded = xp.concat([a, p], axis=0)
                prv = psi.tensors[i - 1]
                zeros = xp.zeros((*prv.shape[:2], al * wx), dtype=prv.dtype, device=psi.device)
                prv = xp.concat([prv, zeros], axis=2)
                left, d, right = expanded.shape
                u, sv, vh, dw = truncated_svd(xp.reshape(expanded, (left, d * right)), max_rank=chi, cutoff=cutoff)
                norm2 = float(xp.sum(sv * sv)) + float(dw)
                worst = max(worst, float(dw) / norm2 if norm2 > 0 else 0.0)
                k = sv.shape[0]
                psi.tensors[i] = xp.reshape(vh, (k, d, right))
                carry = u * xp.astype(sv, u.dtype)[None, :]
                psi.tensors[i - 1] = contract("apb,bk->apk", prv, carry)
                psi.center = i - 1
                env.update_right(i)
        if direction == "right":
            # Re-normalise the centre (expansion and truncation change the norm).
            c = psi.tensors[L - 1]
            psi.tensors[L - 1] = c / xp.astype(xp.linalg.vector_norm(c), c.dtype)
        else:
            c = psi.tensors[0]
            psi.tensors[0] = c / xp.astype(xp.linalg.vector_norm(c), c.dtype)
    return energy, worst


# ---------------------------------------------------------------------- checkpoints


def _save_checkpoint(
    path: str | Path, psi: MPS, history: dict[str, list[float]], sweeps_done: int, charges: BondCharges | None
) -> None:
    payload: dict[str, Any] = {
        "tensors": {f"{i:05d}": backend.to_host(t) for i, t in enumerate(psi.tensors)},
        "history": {k: np.asarray(v, dtype=float) for k, v in history.items()},
        "sweeps_done": sweeps_done,
        "center": -1 if psi.center is None else psi.center,
    }
    if charges is not None:
        payload["site_charges"] = {f"{i:05d}": q / 1e6 for i, q in enumerate(charges.site)}
        payload["bond_charges"] = {f"{i:05d}": q / 1e6 for i, q in enumerate(charges.bond)}
    io.save(path, payload, schema="dmrg_checkpoint", generator={"function": "tnkit.dmrg", "sweeps_done": sweeps_done})


def _load_checkpoint(path: str | Path, h: MPO) -> tuple[MPS, dict[str, list[float]], int, BondCharges | None]:
    data = io.load(path, schema="dmrg_checkpoint")
    try:
        tensors_host = [data["tensors"][k] for k in sorted(data["tensors"])]
        history = {k: [float(x) for x in np.asarray(v)] for k, v in data["history"].items()}
        sweeps_done = int(data["sweeps_done"])
        center = int(data["center"])
        charges = None
        if "bond_charges" in data:
            charges = BondCharges(
                [data["site_charges"][k] for k in sorted(data["site_charges"])],
                [data["bond_charges"][k] for k in sorted(data["bond_charges"])],
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise io.DataError(f"{path}: not a complete DMRG checkpoint ({type(exc).__name__}: {exc})") from None
    xp = h.xp
    like = h.tensors[0]
    dt = like.dtype if not any(np.iscomplexobj(t) for t in tensors_host) else backend.complex_dtype(xp, like.dtype)
    tensors = [xp.asarray(t, dtype=dt, device=backend.device_of(like)) for t in tensors_host]
    try:
        psi = MPS(tensors, center=None if center < 0 else center)
    except ValueError as exc:
        raise io.DataError(f"{path}: checkpoint holds an invalid MPS ({exc})") from None
    return psi, history, sweeps_done, charges
