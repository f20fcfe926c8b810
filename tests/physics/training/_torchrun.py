"""Launching a DDP worker on two gloo ranks with ``torchrun`` (the training loops' DDP tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch


def ranks_in_step(worker: Path, out: Path) -> list[dict[str, Any]]:
    """Run ``worker out`` on two ranks; check both saw a world of 2 and ended with identical weights.

    The worker writes ``out/rank{r}.pt`` holding at least ``world`` and ``state``; returns both."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(worker), str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    for key, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][key]), key
    return ranks
