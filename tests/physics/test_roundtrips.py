"""Round trips: a saved potential loads back exact; torch_dataset feeds train; fit and evaluate share one loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physics.data import torch_dataset
from physics.operators import FNO, train
from physics.potentials import (
    EGNN,
    FORCE_WEIGHT,
    Calculator,
    Frames,
    Potential,
    TensorNet,
    energy_force_loss,
    evaluate,
    fit,
)
from physics.training import save_atomic
from tnkit.io import DataError
from tnkit.run import Run

WATER = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])


def _water_frames(n: int, seed: int = 0) -> Frames:
    """Rattled water molecules with a harmonic O-H bond energy and its forces."""
    rng = np.random.default_rng(seed)
    pos = WATER[None] + 0.05 * rng.normal(size=(n, 3, 3))
    energy, forces = np.full(n, -470.0), np.zeros((n, 3, 3))
    for h in (1, 2):
        bond = pos[:, h] - pos[:, 0]
        d = np.linalg.norm(bond, axis=1)
        energy += 5.0 * (d - 0.96) ** 2
        f = -10.0 * (d - 0.96)[:, None] * bond / d[:, None]
        forces[:, h] += f
        forces[:, 0] -= f
    return Frames.from_arrays([8, 1, 1], pos, energy, forces)


def _trained_like(cls: type[Potential], dtype: torch.dtype | None) -> Potential:
    """A small model whose weights and energy scales are not the constructor's."""
    torch.manual_seed(0)
    model = cls(hidden_channels=8, num_layers=2, num_rbf=4, cutoff=3.0, elements=(1, 8), dtype=dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.fit_reference_energies([[8, 1, 1], [1, 1], [8]], [-470.1, -1.0, -468.9])
    model.energy_scale.fill_(1.7)
    model.energy_shift.fill_(-0.3)
    return model


def _predict(model: Potential) -> dict[str, torch.Tensor]:
    dtype = next(model.parameters()).dtype
    positions = torch.tensor(WATER, dtype=dtype)
    return model.eval()(torch.tensor([8, 1, 1]), positions)


# ----------------------------------------------------------------------------- Potential.save / load


@pytest.mark.parametrize("cls", [TensorNet, EGNN])
@pytest.mark.parametrize("dtype", [None, torch.float64], ids=["default", "float64"])
def test_saved_potential_loads_with_equal_predictions(tmp_path, cls, dtype) -> None:
    model = _trained_like(cls, dtype)
    path = model.save(tmp_path / "model.pt")
    for loaded in (Potential.load(path), cls.load(path)):
        assert type(loaded) is cls and not loaded.training
        assert loaded.config() == model.config()
        saved, now = model.state_dict(), loaded.state_dict()
        assert saved.keys() == now.keys()
        for key in saved:  # same values and dtypes (float64 reference energies of a float32 network)
            assert saved[key].dtype == now[key].dtype and torch.equal(saved[key], now[key]), key
        expected, got = _predict(model), _predict(loaded)
        assert torch.equal(expected["energy"], got["energy"])
        assert torch.equal(expected["forces"], got["forces"])


def test_fit_result_saves_the_fitted_model_and_evaluate_reports_fits_loss(tmp_path) -> None:
    frames = _water_frames(24)
    train_frames, val = frames.split([16, 8], seed=0)
    torch.manual_seed(0)
    model = TensorNet(8, 1, 4, cutoff=3.0, elements=(1, 8))
    result = fit(model, train_frames, val, epochs=2, batch_size=8, lr=3e-3, run=Run(progress=False))
    path = result.save(tmp_path / "fitted.pt")
    loaded = Potential.load(path)
    assert torch.equal(_predict(result.model)["forces"], _predict(loaded)["forces"])
    # One loss definition: evaluate's default loss is the one fit minimised and recorded.
    best = min(result.history["val_loss"])
    assert evaluate(loaded, val, batch_size=32)["loss"] == pytest.approx(best, rel=1e-6)


def test_evaluate_loss_is_the_shared_definition() -> None:
    frames = _water_frames(6)
    torch.manual_seed(0)
    model = TensorNet(8, 1, 4, cutoff=3.0, elements=(1, 8), dtype=torch.float64)
    batch = frames.batches(6).__next__().to(torch.device("cpu"), torch.float64)
    out = model.eval()(batch["numbers"], batch["positions"], batch=batch["batch"])
    de = (out["energy"] - batch["energy"]) / batch["n_atoms"]
    df = out["forces"] - batch["forces"]
    by_hand = float((de * de).mean() + FORCE_WEIGHT * (df * df).mean())
    assert FORCE_WEIGHT == 10.0
    assert float(energy_force_loss(out, batch)) == pytest.approx(by_hand, rel=1e-12)
    assert evaluate(model, frames, batch_size=6)["loss"] == pytest.approx(by_hand, rel=1e-12)
    weighted = evaluate(model, frames, batch_size=6, energy_weight=2.0, force_weight=0.5)["loss"]
    assert weighted == pytest.approx(float(2.0 * (de * de).mean() + 0.5 * (df * df).mean()), rel=1e-12)


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_loading_a_damaged_or_foreign_file_is_one_line_data_error(tmp_path) -> None:
    model = _trained_like(TensorNet, None)
    path = model.save(tmp_path / "model.pt")

    tampered = torch.load(path, weights_only=True)
    next(iter(tampered["state_dict"].values())).view(-1)[0] += 1.0
    torch.save(tampered, tmp_path / "tampered.pt")
    with pytest.raises(DataError, match="checksum mismatch") as exc:
        Potential.load(tmp_path / "tampered.pt")
    assert _one_line(exc).startswith(str(tmp_path / "tampered.pt"))

    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file at all")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    save_atomic({"settings": {}, "epoch": 1}, tmp_path / "checkpoint.pt")
    for name, message in [
        ("missing.pt", "missing.pt"),
        ("empty.pt", "empty file; not a potential file"),
        ("garbage.pt", "not a readable potential file"),
        ("foreign.pt", "not a potential saved by Potential.save"),
        ("checkpoint.pt", "not a potential saved by Potential.save"),
    ]:
        with pytest.raises(DataError, match=message) as exc:
            Potential.load(tmp_path / name)
        _one_line(exc)

    with pytest.raises(DataError, match="holds a TensorNet, not a EGNN; load it with Potential.load") as exc:
        EGNN.load(path)
    _one_line(exc)

    unknown = torch.load(path, weights_only=True)
    unknown.pop("tnkit_sha256")
    unknown["module"] = "somewhere_else"
    save_atomic(unknown, tmp_path / "unknown.pt")
    with pytest.raises(DataError, match="somewhere_else.TensorNet, which is not an imported Potential"):
        Potential.load(tmp_path / "unknown.pt")


def test_calculator_from_a_saved_model(tmp_path) -> None:
    ase_build = pytest.importorskip("ase.build")
    model = _trained_like(EGNN, torch.float64)
    path = model.save(tmp_path / "model.pt")
    atoms, twin = ase_build.molecule("H2O"), ase_build.molecule("H2O")
    atoms.calc = Calculator(model)
    twin.calc = Calculator.from_file(path)
    assert np.array_equal(atoms.get_forces(), twin.get_forces())
    assert atoms.get_potential_energy() == twin.get_potential_energy()
    with pytest.raises(DataError, match="empty file"):
        (tmp_path / "empty.pt").write_bytes(b"")
        Calculator.from_file(tmp_path / "empty.pt")


# ----------------------------------------------------------------------------- torch_dataset -> train


def _operator_data(n: int, frames: int | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, 8, 8)).astype(np.float32)
    u = np.fft.irfft2(np.fft.rfft2(a) / 4, s=(8, 8)).astype(np.float32)
    if frames is not None:
        u = np.stack([u * (k + 1) for k in range(frames)], axis=1)
    return {"a": a, "u": u}


