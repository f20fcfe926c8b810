"""``tnkit validate``: run the claims in ``validation/`` against their references.

Each module ``validation/<family>/<name>.py`` defines ``CASE = Case(...)``: the reference
it compares with (an exact formula, an HDF5 dataset, a peer library), the metric, the
tolerance and a ``run(quick)`` function returning an :class:`Outcome`. The families mirror
the packages they validate (``linalg``, ``decompositions``, ``mps``, ``tree``, ``search``
of tnkit; ``pde``, ``operators``, ``potentials`` of physics); :func:`case_files` lists them
in a fixed order, family by family, and skips ``benchmarks/``, ``scripts/`` and helper
modules whose name starts with ``_``. The runner prints a table with a progress bar,
writes ``results/validation.md`` and ``results/validation.json`` (plus PNG plots from
cases that draw one) and exits non-zero if any case fails or raises.

The cases live in the source tree, not in the installed package: ``validation/`` of a
tnkit checkout. :func:`validation_dir` finds it through an explicit setting (``--dir``,
``$TNKIT_VALIDATION_DIR``), the checkout of a development install, or ``./validation``;
when none exists (a wheel install run elsewhere), ``tnkit validate`` prints one line
saying so and exits with :data:`NO_SUITE` (2).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.util
import json
import math
import os
import platform
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tnkit.io import atomic_write, source_checkout
from tnkit.run import progress as progress_report
from tnkit.version import __version__

__all__ = [
    "Case",
    "Outcome",
    "CaseResult",
    "SkipCase",
    "case_files",
    "discover",
    "run_cases",
    "validation_dir",
    "add_parser",
    "VALIDATION_ENV",
    "NO_SUITE",
    "NOT_CASES",
    "RECORDS",
    "README_MARKERS",
    "records_table",
    "replace_marked_block",
]

VALIDATION_ENV = "TNKIT_VALIDATION_DIR"
# Exit status of `tnkit validate` when there is nothing to run: no validation folder (a
# wheel install outside the source tree), an unknown case name, or a folder without cases.
NO_SUITE = 2
# Folders of the validation tree that hold no cases: the benchmark harness and the training
# scripts are run by hand, and importing them would only slow discovery down.
NOT_CASES = ("benchmarks", "scripts", "records")
# The record of the last reviewed run, relative to the validation folder: the README's table
# and the documentation's are rendered from it (`tnkit validate --from-json ... --readme ...`).
RECORDS = Path("records") / "validation-quick.json"
README_MARKERS = ("<!-- validation:start -->", "<!-- validation:end -->")


class SkipCase(Exception):
    """Raised by a case's ``run`` when it cannot run here (e.g. a peer library is not installed).

    The case is reported as SKIP with the message, and does not count as a failure.
    """


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one run of a case measured.

    Parameters
    ----------
    value : float
        The measured deviation, compared with the case's tolerance (the case passes when
        ``value <= tolerance`` and ``value`` is finite).
    details : dict
        Extra figures reported alongside (in the JSON report and the table's messages).
    plot : callable, optional
        ``plot(fig)`` draws onto a Matplotlib ``Figure``; the runner saves it as a PNG.
    """

    value: float
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    plot: Callable[[Any], None] | None = None


@dataclasses.dataclass(frozen=True)
class Case:
    """One validated claim.

    Parameters
    ----------
    name : str
        Short identifier, unique over the suite (by convention the module's file name).
    claim : str
        What is being validated, in one sentence.
    reference : str
        What the result is compared with and where it comes from.
    metric : str
        How the deviation is measured, e.g. ``"|E - E_exact|"``.
    tolerance : float
        The case passes when ``value <= tolerance``.
    run : callable
        ``run(quick: bool) -> Outcome``; ``quick`` selects a size that runs in seconds to a minute.
    family : str
        The folder the case lives in (``"mps/"``); set by :func:`discover`, not by the case module.
    """

    name: str
    claim: str
    reference: str
    metric: str
    tolerance: float
    run: Callable[[bool], Outcome]
    family: str = ""


