"""Damaged, crafted and unreachable HDF5 files: a one-line DataError or the right content.

Every fault here is built from a file :func:`tnkit.io.save` wrote (or from the file
system around it) and read back with :func:`tnkit.io.load` / :func:`tnkit.io.provenance`.
Crafted files that are well-formed HDF5 but step outside what tnkit writes (links, virtual
or external storage, impossible sizes, foreign dtypes) are read in this process; byte-level
damage (truncations, flips) is read in a separate process under a time limit
(:mod:`tests.faults._harness`), so a reader that crashed or hung would be reported, not
take the test run down with it.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

import tnkit
import tnkit.io as tio
from tests.faults._harness import LoadWorker, describe, flipped
from tnkit.io import DataError
from tnkit.io._hdf5 import seal_groups, set_attr

CREATED = "2026-12-07T00:00:00Z"
NOTE = "a tnkit fault-test file"


def _rich_tree() -> dict:
    rng = np.random.default_rng(22)
    return {
        "x": rng.standard_normal((40, 30)),
        "labels": np.arange(50, dtype=np.int32),
        "psi": rng.standard_normal(16) + 1j * rng.standard_normal(16),
        "mask": rng.random(20) > 0.5,
        "empty": np.zeros((0, 3)),
        "scalar": np.float64(2.5) * np.ones(()),
        "note": NOTE,
        "meta": {"bond_dim": 32, "energy": -4.25, "model": "heisenberg", "inner": {"w": np.ones(5)}},
        "tt": tnkit.tt_svd(rng.standard_normal((3, 4, 5)), max_rank=2),
    }


@pytest.fixture(scope="module")
def rich(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rich") / "rich.h5"
    tio.save(path, _rich_tree(), generator={"function": "tests.faults", "parameters": {"seed": 22}}, created=CREATED)
    return path


@pytest.fixture(scope="module")
def reference(rich) -> str:
    kind, digest = describe(str(rich))
    assert kind == "loaded", digest
    return digest


@pytest.fixture(scope="module")
def worker():
    w = LoadWorker(timeout=20.0)
    yield w
    w.close()


def _copy(rich: Path, tmp_path: Path, name: str = "f.h5") -> Path:
    out = tmp_path / name
    out.write_bytes(rich.read_bytes())
    return out


def _error(path: Path, match: str, *, provenance: bool = False) -> str:
    with pytest.raises(DataError, match=match) as info:
        (tio.provenance if provenance else tio.load)(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


# --------------------------------------------------------------------------------------
# Crafted files: well-formed HDF5 that reaches outside the file or outside tnkit's layout


def _edit(path: Path, change: Callable[[h5py.File], None], *, reseal: bool) -> None:
    with h5py.File(path, "r+") as handle:
        change(handle)
        if reseal:
            seal_groups(handle)


def _outside(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 8)
    return secret


def _vds(handle: h5py.File, source: Path) -> None:
    layout = h5py.VirtualLayout(shape=(8,), dtype="f8")
    layout[:] = h5py.VirtualSource(str(source), "data", shape=(8,))
    dataset = handle.create_virtual_dataset("virtual", layout, fillvalue=0.0)
    set_attr(dataset, "sha256", tio.array_sha256(np.zeros(8)))


def _source_file(tmp_path: Path) -> Path:
    src = tmp_path / "source.h5"
    with h5py.File(src, "w") as handle:
        handle["data"] = np.arange(8.0)
    return src


def _same_bytes_other_dtype(handle: h5py.File, name: str) -> None:
    """Replace a float64 dataset by its bytes read as uint64, keeping its sha256 (of the bytes)."""
    data, sha = handle[name][()], handle[name].attrs["sha256"]
    del handle[name]
    set_attr(handle.create_dataset(name, data=data.view(np.uint64), track_times=False), "sha256", sha)


CRAFTED: dict[str, tuple[Callable[[h5py.File, Path], None], bool, str]] = {
    # name: (edit(handle, tmp_path), reseal, expected message). Resealed edits are what a
    # crafted file looks like (its digests recomputed): the structural checks must refuse
    # it. Unsealed edits are damage: the digests catch them.
    "soft link to a dataset": (lambda h, t: h.__setitem__("alias", h5py.SoftLink("/x")), True, "soft link to '/x'"),
    "dangling soft link": (lambda h, t: h.__setitem__("alias", h5py.SoftLink("/gone")), True, "soft link"),
    "soft link in a nested group": (
        lambda h, t: h["meta"].__setitem__("up", h5py.SoftLink("/meta")),
        True,
        "'/meta/up' is a soft link",
    ),
    "external link to a text file": (
        lambda h, t: h.__setitem__("leak", h5py.ExternalLink(str(_outside(t)), "/x")),
        True,
        "external link to .*secret.txt",
    ),
    "external link to another tnkit file": (
        lambda h, t: h.__setitem__("other", h5py.ExternalLink(str(tio.save(t / "o.h5", np.ones(3))), "/array")),
        True,
        "external link",
    ),
    "hard link: one dataset under two names": (lambda h, t: h.__setitem__("x2", h["x"]), True, "reached twice"),
    "hard link: a group inside itself": (lambda h, t: h["meta"].__setitem__("loop", h["meta"]), True, "reached twice"),
    "virtual dataset with its source": (lambda h, t: _vds(h, _source_file(t)), True, "virtual"),
    "virtual dataset with a missing source": (lambda h, t: _vds(h, t / "missing.h5"), True, "virtual"),
    "external raw storage": (
        lambda h, t: set_attr(
            h.create_dataset("raw", shape=(4,), dtype="u1", external=[(str(_outside(t)), 0, 4)]),
            "sha256",
            tio.array_sha256(np.frombuffer(b"root", "u1")),
        ),
        True,
        "external files",
    ),
    "chunked dataset declaring 800 GB": (
        lambda h, t: set_attr(h.create_dataset("big", shape=(10**11,), chunks=(1024,), dtype="f8"), "sha256", "0" * 64),
        True,
        r"declares shape \(100000000000,\)",
    ),
    "string dataset": (lambda h, t: h.__setitem__("s", np.array([b"ab", b"cd"])), True, "unsupported dtype"),
    "compound dataset": (
        lambda h, t: h.__setitem__("c", np.zeros(3, dtype=[("a", "f8"), ("b", "i4")])),
        True,
        "unsupported dtype",
    ),
    "object reference dataset": (
        lambda h, t: h.create_dataset("r", data=[h["x"].ref], dtype=h5py.ref_dtype),
        True,
        "unsupported dtype",
    ),
    "dataset without its sha256": (lambda h, t: h["x"].attrs.__delitem__("sha256"), False, "no sha256"),
    "group without its attribute digest": (
        lambda h, t: h["meta"].attrs.__delitem__("tnkit_attrs_sha256"),
        False,
        "'/meta' has no attribute digest",
    ),
    "new group, unsealed": (lambda h, t: h.create_group("extra"), False, r"checksum mismatch in group '/' \(its"),
    "soft link added, unsealed": (
        lambda h, t: h.__setitem__("alias", h5py.SoftLink("/x")),
        False,
        r"checksum mismatch in group '/' \(its",
    ),
    "member renamed, unsealed": (lambda h, t: h.move("x", "y"), False, r"checksum mismatch in group '/' \(its"),
    "dataset rewritten as another dtype with the same bytes, unsealed": (
        lambda h, t: _same_bytes_other_dtype(h, "x"),
        False,
        r"checksum mismatch in group '/' \(its",
    ),
    "future file format": (lambda h, t: set_attr(h, "tnkit_format", np.int64(3)), True, "format 3 is newer"),
    "file format not an integer": (
        lambda h, t: set_attr(h, "tnkit_format", "two"),
        True,
        "tnkit_format 'two' is not an integer",
    ),
    "schema_version not an integer": (
        lambda h, t: set_attr(h, "schema_version", "one"),
        True,
        "schema_version 'one' is not an integer",
    ),
    "unknown layout": (lambda h, t: set_attr(h, "tnkit_layout", "tree"), True, "unknown tnkit_layout 'tree'"),
    "object version not an integer": (
        lambda h, t: set_attr(h["tt"], "tnkit_version", "v2"),
        True,
        "tnkit_version 'v2' is not an integer",
    ),
    "unsealed edit of a user attribute": (
        lambda h, t: set_attr(h["meta"], "bond_dim", np.int64(33)),
        False,
        r"checksum mismatch in group '/meta' \(its attributes",
    ),
    "unsealed edit of the creation time": (
        lambda h, t: set_attr(h, "created", "2026-12-08T00:00:00Z"),
        False,
        r"checksum mismatch in group '/' \(its attributes",
    ),
    "unsealed edit of the generator seed": (
        lambda h, t: set_attr(h, "generator", h.attrs["generator"].decode().replace("22", "23")),
        False,
        r"checksum mismatch in group '/' \(its attributes",
    ),
    "variable-length string attribute (global heap)": (
        lambda h, t: h.attrs.__setitem__("extra", "in the heap"),
        True,
        "attribute 'extra' of '/' is a variable-length string",
    ),
    "attribute of a type tnkit never writes": (
        lambda h, t: h.attrs.create(
            "extra", np.array([np.ones(1, "u1"), np.ones(2, "u1")], dtype=object), dtype=h5py.vlen_dtype("u1")
        ),
        True,
        r"attribute 'extra' of '/' has an HDF5 type tnkit never writes \(class 9\)",
    ),
    "attribute added": (lambda h, t: set_attr(h, "extra", 1.0), False, "checksum mismatch in group"),
    "attribute removed": (lambda h, t: h.attrs.__delitem__("note"), False, "checksum mismatch in group"),
    "attribute digest removed from the root": (
        lambda h, t: h.attrs.__delitem__("tnkit_attrs_sha256"),
        False,
        "group '/' has no attribute digest",
    ),
}


@pytest.mark.parametrize("fault", sorted(CRAFTED))
def test_crafted_file(rich, tmp_path, fault) -> None:
    change, reseal, match = CRAFTED[fault]
    path = _copy(rich, tmp_path)
    _edit(path, lambda h: change(h, tmp_path), reseal=reseal)
    message = _error(path, match)
    assert "root:x" not in message


def test_generator_not_json_is_reported_by_provenance(rich, tmp_path) -> None:
    path = _copy(rich, tmp_path)
    _edit(path, lambda h: set_attr(h, "generator", "{not json"), reseal=True)
    _error(path, "root attribute 'generator' is not valid JSON", provenance=True)


def test_array_layout_faults(tmp_path) -> None:
    path = tio.save(tmp_path / "a.h5", np.arange(3.0))
    _edit(path, lambda h: (h.__delitem__("array"), h.create_group("array")), reseal=True)
    _error(path, "'/array' is a group")
    path = tio.save(tmp_path / "b.h5", np.arange(3.0))
    _edit(path, lambda h: h.__delitem__("array"), reseal=True)
    _error(path, "no dataset '/array'")


# --------------------------------------------------------------------------------------
# The file system around the file


def test_folder_fifo_empty_text_noise_plain_hdf5_and_missing(tmp_path) -> None:
    (tmp_path / "folder.h5").mkdir()
    _error(tmp_path / "folder.h5", "is a folder, not a file")
    os.mkfifo(tmp_path / "pipe.h5")
    _error(tmp_path / "pipe.h5", "not a regular file")
    (tmp_path / "empty.h5").write_bytes(b"")
    _error(tmp_path / "empty.h5", "HDF5")
    (tmp_path / "text.h5").write_text("energy = -4.25\n" * 100)
    _error(tmp_path / "text.h5", "not an HDF5 file")
    (tmp_path / "noise.h5").write_bytes(np.random.default_rng(0).bytes(4096))
    _error(tmp_path / "noise.h5", "not an HDF5 file")
    with h5py.File(tmp_path / "plain.h5", "w") as handle:
        handle["a"] = np.ones(2)
    _error(tmp_path / "plain.h5", "missing root attribute")
    _error(tmp_path / "nope.h5", "no such file")
    (tmp_path / "dangling.h5").symlink_to(tmp_path / "gone.h5")
    _error(tmp_path / "dangling.h5", "no such file")


def test_symlink_to_a_good_file_reads_it(rich, tmp_path, reference) -> None:
    (tmp_path / "link.h5").symlink_to(rich)
    assert describe(str(tmp_path / "link.h5")) == ("loaded", reference)


_NO_OVERRIDE = "-dac_override,-dac_read_search"


def _without_override(code: str, *args: str) -> str:
    """Run ``code`` in a process that obeys permission bits: as ourselves, or — when we are
    root, who reads everything — as root without the capabilities that override them."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permission bits cannot be enforced")
        prefix = [setpriv, f"--inh-caps={_NO_OVERRIDE}", f"--bounding-set={_NO_OVERRIDE}"]
    done = subprocess.run(
        [*prefix, sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TNKIT_NO_PROGRESS": "1"},
        timeout=120,
    )
    return done.stdout.strip() + done.stderr.strip()[-300:]


LOAD_PLAIN = """
import sys
import tnkit.io as tio
try:
    tio.load(sys.argv[1]); print("LOADED")
except tio.DataError as exc:
    print("DATAERROR", exc)
except Exception as exc:
    print("OTHER", type(exc).__name__, exc)
"""

SAVE_PLAIN = """
import sys
import numpy as np
import tnkit.io as tio
try:
    tio.save(sys.argv[1], np.ones(3)); print("SAVED")
except tio.DataError as exc:
    print("DATAERROR", exc)
except Exception as exc:
    print("OTHER", type(exc).__name__, exc)
"""


def _unreadable_cases(rich: Path, base: Path) -> dict[str, tuple[Path, str]]:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    no_read = base / "no_read.h5"
    no_read.write_bytes(rich.read_bytes())
    no_read.chmod(0o200)
    locked = base / "locked"
    locked.mkdir()
    (locked / "f.h5").write_bytes(rich.read_bytes())
    locked.chmod(0o600)  # no x: nobody can reach files inside
    return {
        "file without read permission": (no_read, "no permission to read it"),
        "folder without execute permission": (locked / "f.h5", "no permission to enter its folder"),
    }


@pytest.mark.parametrize("fault", ["file without read permission", "folder without execute permission"])
def test_unreadable(rich, tmp_path, fault) -> None:
    path, match = _unreadable_cases(rich, tmp_path)[fault]
    out = _without_override(LOAD_PLAIN, str(path))
    assert out.startswith("DATAERROR") and match in out, out


def test_save_where_it_cannot(tmp_path) -> None:
    with pytest.raises(DataError, match="does not exist; create it first"):
        tio.save(tmp_path / "missing" / "f.h5", np.ones(2))
    (tmp_path / "dir.h5").mkdir()
    with pytest.raises(DataError, match="is a folder; give a file name"):
        tio.save(tmp_path / "dir.h5", np.ones(2))
    if os.name == "posix":
        read_only = tmp_path / "ro"
        read_only.mkdir()
        read_only.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        out = _without_override(SAVE_PLAIN, str(read_only / "f.h5"))
        assert out.startswith("DATAERROR") and "no permission to write" in out, out


# --------------------------------------------------------------------------------------
# Byte-level damage, read in a separate process under a time limit


TRUNCATIONS = [0, 1, 8, 100, 512, 2048, 0.25, 0.5, 0.75, -8, -1]


@pytest.mark.parametrize("cut", TRUNCATIONS, ids=[f"truncate-{c}" for c in TRUNCATIONS])
def test_truncated(rich, tmp_path, worker, reference, cut) -> None:
    data = rich.read_bytes()
    keep = int(cut * len(data)) if isinstance(cut, float) else (cut if cut >= 0 else len(data) + cut)
    path = tmp_path / "t.h5"
    path.write_bytes(data[:keep])
    outcome = worker.outcome(path, reference)
    assert outcome.kind == "error" and outcome.acceptable, outcome


def _offsets(rich: Path) -> dict[str, int]:
    """File offsets of bytes whose damage must be caught: data and attribute values."""
    data = rich.read_bytes()
    out = {}
    with h5py.File(rich, "r") as handle:
        for name in ("x", "labels", "psi", "mask"):
            out[f"data of /{name}"] = handle[name].id.get_offset() + 3
        out["sha256 of /x"] = data.index(bytes(handle["x"].attrs["sha256"])) + 5
    for label, needle in (
        ("creation time", CREATED.encode()),
        ("generator record", b'"seed": 22'),
        ("software versions", b'"numpy"'),
        ("user note", NOTE.encode()),
        ("nested string attribute", b"heisenberg"),
        ("root attribute digest", None),
    ):
        if needle is None:
            with h5py.File(rich, "r") as handle:
                needle = bytes(handle.attrs["tnkit_attrs_sha256"])
        out[label] = data.index(needle) + 2
    out["superblock signature"] = 1
    return out


TARGETS = [
    "data of /x",
    "data of /labels",
    "data of /psi",
    "data of /mask",
    "sha256 of /x",
    "creation time",
    "generator record",
    "software versions",
    "user note",
    "nested string attribute",
    "root attribute digest",
    "superblock signature",
]


@pytest.mark.parametrize("target", TARGETS)
def test_flip_in(rich, tmp_path, worker, reference, target) -> None:
    position = _offsets(rich)[target]
    path = tmp_path / "flip.h5"
    path.write_bytes(flipped(rich.read_bytes(), position, 2))
    outcome = worker.outcome(path, reference)
    assert outcome.kind == "error" and outcome.acceptable, outcome


# --------------------------------------------------------------------------------------
# load(timeout=...): the file is read first by a child process under a time limit


def test_timeout_probe_passes_sound_files_and_reports_damage(rich, tmp_path, reference) -> None:
    assert describe(str(rich)) == ("loaded", reference)
    assert sorted(tio.load(rich, timeout=60)) == sorted(tio.load(rich))
    path = tmp_path / "flip.h5"
    position = _offsets(rich)["data of /x"]
    path.write_bytes(flipped(rich.read_bytes(), position, 1))
    with pytest.raises(DataError, match=r"flip\.h5: checksum mismatch in dataset '/x'"):
        tio.load(path, timeout=60)


def _child_processes_start_with(code: str, tmp_path, monkeypatch) -> None:
    """Make every Python child process run ``code`` first (a ``sitecustomize`` on its path)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(code)
    monkeypatch.setenv("PYTHONPATH", f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


def test_timeout_probe_reports_a_reader_that_does_not_finish(tmp_path, monkeypatch) -> None:
    """A stand-in for a file that makes HDF5 spin: the child process sleeps instead of reading."""
    path = tio.save(tmp_path / "slow.h5", np.ones(3))
    _child_processes_start_with("import time\ntime.sleep(60)\n", tmp_path, monkeypatch)
    with pytest.raises(DataError, match=r"slow\.h5: reading it did not finish within 2 s; the file is damaged"):
        tio.load(path, timeout=2)
    with pytest.raises(ValueError, match="timeout must be a positive"):
        tio.load(path, timeout=0)


def test_timeout_probe_reports_a_reader_that_crashes(tmp_path, monkeypatch) -> None:
    """A stand-in for a file that crashes the HDF5 library: the child process aborts."""
    path = tio.save(tmp_path / "crash.h5", np.ones(3))
    _child_processes_start_with("import os\nos.abort()\n", tmp_path, monkeypatch)
    with pytest.raises(DataError, match=r"crash\.h5: reading it crashed the HDF5 library \(exit status -6\)"):
        tio.load(path, timeout=30)
