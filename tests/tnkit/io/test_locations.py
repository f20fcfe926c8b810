"""Where data is looked for: TNKIT_DATASETS, the development checkout, the per-user data folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import tnkit.io as tio
from tnkit.io import _locations


class _Distribution:
    """What importlib.metadata.distribution returns, reduced to the installer's record."""

    def __init__(self, record: dict[str, object] | None) -> None:
        self.record = record

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return None if self.record is None else json.dumps(self.record)


def _installed_from(monkeypatch: pytest.MonkeyPatch, *records: dict[str, object] | None) -> None:
    distributions = [_Distribution(record) for record in records]
    monkeypatch.setattr(_locations.metadata, "distributions", lambda name: iter(distributions))


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A per-user data folder under tmp_path (XDG_DATA_HOME on Linux)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("XDG_DATA_HOME selects the user data folder on Linux only")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("TNKIT_DATASETS", raising=False)
    return tmp_path / "xdg" / "tnkit"


def test_user_data_dir_follows_platformdirs(user_home: Path) -> None:
    assert tio.user_data_dir() == user_home


def test_editable_install_is_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _installed_from(monkeypatch, {"url": tmp_path.as_uri(), "dir_info": {"editable": True}})
    assert tio.source_checkout() == tmp_path


@pytest.mark.parametrize(
    "record",
    [
        None,  # installed from an index: no record
        {"url": "file:///somewhere/tnkit-0.1.0-py3-none-any.whl", "archive_info": {}},  # a wheel file
        {"url": "file:///work/tnkit", "dir_info": {}},  # `pip install .`: copied, not linked
        {"url": "https://example.org/tnkit.git", "vcs_info": {"vcs": "git"}},
    ],
)
def test_other_installs_have_no_checkout(record: dict[str, object] | None, monkeypatch: pytest.MonkeyPatch) -> None:
    _installed_from(monkeypatch, record)
    assert tio.source_checkout() is None


def test_checkout_that_was_removed_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _installed_from(monkeypatch, {"url": (tmp_path / "gone").as_uri(), "dir_info": {"editable": True}})
    assert tio.source_checkout() is None


def test_no_distribution_no_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed_from(monkeypatch)
    assert tio.source_checkout() is None


def test_build_leftover_does_not_hide_the_editable_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Run from the checkout, its tnkit.egg-info (no installer record) is found before the dist-info.
    _installed_from(monkeypatch, None, {"url": tmp_path.as_uri(), "dir_info": {"editable": True}})
    assert tio.source_checkout() == tmp_path


def test_lookup_order(tmp_path: Path, user_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "datasets").mkdir(parents=True)
    explicit = tmp_path / "explicit"
    # 1. the environment variable beats a checkout and the user folder
    _installed_from(monkeypatch, {"url": checkout.as_uri(), "dir_info": {"editable": True}})
    monkeypatch.setenv("TNKIT_DATASETS", str(explicit))
    assert (tio.datasets_dir(), tio.datasets_origin()) == (explicit, "TNKIT_DATASETS")
    # 2. then the development checkout's datasets/
    monkeypatch.delenv("TNKIT_DATASETS")
    assert (tio.datasets_dir(), tio.datasets_origin()) == (checkout / "datasets", "source checkout")
    # 3. a checkout without datasets/, or a wheel install: the user data folder
    (checkout / "datasets").rmdir()
    assert (tio.datasets_dir(), tio.datasets_origin()) == (user_home / "datasets", "user data folder")
    _installed_from(monkeypatch, None)
    assert tio.datasets_dir() == user_home / "datasets"
    assert not tio.datasets_dir().exists()  # looking up creates nothing


def test_env_var_expands_the_home_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TNKIT_DATASETS", "~/data")
    assert tio.datasets_dir() == (tmp_path / "data").resolve()
