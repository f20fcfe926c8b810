"""``tnkit data list | verify [NAME ...] | generate NAME [--out PATH] [--force] [--workers N | --scheduler ADDRESS]
[options]``."""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import sys
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from tnkit.io import (
    DATASETS_ENV,
    DataError,
    DatasetEntry,
    check_arrays,
    dataset_entry,
    datasets_dir,
    datasets_origin,
    generate_dataset,
    generator_names,
    generator_parameters,
    load,
    load_plugins,
    manifest,
    sha256_file,
    verify_dataset,
)

__all__ = ["add_parser", "data_list", "data_verify", "data_generate"]

# A regenerated file whose bytes differ from the shipped one still reproduces it when
# every array agrees to this relative precision (last-bit BLAS/LAPACK differences).
CONTENT_RTOL = 1e-12


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``data`` command to the ``tnkit`` CLI's sub-parsers.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The object returned by ``ArgumentParser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``data`` parser.
    """
    parser = subparsers.add_parser("data", help="list, verify and regenerate reference datasets")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    actions.required = True

    p_list = actions.add_parser("list", help="datasets in the manifest and whether each file is present")
    p_list.set_defaults(func=data_list)

    p_verify = actions.add_parser("verify", help="check size and sha256 against the manifest")
    p_verify.add_argument("names", nargs="*", metavar="NAME", help="datasets to check (default: all)")
    p_verify.set_defaults(func=data_verify)

    p_generate = actions.add_parser(
        "generate", help="regenerate a dataset with its registered generator", add_help=False
    )
    p_generate.add_argument("-h", "--help", action=_GenerateHelp, help="show this help, every dataset and its keys")
    p_generate.add_argument("name", metavar="NAME")
    p_generate.add_argument("--out", type=Path, default=None, help="write here instead of the manifest path")
    p_generate.add_argument(
        "--force", action="store_true", help="rewrite the manifest file even when it already verifies"
    )
    p_generate.add_argument(
        "--samples", type=int, default=None, help="number of samples (operator datasets) or frames (xtb-md)"
    )
    p_generate.add_argument("--molecule", default=None, help="molecule of an xtb-md trajectory, e.g. ethanol")
    p_generate.add_argument("--resolution", type=int, default=None, help="stored grid size (operator datasets)")
    p_generate.add_argument("--seed", type=int, default=None, help="random seed (operator datasets, xtb-md)")
    p_generate.add_argument(
        "--backend",
        default=None,
        choices=("numpy", "torch", "cupy", "torch-cuda"),
        help="array library the solvers run on (operator datasets)",
    )
    p_generate.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other generator parameter, e.g. --set nu=1e-4 (repeatable)",
    )
    parallel = p_generate.add_mutually_exclusive_group()
    parallel.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="compute blocks of samples in N local processes (operator datasets; same file as a serial run)",
    )
    parallel.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="compute blocks of samples on the dask.distributed scheduler at ADDRESS, e.g. tcp://host:8786 "
        "(pip install 'tnkit[distributed]'; the workers must have tnkit installed)",
    )
    p_generate.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_generate.add_argument(
        "--yes", action="store_true", help="go ahead even when the run is estimated above an hour on a CPU"
    )
    p_generate.set_defaults(func=data_generate)
    return parser


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _plugin_warnings() -> None:
    for plugin, error in load_plugins().items():
        if error is not None:
            print(f"warning: plug-in {plugin!r} failed to load, its datasets are not listed ({error})", file=sys.stderr)


def data_list(args: argparse.Namespace) -> int:
    """Print a table of the manifest's datasets and how to make the absent ones.

    Returns 0, or 1 if a manifest is unreadable. A folder without the files (a fresh
    wheel install) is not an error: each absent dataset is listed with the command that
    makes it in the datasets folder.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line of ``tnkit data list`` (it takes no options).
    """
    _plugin_warnings()
    try:
        entries = manifest()
    except DataError as exc:
        return _error(str(exc))
    folder = datasets_dir()
    print(f"datasets folder: {folder} ({datasets_origin()}; set {DATASETS_ENV} to use another)")
    rows = [("NAME", "SCHEMA", "SIZE", "PATH", "STATUS")]
    absent = []
    for entry in entries.values():
        present = entry.file.is_file()
        status = "present" if present else ("on demand" if entry.on_demand else "missing")
        size = "-" if entry.on_demand else str(entry.size)
        rows.append((entry.name, f"{entry.schema} v{entry.schema_version}", size, entry.path, status))
        if not present:
            absent.append(entry)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if absent:
        print(f"\n{len(absent)} of {len(entries)} not in {folder}; each is made there by:")
        for entry in absent:
            print(f"  {entry.generate}")
    return 0


def data_verify(args: argparse.Namespace) -> int:
    """Verify the named datasets (all by default); 1 if any fails.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line of ``tnkit data verify``: ``names`` (empty for all).

    Returns
    -------
    int
        The exit status: 0 when every dataset matches its manifest, 1 otherwise.
    """
    names = list(getattr(args, "names", None) or [])
    if not names:
        try:
            names = list(manifest())
        except DataError as exc:
            return _error(str(exc))
    failures = 0
    for name in names:
        try:
            pending = dataset_entry(name)
        except DataError:
            pending = None
        if pending is not None and pending.on_demand and not pending.file.is_file():
            print(f"--    {name}: not generated (on demand); make it with `{pending.generate}`")
            continue
        try:
            entry = verify_dataset(name)
        except DataError as exc:
            failures += 1
            print(f"FAIL  {name}: {exc}")
        else:
            print(f"OK    {name}: {entry.file}")
    if failures:
        print(f"{failures} of {len(names)} dataset(s) failed verification")
    return 1 if failures else 0


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_leaves(value, f"{prefix}/{key}"))
        return out
    return {prefix: tree}


def _content_difference(new: Path, reference: DatasetEntry) -> float:
    """Largest relative difference between two files' arrays (inf if they do not match up)."""
    try:
        fresh = _leaves(load(new, schema=reference.schema))
        shipped = _leaves(load(reference.file, schema=reference.schema))
    except DataError:
        return float("inf")
    if fresh.keys() != shipped.keys():
        return float("inf")
    worst = 0.0
    for key, ref in shipped.items():
        value = fresh[key]
        if not isinstance(ref, np.ndarray):
            if value != ref:
                return float("inf")
            continue
        if not isinstance(value, np.ndarray) or value.shape != ref.shape or value.dtype != ref.dtype:
            return float("inf")
        if ref.size == 0:
            continue
        scale = float(np.max(np.abs(ref))) or 1.0
        worst = max(worst, float(np.max(np.abs(value - ref))) / scale)
    return worst


