"""``make gpu-check``: the CuPy and torch-CUDA tests and the GPU benchmarks on a lent GPU machine.

Usage::

    python validation/benchmarks/gpu_check.py [--out DIR] [--python PATH] [--online] [--budget 480]
    python validation/benchmarks/gpu_check.py --apply gpu-check.md   # a GPU run's section, here

Without an NVIDIA GPU (``nvidia-smi`` missing or failing, and no torch or CuPy that sees a
CUDA device) it prints one line and exits 0. With one, within ``--budget`` seconds, it picks
the interpreter that already has CUDA torch or CuPy (pip never resolves torch: the CPU wheel
pinned in constraints.txt would replace the CUDA build); installs what it lacks of tnkit's
dependencies and the ``test`` extra offline from ``.whl/`` (``make gpu-wheels``) into a
scratch folder on PYTHONPATH, or with ``--online`` runs ``pip install -c constraints.txt
'.[gpu,test]'`` (``tnkit[gpu]`` is CuPy for CUDA 12: only ``[test]`` when a CuPy imports, so a
build for another CUDA stays); runs ``pytest tests -k "cupy or cuda"`` and run.py's GPU cases
(:data:`BENCH_PLAN`, a process per backend streaming a record per case, so a time-out loses
none that finished); and writes device, versions, test counts and the benchmark table into
RESULTS.md between the lines ``<!-- gpu-check:start -->`` and ``<!-- gpu-check:end -->``
(appended when absent), copying log, JSON, section and RESULTS.md to ``--out`` (or ``$OUT``).

Exit status: 0 all passed; 1 a test failed, pytest ran out of time, a backend that sees the
GPU passed no test, or a benchmark raised; 2 setup failed.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # run.py and _gpu_report.py are scripts next to this one, not a package
from _gpu_report import TEST_SELECTION, bench_table, count_tests, section, write_section  # noqa: E402

ROOT = HERE.parents[1]
RESULTS = HERE / "RESULTS.md"
WORK = ROOT / "results" / "gpu-check"  # ignored by git
# tnkit's dependencies and the `test` extra by import name; each is also its wheel's name prefix.
NEEDED = (
    "numpy",
    "scipy",
    "array_api_compat",
    "opt_einsum",
    "h5py",
    "tqdm",
    "matplotlib",
    "pytest",
    "hypothesis",
    "array_api_strict",
    "pytest_timeout",
)
# Benchmark peers installed from .whl/ when carried (`make gpu-wheels`); their cases skip without them.
OPTIONAL = ("e3nn", "opt_einsum_fx")
BACKENDS = ("cupy", "torch-cuda")
PER_TEST_S = 120  # pytest-timeout: one hung kernel must not eat the whole budget
# (case-name substring, quick sizes?) by priority. DMRG sweeps run quick: at full size
# (chi 512/1024, L=100) their NumPy peer takes minutes per sweep.
BENCH_PLAN = (
    ("contract", False),
    ("truncated_svd", False),
    ("ns step", False),
    ("dmrg sweep", True),
    ("tucker", False),
    ("tensornet", False),
    ("tp uvu C=32", False),
    ("tp fc C=32", False),
    ("s2 round trip C=32", False),
    ("dataset throughput", False),
)
# Many small matrices: BLAS/OpenMP threads cost more than they gain there (as in `make test`).
SMALL = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PROBE = r"""
import importlib.util, json, sys
out = {"python": sys.version.split()[0], "missing": [m for m in sys.argv[1:] if not importlib.util.find_spec(m)]}
try:
    import torch
    out.update(torch=torch.__version__, torch_cuda=bool(torch.cuda.is_available()))
except Exception:
    pass
try:
    import cupy
    out.update(cupy=cupy.__version__, cupy_devices=int(cupy.cuda.runtime.getDeviceCount()))
except Exception:
    pass
