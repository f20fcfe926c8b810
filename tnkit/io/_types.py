"""Registries of schema names and of tnkit types that know how to be stored.

A *schema* is the name written to a file's ``tnkit_schema`` root attribute, with a
version that grows when the layout changes. Loading refuses files whose version is
newer than the one registered here, so old code never misreads new files.

A *registered type* is a class (MPS, Tucker, ...) that converts itself to a nested
dict of arrays and scalars and back. Its name doubles as its schema name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["register_schema", "register_type", "schema_version_supported", "StoredType"]

# Layouts tnkit.io itself writes for plain arrays and dicts.
BUILTIN_SCHEMAS = {"array": 1, "dict": 1}

_SCHEMAS: dict[str, int] = dict(BUILTIN_SCHEMAS)


@dataclasses.dataclass(frozen=True)
class StoredType:
    """How one registered class is written to and rebuilt from a dict."""

    cls: type
    name: str
    to_dict: Callable[[Any], Mapping[str, Any]]
    from_dict: Callable[[dict[str, Any]], Any]
    version: int


_BY_NAME: dict[str, StoredType] = {}


def _check_version(version: int) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"schema version must be an int >= 1, got {version!r}")


def register_schema(name: str, version: int = 1) -> None:
    """Declare a schema name and the newest version this code can read.

    Files saved with ``schema=name`` get this ``schema_version``; files whose
    version is larger are refused on load. Schemas never registered count as
    version 1.

    Parameters
    ----------
    name
        Schema name, e.g. ``"svd_reference"``.
    version
        Newest supported layout version (an int >= 1).

    Raises
    ------
    ValueError
        If ``name`` is a built-in layout (``"array"``, ``"dict"``) or ``version``
        is not a positive int.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"schema name must be a non-empty str, got {name!r}")
    if name in BUILTIN_SCHEMAS:
        raise ValueError(f"schema name {name!r} is reserved for tnkit.io's own layouts")
    _check_version(version)
    _SCHEMAS[name] = version


def schema_version_supported(name: str) -> int:
    """Newest version of schema ``name`` this code reads (1 when never registered)."""
    return _SCHEMAS.get(name, 1)


def _full_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_type(
    cls: type,
    name: str,
    to_dict: Callable[[Any], Mapping[str, Any]],
    from_dict: Callable[[dict[str, Any]], Any],
    version: int = 1,
) -> None:
    """Make instances of ``cls`` storable with :func:`tnkit.io.save`.

    Parameters
    ----------
    cls
        The class. Subclasses are stored through it unless registered themselves.
    name
        Stable name written to the file (also the default schema name).
    to_dict
        ``obj -> dict`` of arrays, nested dicts, scalars and strings.
    from_dict
        ``dict -> obj``; receives the same structure, arrays already in the
        library/device requested by ``load(..., like=...)``.
    version
        Layout version; bump it when ``to_dict`` changes what it writes. Files
        with a newer version are refused on load.

    Raises
    ------
    ValueError
        If ``name`` is reserved or already registered for a different class.

    Examples
    --------
    >>> class Pair:
    ...     def __init__(self, a, b):
    ...         self.a, self.b = a, b
    >>> register_type(Pair, "doc_pair", lambda p: {"a": p.a, "b": p.b},
    ...               lambda d: Pair(d["a"], d["b"]))
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_type: cls must be a class, got {cls!r}")
    existing = _BY_NAME.get(name)
    if existing is not None and _full_name(existing.cls) != _full_name(cls):
        raise ValueError(f"type name {name!r} is already registered for {_full_name(existing.cls)}")
    register_schema(name, version)
    _BY_NAME[name] = StoredType(cls, name, to_dict, from_dict, version)


def stored_type_of(obj: Any) -> StoredType | None:
    """The registration that stores ``obj`` (nearest registered base class), if any."""
    by_cls = {entry.cls: entry for entry in _BY_NAME.values()}
    for klass in type(obj).__mro__:
        if klass in by_cls:
            return by_cls[klass]
    return None


def stored_type_named(name: str) -> StoredType | None:
    """The registration called ``name``, if any."""
    return _BY_NAME.get(name)
