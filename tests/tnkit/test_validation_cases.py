"""The quick versions of the DMRG validation cases pass, and their plots draw.

Each case compares tnkit.dmrg with a reference it did not compute (exact
diagonalisation, free fermions, conformal field theory), so these are end-to-end
tests of MPO construction, the two-site sweep and the measurements.
"""

from __future__ import annotations

import math

import pytest

from tnkit.validation import discover

DMRG_CASES = [
    "dmrg_ed",
    "dmrg_tfim_free_fermions",
    "dmrg_heisenberg_l100",
    "dmrg_spin1_l100",
    "tfim_calabrese_cardy",
]


@pytest.mark.parametrize("name", DMRG_CASES)
def test_quick_case_passes(name: str) -> None:
    (case,) = discover(names=[name])
    outcome = case.run(True)
    assert math.isfinite(outcome.value)
    assert outcome.value <= case.tolerance, (name, outcome.value, outcome.details)
    if outcome.plot is not None:
        from matplotlib.figure import Figure

        fig = Figure()
        outcome.plot(fig)
        assert fig.axes


def test_spin1_quick_case_is_sensitive_to_the_sector() -> None:
    """The quick S=1 case is only meaningful if leaving S^z = 0 would fail it: in the
    field h = 0.5 the unrestricted ground state lies lower than the sector's."""
    (case,) = discover(names=["dmrg_spin1_l100"])
    runs = case.run(True).details["runs"]
    field = next(r for r in runs if r["h"] > 0)
    assert field["E_unrestricted_ED"] < field["reference"] - 0.1
    assert abs(field["total_sz"]) < 1e-8
