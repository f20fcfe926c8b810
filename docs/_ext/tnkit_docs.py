"""Build-time pages of the tnkit documentation.

* ``api/<package>.rst``: one page per public package, listing its ``__all__``; each object
  gets its own stub page (autosummary) at the first package that exports it, and later
  packages link to that page instead of documenting it twice.
* ``_generated/validation_table.md`` and ``_generated/bench_table.md``: the tables of the
  records in ``validation/records/``, rendered by the same functions that write the README's
  blocks (``tnkit validate --from-json``, ``validation/benchmarks/run.py --from-json``), so
  the two cannot drift.

Files are rewritten only when their text changes, so incremental builds stay incremental.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import re
import shutil
import types
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent

# (package, one line on what it holds), in the order of the API index.
API_PAGES: list[tuple[str, str]] = [
    ("tnkit.linalg", "Truncated and randomized SVD, QR/LQ, Krylov eigensolvers and matrix exponentials"),
    ("tnkit.decompositions", "Tucker, CP, tensor trains, TT-cross, tensor rings, Chebyshev–Tucker"),
    ("tnkit.mps", "Matrix product states and operators, models, DMRG, TEBD, TDVP"),
    ("tnkit.tree", "Tree tensor networks, Kronecker-sum operators, BUG integrators"),
    ("tnkit.network", "Tensor networks of any structure and their fits"),
    ("tnkit.search", "Structure search: greedy rank growth, TNLS, TnALE"),
    ("tnkit.run", "Run control: progress, checkpoints, resume, executors, plots"),
    ("tnkit.contract", "Planned, cached einsum contractions"),
    ("tnkit.backend", "Array-library dispatch (NumPy, CuPy, PyTorch, array API)"),
    ("tnkit.checks", "Argument checks shared by the entry points"),
    ("tnkit.io", "HDF5 with provenance and checksums, datasets, manifests, generators"),
    ("tnkit.validation", "The validation runner behind ``tnkit validate``"),
    ("physics.pde", "Reference PDE solvers: Navier–Stokes, Burgers, Darcy, Poisson, Helmholtz, GRFs, transport"),
    ("physics.data", "Operator-learning and molecular datasets"),
    ("physics.operators", "Neural operators (FNO, TFNO, MG-TFNO, MgNO, LSM) and their trainer"),
    ("physics.potentials", "Interatomic potentials (TensorNet, EGNN), fitting, ASE calculator, MD"),
    ("physics.equivariant", "Cartesian and irreducible tensor algebra; equivariance tests"),
    ("physics.training", "The shared trainer: sessions, EMA, optimisers, checkpoints, DDP"),
    ("physics.spin_chains", "Dense and sparse reference Hamiltonians and exact solutions"),
]


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ")
    return re.sub(r"\s*\[[\w-]+\]_", "", first)  # citations resolve only on the object's own page


def _stub_name(package: str, name: str, obj: Any) -> str:
    """The dotted name a stub documents ``obj`` under.

    The package's name, unless a submodule of the package has the same name (``tnkit.mps.dmrg``
    is a module and a function): autosummary would import the module, so such objects are
    named by the module that defines them.
    """
    is_package = hasattr(importlib.import_module(package), "__path__")
    if is_package and not isinstance(obj, types.ModuleType) and importlib.util.find_spec(f"{package}.{name}"):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"{package}.{name}"


def _is_documentable(obj: Any) -> bool:
    return inspect.isclass(obj) or inspect.isroutine(obj) or isinstance(obj, types.ModuleType)


def write_api_pages() -> None:
    canonical: dict[int, str] = {}
    index = [_title("API reference"), ""]
    index.append(
        "Every public name of ``tnkit`` and ``physics``, package by package, as listed in each "
        "package's ``__all__``. The names at the top level of ``tnkit`` (``tnkit.dmrg``, "
        "``tnkit.MPS``, ...) are shortcuts to these: see :doc:`tnkit`.\n"
    )
    index.append(".. toctree::\n   :maxdepth: 1\n\n   tnkit")
    for package, _ in API_PAGES:
        index.append(f"   {package}")
    index.append("")
    index.append(".. list-table::\n   :widths: 30 70\n")
    for package, blurb in API_PAGES:
        index.append(f"   * - :doc:`{package}`\n     - {blurb}")
    _write_if_changed(DOCS / "api" / "index.rst", "\n".join(index) + "\n")

    for package, _ in API_PAGES:
        module = importlib.import_module(package)
        documented, elsewhere = [], []
        for name in module.__all__:
            obj = getattr(module, name)
            key = id(obj)
            if _is_documentable(obj) and key in canonical:
                elsewhere.append((name, canonical[key]))
                continue
            stub = _stub_name(package, name, obj)
            if _is_documentable(obj):
                canonical[key] = stub
            if isinstance(obj, types.ModuleType):  # its page documents its members
                for member in getattr(obj, "__all__", ()):
                    canonical.setdefault(id(getattr(obj, member)), f"{stub}.{member}")
            documented.append(stub)
        lines = [_title(package), f".. automodule:: {package}\n   :no-members:\n   :no-index:\n"]
        lines.append(f".. currentmodule:: {package}\n")
        lines.append(".. autosummary::\n   :toctree: generated/\n   :nosignatures:\n")
        lines += [f"   {stub.removeprefix(package + '.')}" for stub in documented]
        if elsewhere:
            lines.append("\nAlso exported here, documented where they are defined:\n")
            lines += [f"* ``{package}.{name}``: :py:obj:`{target}`" for name, target in elsewhere]
        _write_if_changed(DOCS / "api" / f"{package}.rst", "\n".join(lines) + "\n")

    import tnkit

    lines = [_title("tnkit"), ".. automodule:: tnkit\n   :no-members:\n   :no-index:\n"]
    lines.append(
        "The top-level names are shortcuts: each is the object of the package named on the right, "
        "where it is documented.\n"
    )
    lines.append(".. list-table::\n   :widths: 25 35 40\n   :header-rows: 1\n")
    lines.append("   * - name\n     - documented as\n     - summary")
    for name in tnkit.__all__:
        obj = getattr(tnkit, name)
        if name.startswith("__"):
            continue
        target = canonical.get(id(obj))
        if target is None:
            continue
        lines.append(f"   * - ``tnkit.{name}``\n     - :py:obj:`{target}`\n     - {_summary(obj)}")
    _write_if_changed(DOCS / "api" / "tnkit.rst", "\n".join(lines) + "\n")


def example_order(filename: str) -> tuple[bool, str]:
    """The gallery's order: the short examples (``plot_*``) first, the long ones after, by file name."""
    return (Path(filename).name.startswith("long_"), Path(filename).name)


def _load_bench_runner() -> Any:
    path = ROOT / "validation" / "benchmarks" / "run.py"
    spec = importlib.util.spec_from_file_location("tnkit_bench_run", path)
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(name: str) -> dict[str, Any]:
    path = ROOT / "validation" / "records" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the documentation's tables are rendered from it (see docs/README)")
    return json.loads(path.read_text(encoding="utf-8"))


def write_tables() -> None:
    from tnkit.validation import records_table

    _write_if_changed(
        DOCS / "_generated" / "validation_table.md", records_table(_record("validation-quick.json")) + "\n"
    )
    bench = _load_bench_runner()
    _write_if_changed(DOCS / "_generated" / "bench_table.md", bench.markdown_table(_record("bench.json")) + "\n")


def _generate(app: Any, config: Any) -> None:
    # autosummary writes the stubs again; removing them first drops those of renamed objects
    shutil.rmtree(DOCS / "api" / "generated", ignore_errors=True)
    write_api_pages()
    write_tables()


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _generate)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
