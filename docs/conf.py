"""Sphinx configuration of the tnkit documentation (``make docs``; warnings are errors).

The API pages, the validation and benchmark tables and the gallery are generated at build
time: the API pages from each package's ``__all__`` (``_ext/tnkit_docs.py``), the tables from
the records in ``validation/records/`` (the same renderers write the README's blocks), the
gallery by executing ``examples/plot_*.py`` (``TNKIT_DOCS_GALLERY=all`` also runs ``long_*.py``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import tnkit  # noqa: E402

project = "tnkit"
author = "the tnkit developers"
copyright = "2026, the tnkit developers"  # noqa: A001 (Sphinx's name)
release = tnkit.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "tnkit_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples/GALLERY_HEADER.rst", "**/sg_execution_times.rst"]
templates_path = ["_templates"]

# API reference: one stub page per public object, numpydoc sections, signatures as written.
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3

# The gallery: short examples run in every build (CI included), long ones only in `make docs-full`.
_ALL = os.environ.get("TNKIT_DOCS_GALLERY", "") == "all"
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "gallery",
    "filename_pattern": r"/(plot|long)_" if _ALL else r"/plot_",
    "ignore_pattern": r"/_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "within_subsection_order": "tnkit_docs.example_order",
    "show_memory": False,
    "min_reported_time": 1,
}

html_theme = "furo"
html_title = f"tnkit {release}"
html_static_path: list[str] = []
html_theme_options = {"navigation_with_keys": True}
pygments_style = "sphinx"
pygments_dark_style = "monokai"
