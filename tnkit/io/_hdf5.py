"""Save and load arrays, nested dicts and registered tnkit objects as HDF5 files.

Layout of a file written by :func:`save`:

* root attributes ``tnkit_schema``, ``schema_version``, ``created`` (ISO-8601
  UTC), ``generator`` (JSON: function + parameters), ``software`` (JSON: versions)
  and ``tnkit_layout`` (``"array"`` or ``"group"``);
* an array is the dataset ``/array``; a dict is the root group itself: arrays
  become datasets, nested dicts groups, and scalar/str leaves attributes;
* a registered object is a group tagged ``tnkit_type`` / ``tnkit_version``
  holding its ``to_dict()``;
* every dataset carries ``sha256``, the digest of its little-endian bytes,
  checked on load.

Writes go to ``<name>.tmp`` and are renamed into place only once complete and
fsynced. Datasets are created with ``track_times=False``, so the same content with
the same ``created`` gives byte-identical files. Nothing is ever pickled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import array_api_compat
import h5py
import numpy as np

from tnkit.backend import device_of, namespace, to_host
from tnkit.io._errors import DataError
from tnkit.io._types import (
    BUILTIN_SCHEMAS,
    StoredType,
    schema_version_supported,
    stored_type_named,
    stored_type_of,
)
from tnkit.types import Array
from tnkit.version import __version__

__all__ = ["save", "load", "provenance", "sha256_file", "array_sha256"]

ROOT_ATTRS = ("tnkit_schema", "schema_version", "created", "generator", "software")
_LAYOUT = "tnkit_layout"
_ROOT_ARRAY = "array"
_TYPE = "tnkit_type"
_TYPE_VERSION = "tnkit_version"
_SHA = "sha256"
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

    Raises
    ------
    DataError
        If the file does not exist.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise DataError.at(path, "no such file") from None
    return digest.hexdigest()


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
    dataset.attrs[_SHA] = array_sha256(host)


def _write_mapping(group: h5py.Group, mapping: Mapping[Any, Any]) -> None:
    for key, value in mapping.items():
        _check_key(key, group.name)
        _write_node(group, key, value)


def _write_object(group: h5py.Group, obj: Any, stored: StoredType) -> None:
    content = stored.to_dict(obj)
    if not isinstance(content, Mapping):
        raise TypeError(f"to_dict of {stored.name!r} returned {type(content).__name__}, expected a dict")
    group.attrs[_TYPE] = stored.name
    group.attrs[_TYPE_VERSION] = np.int64(stored.version)
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
    parent.attrs[key] = attribute


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """Yield ``<path>.tmp`` to write; on success fsync and rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        _fsync_path(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if os.name == "posix":
        # Make the rename itself durable.
        _fsync_path(path.parent, os.O_RDONLY)


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
    }
    with _atomic_target(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as handle:
            for key, value in root_attrs.items():
                handle.attrs[key] = value
            if default_schema == "array":
                handle.attrs[_LAYOUT] = "array"
                _write_array(handle, _ROOT_ARRAY, obj)
            else:
                handle.attrs[_LAYOUT] = "group"
                if stored is not None:
                    _write_object(handle, obj, stored)
                else:
                    _write_mapping(handle, obj)
    return path


# --------------------------------------------------------------------------------------
# Reading


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _open_fault(exc: OSError) -> str:
    reason = _one_line(exc)
    if "truncated" in reason:
        return f"truncated file ({reason})"
    if "signature" in reason:
        return f"not an HDF5 file ({reason})"
    return f"corrupt HDF5 file ({reason})"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _check_root(handle: h5py.File, path: Path, schema: str | None) -> dict[str, Any]:
    """Root attributes, after checking presence, schema name and version."""
    missing = [key for key in (*ROOT_ATTRS, _LAYOUT) if key not in handle.attrs]
    if missing:
        raise DataError.at(path, f"missing root attribute(s) {', '.join(missing)}; not a file written by tnkit.io.save")
    name = _text(handle.attrs["tnkit_schema"])
    if schema is not None and name != schema:
        raise DataError.at(path, f"wrong schema: file has {name!r}, expected {schema!r}")
    raw_version = handle.attrs["schema_version"]
    try:
        version = int(raw_version)
    except (TypeError, ValueError):
        raise DataError.at(path, f"schema_version {raw_version!r} is not an integer") from None
    supported = schema_version_supported(name)
    if version > supported:
        raise DataError.at(
            path,
            f"schema {name!r} written by a newer tnkit: version {version} > supported {supported}; upgrade tnkit",
        )
    layout = _text(handle.attrs[_LAYOUT])
    if layout not in ("array", "group"):
        raise DataError.at(path, f"unknown tnkit_layout {layout!r}")
    return {
        "schema": name,
        "schema_version": version,
        "created": _text(handle.attrs["created"]),
        "generator": _text(handle.attrs["generator"]),
        "software": _text(handle.attrs["software"]),
        "layout": layout,
    }


def _read_array(dataset: h5py.Dataset, path: Path) -> np.ndarray:
    if dataset.dtype.kind not in _ARRAY_KINDS:
        raise DataError.at(path, f"dataset {dataset.name!r} has unsupported dtype {dataset.dtype}")
    stored = dataset.attrs.get(_SHA)
    if stored is None:
        raise DataError.at(path, f"dataset {dataset.name!r} has no sha256 attribute")
    array = np.asarray(dataset[()])
    actual = array_sha256(array)
    if actual != _text(stored):
        raise DataError.at(
            path,
            f"checksum mismatch in dataset {dataset.name!r} "
            f"(stored sha256 {_text(stored)[:12]}..., computed {actual[:12]}...); the file is corrupt",
        )
    return array


def _attribute_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value


@dataclasses.dataclass
class _StoredObject:
    """A registered object as read from its group, not yet rebuilt."""

    stored: StoredType
    group_name: str
    content: dict[str, Any]


def _object_node(type_name: str, group: h5py.Group, content: dict[str, Any], path: Path) -> _StoredObject:
    stored = stored_type_named(type_name)
    if stored is None:
        raise DataError.at(
            path,
            f"group {group.name!r} holds a {type_name!r} object but no loader is registered for it; "
            "import the module that defines it first",
        )
    version = int(group.attrs.get(_TYPE_VERSION, 1))
    if version > stored.version:
        raise DataError.at(
            path,
            f"{type_name!r} object written by a newer tnkit: version {version} > supported "
            f"{stored.version}; upgrade tnkit",
        )
    return _StoredObject(stored, group.name, content)


def _read_group(group: h5py.Group, path: Path, *, root: bool) -> dict[str, Any] | _StoredObject:
    """The group as a tree of NumPy arrays, Python scalars and unbuilt objects."""
    content: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            content[key] = _read_group(item, path, root=False)
        elif isinstance(item, h5py.Dataset):
            content[key] = _read_array(item, path)
        else:
            raise DataError.at(path, f"unexpected HDF5 object {item.name!r} ({type(item).__name__})")
    for key, value in group.attrs.items():
        if key.startswith(_INTERNAL_PREFIX) or (root and key in ROOT_ATTRS):
            continue
        content[key] = _attribute_value(value)
    type_name = group.attrs.get(_TYPE)
    if type_name is None:
        return content
    return _object_node(_text(type_name), group, content, path)


def _materialize(tree: Any, convert: Callable[[np.ndarray], Array], path: Path) -> Any:
    """Move arrays to the requested library/device, then rebuild registered objects."""
    if isinstance(tree, np.ndarray):
        return convert(tree)
    if isinstance(tree, dict):
        return {key: _materialize(value, convert, path) for key, value in tree.items()}
    if isinstance(tree, _StoredObject):
        content = _materialize(tree.content, convert, path)
        try:
            return tree.stored.from_dict(content)
        except DataError:
            raise
        except Exception as exc:
            raise DataError.at(
                path,
                f"cannot rebuild {tree.stored.name!r} from group {tree.group_name!r}: "
                f"{type(exc).__name__}: {_one_line(exc)}",
            ) from exc
    return tree


def _converter(like: Array | None) -> Callable[[np.ndarray], Array]:
    if like is None:
        return lambda host: host
    xp = namespace(like)
    device = device_of(like)
    return lambda host: xp.asarray(host, device=device)


@contextlib.contextmanager
def _open_for_reading(path: Path) -> Iterator[h5py.File]:
    """Open ``path`` read-only; every failure to read it becomes a DataError."""
    if not path.exists():
        raise DataError.at(path, "no such file")
    if not path.is_file():
        raise DataError.at(path, "not a regular file")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise DataError.at(path, _open_fault(exc)) from None
    with handle:
        try:
            yield handle
        except DataError:
            raise
        except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise DataError.at(path, f"corrupt HDF5 content ({type(exc).__name__}: {_one_line(exc)})") from exc


def load(path: PathLike, *, schema: str | None = None, like: Array | None = None) -> Any:
    """Read a file written by :func:`save`, verifying its checksums.

    Parameters
    ----------
    path
        The HDF5 file.
    schema
        Expected ``tnkit_schema``; a different one raises :class:`DataError`.
    like
        An array; stored arrays are returned in its library, on its device (their
        stored dtype is kept). Default: NumPy arrays.

    Returns
    -------
    Any
        The array, the nested dict (scalar leaves as Python scalars), or the
        rebuilt registered object.

    Raises
    ------
    DataError
        If the file is missing, truncated, not HDF5, corrupt (checksum mismatch),
        of another schema, of a newer schema version, or lacks tnkit's root
        attributes. The message names the file and the fault.
    """
    path = Path(path)
    convert = _converter(like)
    with _open_for_reading(path) as handle:
        root = _check_root(handle, path, schema)
        if root["layout"] == "array":
            if _ROOT_ARRAY not in handle:
                raise DataError.at(path, f"layout 'array' but no dataset '/{_ROOT_ARRAY}'")
            tree: Any = _read_array(handle[_ROOT_ARRAY], path)
        else:
            tree = _read_group(handle, path, root=True)
    return _materialize(tree, convert, path)


def provenance(path: PathLike) -> dict[str, Any]:
    """The root attributes of a tnkit HDF5 file, without reading its arrays.

    Returns
    -------
    dict
        ``schema`` (str), ``schema_version`` (int), ``created`` (str),
        ``generator`` and ``software`` (decoded JSON dicts).

    Raises
    ------
    DataError
        As :func:`load`, for faults visible without reading the data.
    """
    path = Path(path)
    with _open_for_reading(path) as handle:
        root = _check_root(handle, path, None)
    del root["layout"]
    for key in ("generator", "software"):
        try:
            root[key] = json.loads(root[key])
        except json.JSONDecodeError as exc:
            raise DataError.at(path, f"root attribute {key!r} is not valid JSON ({exc.msg})") from None
    return root
