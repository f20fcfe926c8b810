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

``dataset throughput darcy`` (size = solve grid 421; no peer)
    ``physics.data.generate("darcy", ...)`` with FNO's parameters (421² solves subsampled
    to 85², sparse LU, float32 storage) for 8 samples in one block into a temporary file.
    ``details["samples_per_s"]``.

``dataset throughput navier-stokes`` (size = solve grid 256; no peer)
    FNO's nu = 1e-3 recipe (256², dt = 1e-4, T = 50: 500,000 steps per sample) cannot be
    timed whole on a CPU; timed are 20 steps of a batch of 8 samples (``cn-heun``), and
    ``details["samples_per_s"]`` extrapolates ``8 / (time * 500000 / 20)``.

``dataset generation, 2 workers`` (size = workers; peer: the same generation, serial)
    ``physics.data.generate("darcy", ...)`` of 16 samples in 4 blocks of 4 (FNO's 421² solves
    subsampled to 85²) with ``executor=`` a ``ProcessPoolExecutor(2)`` or a local dask cluster
    of 2 single-threaded worker processes (both started in ``prepare``, so start-up is not
    timed) against ``executor=None``. ``max_rel_diff`` compares the arrays of the last files
    of both sides (0: identical); ratio < 1 is a speed-up (``details["speedup"]``).

Full run: ``python validation/benchmarks/run.py -k "ns step|throughput|generation" --json results/bench_pde.json``.
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

    return Contenders(
        tnkit=step,
        peer=ffts,
        sync=synchronizer(backend),
        details=lambda: {"method": method, "ffts_per_step": 5 * evals},
    )


def _prepare_darcy_throughput() -> Contenders:
    import tempfile
    from pathlib import Path

    from physics.data import generate

    folder = Path(tempfile.mkdtemp())
    runs: list[float] = []

    def call() -> Any:
        import time

        out = folder / f"darcy_{len(runs)}.h5"
        t0 = time.perf_counter()
        generate("darcy", out, samples=8, chunk=8, progress=False)
        runs.append(time.perf_counter() - t0)
        out.unlink()

    return Contenders(tnkit=call, peer=None, details=lambda: {"samples": 8, "samples_per_s": 8 / min(runs)})


def _prepare_parallel_generation(kind: str) -> Contenders:
    import tempfile
    import time
    from pathlib import Path

    import numpy as np

    from physics.data import generate
    from tnkit.io import load

    if kind == "dask":
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise Skip("dask.distributed not installed (pip install 'tnkit[distributed]')") from None
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        executor: Any = Client(cluster)
    else:
        from concurrent.futures import ProcessPoolExecutor

        executor = ProcessPoolExecutor(2)
        executor.submit(int, 0).result()  # start the workers outside the timing
    folder = Path(tempfile.mkdtemp())
    times: dict[str, list[float]] = {"parallel": [], "serial": []}
    last: dict[str, dict[str, np.ndarray]] = {}

    def make(side: str, pool: Any) -> Any:
        def call() -> None:
            out = folder / f"{side}_{len(times[side])}.h5"
            t0 = time.perf_counter()
            generate("darcy", out, samples=16, chunk=4, progress=False, executor=pool)
            times[side].append(time.perf_counter() - t0)
            data = load(out)
            last[side] = {"a": np.asarray(data["a"]), "u": np.asarray(data["u"])}
            out.unlink()

        return call

    def diff() -> float:
        return max(
            float(np.max(np.abs(last["parallel"][k] - last["serial"][k])) / np.max(np.abs(last["serial"][k])))
            for k in ("a", "u")
        )

    def details() -> dict[str, Any]:
        speedup = float(np.median(times["serial"]) / np.median(times["parallel"]))
        if kind == "dask":
            executor.close()
            cluster.close()
        else:
            executor.shutdown()
        return {"executor": kind, "samples": 16, "blocks": 4, "speedup": speedup}

    return Contenders(tnkit=make("parallel", executor), peer=make("serial", None), max_rel_diff=diff, details=details)


def _prepare_ns_throughput(backend: str) -> Contenders:
    why = unavailable(backend)
    if why:
        raise Skip(why)
    from physics.pde import GaussianRandomField, NavierStokes2D, fno_forcing

    n, batch, steps = 256, 8, 20
    ns = NavierStokes2D(n, 1e-3, forcing=fno_forcing, dt=1e-4)
    w = from_host(
        GaussianRandomField(n, alpha=2.5, tau=7.0, sigma=7.0**1.5, normalization="fno").sample(batch, rng=0), backend
    )
    runs: list[float] = []
    sync = synchronizer(backend)

    def call() -> Any:
        import time

        t0 = time.perf_counter()
        out = ns.step(w, steps)
        if sync is not None:
            sync()
        runs.append(time.perf_counter() - t0)
        return out

    def details() -> dict[str, Any]:
        per_sample = min(runs) / batch * 500_000 / steps
        return {
            "batch": batch,
            "steps_timed": steps,
            "seconds_per_sample_extrapolated": per_sample,
            "samples_per_s": 1 / per_sample,
        }

    return Contenders(tnkit=call, peer=None, sync=sync, details=details)


def cases(quick: bool) -> list[Case]:
    sizes = (64,) if quick else (256, 512)
    out = []
    for backend in BACKENDS:
        for method in ("cn-heun", "cn-euler"):
            name = "ns step vs its ffts" + ("" if method == "cn-heun" else ", cn-euler")
            out += [
                Case(
                    name,
                    backend,
                    n,
                    "the step's ffts",
                    lambda b=backend, n=n, m=method: _prepare(b, n, m),
                    target_ratio=1.5,
                )
                for n in sizes
            ]
    if not quick:
        slow = (0, 0.0, 1, 3)
        out.append(Case("dataset throughput darcy", "numpy", 421, None, _prepare_darcy_throughput, effort=slow))
        out += [
            Case("dataset throughput navier-stokes", b, 256, None, lambda b=b: _prepare_ns_throughput(b), effort=slow)
            for b in BACKENDS
        ]
        out += [
            Case(
                f"dataset generation, 2 workers ({label})",
                "numpy",
                2,
                "the same generation, serial",
                lambda k=kind: _prepare_parallel_generation(k),
                effort=(1, 0.0, 3, 3),
            )
            for kind, label in (("process", "process pool"), ("dask", "local dask cluster"))
        ]
    return out
