"""Operator datasets: generators (determinism, resume, provenance, bad input) and loaders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from physics.data import DATASETS, generate, load_arrays, resolve_parameters, torch_dataset
from physics.pde import Darcy2D, Helmholtz2D, Poisson2D
from tnkit.io import DataError, array_sha256, provenance

SMALL = {
    "poisson": {"samples": 6, "resolution": 17, "chunk": 4},
    "helmholtz": {"samples": 6, "resolution": 17, "k": 4.0, "chunk": 4},
    "darcy": {"samples": 6, "resolution": 9, "solve_resolution": 33, "chunk": 4},
    "navier-stokes": {
        "samples": 3,
        "resolution": 16,
        "solve_resolution": 32,
        "T": 0.2,
        "record": 0.1,
        "dt": 1e-2,
        "chunk": 2,
    },
    "burgers": {"samples": 4, "resolution": 64, "solve_resolution": 128, "T": 0.1, "dt": 1e-3, "chunk": 4},
}


def _digests(path) -> dict[str, str]:
    d = load_arrays(path)
    return {k: array_sha256(d[k]) for k in ("a", "u")}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_generate_records_parameters_and_is_deterministic(tmp_path, name) -> None:
    a = generate(name, tmp_path / "a.h5", progress=False, **SMALL[name])
    b = generate(name, tmp_path / "b.h5", progress=False, **SMALL[name])
    assert _digests(a) == _digests(b)
    info = provenance(a)
    assert info["schema"] == DATASETS[name].schema
    params = info["generator"]["parameters"]
    assert params == {"name": name, **resolve_parameters(name, SMALL[name])}
    d = load_arrays(a)
    assert d["a"].shape[0] == d["u"].shape[0] == SMALL[name]["samples"]
    assert d["a"].dtype == np.float32
    other = generate(name, tmp_path / "c.h5", progress=False, **{**SMALL[name], "seed": 1})
    assert _digests(other)["a"] != _digests(a)["a"]


def test_samples_do_not_depend_on_the_batch(tmp_path) -> None:
    """Sample i is drawn from its own generator: the first samples of a bigger set agree."""
    few = load_arrays(generate("poisson", tmp_path / "few.h5", progress=False, samples=2, resolution=17))
    many = load_arrays(generate("poisson", tmp_path / "many.h5", progress=False, samples=5, resolution=17, chunk=5))
    assert np.allclose(few["a"], many["a"][:2], rtol=0, atol=1e-6)
    assert np.allclose(few["u"], many["u"][:2], rtol=0, atol=1e-6)


def test_solutions_solve_their_equations(tmp_path) -> None:
    d = load_arrays(
        generate(
            "darcy", tmp_path / "d.h5", progress=False, samples=3, resolution=33, solve_resolution=33, dtype="float64"
        )
    )
    assert set(np.unique(d["a"])) == {3.0, 12.0}
    assert d["u"].min() >= 0  # maximum principle, f = 1
    resid = Darcy2D(33).apply(d["a"], d["u"])[:, 1:-1, 1:-1] - 1.0
    assert np.abs(resid).max() < 1e-9
    p = load_arrays(generate("poisson", tmp_path / "p.h5", progress=False, samples=2, resolution=17, dtype="float64"))
    assert np.allclose(Poisson2D(17).apply(p["u"])[:, 1:-1, 1:-1], p["a"][:, 1:-1, 1:-1], atol=1e-10)
    h = load_arrays(
        generate("helmholtz", tmp_path / "h.h5", progress=False, samples=2, resolution=17, k=3.0, dtype="float64")
    )
    assert np.allclose(Helmholtz2D(17, 3.0).apply(h["u"])[:, 1:-1, 1:-1], h["a"][:, 1:-1, 1:-1], atol=1e-10)


def test_navier_stokes_snapshots_continue_the_solver(tmp_path) -> None:
    from physics.pde import NavierStokes2D, fno_forcing

    p = {**SMALL["navier-stokes"], "resolution": 32, "dtype": "float64"}
    d = load_arrays(generate("navier-stokes", tmp_path / "ns.h5", progress=False, **p))
    assert np.allclose(d["times"], [0.1, 0.2])
    ns = NavierStokes2D(32, 1e-3, forcing=fno_forcing, dt=1e-2)
    assert np.allclose(ns.step(d["a"], 10), d["u"][:, 0], atol=1e-10)


def test_interrupted_generation_resumes_to_the_same_arrays(tmp_path) -> None:
    whole = generate("darcy", tmp_path / "whole.h5", progress=False, **SMALL["darcy"])
    spec = DATASETS["darcy"]
    calls = []
    original = spec.block

    def flaky(p, start, count, like):
        calls.append(start)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second block
        return original(p, start, count, like)

    object.__setattr__(spec, "block", flaky)  # the spec is a frozen dataclass
    try:
        with pytest.raises(KeyboardInterrupt):
            generate("darcy", tmp_path / "cut.h5", progress=False, **SMALL["darcy"])
    finally:
        object.__setattr__(spec, "block", original)
    partial = tmp_path / "cut.h5.partial"
    assert partial.exists() and not (tmp_path / "cut.h5").exists()
    with h5py.File(partial) as h:
        assert int(h.attrs["tnkit_done"]) == 4
    done = generate("darcy", tmp_path / "cut.h5", progress=False, **SMALL["darcy"])
    assert _digests(done) == _digests(whole)
    assert not partial.exists()


def test_killed_process_resumes(tmp_path) -> None:
    """A generation killed with SIGKILL mid-run is completed by the next run."""
    out = tmp_path / "k.h5"
    cmd = [
        sys.executable,
        "-m",
        "tnkit",
        "data",
        "generate",
        "darcy",
        "--out",
        str(out),
        "--samples",
        "24",
        "--resolution",
        "9",
        "--set",
        "solve_resolution=129",
        "--set",
        "chunk=2",
        "--no-progress",
    ]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = tmp_path / "k.h5.partial"
    deadline = time.time() + 60
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if partial.exists():
            try:
                with h5py.File(partial, "r", locking=False) as h:
                    done = int(h.attrs.get("tnkit_done", 0))
            except OSError:
                done = 0
            if done >= 4:
                break
        time.sleep(0.05)
    if proc.poll() is not None:
        assert proc.returncode == 0
        pytest.skip("the generation finished before it could be killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert partial.exists() and not out.exists()
    rc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    ref = tmp_path / "ref.h5"
    rc = subprocess.run(cmd[:7] + [str(ref)] + cmd[8:], env=env, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    assert _digests(out) == _digests(ref)


def test_existing_file_with_other_parameters_is_kept(tmp_path) -> None:
    path = generate("poisson", tmp_path / "p.h5", progress=False, samples=2, resolution=17)
    before = path.read_bytes()
    with pytest.raises(DataError, match="other generator parameters"):
        generate("poisson", path, progress=False, samples=3, resolution=17)
    assert path.read_bytes() == before
    # the same parameters: nothing to do, the file is kept
    assert generate("poisson", path, progress=False, samples=2, resolution=17) == path
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "name, overrides, match",
    [
        ("navier-stokes", {"nu": -1e-3}, "nu must be a finite number >= 0"),
        ("burgers", {"nu": -0.1}, "nu must be"),
        ("navier-stokes", {"resolution": 48}, "solve_resolution / resolution must be a whole number"),
        ("darcy", {"resolution": 86}, r"\(solve_resolution - 1\) / \(resolution - 1\)"),
        ("darcy", {"resolution": 500}, "finer than solve_resolution"),
        ("navier-stokes", {"modes": 200}, "exceeds what the 256-point solve grid resolves"),
        ("navier-stokes", {"nu": 2e-3}, "no FNO default"),
        ("navier-stokes", {"T": 1.5, "record": 1.0}, "whole number"),
        ("poisson", {"samples": 0}, "samples must be an int >= 1"),
        ("poisson", {"dtype": "int8"}, "dtype must be"),
        ("poisson", {"viscosity": 1}, "unknown parameter 'viscosity'"),
        ("darcy", {"backend": "jax"}, "backend must be one of"),
        ("nope", {}, "unknown dataset"),
    ],
)
def test_bad_parameters(tmp_path, name, overrides, match) -> None:
    with pytest.raises(ValueError, match=match):
        generate(name, tmp_path / "x.h5", progress=False, **overrides)
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "x.h5.partial").exists()


def test_cfl_violation_stops_generation_without_a_file(tmp_path) -> None:
    with pytest.raises(ValueError, match="CFL violation"):
        generate(
            "navier-stokes",
            tmp_path / "x.h5",
            progress=False,
            samples=2,
            resolution=32,
            solve_resolution=32,
            T=1.0,
            record=1.0,
            dt=0.5,
        )
    assert not (tmp_path / "x.h5").exists()


def test_torch_dataset_normalizes(tmp_path) -> None:
    pytest.importorskip("torch")
    path = generate("poisson", tmp_path / "p.h5", progress=False, samples=8, resolution=17)
    train = torch_dataset(path, n=6)
    test = torch_dataset(path, start=6, n=2, x_normalizer=train.x_normalizer, y_normalizer=train.y_normalizer)
    assert len(train) == 6 and len(test) == 2
    x, y = train[:]
    assert abs(float(x.mean(0).abs().max())) < 1e-5
    raw = load_arrays(path)
    assert x.shape == (6, 1, 17, 17) and y.shape == (6, 1, 17, 17)  # channels first, as train takes them
    assert np.allclose(train.x_normalizer.decode(x).numpy(), raw["a"][:6, None], atol=1e-5)
    assert np.allclose(y.numpy(), raw["u"][:6, None])
    with pytest.raises(ValueError, match="outside the 8 stored"):
        torch_dataset(path, start=4, n=5)


def test_load_arrays_rejects_other_files(tmp_path) -> None:
    from tnkit.io import save

    save(tmp_path / "o.h5", {"x": np.zeros(2)})
    with pytest.raises(DataError, match="not an operator dataset"):
        load_arrays(tmp_path / "o.h5")


def _regenerate_head(name: str, tmp_path, count: int) -> tuple[dict, dict]:
    """The shipped dataset and the first ``count`` samples regenerated from its record."""
    from physics.data import SMALL

    shipped = load_arrays(name)  # sha256-verified against the manifest
    recipe, params = SMALL[name]
    fresh = load_arrays(
        generate(recipe, tmp_path / "head.h5", progress=False, **{**params, "samples": count, "chunk": count})
    )
    return shipped, fresh


def test_shipped_darcy_regenerates(tmp_path) -> None:
    shipped, fresh = _regenerate_head("darcy_64", tmp_path, 2)
    assert shipped["a"].shape == (256, 64, 64) and shipped["u"].shape == (256, 64, 64)
    assert set(np.unique(shipped["a"])) == {3.0, 12.0}
    assert shipped["u"].min() >= 0 and np.all(shipped["u"][:, 0] == 0)
    assert np.array_equal(fresh["a"], shipped["a"][:2])
    assert np.allclose(fresh["u"], shipped["u"][:2], rtol=0, atol=1e-6 * np.abs(shipped["u"]).max())


@pytest.mark.parametrize("name", ["darcy_16", "darcy_test_16", "darcy_test_32"])
def test_shipped_darcy_16_sets_regenerate(name, tmp_path) -> None:
    shipped, fresh = _regenerate_head(name, tmp_path, 1)
    n = 32 if name.endswith("32") else 16
    assert shipped["a"].shape == shipped["u"].shape == (1000 if name == "darcy_16" else 50, n, n)
    assert np.array_equal(fresh["a"], shipped["a"][:1])
    assert np.allclose(fresh["u"], shipped["u"][:1], rtol=0, atol=1e-6 * np.abs(shipped["u"]).max())


def test_darcy_16_test_sets_hold_the_same_functions_and_differ_from_training() -> None:
    coarse, fine, train16 = load_arrays("darcy_test_16"), load_arrays("darcy_test_32"), load_arrays("darcy_16")
    # both subsample the same 466^2 solves: nodes 31 i (16^2) and 15 j (32^2) meet at 0 and 465
    ends = np.ix_(range(50), [0, 15], [0, 15])
    assert np.array_equal(coarse["a"][ends], fine["a"][np.ix_(range(50), [0, 31], [0, 31])])
    # a coarse bilinear check: the 32^2 field restricted to the nearest nodes of the 16^2 grid
    near = np.rint(np.arange(16) * 31 / 15).astype(int)
    agree = np.mean(coarse["a"] == fine["a"][:, near][:, :, near])
    assert agree > 0.8, agree
    assert not np.array_equal(train16["a"][:50], coarse["a"])


@pytest.mark.parametrize("name", ["darcy_test_64", "darcy_test_127"])
def test_shipped_darcy_test_sets_for_darcy_64_regenerate(name, tmp_path) -> None:
    shipped, fresh = _regenerate_head(name, tmp_path, 1)
    n = int(name.rsplit("_", 1)[1])
    assert shipped["a"].shape == shipped["u"].shape == (64, n, n)
    assert np.array_equal(fresh["a"], shipped["a"][:1])
    assert np.allclose(fresh["u"], shipped["u"][:1], rtol=0, atol=1e-6 * np.abs(shipped["u"]).max())


def test_darcy_test_64_is_every_other_node_of_darcy_test_127() -> None:
    coarse, fine = load_arrays("darcy_test_64"), load_arrays("darcy_test_127")
    for key in ("a", "u"):
        assert np.array_equal(coarse[key], fine[key][:, ::2, ::2]), key
    assert not np.array_equal(load_arrays("darcy_64")["a"][:64], coarse["a"])


def test_navier_stokes_sequence_set_continues_the_trajectories_of_its_recipe() -> None:
    seq, coarse = load_arrays("navier_stokes_1e-3_64_seq"), load_arrays("navier_stokes_1e-3_64")
    assert seq["a"].shape == (54, 64, 64) and seq["u"].shape == (54, 20, 64, 64)
    assert np.allclose(seq["times"], np.arange(1, 21))
    # same seeds, same solver and dt: w(0) agrees and w(2), w(4), ... match the coarser record
    assert np.array_equal(seq["a"], coarse["a"][:54])
    np.testing.assert_allclose(seq["u"][:, 1:10:2], coarse["u"][:54], rtol=0, atol=1e-5 * np.abs(coarse["u"]).max())


@pytest.mark.slow
def test_shipped_navier_stokes_sequence_regenerates(tmp_path) -> None:
    shipped, fresh = _regenerate_head("navier_stokes_1e-3_64_seq", tmp_path, 1)
    assert np.allclose(fresh["u"], shipped["u"][:1], rtol=0, atol=1e-5 * np.abs(shipped["u"]).max())


@pytest.mark.slow
def test_shipped_navier_stokes_regenerates(tmp_path) -> None:
    shipped, fresh = _regenerate_head("navier_stokes_1e-3_64", tmp_path, 2)
    assert shipped["a"].shape == (64, 64, 64) and shipped["u"].shape == (64, 5, 64, 64)
    assert np.allclose(shipped["times"], [2, 4, 6, 8, 10])
    assert np.allclose(fresh["a"], shipped["a"][:2], rtol=0, atol=1e-6 * np.abs(shipped["a"]).max())
    assert np.allclose(fresh["u"], shipped["u"][:2], rtol=0, atol=1e-5 * np.abs(shipped["u"]).max())


@pytest.mark.parametrize("name", sorted(SMALL))
def test_torch_backend_gives_the_numpy_dataset(tmp_path, name) -> None:
    """The solvers run on the chosen library (torch here; CUDA the same way) with the
    same noise, so the datasets agree to rounding; the backend is recorded."""
    pytest.importorskip("torch")
    kw = {**SMALL[name], "dtype": "float64"}
    a = load_arrays(generate(name, tmp_path / "np.h5", progress=False, **kw))
    path = generate(name, tmp_path / "t.h5", progress=False, backend="torch", **kw)
    b = load_arrays(path)
    assert provenance(path)["generator"]["parameters"]["backend"] == "torch"
    for key in ("a", "u"):
        assert np.allclose(a[key], b[key], rtol=0, atol=1e-12 * np.abs(a[key]).max())
