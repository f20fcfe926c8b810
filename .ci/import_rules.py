"""Import rules that import-linter cannot express, checked on the source text.

1. No private name crosses a package: ``from tnkit.a.b import _x`` (or from a private
   module ``tnkit.a._b``) is allowed only inside ``tnkit.a``. Packages are the
   second-level folders (``tnkit.mps``, ``physics.operators``); top-level modules
   (``tnkit.backend``) form the package ``tnkit`` itself.
2. No function-level import of ``tnkit`` or ``physics``: an import inside a function
   hides a cycle or a layering violation from import-linter. Heavy optional third-party
   libraries (torch, matplotlib, ...) may still be imported lazily.

Usage: ``python .ci/import_rules.py tnkit physics``; prints one line per violation and
exits 1 if there is any.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

OWN = ("tnkit", "physics")


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def check_file(path: Path, root: Path) -> list[str]:
    rel = path.relative_to(root)
    module = ".".join(rel.with_suffix("").parts)
    if path.name == "__init__.py":
        module = module.removesuffix(".__init__")
    here = _package(module) if path.name != "__init__.py" or module.count(".") >= 1 else module
    tree = ast.parse(path.read_text(), filename=str(path))
    problems = []
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in OWN:
                    problems.append(f"{rel}:{node.lineno}: function-level import of {node.module}")
                elif isinstance(node, ast.Import) and any(a.name.split(".")[0] in OWN for a in node.names):
                    problems.append(f"{rel}:{node.lineno}: function-level import of {node.names[0].name}")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in OWN):
            continue
        target = _package(node.module)
        if target == here:
            continue
        private_module = any(_is_private(p) for p in node.module.split(".")[1:])
        private_names = [a.name for a in node.names if _is_private(a.name)]
        if private_module or private_names:
            what = node.module if private_module else f"{node.module}.{', '.join(private_names)}"
            problems.append(f"{rel}:{node.lineno}: private {what} imported from outside {target}")
    return problems


def main(argv: list[str]) -> int:
    root = Path.cwd()
    problems = []
    for top in argv or list(OWN):
        for path in sorted(Path(top).rglob("*.py")):
            problems += check_file(path.resolve(), root)
    problems = list(dict.fromkeys(problems))  # nested functions are walked once per enclosing one
    for line in problems:
        print(line)
    if problems:
        print(f"import rules: {len(problems)} violation(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
