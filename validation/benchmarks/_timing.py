"""Interleaved timing of tnkit against a peer on the same inputs in one process.

Both callables are timed alternately (A B, then B A, ...) so slow drifts of the
machine -- frequency scaling, a background job, cache warmth -- hit both sides
equally, and the pair order alternates so neither side always runs second. Only
medians are reported, and only their ratio is a result: absolute times depend on
the machine.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Timing:
    """Median seconds per call of each side, how many timed calls each got, and the
    quartiles of the per-pair ratios (a spread: wide quartiles mean a noisy machine).

    Without a peer (tnkit timed alone) ``peer_s``, the quartiles and ``ratio`` are None.
    """

    tnkit_s: float
    peer_s: float | None
    repeats: int
    pair_ratio_quartiles: tuple[float, float] | None

    @property
    def ratio(self) -> float | None:
        return None if self.peer_s is None else self.tnkit_s / self.peer_s


def _timed(fn: Callable[[], Any], sync: Callable[[], None] | None) -> float:
    if sync is not None:
        sync()
    start = time.perf_counter()
    fn()
    if sync is not None:
        sync()  # GPU calls return before the kernels finish
    return time.perf_counter() - start


def interleaved(
    tnkit_fn: Callable[[], Any],
    peer_fn: Callable[[], Any] | None,
    *,
    sync: Callable[[], None] | None = None,
    warmup: int = 2,
    budget_s: float = 3.0,
    min_repeats: int = 5,
    max_repeats: int = 200,
) -> Timing:
    """Median time per call of ``tnkit_fn`` and ``peer_fn``, measured alternately.

    The number of timed pairs is chosen from the warm-up times so that the whole
    measurement takes about ``budget_s`` seconds, within ``[min_repeats, max_repeats]``.
    ``warmup=0`` skips the warm-up (for calls of many seconds whose ``prepare`` has
    already run them once) and times exactly ``min_repeats`` pairs. ``peer_fn=None``
    times ``tnkit_fn`` alone.
    """

    def pair() -> float:
        return _timed(tnkit_fn, sync) + (0.0 if peer_fn is None else _timed(peer_fn, sync))

    if warmup > 0:
        pair_s = 0.0
        for _ in range(warmup):
            pair_s = pair()
        repeats = int(min(max_repeats, max(min_repeats, budget_s // max(pair_s, 1e-9))))
    else:
        repeats = max(1, min_repeats)
    ours: list[float] = []
    theirs: list[float] = []
    for i in range(repeats):
        if peer_fn is None:
            ours.append(_timed(tnkit_fn, sync))
        elif i % 2 == 0:
            ours.append(_timed(tnkit_fn, sync))
            theirs.append(_timed(peer_fn, sync))
        else:
            theirs.append(_timed(peer_fn, sync))
            ours.append(_timed(tnkit_fn, sync))
    if peer_fn is None:
        return Timing(statistics.median(ours), None, repeats, None)
    pair_ratios = [a / b for a, b in zip(ours, theirs)]
    if len(pair_ratios) > 1:
        q1, _, q3 = statistics.quantiles(pair_ratios, n=4)
    else:
        q1 = q3 = pair_ratios[0]
    return Timing(statistics.median(ours), statistics.median(theirs), repeats, (q1, q3))
