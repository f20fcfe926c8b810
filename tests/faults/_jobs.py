"""Long jobs for the kill-and-resume tests, run as ``python _jobs.py KIND OUT [--checkpoint PATH] [--resume]``.

Each job is a small but real run of one tnkit/physics driver. It writes its final results
to ``OUT`` (an ``.npz`` of flat arrays: weights, histories, states; wall-clock figures left
out) so that a run killed with SIGKILL and resumed can be compared bit for bit with an
uninterrupted one. With ``--checkpoint`` the job checkpoints after every step, epoch or
sweep (``data``: the generated file, which resumes from its ``.partial`` file anyway);
``--resume`` continues from that checkpoint.

Kinds: ``save`` (one large :func:`tnkit.io.save`; ``OUT`` is the HDF5 target itself),
``data`` (:func:`physics.data.generate`, resuming from its ``.partial`` file),
``train`` (:func:`physics.operators.train`), ``fit`` (:func:`physics.potentials.fit`),
``bug`` (:func:`tnkit.tree.bug.integrate`) and ``greedy`` (:func:`tnkit.search.greedy`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("save", "data", "train", "fit", "bug", "greedy")

# The large dict of the ``save`` job: this many float64 arrays of this many entries (~64 MB).
SAVE_ARRAYS, SAVE_SIZE = 32, 250_000
DATA = {"samples": 20, "resolution": 9, "solve_resolution": 129, "chunk": 2}


def _torch_single_thread() -> Any:
    import torch

    torch.set_num_threads(1)
    return torch


def save_payload(version: int) -> dict[str, Any]:
    """The ``save`` job's dict; every ``version`` differs in every array."""
    rng = np.random.default_rng(version)
    return {
        "version": version,
        "arrays": {f"a{k:02d}": rng.standard_normal(SAVE_SIZE) for k in range(SAVE_ARRAYS)},
    }


def _save(out: Path, args: argparse.Namespace) -> dict[str, np.ndarray]:
    import tnkit.io

    tnkit.io.save(out, save_payload(args.version))
    return {}


def _data(out: Path, args: argparse.Namespace) -> dict[str, np.ndarray]:
    from physics.data import generate, load_arrays

    target = Path(args.checkpoint) if args.checkpoint else out.with_suffix(".h5")
    arrays = load_arrays(generate("darcy", target, progress=False, **DATA))
    return {"a": np.asarray(arrays["a"]), "u": np.asarray(arrays["u"])}


def _run(args: argparse.Namespace, **extra: Any) -> Any:
    """The job's :class:`tnkit.Run`: a checkpoint after every step, epoch or sweep when asked."""
    from tnkit.run import Run

    if args.checkpoint is None:
        return Run(progress=False, **extra)
    return Run(progress=False, checkpoint=args.checkpoint, checkpoint_every=1, resume=args.resume, **extra)


def _train(out: Path, args: argparse.Namespace) -> dict[str, np.ndarray]:
    torch = _torch_single_thread()
    from physics.operators import FNO, train

    gen = torch.Generator().manual_seed(0)
    n = 16
    x = torch.randn(48, 1, n, n, generator=gen)
    k = torch.fft.fftfreq(n)[:, None] ** 2 + torch.fft.rfftfreq(n)[None] ** 2
    y = torch.fft.irfft2(torch.fft.rfft2(x) / (1 + 40 * k), s=(n, n))
    torch.manual_seed(0)
    model = FNO(1, 1, (6, 6), hidden_channels=8, n_layers=2, positional_grid="periodic")
    result = train(
        model,
        (x[:40], y[:40]),
        test_data={"t": (x[40:], y[40:])},
        epochs=10,
        batch_size=8,
        lr=5e-3,
        loss="h1",
        periodic=True,
        eval_every=2,
        run=_run(args),
    )
    found = {f"w/{k}": v.detach().numpy() for k, v in result.model.state_dict().items()}
    found.update({f"h/{k}": np.asarray(v) for k, v in result.history.items() if k != "epoch_time"})
    return found


