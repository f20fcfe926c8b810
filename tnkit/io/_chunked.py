"""Resumable HDF5 writing for long jobs that produce arrays block by block along axis 0.

A :class:`ChunkedWriter` writes ``<name>.partial`` next to the target: the root
attributes of :func:`tnkit.io.save` (schema, version, created, generator, software),
every dataset pre-allocated at full size, and a counter ``tnkit_done`` of the leading
rows already written, flushed after every block. A killed job leaves the partial file;
opening the writer again with the same generator record resumes after the last
finished block (a different record is refused: nothing is overwritten). :meth:`finish`
adds each dataset's sha256 (streamed over the rows, so the digest is the one
:func:`tnkit.io.array_sha256` gives the whole array), fsyncs and renames the file onto
the target, where :func:`tnkit.io.load` reads it like any other.

Blocks are written in whole-row units, so the stored arrays do not depend on where a
run was interrupted: the same generator yields the same arrays (same checksums).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tnkit.io._errors import DataError
from tnkit.io._hdf5 import (
    _LAYOUT,
    _SHA,
    PathLike,
    _fsync_path,
    _generator_json,
    _software_json,
    _utc_timestamp,
    provenance,
)
from tnkit.io._types import schema_version_supported
from tnkit.types import Array, DType

__all__ = ["ChunkedWriter"]

_DONE = "tnkit_done"


class ChunkedWriter:
    """Write arrays of ``rows`` leading entries block by block, resumably.

    Parameters
    ----------
    path
        The final file.
    arrays
        ``{name: (shape, dtype)}``; every shape starts with the same ``rows``.
    schema, generator
        As in :func:`tnkit.io.save`. The generator record identifies the job: a partial
        or finished file with another record is refused.
    attrs
        Extra scalar / str root attributes (e.g. units).
    compression
        ``"gzip"`` (with byte shuffling) or None.
    chunk_rows
        HDF5 chunk height along axis 0 (default: 1 row).

    Use ``writer.done`` (rows already stored), ``writer.write(start, {name: block})`` and
    ``writer.finish()``; ``writer.complete`` says whether the final file already exists
    with this generator record (then there is nothing to do).

    Examples
    --------
    >>> import tempfile, os
    >>> from tnkit.io import load
    >>> path = os.path.join(tempfile.mkdtemp(), "squares.h5")
    >>> w = ChunkedWriter(path, {"x": ((4, 2), "float64")}, schema="doc_squares",
    ...                   generator={"function": "doc", "parameters": {"n": 4}})
    >>> for start in range(w.done, 4, 2):
    ...     w.write(start, {"x": np.full((2, 2), float(start))})
    >>> _ = w.finish()
    >>> load(path)["x"][:, 0].tolist()
    [0.0, 0.0, 2.0, 2.0]
    """

    def __init__(
        self,
        path: PathLike,
        arrays: Mapping[str, tuple[tuple[int, ...], DType]],
        *,
        schema: str,
        generator: Mapping[str, Any],
        attrs: Mapping[str, Any] | None = None,
        compression: str | None = None,
        chunk_rows: int = 1,
    ) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        if not arrays:
            raise ValueError("ChunkedWriter: arrays must name at least one dataset")
        rows = {int(shape[0]) for shape, _ in arrays.values() if len(shape) >= 1}
        if len(rows) != 1 or any(len(shape) < 1 for shape, _ in arrays.values()):
            raise ValueError("ChunkedWriter: every array needs the same leading length (rows)")
        self.rows = rows.pop()
        if compression not in (None, "gzip"):
            raise ValueError(f"ChunkedWriter: compression must be 'gzip' or None, got {compression!r}")
        self.arrays = {k: (tuple(int(s) for s in shape), np.dtype(dt)) for k, (shape, dt) in arrays.items()}
        self.schema = schema
        self.record = _generator_json(generator)
        self.complete = False
        self._handle: h5py.File | None = None
        if self.path.exists():
            if self._same_record(self.path):
                self.complete = True
                self.done = self.rows
                return
            raise DataError.at(
                self.path,
                "exists with other generator parameters; remove it or write elsewhere (nothing was overwritten)",
            )
        if self.partial.exists():
            self._handle = self._open_partial()
        else:
            self._handle = self._create(attrs or {}, compression, max(1, int(chunk_rows)))
        self.done = int(self._handle.attrs[_DONE])

    # ------------------------------------------------------------------ set-up
    def _same_record(self, path: Path) -> bool:
        info = provenance(path)
        return info["schema"] == self.schema and json.dumps(info["generator"], sort_keys=True) == self.record

    def _open_partial(self) -> h5py.File:
        try:
            handle = h5py.File(self.partial, "r+")
        except OSError as exc:
            raise DataError.at(self.partial, f"unreadable partial file ({exc}); remove it to start over") from None
        record = handle.attrs.get("generator")
        record = record.decode() if isinstance(record, bytes) else record
        same = record is not None and json.dumps(json.loads(record), sort_keys=True) == self.record
        layout_ok = _DONE in handle.attrs and all(
            k in handle and handle[k].shape == shape and handle[k].dtype == dt for k, (shape, dt) in self.arrays.items()
        )
        if not (same and layout_ok):
            handle.close()
            raise DataError.at(
                self.partial,
                "is a partial run with other generator parameters or layout; remove it "
                "or write elsewhere (nothing was overwritten)",
            )
        return handle

    def _create(self, attrs: Mapping[str, Any], compression: str | None, chunk_rows: int) -> h5py.File:
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        handle = h5py.File(self.partial, "w", track_order=True)
        handle.attrs["tnkit_schema"] = self.schema
        handle.attrs["schema_version"] = np.int64(schema_version_supported(self.schema))
        handle.attrs["created"] = _utc_timestamp(None)
        handle.attrs["generator"] = self.record
        handle.attrs["software"] = _software_json()
        handle.attrs[_LAYOUT] = "group"
        for key, value in attrs.items():
            handle.attrs[key] = value
        for key, (shape, dt) in self.arrays.items():
            opts: dict[str, Any] = {"track_times": False}
            if shape[0] > 0:
                opts["chunks"] = (min(chunk_rows, shape[0]),) + shape[1:]
            if compression == "gzip":
                opts.update(compression="gzip", compression_opts=4, shuffle=True)
            handle.create_dataset(key, shape=shape, dtype=dt, **opts)
        handle.attrs[_DONE] = np.int64(0)
        handle.flush()
        return handle

    # ------------------------------------------------------------------ writing
    def write(self, start: int, blocks: Mapping[str, Array]) -> None:
        """Store rows ``start : start + len`` of every array (all arrays at once), then
        advance :attr:`done`. Blocks must continue exactly where the last one ended."""
        if self._handle is None:
            raise RuntimeError("ChunkedWriter: the file is already finished")
        if start != self.done:
            raise ValueError(f"ChunkedWriter: block starts at row {start}, expected {self.done}")
        if set(blocks) != set(self.arrays):
            raise ValueError(f"ChunkedWriter: blocks must cover exactly {sorted(self.arrays)}, got {sorted(blocks)}")
        count = None
        for key, block in blocks.items():
            host = np.asarray(block)
            shape, dt = self.arrays[key]
            if host.shape[1:] != shape[1:] or (count is not None and host.shape[0] != count):
                raise ValueError(
                    f"ChunkedWriter: block {key!r} has shape {host.shape}, expected (k,) + {shape[1:]} "
                    "with one k for all arrays"
                )
            count = host.shape[0]
            if start + count > self.rows:
                raise ValueError(f"ChunkedWriter: rows {start}..{start + count} exceed the {self.rows} allocated")
            self._handle[key][start : start + count] = host.astype(dt, copy=False)
        self.done = start + int(count or 0)
        self._handle.attrs[_DONE] = np.int64(self.done)
        self._handle.flush()

    def finish(self) -> Path:
        """Checksum every dataset and move the file into place; returns the final path."""
        if self.complete:
            return self.path
        if self._handle is None:
            raise RuntimeError("ChunkedWriter: the file is already finished")
        if self.done != self.rows:
            raise ValueError(f"ChunkedWriter: only {self.done} of {self.rows} rows written")
        handle = self._handle
        for key, (shape, dt) in self.arrays.items():
            digest = hashlib.sha256()
            step = max(1, (1 << 24) // max(1, int(np.prod(shape[1:], dtype=np.int64)) * dt.itemsize))
            for a in range(0, shape[0], step):
                block = np.ascontiguousarray(handle[key][a : a + step], dtype=dt.newbyteorder("<"))
                # numpy's stubs declare the buffer protocol (__buffer__) only for Python >= 3.12
                digest.update(block.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
            handle[key].attrs[_SHA] = digest.hexdigest()
        del handle.attrs[_DONE]
        handle.close()
        self._handle = None
        _fsync_path(self.partial, os.O_RDONLY)
        os.replace(self.partial, self.path)
        if os.name == "posix":
            _fsync_path(self.path.parent, os.O_RDONLY)
        self.complete = True
        return self.path

    def close(self) -> None:
        """Close the partial file without finishing (it stays resumable)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "ChunkedWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
