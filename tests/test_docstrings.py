"""The Examples sections of the public modules run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "name",
    ["tnkit", "tnkit.backend", "tnkit.linalg", "physics.spin_chains", "tnkit.mps", "tnkit.mpo", "tnkit.models",
     "tnkit.opsum", "tnkit.measure", "tnkit.fitting", "tnkit._tebd", "tnkit._tdvp", "tnkit._dmrg",
     "tnkit.tucker", "tnkit.cp", "tnkit.tt", "tnkit.tr", "tnkit._tt_cross", "tnkit.chebyshev",
     "tnkit.ttn", "tnkit._kron", "tnkit.bug", "tnkit.network", "tnkit.search", "physics.pde.radiative_transfer", "physics.pde.matrix_odes",
     "physics.pde.spectral_solvers", "physics.pde.grf", "physics.pde.cole_hopf",
     "physics.pde.elliptic", "tnkit.io._chunked", "physics.operators.spectral_conv", "physics.operators.fno",
     "physics.operators.losses", "physics.operators.train", "physics.operators.mgno", "physics.operators.lsm",
     "physics.operators.mg_tfno", "physics.equivariant", "physics.equivariant._cartesian", "physics.equivariant._irreps",
     "physics.equivariant._testing", "physics.potentials", "physics.potentials._neighbors",
     "physics.potentials._radial", "physics.potentials._model", "physics.potentials._tensornet",
     "physics.potentials._egnn", "physics.potentials._frames", "physics.potentials._fit", "physics.potentials._ase",
     "physics.data._xtb", "physics.data._molecules"],
)
def test_module_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0, f"{name} has no examples"
    assert failures == 0
