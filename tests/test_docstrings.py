"""The Examples sections of every module run and print what they claim.

Modules are discovered by walking ``tnkit`` and ``physics``, so a new module is checked
without being listed. A module whose public API has no example must be named in
``WITHOUT_EXAMPLES`` with the reason, so that a missing example is a decision, not an
oversight.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import physics
import tnkit

# Modules that hold no public function or class a user calls directly (package faces,
# registries, private helpers, command-line plumbing) and so carry no Examples section.
WITHOUT_EXAMPLES = {
    "tnkit.version": "one constant",
    "tnkit.cli": "command line; tested in tests/tnkit/cli",
    "tnkit.cli.data": "command line; tested in tests/tnkit/cli",
    "tnkit.validation": "the validation runner; tested in tests/tnkit/test_validation.py",
    "tnkit.io._errors": "one exception class",
    "tnkit.search.records": "result containers; examples in tnkit.search.greedy/local",
    "tnkit.search.engine": "private evaluation machinery",
    "tnkit.mps.interop": "needs quimb; tested in tests/tnkit/mps/test_mps.py",
    "tnkit.mps.charges": "used by dmrg's U(1) sectors, whose tests cover it",
    "tnkit.tree.projectors": "internal to the BUG integrators",
    "tnkit.tree.bug_schemes": "the BUG step schemes; examples in tnkit.tree.bug",
    "tnkit.tree.cores": "private core operations of tree networks; tested through TTN and BUG",
    "tnkit.decompositions.modes": "private mode algebra; tested through Tucker and CP",
    "physics.data._registry": "registers the dataset generators",
    "physics.operators._checks": "argument checks of the operator layers",
    "physics.pde._spectral": "wavenumber helpers of the spectral solvers",
}


def _modules() -> list[str]:
    names = []
    for pkg in (tnkit, physics):
        names.append(pkg.__name__)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + "."):
            if not info.name.endswith("__main__"):  # importing it would run the command line
                names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_module_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
    if name in WITHOUT_EXAMPLES:
        return
    is_package_face = hasattr(module, "__path__") and name != "tnkit"
    if attempted == 0 and not is_package_face:
        pytest.fail(f"{name} has no examples; add an Examples section or list it in WITHOUT_EXAMPLES with why")


# Public functions whose every parameter must be documented in a numpydoc Parameters
# section (the model builders and the operator trainer users reach for first).
FULLY_DOCUMENTED = ["tnkit.mps.models", "physics.operators.train"]


def _documented_parameters(doc: str) -> set[str]:
    import re

    section = re.search(r"^Parameters\n-+\n(.*?)(?:^\w[\w ]*\n-+\n|\Z)", doc, re.M | re.S)
    names: set[str] = set()
    for line in (section.group(1) if section else "").splitlines():
        head = re.match(r"^(\**\w+(?:, \**\w+)*)(?: :|$)", line)
        if head:
            names.update(n.strip().lstrip("*") for n in head.group(1).split(","))
    return names


@pytest.mark.parametrize("module", FULLY_DOCUMENTED)
def test_every_parameter_is_documented(module: str) -> None:
    import inspect

    mod = importlib.import_module(module)
    missing = {}
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if not inspect.isfunction(obj):
            continue
        params = [
            p.name
            for p in inspect.signature(obj).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        undocumented = set(params) - _documented_parameters(inspect.getdoc(obj) or "")
        if undocumented:
            missing[name] = sorted(undocumented)
    assert not missing, f"{module}: parameters without docs: {missing}"
