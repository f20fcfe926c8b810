"""Resumable HDF5 writing for long jobs that produce arrays block by block along axis 0.

A :class:`ChunkedWriter` writes ``<name>.partial`` next to the target: the root
attributes of :func:`tnkit.io.save` (schema, version, created, generator, software),
every dataset pre-allocated at full size, and for every finished block its row range
and the sha256 of its rows, flushed after every block. A killed job leaves the partial
file; opening the writer again with the same generator record verifies the recorded
blocks and resumes after the last block whose rows still match their digests (a torn or
damaged block is recomputed, with a warning; a partial file of another record is
refused: nothing is overwritten). :meth:`finish` verifies every block once more, adds
each dataset's sha256 (streamed over the rows, so the digest is the one
:func:`tnkit.io.array_sha256` gives the whole array) and the attribute digests, fsyncs
and renames the file onto the target, where :func:`tnkit.io.load` reads it like any other.

The writer holds the target's lock (:func:`tnkit.io.atomic_write`) from opening to
:meth:`finish` or :meth:`close`: a second run on the same file is told that it is in use
by another process. Closing a writer that stored no rows removes its partial file, so a
run that fails before its first block (a bad backend, a missing dependency) leaves
nothing behind.

Blocks are written in whole-row units, so the stored arrays do not depend on where a
run was interrupted: the same generator yields the same arrays (same checksums).

Ragged data (structures of different atom counts stored flat, as
:class:`physics.potentials.Frames` holds them) is written as *ragged* arrays: each names
a per-row count array of the same file, and the rows ``start : stop`` of a block carry
the ragged array's entries ``offsets[start] : offsets[stop]`` (``offsets`` the running
sum of the counts), checksummed and resumed with their block like every other array.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tnkit.io._atomic import fsync_path, target_lock
from tnkit.io._errors import DataError, one_line
from tnkit.io._hdf5 import (
    _FORMAT,
    _LAYOUT,
    _SHA,
    FORMAT,
    PathLike,
    _generator_json,
    _software_json,
    _utc_timestamp,
    array_sha256,
    seal_groups,
    set_attr,
)
from tnkit.io._reading import provenance
from tnkit.io._types import schema_version_supported
from tnkit.types import Array, DType

__all__ = ["ChunkedWriter"]

_DONE = "tnkit_done"
_BLOCKS = "tnkit_blocks"  # (n, 2) int64: start, stop of each finished block
_BLOCK_SHA = "tnkit_block_sha"  # (n, n_arrays) S64: sha256 of each block's rows, arrays in sorted order
# Rows hashed per read when streaming a whole dataset (bytes).
_STREAM_BYTES = 1 << 24


def _rows_sha256(rows: np.ndarray) -> bytes:
    """The digest of a block's rows as stored in the block records (ASCII hex)."""
    return array_sha256(np.asarray(rows)).encode()


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
        HDF5 chunk height along axis 0 (default: 1 row; for a ragged array, this many
        times its mean entries per row).
    ragged
        ``{name: counts}``: arrays whose leading length is the total of the per-row integer
        array ``counts`` (one of ``arrays``, ``rows`` long) rather than ``rows``; a block of
        rows carries ``sum(counts[start:stop])`` of their entries.

    Use ``writer.done`` (rows already stored), ``writer.write(start, {name: block})`` and
    ``writer.finish()``; ``writer.complete`` says whether the final file already exists
    with this generator record (then there is nothing to do).

    Raises
    ------
    DataError
        The target or its partial file belongs to another record, the partial file is
        in use by another process, or the folder cannot be written.

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
        ragged: Mapping[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        if not arrays:
            raise ValueError("ChunkedWriter: arrays must name at least one dataset")
        self.ragged = dict(ragged or {})
        for key, counts in self.ragged.items():
            if key not in arrays or counts not in arrays or counts in self.ragged:
                raise ValueError(
                    f"ChunkedWriter: ragged array {key!r} and its counts {counts!r} must both be arrays of the file, "
                    "the counts not ragged themselves"
                )
            if len(arrays[counts][0]) != 1 or np.dtype(arrays[counts][1]).kind not in "iu":
                raise ValueError(f"ChunkedWriter: counts {counts!r} must be a 1-d integer array")
        rows = {int(shape[0]) for key, (shape, _) in arrays.items() if len(shape) >= 1 and key not in self.ragged}
        if len(rows) != 1 or any(len(shape) < 1 for shape, _ in arrays.values()):
            raise ValueError("ChunkedWriter: every array needs the same leading length (rows)")
        self.rows = rows.pop()
        if compression not in (None, "gzip"):
            raise ValueError(f"ChunkedWriter: compression must be 'gzip' or None, got {compression!r}")
        self.arrays = {k: (tuple(int(s) for s in shape), np.dtype(dt)) for k, (shape, dt) in arrays.items()}
        self._keys = sorted(self.arrays)
        self.schema = schema
        self.record = _generator_json(generator)
        self.complete = False
        self.done = 0
        self._handle: h5py.File | None = None
        self._lock = contextlib.ExitStack()
        if not self.path.parent.is_dir():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock.enter_context(target_lock(self.path, wait=0))
        try:
            if self.path.exists():
                if not self._same_record(self.path):
                    raise DataError.at(
                        self.path,
                        "exists with other generator parameters; remove it or write elsewhere "
                        "(nothing was overwritten)",
                    )
                self.complete = True
                self.done = self.rows
                self._lock.close()
                return
            if self.partial.exists():
                self._handle = self._open_partial()
            if self._handle is None:
                self._handle = self._create(attrs or {}, compression, max(1, int(chunk_rows)))
            self.done = self._resume_point(self._handle)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ set-up
    def _same_record(self, path: Path) -> bool:
        info = provenance(path)
        return info["schema"] == self.schema and json.dumps(info["generator"], sort_keys=True) == self.record

    def _open_partial(self) -> h5py.File | None:
        """The partial file of an earlier run of this record; None after setting a damaged one aside."""
        handle = None
        try:
            handle = h5py.File(self.partial, "r+")
            raw = handle.attrs["generator"]
            record = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        except (OSError, KeyError, RuntimeError, ValueError, TypeError, UnicodeDecodeError) as exc:
            if handle is not None:
                handle.close()
            self._set_aside(f"damaged partial file ({type(exc).__name__}: {one_line(exc)})")
            return None
        same = json.dumps(record, sort_keys=True) == self.record
        layout_ok = all(
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

    def _set_aside(self, why: str) -> None:
        aside = self.partial.with_name(self.partial.name + ".damaged")
        os.replace(self.partial, aside)
        warnings.warn(f"{self.partial}: {why}; moved to {aside.name}, starting afresh", stacklevel=4)

    def _create(self, attrs: Mapping[str, Any], compression: str | None, chunk_rows: int) -> h5py.File:
        handle = h5py.File(self.partial, "w", track_order=True)
        set_attr(handle, "tnkit_schema", self.schema)
        set_attr(handle, "schema_version", np.int64(schema_version_supported(self.schema)))
        set_attr(handle, "created", _utc_timestamp(None))
        set_attr(handle, "generator", self.record)
        set_attr(handle, "software", _software_json())
        set_attr(handle, _LAYOUT, "group")
        for key, value in attrs.items():
            set_attr(handle, key, value)
        for key, (shape, dt) in self.arrays.items():
            opts: dict[str, Any] = {"track_times": False}
            if shape[0] > 0:
                height = chunk_rows if key not in self.ragged else -(-chunk_rows * shape[0] // max(self.rows, 1))
                opts["chunks"] = (max(1, min(height, shape[0])),) + shape[1:]
            if compression == "gzip":
                opts.update(compression="gzip", compression_opts=4, shuffle=True)
            handle.create_dataset(key, shape=shape, dtype=dt, **opts)
        self._new_block_records(handle)
        handle.attrs[_DONE] = np.int64(0)
        handle.flush()
        return handle

    def _new_block_records(self, handle: h5py.File) -> None:
        for name in (_BLOCKS, _BLOCK_SHA):
            if name in handle:
                del handle[name]
        handle.create_dataset(_BLOCKS, shape=(0, 2), maxshape=(None, 2), dtype=np.int64, chunks=(256, 2))
        n = len(self._keys)
        handle.create_dataset(_BLOCK_SHA, shape=(0, n), maxshape=(None, n), dtype="S64", chunks=(256, n))

    def _verified_blocks(self, handle: h5py.File) -> tuple[np.ndarray, np.ndarray, int]:
        """Blocks, their digests and the number of leading blocks whose rows match them."""
        try:
            blocks = np.asarray(handle[_BLOCKS][()], dtype=np.int64)
            digests = np.asarray(handle[_BLOCK_SHA][()])
        except (KeyError, OSError, ValueError):
            return np.zeros((0, 2), np.int64), np.zeros((0, len(self._keys)), "S64"), 0
        good, expect = 0, 0
        offsets = self._stored_offsets(handle)
        for (start, stop), row in zip(blocks, digests):
            if start != expect or not expect <= stop <= self.rows or len(row) != len(self._keys):
                break
            try:
                ok = all(
                    _rows_sha256(handle[k][self._span(offsets, k, start, stop)]) == row[i]
                    for i, k in enumerate(self._keys)
                )
            except (OSError, ValueError):
                ok = False
            if not ok:
                break
            good, expect = good + 1, int(stop)
        return blocks, digests, good

    def _stored_offsets(self, handle: h5py.File) -> dict[str, np.ndarray]:
        """Running sums (``rows + 1``) of each counts array as stored (damage shows in the digests)."""
        offsets = {}
        for counts in set(self.ragged.values()):
            try:
                stored = np.clip(np.asarray(handle[counts][()], dtype=np.int64), 0, None)
            except (KeyError, OSError, ValueError):
                stored = np.zeros(self.rows, dtype=np.int64)
            offsets[counts] = np.concatenate([[0], np.cumsum(stored)])
        return offsets

    def _span(self, offsets: Mapping[str, np.ndarray], key: str, start: int, stop: int) -> slice:
        """The entries of array ``key`` that rows ``start : stop`` hold."""
        if key not in self.ragged:
            return slice(start, stop)
        running = offsets[self.ragged[key]]
        return slice(int(running[start]), int(running[stop]))

    def _resume_point(self, handle: h5py.File) -> int:
        """Rows to resume after: the verified prefix of blocks (damaged or torn ones are dropped)."""
        blocks, _, good = self._verified_blocks(handle)
        done = int(blocks[good - 1, 1]) if good else 0
        counter = int(handle.attrs.get(_DONE, -1))
        if good < len(blocks) or counter != done:
            warnings.warn(
                f"{self.partial}: rows {done}..{max(counter, int(blocks[-1, 1]) if len(blocks) else 0)} "
                "failed their checksums or were not recorded; recomputing them",
                stacklevel=3,
            )
            if good:
                handle[_BLOCKS].resize(good, axis=0)
                handle[_BLOCK_SHA].resize(good, axis=0)
            else:
                self._new_block_records(handle)
            handle.attrs[_DONE] = np.int64(done)
            handle.flush()
        return done

    # ------------------------------------------------------------------ writing
    def write(self, start: int, blocks: Mapping[str, Array]) -> None:
        """Store rows ``start : start + len`` of every array (all arrays at once), then
        advance :attr:`done`. Blocks must continue exactly where the last one ended.

        Parameters
        ----------
        start : int
            First row of the block; must equal :attr:`done`.
        blocks : mapping of str to array
            One block per array of the file, with the same number of rows; a ragged
            array's block holds the entries of these rows (the sum of their counts).
        """
        if self._handle is None:
            raise RuntimeError("ChunkedWriter: the file is already finished or closed")
        if start != self.done:
            raise ValueError(f"ChunkedWriter: block starts at row {start}, expected {self.done}")
        if set(blocks) != set(self.arrays):
            raise ValueError(f"ChunkedWriter: blocks must cover exactly {sorted(self.arrays)}, got {sorted(blocks)}")
        hosts: dict[str, np.ndarray] = {}
        count = None
        for key in sorted(blocks, key=lambda k: k in self.ragged):  # row arrays first: they set the counts
            host = np.asarray(blocks[key])
            shape, dt = self.arrays[key]
            if key in self.ragged:
                given = hosts[self.ragged[key]]
                expected = int(given.sum())
                if np.any(given < 0) or host.ndim != len(shape) or host.shape != (expected,) + shape[1:]:
                    raise ValueError(
                        f"ChunkedWriter: ragged block {key!r} has shape {host.shape}, expected ({expected},) + "
                        f"{shape[1:]} (the sum of its block of {self.ragged[key]!r}, which must be >= 0)"
                    )
            else:
                count = host.shape[0] if count is None else count
                if host.ndim != len(shape) or host.shape[1:] != shape[1:] or host.shape[0] != count:
                    raise ValueError(
                        f"ChunkedWriter: block {key!r} has shape {host.shape}, expected (k,) + {shape[1:]} "
                        "with one k for all arrays"
                    )
                if start + count > self.rows:
                    raise ValueError(f"ChunkedWriter: rows {start}..{start + count} exceed the {self.rows} allocated")
            hosts[key] = host.astype(dt, copy=False)
        assert count is not None  # counts arrays are row arrays, and blocks cover every array
        stop = start + count
        handle = self._handle
        spans = {key: slice(start, stop) for key in hosts}
        for key, counts in self.ragged.items():
            first = int(np.sum(handle[counts][:start], dtype=np.int64))
            spans[key] = slice(first, first + hosts[key].shape[0])
            if spans[key].stop > self.arrays[key][0][0]:
                raise ValueError(
                    f"ChunkedWriter: ragged {key!r} entries {first}..{spans[key].stop} exceed the "
                    f"{self.arrays[key][0][0]} allocated"
                )
        for key, host in hosts.items():
            handle[key][spans[key]] = host
        n = handle[_BLOCKS].shape[0]
        handle[_BLOCKS].resize(n + 1, axis=0)
        handle[_BLOCK_SHA].resize(n + 1, axis=0)
        handle[_BLOCKS][n] = (start, stop)
        handle[_BLOCK_SHA][n] = [_rows_sha256(hosts[k]) for k in self._keys]
        self.done = stop
        handle.attrs[_DONE] = np.int64(self.done)
        handle.flush()

    def _seal_datasets(self, handle: h5py.File) -> None:
        """Re-verify every block while streaming each dataset's whole-array sha256."""
        blocks, _, good = self._verified_blocks(handle)
        if good != len(blocks) or (int(blocks[-1, 1]) if good else 0) != self.rows:
            raise DataError.at(self.partial, "rows changed on disk after they were written; rerun to recompute them")
        for i, key in enumerate(self._keys):
            shape, dt = self.arrays[key]
            digest = hashlib.sha256()
            step = max(1, _STREAM_BYTES // max(1, int(np.prod(shape[1:], dtype=np.int64)) * dt.itemsize))
            for a in range(0, shape[0], step):
                rows = np.ascontiguousarray(handle[key][a : a + step], dtype=dt.newbyteorder("<"))
                # numpy's stubs declare the buffer protocol (__buffer__) only for Python >= 3.12
                digest.update(rows.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
            set_attr(handle[key], _SHA, digest.hexdigest())

    def finish(self) -> Path:
        """Verify and checksum every dataset and move the file into place; returns the final path."""
        if self.complete:
            return self.path
        if self._handle is None:
            raise RuntimeError("ChunkedWriter: the file is already finished or closed")
        if self.done != self.rows:
            raise ValueError(f"ChunkedWriter: only {self.done} of {self.rows} rows written")
        handle = self._handle
        offsets = self._stored_offsets(handle)
        for key, counts in self.ragged.items():
            if int(offsets[counts][-1]) != self.arrays[key][0][0]:
                raise ValueError(
                    f"ChunkedWriter: the {counts!r} written sum to {int(offsets[counts][-1])}, but ragged {key!r} "
                    f"has {self.arrays[key][0][0]} entries"
                )
        self._seal_datasets(handle)
        del handle[_BLOCKS], handle[_BLOCK_SHA]
        del handle.attrs[_DONE]
        handle.attrs[_FORMAT] = np.int64(FORMAT)
        seal_groups(handle)
        handle.close()
        self._handle = None
        fsync_path(self.partial)
        os.replace(self.partial, self.path)
        if os.name == "posix":
            fsync_path(self.path.parent)
        self.complete = True
        self._lock.close()
        return self.path

    def close(self) -> None:
        """Close without finishing: the partial file stays resumable (removed when it holds no rows)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            if self.done == 0:
                self.partial.unlink(missing_ok=True)
        self._lock.close()

    def __del__(self) -> None:  # a writer dropped without close() must not keep its lock
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> ChunkedWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
