"""The shared trainer package: epoch shares, checkpoints, EMA and the session's plumbing."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from physics.training import (  # noqa: E402
    EMA,
    TrainingSession,
    epoch_order,
    load_checkpoint,
    make_optimizer,
    rank_share,
    save_atomic,
)
from tnkit.run import Run  # noqa: E402


def test_epoch_order_depends_only_on_seed_and_epoch_and_ranks_split_it():
    order = epoch_order(10, seed=3, epoch=2)
    assert sorted(order.tolist()) == list(range(10))
    assert torch.equal(order, epoch_order(10, seed=3, epoch=2))
    assert not torch.equal(order, epoch_order(10, seed=3, epoch=3))
    shares = [rank_share(order, r, 3) for r in range(3)]
    assert [s.numel() for s in shares] == [3, 3, 3]  # equal shares, the remainder dropped
    assert torch.equal(torch.cat(shares), order[:9])
    assert rank_share(order, 0, 1) is order


def test_checkpoints_are_atomic_and_belong_to_one_run(tmp_path):
    path = tmp_path / "c.pt"
    save_atomic({"settings": {"lr": 0.1, "epochs": 3}, "epoch": 2}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary or lock file left
    assert load_checkpoint(path, {"lr": 0.1, "epochs": 3}, "cpu", "demo")["epoch"] == 2
    with pytest.raises(ValueError, match=r"demo: checkpoint .* another run .*'epochs': \(3, 4\)"):
        load_checkpoint(path, {"lr": 0.1, "epochs": 4}, "cpu", "demo")


def test_ema_warm_up_then_the_decay():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = EMA(model, decay=0.5)
    for value, want in ((1.0, 0.9), (2.0, 0.9 + (2.0 - 0.9) * (1 - 2 / 11)), (4.0, None)):
        with torch.no_grad():
            model.weight.fill_(value)
        before = float(ema.model.weight)
        ema.update(model)
        decay = min(0.5, (1.0 + ema.updates - 1) / (10.0 + ema.updates - 1))
        assert float(ema.model.weight) == pytest.approx(before + (value - before) * (1 - decay))
        if want is not None:
            assert float(ema.model.weight) == pytest.approx(want)
    assert not any(p.requires_grad for p in ema.model.parameters())


def test_make_optimizer_keeps_every_parameter():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    opt = make_optimizer(torch.optim.Adam, model.parameters(), lr=1e-2, weight_decay=0.0)
    assert sum(len(g["params"]) for g in opt.param_groups) == 4


def test_session_resumes_the_random_state_and_writes_only_when_due(tmp_path):
    path = tmp_path / "s.pt"
    session = TrainingSession(Run(progress=False, checkpoint=path, checkpoint_every=2, resume=True), "demo", 3, 7)
    assert session.restore({"a": 1}, "cpu") is None  # fresh: torch seeded with 7
    after_seed = torch.rand(1)
    torch.manual_seed(7)
    assert torch.equal(after_seed, torch.rand(1))
    due = [e for e in (1, 2, 3) if session.checkpoint_due(e, last=e == 3)]
    assert due == [2, 3]
    torch.manual_seed(11)
    session.save(2, {"x": torch.ones(1)})
    expected = torch.rand(1)  # what follows the saved random state
    state = TrainingSession(Run(progress=False, checkpoint=path, resume=True), "demo", 3, 7).restore({"a": 1}, "cpu")
    assert state["epoch"] == 2 and torch.equal(state["x"], torch.ones(1))
    assert torch.equal(torch.rand(1), expected)
    with pytest.raises(ValueError, match="another run"):
        TrainingSession(Run(checkpoint=path, resume=True), "demo", 3, 7).restore({"a": 2}, "cpu")


def test_session_plots_only_when_asked(tmp_path):
    class Result:
        drawn: list = []

        def plot(self, path):
            self.drawn.append(path)
            return path

    TrainingSession(Run(progress=False), "demo", 1, 0).finish(Result())
    assert Result.drawn == []
    TrainingSession(Run(progress=False, plot=tmp_path / "p.png"), "demo", 1, 0).finish(Result())
    assert Result.drawn == [tmp_path / "p.png"]
