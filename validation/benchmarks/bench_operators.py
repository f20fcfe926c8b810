"""Neural operators (:mod:`physics.operators`): TFNO training against neuraloperator 2.0.

``tfno darcy16 train`` (size = training resolution 16; peer: ``neuralop.models.TFNO``)
    The issue-8 benchmark, both sides with the same settings on the same data: Tucker
    TFNO, 16 x 16 modes, 32 hidden channels, rank 0.42, AdamW (lr 8e-3, weight decay
    1e-4), cosine schedule over the run, relative H1 loss, batch 32, trained on
    ``darcy_16`` (1000 samples at 16²) for 20 epochs (quick: 200 samples, 2 epochs),
    inputs and outputs standardised channel-wise from the training set. tnkit:
    :func:`physics.operators.train`; neuraloperator: its ``Trainer`` with a
    ``DefaultDataProcessor`` and ``UnitGaussianNormalizer`` s (no test evaluation
    inside either timed call). One timed call each from the same seed; the ratio is
    total training time. ``details`` holds each side's median time per epoch and their
    ratio (goal ≤ 0.5), and the test relative L2 error of both trained models on
    ``darcy_test_16`` and ``darcy_test_32`` (the same 50 functions at 16² and 32²,
    zero-shot super-resolution) measured by one function
    (:func:`physics.operators.relative_lp` on de-normalised predictions), and their
    ratios (goal ≤ 0.9 at both resolutions).

Needs ``pip install 'tnkit[bench]'`` (neuraloperator 2.0.0, pinned with its
dependencies in ``constraints.txt``); skipped otherwise.
Full run: ``python validation/benchmarks/run.py -k tfno --json results/bench_operators.json``.
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from typing import Any

import numpy as np
from _cases import Case, Contenders, Skip, unavailable

SETTINGS = {
    "n_modes": (16, 16),
    "hidden_channels": 32,
    "rank": 0.42,
    "lr": 8e-3,
    "weight_decay": 1e-4,
    "batch_size": 32,
}


def _tensors(name: str, limit: int | None = None) -> tuple[Any, Any]:
    import torch

    from physics.data import load_arrays

    d = load_arrays(name)
    a, u = d["a"][:limit], d["u"][:limit]
    return torch.from_numpy(np.ascontiguousarray(a))[:, None].float(), torch.from_numpy(np.ascontiguousarray(u))[
        :, None
    ].float()


def _prepare(quick: bool) -> Contenders:
    why = unavailable("torch")
    if why:
        raise Skip(why)
    if importlib.util.find_spec("neuralop") is None:
        raise Skip("neuraloperator not installed (pip install 'tnkit[bench]' -c constraints.txt)")
    import torch

    warnings.filterwarnings("ignore")
    from neuralop import H1Loss as NH1Loss
    from neuralop import Trainer
    from neuralop.data.datasets.tensor_dataset import TensorDataset
    from neuralop.data.transforms.data_processors import DefaultDataProcessor
    from neuralop.data.transforms.normalizers import UnitGaussianNormalizer
    from neuralop.models import TFNO as NTFNO

    from physics.operators import TFNO, relative_lp, train
    from tnkit.run import Run

    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])  # pay torch's one-off optimizer imports here
    epochs = 2 if quick else 20
    x, y = _tensors("darcy_16", 200 if quick else None)
    tests = {res: _tensors(f"darcy_test_{res}") for res in (16, 32)}
    s = SETTINGS
    found: dict[str, Any] = {}

    def ours() -> None:
        torch.manual_seed(0)
        model = TFNO(1, 1, s["n_modes"], hidden_channels=s["hidden_channels"], factorization="tucker", rank=s["rank"])
        result = train(
            model,
            (x, y),
            epochs=epochs,
            batch_size=s["batch_size"],
            lr=s["lr"],
            weight_decay=s["weight_decay"],
            scheduler="cosine",
            loss="h1",
            seed=0,
            run=Run(progress=False),
        )
        found["ours"] = (result.model, result.history["epoch_time"], model)

    def peer() -> None:
        torch.manual_seed(0)
        model = NTFNO(
            n_modes=s["n_modes"],
            in_channels=1,
            out_channels=1,
            hidden_channels=s["hidden_channels"],
            factorization="tucker",
            rank=s["rank"],
        )
        inn, outn = UnitGaussianNormalizer(dim=[0, 2, 3]), UnitGaussianNormalizer(dim=[0, 2, 3])
        inn.fit(x)
        outn.fit(y)
        processor = DefaultDataProcessor(in_normalizer=inn, out_normalizer=outn)
        loader = torch.utils.data.DataLoader(TensorDataset(x, y), batch_size=s["batch_size"], shuffle=True)
        opt = torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        trainer = Trainer(
            model=model,
            n_epochs=epochs,
            device="cpu",
            data_processor=processor,
            eval_interval=epochs + 1,
            verbose=False,
        )
        times: list[float] = []
        one_epoch = trainer.train_one_epoch

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = one_epoch(*args, **kwargs)
            times.append(time.perf_counter() - t0)
            return out

        trainer.train_one_epoch = timed
        trainer.train(
            train_loader=loader,
            test_loaders={},
            optimizer=opt,
            scheduler=sched,
            training_loss=NH1Loss(d=2),
            eval_losses={},
        )

        def predict(a: torch.Tensor) -> torch.Tensor:
            model.eval()
            with torch.no_grad():
                return outn.inverse_transform(model(inn.transform(a)))

        found["peer"] = (predict, times, model)

    def details() -> dict[str, Any]:
        wrapped, our_times, our_model = found["ours"]
        predict, peer_times, peer_model = found["peer"]
        out: dict[str, Any] = {
            "epochs": epochs,
            "n_train": int(x.shape[0]),
            "tnkit_epoch_s": float(np.median(our_times)),
            "peer_epoch_s": float(np.median(peer_times)),
        }
        out["epoch_ratio"] = out["tnkit_epoch_s"] / out["peer_epoch_s"]
        out["tnkit_params"] = sum(p.numel() for p in our_model.parameters())
        out["peer_params"] = sum(p.numel() * (2 if p.is_complex() else 1) for p in peer_model.parameters())
        wrapped.eval()
        for res, (a, u) in tests.items():
            with torch.no_grad():
                ours_l2 = float(relative_lp(wrapped(a), u))
            peer_l2 = float(relative_lp(predict(a), u))
            out[f"test{res}_l2_tnkit"], out[f"test{res}_l2_peer"] = ours_l2, peer_l2
            out[f"test{res}_l2_ratio"] = ours_l2 / peer_l2
        out["meets_goal"] = bool(
            out["epoch_ratio"] <= 0.5 and out["test16_l2_ratio"] <= 0.9 and out["test32_l2_ratio"] <= 0.9
        )
        return out

    return Contenders(tnkit=ours, peer=peer, details=details)


def cases(quick: bool) -> list[Case]:
    return [
        Case(
            name="tfno darcy16 train",
            backend="torch",
            size=16,
            peer="neuralop.models.TFNO 2.0",
            prepare=lambda: _prepare(quick),
            target_ratio=0.5,
            effort=(0, 0.0, 1, 1),
        )
    ]