print(json.dumps(out))
"""


def nvidia_smi() -> tuple[dict[str, str] | None, str]:
    """First GPU's name, memory and driver, or None and why not. ``GPU_CHECK_NVIDIA_SMI``
    names another command (a missing one simulates a machine without a GPU)."""
    cmd = os.environ.get("GPU_CHECK_NVIDIA_SMI", "nvidia-smi")
    exe = shutil.which(cmd)
    if exe is None:
        return None, f"{cmd} not found"
    query = ["--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    try:
        done = subprocess.run([exe, *query], check=False, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{cmd} failed: {type(exc).__name__}"
    rows = [r for r in done.stdout.splitlines() if r.strip()]
    if done.returncode != 0 or not rows:
        return None, f"{cmd} failed with exit code {done.returncode}"
    name, memory, driver = (s.strip() for s in (rows[0].split(",") + ["?", "?"])[:3])
    return {"name": name, "memory": memory, "driver": driver}, ""


def probe(python: str, env: dict[str, str]) -> dict[str, Any] | None:
    """What ``python`` has: torch and CuPy versions, whether they see a device, missing modules."""
    try:
        done = subprocess.run(
            [python, "-c", PROBE, *NEEDED, *OPTIONAL], check=False, capture_output=True, text=True, env=env, timeout=180
        )
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None


def choose_python(explicit: str | None) -> tuple[str | None, dict[str, Any], list[str]]:
    """The first interpreter whose torch or CuPy sees a CUDA device, its probe, and all tried."""
    names = [
        explicit,
        os.environ.get("GPU_CHECK_PYTHON"),
        sys.executable,
        shutil.which("python3"),
        shutil.which("python"),
    ]
    tried = list(dict.fromkeys(os.path.abspath(n) for n in names if n))
    for python in tried:
        found = probe(python, dict(os.environ)) or {}
        if found.get("torch_cuda") or found.get("cupy_devices"):
            return python, found, tried
    return None, {}, tried


class Log:
    """The children's whole output goes to the log file; stage lines also to stdout."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "w", encoding="utf-8")  # noqa: SIM115  (open for the whole run)

    def say(self, line: str) -> None:
        print(f"gpu-check: {line}", flush=True)
        self.write(f"gpu-check: {line}\n")

    def write(self, text: str) -> None:
        self.fh.write(text)
        self.fh.flush()


def stream(
    cmd: list[str], env: dict[str, str], seconds: float, log: Log, stop: int, merge: bool = True
) -> tuple[int, list[str], bool]:
    """Run ``cmd`` with its output into the log; after ``seconds`` send ``stop``, SIGKILL 20 s later.

    pytest answers SIGINT with its summary, so a time-out still says what ran. ``merge=False``
    keeps stderr out of the returned lines. Returns exit code, stdout lines, whether time ran out.
    """
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        errors="replace",
        stderr=subprocess.STDOUT if merge else log.fh,
    )
    fired = threading.Event()

    def halt() -> None:
        fired.set()
        proc.send_signal(stop)
        killer = threading.Timer(20, proc.kill)  # a call stuck in a CUDA kernel ignores SIGINT
        killer.daemon = True
        killer.start()

    timer = threading.Timer(max(seconds, 1.0), halt)
    timer.daemon = True
    timer.start()
    lines = []
    for line in proc.stdout or ():
        lines.append(line.rstrip("\n"))
        log.write(line)
    code = proc.wait()
    timer.cancel()
    return code, lines, fired.is_set()


def install(python: str, found: dict[str, Any], online: bool, log: Log) -> tuple[dict[str, str], str | None]:
    """An environment where tnkit and its dependencies import, or an error line."""
    site = tempfile.mkdtemp(prefix="gpu-check-site-")
    path = [site, str(ROOT)]
    wheels = [str(w) for w in sorted((ROOT / ".whl").glob("*.whl")) if w.name.split("-")[0] in found["missing"]]
    pip = [python, "-m", "pip", "install", "-q"]
    cmd = [*pip, "--no-index", "--no-deps", "--target", site, *wheels]
    if online:
        cmd = [*pip, "-c", "constraints.txt", ".[test]" if found.get("cupy") else ".[gpu,test]"]
    if online or wheels:
        log.say("$ " + " ".join(cmd))
        done = subprocess.run(cmd, check=False, cwd=ROOT, stdout=log.fh, stderr=subprocess.STDOUT)
        if done.returncode and not online:
            path += wheels  # no pip: pure-python wheels import from the zip file itself
    old = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path + ([old] if old else [])))
    missing = [m for m in (probe(python, env) or {"missing": NEEDED})["missing"] if m in NEEDED]
    if missing:
        return env, (
            f"{python} lacks {', '.join(missing)}: carry their wheels in .whl/ (`make gpu-wheels` "
            "fetches the pure-python ones) or pass --online on a machine with a network"
        )
    return env, None


