"""Reading tnkit HDF5 files without trusting them.

A file may be truncated, damaged by flipped bytes, written by another program, or
crafted to make a reader leak or hang. :func:`load` and :func:`provenance`:

* open only regular files they may read, with every failure a one-line :class:`DataError`;
* verify every group's attribute digest (provenance included) and every dataset's sha256;
* refuse soft and external links, virtual datasets and external raw storage (a tnkit
  file never reaches another file or aliases its own objects), and objects reached twice;
* refuse datasets that declare more bytes than their storage could hold (a damaged
  shape must not allocate terabytes) or than the file has;
* with ``timeout=``, first read the whole file in a child process under that time limit,
  so that damage that would make the HDF5 library (C code, beyond any Python timeout)
  spin or crash is reported as a DataError instead of hanging or killing the caller.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tnkit.backend import device_of, namespace
from tnkit.io._errors import DataError, one_line
from tnkit.io._hdf5 import (
    _ARRAY_KINDS,
    _ATTRS_SHA,
    _FORMAT,
    _INTERNAL_PREFIX,
    _LAYOUT,
    _MAX_COMPRESSION,
    _ROOT_ARRAY,
    _SHA,
    _TYPE,
    _TYPE_VERSION,
    ATTRIBUTE_CLASSES,
    FORMAT,
    ROOT_ATTRS,
    PathLike,
    array_sha256,
    group_sha256,
    member_descriptor,
    readable_file,
)
from tnkit.io._types import StoredType, schema_version_supported, stored_type_named
from tnkit.types import Array

__all__ = ["load", "provenance"]

# Slack for HDF5's own bookkeeping when comparing a dataset's storage with the file size.
_SLACK = 1 << 20


def _open_fault(exc: OSError) -> str:
    reason = one_line(exc)
    if "truncated" in reason:
        return f"truncated file ({reason})"
    if "signature" in reason:
        return f"not an HDF5 file ({reason})"
    return f"corrupt HDF5 file ({reason})"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclasses.dataclass
class _StoredObject:
    """A registered object as read from its group, not yet rebuilt."""

    stored: StoredType
    group_name: str
    content: dict[str, Any]


class _Reader:
    """One pass over an open file: checks as it reads, remembers what it has visited."""

    def __init__(self, handle: h5py.File, path: Path, size: int) -> None:
        self.handle = handle
        self.path = path
        self.size = size
        self.seen: set[int] = set()
        self.format = 1
        self.root_attrs: dict[str, Any] = {}

    def fail(self, fault: str) -> DataError:
        return DataError.at(self.path, fault)

    # ------------------------------------------------------------------ attributes
    def attrs(self, obj: h5py.Group | h5py.Dataset) -> dict[str, Any]:
        """All attributes of ``obj``, each read only after its datatype proved one tnkit writes."""
        out = {}
        for name in obj.attrs:
            self.check_attr_type(obj, name)
            out[name] = obj.attrs[name]
        return out

    def check_attr_type(self, obj: h5py.Group | h5py.Dataset, name: str) -> None:
        """Refuse an attribute whose datatype tnkit never writes before its value is read
        (a damaged type, or a variable-length string in the global heap, can make HDF5
        crash or spin); files of format 1 held variable-length strings, so they may."""
        kind = h5py.h5a.open(obj.id, name.encode("utf-8", "surrogatepass")).get_type()
        if kind.get_class() not in ATTRIBUTE_CLASSES:
            raise self.fail(
                f"attribute {name!r} of {obj.name!r} has an HDF5 type tnkit never writes "
                f"(class {kind.get_class()}); the file is damaged"
            )
        if self.format >= 2 and kind.get_class() == h5py.h5t.STRING and kind.is_variable_str():
            raise self.fail(
                f"attribute {name!r} of {obj.name!r} is a variable-length string, which tnkit format "
                f"{self.format} never writes; the file is damaged"
            )

    def verify_group(self, group: h5py.Group) -> dict[str, Any]:
        """The group's attributes, after checking its digest (attributes and members)."""
        attrs = self.attrs(group)
        stored = attrs.get(_ATTRS_SHA)
        if stored is None:
            if self.format >= 2:
                raise self.fail(f"group {group.name!r} has no attribute digest; its attributes cannot be trusted")
            return attrs
        members = {name: member_descriptor(group, name) for name in group}
        if group_sha256(attrs, members) != _text(stored):
            raise self.fail(
                f"checksum mismatch in group {group.name!r} (its attributes, member names, dtypes or shapes); "
                "the file is corrupt"
            )
        return attrs

    def check_root(self, schema: str | None) -> dict[str, Any]:
        """Root attributes, after checking their digest, presence, schema name and version."""
        raw_format = 1
        if _FORMAT in self.handle.attrs:
            self.check_attr_type(self.handle, _FORMAT)
            raw_format = self.handle.attrs[_FORMAT]
        try:
            self.format = int(raw_format)
        except (TypeError, ValueError):
            raise self.fail(f"tnkit_format {_text(raw_format)!r} is not an integer") from None
        if self.format > FORMAT:
            raise self.fail(f"file format {self.format} is newer than this tnkit reads ({FORMAT}); upgrade tnkit")
        attrs = self.verify_group(self.handle)
        self.root_attrs = attrs
        missing = [key for key in (*ROOT_ATTRS, _LAYOUT) if key not in attrs]
        if missing:
            raise self.fail(f"missing root attribute(s) {', '.join(missing)}; not a file written by tnkit.io.save")
        name = _text(attrs["tnkit_schema"])
        if schema is not None and name != schema:
            raise self.fail(f"wrong schema: file has {name!r}, expected {schema!r}")
        raw_version = attrs["schema_version"]
        try:
            version = int(raw_version)
        except (TypeError, ValueError):
            raise self.fail(f"schema_version {_text(raw_version)!r} is not an integer") from None
        supported = schema_version_supported(name)
        if version > supported:
            raise self.fail(
                f"schema {name!r} written by a newer tnkit: version {version} > supported {supported}; upgrade tnkit"
            )
        layout = _text(attrs[_LAYOUT])
        if layout not in ("array", "group"):
            raise self.fail(f"unknown tnkit_layout {layout!r}")
        return {
            "schema": name,
            "schema_version": version,
            "created": _text(attrs["created"]),
            "generator": _text(attrs["generator"]),
            "software": _text(attrs["software"]),
            "layout": layout,
        }

    # ------------------------------------------------------------------ objects
    def child(self, group: h5py.Group, key: str) -> h5py.Group | h5py.Dataset:
        """``group[key]`` after refusing links and objects already visited."""
        where = f"{group.name.rstrip('/')}/{key}"
        link = group.get(key, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise self.fail(f"{where!r} is an external link to {link.filename!r}; refused (tnkit files hold no links)")
        if isinstance(link, h5py.SoftLink):
            raise self.fail(f"{where!r} is a soft link to {link.path!r}; refused (tnkit files hold no links)")
        if not isinstance(link, h5py.HardLink):
            raise self.fail(f"{where!r} is a {type(link).__name__}; refused (tnkit files hold no links)")
        item = group[key]
        address = h5py.h5o.get_info(item.id).addr
        if address in self.seen:
            raise self.fail(f"{where!r} is an object reached twice; refused (tnkit files share no objects)")
        self.seen.add(address)
        if not isinstance(item, (h5py.Group, h5py.Dataset)):
            raise self.fail(f"unexpected HDF5 object {where!r} ({type(item).__name__})")
        return item

    def read_array(self, dataset: h5py.Dataset) -> np.ndarray:
        name = dataset.name
        if dataset.dtype.kind not in _ARRAY_KINDS:
            raise self.fail(f"dataset {name!r} has unsupported dtype {dataset.dtype}")
        if dataset.is_virtual:
            raise self.fail(f"dataset {name!r} is virtual (maps other files); refused")
        plist = dataset.id.get_create_plist()
        if plist.get_external_count() > 0:
            raise self.fail(f"dataset {name!r} keeps its data in external files; refused")
        stored = self.attrs(dataset).get(_SHA)
        if stored is None:
            raise self.fail(f"dataset {name!r} has no sha256 attribute")
        declared = int(np.prod(dataset.shape, dtype=object)) * dataset.dtype.itemsize
        storage = int(dataset.id.get_storage_size())
        if storage > self.size + _SLACK:
            raise self.fail(f"dataset {name!r} claims {storage} bytes of storage, more than the file's {self.size}")
        limit = storage if plist.get_layout() in (h5py.h5d.CONTIGUOUS, h5py.h5d.COMPACT) else storage * _MAX_COMPRESSION
        if declared > limit + (0 if limit == storage else _SLACK):
            raise self.fail(
                f"dataset {name!r} declares shape {dataset.shape} ({declared} bytes) but stores {storage} bytes; "
                "the file is damaged"
            )
        try:
            array = np.asarray(dataset[()])
        except MemoryError:
            raise self.fail(f"dataset {name!r} ({declared} bytes) does not fit in memory") from None
        actual = array_sha256(array)
        if actual != _text(stored):
            raise self.fail(
                f"checksum mismatch in dataset {name!r} "
                f"(stored sha256 {_text(stored)[:12]}..., computed {actual[:12]}...); the file is corrupt"
            )
        return array

    def read_group(self, group: h5py.Group, *, root: bool) -> dict[str, Any] | _StoredObject:
        """The group as a tree of NumPy arrays, Python scalars and unbuilt objects."""
        attrs = self.root_attrs if root else self.verify_group(group)
        content: dict[str, Any] = {}
        for key in group.keys():
            item = self.child(group, key)
            if isinstance(item, h5py.Group):
                content[key] = self.read_group(item, root=False)
            else:
                content[key] = self.read_array(item)
        for key, value in attrs.items():
            if key.startswith(_INTERNAL_PREFIX) or (root and key in ROOT_ATTRS):
                continue
            content[key] = _attribute_value(value)
        type_name = attrs.get(_TYPE)
        if type_name is None:
            return content
        return self.object_node(_text(type_name), group, content, attrs)

    def object_node(
        self, type_name: str, group: h5py.Group, content: dict[str, Any], attrs: dict[str, Any]
    ) -> _StoredObject:
        stored = stored_type_named(type_name)
        if stored is None:
            raise self.fail(
                f"group {group.name!r} holds a {type_name!r} object but no loader is registered for it; "
                "import the module that defines it first"
            )
        raw = attrs.get(_TYPE_VERSION, 1)
        try:
            version = int(raw)
        except (TypeError, ValueError):
            raise self.fail(f"group {group.name!r}: tnkit_version {_text(raw)!r} is not an integer") from None
        if version > stored.version:
            raise self.fail(
                f"{type_name!r} object written by a newer tnkit: version {version} > supported "
                f"{stored.version}; upgrade tnkit"
            )
        return _StoredObject(stored, group.name, content)


def _attribute_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


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
                f"{type(exc).__name__}: {one_line(exc)}",
            ) from exc
    return tree


