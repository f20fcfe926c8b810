"""The quick versions of the neural-operator validation cases pass and their plots draw
(tiny models trained for seconds against tnkit-generated Darcy / Navier-Stokes data)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch")

from tnkit.validation import discover  # noqa: E402

CASES = [
    "operators_darcy",
    "operators_navier_stokes",
    "operators_tfno_compression",
    "operators_discretisation_invariance",
]


@pytest.mark.parametrize("name", CASES)
def test_quick_operator_case_passes(name: str) -> None:
    (case,) = discover(names=[name])
    outcome = case.run(True)
    assert math.isfinite(outcome.value)
    assert outcome.value <= case.tolerance, (name, outcome.value)
    from matplotlib.figure import Figure

    fig = Figure()
    outcome.plot(fig)
    assert fig.axes
