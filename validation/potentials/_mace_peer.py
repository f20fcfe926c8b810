"""mace-torch as a peer of tnkit's MACE (issue 25): this script runs inside ``.venv-mace`` only.

mace-torch 0.3.16 pins e3nn 0.4.4 and cannot share tnkit's venv (e3nn 0.6), so it lives in
its own (``make mace-venv``) and this script is its side of the comparison. It imports
nothing of tnkit: numpy, torch, ase, mace and the standard library. tnkit's side drives it
through ``_mace_client.py`` (``run_peer(command, request)``)::

    .venv-mace/bin/python validation/potentials/_mace_peer.py COMMAND REQUEST.json RESULT.json

The request and the result are JSON objects; ``train`` also writes ``RESULT.npz`` (the test
predictions). Progress goes to stderr as lines starting ``progress:``; nothing the caller
needs goes to stdout.

Commands
--------
``check``
    Build a tiny model and evaluate energy and forces of a water molecule on the CPU: the
    venv works. Request may be empty.
``build``
    ``{"model": SPEC}`` -> ``{"n_params", "params_by_block", "hidden_irreps", ...}``.
``time``
    ``{"model": SPEC, "systems": [SYSTEM, ...], "warmup", "repeats", "threads"}``: energy and
    forces (and, per system, a training step) timed after ``warmup`` calls, ``repeats`` timed
    calls each -> per system ``energy_forces_ms`` (median), ``energy_forces_samples``
    (``[start time.time(), seconds]`` each), ``train_step_ms`` / ``_samples``,
    ``peak_memory_MiB``, ``n_atoms``, ``n_edges``, ``n_params``. ``SYSTEM``: ``{"name",
    "structures": [STRUCTURE, ...], "train_step": bool, "memory": bool, "graph": "per_call" |
    "once"}``, a batch of one or more structures evaluated in one call; ``STRUCTURE``:
    ``{"numbers", "positions", "cell" (optional), "pbc" (optional)}``.
``train``
    Train with mace-torch's own command line (``mace_run_train``, the way its users train)
    on the frames of an ``.npz`` and evaluate the best-validation model on the test frames:
    ``{"data", "checkpoint_dir", "model": SPEC, "epochs", "batch_size", "lr",
    "energy_weight", "forces_weight", "seed", ...}`` (see :func:`train`).

``SPEC`` holds tnkit's :class:`physics.potentials.MACE` arguments, mapped one to one onto
mace-torch's (``cutoff`` -> ``r_max``, ``num_bessel``, ``polynomial_p`` ->
``num_polynomial_cutoff``, ``l_max`` -> ``max_ell``, ``num_layers`` -> ``num_interactions``,
``channels`` and ``hidden_l`` -> ``hidden_irreps`` ``C x (0e + 1o + ...)``, ``readout_hidden``
-> ``MLP_irreps`` ``"16x0e"``, ``radial_hidden`` -> ``radial_MLP``, ``average_neighbors`` ->
``avg_num_neighbors``, ``elements`` -> ``atomic_numbers``), with the blocks of the MACE paper:
``RealAgnosticInteractionBlock`` first, ``RealAgnosticResidualInteractionBlock`` after, a SiLU
gate in the last readout. ``model`` (``"ScaleShiftMACE"``), ``atomic_energies`` (zeros),
``scale`` / ``shift`` (1 / 0), ``use_reduced_cg`` (false, as ``mace_run_train``; without
cuequivariance mace-torch 0.3.16 ignores it),
``dtype`` (``"float32"``) and ``seed`` (0) complete it.

Timing and memory
-----------------
One thread unless ``threads`` says otherwise. A call includes building the graph, as
mace-torch's ASE calculator does (``AtomicData.from_config``: matscipy's neighbour list),
and collating the batch; ``"graph": "once"`` in a system times the model alone on a graph
built beforehand. Every sample is reported with ``time.time()`` at its start (``samples``)
next to the median: the two libraries time themselves in their own processes, so ratios
come from medians of the two processes run back to back on an idle machine, and the stamps
let a caller check that the runs did not overlap.

Peak memory (``"memory": true``) is measured in a fresh child process: the model, the
inputs and one call on the same system (the one-time set-up, as tnkit's side) in place, freed heap
handed back (``malloc_trim``), the resident high-water mark reset (``/proc/self/clear_refs``
``5``, Linux), then one energy-and-forces call; the value is ``VmHWM`` after it minus
``VmRSS`` before it, in MiB: the call's own peak over what it started with. torch keeps no
CPU allocator statistics and tracemalloc does not see its allocations; ``getrusage``'s
``ru_maxrss`` cannot be reset and a child inherits its parent's across ``exec``, so it is
not used. The caller must measure its side the same way (``_mace_client.peak_memory``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mace  # first: it sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD, which e3nn 0.4.4's constants need on torch >= 2.6
import numpy as np
import torch

SPEC_DEFAULTS: dict[str, Any] = {
    "model": "ScaleShiftMACE",
    "channels": 32,
    "l_max": 3,
    "hidden_l": 1,
    "num_layers": 2,
    "correlation": 3,
    "num_bessel": 8,
    "polynomial_p": 5,
    "cutoff": 5.0,
    "radial_hidden": [64, 64, 64],
    "readout_hidden": 16,
    "average_neighbors": 1.0,
    "elements": None,
    "atomic_energies": None,
    "scale": 1.0,
    "shift": 0.0,
    "use_reduced_cg": False,
    "dtype": "float32",
    "seed": 0,
}
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def progress(message: str) -> None:
    """One line for the caller to show (stderr: stdout is mace's)."""
    print(f"progress: {message}", file=sys.stderr, flush=True)


def model_spec(request: dict[str, Any], numbers: np.ndarray | None = None) -> dict[str, Any]:
    """The request's model arguments over the defaults; elements default to those in ``numbers``."""
    spec = {**SPEC_DEFAULTS, **request.get("model", {})}
    unknown = sorted(set(spec) - set(SPEC_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown model arguments {unknown}; known: {sorted(SPEC_DEFAULTS)}")
    if spec["elements"] is None:
        if numbers is None:
            raise ValueError("model.elements is required (the atomic numbers the model accepts)")
        spec["elements"] = sorted({int(z) for z in numbers})
    spec["elements"] = sorted(int(z) for z in spec["elements"])
    if spec["dtype"] not in DTYPES:
        raise ValueError(f"model.dtype must be one of {sorted(DTYPES)}, got {spec['dtype']!r}")
    return spec


def hidden_irreps(spec: dict[str, Any]) -> str:
    """``C x (0e + 1o + 2e + ...)`` up to ``hidden_l``: MACE's ``num_channels`` and ``max_L``."""
    parities = "eo"
    return "+".join(f"{spec['channels']}x{l}{parities[l % 2]}" for l in range(spec["hidden_l"] + 1))


def build_model(spec: dict[str, Any]) -> torch.nn.Module:
    """mace-torch's (ScaleShift)MACE with tnkit's hyperparameters mapped one to one."""
    from e3nn import o3
    from mace import modules

    torch.set_default_dtype(DTYPES[spec["dtype"]])
    torch.manual_seed(spec["seed"])
    elements = spec["elements"]
    energies = spec["atomic_energies"]
    if energies is None:
        e0 = np.zeros(len(elements))
    elif isinstance(energies, dict):
        e0 = np.array([float(energies[str(z)] if str(z) in energies else energies[z]) for z in elements])
    else:
        e0 = np.asarray(energies, dtype=float).reshape(-1)
    if e0.shape != (len(elements),):
        raise ValueError(f"atomic_energies: need one per element of {elements}, got {e0.shape[0]}")
    common: dict[str, Any] = dict(
        r_max=float(spec["cutoff"]),
        num_bessel=int(spec["num_bessel"]),
        num_polynomial_cutoff=int(spec["polynomial_p"]),
        max_ell=int(spec["l_max"]),
        interaction_cls_first=modules.interaction_classes["RealAgnosticInteractionBlock"],
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        num_interactions=int(spec["num_layers"]),
        num_elements=len(elements),
        hidden_irreps=o3.Irreps(hidden_irreps(spec)),
        MLP_irreps=o3.Irreps(f"{int(spec['readout_hidden'])}x0e"),
        gate=modules.gate_dict["silu"],
        atomic_energies=e0,
        avg_num_neighbors=float(spec["average_neighbors"]),
        atomic_numbers=list(elements),
        correlation=int(spec["correlation"]),
        radial_MLP=[int(w) for w in spec["radial_hidden"]],
        use_reduced_cg=bool(spec["use_reduced_cg"]),
    )
    if spec["model"] == "ScaleShiftMACE":
        model = modules.ScaleShiftMACE(
            atomic_inter_scale=float(spec["scale"]), atomic_inter_shift=float(spec["shift"]), **common
        )
    elif spec["model"] == "MACE":
        model = modules.MACE(**common)
    else:
        raise ValueError(f"model.model must be 'ScaleShiftMACE' or 'MACE', got {spec['model']!r}")
    return model


def count_parameters(model: torch.nn.Module) -> dict[str, Any]:
    """Trainable parameters in all, and per top-level block (embedding, interactions, products, readouts...)."""
    blocks: dict[str, int] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            head = name.split(".")[0]
            blocks[head] = blocks.get(head, 0) + p.numel()
    return {"n_params": sum(blocks.values()), "params_by_block": blocks}


# ---------------------------------------------------------------- structures -> mace graphs


def _configuration(structure: dict[str, Any]) -> Any:
    from mace.data import Configuration

    numbers = np.asarray(structure["numbers"], dtype=np.int64).reshape(-1)
    positions = np.asarray(structure["positions"], dtype=np.float64).reshape(-1, 3)
    if positions.shape[0] != numbers.shape[0]:
        raise ValueError(f"structure: {numbers.shape[0]} numbers but {positions.shape[0]} positions")
    cell = structure.get("cell")
    cell = None if cell is None else np.asarray(cell, dtype=np.float64).reshape(3, 3)
    pbc = structure.get("pbc")
    if pbc is None:
        pbc = (cell is not None,) * 3
    return Configuration(
        atomic_numbers=numbers,
        positions=positions,
        properties={},
        property_weights={},
        cell=cell,
        pbc=tuple(bool(p) for p in pbc),
    )


class Graphs:
    """Structures turned into a collated mace-torch batch, the way its ASE calculator does per call."""

    def __init__(self, structures: list[dict[str, Any]], elements: list[int], cutoff: float) -> None:
        from mace.tools import AtomicNumberTable

        self.configs = [_configuration(s) for s in structures]
        self.table = AtomicNumberTable(list(elements))
        self.cutoff = cutoff
        self.n_atoms = sum(len(c.atomic_numbers) for c in self.configs)
        unknown = sorted({int(z) for c in self.configs for z in c.atomic_numbers} - set(elements))
        if unknown:
            raise ValueError(f"structures hold elements {unknown} the model does not accept ({elements})")

    def batch(self) -> dict[str, torch.Tensor]:
        from mace.data import AtomicData
        from mace.tools.torch_geometric.batch import Batch

        data = [AtomicData.from_config(c, z_table=self.table, cutoff=self.cutoff) for c in self.configs]
        return Batch.from_data_list(data).to_dict()


def energy_forces(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    out = model(batch, training=False, compute_force=True)
    return out["energy"].detach(), out["forces"].detach()


# ---------------------------------------------------------------- commands


def check(request: dict[str, Any]) -> dict[str, Any]:
    """A tiny model's energy and forces on a water molecule: the venv works."""
    spec = model_spec({"model": {"channels": 8, "l_max": 2, "correlation": 2, "elements": [1, 8], **request}})
    model = build_model(spec).eval()
    water = {"numbers": [8, 1, 1], "positions": [[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]]}
    energy, forces = energy_forces(model, Graphs([water], spec["elements"], spec["cutoff"]).batch())
    net = float(forces.sum(0).abs().max())
    if not (torch.isfinite(energy).all() and torch.isfinite(forces).all() and net < 1e-4):
        raise RuntimeError(f"check: water gave energy {energy.tolist()}, net force {net:.2e}")
    versions = _versions()
    progress(f"mace-torch peer ok: {', '.join(f'{k} {v}' for k, v in versions.items())}")
    return {"versions": versions, "energy": float(energy[0]), "forces": forces.tolist(), **count_parameters(model)}


def build(request: dict[str, Any]) -> dict[str, Any]:
    """Build the model; report its parameter count and irreps."""
    spec = model_spec(request)
    model = build_model(spec)
    return {
        **count_parameters(model),
        "hidden_irreps": hidden_irreps(spec),
        "spec": spec,
        "versions": _versions(),
    }


def _median_ms(samples: list[tuple[float, float]]) -> float:
    return 1e3 * statistics.median(d for _, d in samples)


def _sample(fn: Any, warmup: int, repeats: int) -> list[tuple[float, float]]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        stamp, start = time.time(), time.perf_counter()
        fn()
        samples.append((stamp, time.perf_counter() - start))
    return samples


def _train_step(model: torch.nn.Module, graphs: Graphs, once: dict[str, torch.Tensor] | None, seed: int) -> Any:
    """One Adam step on ``MSE(E) + 100 MSE(F)`` (mace_run_train's default weights) against fixed random targets."""
    gen = torch.Generator().manual_seed(seed)
    n_graphs = len(graphs.configs)
    dtype = torch.get_default_dtype()
    e_ref = torch.randn(n_graphs, generator=gen, dtype=dtype)
    f_ref = torch.randn(graphs.n_atoms, 3, generator=gen, dtype=dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        batch = graphs.batch() if once is None else {k: v.clone() for k, v in once.items()}
        out = model(batch, training=True, compute_force=True)
        loss = torch.mean((out["energy"] - e_ref) ** 2) + 100.0 * torch.mean((out["forces"] - f_ref) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def time_systems(request: dict[str, Any]) -> dict[str, Any]:
    """Median times (ms) of energy+forces, and optionally a training step and peak memory, per system."""
    warmup, repeats = int(request.get("warmup", 3)), int(request.get("repeats", 10))
    results = []
    for system in request["systems"]:
        numbers = np.concatenate([np.asarray(s["numbers"]).reshape(-1) for s in system["structures"]])
        spec = model_spec(request, numbers)
        model = build_model(spec)
        graphs = Graphs(system["structures"], spec["elements"], spec["cutoff"])
        once = graphs.batch() if system.get("graph", "per_call") == "once" else None
        n_edges = int(graphs.batch()["edge_index"].shape[1])
        name = system.get("name", f"{graphs.n_atoms} atoms")
        progress(f"time {name}: {len(graphs.configs)} structures, {graphs.n_atoms} atoms, {n_edges} edges")
        model.eval()

        def call() -> Any:
            return energy_forces(model, graphs.batch() if once is None else {k: v.clone() for k, v in once.items()})

        samples = _sample(call, warmup, repeats)
        entry: dict[str, Any] = {
            "name": name,
            "n_structures": len(graphs.configs),
            "n_atoms": graphs.n_atoms,
            "n_edges": n_edges,
            "graph": "once" if once is not None else "per_call",
            "energy_forces_ms": _median_ms(samples),
            "energy_forces_samples": samples,
            **count_parameters(model),
        }
        if system.get("train_step"):
            model.train()
            samples = _sample(_train_step(model, graphs, once, spec["seed"]), warmup, repeats)
            entry.update(train_step_ms=_median_ms(samples), train_step_samples=samples)
            model.eval()
        if system.get("memory"):
            entry.update(_memory_in_child(request, system))
        progress(f"time {name}: E+F {entry['energy_forces_ms']:.2f} ms" + _also(entry))
        results.append(entry)
    return {"threads": torch.get_num_threads(), "warmup": warmup, "repeats": repeats, "systems": results}


def _also(entry: dict[str, Any]) -> str:
    extra = ""
    if "train_step_ms" in entry:
        extra += f", train step {entry['train_step_ms']:.2f} ms"
    if "peak_memory_MiB" in entry:
        extra += f", peak +{entry['peak_memory_MiB']:.1f} MiB"
    return extra


def _memory_in_child(request: dict[str, Any], system: dict[str, Any]) -> dict[str, float]:
    """:func:`peak_memory` of ``system`` in a fresh process: no heap kept from the timings above."""
    folder = Path(request["_folder"])
    req, res = folder / "memory_request.json", folder / "memory_result.json"
    req.write_text(json.dumps({**request, "systems": [system]}))
    proc = subprocess.run(
        [sys.executable, __file__, "memory", str(req), str(res)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return {k: float(v) for k, v in json.loads(res.read_text()).items()}


def _status_MiB(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (its high-water mark) of this process, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0  # kB
    raise RuntimeError(f"no {field} in /proc/self/status (peak memory needs Linux)")


def _reset_peak() -> None:
    """Hand freed heap back to the system, then restart the high-water mark at the current RSS."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")  # Linux >= 4.0: resets VmHWM


def peak_memory(request: dict[str, Any]) -> dict[str, Any]:
    """The rise of the resident high-water mark over one energy+forces call (see the module docstring)."""
    system = request["systems"][0]
    numbers = np.concatenate([np.asarray(s["numbers"]).reshape(-1) for s in system["structures"]])
    spec = model_spec(request, numbers)
    model = build_model(spec).eval()
    graphs = Graphs(system["structures"], spec["elements"], spec["cutoff"])
    once = graphs.batch() if system.get("graph", "per_call") == "once" else None
    energy_forces(model, graphs.batch() if once is None else once)  # the one-time set-up, as tnkit's side
    _reset_peak()
    before = _status_MiB("VmRSS")
    energy_forces(model, graphs.batch() if once is None else once)
    peak = _status_MiB("VmHWM")
    return {"peak_memory_MiB": peak - before, "rss_before_MiB": before, "peak_rss_MiB": peak}


# ---------------------------------------------------------------- training


SPLITS = ("train", "val", "test")
# The mace_run_train options a request may set directly (``cli``), next to those derived from SPEC.
TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 5,
    "valid_batch_size": None,
    "lr": 0.01,
    "energy_weight": 1.0,
    "forces_weight": 100.0,
    "stress_weight": 0.0,
    "seed": 0,
    "atomic_energies": "average",
    "threads": 1,
    "cli": {},
}


def _frames(data: Any, split: str) -> list[dict[str, Any]]:
    """The frames of one split of the ``.npz``: numbers, positions, energy, forces, cell, pbc, stress."""
    n_atoms = np.asarray(data[f"{split}_n_atoms"], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(n_atoms)])
    frames = []
    for k in range(len(n_atoms)):
        rows = slice(int(starts[k]), int(starts[k + 1]))
        frame: dict[str, Any] = {
            "numbers": np.asarray(data[f"{split}_numbers"][rows], dtype=np.int64),
            "positions": np.asarray(data[f"{split}_positions"][rows], dtype=np.float64),
            "energy": float(data[f"{split}_energies"][k]),
            "forces": np.asarray(data[f"{split}_forces"][rows], dtype=np.float64),
        }
        if f"{split}_cells" in data:
            frame["cell"] = np.asarray(data[f"{split}_cells"][k], dtype=np.float64)
            frame["pbc"] = np.asarray(data[f"{split}_pbc"][k], dtype=bool) if f"{split}_pbc" in data else [True] * 3
        if f"{split}_stress" in data:
            frame["stress"] = np.asarray(data[f"{split}_stress"][k], dtype=np.float64).reshape(3, 3)
        frames.append(frame)
    return frames


def _write_extxyz(frames: list[dict[str, Any]], path: Path) -> None:
    """Frames as extended XYZ with ``REF_*`` keys (no calculator: the keys cannot be confused)."""
    import ase
    import ase.io

    images = []
    for f in frames:
        atoms = ase.Atoms(numbers=f["numbers"], positions=f["positions"], cell=f.get("cell"), pbc=f.get("pbc", False))
        atoms.info["REF_energy"] = f["energy"]
        atoms.arrays["REF_forces"] = f["forces"]
        if "stress" in f:
            atoms.info["REF_stress"] = f["stress"].reshape(-1)
        images.append(atoms)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    ase.io.write(tmp, images, format="extxyz")
    os.replace(tmp, path)


def _cli_arguments(request: dict[str, Any], spec: dict[str, Any], folder: Path) -> list[str]:
    energies = request["atomic_energies"]
    if isinstance(energies, dict):
        energies = "{" + ", ".join(f"{int(z)}: {float(e)!r}" for z, e in energies.items()) + "}"
    options: dict[str, Any] = {
        "name": "mace",
        "seed": request["seed"],
        "work_dir": folder,
        "device": "cpu",
        "default_dtype": spec["dtype"],
        "train_file": folder / "train.xyz",
        "valid_file": folder / "val.xyz",
        "energy_key": "REF_energy",
        "forces_key": "REF_forces",
        "E0s": energies,
        "atomic_numbers": "[" + ", ".join(str(z) for z in spec["elements"]) + "]",
        "model": spec["model"],
        "r_max": spec["cutoff"],
        "num_radial_basis": spec["num_bessel"],
        "num_cutoff_basis": spec["polynomial_p"],
        "max_ell": spec["l_max"],
        "interaction_first": "RealAgnosticInteractionBlock",
        "interaction": "RealAgnosticResidualInteractionBlock",
        "num_interactions": spec["num_layers"],
        "num_channels": spec["channels"],
        "max_L": spec["hidden_l"],
        "correlation": spec["correlation"],
        "MLP_irreps": f"{spec['readout_hidden']}x0e",
        "radial_MLP": "[" + ", ".join(str(w) for w in spec["radial_hidden"]) + "]",
        "gate": "silu",
        "use_reduced_cg": spec["use_reduced_cg"],
        "batch_size": request["batch_size"],
        "valid_batch_size": request["valid_batch_size"] or request["batch_size"],
        "max_num_epochs": request["epochs"],
        "lr": request["lr"],
        "energy_weight": request["energy_weight"],
        "forces_weight": request["forces_weight"],
        "eval_interval": 1,
        "error_table": "PerAtomMAE",
    }
    if request["stress_weight"] > 0:
        options.update(loss="stress", stress_key="REF_stress", stress_weight=request["stress_weight"])
        options["compute_stress"] = True
    options.update(request["cli"])
    args = []
    for key, value in options.items():
        if value is True and key in ("ema", "swa", "stage_two", "amsgrad", "keep_checkpoints", "save_cpu"):
            args.append(f"--{key}")  # flags without a value
        elif value is False and key in ("ema", "swa", "stage_two", "keep_checkpoints", "save_cpu"):
            continue
        else:
            args.append(f"--{key}={value}")
    return [*args, "--restart_latest"]


def _run_cli(arguments: list[str], folder: Path, threads: int) -> float:
    """``mace_run_train`` with ``arguments``; its output into ``folder/train.log``, epochs as progress. Wall s."""
    exe = Path(sys.executable).with_name("mace_run_train")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env.setdefault("PYTHONWARNINGS", "ignore")
    start = time.perf_counter()
    with open(folder / "train.log", "a") as log:
        proc = subprocess.Popen(
            [str(exe), *arguments], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=folder
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if re.search(r"Epoch \d+:|Loaded Stage one| ERROR: |Traceback", line):
                progress("mace_run_train: " + line.split(": ", 1)[-1].strip())
        proc.wait()
    if proc.returncode != 0:
        tail = (folder / "train.log").read_text()[-3000:]
        raise RuntimeError(f"mace_run_train failed ({proc.returncode}); log tail:\n{tail}")
    return time.perf_counter() - start


def _load_trained(folder: Path) -> torch.nn.Module:
    # The whole model as mace_run_train saved it, into the caller's checkpoint folder: mace-torch's own format.
    return torch.load(folder / "mace.model", map_location="cpu", weights_only=False)


def _predict(model: torch.nn.Module, frames: list[dict[str, Any]], batch_size: int) -> dict[str, np.ndarray]:
    elements = [int(z) for z in model.atomic_numbers.tolist()]
    cutoff = float(model.r_max)
    energies, forces, stress = [], [], []
    want_stress = all("cell" in f for f in frames) and any("stress" in f for f in frames)
    for start in range(0, len(frames), batch_size):
        chunk = frames[start : start + batch_size]
        batch = Graphs(chunk, elements, cutoff).batch()
        out = model(batch, training=False, compute_force=True, compute_stress=want_stress)
        energies.append(out["energy"].detach().double().numpy())
        forces.append(out["forces"].detach().double().numpy())
        if want_stress:
            stress.append(out["stress"].detach().double().numpy())
    pred = {"energies": np.concatenate(energies), "forces": np.concatenate(forces)}
    if want_stress:
        pred["stress"] = np.concatenate(stress)
    return pred


def _training_key(request: dict[str, Any]) -> dict[str, Any]:
    """What determines the trained model: a checkpoint folder serves again only the same training."""
    keep = {k: request[k] for k in TRAIN_DEFAULTS if k != "threads"}
    return {**keep, "model": request["spec"], "data_sha": request["data_sha"]}


def train(request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Train with ``mace_run_train``; the best-validation model's test errors and predictions.

    Request: ``data`` (``.npz`` with ``{split}_numbers`` (atoms,), ``{split}_positions``
    (atoms, 3), ``{split}_energies`` (frames,), ``{split}_forces`` (atoms, 3),
    ``{split}_n_atoms`` (frames,), optional ``{split}_cells`` (frames, 3, 3),
    ``{split}_pbc`` (frames, 3), ``{split}_stress`` (frames, 3, 3), for ``split`` in train,
    val, test), ``checkpoint_dir`` (kept: a second call with the same training evaluates
    without training again; a different training there is refused), ``model`` (SPEC), and
    :data:`TRAIN_DEFAULTS`'s keys (``atomic_energies``: ``"average"``, least squares over
    the training set as mace_run_train does, or ``{Z: eV}``; ``cli``: further
    ``mace_run_train`` options, e.g. ``{"scheduler_patience": 5, "clip_grad": 10}``).
    Everything else is mace_run_train's default (Adam with AMSGrad, weight decay 5e-7,
    ReduceLROnPlateau 0.8 / 50 epochs, gradient clipping 10, no EMA, no stage two), except
    the dtype: SPEC's (``"float32"`` unless given; mace_run_train's own default is float64).

    Returns test energy MAE (meV), per-atom energy MAE (meV/atom), force MAE (meV/A)
    and the predictions (``energies``, ``forces``; ``stress`` with cells and stress).
    """
    import hashlib

    request = {**TRAIN_DEFAULTS, **{k: v for k, v in request.items() if not k.startswith("_")}}
    data_path = Path(request["data"])
    with np.load(data_path) as data:
        frames = {split: _frames(data, split) for split in SPLITS}
    all_numbers = np.concatenate([f["numbers"] for split in SPLITS for f in frames[split]])
    spec = model_spec(request, all_numbers)
    request["spec"] = spec
    request["data_sha"] = hashlib.sha256(data_path.read_bytes()).hexdigest()
    folder = Path(request["checkpoint_dir"]).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    key = _training_key(request)
    done = folder / "trained.json"
    if done.exists():
        record = json.loads(done.read_text())
        if record["key"] != json.loads(json.dumps(key)):
            raise RuntimeError(f"{folder} holds a different mace-torch training; give another checkpoint_dir")
        wall = float(record["train_wall_s"])
        progress(f"train: reusing the model in {folder}")
    else:
        for split, name in (("train", "train.xyz"), ("val", "val.xyz")):
            _write_extxyz(frames[split], folder / name)
        progress(f"train: mace_run_train, {request['epochs']} epochs, {len(frames['train'])} training frames")
        wall = _run_cli(_cli_arguments(request, spec, folder), folder, int(request["threads"]))
        tmp = folder / f"trained.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"key": key, "train_wall_s": wall}, indent=1))
        os.replace(tmp, done)
    torch.set_default_dtype(DTYPES[spec["dtype"]])
    model = _load_trained(folder).eval()
    test = frames["test"]
    pred = _predict(model, test, int(request["valid_batch_size"] or 16))
    e_ref = np.array([f["energy"] for f in test])
    n_atoms = np.array([len(f["numbers"]) for f in test])
    f_ref = np.concatenate([f["forces"] for f in test])
    result: dict[str, Any] = {
        "energy_mae_meV": 1e3 * float(np.mean(np.abs(pred["energies"] - e_ref))),
        "energy_per_atom_mae_meV": 1e3 * float(np.mean(np.abs(pred["energies"] - e_ref) / n_atoms)),
        "force_mae_meV_per_A": 1e3 * float(np.mean(np.abs(pred["forces"] - f_ref))),
        "n_test": len(test),
        "train_wall_s": wall,
        "best_epoch": _best_epoch(folder / "train.log"),
        "avg_num_neighbors": float(model.interactions[0].avg_num_neighbors),
        "atomic_energies": model.atomic_energies_fn.atomic_energies.reshape(-1).tolist(),
        "versions": _versions(),
        **count_parameters(model),
    }
    if hasattr(model, "scale_shift"):
        result["scale"] = model.scale_shift.scale.reshape(-1).tolist()
        result["shift"] = model.scale_shift.shift.reshape(-1).tolist()
    if "stress" in pred:
        s_ref = np.stack([f["stress"] for f in test])
        result["stress_mae_meV_per_A3"] = 1e3 * float(np.mean(np.abs(pred["stress"] - s_ref)))
    if not all(math.isfinite(result[k]) for k in ("energy_mae_meV", "force_mae_meV_per_A")):
        raise RuntimeError(f"mace-torch test errors are not finite: {result}")
    progress(
        f"train: test energy MAE {result['energy_mae_meV']:.2f} meV, force MAE {result['force_mae_meV_per_A']:.2f} "
        f"meV/A (best epoch {result['best_epoch']}, {wall:.0f} s training)"
    )
    return result, pred


def _best_epoch(log: Path) -> int | None:
    found = re.findall(r"Loaded Stage one model from epoch (-?\d+)", log.read_text()) if log.exists() else []
    return int(found[-1]) if found else None


def _versions() -> dict[str, str]:
    import ase
    import e3nn

    versions = {"mace-torch": mace.__version__, "e3nn": e3nn.__version__, "torch": torch.__version__}
    return {**versions, "ase": ase.__version__}


def main(argv: list[str]) -> int:
    commands = ("check", "build", "time", "train", "memory")
    if len(argv) != 3 or argv[0] not in commands:
        print(f"usage: _mace_peer.py {{{','.join(commands)}}} REQUEST.json|- RESULT.json", file=sys.stderr)
        return 2
    command, request_path, result_path = argv[0], Path(argv[1]), Path(argv[2])
    request = {} if argv[1] == "-" else json.loads(request_path.read_text())
    request["_folder"] = str(result_path.parent)
    torch.set_num_threads(int(request.get("threads", 1)))
    arrays: dict[str, np.ndarray] = {}
    if command == "check":
        result = check(request.get("model", {}))
    elif command == "build":
        result = build(request)
    elif command == "time":
        result = time_systems(request)
    elif command == "memory":
        result = peak_memory(request)
    else:
        result, arrays = train(request)
    if arrays:
        np.savez(result_path.with_suffix(".npz"), **arrays)
    tmp = result_path.with_name(result_path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
