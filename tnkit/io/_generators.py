"""Dataset generators: the code that (re)makes each file named in the manifest.

A generator is ``fn(out: Path, **options) -> None`` that writes one dataset file at
``out`` (with :func:`tnkit.io.save` or :class:`tnkit.io.ChunkedWriter`, so atomically and
with provenance); ``options`` are generator parameters from the caller or the command
line (a generator without parameters takes none). It is registered under the manifest
name with :func:`register_generator` and run by :func:`generate_dataset` or
``tnkit data generate NAME``. Generators of other packages (plug-ins) register
themselves from their ``tnkit.datasets`` entry point (:func:`tnkit.io.load_plugins`),
which the lookup loads when a name is not registered yet: tnkit never names them.

The one generator shipped here, ``svd_reference``, makes a matrix with a
prescribed singular spectrum for Eckart–Young checks of truncated SVDs.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from tnkit.io._errors import DataError
from tnkit.io._hdf5 import PathLike, save
from tnkit.io._manifest import dataset_entry, register_manifest
from tnkit.io._plugins import load_plugins
from tnkit.io._types import register_schema

__all__ = [
    "register_generator",
    "generate_dataset",
    "generator_names",
    "generator_parameters",
    "svd_reference_spectrum",
]

Generator = Callable[..., None]

_GENERATORS: dict[str, Generator] = {}
_PARAMETERS: dict[str, dict[str, object]] = {}


def register_generator(name: str, parameters: dict[str, object] | None = None) -> Callable[[Generator], Generator]:
    """Decorator registering ``fn(out: Path) -> None`` as the generator of ``name``.

    Parameters
    ----------
    name : str
        Dataset name the generator makes.
    parameters : dict, optional
        The options it takes with their defaults (``--set KEY=VALUE`` on the command
        line), listed by ``tnkit data generate --help``; default none.

    Examples
    --------
    >>> @register_generator("doc_zeros")
    ... def doc_zeros(out):
    ...     save(out, np.zeros(3), generator={"function": "doc_zeros", "parameters": {}})
    """

    def decorate(fn: Generator) -> Generator:
        _GENERATORS[name] = fn
        _PARAMETERS[name] = dict(parameters or {})
        return fn

    return decorate


def generator_names() -> list[str]:
    """Names with a registered generator (plug-ins loaded first), sorted.

    Examples
    --------
    >>> "svd_reference" in generator_names()
    True
    """
    load_plugins()
    return sorted(_GENERATORS)


def generator_parameters(name: str) -> dict[str, object]:
    """The options generator ``name`` takes, with their defaults (empty when it takes none).

    Parameters
    ----------
    name : str
        Registered generator (dataset) name.

    Examples
    --------
    >>> generator_parameters("svd_reference")
    {}
    """
    _find_generator(name)
    return dict(_PARAMETERS.get(name, {}))


def _find_generator(name: str) -> Generator:
    plugins = load_plugins() if name not in _GENERATORS else {}
    if name not in _GENERATORS:
        known = ", ".join(sorted(_GENERATORS)) or "none"
        broken = "".join(f"; plug-in {p!r} failed to load ({error})" for p, error in plugins.items() if error)
        raise DataError(f"no generator registered for dataset {name!r}; known: {known}{broken}")
    return _GENERATORS[name]


def generate_dataset(name: str, out: PathLike | None = None, **options: object) -> Path:
    """Run the generator of dataset ``name``.

    Parameters
    ----------
    name
        Generator (and manifest) name, e.g. ``"svd_reference"``.
    out
        Where to write. Default: the dataset's manifest location (replaced
        atomically).
    **options
        Generator parameters (e.g. ``samples=64`` for the operator datasets).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    DataError
        If no generator is registered for ``name``, or ``out`` is omitted and
        ``name`` is not in the manifest.
    """
    generator = _find_generator(name)
    target = Path(out) if out is not None else dataset_entry(name).file
    target.parent.mkdir(parents=True, exist_ok=True)
    takes_options = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(generator).parameters.values())
    if not takes_options:
        options.pop("progress", None)  # display and consent settings, not data parameters
        options.pop("max_hours", None)
        if options:
            raise ValueError(f"dataset {name!r} takes no generator options, got {sorted(options)}")
    generator(target, **options)
    return target


# --------------------------------------------------------------------------------------
# svd_reference
#
# Reproducibility: with the same NumPy, LAPACK/BLAS, h5py and HDF5 builds the file is
# identical byte for byte (fixed seed, fixed `created`, datasets without timestamps).
# Across machines it need not be: Householder QR and the matrix product run through
# BLAS/LAPACK kernels that may round differently in the last bit, and the `software`
# attribute records the versions used. The manifest's sha256 therefore pins the file
# that was shipped (that is what `tnkit data verify` checks), while `sigma` -- built by
# IEEE multiplications alone -- is the same everywhere, and `tnkit data generate`
# compares a regenerated file with the shipped one by content when the bytes differ.

SVD_REFERENCE_SCHEMA = "svd_reference"
SVD_REFERENCE_SHAPE = (200, 120)
SVD_REFERENCE_SEED = 20261122
SVD_REFERENCE_CREATED = "2026-11-22T00:00:00Z"

register_schema(SVD_REFERENCE_SCHEMA, 1)
# tnkit's own datasets; plug-ins register theirs from their entry point.
register_manifest(resources.files("tnkit.io") / "manifest.toml")


def svd_reference_spectrum(n: int = SVD_REFERENCE_SHAPE[1]) -> np.ndarray:
    """The prescribed singular values of the ``svd_reference`` matrix.

    ``sigma_i = 10 * 0.9**i`` for ``i < 60``, then a tail ``1e-3 * 0.95**(i - 60)``:
    a factor-20 drop at ``i = 60`` followed by a slow decay. Powers are formed by
    repeated multiplication, so the values are identical on every IEEE-754 machine.

    Parameters
    ----------
    n
        Number of singular values.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, float64, strictly decreasing.
    """
    sigma = np.empty(n, dtype=np.float64)
    head, tail = 10.0, 1e-3
    for i in range(n):
        if i < 60:
            sigma[i] = head
            head *= 0.9
        else:
            sigma[i] = tail
            tail *= 0.95
    return sigma


def exact_orthonormal_columns(g: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning ``g``'s, by Gram-Schmidt applied twice per column
    with exactly rounded sums (:func:`math.fsum`) and only IEEE-754 basic operations: the
    same bits on every machine, whatever its BLAS (LAPACK's QR rounds differently from one
    CPU's kernels to another's). For the reference data's small matrices only.

    Examples
    --------
    >>> q = exact_orthonormal_columns(np.random.default_rng(0).standard_normal((5, 3)))
    >>> bool(np.allclose(q.T @ q, np.eye(3), atol=1e-15))
    True
    """
    cols = [[float(x) for x in g[:, j]] for j in range(g.shape[1])]
    out: list[list[float]] = []
    for col in cols:
        w = col
        for _ in range(2):  # twice is enough (Kahan-Parlett)
            for q in out:
                r = math.fsum(a * b for a, b in zip(q, w))
                w = [a - r * b for a, b in zip(w, q)]
        norm = math.sqrt(math.fsum(a * a for a in w))
        out.append([a / norm for a in w])
    return np.array(out).T


