"""Irreducible representations over e3nn: rank-2 tensors as ``0e + 1e + 2e``, rotations.

A Cartesian rank-2 tensor ``X`` (9 numbers, transforming as ``R X R^T``) carries the
irreps ``1x0e + 1x1e + 1x2e`` of O(3): its trace (``0e``), its antisymmetric part (a
pseudovector, ``1e``: even under inversion because ``(-Id) X (-Id)^T = X``) and its
symmetric traceless part (``2e``). :func:`rank2_to_irreps` gives the 9 coefficients in
an orthonormal basis, in the order and sign conventions of e3nn's real spherical
harmonics, so that::

    rank2_to_irreps(R @ X @ R.T) == wigner_D("0e + 1e + 2e", R) @ rank2_to_irreps(X)

for every orthogonal ``R`` (e3nn's ``CartesianTensor("ij")`` uses the same basis). The
basis is written out in closed form, so conversions are exact to rounding in any dtype
and work on NumPy as well as torch arrays.

The basis (``E_ab`` is the matrix unit, ``c_k = <Q_k, X>`` the Frobenius product)::

    k   irrep   Q_k
    0   0e      (E_xx + E_yy + E_zz) / sqrt(3)
    1   1e      (E_yz - E_zy) / sqrt(2)
    2   1e      (E_zx - E_xz) / sqrt(2)
    3   1e      (E_xy - E_yx) / sqrt(2)
    4   2e      (E_xz + E_zx) / sqrt(2)
    5   2e      (E_xy + E_yx) / sqrt(2)
    6   2e      (2 E_yy - E_xx - E_zz) / sqrt(6)
    7   2e      (E_yz + E_zy) / sqrt(2)
    8   2e      (E_zz - E_xx) / sqrt(2)

so the ``1e`` block of ``skew(v)`` is ``-sqrt(2) v``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from physics.equivariant._products import Irreps
from physics.equivariant._so3 import wigner_D_from_matrix
from tnkit.backend import namespace
from tnkit.types import Array, Device

__all__ = [
    "RANK2_IRREPS",
    "irreps_to_rank2",
    "random_orthogonal",
    "random_rotation",
    "rank2_change_of_basis",
    "rank2_to_irreps",
    "rank2_wigner_D",
    "wigner_D",
]

RANK2_IRREPS = "1x0e+1x1e+1x2e"
"""The irreps of a Cartesian rank-2 tensor, in the order :func:`rank2_to_irreps` uses."""

_R2 = math.sqrt(2.0)
_R3 = math.sqrt(3.0)
_R6 = math.sqrt(6.0)


def rank2_to_irreps(X: Array) -> Array:
    """Coefficients of rank-2 tensors in the orthonormal ``0e + 1e + 2e`` basis.

    Parameters
    ----------
    X : array, shape (..., 3, 3)
        NumPy or torch (any array library); differentiable under autograd.

    Returns
    -------
    array, shape (..., 9)
        ``[c_0e, c_1e (3), c_2e (5)]``; the Euclidean norm equals the Frobenius norm of ``X``.

    Raises
    ------
    ValueError
        If the last two axes are not ``(3, 3)``.

    Examples
    --------
    >>> import torch
    >>> X = torch.diag(torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64))
    >>> rank2_to_irreps(X)[0] ** 2
    tensor(3.0000, dtype=torch.float64)
    >>> A = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])  # antisymmetric, in the x-y plane
    >>> X = torch.zeros(3, 3); X[:2, :2] = A
    >>> (rank2_to_irreps(X) * 2 ** 0.5).round()
    tensor([0., 0., 0., 2., 0., 0., 0., 0., 0.])
    """
    if tuple(X.shape[-2:]) != (3, 3):
        raise ValueError(f"rank2_to_irreps: expected a tensor of shape (..., 3, 3), got {tuple(X.shape)}")
    xp = namespace(X)
    xx, xy, xz = X[..., 0, 0], X[..., 0, 1], X[..., 0, 2]
    yx, yy, yz = X[..., 1, 0], X[..., 1, 1], X[..., 1, 2]
    zx, zy, zz = X[..., 2, 0], X[..., 2, 1], X[..., 2, 2]
    coefficients = [
        (xx + yy + zz) / _R3,
        (yz - zy) / _R2,
        (zx - xz) / _R2,
        (xy - yx) / _R2,
        (xz + zx) / _R2,
        (xy + yx) / _R2,
        (2 * yy - xx - zz) / _R6,
        (yz + zy) / _R2,
        (zz - xx) / _R2,
    ]
    return xp.stack(coefficients, axis=-1)


def irreps_to_rank2(c: Array) -> Array:
    """Rank-2 tensors from their ``0e + 1e + 2e`` coefficients (inverse of :func:`rank2_to_irreps`).

    Parameters
    ----------
    c : array, shape (..., 9)

    Returns
    -------
    array, shape (..., 3, 3)

    Raises
    ------
    ValueError
        If the last axis is not of length 9.

    Examples
    --------
    >>> import torch
    >>> X = torch.arange(9.0, dtype=torch.float64).reshape(3, 3)
    >>> bool(torch.allclose(irreps_to_rank2(rank2_to_irreps(X)), X, rtol=0, atol=1e-14))
    True
    """
    if len(c.shape) < 1 or c.shape[-1] != 9:
        raise ValueError(f"irreps_to_rank2: expected coefficients of shape (..., 9), got {tuple(c.shape)}")
    xp = namespace(c)
    iso = c[..., 0] / _R3
    ax, ay, az = c[..., 1] / _R2, c[..., 2] / _R2, c[..., 3] / _R2
    s_xz, s_xy, s_yz = c[..., 4] / _R2, c[..., 5] / _R2, c[..., 7] / _R2
    s_y, s_zx = c[..., 6] / _R6, c[..., 8] / _R2
    rows = [
        [iso - s_y - s_zx, s_xy + az, s_xz - ay],
        [s_xy - az, iso + 2 * s_y, s_yz + ax],
        [s_xz + ay, s_yz - ax, iso - s_y + s_zx],
    ]
    return xp.stack([xp.stack(row, axis=-1) for row in rows], axis=-2)


def rank2_change_of_basis(*, dtype: torch.dtype = torch.float64, device: Device | None = None) -> torch.Tensor:
    """The basis matrices ``Q_k`` of :func:`rank2_to_irreps`, shape ``(9, 3, 3)``.

    ``rank2_to_irreps(X)[k] == sum_ij Q[k, i, j] X[i, j]``; the rows of ``Q.reshape(9, 9)``
    are orthonormal. Up to e3nn's float32 rounding this is
    ``e3nn.io.CartesianTensor("ij").reduced_tensor_products().change_of_basis``.

    Parameters
    ----------
    dtype : torch.dtype, optional
        Dtype of the result; default float64.
    device : torch.device or str, optional
        Device of the result; default torch's default device.

    Examples
    --------
    >>> Q = rank2_change_of_basis().reshape(9, 9)
    >>> bool(torch.allclose(Q @ Q.T, torch.eye(9, dtype=torch.float64), rtol=0, atol=1e-15))
    True
    """
    return irreps_to_rank2(torch.eye(9, dtype=dtype, device=device))


def rank2_wigner_D(R: torch.Tensor) -> torch.Tensor:
    """The matrix of ``X -> R X R^T`` on the ``0e + 1e + 2e`` coefficients, exact to rounding.

    Block diagonal ``1 (+) D^1 (+) D^2``; equal to ``wigner_D(RANK2_IRREPS, R)`` but
    computed in ``R``'s own precision (e3nn's Wigner matrices carry float32 rounding,
    about 1e-7, even in float64).

    Parameters
    ----------
    R : torch.Tensor, shape (..., 3, 3)
        Orthogonal matrices (rotations or improper rotations).

    Returns
    -------
    torch.Tensor, shape (..., 9, 9)

    Examples
    --------
    >>> R = random_rotation(dtype=torch.float64, generator=0)
    >>> X = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    >>> lhs = rank2_to_irreps(R @ X @ R.T)
    >>> rhs = rank2_wigner_D(R) @ rank2_to_irreps(X)
    >>> bool(torch.allclose(lhs, rhs, rtol=0, atol=1e-14))
    True
    """
    Q = rank2_change_of_basis(dtype=R.dtype, device=R.device)
    rotated = R[..., None, :, :] @ Q @ R[..., None, :, :].transpose(-1, -2)
    return rank2_to_irreps(rotated).transpose(-1, -2)


def wigner_D(irreps: Any, R: torch.Tensor) -> torch.Tensor:
    """Representation matrix of ``irreps`` for orthogonal matrices ``R``, exact to rounding.

    Block diagonal, one ``D^l`` block per copy of each irrep, in the irreps' flat layout
    (e3nn's). Reflections (``det R = -1``) act with the parity of each irrep:
    ``D = p^(det R < 0) D^l(det(R) R)``, so ``"1o"`` is a vector (``D == R`` in e3nn's ``(x, y, z)``
    order) and ``"1e"`` a pseudovector (``D == det(R) R``). The ``D^l`` are
    :func:`~physics.equivariant.wigner_D_from_matrix`'s, polynomial in ``R`` and
    differentiable; e3nn's ``Irreps.D_from_matrix`` gives the same matrices up to its float32
    generators' rounding (about 1e-7).

    Parameters
    ----------
    irreps : str, Irreps or e3nn.o3.Irreps
        For example ``"0e + 1o + 2e"``.
    R : torch.Tensor, shape (..., 3, 3)
        Orthogonal matrices.

    Returns
    -------
    torch.Tensor, shape (..., irreps.dim, irreps.dim)

    Examples
    --------
    >>> R = -random_rotation(dtype=torch.float64, generator=0)  # improper
    >>> D = wigner_D("1o + 1e", R)
    >>> bool(torch.allclose(D[:3, :3], R, atol=1e-14)), bool(torch.allclose(D[3:, 3:], -R, atol=1e-14))
    (True, True)
    """
    irreps = Irreps(irreps)
    det = torch.linalg.det(R)
    blocks = wigner_D_from_matrix(max(irreps.lmax, 0), R * det[..., None, None])
    out = R.new_zeros((*R.shape[:-2], irreps.dim, irreps.dim))
    start = 0
    for mul, ir in irreps:
        block = blocks[ir.l] if ir.p == 1 else blocks[ir.l] * det[..., None, None]
        for _ in range(mul):
            out[..., start : start + ir.dim, start : start + ir.dim] = block
            start += ir.dim
    return out


def _as_generator(generator: torch.Generator | int | None) -> torch.Generator | None:
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int):
        return torch.Generator().manual_seed(generator)
    raise TypeError(f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}")


def _normal(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, dtype=torch.float64, device=device, generator=generator)


def random_rotation(
    n: int | None = None,
    *,
    dtype: torch.dtype = torch.float64,
    device: Device | None = None,
    generator: torch.Generator | int | None = None,
) -> torch.Tensor:
    """Rotation matrices drawn uniformly (Haar measure) from SO(3).

    A normalised 4-vector of standard normals is a uniform unit quaternion, and its
    rotation matrix is Haar-distributed. Draws are made in float64 on the generator's
    device, then cast to ``dtype`` and moved to ``device``.

    Parameters
    ----------
    n : int, optional
        Number of matrices; None returns a single ``(3, 3)`` matrix.
    dtype : torch.dtype, default torch.float64
    device : torch.device or str, optional
    generator : torch.Generator or int, optional
        Source of randomness; an int seeds a fresh CPU generator. None uses torch's
        global generator.

    Returns
    -------
    torch.Tensor, shape (3, 3) or (n, 3, 3)
        ``R @ R.T == Id`` and ``det R == 1``.

    Examples
    --------
    >>> R = random_rotation(5, generator=0)
    >>> R.shape
    torch.Size([5, 3, 3])
    >>> bool(torch.allclose(R @ R.transpose(-1, -2), torch.eye(3, dtype=torch.float64), atol=1e-14))
    True
    >>> bool(torch.allclose(torch.linalg.det(R), torch.ones(5, dtype=torch.float64)))
    True
    """
    if n is not None and (not isinstance(n, int) or n < 0):
        raise ValueError(f"random_rotation: n must be a non-negative int or None, got {n!r}")
    q = _normal((1 if n is None else n, 4), _as_generator(generator))
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    R = torch.stack(
        [
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], dim=-1),
            torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], dim=-1),
            torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], dim=-1),
        ],
        dim=-2,
    )
    R = R.to(dtype=dtype, device=device if device is not None else R.device)
    return R[0] if n is None else R


def random_orthogonal(
    n: int | None = None,
    *,
    proper: bool = False,
    dtype: torch.dtype = torch.float64,
    device: Device | None = None,
    generator: torch.Generator | int | None = None,
) -> torch.Tensor:
    """Orthogonal matrices drawn uniformly from O(3) (or SO(3) when ``proper``).

    A Haar rotation times an independent random sign: half the draws are improper
    (``det == -1``, a rotation composed with the inversion ``-Id``).

    Parameters
    ----------
    n : int, optional
        Number of matrices; None returns a single ``(3, 3)`` matrix.
    proper : bool, default False
        Draw rotations only (same as :func:`random_rotation`).
    dtype, device, generator
        As for :func:`random_rotation`.

    Returns
    -------
    torch.Tensor, shape (3, 3) or (n, 3, 3)

    Examples
    --------
    >>> R = random_orthogonal(1000, generator=0)
    >>> dets = torch.linalg.det(R)
    >>> bool(torch.allclose(dets.abs(), torch.ones(1000, dtype=torch.float64)))
    True
    >>> 400 < int((dets < 0).sum()) < 600
    True
    """
    gen = _as_generator(generator)
    R = random_rotation(n, dtype=dtype, device=device, generator=gen)
    if proper:
        return R
    signs = torch.where(_normal((1 if n is None else n,), gen) < 0, -1.0, 1.0)
    signs = signs.to(dtype=dtype, device=R.device)
    return R * (signs[0] if n is None else signs[:, None, None])
