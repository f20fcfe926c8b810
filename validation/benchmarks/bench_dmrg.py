"""DMRG: tnkit.dmrg against quimb's DMRG2, and tnkit's seconds per sweep by bond dimension.

``dmrg ground state`` (NumPy; size = L)
    The S=1/2 Heisenberg open chain of L = 100 sites (quick: 20), two-site DMRG from a
    random state with bond-dimension schedule 16, 32, 64, 128 (quick: 16, 32),
    cutoff 1e-10, stopping when the energy changes by less than 1e-8 over a sweep.
    Peer: ``quimb.tensor.DMRG2(MPO_ham_heis(L), bond_dims, cutoffs=1e-10)``. The
    stopping rules are made the same:

    * a sweep is one pass left to right and one back. tnkit counts such sweeps;
      quimb counts each direction, so quimb runs ``sweep_sequence="RL"`` and gets
      every bond dimension twice (``[16, 16, 32, 32, ...]``): one full sweep each.
    * tnkit stops once a sweep at the last bond dimension changes the energy by less
      than ``tol``; quimb's own test compares consecutive half sweeps, so the peer
      overrides ``DMRG2._check_convergence`` to compare energies a full sweep apart,
      after an even number of half sweeps, from the last bond dimension on.
    * energies are the last local eigenvalue of the final sweep on both sides.

    Left as each library's default: tnkit's cutoff keeps ``s_i > 1e-10 s_0``;
    quimb's ("sum2") discards the smallest values while their squares sum to at most
    1e-10, so quimb keeps fewer states (its final bond is below 128) and does less
    work per sweep. Local eigensolver: tnkit's Lanczos to residual 1e-6, quimb's
    default (dense for small problems, else ARPACK) to relative tolerance 1e-3. tnkit skips its optional per-sweep
    variance (``compute_variance=False``), which quimb does not compute either.
    ``prepare`` runs each side once (warm-up and the energy comparison); then
    three timed pairs (quick: two). Goal: ratio <= 0.33 and tnkit's energy no
    higher than quimb's + 1e-9; energies, sweeps and final bonds of every run go
    into the JSON ``details``.

``dmrg sweep`` (tnkit alone; size = chi)
    Seconds for one two-site sweep of the L = 100 Heisenberg chain at fixed bond
    dimension chi = 64, 128, 256 (and 512 in full runs, one sweep only) on NumPy,
    from a "converged-ish" state: the converged chi = 128 ground state (for chi <
    128, the ground state at chi) padded to chi with 1e-6 noise, cutoff 0 so every
    bond stays at chi. The timed call is ``tnkit.dmrg(..., max_sweeps=1)``, which
    also canonicalises the start state and builds the right environments (6-8 % of
    the call on a 2-core CPU); the solver's own timing of the sweep alone is in
    ``details["sweep_seconds"]``. On a GPU the same sweep at chi = 512 and 1024
    runs on CuPy and torch-CUDA with the NumPy sweep as the peer in the same
    process, so the ratio is the GPU/NumPy time (``details["speedup_over_numpy"]``
    its inverse); without a GPU these are skipped with the reason.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np
from _cases import Case, Contenders, Skip, from_host, synchronizer, unavailable

SEED = 2024
TOL = 1e-8
CUTOFF = 1e-10
TARGET_RATIO = 0.33
ENERGY_SLACK = 1e-9  # tnkit's energy may exceed quimb's by at most this

GROUND = {False: (100, [16, 32, 64, 128]), True: (20, [16, 32])}
MAX_SWEEPS = 20
SWEEP_LENGTH = {False: 100, True: 20}
SWEEP_CHIS = {False: (64, 128, 256, 512), True: (16, 32)}
GPU_CHIS = {False: (512, 1024), True: (32,)}
LONG_SWEEP = 256  # from here on a sweep takes minutes on a laptop: time one, once
NOISE = 1e-6


def _require(backend: str) -> None:
    reason = unavailable(backend)
    if reason is not None:
        raise Skip(reason)


def _tnkit() -> Any:
    try:
        import tnkit
    except ImportError as exc:
        raise Skip(f"tnkit not importable: {exc}") from None
    if not hasattr(tnkit, "dmrg"):
        raise Skip("tnkit.dmrg not available in this tnkit")
    return tnkit


# --------------------------------------------------------------------------------------
# tnkit.dmrg against quimb DMRG2


def _quimb_dmrg2() -> Any:
    """quimb's DMRG2 with the convergence test on full sweeps (see the module docstring)."""
    try:
        import quimb
        import quimb.tensor as qtn
    except ImportError:
        raise Skip("quimb not installed (pip install quimb)") from None

    class FullSweepDMRG2(qtn.DMRG2):
        def __init__(self, ham: Any, bond_dims: list[int], cutoffs: float, last_at: int) -> None:
            super().__init__(ham, bond_dims=bond_dims, cutoffs=cutoffs)
            self._last_at = last_at  # number of half sweeps after which the schedule is at its end

        def _check_convergence(self, tol: float) -> bool:
            e = self.energies
            if len(e) < max(self._last_at, 4) or len(e) % 2:
                return False
            return abs(e[-1] - e[-3]) < tol

    return quimb, qtn, FullSweepDMRG2