@dataclasses.dataclass
class CaseResult:
    """The outcome of one case in a run, as the reports record it.

    Parameters
    ----------
    name, claim, reference, metric : str
        The case's own fields (see :class:`Case`).
    value : float or None
        The measured value; None when the case raised or was skipped.
    tolerance : float
        The case's tolerance.
    passed : bool
        ``value`` is finite and at most ``tolerance``.
    seconds : float
        Wall time of the case's ``run``.
    details : dict
        The case's extra figures (the traceback when it raised).
    error : str, optional
        ``"ExceptionType: message"`` when the case raised.
    plot : str, optional
        Path of the saved plot.
    skipped : str, optional
        Why the case could not run here (:class:`SkipCase`).
    family : str
        The folder of the case (``"mps/"``).
    """

    name: str
    claim: str
    reference: str
    metric: str
    value: float | None
    tolerance: float
    passed: bool
    seconds: float
    details: dict[str, Any]
    error: str | None = None
    plot: str | None = None
    skipped: str | None = None
    family: str = ""


def validation_dir() -> Path:
    """The folder of validation cases.

    In order: ``$TNKIT_VALIDATION_DIR``; ``validation/`` of the source checkout of a
    development install (:func:`tnkit.io.source_checkout`); ``./validation``.

    Raises
    ------
    FileNotFoundError
        If none exists, with one line saying where the suite lives and how to point at it.

    Examples
    --------
    >>> (validation_dir() / "linalg" / "svd_eckart_young.py").is_file()
    True
    """
    env = os.environ.get(VALIDATION_ENV)
    if env:
        return Path(env).expanduser()
    checkout = source_checkout()
    candidates = ([checkout / "validation"] if checkout is not None else []) + [Path.cwd() / "validation"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "the validation suite lives in the source tree (validation/ of a tnkit checkout), not in the installed "
        f"package; point at it with --dir PATH or {VALIDATION_ENV}=PATH"
    )


