"""The README says what the code does: its tour runs, block by block, and its tables are the records'.

Each Python block of the tour is a script of its own: it runs alone, in a fresh interpreter, from an
empty folder, with warnings as errors (as in the rest of the suite), so no block leans on a name or
a file of another. A few blocks also check what their comments claim. The validation and benchmark
tables are rendered from the records in ``validation/records/`` (as the documentation's are), and the
validation record must hold the cases ``tnkit validate`` discovers now: the same cases, in the order
they run, each under its folder, with the claim, reference, metric and tolerance it declares.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tnkit.validation import README_MARKERS, Case, discover, records_table, validation_dir
from tnkit.validation import RECORDS as RECORD

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
# The validation and benchmark tables: rendered from the records in validation/records/


def _block(start: str, end: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(start)}\n(.*?)\n{re.escape(end)}$", text, flags=re.S | re.M)
    assert match, f"the README has no {start} ... {end} block"
    return match.group(1)


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads((validation_dir() / RECORD).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    """Every discovered case, in run order."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("the operators and potentials cases import torch")
    return discover(validation_dir())


def test_validation_block_is_the_record(record: dict) -> None:
    assert _block(*README_MARKERS) == records_table(record), (
        "the README's validation block is not the record's table: run "
        "`tnkit validate --from-json validation/records/validation-quick.json --readme README.md`"
    )


def test_validation_record_is_the_suite(record: dict, cases: list[Case]) -> None:
    """The record holds every case, in run order, with the claim, reference, metric and tolerance it declares now."""
    fields = ("family", "name", "claim", "reference", "metric", "tolerance")
    recorded = [tuple(r.get(f) for f in fields) for r in record["cases"]]
    declared = [tuple(getattr(c, f) for f in fields) for c in cases]
    stale = sorted({row[1] for row in set(recorded) ^ set(declared)})
    assert recorded == declared, (
        f"validation/records/validation-quick.json is stale for {', '.join(stale) or 'the order of the cases'}: "
        "rerun `make record-validation` and commit the record"
    )
    assert record["quick"] is True


def test_validation_record_passed(record: dict) -> None:
    failed = [r["name"] for r in record["cases"] if not (r["passed"] or r.get("skipped"))]
    assert record["passed"] and not failed, f"the recorded run failed: {failed}"


def _bench_runner():
    path = validation_dir() / "benchmarks" / "run.py"
    spec = importlib.util.spec_from_file_location("tnkit_bench_run_for_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_block_is_the_record() -> None:
    runner = _bench_runner()
    bench = json.loads((validation_dir() / "records" / "bench.json").read_text(encoding="utf-8"))
    assert _block(runner.START, runner.END) == runner.markdown_table(bench), (
        "the README's benchmark block is not the record's table: run "
        "`python validation/benchmarks/run.py --from-json validation/records/bench.json --readme README.md`"
    )


def test_merging_a_partial_bench_run_replaces_only_its_modules() -> None:
    runner = _bench_runner()

    def case(module: str, name: str, met: bool | None) -> dict:
        return {"module": module, "name": name, "status": "ok", "meets_target": met}

    full = {
        "generated": "2026-01-01T00:00:00+00:00",
        "cases": [case("bench_a", "a1", True), case("bench_b", "b1", False), case("bench_b", "b2", False)],
        "summary": {},
    }
    partial = {
        "generated": "2026-02-01T00:00:00+00:00",
        "git_commit": "abc1234",
        "command": ["run.py", "-k", "bench_b"],
        "cases": [case("bench_b", "b1", True)],
    }
    merged = runner.merge_results(full, partial)
    assert [(c["module"], c["name"], c["meets_target"]) for c in merged["cases"]] == [
        ("bench_a", "a1", True),
        ("bench_b", "b1", True),
    ]
    assert merged["summary"] == {"ran": 2, "skipped": 0, "errors": 0, "met_target": 2, "missed_target": 0}
    assert merged["generated"] == full["generated"] and merged["partial_runs"][0]["git_commit"] == "abc1234"
    again = runner.merge_results(merged, {**partial, "git_commit": "def5678"})  # a newer re-run replaces the entry
    assert [r["git_commit"] for r in again["partial_runs"]] == ["def5678"]