def _prepare_ground(backend: str, length: int, schedule: list[int], split: str = "svd") -> Contenders:
    """``split="svd"``: both sides split bonds by SVD (their defaults). ``split="eig"``:
    both split from the reduced density matrix (tnkit ``factorization="eigh"``, quimb
    ``bond_compress_method="eig"``)."""
    _require(backend)
    tnkit = _tnkit()
    quimb, qtn, FullSweepDMRG2 = _quimb_dmrg2()
    h = tnkit.mps.models.heisenberg(length)
    h_quimb = qtn.MPO_ham_heis(length)
    halves = [chi for chi in schedule for _ in range(2)]
    runs: dict[str, list[dict[str, Any]]] = {"tnkit": [], "quimb": []}

    def ours() -> Any:
        t0 = time.perf_counter()
        res = tnkit.dmrg(
            h,
            bond_dims=schedule,
            cutoff=CUTOFF,
            tol=TOL,
            max_sweeps=MAX_SWEEPS,
            compute_variance=False,
            rng=SEED,
            factorization="eigh" if split == "eig" else "svd",
        )
        runs["tnkit"].append(
            {
                "energy": res.energy,
                "sweeps": res.n_sweeps,
                "max_bond": res.bond_dims[-1],
                "converged": res.converged,
                "seconds": time.perf_counter() - t0,
            }
        )
        return res

    def theirs() -> Any:
        t0 = time.perf_counter()
        quimb.seed_rand(SEED)
        solver = FullSweepDMRG2(h_quimb, bond_dims=halves, cutoffs=CUTOFF, last_at=len(halves))
        solver.opts["bond_compress_method"] = split
        converged = solver.solve(tol=TOL, sweep_sequence="RL", max_sweeps=2 * MAX_SWEEPS, verbosity=0)
        half = len(solver.energies)
        runs["quimb"].append(
            {
                "energy": float(solver.energy),
                "sweeps": half / 2,
                "half_sweeps": half,
                "max_bond": int(solver.state.max_bond()),
                "converged": bool(converged),
                "seconds": time.perf_counter() - t0,
            }
        )
        return solver

    ours()
    theirs()
    e_ours, e_theirs = runs["tnkit"][0]["energy"], runs["quimb"][0]["energy"]

    def details() -> dict[str, Any]:
        best_ours = max(r["energy"] for r in runs["tnkit"])  # the worst tnkit run must meet the goal
        best_theirs = min(r["energy"] for r in runs["quimb"])
        return {
            "model": f"S=1/2 Heisenberg open chain, L={length}",
            "bond_split": split,
            "schedule": schedule,
            "cutoff": CUTOFF,
            "tol_per_full_sweep": TOL,
            "tnkit_energy": e_ours,
            "quimb_energy": e_theirs,
            "tnkit_minus_quimb": e_ours - e_theirs,
            "energy_goal": f"tnkit <= quimb + {ENERGY_SLACK:g} in every run",
            "energy_goal_met": bool(best_ours <= best_theirs + ENERGY_SLACK),
            "tnkit_sweeps": runs["tnkit"][0]["sweeps"],
            "quimb_sweeps": runs["quimb"][0]["sweeps"],
            "tnkit_runs": runs["tnkit"],
            "quimb_runs": runs["quimb"],
            "note": "first run of each side is the untimed warm-up done in prepare()",
        }

    return Contenders(
        tnkit=ours,
        peer=theirs,
        sync=None,
        max_rel_diff=abs(e_ours - e_theirs) / abs(e_theirs),
        details=details,
    )


# --------------------------------------------------------------------------------------
# Seconds per sweep


@functools.lru_cache(maxsize=4)
def _ground_state_host(length: int, chi: int) -> tuple[np.ndarray, ...]:
    """Converged ground-state tensors at bond ``chi`` (host arrays, cached across cases)."""
    import tnkit

    schedule = [c for c in (16, 32, 64, 128) if c < chi] + [chi]
    res = tnkit.dmrg(
        tnkit.mps.models.heisenberg(length),
        bond_dims=schedule,
        cutoff=CUTOFF,
        tol=1e-8,
        max_sweeps=MAX_SWEEPS,
        compute_variance=False,
        rng=SEED,
    )
    return tuple(np.asarray(tnkit.backend.to_host(t)) for t in res.state.tensors)


