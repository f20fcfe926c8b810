"""tnkit.io.save / load: round trips, provenance attributes, atomic writes, DataError."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import tnkit
import tnkit.io as tio
from tnkit.io import DataError
from tnkit.io._hdf5 import seal_groups, set_attr

CREATED = "2026-01-02T03:04:05Z"


@contextlib.contextmanager
def rewritten(path: Path) -> Iterator[h5py.File]:
    """Open a saved file for editing and record its new attribute digests, as a writer of
    another (e.g. newer) tnkit would: the edit is then a well-formed file, not damage."""
    with h5py.File(path, "r+") as handle:
        yield handle
        seal_groups(handle)


class Pair:
    """A stand-in for a tnkit object (MPS, Tucker, ...) registered for storage."""

    def __init__(self, left: Any, right: Any, label: str) -> None:
        self.left, self.right, self.label = left, right, label


def _pair_to_dict(pair: Pair) -> dict[str, Any]:
    return {"left": pair.left, "right": pair.right, "label": pair.label}


def _pair_from_dict(d: dict[str, Any]) -> Pair:
    return Pair(d["left"], d["right"], d["label"])


tio.register_type(Pair, "test_io_pair", _pair_to_dict, _pair_from_dict, version=2)


class Exploding:
    """A registered type whose serialisation fails part-way, to test atomic writes."""


def _explode(obj: Exploding) -> dict[str, Any]:
    raise RuntimeError("boom while converting")


tio.register_type(Exploding, "test_io_exploding", _explode, lambda d: Exploding())


def _random(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.standard_normal(shape)
    if dtype.startswith("complex"):
        out = out + 1j * rng.standard_normal(shape)
    return np.asarray(out).astype(dtype)


# --------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128", "complex64", "int64", "bool"])
@pytest.mark.parametrize("shape", [(3, 4), (0, 5), (2, 0, 3), (), (7,)])
def test_array_round_trip(tmp_path: Path, dtype: str, shape: tuple[int, ...]) -> None:
    a = _random(shape, dtype) if dtype != "bool" else np.asarray(_random(shape, "float64") > 0)
    path = tio.save(tmp_path / "a.h5", a)
    back = tio.load(path, schema="array")
    assert isinstance(back, np.ndarray)
    assert back.dtype == a.dtype and back.shape == a.shape
    np.testing.assert_array_equal(back, a)


def test_nested_dict_round_trip_with_scalar_leaves(tmp_path: Path) -> None:
    tree = {
        "energies": _random((10,), "float64"),
        "meta": {"bond_dim": 32, "tol": 1e-10, "method": "dmrg", "converged": True, "z": 1 + 2j},
        "sites": {"0": {"tensor": _random((1, 2, 3), "complex128")}, "1": {}},
        "count": np.int32(5),
    }
    tio.save(tmp_path / "d.h5", tree)
    back = tio.load(tmp_path / "d.h5", schema="dict")
    assert set(back) == {"energies", "meta", "sites", "count"}
    np.testing.assert_array_equal(back["energies"], tree["energies"])
    np.testing.assert_array_equal(back["sites"]["0"]["tensor"], tree["sites"]["0"]["tensor"])
    assert back["sites"]["1"] == {}
    assert back["meta"] == {"bond_dim": 32, "tol": 1e-10, "method": "dmrg", "converged": True, "z": 1 + 2j}
    assert type(back["meta"]["bond_dim"]) is int and type(back["meta"]["converged"]) is bool
    assert back["count"] == 5


def test_registered_type_round_trip_top_level_and_nested(tmp_path: Path) -> None:
    pair = Pair(_random((2, 3), "float64"), _random((4,), "complex128", seed=1), "ab")
    tio.save(tmp_path / "p.h5", pair)
    assert tio.provenance(tmp_path / "p.h5")["schema"] == "test_io_pair"
    assert tio.provenance(tmp_path / "p.h5")["schema_version"] == 2
    back = tio.load(tmp_path / "p.h5", schema="test_io_pair")
    assert isinstance(back, Pair) and back.label == "ab"
    np.testing.assert_array_equal(back.left, pair.left)
    np.testing.assert_array_equal(back.right, pair.right)

    tio.save(tmp_path / "n.h5", {"states": {"ground": pair}, "energy": np.float64(-1.5)})
    nested = tio.load(tmp_path / "n.h5")
    assert isinstance(nested["states"]["ground"], Pair)
    np.testing.assert_array_equal(nested["states"]["ground"].right, pair.right)
    assert nested["energy"] == -1.5


def test_save_accepts_torch_and_array_api_strict_arrays(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    xps = pytest.importorskip("array_api_strict")
    host = _random((3, 2), "float32")
    t = torch.asarray(host).requires_grad_(True)
    tio.save(tmp_path / "t.h5", {"t": t, "s": xps.asarray(host)})
    back = tio.load(tmp_path / "t.h5")
    assert back["t"].dtype == np.float32 and back["s"].dtype == np.float32
    np.testing.assert_array_equal(back["t"], host)
    np.testing.assert_array_equal(back["s"], host)


def test_load_like_torch_returns_torch_with_stored_dtypes(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pair = Pair(_random((2, 2), "complex128"), _random((3,), "float32"), "x")
    tio.save(tmp_path / "p.h5", {"pair": pair, "n": 3})
    back = tio.load(tmp_path / "p.h5", like=torch.zeros((), dtype=torch.float64))
    assert isinstance(back["pair"].left, torch.Tensor) and isinstance(back["pair"].right, torch.Tensor)
    assert back["pair"].left.dtype == torch.complex128
    assert back["pair"].right.dtype == torch.float32
    assert back["pair"].left.device == torch.device("cpu")
    np.testing.assert_array_equal(back["pair"].left.numpy(), pair.left)
    assert back["n"] == 3


def test_load_like_array_api_strict(tmp_path: Path) -> None:
    xps = pytest.importorskip("array_api_strict")
    a = _random((3, 3), "float64")
    tio.save(tmp_path / "a.h5", a)
    back = tio.load(tmp_path / "a.h5", like=xps.zeros(1))
    assert tnkit.backend.library_name(tnkit.namespace(back)) == "array_api_strict"
    np.testing.assert_array_equal(tnkit.backend.to_host(back), a)


# --------------------------------------------------------------------------------------
# Provenance and reproducibility


def test_root_attributes(tmp_path: Path) -> None:
    generator = {"function": "tests.make", "parameters": {"seed": np.int64(3), "n": 4}}
    tio.save(tmp_path / "a.h5", np.zeros(2), generator=generator, created="2026-01-02T04:04:05+01:00")
    with h5py.File(tmp_path / "a.h5", "r") as f:
        # text attributes are fixed-length UTF-8 strings (bytes to h5py), never in the global heap
        assert f.attrs["tnkit_schema"] == b"array"
        assert int(f.attrs["schema_version"]) == 1
        assert f.attrs["created"] == CREATED.encode()
        assert json.loads(f.attrs["generator"]) == {"function": "tests.make", "parameters": {"seed": 3, "n": 4}}
        software = json.loads(f.attrs["software"])
        assert "sha256" in f["array"].attrs
    assert software["tnkit"] == tnkit.__version__ and software["numpy"] == np.__version__
    assert set(software) >= {"tnkit", "numpy", "h5py", "python"}


def test_default_created_is_recent_utc(tmp_path: Path) -> None:
    tio.save(tmp_path / "a.h5", np.zeros(2))
    created = tio.provenance(tmp_path / "a.h5")["created"]
    assert created.endswith("Z")
    moment = dt.datetime.fromisoformat(created)
    assert abs((dt.datetime.now(dt.timezone.utc) - moment).total_seconds()) < 60


def test_naive_created_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone"):
        tio.save(tmp_path / "a.h5", np.zeros(2), created="2026-01-02T03:04:05")


def test_same_content_and_created_gives_identical_bytes(tmp_path: Path) -> None:
    tree = {"a": _random((5, 4), "complex128"), "meta": {"k": 3, "name": "x"}}
    tio.save(tmp_path / "one.h5", tree, created=CREATED)
    tio.save(tmp_path / "two.h5", tree, created=CREATED)
    assert (tmp_path / "one.h5").read_bytes() == (tmp_path / "two.h5").read_bytes()
    assert tio.sha256_file(tmp_path / "one.h5") == tio.sha256_file(tmp_path / "two.h5")


def test_array_sha256_is_of_the_bytes() -> None:
    import hashlib

    a = np.arange(6, dtype="<f8").reshape(2, 3)
    assert tio.array_sha256(a) == hashlib.sha256(a.tobytes()).hexdigest()
    assert tio.array_sha256(a.astype(">f8")) == tio.array_sha256(a)
    assert tio.array_sha256(np.asfortranarray(a)) == tio.array_sha256(a)


# --------------------------------------------------------------------------------------
# Atomic writes


def test_failed_write_leaves_existing_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.h5"
    tio.save(path, {"a": np.arange(4.0)})
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="boom"):
        tio.save(path, {"first": np.ones(3), "obj": Exploding()})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["state.h5"]  # no temporary or lock file left
    np.testing.assert_array_equal(tio.load(path)["a"], np.arange(4.0))


def test_failed_first_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot store object"):
        tio.save(tmp_path / "new.h5", {"a": np.ones(2), "b": object()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("tree", "error", "match"),
    [
        ({"a/b": np.ones(1)}, ValueError, "without '/'"),
        ({"created": "x"}, ValueError, "reserved"),
        ({"g": {"tnkit_type": "x"}}, ValueError, "reserved"),
        ({"s": np.array(["a", "b"])}, TypeError, "dtype <U1"),
        ({"big": 2**70}, TypeError, "int64"),
    ],
)
def test_unstorable_input_is_refused(tmp_path: Path, tree: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        tio.save(tmp_path / "x.h5", tree)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------
# DataError: every fault names the file and the cause


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.h5: no such file"):
        tio.load(tmp_path / "nope.h5")


def test_truncated_file(tmp_path: Path) -> None:
    path = tio.save(tmp_path / "t.h5", {"a": _random((50, 40), "float64")})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"t\.h5: truncated file"):
        tio.load(path)


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "g.h5"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(DataError, match=r"g\.h5: not an HDF5 file"):
        tio.load(path)


def test_flipped_data_bytes_fail_the_checksum(tmp_path: Path) -> None:
    path = tio.save(tmp_path / "c.h5", {"a": _random((20, 10), "float64"), "b": np.ones(3)})
    with h5py.File(path, "r") as f:
        offset = f["a"].id.get_offset()
    assert offset is not None
    with open(path, "r+b") as handle:
        handle.seek(offset + 17)
        byte = handle.read(1)
        handle.seek(offset + 17)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(DataError, match=r"c\.h5: checksum mismatch in dataset '/a'"):
        tio.load(path)


def test_wrong_schema(tmp_path: Path) -> None:
    path = tio.save(tmp_path / "w.h5", {"a": np.ones(2)}, schema="svd_reference")
    with pytest.raises(DataError, match=r"w\.h5: wrong schema: file has 'svd_reference', expected 'test_io_pair'"):
        tio.load(path, schema="test_io_pair")


def test_future_schema_version(tmp_path: Path) -> None:
    path = tio.save(tmp_path / "f.h5", np.ones(2))
    with rewritten(path) as f:
        f.attrs["schema_version"] = np.int64(7)
    with pytest.raises(DataError, match=r"f\.h5: .*newer tnkit: version 7 > supported 1; upgrade tnkit"):
        tio.load(path)


def test_future_version_of_a_nested_registered_type(tmp_path: Path) -> None:
    path = tio.save(tmp_path / "v.h5", {"p": Pair(np.ones(1), np.ones(1), "x")})
    with rewritten(path) as f:
        f["p"].attrs["tnkit_version"] = np.int64(3)
    with pytest.raises(DataError, match=r"'test_io_pair' object written by a newer tnkit: version 3 > supported 2"):
        tio.load(path)


def test_unregistered_type_in_file(tmp_path: Path) -> None:
    path = tio.save(tmp_path / "u.h5", {"p": Pair(np.ones(1), np.ones(1), "x")})
    with rewritten(path) as f:
        set_attr(f["p"], "tnkit_type", "not_registered_anywhere")
    with pytest.raises(DataError, match="'not_registered_anywhere' object but no loader is registered"):
        tio.load(path)


def test_from_dict_failure_is_a_data_error(tmp_path: Path) -> None:
    path = tio.save(tmp_path / "k.h5", Pair(np.ones(1), np.ones(1), "x"))
    with rewritten(path) as f:
        del f["left"]
    with pytest.raises(DataError, match=r"k\.h5: cannot rebuild 'test_io_pair' .*KeyError"):
        tio.load(path)


def test_missing_root_attributes(tmp_path: Path) -> None:
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["a"] = np.ones(3)
        f.attrs["tnkit_schema"] = "dict"
    with pytest.raises(DataError, match=r"plain\.h5: missing root attribute\(s\) schema_version, created"):
        tio.load(path)


def test_missing_array_checksum(tmp_path: Path) -> None:
    path = tio.save(tmp_path / "m.h5", {"a": np.ones(3)})
    with h5py.File(path, "r+") as f:
        del f["a"].attrs["sha256"]
    with pytest.raises(DataError, match=r"m\.h5: dataset '/a' has no sha256 attribute"):
        tio.load(path)


def test_sha256_file_of_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        tio.sha256_file(tmp_path / "none.bin")


def test_data_error_is_an_exception_with_a_one_line_message(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        tio.load(tmp_path / "nope.h5")
    assert isinstance(info.value, Exception) and "\n" not in str(info.value)


# --------------------------------------------------------------------------------------
# Registration rules


def test_register_type_refuses_a_taken_name() -> None:
    class Other:
        pass

    with pytest.raises(ValueError, match="already registered"):
        tio.register_type(Other, "test_io_pair", _pair_to_dict, _pair_from_dict)
    with pytest.raises(ValueError, match="reserved"):
        tio.register_type(Other, "dict", _pair_to_dict, _pair_from_dict)
    with pytest.raises(ValueError, match="int >= 1"):
        tio.register_schema("test_io_bad", 0)


def test_load_like_cuda_tensor(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch-cuda: no CUDA device on this machine")
    pair = Pair(_random((2, 2), "complex64"), _random((3,), "float64"), "gpu")
    tio.save(tmp_path / "p.h5", pair)
    back = tio.load(tmp_path / "p.h5", like=torch.zeros(1, device="cuda"))
    assert back.left.device.type == "cuda" and back.left.dtype == torch.complex64
    np.testing.assert_array_equal(back.right.cpu().numpy(), pair.right)


# --------------------------------------------------------------------------------------
# Format 1 (before group digests, text in the global heap) and upgrade


def _as_format_1(path: Path) -> None:
    """Rewrite a saved file as tnkit format 1 wrote it: no digests, text as variable-length strings."""
    with h5py.File(path, "r+") as f:
        objects: list[Any] = [f]
        f.visititems(lambda _, obj: objects.append(obj))
        for obj in objects:
            for name, value in list(obj.attrs.items()):
                del obj.attrs[name]
                if name in ("tnkit_format", "tnkit_attrs_sha256"):
                    continue
                obj.attrs[name] = value.decode() if isinstance(value, bytes) else value


def test_format_1_files_load_and_upgrade_keeps_their_content(tmp_path: Path) -> None:
    tree = {
        "a": np.arange(6.0).reshape(2, 3),
        "note": "old",
        "meta": {"k": 3, "pair": Pair(np.ones(2), np.zeros(1), "p")},
    }
    path = tio.save(tmp_path / "old.h5", tree, generator={"function": "old", "parameters": {}})
    _as_format_1(path)
    with h5py.File(path, "r") as f:
        assert "tnkit_format" not in f.attrs and h5py.check_string_dtype(f.attrs.get_id("note").dtype).length is None
    before, info = tio.load(path), tio.provenance(path)
    assert before["note"] == "old" and before["meta"]["k"] == 3
    assert tio.upgrade(path) is True and tio.upgrade(path) is False
    after = tio.load(path)
    np.testing.assert_array_equal(after["a"], before["a"])
    assert after["note"] == "old" and after["meta"]["k"] == 3 and after["meta"]["pair"].label == "p"
    assert tio.provenance(path) == info
    with h5py.File(path, "r") as f:
        assert int(f.attrs["tnkit_format"]) == 2
        assert h5py.check_string_dtype(f.attrs.get_id("note").dtype).length == 3  # out of the global heap
    assert [p.name for p in tmp_path.iterdir()] == ["old.h5"]


def test_upgrade_refuses_a_damaged_file(tmp_path: Path) -> None:
    path = tio.save(tmp_path / "d.h5", {"a": np.arange(4.0)})
    _as_format_1(path)
    with h5py.File(path, "r+") as f:
        f["a"][0] = 99.0
    before = path.read_bytes()
    with pytest.raises(DataError, match=r"d\.h5: checksum mismatch in dataset '/a'"):
        tio.upgrade(path)
    assert path.read_bytes() == before