@register_generator(SVD_REFERENCE_SCHEMA)
def svd_reference(out: Path) -> None:
    """Write ``a = U @ diag(sigma) @ V.T`` (200 x 120) and ``sigma`` to ``out``.

    ``U`` (200 x 120) and ``V`` (120 x 120) are orthonormalised seeded Gaussian
    matrices (``numpy.random.default_rng(20261122)``, :func:`exact_orthonormal_columns`;
    every sum exactly rounded, so the file is byte-identical on every machine), so
    ``sigma`` are the
    singular values of ``a`` up to rounding (about ``1e-15 * sigma[0]``, by Weyl's
    inequality) -- prescribed, not computed by an SVD.
    """
    m, n = SVD_REFERENCE_SHAPE
    rng = np.random.default_rng(SVD_REFERENCE_SEED)
    u = exact_orthonormal_columns(rng.standard_normal((m, n)))
    v = exact_orthonormal_columns(rng.standard_normal((n, n)))
    sigma = svd_reference_spectrum(n)
    # every entry an exactly rounded sum (math.fsum): no BLAS, so the same bits everywhere
    a = np.array([[math.fsum(u[i, j] * sigma[j] * v[k, j] for j in range(n)) for k in range(n)] for i in range(m)])
    save(
        out,
        {"a": a, "sigma": sigma},
        schema=SVD_REFERENCE_SCHEMA,
        generator={
            "function": f"{__name__}.svd_reference",
            "parameters": {
                "shape": list(SVD_REFERENCE_SHAPE),
                "seed": SVD_REFERENCE_SEED,
                "u": "gram_schmidt_fsum(standard_normal((200, 120)))",
                "v": "gram_schmidt_fsum(standard_normal((120, 120)))",
                "sigma": "10 * 0.9**i (i < 60); 1e-3 * 0.95**(i - 60) (i >= 60)",
            },
        },
        created=SVD_REFERENCE_CREATED,
    )
