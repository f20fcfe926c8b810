"""The dataset manifest: which reference files exist, their checksums, how to remake them.

A manifest is a TOML file with one table per dataset::

    [svd_reference]
    path = "svd_reference.h5"          # relative to the datasets folder
    sha256 = "93f86347..."             # of the whole file (64 hex digits)
    size = 199104                      # bytes
    schema = "svd_reference"
    schema_version = 1
    provenance = "..."
    licence = "CC0-1.0"
    generate = "tnkit data generate svd_reference"

A dataset too large to commit is listed ``on_demand = true`` with the sha256 of each
array instead of the whole file's (a regenerated file differs in its ``created``
attribute, never in its arrays)::

    [darcy_421_85]
    on_demand = true
    path = "darcy_421_85.h5"
    arrays = { a = "5d1c...", u = "0b7e..." }
    schema = "operator_data_darcy"
    ...

``tnkit data generate NAME`` makes it and checks the arrays; ``verify`` reports it as not
generated (not as a failure) until then.

Each package ships the manifest of its own datasets as package data and registers it
with :func:`register_manifest` (tnkit's ``tnkit/io/manifest.toml``; plug-ins from their
entry point, see :func:`tnkit.io.load_plugins`); :func:`manifest` merges them. The files
live in one datasets folder (:func:`tnkit.io.datasets_dir`). A ``manifest.toml`` placed in
that folder replaces the shipped manifests (a shared cache, or a test's own data).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Any

from tnkit.io._errors import DataError
from tnkit.io._hdf5 import PathLike, array_sha256, sha256_file
from tnkit.io._locations import datasets_dir
from tnkit.io._plugins import load_plugins
from tnkit.io._reading import load
from tnkit.types import Array

__all__ = [
    "DatasetEntry",
    "register_manifest",
    "manifest_sources",
    "manifest",
    "dataset_entry",
    "dataset_path",
    "verify_dataset",
    "load_dataset",
]

MANIFEST_NAME = "manifest.toml"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELDS: dict[str, type] = {
    "path": str,
    "sha256": str,
    "size": int,
    "schema": str,
    "schema_version": int,
    "provenance": str,
    "licence": str,
    "generate": str,
}


@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """One dataset of the manifest.

    Attributes
    ----------
    name
        Table name, used by :func:`load_dataset` and ``tnkit data``.
    path
        File path relative to the datasets folder (POSIX separators).
    sha256, size
        Expected checksum and size in bytes of the whole file.
    schema, schema_version
        Expected ``tnkit_schema`` and ``schema_version`` root attributes.
    provenance, licence
        Where the data comes from, and under which licence it is shared.
    generate
        Shell command that regenerates the file.
    root
        The datasets folder the file lives in.
    on_demand, arrays
        An on-demand dataset is not committed; ``arrays`` maps each array name to
        its sha256 (:func:`tnkit.io.array_sha256`), and ``sha256``/``size`` are unused.
    """

    name: str
    path: str
    sha256: str
    size: int
    schema: str
    schema_version: int
    provenance: str
    licence: str
    generate: str
    root: Path
    on_demand: bool = False
    arrays: dict[str, str] | None = None

    @property
    def file(self) -> Path:
        """Absolute location of the dataset file."""
        return self.root / self.path


# Manifests shipped as package data, registered by tnkit.io and by plug-ins; keyed by
# their location so that registering twice (import, then entry point) is harmless.
_SHIPPED: dict[str, Traversable | Path] = {}


def register_manifest(source: Traversable | PathLike) -> None:
    """Add a manifest shipped with a package to those :func:`manifest` merges.

    Parameters
    ----------
    source
        The TOML file, typically ``importlib.resources.files("pkg") / "manifest.toml"``
        (so that it is found in a wheel, a zip or a source tree alike). Its ``path``
        entries are relative to :func:`tnkit.io.datasets_dir`, not to the file.

    Examples
    --------
    >>> from importlib import resources
    >>> register_manifest(resources.files("tnkit.io") / "manifest.toml")  # tnkit's own, again: no-op
    >>> any(str(s).endswith("manifest.toml") for s in manifest_sources())
    True
    """
    if not isinstance(source, Traversable):
        source = Path(source)
    _SHIPPED[str(source)] = source


def _local_manifest() -> Path | None:
    local = datasets_dir() / MANIFEST_NAME
    return local if local.is_file() else None


def manifest_sources() -> list[str]:
    """Where :func:`manifest` reads its entries from, in order.

    The datasets folder's own ``manifest.toml`` if it has one, else every registered
    shipped manifest (plug-ins loaded first).

    Examples
    --------
    >>> len(manifest_sources()) >= 1
    True
    """
    local = _local_manifest()
    if local is not None:
        return [str(local)]
    load_plugins()
    return list(_SHIPPED)


def _parse_entry(name: str, table: Any, source: str, root: Path) -> DatasetEntry:
    if not isinstance(table, dict):
        raise DataError.at(source, f"[{name}] must be a table")
    values: dict[str, Any] = {}
    on_demand = table.get("on_demand", False)
    if not isinstance(on_demand, bool):
        raise DataError.at(source, f"[{name}] on_demand must be true or false")
    arrays = table.get("arrays")
    if on_demand:
        if (
            not isinstance(arrays, dict)
            or not arrays
            or not all(isinstance(v, str) and _SHA256.fullmatch(v) for v in arrays.values())
        ):
            raise DataError.at(source, f"[{name}] an on_demand dataset needs arrays = {{name = sha256, ...}}")
        table = {"sha256": "0" * 64, "size": 0, **table}
    elif arrays is not None:
        raise DataError.at(source, f"[{name}] arrays is only for on_demand datasets")
    for field, kind in _FIELDS.items():
        if field not in table:
            raise DataError.at(source, f"[{name}] lacks the required key {field!r}")
        value = table[field]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise DataError.at(source, f"[{name}] {field} must be a {kind.__name__}, got {value!r}")
        values[field] = value
    if not _SHA256.fullmatch(values["sha256"]):
        raise DataError.at(source, f"[{name}] sha256 must be 64 lowercase hex digits")
    relative = PurePosixPath(values["path"])
    if relative.is_absolute() or ".." in relative.parts:
        raise DataError.at(source, f"[{name}] path {values['path']!r} must stay inside the datasets folder")
    return DatasetEntry(
        name=name,
        root=root,
        on_demand=on_demand,
        arrays=dict(arrays) if on_demand and isinstance(arrays, dict) else None,
        **values,
    )


def _read(source: Traversable | Path, root: Path) -> dict[str, DatasetEntry]:
    try:
        with source.open("rb") as handle:
            tables = tomllib.load(handle)
    except FileNotFoundError:
        raise DataError.at(str(source), "no such file") from None
    except IsADirectoryError:
        raise DataError.at(str(source), "is a folder, not a manifest file") from None
    except PermissionError:
        raise DataError.at(str(source), "no permission to read it") from None
    except UnicodeDecodeError:
        raise DataError.at(str(source), "not a text file (invalid UTF-8); a manifest is TOML") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError.at(str(source), f"invalid TOML ({exc})") from None
    except OSError as exc:
        raise DataError.caused_by(str(source), "cannot read it", exc) from None
    return {name: _parse_entry(name, table, str(source), root) for name, table in tables.items()}


def manifest(path: PathLike | None = None) -> dict[str, DatasetEntry]:
    """Read the dataset manifest.

    Parameters
    ----------
    path
        A ``manifest.toml`` or the folder holding one; its entries' files are
        relative to its folder. Default: the datasets folder's own
        ``manifest.toml`` if it has one, else the manifests shipped by tnkit and
        its plug-ins (:func:`register_manifest`), with files in
        :func:`tnkit.io.datasets_dir`.

    Returns
    -------
    dict of str to DatasetEntry
        Entries by name, in file order (tnkit's own first, then each plug-in's).

    Raises
    ------
    DataError
        If a manifest is missing, is not valid TOML, an entry lacks a field, or
        two shipped manifests list the same name.

    Examples
    --------
    >>> entry = manifest()["svd_reference"]
    >>> entry.schema, entry.generate
    ('svd_reference', 'tnkit data generate svd_reference')
    """
    if path is not None:
        given = Path(path)
        given = given / MANIFEST_NAME if given.is_dir() else given
        return _read(given, given.parent)
    local = _local_manifest()
    if local is not None:
        return _read(local, local.parent)
    load_plugins()
    root = datasets_dir()
    entries: dict[str, DatasetEntry] = {}
    origin: dict[str, str] = {}
    for key, source in list(_SHIPPED.items()):
        for name, entry in _read(source, root).items():
            if name in entries:
                raise DataError.at(key, f"[{name}] is also listed in {origin[name]}; dataset names must be unique")
            entries[name] = entry
            origin[name] = key
    return entries


def dataset_entry(name: str) -> DatasetEntry:
    """The manifest entry called ``name``.

    Parameters
    ----------
    name : str
        Dataset name in the manifest.

    Raises
    ------
    DataError
        ``unknown dataset 'x' (not in .../manifest.toml); known: a, b``.
    """
    entries = manifest()
    if name not in entries:
        known = ", ".join(entries) or "none"
        where = ", ".join(manifest_sources())
        raise DataError(f"unknown dataset {name!r} (not in {where}); known: {known}")
    return entries[name]


def dataset_path(name: str) -> Path:
    """Absolute path of dataset ``name`` (which may not exist yet).

    Parameters
    ----------
    name : str
        Dataset name in the manifest.
    """
    return dataset_entry(name).file


def verify_dataset(name: str) -> DatasetEntry:
    """Check that dataset ``name`` is present with the manifest's size and sha256.

    Parameters
    ----------
    name : str
        Dataset name in the manifest.

    Returns
    -------
    DatasetEntry
        The verified entry.

    Raises
    ------
    DataError
        If the name is unknown, or the file is missing, of the wrong size, or
        has the wrong checksum. The message names the file and how to remake it.
    """
    entry = dataset_entry(name)
    file = entry.file
    if not file.is_file():
        if entry.on_demand:
            raise DataError.at(file, f"not generated yet (on demand); make it with `{entry.generate}`")
        raise DataError.at(file, f"missing; regenerate with `{entry.generate}`")
    if entry.on_demand:
        check_arrays(entry, file)
        return entry
    size = file.stat().st_size
    if size != entry.size:
        raise DataError.at(
            file,
            f"size {size} bytes != {entry.size} in the manifest (truncated or replaced); "
            f"regenerate with `{entry.generate}`",
        )
    digest = sha256_file(file)
    if digest != entry.sha256:
        raise DataError.at(
            file,
            f"sha256 {digest[:12]}... != {entry.sha256[:12]}... in the manifest (corrupt or replaced); "
            f"regenerate with `{entry.generate}`",
        )
    return entry


def check_arrays(entry: DatasetEntry, file: PathLike) -> None:
    """Check that ``file`` holds the arrays of an on-demand ``entry`` (by content).

    Parameters
    ----------
    entry : DatasetEntry
        Manifest entry listing the arrays and their sha256.
    file : str or path
        The dataset file.

    Raises
    ------
    DataError
        If an array listed in the manifest is missing or has another sha256.
    """
    data = load(file, schema=entry.schema)
    expected = entry.arrays or {}
    found = {k: data[k] for k in expected if isinstance(data, dict) and k in data}
    missing = sorted(set(expected) - set(found))
    if missing:
        raise DataError.at(file, f"lacks array(s) {', '.join(missing)} listed in the manifest")
    for key, digest in expected.items():
        actual = array_sha256(found[key])
        if actual != digest:
            raise DataError.at(
                file,
                f"array {key!r} has sha256 {actual[:12]}... != {digest[:12]}... in the manifest (other parameters, "
                f"or last-bit differences of another software stack); regenerate with `{entry.generate}`",
            )


def load_dataset(name: str, *, like: Array | None = None) -> Any:
    """Verify dataset ``name`` against the manifest, then load it.

    Parameters
    ----------
    name
        Manifest entry name, e.g. ``"svd_reference"``.
    like
        Optional array; arrays come back in its library and on its device.

    Returns
    -------
    Any
        What :func:`tnkit.io.load` returns for the file.

    Raises
    ------
    DataError
        As :func:`verify_dataset` and :func:`tnkit.io.load` (with the manifest's
        schema expected).

    Examples
    --------
    >>> ref = load_dataset("svd_reference")
    >>> ref["a"].shape, ref["sigma"].shape
    ((200, 120), (120,))
    """
    entry = verify_dataset(name)
    return load(entry.file, schema=entry.schema, like=like)