def test_torch_dataset_is_channels_first() -> None:
    data = _operator_data(6)
    x, y = torch_dataset(data)[:]
    assert tuple(x.shape) == (6, 1, 8, 8) and tuple(y.shape) == (6, 1, 8, 8)
    ds = torch_dataset(data, normalize="unit_gaussian")
    # the normalisers apply to channels-first tensors and give back the stored values
    assert np.allclose(ds.x_normalizer.decode(ds[:][0])[:, 0].numpy(), data["a"], atol=1e-5)
    assert np.array_equal(ds[:][1][:, 0].numpy(), data["u"])
    # outputs with a frame axis (Navier-Stokes) already have their channels first
    x, y = torch_dataset(_operator_data(6, frames=3))[:]
    assert tuple(x.shape) == (6, 1, 8, 8) and tuple(y.shape) == (6, 3, 8, 8)
    x, y = torch_dataset(data, channels=False)[:]
    assert tuple(x.shape) == (6, 8, 8) and tuple(y.shape) == (6, 8, 8)


@pytest.mark.parametrize("frames", [None, 2], ids=["one-channel", "frames"])
def test_torch_dataset_feeds_train(frames) -> None:
    data = _operator_data(24, frames)
    train_set = torch_dataset(data, n=16)
    test_set = torch_dataset(data, start=16, x_normalizer=train_set.x_normalizer, y_normalizer=train_set.y_normalizer)
    out_channels = 1 if frames is None else frames
    torch.manual_seed(0)
    model = FNO(1, out_channels, (4, 4), hidden_channels=4, n_layers=1)
    result = train(model, train_set, test_data={"test": test_set}, epochs=1, batch_size=8, run=Run(progress=False))
    assert len(result.history["train_loss"]) == 1 and np.isfinite(result.history["test_l2"][-1])
    # the same as training on the dataset's tensors
    torch.manual_seed(0)
    twin = FNO(1, out_channels, (4, 4), hidden_channels=4, n_layers=1)
    again = train(twin, train_set.tensors, epochs=1, batch_size=8, run=Run(progress=False))
    assert again.history["train_loss"] == result.history["train_loss"]


def test_train_takes_any_map_style_dataset_of_pairs() -> None:
    train_set = torch_dataset(_operator_data(16))
    subset = torch.utils.data.Subset(train_set, range(12))
    torch.manual_seed(0)
    result = train(FNO(1, 1, (4, 4), hidden_channels=4, n_layers=1), subset, epochs=1, run=Run(progress=False))
    assert len(result.history["train_loss"]) == 1

    class Singles(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> torch.Tensor:
            return torch.zeros(1, 8, 8)

    with pytest.raises(TypeError, match=r"train_data: the Dataset's samples must be \(x, y\) pairs"):
        train(FNO(1, 1, (4, 4), hidden_channels=4, n_layers=1), Singles(), epochs=1, run=Run(progress=False))
