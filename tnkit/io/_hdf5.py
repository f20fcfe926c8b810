"""Save and load arrays, nested dicts and registered tnkit objects as HDF5 files.

Layout of a file written by :func:`save`:

* root attributes ``tnkit_schema``, ``schema_version``, ``created`` (ISO-8601
  UTC), ``generator`` (JSON: function + parameters), ``software`` (JSON: versions)
  and ``tnkit_layout`` (``"array"`` or ``"group"``);
* an array is the dataset ``/array``; a dict is the root group itself: arrays
  become datasets, nested dicts groups, and scalar/str leaves attributes;
* a registered object is a group tagged ``tnkit_type`` / ``tnkit_version``
  holding its ``to_dict()``;
* every dataset carries ``sha256``, the digest of its little-endian bytes, and every
  group ``tnkit_attrs_sha256``, the digest of its attributes (provenance included) and
  of its members' names, kinds, dtypes and shapes, both checked on load (files of format
  1, written before these digests, have none).

Writes go through :func:`tnkit.io.atomic_write` (a private temporary file, published
by one rename under the target's lock). Datasets are created with
``track_times=False``, so the same content with the same ``created`` gives
byte-identical files. Nothing is ever pickled.

Reading trusts nothing in the file: links (soft or external), virtual datasets and
external storage are refused, a dataset must not declare more bytes than its storage
could hold, and every fault becomes a one-line :class:`DataError`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import array_api_compat
import h5py
import numpy as np

from tnkit.backend import to_host
from tnkit.io._atomic import atomic_write
from tnkit.io._errors import DataError
from tnkit.io._types import (
    BUILTIN_SCHEMAS,
    StoredType,
    schema_version_supported,
    stored_type_of,
)
from tnkit.types import Array
from tnkit.version import __version__

__all__ = [
    "save",
    "sha256_file",
    "array_sha256",
    "group_sha256",
    "member_descriptor",
    "set_attr",
    "seal_groups",
    "readable_file",
]

ROOT_ATTRS = ("tnkit_schema", "schema_version", "created", "generator", "software")
_LAYOUT = "tnkit_layout"
_ROOT_ARRAY = "array"
_TYPE = "tnkit_type"
_TYPE_VERSION = "tnkit_version"
_SHA = "sha256"
_ATTRS_SHA = "tnkit_attrs_sha256"
_FORMAT = "tnkit_format"
# 2: every group carries the digest of its attributes and of its members' descriptors.
FORMAT = 2
# The HDF5 datatype classes of the attributes tnkit writes (bool is an enum, complex a
# compound); an attribute of another class is damage, and reading it can crash HDF5.
ATTRIBUTE_CLASSES = frozenset({h5py.h5t.INTEGER, h5py.h5t.FLOAT, h5py.h5t.STRING, h5py.h5t.COMPOUND, h5py.h5t.ENUM})
# No HDF5 filter tnkit uses compresses better than this (gzip tops out near 1032:1);
# a dataset declaring more bytes than its storage times this is damaged.
_MAX_COMPRESSION = 2048
_INTERNAL_PREFIX = "tnkit_"
# bool, signed/unsigned int, float, complex: what HDF5 stores natively and losslessly.
_ARRAY_KINDS = "biufc"
_READ_CHUNK = 1 << 20

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------------------
# Checksums


def array_sha256(a: np.ndarray) -> str:
    """Hex sha256 of an array's bytes in little-endian, C order.

    Parameters
    ----------
    a
        A NumPy array of any shape (empty and 0-d included).

    Returns
    -------
    str
        64 hex digits.
    """
    canonical = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    # numpy's stubs declare the buffer protocol (__buffer__) only for Python >= 3.12
    return hashlib.sha256(canonical.reshape(-1).view(np.uint8)).hexdigest()  # type: ignore[arg-type]


def sha256_file(path: PathLike) -> str:
    """Hex sha256 of a whole file, read in 1 MiB chunks.

    Parameters
    ----------
    path : str or path
        File to hash.

    Raises
    ------
    DataError
        If the file is missing, a folder or unreadable.
    """
    readable_file(Path(path))
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise DataError.at(path, f"cannot read it ({exc.strerror or exc})") from None
    return digest.hexdigest()


def readable_file(path: Path) -> int:
    """The size of ``path`` after checking it is a regular file we may read.

    Parameters
    ----------
    path : path
        File to check.

    Raises
    ------
    DataError
        No such file, a folder, not a regular file, or no permission (on the file or
        on a folder above it).
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError.at(path, "no such file") from None
    except PermissionError:
        raise DataError.at(path, "no permission to enter its folder") from None
    except OSError as exc:
        raise DataError.at(path, f"cannot reach it ({exc.strerror or exc})") from None
    if path.is_dir():
        raise DataError.at(path, "is a folder, not a file")
    if not path.is_file():
        raise DataError.at(path, "not a regular file")
    if not os.access(path, os.R_OK):
        raise DataError.at(path, "no permission to read it")
    return info.st_size


