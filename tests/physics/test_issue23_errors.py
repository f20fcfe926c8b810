"""Issue 23: misuses of the neural operators and the MD driver fail in one clear line."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from physics.operators import FNO, TFNO  # noqa: E402 - after the torch skip


def _one_line(info: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(info.value)
    assert "\n" not in message
    return message


def test_fno_float64_input_on_a_float32_model_is_one_line() -> None:
    model = FNO(1, 1, n_modes=(4, 4), hidden_channels=8)
    with pytest.raises(TypeError, match=r"FNO: the input has dtype torch.float64 but the model torch.float32") as info:
        model(torch.randn(2, 1, 8, 8, dtype=torch.float64))
    assert "x.to(torch.float32) or model.to(torch.float64)" in _one_line(info)


@pytest.mark.parametrize("factorization", ["tucker", "cp", "tt"])
def test_tfno_float_rank_above_one_is_refused(factorization: str) -> None:
    with pytest.raises(ValueError, match=r"TFNO: rank=5.0 is a float, .* must be in \(0, 1\]; .*rank=5\)") as info:
        TFNO(1, 1, n_modes=(4, 4), hidden_channels=8, rank=5.0, factorization=factorization)
    _one_line(info)
    with pytest.raises(ValueError, match=r"TFNO: rank must be a finite fraction"):
        TFNO(1, 1, n_modes=(4, 4), hidden_channels=8, rank=float("inf"))


def test_tfno_valid_ranks_still_build() -> None:
    assert TFNO(1, 1, n_modes=(4, 4), hidden_channels=8, rank=1.0).convs[0].ranks == (8, 8, 4, 3)
    assert TFNO(1, 1, n_modes=(4, 4), hidden_channels=8, rank=5).convs[0].ranks == (5, 5, 4, 3)
    # A dense FNO ignores rank, as before.
    FNO(1, 1, n_modes=(4, 4), hidden_channels=8, rank=5.0)


def test_run_md_given_frames_names_the_fix() -> None:
    pytest.importorskip("ase")
    import numpy as np
    from ase.build import molecule
    from ase.calculators.singlepoint import SinglePointCalculator

    from physics.potentials import Frames, TensorNet, run_md

    water = molecule("H2O")
    water.calc = SinglePointCalculator(water, energy=0.0, forces=np.zeros((3, 3)))
    frames = Frames.from_ase([water])
    model = TensorNet(8, 1, 4, elements=(1, 8), dtype=torch.float64)
    with pytest.raises(
        TypeError, match=r"run_md: atoms must be an ase.Atoms, got Frames; .*frames.to_ase\(\)\[0\]"
    ) as info:
        run_md(frames, model, time_ps=0.001, progress=False)
    _one_line(info)
    with pytest.raises(TypeError, match=r"run_md: atoms must be an ase.Atoms, got str$"):
        run_md("H2O", model, time_ps=0.001, progress=False)
    result = run_md(frames.to_ase()[0], model, time_ps=0.001, progress=False)  # the fix works
    assert len(result.times) == 2
