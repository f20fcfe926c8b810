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


# The public API documented in the API reference: the functions and classes named in the
# ``__all__`` of every module without a private component, defined in tnkit or physics
# (re-exports in package faces are the same objects, counted once where they are defined),
# with the public methods, class/static methods and properties of those classes.


def _public_modules() -> list[str]:
    return [name for name in _modules() if not any(part.startswith("_") for part in name.split("."))]


def _ours(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in ("tnkit", "physics")


def _public_objects() -> dict[str, object]:
    import inspect

    found: dict[str, object] = {}
    for name in _public_modules():
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and _ours(obj):
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return dict(sorted(found.items()))


def _class_members(cls: type) -> dict[str, object]:
    """The public methods, class/static methods and properties a class has from tnkit/physics."""
    members: dict[str, object] = {}
    for klass in cls.__mro__:
        if not _ours(klass):
            continue
        for attr, value in vars(klass).items():
            if attr.startswith("_") or attr in members:
                continue
            if isinstance(value, (staticmethod, classmethod, property)) or callable(value):
                members[attr] = value
    return members


def _public_docstrings() -> dict[str, object]:
    """Every public object and class member, by dotted name (members once, where defined)."""
    import inspect

    found: dict[str, object] = {}
    for name, obj in _public_objects().items():
        found[name] = obj
        if inspect.isclass(obj):
            for attr, member in _class_members(obj).items():
                owner = next(k for k in obj.__mro__ if attr in vars(k))
                found.setdefault(f"{owner.__module__}.{owner.__qualname__}.{attr}", member)
    return found


def _documented_parameters(doc: str, sections: tuple[str, ...] = ("Parameters", "Other Parameters")) -> set[str]:
    """The names listed in a numpydoc docstring's parameter sections (``*args`` as ``args``)."""
    from numpydoc.docscrape import NumpyDocString

    parsed = NumpyDocString(doc)
    names: set[str] = set()
    for section in sections:
        for entry in parsed[section]:
            names.update(n.strip().strip("\\").lstrip("*") for n in entry.name.split(","))
    return names


def _undocumented(obj: object) -> list[str]:
    """Parameters of a function, method or class ``__init__`` missing from its docstring."""
    import dataclasses
    import inspect

    function = obj.__func__ if isinstance(obj, (staticmethod, classmethod)) else obj
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # no signature to check (a builtin slot)
        return []
    params = [p for p in signature.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    is_method = not isinstance(obj, staticmethod) and "." in getattr(function, "__qualname__", "")
    if (isinstance(obj, classmethod) or (is_method and not inspect.isclass(obj))) and params:
        if params[0].name in ("self", "cls"):
            params = params[1:]
    sections = ("Parameters", "Other Parameters")
    if inspect.isclass(obj) and (dataclasses.is_dataclass(obj) or hasattr(obj, "_fields")):
        sections += ("Attributes",)  # result containers may document their fields as attributes
    documented = _documented_parameters(inspect.getdoc(obj) or "", sections)
    return [p.name for p in params if p.name not in documented]


def test_every_parameter_is_documented() -> None:
    import inspect
    import warnings

    missing = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed sections are test_docstrings_render_cleanly's
        for name, obj in _public_docstrings().items():
            if isinstance(obj, property):
                if not (obj.__doc__ or "").strip():
                    missing[name] = "property without a docstring"
                continue
            if not (inspect.getdoc(obj) or "").strip():
                missing[name] = "no docstring"
                continue
            undocumented = _undocumented(obj)
            if undocumented:
                missing[name] = undocumented
    report = "\n".join(f"  {name}: {what}" for name, what in missing.items())
    assert not missing, f"{len(missing)} public objects with parameters not documented:\n{report}"


def _register_sphinx_markup() -> None:
    """Register the Sphinx roles and directives numpydoc output uses as no-ops for docutils."""
    from docutils import nodes
    from docutils.parsers.rst import Directive, directives, roles

    def role(name, rawtext, text, lineno, inliner, options=None, content=None):
        return [nodes.literal(rawtext, text)], []

    class AnyOption(dict):
        def __missing__(self, key):
            return directives.unchanged

    class NoOp(Directive):
        has_content = True
        optional_arguments = 10
        final_argument_whitespace = True
        option_spec = AnyOption()

        def run(self):
            return []

    # docutils' own ``math`` role and directive are kept: they parse without a LaTeX engine.
    names = ["func", "class", "meth", "mod", "attr", "obj", "exc", "data", "const", "any", "ref", "doc", "term"]
    for name in names + [f"py:{name}" for name in names[:9]]:
        roles.register_local_role(name, role)
    sphinx_directives = ["autosummary", "seealso", "versionadded", "versionchanged", "deprecated", "plot", "index"]
    for name in sphinx_directives + ["only"]:
        directives.register_directive(name, NoOp)


def _render_problems(obj: object) -> str:
    """The docutils warnings and numpydoc UserWarnings of one docstring rendered as Sphinx would."""
    import io
    import warnings

    from docutils.core import publish_doctree
    from numpydoc.docscrape_sphinx import get_doc_object

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if isinstance(obj, property):
            text = str(get_doc_object(obj, what="attribute", doc=obj.__doc__ or ""))
        else:
            text = str(get_doc_object(obj.__func__ if isinstance(obj, (staticmethod, classmethod)) else obj))
    stream = io.StringIO()
    publish_doctree(text, settings_overrides={"report_level": 2, "halt_level": 5, "warning_stream": stream})
    problems = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    return "\n".join(problems + [line for line in stream.getvalue().splitlines() if line.strip()])


def test_docstrings_render_cleanly() -> None:
    _register_sphinx_markup()
    failures = {}
    for name, obj in _public_docstrings().items():
        problems = _render_problems(obj)
        if problems:
            failures[name] = problems
    report = "\n".join(f"{name}:\n    " + problems.replace("\n", "\n    ") for name, problems in failures.items())
    assert not failures, f"{len(failures)} public docstrings render with warnings:\n{report}"