def _parse_value(text: str) -> Any:
    """``--set`` values: int, float, true/false/none, else the string itself."""
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _generator_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key in ("samples", "resolution", "seed", "backend", "molecule"):
        value = getattr(args, key, None)
        if value is not None:
            options[key] = value
    for item in getattr(args, "set", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        options[key.strip()] = _parse_value(value)
    return options


def _executor(args: argparse.Namespace, stack: contextlib.ExitStack) -> Any:
    """The executor ``--workers`` / ``--scheduler`` ask for (None: compute in this process),
    shut down or disconnected when ``stack`` closes; ValueError with the fix if it cannot be made."""
    workers, address = getattr(args, "workers", None), getattr(args, "scheduler", None)
    if workers is not None:
        if workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        # Workers start from a clean process, not a fork of this one: the progress thread or
        # torch's thread pools must not be copied into them mid-operation.
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))
        stack.callback(pool.shutdown, cancel_futures=True)
        return pool
    if address is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ValueError("--scheduler needs dask.distributed (pip install 'tnkit[distributed]')") from None
        try:
            client = Client(address, timeout=30)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ValueError(
                f"--scheduler: cannot connect to {address!r} ({exc}); is a dask scheduler running there?"
            ) from None
        stack.callback(client.close)
        return client
    return None


class _GenerateHelp(argparse.Action):
    """``generate --help``: the options, then every dataset with the ``--set`` keys it takes
    (listed only when asked for: finding them loads the plug-ins)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        lines = ["datasets (NAME) and the keys --set takes, with their defaults:"]
        for name in generator_names():
            params = generator_parameters(name)
            keys = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "(fixed: no options)"
            lines.append(f"  {name}: {keys}")
        parser.epilog = "\n".join(lines)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.print_help()
        parser.exit()


def data_generate(args: argparse.Namespace) -> int:
    """Regenerate one dataset and compare it with the manifest; 1 if it does not reproduce.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line of ``tnkit data generate`` (``name``, ``--out``, ``--samples``,
        ``--set``, ``--backend``, ``--workers``, ``--scheduler``, ``--yes``; see ``--help``).

    Returns
    -------
    int
        The exit status: 0 when the dataset was written (and reproduces the manifest's, for a
        shipped dataset), 1 otherwise, with one line saying why.
    """
    name: str = args.name
    out: Path | None = args.out
    try:
        options = _generator_options(args)
    except ValueError as exc:
        return _error(str(exc))
    if getattr(args, "no_progress", False):
        options["progress"] = False
    if getattr(args, "yes", False):
        options["max_hours"] = None
    try:
        entry: DatasetEntry | None = dataset_entry(name)
    except DataError as exc:
        if out is None:
            return _error(f"{exc}; pass --out PATH to generate a dataset outside the manifest")
        entry = None
    if out is None and entry is not None and not getattr(args, "force", False):
        try:
            verify_dataset(name)
        except DataError:
            pass
        else:
            print(f"OK    {name}: {entry.file} already matches the manifest (--force to rewrite it)")
            return 0
    with contextlib.ExitStack() as stack:
        try:
            executor = _executor(args, stack)
            if executor is not None:
                options["executor"] = executor
            written = generate_dataset(name, out, **options)
        except (DataError, ValueError, ImportError) as exc:
            return _error(str(exc))
    digest = sha256_file(written)
    size = written.stat().st_size
    if entry is None:
        print(f"wrote {written} ({size} bytes, sha256 {digest}); {name!r} is not in the manifest")
        return 0
    if entry.on_demand:
        try:
            check_arrays(entry, written)
        except DataError as exc:
            print(f"DIFF  {name}: {exc}")
            return 1
        print(f"OK    {name}: wrote {written}; every array matches the manifest's sha256")
        return 0
    if digest == entry.sha256 and size == entry.size:
        print(f"OK    {name}: wrote {written}; matches the manifest sha256")
        return 0
    if written.resolve() != entry.file.resolve() and entry.file.is_file():
        difference = _content_difference(written, entry)
        if difference <= CONTENT_RTOL:
            print(
                f"OK    {name}: wrote {written}; bytes differ from the manifest (creation time, other library versions "
                f"or BLAS rounding) but every array agrees to {difference:.1e} relative"
            )
            return 0
    print(
        f"DIFF  {name}: wrote {written} (sha256 {digest[:12]}..., {size} bytes); the manifest has "
        f"{entry.sha256[:12]}... ({entry.size} bytes). Restore the shipped file (git checkout) "
        "or update the manifest if the change is intended"
    )
    return 1