def bench_worker(backend: str) -> int:
    """In the chosen interpreter: one JSON header line, then one record per planned case."""
    import run  # here, not at the top: only the worker needs it, and it imports numpy

    modules = run.discover()
    todo = [
        (stem, case, quick)
        for pattern, quick in BENCH_PLAN
        for stem, module in modules
        if not isinstance(module, Exception)
        for case in module.cases(quick)
        if case.backend == backend and pattern in case.name
    ]
    versions = run.library_versions()
    if versions.get("cupy") is None and importlib.util.find_spec("cupy") is not None:
        import cupy  # cupy-cuda13x is not among run.py's distribution names

        versions["cupy"] = cupy.__version__
    header = {
        "machine": run.machine_info(),
        "versions": versions,
        "git_commit": run._git_commit(),
        "planned": [{**run._record(case, stem), "quick": quick} for stem, case, quick in todo],
        "broken": [
            {"module": stem, "name": stem, "backend": backend, "status": "error", "reason": f"import failed: {mod!r}"}
            for stem, mod in modules
            if isinstance(mod, Exception)
        ],
    }
    print(json.dumps({"header": header}), flush=True)
    for stem, case, quick in todo:
        print(json.dumps({**run.run_case(case, stem, quick), "quick": quick}), flush=True)
    return 0


def _record_or_none(line: str) -> dict[str, Any] | None:
    try:  # the worker's lines are JSON; anything else is a library printing to stdout
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def run_benchmarks(python: str, env: dict[str, str], deadline: float, log: Log) -> dict[str, Any]:
    """Both backends' planned cases before ``deadline``, as run.py's results JSON."""
    header: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    for i, backend in enumerate(BACKENDS):
        seconds = (deadline - time.monotonic()) / (len(BACKENDS) - i)  # what cupy leaves, torch-cuda gets
        log.say(f"benchmarks on {backend}, at most {seconds:.0f} s")
        cmd = [python, str(Path(__file__).resolve()), "--bench-worker", backend]
        code, lines, late = stream(cmd, env, seconds, log, signal.SIGKILL, merge=False)
        got = [rec for rec in map(_record_or_none, lines) if rec is not None]
        why = "gpu-check's time budget ran out" if late else f"worker exited with code {code}"
        status = "skipped" if late else "error"
        if not got or "header" not in got[0]:
            records.append(
                {
                    "name": f"{backend} benchmarks",
                    "backend": backend,
                    "status": status,
                    "reason": f"none run: {why} (see the log)",
                }
            )
            continue
        head = got.pop(0)["header"]
        header = header or head
        records += head["broken"] * (i == 0) + got
        records += [{**rec, "status": status, "reason": f"not run: {why}"} for rec in head["planned"][len(got) :]]
    ok = [r for r in records if r["status"] == "ok"]
    return {
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": ["gpu_check.py", *sys.argv[1:]],
        "quick": False,
        "git_commit": header.get("git_commit"),
        "machine": header.get("machine", {}),
        "versions": header.get("versions", {}),
        "timing": {"method": "run.py's interleaved medians, one process per backend", "plan": BENCH_PLAN},
        "summary": {
            "ran": len(ok),
            "skipped": sum(r["status"] == "skipped" for r in records),
            "errors": sum(r["status"] == "error" for r in records),
            "met_target": sum(r.get("meets_target") is True for r in ok),
            "missed_target": sum(r.get("meets_target") is False for r in ok),
        },
        "cases": records,
    }


