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
from collections.abc import Callable, Iterable

import pytest

import tnkit.io as tio
from tests.faults._harness import LoadWorker, describe, flipped

QUICK = {"darcy_test_16": 200, "svd_reference": 200, "darcy_test_32": 200}
SLOW_PER_FILE = 400
LIMIT_S = 30.0


def _sweep(name: str, flips: Callable[[int], Iterable[tuple[int, int]]], tmp_path) -> Counter:
    """Load ``name`` with each (byte, bit) of ``flips(file size)`` flipped; assert every outcome is acceptable."""
    entry = tio.verify_dataset(name)
    data = entry.file.read_bytes()
    kind, reference = describe(str(entry.file))
    assert kind == "loaded", reference
    worker = LoadWorker(timeout=LIMIT_S)
    counts: Counter = Counter()
    bad = []
    try:
        for position, bit in flips(len(data)):
            path = tmp_path / f"{name}.h5"
            path.write_bytes(flipped(data, position, bit))
            outcome = worker.outcome(path, reference)
            counts[outcome.kind] += 1
            if not outcome.acceptable:
                bad.append((position, bit, outcome))
    finally:
        worker.close()
    assert not bad, f"{name}: {len(bad)} of {sum(counts.values())} flips not caught: {bad[:5]}"
    return counts


def _random(count: int, seed: str) -> Callable[[int], Iterable[tuple[int, int]]]:
    def flips(size: int) -> Iterable[tuple[int, int]]:
        rng = random.Random(seed)
        return [(rng.randrange(size), rng.randrange(8)) for _ in range(count)]

    return flips


@pytest.mark.parametrize("name", sorted(QUICK))
def test_flips_in_shipped_datasets(name, tmp_path) -> None:
    counts = _sweep(name, _random(QUICK[name], f"{name}-{QUICK[name]}"), tmp_path)
    assert counts["error"] > 0 and set(counts) <= {"error", "same"}, counts


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, e in tio.manifest().items() if not e.on_demand])
def test_many_flips_in_every_shipped_dataset(name, tmp_path) -> None:
    if not tio.dataset_entry(name).file.exists():
        pytest.skip(f"{name} is not in this checkout")
    counts = _sweep(name, _random(SLOW_PER_FILE, f"{name}-{SLOW_PER_FILE}"), tmp_path)
    assert set(counts) <= {"error", "same"}, counts


@pytest.mark.slow
def test_every_bit_of_the_metadata_of_a_shipped_dataset(tmp_path) -> None:
    """Every single-bit flip in the HDF5 metadata of darcy_test_16 (its first 8.5 KiB and
    its last 1.1 KiB: superblock, object headers, heaps, B-trees; 78,000 loads, minutes)."""

    def flips(size: int) -> Iterable[tuple[int, int]]:
        for position in [*range(0, 8704), *range(size - 1100, size)]:
            for bit in range(8):
                yield position, bit

    _sweep("darcy_test_16", flips, tmp_path)
