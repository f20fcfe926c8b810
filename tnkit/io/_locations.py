"""Where tnkit looks for data: an explicit setting, the source checkout, the per-user data folder.

A wheel installed into site-packages has no ``datasets/`` beside it, and the package's own
location says nothing about where a user keeps data, so the folders are found without
looking at ``__file__``. In order:

1. an explicit setting: the ``TNKIT_DATASETS`` environment variable;
2. the source checkout of a development install (``pip install -e .``): the installer
   records the folder it installed from (PEP 610, ``direct_url.json``), and its
   ``datasets/`` is the one the tests and validation cases were written against;
3. the per-user data folder (:func:`user_data_dir`, e.g. ``~/.local/share/tnkit/datasets``
   on Linux), where ``tnkit data generate NAME`` puts what a wheel install makes.

The folder need not exist yet: the first ``tnkit data generate`` creates it.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import platformdirs

__all__ = ["DATASETS_ENV", "datasets_dir", "datasets_origin", "source_checkout", "user_data_dir"]

DATASETS_ENV = "TNKIT_DATASETS"
DISTRIBUTION = "tnkit"


def source_checkout() -> Path | None:
    """The source folder of a development install of tnkit, or None.

    Read from the installer's record (PEP 610 ``direct_url.json``): only an editable
    install (``pip install -e PATH``) from a local folder counts; a wheel or a
    non-editable ``pip install .`` has its files copied into site-packages and no
    checkout to fall back on.

    Returns
    -------
    pathlib.Path or None
        The checkout's root folder, if it still exists.

    Examples
    --------
    >>> root = source_checkout()
    >>> root is None or (root / "pyproject.toml").is_file()
    True
    """
    # Every record of the name, not just the first: a build leaves a tnkit.egg-info in the
    # checkout, which shadows the installed dist-info when Python runs from that folder.
    for distribution in metadata.distributions(name=DISTRIBUTION):
        root = _editable_root(distribution.read_text("direct_url.json"))
        if root is not None:
            return root
    return None


def _editable_root(record: str | None) -> Path | None:
    if not record:
        return None
    try:
        info = json.loads(record)
    except json.JSONDecodeError:
        return None
    url = urlparse(str(info.get("url", "")))
    if not info.get("dir_info", {}).get("editable") or url.scheme != "file":
        return None
    root = Path(url2pathname(url.path))
    return root if root.is_dir() else None


def user_data_dir() -> Path:
    """The per-user tnkit data folder (created on first write, not here).

    ``platformdirs.user_data_path("tnkit")``: ``$XDG_DATA_HOME/tnkit`` (default
    ``~/.local/share/tnkit``) on Linux, ``~/Library/Application Support/tnkit`` on
    macOS, ``%LOCALAPPDATA%\\tnkit`` on Windows.

    Examples
    --------
    >>> user_data_dir().name
    'tnkit'
    """
    return platformdirs.user_data_path(DISTRIBUTION, appauthor=False)


def _datasets_dir_and_origin() -> tuple[Path, str]:
    override = os.environ.get(DATASETS_ENV)
    if override:
        return Path(override).expanduser().resolve(), DATASETS_ENV
    checkout = source_checkout()
    if checkout is not None and (checkout / "datasets").is_dir():
        return checkout / "datasets", "source checkout"
    return user_data_dir() / "datasets", "user data folder"


def datasets_dir() -> Path:
    """The datasets folder: ``$TNKIT_DATASETS``, the source checkout's, or the user's.

    See the module docstring for the order. The folder may not exist yet.

    Examples
    --------
    >>> datasets_dir().name in ("datasets",) or "TNKIT_DATASETS" in os.environ
    True
    """
    return _datasets_dir_and_origin()[0]


def datasets_origin() -> str:
    """Which rule chose :func:`datasets_dir`: ``"TNKIT_DATASETS"``, ``"source checkout"`` or ``"user data folder"``.

    Examples
    --------
    >>> datasets_origin() in ("TNKIT_DATASETS", "source checkout", "user data folder")
    True
    """
    return _datasets_dir_and_origin()[1]