def _load_module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"tnkit_validation_{path.stem}", path)
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ImportError(f"cannot import validation module {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def case_files(directory: Path) -> list[Path]:
    """The case modules under ``directory``, family by family.

    Every ``*.py`` at any depth, except those inside :data:`NOT_CASES` and those whose name,
    or the name of a folder on the way, starts with ``_`` or ``.`` (shared helpers such as
    ``potentials/_potentials.py``, caches). Sorted by the path below ``directory``, so the
    order is that of the family folders, then of the file names within each: the order in
    which ``tnkit validate`` runs and reports them.

    Parameters
    ----------
    directory : Path
        The validation folder (:func:`validation_dir`) or one of its family folders.

    Returns
    -------
    list of Path
        The case modules, in run order.

    Examples
    --------
    >>> [path.name for path in case_files(validation_dir() / "linalg")]
    ['heisenberg_lanczos.py', 'svd_eckart_young.py']
    >>> sorted({path.parent.name for path in case_files(validation_dir())})[:3]
    ['decompositions', 'equivariant', 'linalg']
    """
    files = []
    for path in directory.rglob("*.py"):
        parts = path.relative_to(directory).parts
        if any(part in NOT_CASES for part in parts[:-1]) or any(part.startswith(("_", ".")) for part in parts):
            continue
        files.append(path)
    return sorted(files, key=lambda path: path.relative_to(directory).parts)


def discover(directory: Path | None = None, names: Sequence[str] = ()) -> list[Case]:
    """Cases defined in ``directory``: ``CASE`` in each module of :func:`case_files`.

    Without ``names``, every case in the order of :func:`case_files` (family, then file
    name); with ``names``, those cases in the order given.

    Parameters
    ----------
    directory : Path, optional
        The validation folder; :func:`validation_dir` when omitted.
    names : sequence of str
        Case names to select (all cases when empty).

    Returns
    -------
    list of Case
        The cases, each with its ``family`` set to its folder below ``directory``.

    Raises
    ------
    FileNotFoundError
        If the directory does not exist.
    KeyError
        If a requested name is not among the cases found.
    ValueError
        If two modules define cases of the same name (names key the reports, so they must
        be unique over all families).
    """
    directory = Path(directory) if directory is not None else validation_dir()
    if not directory.is_dir():
        raise FileNotFoundError(f"validation directory not found: {directory} (set --dir or {VALIDATION_ENV})")
    cases: dict[str, Case] = {}
    origins: dict[str, Path] = {}
    for path in case_files(directory):
        case = getattr(_load_module(path), "CASE", None)
        if not isinstance(case, Case):
            continue
        if case.name in cases:
            raise ValueError(f"validation case {case.name!r} is defined twice: in {origins[case.name]} and {path}")
        family = path.parent.relative_to(directory).as_posix()
        case = dataclasses.replace(case, family="" if family == "." else f"{family}/")
        cases[case.name], origins[case.name] = case, path
    if names:
        unknown = [n for n in names if n not in cases]
        if unknown:
            raise KeyError(f"unknown validation case(s): {', '.join(unknown)}; known: {', '.join(sorted(cases))}")
        return [cases[n] for n in names]
    return list(cases.values())


def _run_one(case: Case, quick: bool, plot_dir: Path | None) -> CaseResult:
    start = time.perf_counter()
    try:
        outcome = case.run(quick)
        seconds = time.perf_counter() - start
        value = float(outcome.value)
        passed = math.isfinite(value) and value <= case.tolerance
        plot_path = None
        if outcome.plot is not None and plot_dir is not None:
            plot_path = _save_plot(outcome.plot, plot_dir / f"{case.name}.png")
        return CaseResult(
            case.name,
            case.claim,
            case.reference,
            case.metric,
            value,
            case.tolerance,
            passed,
            seconds,
            dict(outcome.details),
            plot=plot_path,
            family=case.family,
        )
    except SkipCase as exc:
        return CaseResult(
            case.name,
            case.claim,
            case.reference,
            case.metric,
            None,
            case.tolerance,
            False,
            time.perf_counter() - start,
            {},
            skipped=str(exc),
            family=case.family,
        )
    except Exception as exc:  # a crashing case is a failing case, reported, not fatal
        seconds = time.perf_counter() - start
        msg = f"{type(exc).__name__}: {exc}"
        tb = traceback.format_exc(limit=3)
        return CaseResult(
            case.name,
            case.claim,
            case.reference,
            case.metric,
            None,
            case.tolerance,
            False,
            seconds,
            {"traceback": tb},
            error=msg,
            family=case.family,
        )


def _save_plot(draw: Callable[[Any], None], path: Path) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    draw(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return str(path)


def run_cases(
    cases: Sequence[Case],
    *,
    quick: bool = False,
    plot_dir: Path | None = None,
    progress: bool = True,
) -> list[CaseResult]:
    """Run ``cases`` in order with a progress bar; exceptions become failed results.

    Parameters
    ----------
    cases : sequence of Case
        What to run, in order (from :func:`discover`).
    quick : bool
        Run each case at its quick size.
    plot_dir : Path, optional
        Where the cases' plots are saved (none saved when omitted).
    progress : bool
        Show progress (a bar on a terminal, a line at intervals in a log).

    Returns
    -------
    list of CaseResult
        One per case, in order; a case that raised is a failed result, not an exception.
    """
    results = []
    with progress_report(len(cases), "validate", None if progress else False, unit="case") as bar:
        for case in cases:
            bar.set_postfix(case=case.name)
            results.append(_run_one(case, quick, plot_dir))
            bar.update()
    return results


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}"


def _rows(results: Sequence[CaseResult]) -> list[list[str]]:
    rows = []
    for r in results:
        status = "PASS" if r.passed else ("SKIP" if r.skipped else ("ERROR" if r.error else "FAIL"))
        rows.append([r.name, r.reference, r.metric, _fmt(r.value), f"{r.tolerance:.1e}", status, f"{r.seconds:.2f}"])
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_HEADER = ["case", "reference", "metric", "value", "tolerance", "pass", "seconds"]


def format_table(results: Sequence[CaseResult], *, markdown: bool = True) -> str:
    """Table of results: case, reference, metric, value, tolerance, pass, seconds.

    Parameters
    ----------
    results : sequence of CaseResult
        The results of :func:`run_cases`.
    markdown : bool
        A Markdown table (the default), or aligned plain text for a terminal.

    Returns
    -------
    str
        The table, followed by one line per case that raised or was skipped.
    """
    rows = _rows(results)
    if markdown:
        esc = [[_cell(c) for c in row] for row in rows]
        lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in esc]
    else:
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(_HEADER)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [fmt.format(*_HEADER), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*row) for row in rows]
    for r in results:
        if r.error:
            lines.append(f"{r.name}: {r.error}")
        if r.skipped:
            lines.append(f"{r.name}: skipped ({r.skipped})")
    return "\n".join(lines)