def check(
    args: argparse.Namespace, t0: float, smi: dict[str, str] | None, why: str, python: str, found: dict[str, Any]
) -> int:
    """Install, test, benchmark, report, on a machine where ``python`` sees the GPU."""
    log = Log(WORK / "gpu-check.log")
    device = f"{smi['name']}, {smi['memory']}, driver {smi['driver']}" if smi else f"({why})"
    log.say(f"{device}; {python} (torch {found.get('torch')}, CuPy {found.get('cupy')})")
    env, error = install(python, found, args.online, log)
    if error:
        log.say(error)
        return finish(log, args.out, 2)
    deadline = t0 + args.budget - 15  # room to write the results
    seconds = max(1.0, min(args.test_budget, deadline - time.monotonic() - 150))  # benchmarks keep >= 150 s
    log.say(f"tests, at most {seconds:.0f} s")
    cmd = [
        python,
        "-m",
        "pytest",
        "tests",
        "-v",
        "--color=no",
        "-p",
        "no:cacheprovider",
        "-m",
        "not slow",
        "-k",
        TEST_SELECTION,
        "--continue-on-collection-errors",
        f"--timeout={PER_TEST_S}",
    ]
    code, lines, late = stream(cmd, {**env, **SMALL}, seconds, log, signal.SIGINT)
    counts, failed, summary = count_tests(lines)
    summary += ", stopped at the time limit" * late
    sees = {"cupy": bool(found.get("cupy_devices")), "torch-cuda": bool(found.get("torch_cuda"))}
    failed += [
        f"{b}: no test passed though it sees the GPU"
        for b in BACKENDS
        if sees[b] and not counts.get(b, {}).get("PASSED")
    ]
    log.say(f"pytest exit code {code}: {summary}")
    results = run_benchmarks(python, env, deadline, log)
    (WORK / "bench-gpu.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    info = {
        "date": datetime.date.today().isoformat(),
        "python": found.get("python"),
        "device": device if smi else f"{results['machine'].get('gpu')} {device}",
        "torch": found.get("torch"),
        "cupy": found.get("cupy"),
        "commit": results["git_commit"] or os.environ.get("GPU_CHECK_COMMIT") or "unknown (no git here)",
        "wall_s": time.monotonic() - t0,
        "budget_s": args.budget,
    }
    block = section(info, (counts, failed, summary), bench_table(results))
    (WORK / "gpu-check.md").write_text(block + "\n", encoding="utf-8")
    write_section(RESULTS, block)
    print(block, flush=True)
    bad = late or code != 0 or bool(failed) or results["summary"]["errors"] > 0
    log.say(f"{'FAILED' if bad else 'passed'}; section written to {RESULTS.relative_to(ROOT)}")
    return finish(log, args.out, 1 if bad else 0, (WORK / "bench-gpu.json", WORK / "gpu-check.md", RESULTS))


def finish(log: Log, out: Path | None, code: int, wrote: tuple[Path, ...] = ()) -> int:
    """Close the log; copy it and the files this run ``wrote`` to ``out`` (the device's $OUT comes back)."""
    log.fh.close()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for path in (WORK / "gpu-check.log", *wrote):
            shutil.copy2(path, out / path.name)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=os.environ.get("OUT") or None, help="copy results here")
    parser.add_argument("--python", help="interpreter with CUDA torch or CuPy (default: the first that sees a GPU)")
    parser.add_argument("--online", action="store_true", help="pip install -c constraints.txt '.[gpu,test]' first")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for everything (default 480)")
    parser.add_argument("--test-budget", type=float, default=270.0, help="seconds for pytest (default 270)")
    parser.add_argument("--apply", type=Path, metavar="SECTION", help="only put a saved section into RESULTS.md")
    parser.add_argument("--bench-worker", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bench_worker:
        return bench_worker(args.bench_worker)
    if args.apply:
        write_section(RESULTS, args.apply.read_text(encoding="utf-8"))
        return 0
    t0 = time.monotonic()
    smi, why = nvidia_smi()
    python: str | None = None
    found: dict[str, Any] = {}
    tried: list[str] = []
    if smi is not None or glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/dxg"):
        python, found, tried = choose_python(args.python)  # imports torch: only where a GPU may be
    if python is not None:
        return check(args, t0, smi, why, python, found)
    if smi is None:
        seen = "; torch and CuPy see no CUDA device" if tried else ", no /dev/nvidia* device"
        print(f"gpu-check: no NVIDIA GPU on this machine ({why}{seen}); nothing to do")
        return 0
    print(
        f"gpu-check: nvidia-smi sees {smi['name']} but no Python with CUDA torch or CuPy sees it "
        f"(tried {', '.join(tried)}); pass --python PATH to one that does",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
