"""Plug-ins: packages that register dataset generators, schemas and manifests, found by entry point.

tnkit never names the packages that extend it. A distribution declares, in its
``pyproject.toml``::

    [project.entry-points."tnkit.datasets"]
    physics = "physics.data:register"

and ``register`` -- a public function taking no arguments -- calls
:func:`tnkit.io.register_generator`, :func:`tnkit.io.register_schema` and
:func:`tnkit.io.register_manifest` for what it ships. The entry points are read with
:func:`importlib.metadata.entry_points` the first time a manifest or generator is looked
up, and each plug-in is loaded once per process.
"""

from __future__ import annotations

from importlib import metadata

__all__ = ["ENTRY_POINT_GROUP", "load_plugins"]

ENTRY_POINT_GROUP = "tnkit.datasets"

# (name, value) of each entry point tried -> None once loaded, else why it failed.
_TRIED: dict[tuple[str, str], str | None] = {}


def load_plugins() -> dict[str, str | None]:
    """Load every plug-in declared under the ``tnkit.datasets`` entry-point group.

    A plug-in whose import or ``register()`` fails does not stop the others (a broken
    optional package must not break ``tnkit data list``); its error is returned.
    Plug-ins already loaded in this process are not loaded again.

    Returns
    -------
    dict of str to (str or None)
        Entry-point name -> None if it is loaded, else ``"ExceptionType: message"``.

    Examples
    --------
    >>> all(error is None for error in load_plugins().values())
    True
    """
    status: dict[str, str | None] = {}
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = (point.name, point.value)
        if key not in _TRIED:
            try:
                register = point.load()
                register()
            except Exception as exc:  # reported to the caller; the other plug-ins still load
                _TRIED[key] = f"{type(exc).__name__}: {exc}"
            else:
                _TRIED[key] = None
        status[point.name] = _TRIED[key]
    return status