def _converter(like: Array | None) -> Callable[[np.ndarray], Array]:
    if like is None:
        return lambda host: host
    xp = namespace(like)
    device = device_of(like)
    return lambda host: xp.asarray(host, device=device)


@contextlib.contextmanager
def _open_for_reading(path: Path) -> Iterator[_Reader]:
    """Open ``path`` read-only; every failure to read it becomes a DataError."""
    size = readable_file(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise DataError.at(path, _open_fault(exc)) from None
    with handle:
        try:
            yield _Reader(handle, path, size)
        except DataError:
            raise
        except RecursionError:
            raise DataError.at(path, "groups nested too deeply; the file is damaged") from None
        except (OSError, KeyError, RuntimeError, ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise DataError.caused_by(path, "corrupt HDF5 content", exc) from None


def _probe(path: Path, timeout: float) -> None:
    """Load ``path`` in a child process within ``timeout`` seconds; raise what it found."""
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    code = "import sys; from tnkit.io._reading import _probe_main; _probe_main(sys.argv[1])"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        )
    except subprocess.TimeoutExpired:
        raise DataError.at(path, f"reading it did not finish within {timeout:g} s; the file is damaged") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise DataError.at(path, f"reading it crashed the HDF5 library (exit status {done.returncode}); damaged file")
    verdict = json.loads(lines[-1])
    if verdict is not None:
        raise DataError(verdict)


def _probe_main(path: str) -> None:
    """Entry point of the child process of :func:`_probe`: one JSON line, null when the file is sound."""
    try:
        load(path)
        verdict = None
    except DataError as exc:
        verdict = str(exc)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as a fault of the file
        verdict = str(DataError.caused_by(path, "unreadable", exc))
    print(json.dumps(verdict), flush=True)


def load(path: PathLike, *, schema: str | None = None, like: Array | None = None, timeout: float | None = None) -> Any:
    """Read a file written by :func:`tnkit.io.save`, verifying its checksums.

    Parameters
    ----------
    path
        The HDF5 file.
    schema
        Expected ``tnkit_schema``; a different one raises :class:`DataError`.
    like
        An array; stored arrays are returned in its library, on its device (their
        stored dtype is kept). Default: NumPy arrays.
    timeout
        Seconds. When given, the file is first read completely by a child process
        that must finish within this time (starting it takes about a second): a file
        damaged so that the HDF5 library would spin or crash on it gives a DataError
        instead. For files from untrusted sources; it reads the file twice.

    Returns
    -------
    Any
        The array, the nested dict (scalar leaves as Python scalars), or the
        rebuilt registered object.

    Raises
    ------
    DataError
        If the file is missing or unreadable, truncated, not HDF5, corrupt (a data or
        attribute checksum mismatch, an impossible size), holds links or references to
        other files, is of another schema or a newer schema version, or lacks tnkit's
        root attributes. The message is one line naming the file and the fault.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from tnkit.io import save
    >>> path = os.path.join(tempfile.mkdtemp(), "x.h5")
    >>> _ = save(path, {"a": np.arange(3.0), "note": "demo"})
    >>> load(path)["note"], provenance(path)["schema"]
    ('demo', 'dict')
    """
    path = Path(path)
    convert = _converter(like)
    if timeout is not None:
        readable_file(path)
        _probe(path, timeout)
    with _open_for_reading(path) as reader:
        root = reader.check_root(schema)
        if root["layout"] == "array":
            if _ROOT_ARRAY not in reader.handle:
                raise DataError.at(path, f"layout 'array' but no dataset '/{_ROOT_ARRAY}'")
            item = reader.child(reader.handle, _ROOT_ARRAY)
            if not isinstance(item, h5py.Dataset):
                raise DataError.at(path, f"layout 'array' but '/{_ROOT_ARRAY}' is a group")
            tree: Any = reader.read_array(item)
        else:
            tree = reader.read_group(reader.handle, root=True)
    return _materialize(tree, convert, path)


def provenance(path: PathLike) -> dict[str, Any]:
    """The root attributes of a tnkit HDF5 file (checksum-verified), without reading its arrays.

    Parameters
    ----------
    path : str or path
        A tnkit HDF5 file.

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
    with _open_for_reading(path) as reader:
        root = reader.check_root(None)
    del root["layout"]
    for key in ("generator", "software"):
        try:
            root[key] = json.loads(root[key])
        except json.JSONDecodeError as exc:
            raise DataError.at(path, f"root attribute {key!r} is not valid JSON ({exc.msg})") from None
    return root
