"""Reference PDE solvers (:mod:`physics.pde`): cost of a Navier-Stokes step against the FFTs it needs.

``ns step vs its ffts`` (size = grid side n; peer: the FFTs alone)
    :class:`physics.pde.NavierStokes2D` with the FNO forcing, nu = 1e-3, dt = 1e-4, on an
    n x n GRF vorticity (alpha 2.5, tau 7), float64, one step in Fourier space (the
    solver's inner loop, ``_step_hat``; no transform to and from the grid). Peer: the
    FFT calls that step makes, on arrays of the same shapes in the same library —
    per evaluation of the non-linear term four inverse real 2D FFTs (u, v, omega_x,
    omega_y) and one forward (u omega_x + v omega_y); ``"cn-heun"`` (default) evaluates
    it twice per step, ``"cn-euler"`` (the FNO recipe) once. The ratio is the step's
    cost in units of its FFTs; target <= 1.5 (everything besides the FFTs within
    half their cost). Sizes 256 and 512 (quick: 64).

Full run: ``python validation/benchmarks/run.py -k ns --json results/bench_pde.json``.
"""

from __future__ import annotations

from typing import Any


from _cases import BACKENDS, Case, Contenders, Skip, from_host, synchronizer, unavailable


def _prepare(backend: str, n: int, method: str) -> Contenders:
    why = unavailable(backend)
    if why:
        raise Skip(why)
    try:
        from physics.pde import GaussianRandomField, NavierStokes2D, fno_forcing
        from tnkit import backend as tb
    except ImportError as exc:  # pragma: no cover
        raise Skip(f"physics.pde not importable: {exc}") from None
    ns = NavierStokes2D(n, 1e-3, forcing=fno_forcing, dt=1e-4, method=method)
    w = from_host(GaussianRandomField(n, alpha=2.5, tau=7.0).sample(1, rng=0)[0], backend)
    xp = tb.namespace(w)
    ops = ns._ops(w)
    wh = xp.fft.rfftn(w, axes=(-2, -1))
    evals = 1 if method == "cn-euler" else 2

    def step() -> Any:
        return ns._step_hat(xp, wh, ops)

    def ffts() -> Any:
        out = None
        for _ in range(evals):
            for _ in range(4):
                out = xp.fft.irfftn(wh, s=(n, n), axes=(-2, -1))
            out = xp.fft.rfftn(out, axes=(-2, -1))
        return out

    return Contenders(tnkit=step, peer=ffts, sync=synchronizer(backend),
                      details=lambda: {"method": method, "ffts_per_step": 5 * evals})


def cases(quick: bool) -> list[Case]:
    sizes = (64,) if quick else (256, 512)
    out = []
    for backend in BACKENDS:
        for method in ("cn-heun", "cn-euler"):
            name = "ns step vs its ffts" + ("" if method == "cn-heun" else ", cn-euler")
            out += [Case(name, backend, n, "the step's ffts", lambda b=backend, n=n, m=method: _prepare(b, n, m),
                         target_ratio=1.5) for n in sizes]
    return out
