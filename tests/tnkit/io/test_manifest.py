"""The dataset manifest: lookup, verification, checksum-checked loading, generators."""

from __future__ import annotations

import importlib.metadata
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import tnkit.io as tio
from tnkit.io import DataError, _manifest

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


def test_default_datasets_folder_is_the_development_checkouts(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test suite runs from an editable install (make install): its checkout's datasets/.
    monkeypatch.delenv("TNKIT_DATASETS", raising=False)
    checkout = tio.source_checkout()
    assert checkout is not None and (checkout / "pyproject.toml").is_file()
    assert tio.datasets_dir() == checkout / "datasets"
    assert tio.datasets_origin() == "source checkout"
    # A data folder, never a package: it would shadow HuggingFace's `datasets`.
    assert not (tio.datasets_dir() / "__init__.py").exists()


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


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"manifest\.toml: no such file"):
        tio.manifest(tmp_path / "manifest.toml")


def test_folder_without_manifest_uses_the_shipped_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh data folder (e.g. the user's): every shipped dataset is listed, none is there yet.
    monkeypatch.setenv("TNKIT_DATASETS", str(tmp_path))
    entries = tio.manifest()
    assert {"svd_reference", "darcy_64", "xtb_md_ethanol"} <= set(entries)
    assert all(entry.root == tmp_path and not entry.file.exists() for entry in entries.values())
    shipped = str(resources.files("tnkit.io") / "manifest.toml")
    assert tio.manifest_sources()[0] == shipped
    with pytest.raises(DataError, match=r"svd_reference\.h5: missing; regenerate with `tnkit data generate svd_r"):
        tio.verify_dataset("svd_reference")


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


PLUGIN = """
import numpy as np
import tnkit.io as tio

def register():
    tio.register_manifest({manifest!r})

    @tio.register_generator("lazy")
    def lazy(out):
        tio.save(out, np.ones(2))
"""


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, *points: tuple[str, str]) -> None:
    """Stand-in for the installed distributions' ``tnkit.datasets`` entry points."""
    real = importlib.metadata.entry_points

    def entry_points(**selection: str) -> object:
        if selection.get("group") != tio.ENTRY_POINT_GROUP:
            return real(**selection)
        return [importlib.metadata.EntryPoint(name, value, tio.ENTRY_POINT_GROUP) for name, value in points]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    # What the fake plug-ins register must not outlive the test.
    monkeypatch.setattr(_manifest, "_SHIPPED", dict(_manifest._SHIPPED))


def test_plugin_found_through_its_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    plugin_manifest = module_dir / "lazy_manifest.toml"
    plugin_manifest.write_text(ENTRY.format(name="lazy", path="lazy.h5", sha256="0" * 64, size=1, schema="array"))
    (module_dir / "tnkit_test_plugin.py").write_text(PLUGIN.format(manifest=str(plugin_manifest)))
    monkeypatch.syspath_prepend(str(module_dir))
    _fake_entry_points(monkeypatch, ("test-plugin", "tnkit_test_plugin:register"))
    data = tmp_path / "data"
    monkeypatch.setenv("TNKIT_DATASETS", str(data))
    # Nothing imported the plug-in: the manifest and generator lookups load it by entry point.
    entries = tio.manifest()
    assert "lazy" in entries and "svd_reference" in entries
    assert str(plugin_manifest) in tio.manifest_sources()
    assert tio.generate_dataset("lazy") == data / "lazy.h5"
    assert (data / "lazy.h5").is_file()
    assert tio.load_plugins()["test-plugin"] is None


def test_broken_plugin_is_reported_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(monkeypatch, ("broken-plugin", "tnkit_no_such_module_xyz:register"))
    monkeypatch.setenv("TNKIT_DATASETS", str(tmp_path))
    assert "svd_reference" in tio.manifest()
    assert tio.load_plugins()["broken-plugin"].startswith("ModuleNotFoundError")
    with pytest.raises(DataError, match=r"no generator registered for dataset 'nope'.*plug-in 'broken-plugin' failed"):
        tio.generate_dataset("nope", out=tmp_path / "x.h5")


def test_shipped_manifests_may_not_share_a_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(monkeypatch)
    clash = write_manifest(tmp_path, svd_reference={"path": "x.h5", "sha256": "0" * 64, "size": 1, "schema": "s"})
    tio.register_manifest(clash)
    monkeypatch.setenv("TNKIT_DATASETS", str(tmp_path / "data"))
    with pytest.raises(DataError, match=r"\[svd_reference\] is also listed in .*tnkit/io/manifest\.toml"):
        tio.manifest()


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
    data = bytearray((tmp_path / shipped.path).read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / shipped.path).write_bytes(bytes(data))
    monkeypatch.setenv("TNKIT_DATASETS", str(tmp_path))
    with pytest.raises(DataError, match=r"svd_reference\.h5: sha256 .* in the manifest"):
        tio.load_dataset("svd_reference")