# --------------------------------------------------------------------------------------
# Root attributes


def _utc_timestamp(created: str | dt.datetime | None) -> str:
    """``created`` as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``; now (to the second) when None."""
    if created is None:
        moment = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    elif isinstance(created, dt.datetime):
        moment = created
    elif isinstance(created, str):
        try:
            moment = dt.datetime.fromisoformat(created)
        except ValueError:
            raise ValueError(f"created={created!r} is not an ISO-8601 timestamp") from None
    else:
        raise TypeError(f"created must be an ISO-8601 str, a datetime or None, got {type(created).__name__}")
    if moment.tzinfo is None:
        raise ValueError(f"created={created!r} has no timezone; give UTC, e.g. '2026-11-22T00:00:00Z'")
    moment = moment.astimezone(dt.timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _generator_json(generator: Mapping[str, Any] | None) -> str:
    record: dict[str, Any] = {"function": None, "parameters": {}}
    if generator is not None:
        if not isinstance(generator, Mapping) or "function" not in generator:
            raise ValueError("generator must be a mapping with a 'function' key (and optionally 'parameters')")
        record.update(generator)
    try:
        return json.dumps(record, sort_keys=True, default=_json_default)
    except TypeError as exc:
        raise TypeError(f"generator parameters must be JSON serialisable: {exc}") from None


def _software_json() -> str:
    versions = {
        "tnkit": __version__,
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "python": platform.python_version(),
    }
    return json.dumps(versions, sort_keys=True)


def _canonical_attr(value: Any) -> bytes:
    """Bytes that identify an attribute value (type, shape and content)."""
    if isinstance(value, str):
        return b"s" + value.encode("utf-8", "surrogatepass")
    if isinstance(value, bytes):
        return b"b" + value
    array = np.asarray(value)
    if array.dtype.kind not in _ARRAY_KINDS + "S":
        return b"o" + repr(value).encode()
    canonical = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    header = f"a{canonical.dtype.str}{canonical.shape}".encode()
    # numpy's stubs declare the buffer protocol (__buffer__) only for Python >= 3.12
    return header + canonical.reshape(-1).view(np.uint8).tobytes()


def set_attr(obj: h5py.Group | h5py.Dataset, name: str, value: Any) -> None:
    """Write one attribute the way tnkit reads it back safely.

    Text is stored as a fixed-length UTF-8 string in the object header, never as a
    variable-length string: those live in the file's global heap, whose damage can make
    the HDF5 library spin forever or crash while reading them.
    """
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        obj.attrs.create(name, np.array(data, dtype=h5py.string_dtype("utf-8", max(len(data), 1))))
    else:
        obj.attrs[name] = value


def member_descriptor(group: h5py.Group, name: str) -> str:
    """What a group member is, without following links: ``d<dtype><shape>``, ``g`` or ``l:<kind>``."""
    link = group.get(name, getlink=True)
    if not isinstance(link, h5py.HardLink):
        return f"l:{type(link).__name__}"
    item = group[name]
    if isinstance(item, h5py.Dataset):
        return f"d{item.dtype.str}{tuple(item.shape)}"
    return "g" if isinstance(item, h5py.Group) else f"o:{type(item).__name__}"


def group_sha256(attrs: Mapping[str, Any], members: Mapping[str, str]) -> str:
    """Hex sha256 of a group's attributes (names and values; its own digest excluded) and
    of its members (names and :func:`member_descriptor`)."""
    digest = hashlib.sha256()

    def feed(*parts: bytes) -> None:
        for part in parts:
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)

    for name in sorted(attrs):
        if name != _ATTRS_SHA:
            feed(name.encode("utf-8", "surrogatepass"), _canonical_attr(attrs[name]))
    feed(b"members")
    for name in sorted(members):
        feed(name.encode("utf-8", "surrogatepass"), members[name].encode())
    return digest.hexdigest()


def seal_groups(handle: h5py.File) -> None:
    """Record every group's digest (call last, once everything is written)."""
    groups: list[h5py.Group] = [handle]
    handle.visititems(lambda _, obj: groups.append(obj) if isinstance(obj, h5py.Group) else None)
    for group in groups:
        members = {name: member_descriptor(group, name) for name in group}
        set_attr(group, _ATTRS_SHA, group_sha256(dict(group.attrs.items()), members))


# --------------------------------------------------------------------------------------
# Writing


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or (
        not isinstance(value, np.generic) and array_api_compat.is_array_api_obj(value)
    )


