"""Shared fixtures: one ``bk`` (backend) fixture over every array library tnkit supports.

Core tests take ``bk`` and build their inputs on the host with a seeded NumPy
generator, then move them with ``bk.asarray``; results come back with
``bk.to_numpy`` for comparison against NumPy/SciPy references.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "tnkit",
    derandomize=True,
    deadline=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("tnkit")


@dataclasses.dataclass(frozen=True)
class Backend:
    """An array library on one device, as the tests see it."""

    name: str
    xp: Any
    device: Any

    def asarray(self, a: Any, dtype: str | None = None) -> Any:
        host = np.asarray(a)
        if dtype is not None:
            host = host.astype(dtype)
        return self.xp.asarray(host, dtype=getattr(self.xp, str(host.dtype)), device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        from tnkit.backend import to_host

        return to_host(x)

    def dtype(self, name: str) -> Any:
        return getattr(self.xp, name)


def _cuda_available_torch() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _cupy_usable() -> tuple[bool, str]:
    try:
        import cupy
    except ImportError:
        return False, "cupy not installed (pip install 'tnkit[gpu]')"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return False, "cupy installed but no CUDA device"
    except Exception as exc:  # no driver, no device
        return False, f"cupy installed but no usable CUDA device ({type(exc).__name__})"
    return True, ""


def _make_backend(name: str) -> Backend:
    if name == "numpy":
        import array_api_compat.numpy as xp

        return Backend(name, xp, "cpu")
    if name == "array_api_strict":
        xp = importlib.import_module("array_api_strict")
        return Backend(name, xp, xp.Device("CPU_DEVICE"))
    if name == "torch":
        pytest.importorskip("torch", reason="torch not installed (pip install 'tnkit[torch]')")
        import array_api_compat.torch as xp

        return Backend(name, xp, "cpu")
    if name == "torch-cuda":
        if not _cuda_available_torch():
            pytest.skip("torch-cuda: no CUDA device on this machine")
        import array_api_compat.torch as xp

        return Backend(name, xp, "cuda")
    if name == "cupy":
        ok, why = _cupy_usable()
        if not ok:
            pytest.skip(f"cupy: {why}")
        import array_api_compat.cupy as xp
        import cupy

        return Backend(name, xp, cupy.cuda.Device(0))
    raise ValueError(name)


BACKENDS = ["numpy", "array_api_strict", "torch", "cupy", "torch-cuda"]


@pytest.fixture(params=BACKENDS)
def bk(request: pytest.FixtureRequest) -> Backend:
    """Every array library (GPU ones skipped with a reason when absent)."""
    return _make_backend(request.param)


@pytest.fixture(params=["float32", "float64", "complex128"])
def dtype(request: pytest.FixtureRequest) -> str:
    return request.param


def rtol_for(dtype: str) -> float:
    """A tolerance a few hundred ulps above the dtype's epsilon."""
    return 2e-4 if dtype in ("float32", "complex64") else 1e-10


def random_array(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Seeded Gaussian host array of ``dtype`` (complex parts independent)."""
    if dtype.startswith("complex"):
        out = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    else:
        out = rng.standard_normal(shape)
    return out.astype(dtype)


@pytest.fixture(scope="module")
def torch_single_thread():
    """For modules of many tiny solves: torch's intra-op threads only add contention there
    (up to 100x slower on 2 cores). Use with ``pytestmark = pytest.mark.usefixtures(...)``."""
    try:
        import torch
    except ImportError:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
