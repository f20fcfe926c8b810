"""The README says what the code does: its tour runs, block by block, and its validation table is the suite's.

Each Python block of the tour is a script of its own: it runs alone, in a fresh interpreter, from an
empty folder, with warnings as errors (as in the rest of the suite), so no block leans on a name or
a file of another. A few blocks also check what their comments claim. The validation table is
compared row by row with the cases ``tnkit validate`` discovers: the same cases, in the order they
run, each under its folder, with the tolerance the case declares and the thresholds its metric uses.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tnkit.validation import Case, case_files, discover, validation_dir

README = Path(__file__).resolve().parent.parent / "README.md"

# Runs a block as its own __main__ with the warning filters of pyproject.toml's pytest settings.
_RUNNER = """\
import runpy, sys, warnings
warnings.filterwarnings("error")
warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch.*")
warnings.filterwarnings("ignore", category=UserWarning, module="torch.*")
runpy.run_path(sys.argv[1], run_name="__main__")
"""

# A block runs in seconds on one core; a hung one should fail the test, not the whole job.
_BLOCK_TIMEOUT_S = 300

# What a block's comments claim, checked after it runs (keyed by block id; see _tour_blocks).
_CLAIMS = {
    "00-arrays-in-arrays": """
assert "mixed array libraries: numpy and torch" in message
u, s, vh, discarded = truncated_svd(a, max_rank=50)
assert abs(discarded - np.linalg.norm(a - (u * s) @ vh) ** 2) <= 1e-8 * np.linalg.norm(a) ** 2
""",
    "01-krylov-solvers-on": """
assert abs(float(w[0]) + 5.142090632841) < 1e-9
assert abs(np.linalg.norm(psi_t) - 1.0) < 1e-10
""",
    "03-matrix-product-states": """
assert configs.shape == (100, 20)
assert abs(float(res1.state.expect(models.spin_operators(1)["z"]).sum())) < 1e-8
""",
    "04-time-evolution": """
assert run.observable("sz").shape == (21, 12)
""",
    "05-tensor-decompositions": """
assert np.linalg.norm(x - t.to_dense()) <= 0.5 * np.linalg.norm(x)
assert info.evaluations < 16**6
""",
    "06-long-runs-one": """
assert abs(abs(complex(tnkit.MPS.from_tt(tt).overlap(res.state))) - 1.0) < 1e-10
""",
    "08-structure-search": """
assert res.best.params == planted.num_params == 57
""",
    "09-reference-pde-solvers": """
assert isinstance(snapshots, torch.Tensor) and tuple(snapshots.shape) == (4, 4, 64, 64)
""",
    "10-neural-operators": """
assert {"train_loss", "16_l2", "32_l2"} <= set(res.final())
""",
    "11-interatomic-potentials": """
assert {"energy_mae", "force_mae"} <= set(evaluate(result.model, test))
""",
}


def _tour_blocks() -> dict[str, str]:
    """The README's Python blocks by id: their index and the first words of the bold lead before them."""
    text = README.read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    for i, match in enumerate(re.finditer(r"```python\n(.*?)```", text, flags=re.S)):
        leads = re.findall(r"\*\*(.+?)\*\*", text[: match.start()])
        words = re.findall(r"[a-z0-9]+", leads[-1].lower()) if leads else ["block"]
        blocks[f"{i:02d}-{'-'.join(words[:3])}"] = match.group(1)
    return blocks


_BLOCKS = _tour_blocks()


def _needs(block: str) -> list[str]:
    modules = []
    if re.search(r"\btorch\b|physics\.(operators|potentials)|torch_dataset", block):
        modules.append("torch")
    if re.search(r"\brun_md\b|\.to_ase\(", block):
        modules.append("ase")
    return modules


def test_tour_has_its_blocks_and_claims() -> None:
    assert len(_BLOCKS) >= 12
    assert set(_CLAIMS) <= set(_BLOCKS), f"claims for blocks the README no longer has: {set(_CLAIMS) - set(_BLOCKS)}"


@pytest.mark.parametrize("block_id", list(_BLOCKS))
def test_tour_block_runs_alone(block_id: str, tmp_path: Path) -> None:
    for module in _needs(_BLOCKS[block_id]):
        pytest.importorskip(module)
    script = tmp_path / "tour_block.py"
    script.write_text(_BLOCKS[block_id] + _CLAIMS.get(block_id, ""), encoding="utf-8")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=_BLOCK_TIMEOUT_S,
    )
    status, stderr = done.returncode, done.stderr[-3000:]
    assert status == 0, f"README block {block_id} fails when run alone:\n{stderr}"


# ---------------------------------------------------------------------------------------------
# The validation table


def _cells(row: str) -> list[str]:
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def _validation_table() -> list[dict[str, str]]:
    lines = README.read_text(encoding="utf-8").splitlines()
    header = "| folder | case | reference | metric | tolerance |"
    assert header in lines, "the README's validation table (header " + header + ") is gone"
    start = lines.index(header)
    names = _cells(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(names, _cells(line), strict=True)))
    return rows


_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _numbers(text: str) -> set[float]:
    return {float(x) for x in _NUMBER.findall(text.replace("−", "-"))}


@pytest.fixture(scope="module")
def cases() -> dict[str, tuple[str, Case]]:
    """Every discovered case by name, with its folder (``family/``)."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("the operators and potentials cases import torch")
    directory = validation_dir()
    folders = {path.stem: f"{path.parent.relative_to(directory).as_posix()}/" for path in case_files(directory)}
    return {case.name: (folders[case.name], case) for case in discover(directory)}


def test_validation_table_lists_every_case_in_run_order(cases: dict[str, tuple[str, Case]]) -> None:
    rows = _validation_table()
    assert [row["case"] for row in rows] == list(cases)
    assert [row["folder"] for row in rows] == [folder for folder, _ in cases.values()]


def test_validation_table_tolerances_are_the_cases(cases: dict[str, tuple[str, Case]]) -> None:
    wrong = []
    for row in _validation_table():
        declared = cases[row["case"]][1].tolerance
        try:
            written = float(row["tolerance"])
        except ValueError:
            written = None
        if written != declared:
            wrong.append(f"{row['case']}: README {row['tolerance']!r}, case {declared:g}")
    assert not wrong, "README validation table tolerances differ from the cases': " + "; ".join(wrong)


def test_validation_table_metric_thresholds_are_the_cases(cases: dict[str, tuple[str, Case]]) -> None:
    """Every number in a row's metric (a threshold such as ``/ 0.05``, ``RSE ≤ 1e-6``) is one the case states."""
    wrong = []
    for row in _validation_table():
        case = cases[row["case"]][1]
        stated = _numbers(" ".join((case.metric, case.claim, case.reference)))
        extra = sorted(_numbers(row["metric"]) - stated)
        if extra:
            wrong.append(f"{row['case']}: {', '.join(f'{x:g}' for x in extra)} (case metric: {case.metric})")
    assert not wrong, "README validation table metrics use numbers their cases do not: " + "; ".join(wrong)