def _as_attribute(value: Any) -> Any | None:
    """``value`` as an HDF5 attribute value, or None when it is not a scalar/str leaf."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise TypeError(f"int leaf {value} does not fit in int64")
        return np.int64(value)
    if isinstance(value, float):
        return np.float64(value)
    if isinstance(value, complex):
        return np.complex128(value)
    if isinstance(value, np.number):
        return value
    return None


def _check_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key or "/" in key or key == ".":
        raise ValueError(f"key {key!r} at {where}: keys must be non-empty str without '/'")
    return key


def _write_array(parent: h5py.Group, key: str, value: Array) -> None:
    host = np.asarray(value if isinstance(value, np.ndarray) else to_host(value))
    if host.dtype.kind not in _ARRAY_KINDS:
        raise TypeError(
            f"array {parent.name.rstrip('/')}/{key} has dtype {host.dtype}; "
            "only bool, integer, float and complex arrays can be stored"
        )
    dataset = parent.create_dataset(key, data=host, track_times=False)
    set_attr(dataset, _SHA, array_sha256(host))


def _write_mapping(group: h5py.Group, mapping: Mapping[Any, Any]) -> None:
    for key, value in mapping.items():
        _check_key(key, group.name)
        _write_node(group, key, value)


def _write_object(group: h5py.Group, obj: Any, stored: StoredType) -> None:
    content = stored.to_dict(obj)
    if not isinstance(content, Mapping):
        raise TypeError(f"to_dict of {stored.name!r} returned {type(content).__name__}, expected a dict")
    set_attr(group, _TYPE, stored.name)
    set_attr(group, _TYPE_VERSION, np.int64(stored.version))
    _write_mapping(group, content)


def _write_node(parent: h5py.Group, key: str, value: Any) -> None:
    stored = stored_type_of(value)
    if stored is not None:
        _write_object(parent.create_group(key, track_order=True), value, stored)
        return
    if isinstance(value, Mapping):
        _write_mapping(parent.create_group(key, track_order=True), value)
        return
    if _is_array(value):
        _write_array(parent, key, value)
        return
    attribute = _as_attribute(value)
    if attribute is None:
        raise TypeError(
            f"cannot store {type(value).__name__} at {parent.name.rstrip('/')}/{key}: expected an array, "
            "a dict, a scalar, a str or a type registered with tnkit.io.register_type"
        )
    if key.startswith(_INTERNAL_PREFIX) or (parent.name == "/" and key in ROOT_ATTRS):
        raise ValueError(f"key {key!r} is reserved for tnkit's own attributes")
    set_attr(parent, key, attribute)


def save(
    path: PathLike,
    obj: Any,
    *,
    schema: str | None = None,
    generator: Mapping[str, Any] | None = None,
    created: str | dt.datetime | None = None,
) -> Path:
    """Write ``obj`` to an HDF5 file, atomically, with provenance and checksums.

    Parameters
    ----------
    path
        Destination, conventionally ending in ``.h5``. An existing file is replaced
        only once the new one is complete.
    obj
        An array (NumPy, PyTorch, CuPy, any array API library; copied to the host),
        a nested dict of arrays / dicts / scalars / str, or an instance of a type
        registered with :func:`tnkit.io.register_type`.
    schema
        Name for the ``tnkit_schema`` attribute. Default: ``"array"``, ``"dict"``
        or the registered type name. Its ``schema_version`` comes from
        :func:`tnkit.io.register_schema` (1 when never registered).
    generator
        ``{"function": "module.name", "parameters": {...}}`` describing how the
        data was made; stored as JSON. Default ``{"function": null, ...}``.
    created
        Creation time, timezone-aware; default now. Pass a fixed value to make
        files reproducible byte for byte.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    TypeError
        If ``obj`` (or a leaf of it) cannot be stored.
    ValueError
        If a key is invalid or reserved, or ``created`` is not UTC-convertible.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.h5")
    >>> from tnkit.io import load
    >>> _ = save(path, {"a": np.eye(2), "note": "identity"})
    >>> sorted(load(path))
    ['a', 'note']
    """
    path = Path(path)
    stored = stored_type_of(obj)
    if stored is not None:
        default_schema = stored.name
    elif isinstance(obj, Mapping):
        default_schema = "dict"
    elif _is_array(obj):
        default_schema = "array"
    else:
        raise TypeError(
            f"cannot save {type(obj).__name__}: expected an array, a dict or a type registered "
            "with tnkit.io.register_type"
        )
    if schema is not None and schema in BUILTIN_SCHEMAS and schema != default_schema:
        raise ValueError(f"schema {schema!r} is reserved; this object's layout is {default_schema!r}")
    schema_name = schema if schema is not None else default_schema
    root_attrs = {
        "tnkit_schema": schema_name,
        "schema_version": np.int64(schema_version_supported(schema_name)),
        "created": _utc_timestamp(created),
        "generator": _generator_json(generator),
        "software": _software_json(),
        _FORMAT: np.int64(FORMAT),
    }
    with atomic_write(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as handle:
            for key, value in root_attrs.items():
                set_attr(handle, key, value)
            if default_schema == "array":
                set_attr(handle, _LAYOUT, "array")
                _write_array(handle, _ROOT_ARRAY, obj)
            else:
                set_attr(handle, _LAYOUT, "group")
                if stored is not None:
                    _write_object(handle, obj, stored)
                else:
                    _write_mapping(handle, obj)
            seal_groups(handle)
    return path
