"""Run tnkit's benchmarks against peer libraries and report time ratios.

Usage::

    python validation/benchmarks/run.py [--quick] [--backend numpy|torch|cupy|torch-cuda|all]
                                        [-k PATTERN] [--json results/bench.json] [--readme README.md]

Every ``bench_*.py`` module next to this script is imported by file path (this
folder is a folder of scripts, not a package) and its ``cases(quick)`` are run:
tnkit and the peer alternate on the same inputs in this process, and the ratio of
median times tnkit/peer is compared with the case's target. The JSON records the
machine, the library versions and every case, skipped ones with their reason.
A markdown table goes to stdout and, with ``--readme``, between the
``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers of that file.

Exit status: 1 if a case failed with an error (a bug, not a slow result); with
``--strict`` also when a ratio misses its target. Times never fail a run otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import traceback
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # bench modules import _cases and _timing

from _cases import BACKENDS, Case, Skip, unavailable  # noqa: E402
from _timing import interleaved  # noqa: E402

from tnkit.io import atomic_write  # noqa: E402
from tnkit.validation import replace_marked_block  # noqa: E402

START, END = "<!-- bench:start -->", "<!-- bench:end -->"

# import name -> distribution names to ask for a version
_PACKAGES = {
    "tnkit": ("tnkit",),
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "torch": ("torch",),
    "cupy": ("cupy", "cupy-cuda12x", "cupy-cuda11x"),
    "opt_einsum": ("opt-einsum", "opt_einsum"),
    "array_api_compat": ("array-api-compat", "array_api_compat"),
    "quimb": ("quimb",),
    "tensorly": ("tensorly",),
    "teneva": ("teneva",),
    "neuralop": ("neuraloperator",),
    "torchmdnet": ("torchmd-net",),
    "warp": ("warp-lang",),
}

# Timing effort: (warm-up calls, seconds per case, fewest timed pairs, most timed pairs)
_EFFORT = {False: (2, 3.0, 7, 200), True: (1, 0.4, 3, 50)}


# --------------------------------------------------------------------------------------
# Environment


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return platform.processor() or platform.machine()


def _ram_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gpu_name() -> str | None:
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    if importlib.util.find_spec("cupy") is not None:
        try:
            import cupy

            name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
            return name.decode() if isinstance(name, bytes) else str(name)
        except Exception:  # no driver or no device
            return None
    return None


def _blas() -> str | None:
    try:
        import numpy as np

        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy without mode="dicts"
        return None


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gb": None,
        "gpu": _gpu_name(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "numpy_blas": _blas(),
    }
    ram = _ram_bytes()
    if ram:
        info["ram_gb"] = round(ram / 2**30, 1)
    if importlib.util.find_spec("torch") is not None:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    return info


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for module, dists in _PACKAGES.items():
        versions[module] = None
        if importlib.util.find_spec(module) is None:
            continue
        for dist in dists:
            try:
                versions[module] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


# --------------------------------------------------------------------------------------
# Discovery and running


def discover(folder: Path = HERE) -> list[tuple[str, ModuleType | Exception]]:
    """Import every ``bench_*.py`` in ``folder`` by path; an import failure is kept, not raised."""
    found: list[tuple[str, ModuleType | Exception]] = []
    for path in sorted(folder.glob("bench_*.py")):
        name = f"_tnkit_bench_{path.stem}"
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            found.append((path.stem, exc))
            continue
        found.append((path.stem, module))
    return found


def _record(case: Case, module: str) -> dict[str, Any]:
    return {
        "module": module,
        "name": case.name,
        "backend": case.backend,
        "size": case.size,
        "peer": case.peer,
        "status": None,
        "reason": None,
        "tnkit_median_s": None,
        "peer_median_s": None,
        "ratio": None,
        "target_ratio": case.target_ratio,
        "meets_target": None,
        "repeats": None,
        "pair_ratio_quartiles": None,
        "max_rel_diff": None,
    }


def run_case(case: Case, module: str, quick: bool) -> dict[str, Any]:
    rec = _record(case, module)
    warmup, budget, min_rep, max_rep = case.effort if case.effort is not None else _EFFORT[quick]
    try:
        contenders = case.prepare()
        timing = interleaved(
            contenders.tnkit,
            contenders.peer,
            sync=contenders.sync,
            warmup=warmup,
            budget_s=budget,
            min_repeats=min_rep,
            max_repeats=max_rep,
        )
        if contenders.peer_seconds is not None:  # a peer timed in its own process, right after ours
            peer_s = contenders.peer_seconds()
            timing = dataclasses.replace(timing, peer_s=peer_s)
    except Skip as why:
        rec.update(status="skipped", reason=str(why))
        return rec
    except Exception as exc:
        rec.update(status="error", reason=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        return rec
    try:
        diff = contenders.max_rel_diff() if callable(contenders.max_rel_diff) else contenders.max_rel_diff
        details = contenders.details() if contenders.details is not None else None
    except Exception as exc:
        rec.update(status="error", reason=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        return rec
    rec.update(
        status="ok",
        tnkit_median_s=timing.tnkit_s,
        peer_median_s=timing.peer_s,
        ratio=timing.ratio,
        repeats=timing.repeats,
        pair_ratio_quartiles=None if timing.pair_ratio_quartiles is None else list(timing.pair_ratio_quartiles),
        max_rel_diff=diff,
    )
    if case.effort is not None:
        rec["effort"] = list(case.effort)
    if details is not None:
        rec["details"] = details
    if case.target_ratio is not None and timing.ratio is not None:
        rec["meets_target"] = bool(timing.ratio <= case.target_ratio)
    return rec


# --------------------------------------------------------------------------------------
# Reporting


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return ""
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 1000 else f"{ms:.3g}"  # whole ms rather than 1.2e+04


def markdown_table(results: dict[str, Any]) -> str:
    rows = [r for r in results["cases"] if r["status"] == "ok"]
    machine = results["machine"]
    lines = [
        f"Ratios of median times, tnkit / peer, same inputs in one process "
        f"({machine['cpu']}, {machine['usable_cores']} cores"
        + (f", {machine['gpu']}" if machine["gpu"] else ", no GPU")
        + f"; {'quick' if results['quick'] else 'full'} run {results['generated'][:10]}"
        + "".join(
            f"; {', '.join(r['modules'])} re-run {r['generated'][:10]} at {r['git_commit']}"
            for r in results.get("partial_runs", [])
        )
        + ").",
        "",
        "| case | backend | size | peer | tnkit ms | peer ms | ratio | target | met |",
        "|---|---|---:|---|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        target = "" if r["target_ratio"] is None else f"≤ {r['target_ratio']:g}"
        met = {True: "yes", False: "**no**", None: "–"}[r["meets_target"]]
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.3f}"
        peer = "– (tnkit alone)" if r["peer"] is None else r["peer"]
        lines.append(
            f"| {r['name']} | {r['backend']} | {r['size']} | {peer} | {_ms(r['tnkit_median_s'])} "
            f"| {_ms(r['peer_median_s'])} | {ratio} | {target} | {met} |"
        )
    others: dict[tuple[str, str, str, str], int] = {}
    for r in results["cases"]:
        if r["status"] != "ok":
            key = (r["status"], r["name"], r["backend"], r["reason"])
            others[key] = others.get(key, 0) + 1
    if others:
        lines.append("")
        for (status, name, backend, reason), count in others.items():
            lines.append(f"- {status}: {name} on {backend} ({count} size(s)): {reason}")
    return "\n".join(lines)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------


def _selected(args: argparse.Namespace) -> tuple[list[tuple[str, Case]], list[dict[str, Any]]]:
    """Cases to run under the command-line filters, and error records for modules that failed to import."""
    todo: list[tuple[str, Case]] = []
    broken: list[dict[str, Any]] = []
    for stem, module in discover():
        if isinstance(module, Exception):
            broken.append(
                {
                    "module": stem,
                    "name": stem,
                    "backend": None,
                    "size": None,
                    "peer": None,
                    "status": "error",
                    "reason": f"import failed: {type(module).__name__}: {module}",
                }
            )
            continue
        for case in module.cases(args.quick):
            if args.backend != "all" and case.backend != args.backend:
                continue
            if args.pattern and args.pattern not in f"{stem}: {case.name}":
                continue
            todo.append((stem, case))
    return todo, broken


def _run_worker(args: argparse.Namespace) -> int:
    """Run one backend's cases here, one JSON record per line on stdout."""
    todo, _ = _selected(args)
    for stem, case in todo:
        print(json.dumps(run_case(case, stem, args.quick)), flush=True)
    return 0


