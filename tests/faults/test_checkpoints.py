"""Damaged, foreign and stale training checkpoints: a one-line error naming the file, never a
crash, a traceback of torch internals or a silently different run.

Real checkpoints come from a tiny :func:`physics.operators.train` run and a tiny
:func:`physics.potentials.fit` run, each interrupted after its first epoch
(``Run(checkpoint=..., checkpoint_every=1)``). Every fault is resumed from with
``Run(resume=True)``:

* truncations (0 bytes, 1 byte, 10 %, 50 %, 90 %, all but the last byte): ``DataError``;
* single-byte flips spread evenly over the file: a ``DataError``, or — where the flip hit
  bytes torch never reads (zip padding, data descriptors, unused directory fields) — a
  resume bit-identical to that from the undamaged file. Flips in tensor storage are
  always caught (the checkpoint's sha256);
* files that are not training checkpoints (a tensor, a list, a dict without settings, a
  folder): ``DataError``; another trainer's checkpoint: ``ValueError`` (other settings);
  the same settings with weights of another shape or an entry missing (digest valid):
  ``DataError`` from applying it; an old checkpoint without a digest: a warning, then the
  same resume as from the current one.

Every error is one line that names the file, and the damaged file is left as it was.
"""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import physics.potentials._fit as fit_module  # noqa: E402
from physics.operators import FNO, train  # noqa: E402
from physics.potentials import Frames, TensorNet, fit  # noqa: E402
from physics.training.checkpoints import save_atomic  # noqa: E402
from tnkit.io import DataError  # noqa: E402
from tnkit.run import Run  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TRAIN_FLIPS, FIT_FLIPS = 48, 16
TRUNCATIONS = {
    "0-bytes": lambda n: 0,
    "1-byte": lambda n: 1,
    "10%": lambda n: n // 10,
    "50%": lambda n: n // 2,
    "90%": lambda n: 9 * n // 10,
    "size-1": lambda n: n - 1,
}


# ------------------------------------------------------------------ the two trainers


class _Interrupted(Exception):
    """Raised inside the training loop to stop a run after its first checkpoint."""


def _train_data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 1, 8, 8, generator=gen)
    return x, torch.roll(x, 1, dims=-1)  # a shift: a linear operator to learn


def _fno() -> FNO:
    torch.manual_seed(0)
    return FNO(1, 1, (4, 4), hidden_channels=4, n_layers=1)


class _Loss:
    """Mean squared error that raises :class:`_Interrupted` after ``limit`` calls (one batch
    an epoch); a callable, so the run's settings record ``loss="custom"`` either way."""

    def __init__(self, limit: int | None = None) -> None:
        self.calls, self.limit = 0, limit

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.limit is not None and self.calls > self.limit:
            raise _Interrupted
        return ((pred - target) ** 2).mean()


def _run_train(path: Path, model: FNO | None = None, limit: int | None = None) -> Any:
    return train(
        _fno() if model is None else model,
        _train_data(),
        epochs=3,
        batch_size=8,
        lr=1e-2,
        loss=_Loss(limit),
        run=Run(progress=False, checkpoint=path, checkpoint_every=1, resume=True),
    )


def _h2_frames() -> Frames:
    """A harmonic H2 bond with exact forces (the :func:`physics.potentials.fit` example)."""
    rng = np.random.default_rng(0)
    pos = np.array([0.0, 0.0, 0.0, 0.74, 0.0, 0.0]).reshape(1, 2, 3) + 0.05 * rng.normal(size=(12, 2, 3))
    d = np.linalg.norm(pos[:, 1] - pos[:, 0], axis=1)
    u = (pos[:, 1] - pos[:, 0]) / d[:, None]
    f1 = -8.0 * (d - 0.74)[:, None] * u
    return Frames.from_arrays([1, 1], pos, 4.0 * (d - 0.74) ** 2, np.stack([-f1, f1], axis=1))


def _tensornet() -> TensorNet:
    torch.manual_seed(1)
    return TensorNet(4, 1, 4, elements=(1,))


def _run_fit(path: Path, model: TensorNet | None = None) -> Any:
    train_frames, val = _h2_frames().split([8, 4])
    return fit(
        _tensornet() if model is None else model,
        train_frames,
        val,
        epochs=3,
        batch_size=8,
        lr=3e-3,
        run=Run(progress=False, checkpoint=path, checkpoint_every=1, resume=True),
    )


def _fit_interrupted(path: Path) -> None:
    """A fit stopped in its second epoch's validation, after the first epoch's checkpoint."""
    real, calls = fit_module.evaluate, []

    def evaluate(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise _Interrupted
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fit_module, "evaluate", evaluate)
        with pytest.raises(_Interrupted):
            _run_fit(path)


def _train_interrupted(path: Path) -> None:
    with pytest.raises(_Interrupted):
        _run_train(path, limit=1)


@dataclasses.dataclass(frozen=True)
class _Trainer:
    """How to make a trainer's checkpoint, and to resume from one to the end."""

    name: str
    interrupted: Callable[[Path], None]
    resume: Callable[..., Any]


