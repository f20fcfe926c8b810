"""ChunkedWriter: resumable block-by-block HDF5 writing."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tnkit.io import ChunkedWriter, DataError, array_sha256, load, provenance

GEN = {"function": "test.rows", "parameters": {"n": 10, "seed": 3}}
ARRAYS = {"x": ((10, 3), "float64"), "y": ((10,), "int32")}


def _rows(start: int, count: int) -> dict[str, np.ndarray]:
    r = np.arange(start, start + count)
    return {"x": np.sin(r[:, None] * np.arange(1, 4)), "y": r.astype(np.int32) ** 2}


def _run(path, stop: int | None = None, step: int = 3, **kw) -> ChunkedWriter:
    w = ChunkedWriter(path, ARRAYS, schema="test_rows", generator=GEN, **kw)
    for start in range(w.done, 10, step):
        if stop is not None and start >= stop:
            w.close()
            return w
        count = min(step, 10 - start)
        w.write(start, _rows(start, count))
    w.finish()
    return w


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_interrupted_run_resumes_to_the_same_arrays(tmp_path, compression) -> None:
    whole = tmp_path / "whole.h5"
    _run(whole, compression=compression)
    part = tmp_path / "part.h5"
    w = _run(part, stop=6, compression=compression)
    assert not part.exists() and w.partial.exists() and w.done == 6
    again = ChunkedWriter(part, ARRAYS, schema="test_rows", generator=GEN)
    assert again.done == 6
    again.close()
    _run(part, compression=compression)
    assert not w.partial.exists()
    a, b = load(whole), load(part)
    for key in ("x", "y"):
        assert array_sha256(a[key]) == array_sha256(b[key])
        with h5py.File(part) as h:
            assert h[key].attrs["sha256"].decode() == array_sha256(a[key])  # streamed digest = whole-array digest
    expected = _rows(0, 10)
    assert np.array_equal(a["x"], expected["x"]) and np.array_equal(a["y"], expected["y"])
    info = provenance(part)
    assert info["schema"] == "test_rows" and info["generator"] == GEN


def test_finished_file_with_the_same_record_is_complete(tmp_path) -> None:
    path = tmp_path / "d.h5"
    _run(path)
    w = ChunkedWriter(path, ARRAYS, schema="test_rows", generator=GEN)
    assert w.complete and w.done == 10
    assert w.finish() == path


def test_other_parameters_are_refused_and_nothing_is_overwritten(tmp_path) -> None:
    path = tmp_path / "d.h5"
    _run(path)
    before = path.read_bytes()
    other = {"function": "test.rows", "parameters": {"n": 10, "seed": 4}}
    with pytest.raises(DataError, match="exists with other generator parameters"):
        ChunkedWriter(path, ARRAYS, schema="test_rows", generator=other)
    assert path.read_bytes() == before
    part = tmp_path / "p.h5"
    _run(part, stop=3)
    with pytest.raises(DataError, match="partial run with other generator parameters"):
        ChunkedWriter(part, ARRAYS, schema="test_rows", generator=other)
    with pytest.raises(DataError, match="other generator parameters or layout"):
        ChunkedWriter(part, {"x": ((10, 4), "float64"), "y": ((10,), "int32")}, schema="test_rows", generator=GEN)


def test_bad_writes(tmp_path) -> None:
    w = ChunkedWriter(tmp_path / "d.h5", ARRAYS, schema="test_rows", generator=GEN)
    with pytest.raises(ValueError, match="expected 0"):
        w.write(3, _rows(3, 2))
    with pytest.raises(ValueError, match="cover exactly"):
        w.write(0, {"x": _rows(0, 2)["x"]})
    with pytest.raises(ValueError, match="one k for all arrays"):
        w.write(0, {"x": _rows(0, 2)["x"], "y": _rows(0, 3)["y"]})
    with pytest.raises(ValueError, match="exceed"):
        w.write(0, _rows(0, 11))
    with pytest.raises(ValueError, match="only 0 of 10 rows"):
        w.finish()
    w.close()
    with pytest.raises(ValueError, match="same leading length"):
        ChunkedWriter(tmp_path / "e.h5", {"x": ((3,), "f8"), "y": ((4,), "f8")}, schema="s", generator=GEN)


RAGGED = {"n": ((5,), "int64"), "e": ((5,), "float64"), "pos": ((1 + 2 + 3 + 1 + 4, 3), "float64")}
COUNTS = np.array([1, 2, 3, 1, 4])


def _ragged_rows(start: int, stop: int) -> dict[str, np.ndarray]:
    offsets = np.concatenate([[0], np.cumsum(COUNTS)])
    entries = np.arange(offsets[start], offsets[stop])
    return {"n": COUNTS[start:stop], "e": np.arange(start, stop) * 0.5, "pos": np.cos(entries[:, None] * [1, 2, 3])}


def test_ragged_arrays_are_written_flat_and_resume_mid_way(tmp_path) -> None:
    def writer(path):
        return ChunkedWriter(path, RAGGED, schema="test_rows", generator=GEN, ragged={"pos": "n"}, chunk_rows=2)

    w = writer(tmp_path / "r.h5")
    w.write(0, _ragged_rows(0, 2))
    w.write(2, _ragged_rows(2, 3))
    w.close()
    w = writer(tmp_path / "r.h5")
    assert w.done == 3  # resumed after the verified blocks, the ragged rows included
    w.write(3, _ragged_rows(3, 5))
    w.finish()
    got, expected = load(tmp_path / "r.h5"), _ragged_rows(0, 5)
    for key in RAGGED:
        assert np.array_equal(got[key], expected[key]), key
    # a damaged ragged entry is found on resume: its block is recomputed
    w = writer(tmp_path / "s.h5")
    w.write(0, _ragged_rows(0, 2))
    w.write(2, _ragged_rows(2, 4))
    w.close()
    with h5py.File(tmp_path / "s.h5.partial", "r+") as h:
        h["pos"][4, 0] = 7.0  # row 2's entries are 3..5
    with pytest.warns(UserWarning, match="failed their checksums"):
        w = writer(tmp_path / "s.h5")
    assert w.done == 2
    w.close()


def test_ragged_arrays_refuse_bad_blocks(tmp_path) -> None:
    with pytest.raises(ValueError, match="must both be arrays of the file"):
        ChunkedWriter(tmp_path / "a.h5", RAGGED, schema="test_rows", generator=GEN, ragged={"pos": "m"})
    with pytest.raises(ValueError, match="must be a 1-d integer array"):
        ChunkedWriter(tmp_path / "a.h5", RAGGED, schema="test_rows", generator=GEN, ragged={"pos": "e"})
    w = ChunkedWriter(tmp_path / "a.h5", RAGGED, schema="test_rows", generator=GEN, ragged={"pos": "n"})
    block = _ragged_rows(0, 2)
    with pytest.raises(ValueError, match=r"ragged block 'pos' has shape \(2, 3\), expected \(3,\)"):
        w.write(0, {**block, "pos": block["pos"][:2]})
    w.write(0, block)
    w.write(2, {**_ragged_rows(2, 5), "n": np.array([3, 1, 3]), "pos": _ragged_rows(2, 5)["pos"][:7]})
    with pytest.raises(ValueError, match=r"the 'n' written sum to 10, but ragged 'pos' has 11 entries"):
        w.finish()
    w.close()