def _padded_state(length: int, chi: int) -> list[np.ndarray]:
    """The converged state at min(chi, 128), every bond grown to its largest size <= chi by noise."""
    base = _ground_state_host(length, min(chi, 128))
    rng = np.random.default_rng(chi)
    bonds = [min(chi, 2 ** min(b, length - b)) for b in range(length + 1)]
    out = []
    for i, t in enumerate(base):
        a, d, b = t.shape
        grown = NOISE * rng.standard_normal((bonds[i], d, bonds[i + 1]))
        grown[:a, :, :b] += t
        out.append(grown)
    return out


def _sweep_call(tnkit: Any, h: Any, tensors: list[Any], chi: int, record: list[dict[str, Any]]) -> Any:
    psi0 = tnkit.MPS(tensors)

    def one_sweep() -> Any:
        res = tnkit.dmrg(h, psi0, bond_dims=[chi], cutoff=0.0, tol=0.0, max_sweeps=1, compute_variance=False)
        record.append({"sweep_seconds": res.sweep_seconds[0], "energy": res.energy, "max_bond": res.bond_dims[0]})
        return res

    return one_sweep


def _prepare_sweep(backend: str, length: int, chi: int) -> Contenders:
    _require(backend)
    tnkit = _tnkit()
    host = _padded_state(length, chi)
    like = None if backend == "numpy" else from_host(np.zeros(1), backend)
    ours_log: list[dict[str, Any]] = []
    numpy_log: list[dict[str, Any]] = []
    h = tnkit.mps.models.heisenberg(length, like=like)
    tensors = host if like is None else [from_host(t, backend) for t in host]
    ours = _sweep_call(tnkit, h, tensors, chi, ours_log)
    peer = None
    if backend != "numpy":
        peer = _sweep_call(tnkit, tnkit.mps.models.heisenberg(length), host, chi, numpy_log)
        # Compile kernels and plan contractions on a short chain first.
        short = 10
        tnkit.dmrg(
            tnkit.mps.models.heisenberg(short, like=like),
            bond_dims=[min(chi, 32)],
            max_sweeps=1,
            compute_variance=False,
            rng=SEED,
        )
    elif chi < LONG_SWEEP:
        ours()  # warm-up: contraction plans for these shapes
        ours_log.clear()

    def energy_diff() -> float | None:
        if not numpy_log:
            return None
        return abs(ours_log[-1]["energy"] - numpy_log[-1]["energy"]) / abs(numpy_log[-1]["energy"])

    def details() -> dict[str, Any]:
        info: dict[str, Any] = {
            "L": length,
            "chi": chi,
            "start": f"ground state at chi={min(chi, 128)} padded to chi with {NOISE:g} noise; cutoff 0",
            "sweep_seconds": [r["sweep_seconds"] for r in ours_log],
            "max_bond": ours_log[-1]["max_bond"],
            "energy_after_sweep": ours_log[-1]["energy"],
        }
        if numpy_log:
            info["numpy_sweep_seconds"] = [r["sweep_seconds"] for r in numpy_log]
            info["speedup_over_numpy"] = float(
                np.median(info["numpy_sweep_seconds"]) / np.median(info["sweep_seconds"])
            )
        return info

    return Contenders(tnkit=ours, peer=peer, sync=synchronizer(backend), max_rel_diff=energy_diff, details=details)


# --------------------------------------------------------------------------------------


def cases(quick: bool) -> list[Case]:
    length, schedule = GROUND[quick]
    out = [
        Case(
            name="dmrg ground state",
            backend="numpy",
            size=length,
            peer="quimb.tensor.DMRG2",
            prepare=lambda: _prepare_ground("numpy", length, schedule),
            target_ratio=TARGET_RATIO,
            effort=(0, 0.0, 2 if quick else 3, 3),
        ),
        Case(
            name="dmrg ground state, density-matrix split",
            backend="numpy",
            size=length,
            peer="quimb.tensor.DMRG2 (eig split)",
            prepare=lambda: _prepare_ground("numpy", length, schedule, split="eig"),
            target_ratio=TARGET_RATIO,
            effort=(0, 0.0, 2 if quick else 3, 3),
        ),
    ]
    sweep_len = SWEEP_LENGTH[quick]
    for chi in SWEEP_CHIS[quick]:
        long = chi >= LONG_SWEEP
        out.append(
            Case(
                name="dmrg sweep",
                backend="numpy",
                size=chi,
                peer=None,
                prepare=lambda c=chi: _prepare_sweep("numpy", sweep_len, c),
                effort=(0, 0.0, 1, 1) if long else (0, 0.0, 3, 3),
            )
        )
    for backend in ("cupy", "torch-cuda"):
        for chi in GPU_CHIS[quick]:
            out.append(
                Case(
                    name="dmrg sweep",
                    backend=backend,
                    size=chi,
                    peer="tnkit.dmrg on NumPy",
                    prepare=lambda b=backend, c=chi: _prepare_sweep(b, sweep_len, c),
                    effort=(0, 0.0, 1, 1),
                )
            )
    return out
