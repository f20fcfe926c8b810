"""ChunkedWriter against torn writes, damaged partial files, rivals and failed starts.

Every fault ends in the arrays an uninterrupted run writes (the writer recomputes what it
cannot verify) or in a one-line DataError that names the file; nothing is overwritten.
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings

import h5py
import numpy as np
import pytest

import tnkit.io as tio
from tests.faults._harness import flipped
from tnkit.io import ChunkedWriter, DataError

ROWS, BLOCK = 12, 3
ARRAYS = {"x": ((ROWS, 4), "float64"), "n": ((ROWS,), "int32")}
RECORD = {"function": "tests.faults.chunked", "parameters": {"rows": ROWS}}


def _block(start: int, count: int) -> dict[str, np.ndarray]:
    rows = np.arange(start, start + count)
    return {"x": np.outer(rows, np.arange(1.0, 5.0)), "n": (rows * rows).astype(np.int32)}


def _writer(path, **kw) -> ChunkedWriter:
    return ChunkedWriter(path, ARRAYS, schema="fault_rows", generator=RECORD, compression=kw.pop("compression", None))


def _run(path, stop: int | None = None) -> ChunkedWriter:
    """Write blocks up to row ``stop`` (all and finish when None)."""
    w = _writer(path)
    for start in range(w.done, ROWS if stop is None else stop, BLOCK):
        w.write(start, _block(start, BLOCK))
    if stop is None:
        w.finish()
    else:
        w.close()
    return w


@pytest.fixture(scope="module")
def expected(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("ref") / "ref.h5"
    _run(path)
    return tio.load(path)


def _same(path, expected) -> None:
    got = tio.load(path)
    for key in ARRAYS:
        np.testing.assert_array_equal(got[key], expected[key])
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no partial, lock or temp left


def _finish(path) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _run(path)
    return [str(w.message) for w in caught]


def test_interrupted_run_resumes_to_the_same_arrays(tmp_path, expected) -> None:
    path = tmp_path / "r.h5"
    assert _run(path, stop=6).done == 6
    assert _writer(path).done == 6
    assert _finish(path) == []
    _same(path, expected)


def _zero_rows_6_to_8(handle) -> None:  # the audit's torn write: counted, never on disk
    handle["x"][6:9] = 0.0
    handle["n"][6:9] = 0


def _drop_block_records(handle) -> None:
    del handle["tnkit_blocks"]


DAMAGE = {
    # name: (rows written before the damage, damage, rows trusted on resume, warning)
    "torn write: counter advanced, rows zero": (9, _zero_rows_6_to_8, 6, r"rows 6\.\.9 failed their checksums"),
    "row data changed": (9, lambda h: h["x"].__setitem__((4, 2), h["x"][4, 2] + 1e-9), 3, r"rows 3\.\.9 failed"),
    "block digest changed": (9, lambda h: h["tnkit_block_sha"].__setitem__((1, 0), b"0" * 64), 3, r"rows 3\.\.9"),
    "block range changed": (9, lambda h: h["tnkit_blocks"].__setitem__(1, (3, 7)), 3, r"rows 3\.\.9"),
    "block records removed": (6, _drop_block_records, 0, r"rows 0\.\.6 failed their checksums or were not recorded"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_partial_resumes_from_its_verified_rows(tmp_path, expected, damage) -> None:
    written, change, trusted, warning = DAMAGE[damage]
    path = tmp_path / "d.h5"
    _run(path, stop=written)
    with h5py.File(path.with_name("d.h5.partial"), "r+") as handle:
        change(handle)
    with pytest.warns(UserWarning, match=warning):
        assert _writer(path).done == trusted  # what fails its digest is not trusted
    assert _finish(path) == []
    _same(path, expected)


def test_counter_ahead_of_the_block_records(tmp_path, expected) -> None:
    path = tmp_path / "c.h5"
    _run(path, stop=6)
    with h5py.File(path.with_name("c.h5.partial"), "r+") as handle:
        handle.attrs["tnkit_done"] = np.int64(12)
    messages = _finish(path)
    assert len(messages) == 1 and "were not recorded" in messages[0]
    _same(path, expected)


@pytest.mark.parametrize("damage", ["empty", "truncated", "noise", "flipped superblock"])
def test_unreadable_partial_is_set_aside_and_the_run_starts_afresh(tmp_path, expected, damage) -> None:
    path = tmp_path / "u.h5"
    _run(path, stop=6)
    partial = path.with_name("u.h5.partial")
    data = partial.read_bytes()
    partial.write_bytes(
        {
            "empty": b"",
            "truncated": data[:1000],
            "noise": np.random.default_rng(1).bytes(len(data)),
            "flipped superblock": flipped(data, 0, 3),
        }[damage]
    )
    messages = _finish(path)
    assert len(messages) == 1 and "damaged partial file" in messages[0] and "u.h5.partial.damaged" in messages[0]
    got = tio.load(path)
    np.testing.assert_array_equal(got["x"], expected["x"])
    aside = path.with_name("u.h5.partial.damaged")
    assert aside.exists()  # nothing is lost: the damaged file is kept for inspection
    aside.unlink()
    _same(path, expected)


def test_partial_of_other_parameters_is_refused_and_kept(tmp_path) -> None:
    path = tmp_path / "p.h5"
    _run(path, stop=6)
    partial = path.with_name("p.h5.partial")
    before = partial.read_bytes()
    with pytest.raises(DataError, match=r"p\.h5\.partial: is a partial run with other generator parameters"):
        ChunkedWriter(path, ARRAYS, schema="fault_rows", generator={"function": "other"})
    assert partial.read_bytes() == before


def test_finished_file_of_other_parameters_is_refused(tmp_path) -> None:
    path = tmp_path / "f.h5"
    _run(path)
    with pytest.raises(DataError, match=r"f\.h5: exists with other generator parameters"):
        ChunkedWriter(path, ARRAYS, schema="fault_rows", generator={"function": "other"})


def test_a_failed_start_leaves_no_partial(tmp_path) -> None:
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError, match="no GPU"):
        with _writer(path):
            raise RuntimeError("no GPU")  # e.g. the backend check after opening the writer
    assert list(tmp_path.iterdir()) == []
    # ... so the next run, with other settings, is not blocked by it
    w = ChunkedWriter(path, ARRAYS, schema="fault_rows", generator={"function": "other settings"})
    w.close()
    assert list(tmp_path.iterdir()) == []


def test_rows_changed_on_disk_before_finish_are_caught(tmp_path) -> None:
    path = tmp_path / "z.h5"
    w = _writer(path)
    for start in range(0, ROWS, BLOCK):
        w.write(start, _block(start, BLOCK))
    w._handle["x"][0, 0] = 99.0  # damage between the last write and finish
    with pytest.raises(DataError, match=r"z\.h5\.partial: rows changed on disk after they were written"):
        w.finish()
    w.close()
    assert not path.exists()


def test_finished_file_loads_with_digests_and_gzip(tmp_path, expected) -> None:
    path = tmp_path / "g.h5"
    w = _writer(path, compression="gzip")
    for start in range(0, ROWS, BLOCK):
        w.write(start, _block(start, BLOCK))
    w.finish()
    _same(path, expected)
    with h5py.File(path, "r") as handle:
        assert "tnkit_blocks" not in handle and "tnkit_done" not in handle.attrs
        assert int(handle.attrs["tnkit_format"]) == 2 and "tnkit_attrs_sha256" in handle.attrs


# --------------------------------------------------------------------------------------
# Through the dataset generator (physics.data), as `tnkit data generate` runs it


def test_generator_with_an_unavailable_backend_leaves_nothing(tmp_path) -> None:
    """The README's `--backend torch-cuda` on a machine without a GPU: a clear error, no
    partial file to block the next run with other settings."""
    generate = pytest.importorskip("physics.data").generate
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "p.h5"
    with pytest.raises(ValueError, match="torch-cuda"):
        generate("poisson", out, samples=4, resolution=9, backend="torch-cuda", progress=False)
    assert list(tmp_path.iterdir()) == []
    generate("poisson", out, samples=4, resolution=9, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.h5"]


GENERATE_SLOWLY = """
import dataclasses, sys, time
import physics.data._generators as g
block = g.DATASETS["poisson"].block
def slow(*args, **kw):
    time.sleep(0.5)
    return block(*args, **kw)
g.DATASETS["poisson"] = dataclasses.replace(g.DATASETS["poisson"], block=slow)
print("start", flush=True)
g.generate("poisson", sys.argv[1], samples=40, resolution=9, chunk=2, progress=False)
"""


def test_second_generator_on_the_same_file_is_told_it_is_in_use(tmp_path) -> None:
    pytest.importorskip("physics.data")
    from physics.data import generate

    out = tmp_path / "busy.h5"
    proc = subprocess.Popen([sys.executable, "-c", GENERATE_SLOWLY, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "start"
        proc.stdout.close()
        for _ in range(100):  # until the first run holds the file
            if out.with_name("busy.h5.partial").exists():
                break
            time.sleep(0.05)
        with pytest.raises(DataError, match=rf"busy\.h5: in use by another process \(pid {proc.pid}\)"):
            generate("poisson", out, samples=40, resolution=9, chunk=2, progress=False)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
