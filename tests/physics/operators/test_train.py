"""Losses and the training loop: exact values, resume = uninterrupted, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from physics.data import generate  # noqa: E402
from physics.operators import FNO, H1Loss, NormalizedOperator, evaluate, relative_h1, relative_lp, train  # noqa: E402
from tnkit.run import Run  # noqa: E402


def _node_field(n: int, fx: float = 1.0) -> torch.Tensor:
    g = torch.linspace(0, 1, n, dtype=torch.float64)
    x, y = torch.meshgrid(g, g, indexing="ij")
    return (torch.sin(math.pi * fx * x) * torch.sin(math.pi * y))[None, None]


def test_relative_lp_is_the_ratio_of_norms():
    u = torch.randn(3, 2, 5, 6, dtype=torch.float64)
    v = torch.randn(3, 2, 5, 6, dtype=torch.float64)
    want = [float(np.linalg.norm((u[i] - v[i]).numpy()) / np.linalg.norm(v[i].numpy())) for i in range(3)]
    np.testing.assert_allclose(relative_lp(u, v, reduction="none").numpy(), want, rtol=1e-12)
    assert float(relative_lp(u, v)) == pytest.approx(np.mean(want))


def test_relative_h1_converges_to_the_continuous_h1_ratio_at_second_order():
    """u = sin(pi x) sin(pi y), v = sin(2 pi x) sin(pi y) on [0, 1]^2: |u - v|_H1 / |v|_H1
    from the exact integrals (L2 norms 1/4 each, cross terms vanish)."""
    # |u|^2 = 1/4, |grad u|^2 = pi^2/4 * 2; |v|^2 = 1/4, |grad v|^2 = (4 + 1) pi^2 / 4; <u, v>_H1 = 0
    nu = 0.25 + 2 * math.pi**2 / 4
    nv = 0.25 + 5 * math.pi**2 / 4
    exact = math.sqrt(nu + nv) / math.sqrt(nv)
    errs = []
    for n in (33, 65, 129):
        got = float(relative_h1(_node_field(n), _node_field(n, 2.0)))
        errs.append(abs(got - exact))
    assert errs[-1] < 2e-3
    orders = [math.log2(errs[k] / errs[k + 1]) for k in range(2)]
    assert all(1.8 < p < 2.4 for p in orders), orders  # second-order differences and grid sums


def test_periodic_h1_uses_wrapping_differences():
    n = 64
    g = torch.arange(n, dtype=torch.float64) / n
    u = torch.sin(2 * math.pi * g)[None, None]
    v = torch.cos(2 * math.pi * g)[None, None]
    # exact: |u - v|^2 (1 + 4 pi^2) / (|v|^2 (1 + 4 pi^2)) = 2
    assert float(relative_h1(u, v, periodic=True)) == pytest.approx(math.sqrt(2), rel=1e-2)
    with pytest.raises(ValueError, match="shape"):
        relative_h1(u, v[..., :10])


def _problem(n_samples: int = 48, n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n_samples, 1, n, n, generator=gen)
    k = torch.fft.fftfreq(n)[:, None] ** 2 + torch.fft.rfftfreq(n)[None] ** 2
    y = torch.fft.irfft2(torch.fft.rfft2(x) / (1 + 40 * k), s=(n, n))  # a smoothing operator
    return x, y


def _model() -> FNO:
    torch.manual_seed(0)
    return FNO(1, 1, (8, 8), hidden_channels=8, n_layers=2, positional_grid="periodic")


def test_training_lowers_the_test_error_and_writes_a_plot(tmp_path):
    x, y = _problem()
    model = _model()
    before = evaluate(NormalizedOperator(model, x[:40], y[:40]), (x[40:], y[40:]))["l2"]
    result = train(
        model,
        (x[:40], y[:40]),
        test_data={"16": (x[40:], y[40:])},
        epochs=15,
        batch_size=8,
        lr=1e-2,
        loss="l2",
        periodic=True,
        run=Run(progress=False, plot=tmp_path / "loss.png"),
    )
    after = result.history["16_l2"][-1]
    assert after < 0.3 * before
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.final()["16_l2"] == after
    assert result.n_params == model.n_params


def test_resumed_training_reproduces_the_uninterrupted_run(tmp_path):
    x, y = _problem()
    common = dict(
        test_data={"t": (x[40:], y[40:])},
        batch_size=8,
        lr=5e-3,
        loss="h1",
        periodic=True,
        run=Run(progress=False),
        epochs=6,
        eval_every=2,
    )
    full = train(_model(), (x[:40], y[:40]), **common)
    ckpt = tmp_path / "run.pt"

    class Stop(Exception):
        pass

    first = _model()
    # interrupt after the third epoch's checkpoint: the loss raises on epoch 4's first batch (5 batches an epoch)
    calls = {"n": 0}

    def loss(pred, target):
        calls["n"] += 1
        if calls["n"] > 3 * 5:
            raise Stop
        return relative_h1(pred, target, periodic=True)

    with pytest.raises(Stop):
        train(first, (x[:40], y[:40]), **{**common, "loss": loss, "run": Run(progress=False, checkpoint=ckpt)})
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 3
    calls["n"] = -(10**9)  # the same callable again (settings record callables as "custom"), no interruption
    again = Run(progress=False, checkpoint=ckpt, resume=True)
    resumed = train(_model(), (x[:40], y[:40]), **{**common, "loss": loss, "run": again})
    np.testing.assert_allclose(resumed.history["train_loss"], full.history["train_loss"], rtol=1e-6)
    for a, b in zip(resumed.model.state_dict().values(), full.model.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    x, y = _problem(16)
    ckpt = tmp_path / "c.pt"
    train(_model(), (x, y), epochs=1, batch_size=8, loss="l2", run=Run(progress=False, checkpoint=ckpt))
    with pytest.raises(ValueError, match="another run"):
        train(
            _model(), (x, y), epochs=1, batch_size=4, loss="l2", run=Run(progress=False, checkpoint=ckpt, resume=True)
        )


def test_resume_without_a_checkpoint_file_starts_afresh(tmp_path):
    x, y = _problem(16)
    torch.manual_seed(0)
    plain = train(_model(), (x, y), epochs=2, batch_size=8, loss="l2", run=Run(progress=False))
    torch.manual_seed(0)
    ckpt = tmp_path / "new.pt"
    fresh = train(
        _model(), (x, y), epochs=2, batch_size=8, loss="l2", run=Run(progress=False, checkpoint=ckpt, resume=True)
    )
    assert fresh.history["train_loss"] == plain.history["train_loss"]
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2


def test_bad_data_and_settings_are_refused():
    x, y = _problem(8)
    bad = y.clone()
    bad[3, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        train(_model(), (x, bad), epochs=1, run=Run(progress=False))
    with pytest.raises(ValueError, match="4 outputs"):
        train(_model(), (x, y[:4]), epochs=1, run=Run(progress=False))
    with pytest.raises(ValueError, match="epochs"):
        train(_model(), (x, y), epochs=0, run=Run(progress=False))
    with pytest.raises(ValueError, match="loss"):
        train(_model(), (x, y), loss="l3", run=Run(progress=False))
    with pytest.raises(ValueError, match="channel mismatch"):
        train(_model(), (torch.randn(8, 2, 16, 16), y), epochs=1, run=Run(progress=False))


def test_global_normalisation_allows_other_resolutions_pointwise_does_not():
    x, y = _problem(16)
    model = NormalizedOperator(_model(), x, y, "global")
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 1, 32, 32)
    pointwise = NormalizedOperator(_model(), x, y, "pointwise")
    with pytest.raises(ValueError, match="pointwise"):
        pointwise(torch.randn(2, 1, 32, 32))


def test_dataset_files_train_directly(tmp_path):
    path = tmp_path / "poisson.h5"
    generate("poisson", path, samples=12, resolution=17, progress=False)
    torch.manual_seed(0)
    model = FNO(1, 1, (8, 8), hidden_channels=4, n_layers=1)
    result = train(model, path, test_data={"self": path}, epochs=2, batch_size=4, run=Run(progress=False))
    assert np.isfinite(result.history["self_l2"]).all()
    assert H1Loss()(torch.ones(1, 1, 5, 5), torch.ones(1, 1, 5, 5)) == 0


def test_ddp_with_torchrun_keeps_the_ranks_in_step(tmp_path):
    # two gloo ranks launched by torchrun train one TFNO (complex weights stored as real
    # pairs); DDP must leave both with bit-identical parameters that differ from the start
    from pathlib import Path

    from tests.physics.training._torchrun import ranks_in_step

    ranks = ranks_in_step(Path(__file__).with_name("ddp_worker.py"), tmp_path)
    torch.manual_seed(0)
    from physics.operators import TFNO

    start = TFNO(1, 1, (6, 6), hidden_channels=8, n_layers=2, factorization="tucker", rank=0.5).state_dict()
    assert any(not torch.equal(start[k], v) for k, v in ranks[0]["state"].items() if k in start)
    losses = ranks[0]["history"]["train_loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]
