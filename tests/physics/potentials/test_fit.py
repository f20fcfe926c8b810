"""Frames, fit() and evaluate(): learning, EMA, schedules, checkpoint/resume, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import physics.potentials._fit as fit_module
from physics.potentials import EGNN, Frames, TensorNet, evaluate, fit, load_frames
from tnkit.run import Run


def _morse_frames(n: int = 48, seed: int = 0) -> Frames:
    """A bent triatomic with Morse bonds and a harmonic angle: exact energies and forces by autograd."""
    rng = np.random.default_rng(seed)
    base = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    pos = torch.tensor(base[None] + 0.06 * rng.normal(size=(n, 3, 3)), requires_grad=True)

    def energy(p):
        d1 = (p[:, 1] - p[:, 0]).norm(dim=-1)
        d2 = (p[:, 2] - p[:, 0]).norm(dim=-1)
        cos = ((p[:, 1] - p[:, 0]) * (p[:, 2] - p[:, 0])).sum(-1) / (d1 * d2)
        morse = lambda d: 5.0 * (1 - torch.exp(-2.2 * (d - 0.96))) ** 2  # noqa: E731
        return morse(d1) + morse(d2) + 2.0 * (cos + 0.25) ** 2 - 470.0

    e = energy(pos)
    (g,) = torch.autograd.grad(e.sum(), pos)
    return Frames.from_arrays([8, 1, 1], pos.detach().numpy(), e.detach().numpy(), -g.numpy())


def test_frames_slicing_concat_split_and_collate():
    f = _morse_frames(10)
    g = Frames.from_arrays(
        [6, 1, 1, 1, 1], np.zeros((3, 5, 3)) + np.arange(5)[:, None], np.arange(3.0), np.zeros((3, 5, 3))
    )
    both = f + g
    assert len(both) == 13 and both.total_atoms == 30 + 15
    sub = both[[11, 2]]
    assert sub.n_atoms.tolist() == [5, 3] and sub.energies.tolist() == [1.0, float(f.energies[2])]
    assert np.array_equal(sub.positions[5:], f.positions[6:9])
    batch = both.collate([2, 11])
    assert batch["batch"].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    assert batch["numbers"].tolist() == [8, 1, 1, 6, 1, 1, 1, 1]
    a, b, c = both.split([8, 3, 2], seed=1)
    seen = np.concatenate([a.energies, b.energies, c.energies])
    assert sorted(seen.tolist()) == sorted(both.energies.tolist())
    back = Frames.from_ase(both.to_ase())
    assert np.allclose(back.positions, both.positions) and np.allclose(back.forces, both.forces)
    assert [int(x["energy"].shape[0]) for x in both.batches(5)] == [5, 5, 3]


def _periodic_frames(n: int, label: str, seed: int = 0) -> Frames:
    """``n`` frames of a two-atom cell with arbitrary (symmetric) stress, forces and a label."""
    rng = np.random.default_rng(seed)
    cells = np.eye(3) * 3.0 + 0.1 * rng.normal(size=(n, 3, 3))
    stress = rng.normal(size=(n, 3, 3))
    return Frames.from_arrays(
        [29, 29],
        rng.uniform(0, 3, size=(n, 2, 3)),
        rng.normal(size=n),
        rng.normal(size=(n, 2, 3)),
        cells=cells,
        pbc=[True, True, False],
        stress=stress + stress.transpose(0, 2, 1),
        labels=[label] * n,
    )


def test_frames_keep_stress_and_labels_through_slicing_concat_split_collate_and_ase():
    f, g = _periodic_frames(4, "cu_bulk"), _periodic_frames(3, "cu_slab", seed=1)
    both = f + g
    assert both.stress.shape == (7, 3, 3) and both.labels.tolist() == ["cu_bulk"] * 4 + ["cu_slab"] * 3
    sub = both[[5, 1]]
    assert np.array_equal(sub.stress, np.stack([g.stress[1], f.stress[1]])) and sub.labels.tolist() == [
        "cu_slab",
        "cu_bulk",
    ]
    assert both[both.labels == "cu_slab"].labels.tolist() == ["cu_slab"] * 3  # a mask picks frames
    with pytest.raises(IndexError, match=r"boolean frame mask needs shape \(7,\)"):
        both[np.ones(3, dtype=bool)]
    parts = both.split([3, 4], seed=2)
    assert sorted(np.concatenate([p.stress for p in parts]).ravel().tolist()) == sorted(both.stress.ravel().tolist())
    batch = both.collate([6, 0])
    assert torch.equal(batch["stress"], torch.from_numpy(np.stack([g.stress[2], f.stress[0]])))
    assert batch.to(dtype=torch.float32)["stress"].dtype == torch.float32
    images = both.to_ase()
    assert images[5].info["label"] == "cu_slab" and images[5].pbc.tolist() == [True, True, False]
    np.testing.assert_allclose(images[5].get_stress(voigt=False), both.stress[5], rtol=0, atol=0)
    back = Frames.from_ase(images)
    for key in ("positions", "forces", "energies", "cells", "pbc", "stress"):
        assert np.array_equal(getattr(back, key), getattr(both, key)), key
    assert back.labels.tolist() == both.labels.tolist()
    # without stress anywhere, none comes back and none is collated
    plain = Frames.from_ase(_morse_frames(2).to_ase())
    assert plain.stress is None and plain.labels is None and "stress" not in plain.collate()
    with pytest.raises(ValueError, match="without stress"):
        both + Frames(both.numbers, both.positions, both.n_atoms, both.energies, both.forces, both.cells, both.pbc)
    with pytest.raises(ValueError, match="stress needs cells"):
        Frames.from_arrays([1], np.zeros((1, 1, 3)), [0.0], stress=np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match="stress contain NaN or Inf .first bad frame 1"):
        Frames.from_arrays(
            [1],
            np.zeros((2, 1, 3)),
            [0.0, 0.0],
            cells=np.eye(3)[None].repeat(2, 0),
            stress=np.array([np.zeros((3, 3)), np.full((3, 3), np.inf)]),
        )


def test_frames_refuse_nan_forces_and_bad_shapes():
    pos = np.zeros((2, 2, 3))
    pos[:, 1, 0] = 1.0
    forces = np.zeros((2, 2, 3))
    forces[1, 0, 2] = np.nan
    with pytest.raises(ValueError, match="forces contain NaN or Inf .first bad frame 1"):
        Frames.from_arrays([1, 1], pos, [0.0, 0.0], forces)
    with pytest.raises(ValueError, match="2 frames but 3 energies"):
        Frames.from_arrays([1, 1], pos, [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="unknown element Z=0"):
        Frames.from_arrays([0, 1], pos, [0.0, 0.0])
    with pytest.raises(ValueError, match="zero volume"):
        Frames.from_arrays([1, 1], pos, [0.0, 0.0], cells=np.zeros((2, 3, 3)))


@pytest.mark.parametrize("cls", [TensorNet, EGNN])
def test_fit_learns_a_morse_molecule(cls):
    frames = _morse_frames(64)
    train, val = frames.split([48, 16], seed=0)
    torch.manual_seed(0)
    model = cls(hidden_channels=16, num_layers=2, num_rbf=8, elements=(1, 8), cutoff=3.0)
    before = evaluate(model, val)
    result = fit(model, train, val, epochs=25, batch_size=8, lr=5e-3, run=Run(progress=False))
    after = evaluate(result.model, val)
    # The reference-energy fit alone already removes the -470 eV offset; training must cut the force error.
    assert after["force_mae"] < 0.5 * before["force_mae"]
    assert after["energy_mae"] < before["energy_mae"]
    h = result.history
    assert len(h["train_loss"]) == 25 and h["train_loss"][-1] < h["train_loss"][0]
    assert result.best_epoch == 1 + int(np.argmin(h["val_loss"]))
    # the returned weights are the best epoch's EMA weights: their validation loss is the recorded one
    assert evaluate(result.model, val, force_weight=10.0)["loss"] == pytest.approx(min(h["val_loss"]), rel=1e-5)
    assert result.reference_energies[8] != 0.0


def test_evaluate_against_hand_computed_errors():
    frames = _morse_frames(6)
    torch.manual_seed(0)
    model = TensorNet(8, 1, 4, elements=(1, 8), dtype=torch.float64).eval()
    m = evaluate(model, frames, batch_size=4)
    out = model(
        torch.tensor(frames.numbers), torch.tensor(frames.positions), batch=torch.tensor(np.repeat(np.arange(6), 3))
    )
    de = out["energy"].numpy() - frames.energies
    df = out["forces"].numpy() - frames.forces
    assert m["energy_mae"] == pytest.approx(1e3 * np.abs(de).mean())
    assert m["energy_mae_per_atom"] == pytest.approx(1e3 * np.abs(de).mean() / 3)
    assert m["force_mae"] == pytest.approx(1e3 * np.abs(df).mean())
    assert m["force_rmse"] == pytest.approx(1e3 * np.sqrt((df**2).mean()))


def _small_tensornet():
    torch.manual_seed(1)
    return TensorNet(8, 1, 4, elements=(1, 8))


def test_resuming_a_finished_run_returns_its_result(tmp_path):
    frames = _morse_frames(24)
    train, val = frames.split([16, 8])
    opts = dict(epochs=3, batch_size=8, lr=3e-3, seed=3)

    ckpt = tmp_path / "run.pt"
    full = fit(_small_tensornet(), train, val, **opts, run=Run(progress=False, checkpoint=ckpt))
    assert torch.load(ckpt, weights_only=True)["epoch"] == 3
    again = fit(_small_tensornet(), train, val, **opts, run=Run(progress=False, checkpoint=ckpt, resume=True))
    assert again.history == full.history and again.best_epoch == full.best_epoch
    for a, b in zip(again.model.parameters(), full.model.parameters()):
        assert torch.equal(a, b)


def test_resume_from_the_middle_continues_bit_identically(tmp_path, monkeypatch):
    frames = _morse_frames(24)
    train, val = frames.split([16, 8])
    opts = dict(epochs=4, batch_size=8, lr=3e-3, seed=3)

    full = fit(_small_tensornet(), train, val, **opts, run=Run(progress=False))
    ckpt = tmp_path / "run.pt"
    calls = {"n": 0}
    real = fit_module.evaluate

    def crash_after_two_epochs(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(fit_module, "evaluate", crash_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        fit(_small_tensornet(), train, val, **opts, run=Run(progress=False, checkpoint=ckpt))
    monkeypatch.setattr(fit_module, "evaluate", real)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
    resumed = fit(_small_tensornet(), train, val, **opts, run=Run(progress=False, checkpoint=ckpt, resume=True))
    assert resumed.history["train_loss"] == full.history["train_loss"]
    assert resumed.history["val_loss"] == full.history["val_loss"]
    for a, b in zip(resumed.model.parameters(), full.model.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="another run"):
        fit(
            _small_tensornet(),
            train,
            val,
            **{**opts, "lr": 1e-2},
            run=Run(progress=False, checkpoint=ckpt, resume=True),
        )


def test_amsgrad_keeps_the_largest_second_moment_and_names_the_run(tmp_path):
    frames = _morse_frames(24)
    train, val = frames.split([16, 8])
    opts = dict(epochs=2, batch_size=8, lr=3e-3, seed=3)
    ckpt = tmp_path / "run.pt"
    ams = fit(_small_tensornet(), train, val, **opts, amsgrad=True, run=Run(progress=False, checkpoint=ckpt))
    state = torch.load(ckpt, weights_only=True)
    assert state["settings"]["amsgrad"] is True
    moments = [s for s in state["optimizer"]["state"].values()]
    assert moments and all(torch.all(s["max_exp_avg_sq"] >= s["exp_avg_sq"]) for s in moments)
    plain = fit(_small_tensornet(), train, val, **opts, run=Run(progress=False))
    assert any(not torch.equal(a, b) for a, b in zip(ams.model.parameters(), plain.model.parameters()))
    with pytest.raises(ValueError, match="another run"):  # plain Adam does not resume an AMSGrad run
        fit(_small_tensornet(), train, val, **opts, run=Run(progress=False, checkpoint=ckpt, resume=True))


def test_early_stopping_and_plot(tmp_path):
    frames = _morse_frames(16)
    train, val = frames.split([12, 4])
    torch.manual_seed(0)
    # lr so small nothing improves after the first epochs: patience 2 must stop the run
    result = fit(
        TensorNet(8, 1, 4, elements=(1, 8)),
        train,
        val,
        epochs=50,
        batch_size=4,
        lr=1e-9,
        ema_decay=0.0,
        early_stopping=2,
        run=Run(progress=False, plot=tmp_path / "curve.png"),
    )
    assert result.stopped_early and len(result.history["train_loss"]) < 50
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"


def test_fit_errors():
    frames = _morse_frames(8)
    model = TensorNet(8, 1, 4, elements=(1, 6))
    with pytest.raises(ValueError, match="unknown element Z=8"):
        fit(model, frames, epochs=1, run=Run(progress=False))
    no_forces = Frames.from_arrays([8, 1, 1], frames.positions.reshape(8, 3, 3), frames.energies)
    with pytest.raises(ValueError, match="no forces"):
        fit(TensorNet(8, 1, 4, elements=(1, 8)), no_forces, epochs=1, run=Run(progress=False))
    with pytest.raises(ValueError, match="epochs"):
        fit(TensorNet(8, 1, 4, elements=(1, 8)), frames, epochs=0, run=Run(progress=False))
    with pytest.raises(TypeError, match="Frames"):
        fit(TensorNet(8, 1, 4, elements=(1, 8)), {"positions": 1}, epochs=1, run=Run(progress=False))


def test_warmup_ramps_the_learning_rate_then_hands_over_to_the_plateau_schedule():
    frames = _morse_frames(16)
    torch.manual_seed(0)
    seen = []
    model = TensorNet(8, 1, 4, elements=(1, 8))
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.Adam.step = spy
    try:
        fit(model, frames, epochs=3, batch_size=4, lr=1e-3, warmup_steps=6, run=Run(progress=False))
    finally:
        torch.optim.Adam.step = original
    assert seen[:6] == pytest.approx([1e-3 * (k + 1) / 6 for k in range(6)])
    assert seen[6:] == pytest.approx([1e-3] * 6)


@pytest.mark.parametrize("kind", ["tensornet", "mace"])
def test_ddp_with_torchrun_keeps_the_ranks_in_step(tmp_path, monkeypatch, kind):
    # two gloo ranks launched by torchrun, each on half of every epoch's frames: the gradient
    # all-reduce must leave both with bit-identical weights that differ from the start
    from pathlib import Path

    from tests.physics.potentials.ddp_worker import small_model
    from tests.physics.training._torchrun import ranks_in_step

    monkeypatch.setenv("TNKIT_DDP_MODEL", kind)
    ranks = ranks_in_step(Path(__file__).with_name("ddp_worker.py"), tmp_path)
    torch.manual_seed(0)
    start = small_model(kind).state_dict()
    assert any(not torch.equal(start[k], v) for k, v in ranks[0]["state"].items() if k.endswith("weight"))
    assert len(ranks[0]["history"]["val_loss"]) == 3
    assert ranks[0]["history"]["val_loss"] == ranks[1]["history"]["val_loss"]


def test_stress_term_of_the_loss_and_the_stress_errors():
    frames = load_frames("emt_crystals")
    bulk_cu = frames[np.flatnonzero(frames.labels == "cu_bulk")[::20]]  # 30 frames, 4 strained cells
    train, val = bulk_cu.split([24, 6], seed=0)
    torch.manual_seed(0)
    model = TensorNet(8, 1, 4, elements=(29,), cutoff=4.0, dtype=torch.float64)
    before = evaluate(model, val)
    # the reported stress error is the mean absolute component error of the model's stress
    out = model(
        torch.tensor(val.numbers[: val.n_atoms[0]]),
        torch.tensor(val.positions[: val.n_atoms[0]]),
        cell=torch.tensor(val.cells[0]),
        stress=True,
    )
    one = evaluate(model, val[:1])
    expected = 1e3 * float((out["stress"][0].detach() - torch.tensor(val.stress[0])).abs().mean())
    assert one["stress_mae"] == pytest.approx(expected)
    result = fit(model, train, val, epochs=30, batch_size=4, lr=5e-3, stress_weight=1e3, run=Run(progress=False))
    after = evaluate(result.model, val)
    assert after["stress_mae"] < 0.5 * before["stress_mae"]
    molecule_model = TensorNet(8, 1, 4, elements=(1, 8))
    assert math.isnan(evaluate(molecule_model, _morse_frames(4))["stress_mae"])  # molecules: no stress
    with pytest.raises(ValueError, match="no stress"):
        fit(molecule_model, _morse_frames(8), epochs=1, stress_weight=1.0, run=Run(progress=False))
    with pytest.raises(ValueError, match="stress_weight must be >= 0"):
        fit(model, train, epochs=1, stress_weight=-1.0, run=Run(progress=False))
