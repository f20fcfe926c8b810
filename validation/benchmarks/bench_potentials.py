"""Interatomic potentials (:mod:`physics.potentials`): TensorNet against torchmd-net 3.1's TensorNet.

Both sides are built with the paper's defaults (128 channels, 2 interaction layers, 32
exp-normal radial functions, cutoff 4.5 A, O(3), SiLU; float32) and have the same number of
parameters up to the element embedding (torchmd-net: 128 rows for ``max_z=128``; tnkit: 118
elements), so they do the same arithmetic; weights are each library's own random
initialisation (timing does not depend on them). Every call includes building the neighbour
list (torchmd-net: its ``OptimizedDistance`` kernels; tnkit: :func:`physics.potentials.neighbor_list`).

``tensornet ethanol E+F`` (size = atoms)
    Energy and forces (autograd) of one ethanol molecule, model in eval mode.
``tensornet batch64 E+F``
    The same for a batch of 64 ethanol geometries (576 atoms, one call).
``tensornet train step``
    One optimisation step on a batch of 16 geometries: energies and forces with the graph
    kept, loss ``0.2 MSE(E) + 80 MSE(F)`` (torchmd-net's rMD17 weights), backward, Adam.

Goal (issue 9): tnkit's time <= 1.0x torchmd-net's. Peer: ``pip install 'tnkit[bench]'``
(torchmd-net 3.1.0, pinned in constraints.txt); skipped otherwise. On a GPU the same cases
run on ``torch-cuda``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import warnings
from typing import Any

import numpy as np
from _cases import Case, Contenders, Skip, synchronizer, unavailable

ARGS = dict(
    model="tensornet",
    embedding_dimension=128,
    num_layers=2,
    num_rbf=32,
    rbf_type="expnorm",
    trainable_rbf=False,
    activation="silu",
    cutoff_lower=0.0,
    cutoff_upper=4.5,
    max_z=128,
    max_num_neighbors=64,
    equivariance_invariance_group="O(3)",
    derivative=True,
    output_model="Scalar",
    prior_model=None,
    atom_filter=-1,
    reduce_op="add",
    precision=32,
    static_shapes=False,
    check_errors=True,
    box_vecs=None,
    charge=False,
    spin=False,
    vector_cutoff=False,
    remove_ref_energy=False,
)


def _geometries(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from ase.build import molecule

    atoms = molecule("CH3CH2OH")
    rng = np.random.default_rng(seed)
    pos = atoms.positions[None] + 0.05 * rng.normal(size=(n, len(atoms), 3))
    return atoms.numbers, pos


def _models(device: Any) -> tuple[Any, Any]:
    import torch

    warnings.filterwarnings("ignore")
    # torchmd-net's kernels are NVIDIA Warp modules; Warp reports its start and each kernel
    # compile on stdout, which run.py's worker uses for its JSON records.
    with contextlib.redirect_stdout(sys.stderr):
        import warp
        from torchmdnet.models.model import create_model
    warp.config.quiet = True

    from physics.potentials import TensorNet

    torch.manual_seed(0)
    peer = create_model(dict(ARGS)).to(device)
    torch.manual_seed(0)
    ours = TensorNet().to(device)
    return ours, peer


def _inputs(n: int, device: Any) -> tuple[Any, Any, Any]:
    import torch

    numbers, pos = _geometries(n)
    # molecules 20 A apart: no edges between them, and each side builds its own graph
    pos = pos + 20.0 * np.arange(n)[:, None, None]
    z = torch.tensor(np.tile(numbers, n), device=device)
    r = torch.tensor(pos.reshape(-1, 3), dtype=torch.float32, device=device)
    b = torch.arange(n, device=device).repeat_interleave(len(numbers))
    return z, r, b


def _check(backend: str) -> Any:
    why = unavailable(backend)
    if why:
        raise Skip(why)
    if importlib.util.find_spec("torchmdnet") is None:
        raise Skip("torchmd-net not installed (pip install 'tnkit[bench]' -c constraints.txt)")
    import torch

    return torch.device("cuda" if backend == "torch-cuda" else "cpu")


def _energy_forces(backend: str, n: int) -> Contenders:
    device = _check(backend)
    ours, peer = _models(device)
    ours.eval()
    peer.eval()
    z, r, b = _inputs(n, device)

    def run_ours() -> Any:
        return ours(z, r, batch=b)["forces"]

    def run_peer() -> Any:
        with contextlib.redirect_stdout(sys.stderr):  # Warp may report a kernel load on any call
            return peer(z, r, batch=b)[1]

    with contextlib.redirect_stdout(sys.stderr):
        run_peer()  # warp compiles its kernels on first use
    return Contenders(
        tnkit=run_ours,
        peer=run_peer,
        sync=synchronizer(backend),
        details=lambda: {
            "atoms": int(z.numel()),
            "params_tnkit": sum(p.numel() for p in ours.parameters()),
            "params_peer": sum(p.numel() for p in peer.parameters()),
        },
    )


def _train_step(backend: str, n: int = 16) -> Contenders:
    import torch

    device = _check(backend)
    ours, peer = _models(device)
    z, r, b = _inputs(n, device)
    gen = torch.Generator().manual_seed(1)
    e_ref = torch.randn(n, generator=gen).to(device)
    f_ref = torch.randn(r.shape, generator=gen).to(device)
    opts = {name: torch.optim.Adam(m.parameters(), lr=1e-4) for name, m in (("ours", ours), ("peer", peer))}
    ours.train()
    peer.train()

    def loss_of(e: Any, f: Any) -> Any:
        return 0.2 * ((e.reshape(-1).float() - e_ref) ** 2).mean() + 80.0 * ((f - f_ref) ** 2).mean()

    def run_ours() -> None:
        opts["ours"].zero_grad(set_to_none=True)
        out = ours(z, r, batch=b, create_graph=True)
        loss_of(out["energy"], out["forces"]).backward()
        opts["ours"].step()

    def run_peer() -> None:
        with contextlib.redirect_stdout(sys.stderr):  # Warp may report a kernel load on any call
            opts["peer"].zero_grad(set_to_none=True)
            e, f = peer(z, r, batch=b)
            loss_of(e, f).backward()
            opts["peer"].step()

    with contextlib.redirect_stdout(sys.stderr):
        run_peer()
    return Contenders(
        tnkit=run_ours,
        peer=run_peer,
        sync=synchronizer(backend),
        details=lambda: {"atoms": int(z.numel()), "molecules": n},
    )


def cases(quick: bool) -> list[Case]:
    out = []
    for backend in ("torch", "torch-cuda"):
        peer = "torchmdnet TensorNet 3.1"
        out += [
            Case(
                name="tensornet ethanol E+F",
                backend=backend,
                size=9,
                peer=peer,
                prepare=lambda backend=backend: _energy_forces(backend, 1),
                target_ratio=1.0,
            ),
            Case(
                name="tensornet batch64 E+F",
                backend=backend,
                size=576,
                peer=peer,
                prepare=lambda backend=backend: _energy_forces(backend, 64),
                target_ratio=1.0,
            ),
            Case(
                name="tensornet train step",
                backend=backend,
                size=144,
                peer=peer,
                prepare=lambda backend=backend: _train_step(backend),
                target_ratio=1.0,
            ),
        ]
    return out
