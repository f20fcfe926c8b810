"""Damaged manifests: a one-line DataError naming the manifest and the fault."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import tnkit.io as tio
from tnkit.io import DataError

GOOD = """
[demo]
path = "demo.h5"
sha256 = "{sha}"
size = 10
schema = "demo"
schema_version = 1
provenance = "made for a test"
licence = "CC0-1.0"
generate = "tnkit data generate demo"
"""


def _manifest_error(path, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        tio.manifest(path)
    assert "\n" not in str(info.value)


FAULTS = {
    "a folder named manifest.toml": (lambda p: p.mkdir(), "is a folder, not a manifest file"),
    "binary noise": (lambda p: p.write_bytes(bytes(range(256)) * 4), "not a text file|invalid TOML"),
    "invalid UTF-8": (lambda p: p.write_bytes(b'[demo]\npath = "\xff\xfe.h5"\n'), "not a text file"),
    "invalid TOML": (lambda p: p.write_text("[demo\npath = 1\n"), "invalid TOML"),
    "empty sha256": (lambda p: p.write_text(GOOD.format(sha="")), "sha256 must be 64 lowercase hex digits"),
    "path leaving the datasets folder": (
        lambda p: p.write_text(GOOD.format(sha="0" * 64).replace('"demo.h5"', '"../../etc/passwd"')),
        "must stay inside the datasets folder",
    ),
    "entry that is not a table": (lambda p: p.write_text('demo = "x"\n'), r"\[demo\] must be a table"),
    "missing field": (
        lambda p: p.write_text(GOOD.format(sha="0" * 64).replace('licence = "CC0-1.0"\n', "")),
        "lacks the required key 'licence'",
    ),
    "field of the wrong type": (
        lambda p: p.write_text(GOOD.format(sha="0" * 64).replace("size = 10", 'size = "ten"')),
        "size must be a int",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_damaged_manifest(tmp_path, fault) -> None:
    make, match = FAULTS[fault]
    path = tmp_path / "manifest.toml"
    make(path)
    _manifest_error(tmp_path, match)  # the folder: its manifest.toml is read


def test_good_manifest_reads(tmp_path) -> None:
    path = tmp_path / "manifest.toml"
    path.write_text(GOOD.format(sha="0" * 64))
    assert tio.manifest(path)["demo"].size == 10


def test_unreadable_manifest(tmp_path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    path = tmp_path / "manifest.toml"
    path.write_text(GOOD.format(sha="0" * 64))
    path.chmod(0o200)
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv")
        caps = "-dac_override,-dac_read_search"
        prefix = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
    code = (
        "import sys, tnkit.io as tio\n"
        "try:\n    tio.manifest(sys.argv[1]); print('READ')\n"
        "except tio.DataError as e:\n    print('DATAERROR', e)\n"
    )
    out = subprocess.run([*prefix, sys.executable, "-c", code, str(path)], capture_output=True, text=True).stdout
    assert out.startswith("DATAERROR") and "no permission to read it" in out, out
