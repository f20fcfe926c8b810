"""MACE (:class:`physics.potentials.MACE`) against mace-torch 0.3.16, at equal settings.

Both sides: 32 channels, ``l_max`` 3, hidden ``0e + 1o``, correlation 3, two layers, 8 Bessel
functions, envelope p = 5, cutoff 5 A, radial MLP (64, 64, 64), float32, one thread; each call
builds its neighbour graph (tnkit: :func:`~physics.potentials.neighbor_list`; mace-torch:
``AtomicData.from_config`` with matscipy, as its ASE calculator does) and computes energies and
forces. mace-torch pins e3nn 0.4.4, so it runs from its own venv (``make mace-venv``) as a
subprocess (``validation/potentials/_mace_peer.py``) that times itself; the ratio compares the
medians of the two processes, run back to back (tnkit first). Cases:

``mace ethanol E+F``  one molecule (9 atoms);
``mace batch64 E+F``  64 rattled ethanol geometries in one call (576 atoms);
``mace Cu1000 E+F``   a 1,000-atom fcc copper crystal (periodic, rattled); the details give
                      the peak memory of one call on each side, each measured in a fresh process
                      the same way (rise of the resident high-water mark, ``_mace_client``), after
                      a first call that makes each side's one-time set-up;
``mace train step``   16 ethanol geometries: energies and forces with the graph kept, loss
                      ``MSE(E) + 100 MSE(F)`` against fixed targets, backward, an Adam step.

Goal (issue 25): tnkit <= 0.5x mace-torch. Skipped without ``.venv-mace``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from _cases import Case, Contenders, Skip, unavailable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "potentials"))
SPEC = dict(channels=32, l_max=3, hidden_l=1, num_layers=2, correlation=3, cutoff=5.0)
GOAL = 0.5
PEER_REPEATS = 7


def _structures(kind: str) -> list[dict[str, Any]]:
    from _mace_client import structure
    from ase.build import bulk, molecule

    if kind == "Cu1000":
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((5, 5, 10))
        atoms.rattle(0.05, seed=0)
        return [structure(atoms.numbers, atoms.positions, atoms.cell.array)]
    ethanol = molecule("CH3CH2OH")
    n = {"ethanol": 1, "batch64": 64, "train": 16}[kind]
    rng = np.random.default_rng(0)
    return [structure(ethanol.numbers, ethanol.positions + 0.05 * rng.normal(size=(9, 3))) for _ in range(n)]


def _tnkit_call(structures: list[dict[str, Any]], train: bool) -> tuple[Any, Any]:
    """tnkit's model and its call on ``structures``: energy+forces, or one training step."""
    import torch

    from physics.potentials import MACE

    numbers = torch.tensor(np.concatenate([s["numbers"] for s in structures]))
    positions = torch.tensor(np.concatenate([s["positions"] for s in structures]), dtype=torch.float32)
    sizes = torch.tensor([len(s["numbers"]) for s in structures])
    batch = torch.repeat_interleave(torch.arange(len(structures)), sizes)
    cell = torch.tensor(structures[0]["cell"], dtype=torch.float32) if "cell" in structures[0] else None
    torch.manual_seed(0)
    model = MACE(**SPEC, elements=sorted({int(z) for z in numbers.tolist()}), backend="auto")
    if not train:
        model.eval()
        return model, lambda: model(numbers, positions, batch=batch, cell=cell)
    model.train()
    gen = torch.Generator().manual_seed(0)
    e_ref, f_ref = torch.randn(len(structures), generator=gen), torch.randn(positions.shape, generator=gen)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        out = model(numbers, positions, batch=batch, cell=cell, create_graph=True)
        loss = torch.mean((out["energy"].float() - e_ref) ** 2) + 100.0 * torch.mean((out["forces"] - f_ref) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return model, step


def _our_peak_memory(kind: str) -> dict[str, float]:
    """Peak memory of one tnkit energy+forces call on ``kind``, in a fresh process (as the peer's)."""
    # one call first, on the same model and structure: the one-time automatic choice of the
    # product backend (timed on at most 8192 edges) is set-up, as the peer's first small call is
    code = (
        "import sys, json; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import torch; torch.set_num_threads(1); "
        "import bench_mace as b; from _mace_client import peak_memory; "
        "_, call = b._tnkit_call(b._structures(sys.argv[3]), False); call(); "
        "print(json.dumps(peak_memory(call)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(HERE), str(HERE.parent / "potentials"), kind],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _contenders(backend: str, kind: str) -> Contenders:
    why = unavailable(backend)
    if why:
        raise Skip(why)
    from _mace_client import PeerMissing, peer_python, run_peer

    try:
        peer_python()
    except PeerMissing as exc:
        raise Skip(str(exc)) from None
    import torch

    structures = _structures(kind)
    train = kind == "train"
    model, ours = _tnkit_call(structures, train)
    with_memory = kind == "Cu1000"
    numbers = np.concatenate([s["numbers"] for s in structures])
    peer_facts: dict[str, Any] = {}

    def call() -> Any:
        torch.set_num_threads(1)
        return ours()

    call()  # the automatic backend choice is measured here, before timing

    def peer_seconds() -> float:
        system = {"name": kind, "structures": structures, "train_step": train, "memory": with_memory}
        request = {
            "model": {**SPEC, "elements": sorted({int(z) for z in numbers})},
            "systems": [system],
            "warmup": 2,
            "repeats": PEER_REPEATS,
        }
        entry = run_peer("time", request, threads=1)["systems"][0]
        peer_facts.update({k: v for k, v in entry.items() if not k.endswith("_samples")})
        return 1e-3 * float(entry["train_step_ms" if train else "energy_forces_ms"])

    def details() -> dict[str, Any]:
        out: dict[str, Any] = {
            "atoms": int(len(numbers)),
            "structures": len(structures),
            "timing": "tnkit in this process, then mace-torch in its own (medians of each)",
            "peer_edges": peer_facts.get("n_edges"),
            "params_tnkit": sum(p.numel() for p in model.parameters()),
            "backend_tnkit": sorted({b for layer in model.layers for b in layer.product.chosen.values()}),
            "params_peer": peer_facts.get("n_params"),
        }
        if with_memory:
            out["peak_memory_MiB_tnkit"] = round(_our_peak_memory(kind)["peak_memory_MiB"], 1)
            out["peak_memory_MiB_peer"] = round(float(peer_facts.get("peak_memory_MiB", float("nan"))), 1)
        return out

    return Contenders(tnkit=call, peer=None, details=details, peer_seconds=peer_seconds)


def cases(quick: bool) -> list[Case]:
    kinds = [("ethanol", 9, "E+F"), ("batch64", 576, "E+F"), ("Cu1000", 1000, "E+F"), ("train", 144, "step")]
    if quick:
        kinds = kinds[:1]
    return [
        Case(
            name=f"mace {kind if kind != 'train' else 'train'} {what}",
            backend="torch",
            size=size,
            peer="mace-torch 0.3.16 (own venv)",
            prepare=lambda k=kind: _contenders("torch", k),
            target_ratio=GOAL,
            effort=(1, 10.0, 3, 20) if kind == "Cu1000" else None,
        )
        for kind, size, what in kinds
    ]