def _run_isolated(
    backend: str, cases: list[tuple[str, Case]], args: argparse.Namespace, bar: Any
) -> list[dict[str, Any]]:
    """One backend's cases in a fresh interpreter.

    Each library's thread pool (OpenBLAS for NumPy, OpenMP/MKL for PyTorch) stays
    awake for a while after its last call; on a small machine the two pools then
    fight over the cores and whichever library runs second looks several times
    slower. A process per backend keeps them apart; tnkit and its peer still share
    one process, one thread pool and the same inputs.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--backend", backend]
    if args.quick:
        command.append("--quick")
    if args.pattern:
        command += ["-k", args.pattern]
    records: list[dict[str, Any]] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            records.append(json.loads(line))
            bar.update(1)
            if len(records) < len(cases):
                _, upcoming = cases[len(records)]
                bar.set_postfix_str(f"{upcoming.name} [{backend}, {upcoming.size}]", refresh=True)
    for stem, case in cases[len(records) :]:
        rec = _record(case, stem)
        rec.update(status="error", reason=f"benchmark process for {backend} exited with code {proc.returncode}")
        records.append(rec)
        bar.update(1)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (seconds)")
    parser.add_argument("--backend", choices=[*BACKENDS, "all"], default="all", help="run one library only")
    parser.add_argument("-k", dest="pattern", default=None, help="run cases whose 'module: name' contains PATTERN")
    parser.add_argument("--json", type=Path, default=Path("results/bench.json"), help="where to write results")
    parser.add_argument("--readme", type=Path, default=None, help="rewrite the bench block of this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a ratio misses its target")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        metavar="PATH",
        help="run nothing: print the table of an earlier results file (and update --readme)",
    )
    parser.add_argument(
        "--merge-into",
        type=Path,
        default=None,
        metavar="PATH",
        help="after running, replace the cases of the modules run in the results file PATH (a partial re-run "
        "of a full record) and write PATH",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _run_worker(args)
    if args.from_json is not None:
        return _report(json.loads(args.from_json.read_text(encoding="utf-8")), args)

    from tqdm import tqdm

    machine = machine_info()  # before running, so the load average is other processes'
    todo, records = _selected(args)
    backends = list(dict.fromkeys(case.backend for _, case in todo))
    bar = tqdm(
        total=len(todo), desc="bench", unit="case", file=sys.stderr, disable=args.no_progress, dynamic_ncols=True
    )
    for backend in backends:
        cases = [(stem, case) for stem, case in todo if case.backend == backend]
        reason = unavailable(backend)
        bar.set_postfix_str(f"{backend}" + ("" if reason is None else " (skipped)"), refresh=True)
        if reason is None:
            records += _run_isolated(backend, cases, args, bar)
            continue
        for stem, case in cases:
            rec = _record(case, stem)
            rec.update(status="skipped", reason=reason)
            records.append(rec)
            bar.update(1)
    bar.close()

    warmup, budget, min_rep, max_rep = _EFFORT[args.quick]
    results = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": ["run.py", *(sys.argv[1:] if argv is None else argv)],
        "quick": args.quick,
        "git_commit": _git_commit(),
        "machine": machine,
        "versions": library_versions(),
        "timing": {
            "method": (
                "tnkit and peer alternate on the same inputs in one process (pair order flipped "
                "each time), one process per backend; medians"
            ),
            "warmup_calls": warmup,
            "budget_s_per_case": budget,
            "min_repeats": min_rep,
            "max_repeats": max_rep,
        },
        "summary": _summary(records),
        "cases": records,
    }
    _write_atomic(args.json, json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}", file=sys.stderr)
    if args.merge_into is not None:
        results = merge_results(json.loads(args.merge_into.read_text(encoding="utf-8")), results)
        _write_atomic(args.merge_into, json.dumps(results, indent=2) + "\n")
        print(f"merged into {args.merge_into}", file=sys.stderr)
    return _report(results, args)


def _summary(records: list[dict[str, Any]]) -> dict[str, int]:
    ok = [r for r in records if r["status"] == "ok"]
    return {
        "ran": len(ok),
        "skipped": sum(r["status"] == "skipped" for r in records),
        "errors": sum(r["status"] == "error" for r in records),
        "met_target": sum(r.get("meets_target") is True for r in ok),
        "missed_target": sum(r.get("meets_target") is False for r in ok),
    }


def merge_results(record: dict[str, Any], partial: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the cases of ``partial``'s modules replaced by ``partial``'s cases.

    The machine and version fields stay the full run's; ``partial_runs`` lists each merged
    run (modules, date, commit, command), and the table's caption names them.
    """
    modules = sorted({c["module"] for c in partial["cases"]})
    cases = [c for c in record["cases"] if c["module"] not in modules] + partial["cases"]
    runs = [r for r in record.get("partial_runs", []) if not set(r["modules"]) <= set(modules)] + [
        {
            "modules": modules,
            "generated": partial["generated"],
            "git_commit": partial["git_commit"],
            "command": partial["command"],
        }
    ]
    return {**record, "cases": cases, "summary": _summary(cases), "partial_runs": runs}


def _report(results: dict[str, Any], args: argparse.Namespace) -> int:
    """Print the table, update the README block, and give the exit status."""
    records = results["cases"]
    table = markdown_table(results)
    print(table)
    if args.readme is not None:
        if replace_marked_block(args.readme, START, END, table):
            print(f"updated the benchmark block of {args.readme}", file=sys.stderr)
        else:
            print(f"{args.readme} has no {START} ... {END} block; left unchanged", file=sys.stderr)
    for r in records:
        if r["status"] == "error":
            print(f"error in {r['name']} [{r['backend']}, {r['size']}]: {r['reason']}", file=sys.stderr)
    failed = results["summary"]["errors"] > 0 or (args.strict and results["summary"]["missed_target"] > 0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