def _h2_frames(n: int) -> Any:
    """A harmonic H2 bond (the :func:`physics.potentials.fit` example), exact forces."""
    from physics.potentials import Frames

    rng = np.random.default_rng(0)
    pos = np.array([0.0, 0.0, 0.0, 0.74, 0.0, 0.0]).reshape(1, 2, 3) + 0.05 * rng.normal(size=(n, 2, 3))
    d = np.linalg.norm(pos[:, 1] - pos[:, 0], axis=1)
    u = (pos[:, 1] - pos[:, 0]) / d[:, None]
    f1 = -8.0 * (d - 0.74)[:, None] * u
    return Frames.from_arrays([1, 1], pos, 4.0 * (d - 0.74) ** 2, np.stack([-f1, f1], axis=1))


def _fit(out: Path, args: argparse.Namespace) -> dict[str, np.ndarray]:
    torch = _torch_single_thread()
    from physics.potentials import TensorNet, fit

    train, val = _h2_frames(40).split([32, 8])
    torch.manual_seed(0)
    model = TensorNet(16, 1, 8, elements=(1,))
    result = fit(model, train, val, epochs=10, batch_size=8, lr=3e-3, seed=3, run=_run(args))
    found = {f"w/{k}": v.detach().numpy() for k, v in result.model.state_dict().items()}
    found.update({f"h/{k}": np.asarray(v) for k, v in result.history.items() if k != "epoch_time"})
    found["best_epoch"] = np.asarray(result.best_epoch)
    found["stopped_early"] = np.asarray(result.stopped_early)
    found["reference"] = np.asarray(sorted(result.reference_energies.items()))
    return found


def _bug(out: Path, args: argparse.Namespace) -> dict[str, np.ndarray]:
    from tnkit.tree import TTN, Tree, bug
    from tnkit.tree.kron import KronOperator

    length = 8
    x, z = np.array([[0.0, 1.0], [1.0, 0.0]]), np.diag([1.0, -1.0])
    h = KronOperator([2] * length)
    for i in range(length - 1):
        h.add({i: z, i + 1: z})
    for i in range(length):
        h.add({i: x}, coef=0.9)
    y0 = TTN.product([np.array([1.0, 0.0])] * length, Tree.balanced(length))
    result = bug.integrate(
        y0,
        -1j * h,
        24 * 0.0625,
        0.0625,
        method="adaptive",
        tol=1e-8,
        inner="krylov",
        observables={"z0": lambda t, y: float(np.real(y.to_dense()[(0,) * length]))},
        run=_run(args),
    )
    found = {f"state/{k}": np.asarray(t) for k, t in enumerate(result.state.tensors)}
    found.update(times=result.times, bond_dims=result.bond_dims, norms=result.norms, z0=result.observables["z0"])
    found["steps_total"] = np.asarray(len(result.times))
    return found


def _greedy(out: Path, args: argparse.Namespace) -> dict[str, np.ndarray]:
    from tnkit.network import Structure, TensorNetwork
    from tnkit.search import greedy

    target = TensorNetwork.random(Structure.tr((3, 3, 3, 3), (2, 3, 2, 3)), rng=0).to_dense()
    result = greedy(target, tol=1e-6, seed=1, run=_run(args, executor="serial"))
    found = {f"core/{k}": np.asarray(c) for k, c in enumerate(result.network.cores)}
    found["keys"] = np.asarray([repr(e.structure.key) for e in result.evaluations])
    found["rse"] = np.asarray([e.rse for e in result.evaluations])
    found["loss"] = np.asarray([e.loss for e in result.evaluations])
    found["step"] = np.asarray([e.step for e in result.evaluations])
    found["best"] = np.asarray([result.best.index])
    found["stopped"] = np.asarray(result.stopped)
    return found


JOBS = {"save": _save, "data": _data, "train": _train, "fit": _fit, "bug": _bug, "greedy": _greedy}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("out", type=Path)
    parser.add_argument("--checkpoint")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--version", type=int, default=2, help="save: which payload to write")
    args = parser.parse_args(argv)
    found = JOBS[args.kind](args.out, args)
    if args.kind != "save":  # save's result is OUT itself
        with open(args.out, "wb") as handle:  # read only after the process has exited
            np.savez(handle, **found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
