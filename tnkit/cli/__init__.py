"""The ``tnkit`` command: ``info``, ``data ...``, ``validate``."""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
from collections.abc import Sequence

import tnkit
from tnkit.cli.data import add_parser as add_data_parser
from tnkit.io import DataError, datasets_dir, datasets_origin, load_plugins, manifest
from tnkit.validation import add_parser as add_validate_parser
from tnkit.validation import validation_dir

__all__ = ["main"]


def _version_of(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except Exception:
        return None
    return str(getattr(mod, "__version__", "?"))


def _gpu_summary() -> list[str]:
    lines = []
    try:
        import torch

        if torch.cuda.is_available():
            lines.append(f"torch-cuda: {torch.cuda.get_device_name(0)} ({torch.cuda.device_count()} device(s))")
        else:
            lines.append("torch-cuda: no CUDA device")
    except ImportError:
        lines.append("torch-cuda: torch not installed")
    try:
        import cupy

        try:
            n = cupy.cuda.runtime.getDeviceCount()
            lines.append(f"cupy: {n} CUDA device(s)")
        except Exception as exc:
            lines.append(f"cupy: installed, no usable device ({type(exc).__name__})")
    except ImportError:
        lines.append("cupy: not installed (pip install 'tnkit[gpu]')")
    return lines


def _data_summary() -> list[str]:
    """Where data and validation cases are found; never raises (``info`` must always run)."""
    lines = [f"datasets: {datasets_dir()} ({datasets_origin()})"]
    try:
        entries = manifest()
    except DataError as exc:
        lines.append(f"  manifest unreadable: {exc}")
    else:
        present = sum(entry.file.is_file() for entry in entries.values())
        lines.append(f"  {present} of {len(entries)} dataset(s) present; `tnkit data list` for the rest")
    for plugin, error in load_plugins().items():
        lines.append(f"  plug-in {plugin}: {'loaded' if error is None else 'failed: ' + error}")
    try:
        lines.append(f"validation: {validation_dir()}")
    except FileNotFoundError as exc:
        lines.append(f"validation: not found; {exc}")
    return lines


def _cmd_info(args: argparse.Namespace) -> int:
    print(f"tnkit {tnkit.__version__}  Python {platform.python_version()}  {platform.platform()}")
    for mod in (
        "numpy",
        "scipy",
        "array_api_compat",
        "array_api_strict",
        "opt_einsum",
        "h5py",
        "torch",
        "cupy",
        "e3nn",
        "quimb",
        "tensorly",
    ):
        v = _version_of(mod)
        print(f"  {mod:<18} {v if v is not None else 'not installed'}")
    for line in _gpu_summary():
        print(f"  {line}")
    for line in _data_summary():
        print(line)
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tnkit", description="tnkit: tensor networks and physics models")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p_info = sub.add_parser("info", help="versions, available backends, GPU presence")
    p_info.set_defaults(func=_cmd_info)

    add_data_parser(sub)
    add_validate_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``tnkit`` command: ``info``, ``data list|verify|generate`` and ``validate``.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        The exit status of the subcommand (``tnkit COMMAND --help`` says what each means).
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