def write_reports(results: Sequence[CaseResult], out_dir: Path, json_path: Path | None, quick: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    header = (
        f"# tnkit validation\n\ntnkit {__version__}, Python {platform.python_version()}, "
        f"{platform.platform()}; mode: {'quick' if quick else 'full'}\n\n"
    )
    body = format_table(results)
    plots = "".join(f"\n![{r.name}]({Path(r.plot).name if r.plot else ''})\n" for r in results if r.plot)
    _write(out_dir / "validation.md", header + body + "\n" + plots)
    payload = {
        "tnkit": __version__,
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "quick": quick,
        "passed": all(r.passed or r.skipped for r in results),
        "cases": [dataclasses.asdict(r) for r in results],
    }
    text = json.dumps(payload, indent=2, default=str)
    _write(out_dir / "validation.json", text)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        _write(json_path, text)


def _write(path: Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def records_table(payload: dict[str, Any]) -> str:
    r"""The Markdown table of a validation report, as the README and the documentation show it.

    Parameters
    ----------
    payload : dict
        A report as ``tnkit validate --json PATH`` writes it (``results/validation.json``):
        ``cases`` with each case's family, name, reference, metric, tolerance, measured value,
        outcome and time, and the run's ``generated`` time, ``machine`` and ``quick`` flag.

    Returns
    -------
    str
        One line naming the run, a blank line, then the table: folder, case, value,
        tolerance, result, seconds, reference and metric per case (the outcome first, so a
        narrow page shows it without scrolling), in the report's order; a skipped case
        shows its reason.

    Examples
    --------
    >>> case = {"family": "linalg/", "name": "x", "reference": "exact", "metric": "|a - b|",
    ...         "tolerance": 1e-10, "value": 3e-12, "passed": True, "seconds": 0.5}
    >>> print(records_table({"tnkit": "0.1.0", "quick": True, "cases": [case]}))  # doctest: +NORMALIZE_WHITESPACE
    Values of `tnkit validate --quick` (tnkit 0.1.0).
    <BLANKLINE>
    | folder | case | value | tolerance | result | seconds | reference | metric |
    |---|---|---:|---:|:---:|---:|---|---|
    | linalg/ | x | 3e-12 | 1e-10 | pass | 0.5 | exact | \|a - b\| |
    """
    machine = payload.get("machine") or {}
    where = [f"tnkit {payload.get('tnkit', '?')}"]
    if machine:
        where.append(f"Python {machine.get('python')}, {machine.get('cpus')} CPUs, {machine.get('platform')}")
    if payload.get("generated"):
        where.append(str(payload["generated"])[:10])
    mode = "--quick" if payload.get("quick") else "--full"
    lines = [
        f"Values of `tnkit validate {mode}` ({'; '.join(where)}).",
        "",
        "| folder | case | value | tolerance | result | seconds | reference | metric |",
        "|---|---|---:|---:|:---:|---:|---|---|",
    ]
    for r in payload["cases"]:
        if r.get("skipped"):
            result = f"skipped: {_cell(r['skipped'])}"
        else:
            result = "pass" if r["passed"] else ("**error**" if r.get("error") else "**fail**")
        value = "" if r.get("value") is None else f"{r['value']:.3g}"
        lines.append(
            f"| {r.get('family', '')} | {r['name']} | {value} | {r['tolerance']:g} | {result} "
            f"| {r['seconds']:.3g} | {_cell(r['reference'])} | {_cell(r['metric'])} |"
        )
    return "\n".join(lines)


def replace_marked_block(path: Path, start: str, end: str, text: str) -> bool:
    r"""Replace the lines between the marker lines ``start`` and ``end`` of ``path`` with ``text``.

    The markers count only on lines of their own, so prose that mentions them is left alone.
    The file is rewritten atomically, and only when its content changes.

    Parameters
    ----------
    path : Path
        The text file (a README, a documentation page).
    start, end : str
        The marker lines, e.g. ``"<!-- bench:start -->"`` and ``"<!-- bench:end -->"``.
    text : str
        What goes between them.

    Returns
    -------
    bool
        False when the markers are absent (the file is left alone), True otherwise.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     page = Path(tmp) / "page.md"
    ...     _ = page.write_text("intro\n<!-- t:start -->\nold\n<!-- t:end -->\nrest\n")
    ...     replace_marked_block(page, "<!-- t:start -->", "<!-- t:end -->", "new")
    ...     page.read_text().splitlines()
    True
    ['intro', '<!-- t:start -->', 'new', '<!-- t:end -->', 'rest']
    """
    old = path.read_text(encoding="utf-8")
    pattern = re.compile(rf"^[ \t]*{re.escape(start)}[ \t]*$.*?^[ \t]*{re.escape(end)}[ \t]*$", flags=re.S | re.M)
    if not pattern.search(old):
        return False
    new = pattern.sub(lambda _: f"{start}\n{text}\n{end}", old, count=1)
    if new != old:
        _write(path, new)
    return True


def _cmd_from_json(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        table = records_table(payload)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"tnkit validate: cannot read the report {args.from_json}: {exc}", file=sys.stderr)
        return NO_SUITE
    print(table)
    if args.readme is not None:
        if replace_marked_block(Path(args.readme), *README_MARKERS, table):
            print(f"updated the validation block of {args.readme}", file=sys.stderr)
        else:
            print(
                f"{args.readme} has no {README_MARKERS[0]} ... {README_MARKERS[1]} block; left unchanged",
                file=sys.stderr,
            )
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    if args.from_json is not None:
        return _cmd_from_json(args)
    if args.readme is not None:
        print("tnkit validate: --readme goes with --from-json PATH (render a report's table)", file=sys.stderr)
        return NO_SUITE
    try:
        cases = discover(args.dir, args.names)
    except (FileNotFoundError, KeyError) as exc:
        print(f"tnkit validate: {exc.args[0]}", file=sys.stderr)
        return NO_SUITE
    if not cases:
        print("tnkit validate: no cases found", file=sys.stderr)
        return NO_SUITE
    out_dir = Path(args.out)
    results = run_cases(cases, quick=args.quick, plot_dir=out_dir, progress=not args.no_progress)
    print(format_table(results, markdown=False))
    write_reports(results, out_dir, Path(args.json) if args.json else None, args.quick)
    n_fail = sum(not r.passed and not r.skipped for r in results)
    n_skip = sum(bool(r.skipped) for r in results)
    skipped = f", {n_skip} skipped" if n_skip else ""
    print(f"\n{len(results) - n_fail - n_skip} passed, {n_fail} failed{skipped}  (reports in {out_dir}/validation.md)")
    return 1 if n_fail else 0


def add_parser(subparsers: Any) -> None:
    """Add ``tnkit validate`` to the CLI.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The object returned by ``ArgumentParser.add_subparsers()`` of the ``tnkit`` command.
    """
    p = subparsers.add_parser(
        "validate",
        help="run validation cases against their references",
        description="Run validation cases against their references. Exit status: 0 all passed (or skipped), "
        f"1 a case failed, {NO_SUITE} nothing to run (no validation folder, unknown name).",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="cases to run (default: all)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (the whole suite: a few minutes on 2 cores)")
    size.add_argument("--full", action="store_true", help="the full-size claims (the default)")
    p.add_argument("--json", metavar="PATH", help="also write the JSON report here")
    p.add_argument("--out", default="results", help="report directory (default: results)")
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"directory of validation modules, searched recursively (default: ${VALIDATION_ENV}, "
        "the source checkout's validation/, or ./validation)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--from-json",
        metavar="PATH",
        default=None,
        help="run nothing: print the table of a JSON report (with --readme, write it into that file's block)",
    )
    p.add_argument(
        "--readme",
        metavar="PATH",
        default=None,
        help=f"with --from-json: rewrite the lines between {README_MARKERS[0]} and {README_MARKERS[1]} of PATH",
    )
    p.set_defaults(func=_cmd_validate)
