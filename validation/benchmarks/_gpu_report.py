"""What ``gpu_check.py`` reports: test counts from ``pytest -v`` output, the benchmark table from
run.py-format results, and the marked gpu-check block of RESULTS.md.

No subprocess and no GPU here: every function takes text or a dict and returns text, so the
tests exercise them on fabricated output.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tnkit.io import atomic_write

START, END = "<!-- gpu-check:start -->", "<!-- gpu-check:end -->"
TEST_SELECTION = "cupy or cuda"  # the `cupy` and `torch-cuda` fixture ids and the CUDA-only tests
OUTCOME = re.compile(r"^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")
KINDS = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")
Tests = tuple[dict[str, dict[str, int]], list[str], str]


def backend_of(nodeid: str) -> str:
    """The GPU backend of a test id, from its fixture parameters (``...[cupy-float32]``)."""
    params = nodeid.partition("[")[2]
    if re.search(r"(^|-)cupy(-|\]|$)", params):
        return "cupy"
    return "torch-cuda" if "torch-cuda" in params else "other CUDA tests"


def count_tests(lines: list[str]) -> Tests:
    """Outcomes per backend from ``pytest -v`` output, the failed ids, pytest's summary line."""
    counts: dict[str, dict[str, int]] = {}
    failed: list[str] = []
    for line in lines:
        m = OUTCOME.match(line)
        kind, where = (m[2], backend_of(m[1])) if m else ("ERROR", "collection")
        if m or re.match(r"^ERROR \S+\.py( |$)", line):  # -ra's line for a module that did not import
            counts.setdefault(where, {}).setdefault(kind, 0)
            counts[where][kind] += 1
            if kind in ("FAILED", "ERROR"):
                failed.append(f"{m[1]} {kind}" if m else line)
    summary = next((s.strip("= ") for s in reversed(lines) if re.match(r"^=+ .* in [\d.]+s", s)), "no summary")
    return counts, failed, summary


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1e3:.3g}" if seconds < 1 else f"{seconds * 1e3:.0f}"


def bench_table(results: dict[str, Any]) -> str:
    """Markdown table of the cases that ran, then a line per group of skipped or failed ones."""
    lines = [
        "| case | size | backend | peer | tnkit ms | peer ms | ratio | target | met |",
        "|---|---:|---|---|---:|---:|---:|---:|:---:|",
    ]
    notes: dict[tuple[str, str, str, str], int] = {}
    for r in results["cases"]:
        if r["status"] != "ok":
            key = (r["status"], r["name"], str(r.get("backend")), str(r.get("reason")))
            notes[key] = notes.get(key, 0) + 1
            continue
        ratio = "" if r.get("ratio") is None else f"{r['ratio']:.3f}"
        target = "" if r.get("target_ratio") is None else f"≤ {r['target_ratio']:g}"
        met = {True: "yes", False: "**no**", None: "–"}[r.get("meets_target")]
        size = f"{r['size']}" + (" (quick)" if r.get("quick") else "")
        lines.append(
            f"| {r['name']} | {size} | {r['backend']} | {r['peer'] or '– (tnkit alone)'} "
            f"| {_ms(r['tnkit_median_s'])} | {_ms(r['peer_median_s'])} | {ratio} | {target} | {met} |"
        )
    if len(lines) == 2:
        lines = ["No benchmark case ran."]
    lines += [""] * bool(notes) + [f"- {s}: {n} on {b} ({c} size(s)): {why}" for (s, n, b, why), c in notes.items()]
    return "\n".join(lines)


def section(info: dict[str, Any], tests: Tests, table: str) -> str:
    """The RESULTS.md block: date, device, versions, test counts per backend, benchmark table."""
    counts, failed, summary = tests
    head = (
        f"{info['device']}; Python {info['python']}, torch {info['torch']}, CuPy {info['cupy']}; "
        f"commit {info['commit']}; {info['wall_s']:.0f} s of a {info['budget_s']:.0f} s budget."
    )
    out = [
        f"## GPU — `make gpu-check`, {info['date']}",
        "",
        head,
        "",
        f'Tests: `pytest tests -m "not slow" -k "{TEST_SELECTION}"` — {summary}.',
        "",
        "| backend | " + " | ".join(k.lower() for k in KINDS) + " |",
        "|---|" + "---:|" * len(KINDS),
    ]
    out += [f"| {b} | " + " | ".join(str(row.get(k, 0)) for k in KINDS) + " |" for b, row in counts.items()]
    out += [""] * bool(failed) + [f"- {f}" for f in failed[:25]]
    out += [f"- … {len(failed) - 25} more"] * (len(failed) > 25)
    return "\n".join(out + ["", "Benchmarks (tnkit / peer, medians of interleaved pairs; run.py's cases):", "", table])


def replace_section(text: str, block: str) -> str:
    """``text`` with its gpu-check block (markers on lines of their own) replaced, or appended."""
    marked = f"{START}\n{block.strip()}\n{END}"
    pattern = re.compile(
        rf"^[ \t]*{re.escape(START)}[ \t]*$.*?^[ \t]*{re.escape(END)}[ \t]*$", flags=re.DOTALL | re.MULTILINE
    )
    if pattern.search(text):
        return pattern.sub(lambda _: marked, text, count=1)
    return text.rstrip("\n") + "\n\n" + marked + "\n"


def write_section(path: Path, block: str) -> None:
    """Put ``block`` into ``path``'s gpu-check block; write and rename, never a half file."""
    text = replace_section(path.read_text(encoding="utf-8"), block)
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
