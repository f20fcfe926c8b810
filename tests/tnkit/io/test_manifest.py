"""The dataset manifest: lookup, verification, checksum-checked loading, generators."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import tnkit
import tnkit.io as tio
from tnkit.io import DataError

ENTRY = """
[{name}]
path = "{path}"
sha256 = "{sha256}"
size = {size}
schema = "{schema}"
schema_version = 1
provenance = "made by a test"
licence = "CC0-1.0"
generate = "tnkit data generate {name}"
"""


def write_manifest(folder: Path, **entries: dict[str, object]) -> Path:
    text = "".join(ENTRY.format(name=name, **fields) for name, fields in entries.items())
    (folder / "manifest.toml").write_text(text)
    return folder / "manifest.toml"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A datasets folder with one good dataset 'small', selected through TNKIT_DATASETS."""
    path = tio.save(tmp_path / "small.h5", {"x": np.arange(5.0)}, schema="small_schema")
    write_manifest(
        tmp_path,
        small={
            "path": "small.h5",
            "sha256": tio.sha256_file(path),
            "size": path.stat().st_size,
            "schema": "small_schema",
        },
    )
    monkeypatch.setenv("TNKIT_DATASETS", str(tmp_path))
    return tmp_path


def test_default_datasets_folder_is_beside_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TNKIT_DATASETS", raising=False)
    expected = Path(tnkit.__file__).resolve().parent.parent / "datasets"
    assert tio.datasets_dir() == expected
    assert not (expected / "__init__.py").exists()


def test_manifest_entries(store: Path) -> None:
    entries = tio.manifest()
    assert list(entries) == ["small"]
    entry = entries["small"]
    assert isinstance(entry, tio.DatasetEntry)
    assert entry.file == store / "small.h5" == tio.dataset_path("small")
    assert entry.schema == "small_schema" and entry.licence == "CC0-1.0"
    assert tio.manifest(store) == tio.manifest(store / "manifest.toml") == entries


def test_load_dataset_verifies_then_loads(store: Path) -> None:
    assert tio.verify_dataset("small").name == "small"
    np.testing.assert_array_equal(tio.load_dataset("small")["x"], np.arange(5.0))


def test_load_dataset_like_torch(store: Path) -> None:
    torch = pytest.importorskip("torch")
    x = tio.load_dataset("small", like=torch.zeros(1))["x"]
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float64


def test_unknown_dataset_lists_known_names(store: Path) -> None:
    with pytest.raises(DataError, match=r"unknown dataset 'nope' \(not in .*manifest\.toml\); known: small"):
        tio.load_dataset("nope")


def test_checksum_mismatch_against_the_manifest(store: Path) -> None:
    # A different file of the same size: only the sha256 can tell.
    tio.save(store / "small.h5", {"x": np.arange(5.0) + 1.0}, schema="small_schema")
    assert (store / "small.h5").stat().st_size == tio.manifest()["small"].size
    with pytest.raises(DataError, match=r"small\.h5: sha256 [0-9a-f]{12}\.\.\. != [0-9a-f]{12}\.\.\. in the manifest"):
        tio.load_dataset("small")


def test_size_mismatch_against_the_manifest(store: Path) -> None:
    with open(store / "small.h5", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(DataError, match=r"small\.h5: size \d+ bytes != \d+ in the manifest"):
        tio.verify_dataset("small")


def test_missing_dataset_file_says_how_to_regenerate(store: Path) -> None:
    (store / "small.h5").unlink()
    with pytest.raises(DataError, match=r"small\.h5: missing; regenerate with `tnkit data generate small`"):
        tio.verify_dataset("small")


def test_manifest_schema_is_enforced_on_load(store: Path) -> None:
    path = store / "small.h5"
    write_manifest(
        store,
        small={
            "path": "small.h5",
            "sha256": tio.sha256_file(path),
            "size": path.stat().st_size,
            "schema": "other_schema",
        },
    )
    with pytest.raises(DataError, match="wrong schema: file has 'small_schema', expected 'other_schema'"):
        tio.load_dataset("small")


def test_missing_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TNKIT_DATASETS", str(tmp_path))
    with pytest.raises(DataError, match=r"manifest\.toml: no such file; set TNKIT_DATASETS"):
        tio.manifest()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[a]\npath = 'a.h5'\n", "lacks the required key 'sha256'"),
        ("[a\n", "invalid TOML"),
        ("a = 1\n", r"\[a\] must be a table"),
    ],
)
def test_malformed_manifest(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "manifest.toml").write_text(text)
    with pytest.raises(DataError, match=match):
        tio.manifest(tmp_path)


def test_manifest_paths_cannot_escape_the_folder(tmp_path: Path) -> None:
    write_manifest(tmp_path, a={"path": "../a.h5", "sha256": "0" * 64, "size": 1, "schema": "s"})
    with pytest.raises(DataError, match="must stay inside the datasets folder"):
        tio.manifest(tmp_path)


def test_generator_registry(store: Path) -> None:
    @tio.register_generator("small")
    def make_small(out: Path) -> None:
        tio.save(
            out, {"x": np.arange(5.0)}, schema="small_schema", generator={"function": "make_small", "parameters": {}}
        )

    assert "small" in tio.generator_names()
    (store / "small.h5").unlink()
    written = tio.generate_dataset("small")
    assert written == store / "small.h5"
    np.testing.assert_array_equal(tio.load(written)["x"], np.arange(5.0))
    other = tio.generate_dataset("small", out=store / "sub" / "copy.h5")
    assert other.is_file()


def test_unknown_generator(store: Path) -> None:
    with pytest.raises(DataError, match="no generator registered for dataset 'nope'; known: .*svd_reference"):
        tio.generate_dataset("nope", out=store / "x.h5")


def test_generator_module_is_imported_on_demand(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module_dir = store / "mods"
    module_dir.mkdir()
    (module_dir / "tnkit_test_gen_module.py").write_text(
        "import numpy as np\nimport tnkit.io as tio\n\n"
        "@tio.register_generator('lazy')\n"
        "def lazy(out):\n    tio.save(out, np.ones(2))\n"
    )
    monkeypatch.syspath_prepend(str(module_dir))
    manifest_file = store / "manifest.toml"
    manifest_file.write_text(
        manifest_file.read_text()
        + ENTRY.format(name="lazy", path="lazy.h5", sha256="0" * 64, size=1, schema="array")
        + 'generator_module = "tnkit_test_gen_module"\n'
    )
    assert tio.generate_dataset("lazy").is_file()


def test_shipped_svd_reference_is_listed_and_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TNKIT_DATASETS", raising=False)
    entry = tio.verify_dataset("svd_reference")
    meta = tio.provenance(entry.file)
    assert meta["schema"] == entry.schema == "svd_reference"
    assert meta["schema_version"] == entry.schema_version
    assert meta["generator"]["function"] == "tnkit.io._generators.svd_reference"
    assert entry.generate == "tnkit data generate svd_reference"


def test_copy_of_shipped_file_with_flipped_byte_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TNKIT_DATASETS", raising=False)
    shipped = tio.manifest()["svd_reference"]
    shutil.copy(shipped.file, tmp_path / shipped.path)
    shutil.copy(shipped.file.parent / "manifest.toml", tmp_path / "manifest.toml")
    data = bytearray((tmp_path / shipped.path).read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / shipped.path).write_bytes(bytes(data))
    monkeypatch.setenv("TNKIT_DATASETS", str(tmp_path))
    with pytest.raises(DataError, match=r"svd_reference\.h5: sha256 .* in the manifest"):
        tio.load_dataset("svd_reference")