TRAINERS = {
    t.name: t for t in (_Trainer("train", _train_interrupted, _run_train), _Trainer("fit", _fit_interrupted, _run_fit))
}


def _outcome(result: Any) -> dict[str, Any]:
    """What must not change: weights and histories (wall-clock time aside), best epoch."""
    found: dict[str, Any] = {f"w/{k}": v.detach().clone() for k, v in result.model.state_dict().items()}
    found.update({f"h/{k}": list(v) for k, v in result.history.items() if k != "epoch_time"})
    found["best_epoch"] = getattr(result, "best_epoch", None)
    return found


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if sorted(a) != sorted(b):
        return False
    for key, value in a.items():
        other = b[key]
        if isinstance(value, torch.Tensor):
            if value.dtype != other.dtype or value.shape != other.shape or not torch.equal(value, other):
                return False
        elif np.asarray(value).tobytes() != np.asarray(other).tobytes():  # NaN == NaN, bit for bit
            return False
    return True


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The bytes of each trainer's checkpoint after its first epoch."""
    folder = tmp_path_factory.mktemp("checkpoints")
    found = {}
    for name, trainer in TRAINERS.items():
        path = folder / f"{name}.pt"
        trainer.interrupted(path)
        assert torch.load(path, weights_only=True)["epoch"] == 1
        found[name] = path.read_bytes()
    return found


