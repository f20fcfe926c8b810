"""Real spherical harmonics of any degree, in e3nn's conventions, on any array library.

The basis is e3nn's: the polar axis is ``y``, the components of degree ``l`` are ordered
``m = -l, ..., l``, and a unit vector ``(x, y, z)`` has ``Y_1 = sqrt(3) (x, y, z)`` under
"component" normalisation. In the usual frame with polar axis ``z`` these are the real
harmonics without the Condon–Shortley phase, evaluated at ``(z, x, y)``::

    Y_l^0  = N_l0 Q_l^0(cos t)
    Y_l^m  = sqrt(2) N_lm Q_l^m(cos t) Re (x' + i y')^m      m > 0
    Y_l^-m = sqrt(2) N_lm Q_l^m(cos t) Im (x' + i y')^m

with ``Q_l^m = P_l^m / sin^m t`` by the three-term recurrence in ``l`` and ``(x' + i y')^m``
by complex multiplication, so no angle is formed: the harmonics are polynomials in the unit
vector's components, smooth everywhere on the sphere (no pole singularity), differentiable
under torch autograd, and of any degree (e3nn's tables stop at ``l = 11``).

Normalisations (e3nn's names): ``"component"`` — ``sum_m Y_lm(r)^2 = 2l + 1`` for unit
``r``; ``"norm"`` — ``sum_m Y_lm(r)^2 = 1``; ``"integral"`` — orthonormal on the unit sphere,
``∫ Y_lm Y_l'm' dΩ = δ δ``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tnkit.backend import asarray_like, device_of, namespace
from tnkit.checks import is_int
from tnkit.types import Array

__all__ = ["spherical_harmonics", "NORMALIZATIONS"]

NORMALIZATIONS = ("component", "norm", "integral")
# up to this degree the harmonics are one product of the coordinates' monomials with a table
MONOMIAL_LMAX = 4
# _by_monomials' tables per (degrees, normalization, library, dtype, device)
_DEVICE_TABLES: dict[tuple[Any, ...], tuple[list[Array], Array]] = {}


def _degrees(l: int | Sequence[int]) -> list[int]:  # noqa: E741 - the field's name for the degree
    ls: list[Any] = list(l) if isinstance(l, Sequence) else [l]
    if not ls or not all(is_int(d) and int(d) >= 0 for d in ls):
        raise ValueError(f"spherical_harmonics: degrees must be integers >= 0, got {l!r}")
    return [int(d) for d in ls]


def spherical_harmonics(
    l: int | Sequence[int],  # noqa: E741 - the field's name for the degree
    vectors: Array,
    *,
    normalize: bool = True,
    normalization: str = "component",
) -> Array:
    """Real spherical harmonics of the given degrees at ``vectors`` (e3nn's basis and order).

    Parameters
    ----------
    l : int or sequence of int
        The degree, or several degrees whose harmonics are concatenated in the order given
        (``[0, 1, 2]`` gives ``1 + 3 + 5`` components). Any degree ``>= 0``.
    vectors : array, shape ``(..., 3)``
        Points in space, ``(x, y, z)`` with ``y`` the polar axis (e3nn's convention); any
        array library, real floating dtype.
    normalize : bool
        Evaluate at ``vectors / |vectors|`` (the default, as e3nn). False evaluates the
        harmonic polynomials ``|r|^l Y_lm(r / |r|)`` themselves, defined and smooth at
        ``r = 0`` too (the normalised harmonics have no gradient at the origin).
    normalization : {"component", "norm", "integral"}
        ``sum_m Y_lm^2 = 2l + 1``, ``= 1``, or orthonormal on the unit sphere.

    Returns
    -------
    array, shape ``(..., sum(2 l + 1))``
        Same library, dtype and device as ``vectors``; differentiable under torch autograd.

    Raises
    ------
    ValueError
        A negative or non-integer degree, an unknown normalization, or ``vectors`` whose
        last axis is not 3.

    Examples
    --------
    >>> import numpy as np
    >>> from physics.equivariant import spherical_harmonics
    >>> spherical_harmonics(1, np.array([0.0, 2.0, 0.0]))   # e3nn: Y_1 = sqrt(3) (x, y, z)
    array([0.        , 1.73205081, 0.        ])
    >>> y = spherical_harmonics([0, 1, 2, 15], np.random.default_rng(0).standard_normal((4, 3)))
    >>> y.shape, bool(np.allclose((y[:, 9:] ** 2).sum(axis=1), 31.0))   # 2l + 1 for l = 15
    ((4, 40), True)
    """
    degrees = _degrees(l)
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"spherical_harmonics: unknown normalization {normalization!r}; choose one of {', '.join(NORMALIZATIONS)}"
        )
    xp = namespace(vectors)
    if vectors.ndim == 0 or vectors.shape[-1] != 3:
        raise ValueError(f"spherical_harmonics: vectors must have shape (..., 3), got {tuple(vectors.shape)}")
    if normalize:
        vectors = vectors / xp.linalg.vector_norm(vectors, axis=-1, keepdims=True)
    if max(degrees) <= MONOMIAL_LMAX:
        return _by_monomials(xp, vectors, tuple(degrees), normalization)
    return _by_recurrence(xp, vectors, degrees, normalize, normalization)


def _by_recurrence(xp: Any, vectors: Array, degrees: list[int], normalize: bool, normalization: str) -> Array:
    """The harmonics by the recurrences of the module docstring (any degree)."""
    # e3nn's frame (polar y) as the textbook frame (polar z): x' = z, y' = x, z' = y.
    xs, ys, zs = vectors[..., 2], vectors[..., 0], vectors[..., 1]
    lmax = max(degrees)
    # Re / Im of (x' + i y')^m, and r^2 for the unnormalised polynomials.
    re, im = [xp.ones_like(xs)], [xp.zeros_like(xs)]
    for _ in range(lmax):
        re.append(re[-1] * xs - im[-1] * ys)
        im.append(im[-1] * xs + re[-2] * ys)
    r2 = None if normalize else xs * xs + ys * ys + zs * zs
    # q[(l, m)] = Q_l^m(cos t) r^(l - m): Legendre recurrence in l at fixed m.
    q: dict[tuple[int, int], Array] = {}
    for m in range(lmax + 1):
        q[(m, m)] = math.prod(range(2 * m - 1, 0, -2)) * xp.ones_like(zs)
        if m + 1 <= lmax:
            q[(m + 1, m)] = (2 * m + 1) * zs * q[(m, m)]
        for d in range(m + 2, lmax + 1):
            older = q[(d - 2, m)] if r2 is None else q[(d - 2, m)] * r2
            q[(d, m)] = ((2 * d - 1) * zs * q[(d - 1, m)] - (d + m - 1) * older) / (d - m)
    blocks = []
    for d in degrees:
        scale = {"component": 1.0, "norm": 1.0 / math.sqrt(2 * d + 1), "integral": 1.0 / math.sqrt(4 * math.pi)}[
            normalization
        ]
        row = []
        for m in range(-d, d + 1):
            a = abs(m)
            n = scale * math.sqrt((2 * d + 1) * math.factorial(d - a) / math.factorial(d + a))
            if m == 0:
                row.append(n * q[(d, 0)])
            else:
                row.append(math.sqrt(2.0) * n * q[(d, a)] * (re[a] if m > 0 else im[a]))
        blocks.append(xp.stack(row, axis=-1))
    return blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=-1)


def _monomial_powers(lmax: int) -> list[list[tuple[int, ...]]]:
    """Per degree ``k <= lmax``, the monomials ``x_i1 ... x_ik`` (``i1 <= ... <= ik``) as index tuples."""
    powers: list[list[tuple[int, ...]]] = [[()]]
    for _ in range(lmax):
        powers.append([t + (j,) for t in powers[-1] for j in range(3) if not t or j >= t[-1]])
    return powers


@functools.lru_cache(maxsize=64)
def _monomial_tables(degrees: tuple[int, ...], normalization: str) -> tuple[list[np.ndarray], np.ndarray]:
    """For :func:`_by_monomials`: per degree ``k >= 2`` the columns of the outer product
    (degree ``k - 1`` monomials x coordinates) that are the degree ``k`` monomials, and the
    coefficients ``(monomials, components)`` of the harmonic polynomials.

    The coefficients are fitted (least squares, float64) to the recurrence's harmonic
    polynomials ``|r|^l Y_lm`` at random points: they are homogeneous of degree ``l``, so the
    fit is exact to rounding."""
    lmax = max(degrees)
    powers = _monomial_powers(lmax)
    select = [np.array([powers[k - 1].index(t[:-1]) * 3 + t[-1] for t in powers[k]]) for k in range(2, lmax + 1)]
    points = np.random.default_rng(0).standard_normal((64 * (lmax + 1) ** 2, 3))
    columns = [np.prod(points[:, list(t)], axis=1) for level in powers for t in level]
    monomials = np.stack(columns, axis=1)
    target = _by_recurrence(np, points, list(degrees), False, normalization)
    coefficients, *_ = np.linalg.lstsq(monomials, target, rcond=None)
    # exact zeros where a harmonic has no such monomial (other degrees, wrong parity)
    coefficients[np.abs(coefficients) < 1e-12 * np.abs(coefficients).max()] = 0.0
    return select, coefficients


def _by_monomials(xp: Any, vectors: Array, degrees: tuple[int, ...], normalization: str) -> Array:
    """Degrees up to :data:`MONOMIAL_LMAX`: all monomials of the coordinates up to the top
    degree (one outer product and one column selection per degree), then one matrix product
    with the harmonics' coefficients. A few operations instead of the recurrences' dozens:
    the cost of the small per-edge harmonics of a graph network is their count, not their size."""
    select, coefficients = _monomial_tables(degrees, normalization)
    # the tables in the vectors' library, dtype and device, made once (no host copy per call)
    key = (degrees, normalization, xp.__name__, str(vectors.dtype), str(device_of(vectors)))
    if key not in _DEVICE_TABLES:
        _DEVICE_TABLES[key] = (
            [asarray_like(c, vectors, dtype=xp.int64) for c in select],
            asarray_like(coefficients, vectors),
        )
    columns_on_device, coefficients_on_device = _DEVICE_TABLES[key]
    levels = [xp.ones_like(vectors[..., :1]), vectors][: max(degrees) + 1]
    shape = tuple(vectors.shape[:-1])
    for columns in columns_on_device:
        outer = xp.reshape(levels[-1][..., :, None] * vectors[..., None, :], (*shape, -1))
        levels.append(xp.take(outer, columns, axis=-1))
    return xp.concat(levels, axis=-1) @ coefficients_on_device
