"""The README's Python tour runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in blocks:
        lines = []
        for line in block.splitlines():
            if "TypeError" in line and line.lstrip().startswith("tnkit.namespace"):
                stmt = line.split("#")[0].strip()
                lines.append(
                    f"try:\n    {stmt}\nexcept TypeError:\n    pass\nelse:\n    raise AssertionError('no TypeError')"
                )
            else:
                lines.append(line)
        exec(compile("\n".join(lines), "README.md", "exec"), namespace)
    assert abs(float(namespace["w"][0]) + 5.142090632841) < 1e-9