@pytest.fixture(scope="module")
def resumed(checkpoints: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each trainer's outcome when resumed from its undamaged checkpoint."""
    folder = tmp_path_factory.mktemp("resumed")
    found = {}
    for name, trainer in TRAINERS.items():
        path = folder / f"{name}.pt"
        path.write_bytes(checkpoints[name])
        found[name] = _outcome(trainer.resume(path))
    return found


def _refused(trainer: _Trainer, path: Path, error: type[Exception] = DataError) -> Exception:
    """Resume ``trainer`` from ``path``: ``error`` in one line naming the file; the file kept."""
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(error) as info:
        trainer.resume(path)
    text = str(info.value)
    assert "\n" not in text, text
    assert str(path) in text, text
    if before is not None:
        assert path.read_bytes() == before
    return info.value


# ------------------------------------------------------------------ truncations


@pytest.mark.parametrize("cut", sorted(TRUNCATIONS), ids=str)
@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_truncated_checkpoint_is_a_data_error(name: str, cut: str, checkpoints, tmp_path: Path) -> None:
    whole = checkpoints[name]
    path = tmp_path / "ckpt.pt"
    path.write_bytes(whole[: TRUNCATIONS[cut](len(whole))])
    err = _refused(TRAINERS[name], path)
    assert "empty file" in str(err) if cut == "0-bytes" else "not a readable torch checkpoint" in str(err)


# ------------------------------------------------------------------ single-byte flips


def _regions(data: bytes) -> list[tuple[int, int, str]]:
    """``(start, end, what)`` for every zip entry's local header and contents."""
    found = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            head = info.header_offset
            name_len = int.from_bytes(data[head + 26 : head + 28], "little")
            extra_len = int.from_bytes(data[head + 28 : head + 30], "little")
            start = head + 30 + name_len + extra_len
            entry = info.filename.split("/", 1)[1]  # drop the archive's folder name
            found += [(head, start, f"header of {entry}"), (start, start + info.compress_size, entry)]
    return found


def _region(data: bytes, position: int) -> str:
    for start, end, what in _regions(data):
        if start <= position < end:
            return what
    return "descriptor or directory"


def _in_storage(region: str) -> bool:
    return re.fullmatch(r"data/\d+", region) is not None


class _Flips:
    """Outcome of every flip, computed once: ``"caught"`` (a one-line DataError naming the
    file) or ``"harmless"`` (the resume equals the undamaged one); anything else fails."""

    def __init__(self, checkpoints: dict[str, bytes], resumed: dict[str, dict[str, Any]], folder: Path) -> None:
        self.checkpoints, self.resumed, self.folder = checkpoints, resumed, folder
        self.done: dict[tuple[str, int], tuple[int, str, str]] = {}

    @staticmethod
    def count(name: str) -> int:
        return TRAIN_FLIPS if name == "train" else FIT_FLIPS

    def position(self, name: str, k: int) -> int:
        size = len(self.checkpoints[name])
        return int(round(k * (size - 1) / (self.count(name) - 1)))

    def __call__(self, name: str, k: int) -> tuple[int, str, str]:
        if (name, k) not in self.done:
            data = bytearray(self.checkpoints[name])
            position = self.position(name, k)
            data[position] ^= 0xFF
            path = self.folder / f"{name}-{k:02d}.pt"
            path.write_bytes(bytes(data))
            try:
                outcome = _outcome(TRAINERS[name].resume(path))
            except DataError as exc:
                assert "\n" not in str(exc) and str(path) in str(exc), str(exc)
                verdict = "caught"
            else:
                assert _same(outcome, self.resumed[name]), f"flip at byte {position}: a different run"
                verdict = "harmless"
            self.done[name, k] = (position, _region(self.checkpoints[name], position), verdict)
        return self.done[name, k]


@pytest.fixture(scope="module")
def flips(checkpoints, resumed, tmp_path_factory: pytest.TempPathFactory) -> _Flips:
    return _Flips(checkpoints, resumed, tmp_path_factory.mktemp("flips"))


FLIP_CASES = [("train", k) for k in range(TRAIN_FLIPS)] + [("fit", k) for k in range(FIT_FLIPS)]


@pytest.mark.parametrize(("name", "k"), FLIP_CASES, ids=[f"{n}-{k:02d}" for n, k in FLIP_CASES])
def test_flipped_byte_is_caught_or_harmless(name: str, k: int, flips: _Flips) -> None:
    position, region, verdict = flips(name, k)
    if _in_storage(region):
        assert verdict == "caught", f"a flip in tensor storage ({region}, byte {position}) went unnoticed"


def test_flips_cover_the_file_and_storage_flips_are_caught(flips: _Flips) -> None:
    """Over all flips: both outcomes occur, every storage flip is caught, and the flips hit
    the pickle, tensor storage and zip structure alike."""
    table = [flips(name, k) for name, k in FLIP_CASES]
    verdicts = [v for _, _, v in table]
    assert set(verdicts) == {"caught", "harmless"}
    storage = [v for _, region, v in table if _in_storage(region)]
    assert storage and set(storage) == {"caught"}
    regions = {region for _, region, _ in table}
    assert "data.pkl" in regions and any(r.startswith("header of") for r in regions)


# ------------------------------------------------------------------ not a checkpoint at all


def _foreign(kind: str, path: Path, checkpoint: bytes) -> None:
    if kind == "tensor":
        torch.save(torch.zeros(3), path)
    elif kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "dict-without-settings":
        state = torch.load(io.BytesIO(checkpoint), weights_only=True)
        del state["settings"]
        torch.save(state, path)
    elif kind == "settings-not-a-dict":
        state = torch.load(io.BytesIO(checkpoint), weights_only=True)
        state["settings"] = [("epochs", 3)]
        save_atomic(state, path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "text-file":
        path.write_text("epoch: 1\n")


FOREIGN = ["tensor", "list", "dict-without-settings", "settings-not-a-dict", "folder", "text-file"]


@pytest.mark.parametrize("kind", FOREIGN)
def test_a_file_that_is_no_checkpoint_is_a_data_error(kind: str, checkpoints, tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    _foreign(kind, path, checkpoints["train"])
    err = _refused(TRAINERS["train"], path)
    expected = {
        "tensor": "holds a Tensor",
        "list": "holds a list",
        "dict-without-settings": "dict without",
        "settings-not-a-dict": "settings are not a dict",
        "folder": "is a folder",
        "text-file": "not a readable torch checkpoint",
    }[kind]
    assert expected in str(err)


@pytest.mark.parametrize(("written", "resumed_by"), [("fit", "train"), ("train", "fit")])
def test_the_other_trainers_checkpoint_is_another_run(written: str, resumed_by: str, checkpoints, tmp_path) -> None:
    path = tmp_path / "ckpt.pt"
    path.write_bytes(checkpoints[written])
    err = _refused(TRAINERS[resumed_by], path, ValueError)
    assert not isinstance(err, DataError) and "belongs to another run" in str(err)


def _edited(checkpoint: bytes, edit: Callable[[dict[str, Any]], None], path: Path) -> None:
    """The checkpoint with ``edit`` applied, re-saved with a valid digest."""
    state = torch.load(io.BytesIO(checkpoint), weights_only=True)
    edit(state)
    save_atomic({k: v for k, v in state.items() if k != "tnkit_sha256"}, path)


def _reshape_first_weight(state: dict[str, Any]) -> None:
    key = next(k for k, v in state["model"].items() if v.ndim >= 2)
    state["model"][key] = torch.zeros(*(n + 1 for n in state["model"][key].shape))


@pytest.mark.parametrize(
    "edit",
    [_reshape_first_weight, lambda s: s.pop("optimizer"), lambda s: s["model"].popitem()],
    ids=["weights-of-another-shape", "no-optimizer-state", "a-weight-missing"],
)
@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_same_settings_other_contents_is_a_data_error(name: str, edit, checkpoints, tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    _edited(checkpoints[name], edit, path)
    err = _refused(TRAINERS[name], path)
    assert f"{name}: cannot resume from this checkpoint" in str(err)


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_an_old_checkpoint_without_digest_warns_and_resumes_the_same(name, checkpoints, resumed, tmp_path) -> None:
    state = torch.load(io.BytesIO(checkpoints[name]), weights_only=True)
    del state["tnkit_sha256"]
    path = tmp_path / "ckpt.pt"
    torch.save(state, path)
    with pytest.warns(UserWarning, match="no checksum"):
        outcome = _outcome(TRAINERS[name].resume(path))
    assert _same(outcome, resumed[name])


def test_the_undamaged_checkpoint_resumes_to_the_uninterrupted_run(resumed, tmp_path: Path) -> None:
    """The reference every harmless flip is compared with is itself right."""
    for name, trainer in TRAINERS.items():
        straight = _outcome(trainer.resume(tmp_path / f"{name}-straight.pt"))
        assert _same(straight, resumed[name]), name
