"""Hook the dataset generators and the manifest of physics into ``tnkit data``.

:func:`register` is the plug-in's entry point (group ``tnkit.datasets`` in
``pyproject.toml``): tnkit loads it by that name and never imports physics itself. It
registers the manifest this package ships (``physics/data/manifest.toml``, package data)
and the generators below; importing :mod:`physics.data` calls it too, so a plain
``import physics.data`` from a source tree without an install also works.

Every recipe of :data:`physics.data.DATASETS`, and the molecular-dynamics recipes
``xtb-md`` (:func:`physics.data.generate_xtb_md`) and ``emt-crystals``
(:func:`physics.data.generate_emt_crystals`), is a generator under its own name
(written wherever ``--out`` says, parameters from the command line; ``samples`` means
``frames`` for ``xtb-md`` and ``frames_per_run`` for ``emt-crystals``); the small versions committed to ``datasets/``
(:data:`SMALL`) and the full-size on-demand sets (:data:`ON_DEMAND`) are generators under
their manifest names with fixed parameters.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from physics.data._emt import EMT_CRYSTALS_DEFAULTS, generate_emt_crystals
from physics.data._generators import DATASETS, generate
from physics.data._xtb import XTB_MD_DEFAULTS, generate_xtb_md
from tnkit.io import register_generator, register_manifest

__all__ = ["ON_DEMAND", "SMALL", "register", "register_all"]

XTB_MD = "xtb-md"
EMT_CRYSTALS = "emt-crystals"
# The trajectory recipes: name -> (function, defaults, what the command line's --samples sets).
_TRAJECTORIES: dict[str, tuple[Any, dict[str, Any], str]] = {
    XTB_MD: (generate_xtb_md, XTB_MD_DEFAULTS, "frames"),
    EMT_CRYSTALS: (generate_emt_crystals, EMT_CRYSTALS_DEFAULTS, "frames_per_run"),
}

# Small versions shipped in datasets/ (a few MB): name -> (recipe, parameters).
SMALL: dict[str, tuple[str, dict[str, Any]]] = {
    "darcy_64": ("darcy", {"samples": 256, "resolution": 64, "solve_resolution": 253, "seed": 0}),
    "navier_stokes_1e-3_64": (
        "navier-stokes",
        {
            "samples": 64,
            "nu": 1e-3,
            "resolution": 64,
            "solve_resolution": 64,
            "T": 10.0,
            "record": 2.0,
            "dt": 1e-3,
            "seed": 0,
        },
    ),
    # Darcy-16-style operator-learning benchmark (as neuraloperator's small Darcy set): 1000
    # training samples at 16^2 and 50 test samples at 16^2 and 32^2, one 466-node solve each
    # (465 = 15 * 31, so both grids are exact subsamples); the two test files hold the same
    # 50 functions (seed 1) at two resolutions.
    "darcy_16": ("darcy", {"samples": 1000, "resolution": 16, "solve_resolution": 466, "seed": 0}),
    "darcy_test_16": ("darcy", {"samples": 50, "resolution": 16, "solve_resolution": 466, "seed": 1}),
    "darcy_test_32": ("darcy", {"samples": 50, "resolution": 32, "solve_resolution": 466, "seed": 1}),
    # Held-out Darcy test functions for models trained on darcy_64: 64 samples (seed 1) from
    # one 505-node solve each, stored at 64^2 (every 8th node) and 127^2 (every 4th); 504 =
    # 8 * 63 = 4 * 126, so both are exact subsamples of the same solves (128 nodes cannot
    # share a node grid with 64).
    "darcy_test_64": ("darcy", {"samples": 64, "resolution": 64, "solve_resolution": 505, "seed": 1}),
    "darcy_test_127": ("darcy", {"samples": 64, "resolution": 127, "solve_resolution": 505, "seed": 1}),
    # Navier-Stokes nu = 1e-3 trajectories recorded every time unit to T = 20 (a = w(0),
    # u = w(1) .. w(20)) for the FNO paper's "10 steps in, next steps out" task at 64^2.
    "navier_stokes_1e-3_64_seq": (
        "navier-stokes",
        {
            "samples": 54,
            "nu": 1e-3,
            "resolution": 64,
            "solve_resolution": 64,
            "T": 20.0,
            "record": 1.0,
            "dt": 1e-3,
            "seed": 0,
        },
    ),
    # GFN2-xTB Langevin MD at 500 K (the xtb-md defaults: 0.5 fs steps, a frame every 20 fs
    # after 1 ps discarded): 2000 frames each of a small and a mid-sized MD17 molecule.
    "xtb_md_ethanol": (XTB_MD, {"molecule": "ethanol", "frames": 2000, "seed": 0}),
    "xtb_md_aspirin": (XTB_MD, {"molecule": "aspirin", "frames": 2000, "seed": 0}),
    # EMT Langevin MD (NVT) of Cu and Al bulk, a Cu vacancy and a Cu(111) slab at 300-1200 K,
    # randomly strained cells: 16 runs of 150 frames (the emt-crystals defaults).
    "emt_crystals": (EMT_CRYSTALS, {"seed": 0}),
}


# Full-size sets listed in the manifest as on_demand (not committed; their arrays' sha256
# are): name -> (recipe, parameters).
ON_DEMAND: dict[str, tuple[str, dict[str, Any]]] = {
    "darcy_421_85": ("darcy", {"samples": 1024, "seed": 0}),  # FNO: 421^2 solves, stored at 85^2
}
FIXED = {**SMALL, **ON_DEMAND}


def _recipe(name: str, fixed: dict[str, Any] | None) -> Any:
    def run(
        out: Path, progress: bool | None = None, max_hours: float | None = 1.0, executor: Any = None, **options: Any
    ) -> None:
        if fixed is not None and options:
            raise ValueError(
                f"{name} is a fixed dataset; options {sorted(options)} apply to the recipe "
                f"{FIXED[name][0]!r} (tnkit data generate {FIXED[name][0]} --out PATH ...)"
            )
        recipe = FIXED[name][0] if fixed is not None else name
        if recipe not in _TRAJECTORIES:
            generate(recipe, out, progress=progress, max_hours=max_hours, executor=executor, **(fixed or options))
            return
        function, _, frames = _TRAJECTORIES[recipe]
        if executor is not None:
            raise ValueError(
                f"{name}: an {recipe} trajectory is one sequential run; parallel workers (--workers, --scheduler, "
                "executor=) apply to the operator datasets only"
            )
        if "samples" in options:  # the command line's --samples: frames of a trajectory
            if frames in options:
                raise ValueError(f"{recipe}: give the number of frames once (--samples or --set {frames}=...)")
            options[frames] = options.pop("samples")
        function(out, progress=progress, **(fixed or options))

    return run


def _parameters(name: str) -> dict[str, Any]:
    """The ``--set`` keys of a recipe with their defaults (for ``tnkit data generate --help``)."""
    return dict(_TRAJECTORIES[name][1]) if name in _TRAJECTORIES else dict(DATASETS[name].defaults)


def register_all() -> None:
    """Register every recipe and every fixed dataset as a generator of ``tnkit data generate``."""
    for name in (*DATASETS, *_TRAJECTORIES):
        register_generator(name, _parameters(name))(_recipe(name, None))
    for name, (_, params) in FIXED.items():
        register_generator(name)(_recipe(name, params))


def register() -> None:
    """Register the datasets of physics with tnkit: the manifest and every generator.

    The ``tnkit.datasets`` entry point of this distribution; calling it again is harmless.

    Examples
    --------
    >>> import tnkit.io
    >>> register()
    >>> "darcy_64" in tnkit.io.manifest() and "darcy" in tnkit.io.generator_names()
    True
    """
    register_manifest(resources.files("physics.data") / "manifest.toml")
    register_all()
