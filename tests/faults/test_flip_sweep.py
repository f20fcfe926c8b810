"""Random single-bit flips over the shipped datasets, each file loaded with ``tnkit.io.load``
(not ``load_dataset``, whose whole-file sha256 would catch every flip before HDF5 reads a
byte) in a separate process under a time limit.

Every flip must give a one-line DataError or exactly the original content and provenance:
never a crash, a hang, another exception or silently different data. The default run
flips a few hundred bits over the three smallest files; ``-m slow`` flips thousands over
all of them.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

import tnkit.io as tio
from tests.faults._harness import LoadWorker, describe, flipped

QUICK = {"darcy_test_16": 200, "svd_reference": 200, "darcy_test_32": 200}
SLOW_PER_FILE = 400
LIMIT_S = 30.0


def _sweep(name: str, flips: int, tmp_path) -> Counter:
    entry = tio.verify_dataset(name)
    data = entry.file.read_bytes()
    kind, reference = describe(str(entry.file))
    assert kind == "loaded", reference
    rng = random.Random(f"{name}-{flips}")
    worker = LoadWorker(timeout=LIMIT_S)
    counts: Counter = Counter()
    bad = []
    try:
        for i in range(flips):
            position, bit = rng.randrange(len(data)), rng.randrange(8)
            path = tmp_path / f"{name}.h5"
            path.write_bytes(flipped(data, position, bit))
            outcome = worker.outcome(path, reference)
            counts[outcome.kind] += 1
            if not outcome.acceptable:
                bad.append((position, bit, outcome))
    finally:
        worker.close()
    assert not bad, f"{name}: {len(bad)} of {flips} flips not caught: {bad[:5]}"
    return counts


@pytest.mark.parametrize("name", sorted(QUICK))
def test_flips_in_shipped_datasets(name, tmp_path) -> None:
    counts = _sweep(name, QUICK[name], tmp_path)
    assert counts["error"] > 0 and set(counts) <= {"error", "same"}, counts


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, e in tio.manifest().items() if not e.on_demand])
def test_many_flips_in_every_shipped_dataset(name, tmp_path) -> None:
    if not tio.dataset_entry(name).file.exists():
        pytest.skip(f"{name} is not in this checkout")
    counts = _sweep(name, SLOW_PER_FILE, tmp_path)
    assert set(counts) <= {"error", "same"}, counts
