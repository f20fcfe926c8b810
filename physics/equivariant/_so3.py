"""SO(3) tables and frames: Clebsch–Gordan / Gaunt coefficients, exact sphere grids, edge frames.

Everything here is in the basis of :func:`~physics.equivariant.spherical_harmonics`
(e3nn's: polar axis ``y``, ``m = -l..l``).

* :func:`su2_clebsch_gordan` — ``<l1 m1 l2 m2 | l3 m3>`` in the complex basis, from Racah's
  closed formula evaluated in exact rational arithmetic (one rounding at the end).
* :func:`wigner_3j` — the real coupling tensor ``C[i, j, k]`` with
  ``C = D1 (x) D2 (x) D3 C`` for every rotation and ``sum C^2 = 1``: the complex coefficients
  carried into the real basis, with e3nn's phase, so it equals ``e3nn.o3.wigner_3j``.
* :func:`gaunt` — ``∫ Y_l1 Y_l2 Y_l3 dΩ`` for the real harmonics, by exact quadrature.
* :func:`sphere_grid` — Gauss–Legendre in ``cos(theta)`` times a uniform azimuth: integrates
  every polynomial of degree ``<= degree`` on the sphere exactly.
* :func:`edge_rotation` / :func:`wigner_D_from_matrix` — for each edge a rotation taking its
  direction to ``+y`` and the Wigner matrices of that rotation, both polynomial (or rational
  with denominators >= 1) in the edge vector's components: differentiable everywhere, no
  random or detached frames, no singularity along the polar axis.

Tables are computed once per ``(l1, l2, l3)`` in float64 on the CPU and cached, with one
cached copy per dtype and device they are asked for.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import torch

from physics.equivariant._spherical import spherical_harmonics
from tnkit.checks import is_int
from tnkit.types import Device

__all__ = [
    "edge_rotation",
    "fit_harmonics",
    "gaunt",
    "sphere_grid",
    "su2_clebsch_gordan",
    "wigner_3j",
    "wigner_D_from_matrix",
    "wigner_D_rows",
]

# Racah's formula needs factorials of up to l1 + l2 + l3 + 1; beyond this the tables are
# large enough (and the float64 coefficients small enough) that a caller almost surely
# passed a wrong degree.
MAX_DEGREE = 64


def _check_degrees(fname: str, *ls: object) -> tuple[int, ...]:
    if not all(is_int(d) and 0 <= int(d) <= MAX_DEGREE for d in ls):  # type: ignore[call-overload]
        raise ValueError(f"{fname}: degrees must be integers in 0..{MAX_DEGREE}, got {ls!r}")
    return tuple(int(d) for d in ls)  # type: ignore[call-overload]


def _triangle(l1: int, l2: int, l3: int) -> bool:
    return abs(l1 - l2) <= l3 <= l1 + l2


def su2_clebsch_gordan(l1: int, m1: int, l2: int, m2: int, l3: int, m3: int) -> float:
    """The Clebsch–Gordan coefficient ``<l1 m1 l2 m2 | l3 m3>`` (Condon–Shortley convention).

    Racah's formula, summed in exact rational arithmetic; the only rounding is the final
    square root, so the value is correct to about one unit in the last place.

    Parameters
    ----------
    l1, m1, l2, m2, l3, m3 : int
        Integer angular momenta and projections (``|m| <= l``).

    Returns
    -------
    float
        Zero unless ``m1 + m2 == m3`` and ``(l1, l2, l3)`` satisfy the triangle rule.

    Raises
    ------
    ValueError
        A degree outside ``0..64`` or a projection with ``|m| > l``.

    Examples
    --------
    >>> round(su2_clebsch_gordan(1, 1, 1, -1, 0, 0), 12) == round(1 / 3 ** 0.5, 12)
    True
    """
    l1, l2, l3 = _check_degrees("su2_clebsch_gordan", l1, l2, l3)
    for m, d in ((m1, l1), (m2, l2), (m3, l3)):
        if not is_int(m) or abs(int(m)) > d:
            raise ValueError(f"su2_clebsch_gordan: projection {m!r} is not an integer in -{d}..{d}")
    m1, m2, m3 = int(m1), int(m2), int(m3)
    if m1 + m2 != m3 or not _triangle(l1, l2, l3):
        return 0.0
    f = math.factorial
    outer = Fraction(
        (2 * l3 + 1) * f(l3 + l1 - l2) * f(l3 - l1 + l2) * f(l1 + l2 - l3),
        f(l1 + l2 + l3 + 1),
    ) * (f(l3 + m3) * f(l3 - m3) * f(l1 - m1) * f(l1 + m1) * f(l2 - m2) * f(l2 + m2))
    total = Fraction(0)
    for k in range(max(0, l2 - l3 - m1, l1 - l3 + m2), min(l1 + l2 - l3, l1 - m1, l2 + m2) + 1):
        denominator = f(k) * f(l1 + l2 - l3 - k) * f(l1 - m1 - k) * f(l2 + m2 - k)
        denominator *= f(l3 - l2 + m1 + k) * f(l3 - l1 - m2 + k)
        total += Fraction((-1) ** k, denominator)
    # value = total * sqrt(outer), rounded once: sqrt(total^2 * outer) carries the sign of total.
    square = total * total * outer
    magnitude = math.sqrt(square.numerator) / math.sqrt(square.denominator)
    if not math.isfinite(magnitude) or magnitude == 0.0:
        magnitude = math.sqrt(float(square))
    return math.copysign(magnitude, float(total))


def _real_from_complex(l: int) -> np.ndarray:  # noqa: E741 - the field's name for the degree
    """``B[r, c]``: the real harmonic ``Y_{l, m_r}`` as a sum of the complex ones ``Y_l^{m_c}``.

    Real harmonics without the Condon–Shortley phase, complex ones with it; for ``m > 0``
    ``Y_{l,m} = (Y^{-m} + (-1)^m Y^m) / sqrt 2`` and ``Y_{l,-m} = i (Y^{-m} - (-1)^m Y^m) / sqrt 2``.
    """
    n = 2 * l + 1
    B = np.zeros((n, n), dtype=np.complex128)
    B[l, l] = 1.0
    s = 1.0 / math.sqrt(2.0)
    for m in range(1, l + 1):
        B[l + m, l - m] = s
        B[l + m, l + m] = (-1) ** m * s
        B[l - m, l - m] = 1j * s
        B[l - m, l + m] = -1j * (-1) ** m * s
    return B


@functools.lru_cache(maxsize=None)
def _wigner_3j_float64(l1: int, l2: int, l3: int) -> torch.Tensor:
    cg = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1))
    for m1 in range(-l1, l1 + 1):
        for m2 in range(max(-l2, -l3 - m1), min(l2, l3 - m1) + 1):
            cg[l1 + m1, l2 + m2, l3 + m1 + m2] = su2_clebsch_gordan(l1, m1, l2, m2, l3, m1 + m2)
    # The two inputs couple through B, the output through conj(B); the phase i^(l1 + l2 - l3)
    # makes the tensor real and is e3nn's choice of overall sign.
    B1, B2, B3 = _real_from_complex(l1), _real_from_complex(l2), _real_from_complex(l3)
    C = (1j) ** (l1 + l2 - l3) * np.einsum("ia,jb,kc,abc->ijk", B1, B2, B3.conj(), cg)
    imaginary = float(np.abs(C.imag).max(initial=0.0))
    if imaginary > 1e-12:  # pragma: no cover - a wrong phase convention, not an input error
        raise AssertionError(f"wigner_3j({l1}, {l2}, {l3}) has an imaginary part {imaginary:.1e}")
    real = C.real / np.linalg.norm(C.real)
    tensor = torch.from_numpy(np.ascontiguousarray(real))
    tensor.requires_grad_(False)
    return tensor


@functools.lru_cache(maxsize=None)
def _cached_copy(kind: str, key: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    source = {"wigner_3j": _wigner_3j_float64, "gaunt": _gaunt_float64}[kind](*key)
    return source.to(dtype=dtype, device=device)


def _dtype_device(fname: str, dtype: torch.dtype, device: Device | None) -> tuple[torch.dtype, torch.device]:
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{fname}: dtype must be torch.float32 or torch.float64, got {dtype}")
    return dtype, torch.device(device if device is not None else "cpu")


def wigner_3j(
    l1: int,
    l2: int,
    l3: int,
    *,
    dtype: torch.dtype = torch.float64,
    device: Device | None = None,
) -> torch.Tensor:
    """The real coupling tensor of ``l1 (x) l2 -> l3`` in e3nn's basis and phase.

    ``C[i, j, k]`` is invariant, ``einsum("il,jm,kn,lmn->ijk", D1, D2, D3, C) == C`` for the
    Wigner matrices of any rotation, and normalised to ``sum C^2 = 1``; it equals
    ``e3nn.o3.wigner_3j(l1, l2, l3)`` to rounding. Built from :func:`su2_clebsch_gordan`
    (Racah's formula) by the change to real harmonics, in float64, once per
    ``(l1, l2, l3)``; a cached copy is kept per dtype and device.

    Parameters
    ----------
    l1, l2, l3 : int
        Degrees obeying the triangle rule ``|l1 - l2| <= l3 <= l1 + l2``, each in ``0..64``.
    dtype : torch.dtype
        float64 (default) or float32.
    device : torch.device or str, optional
        Default: CPU.

    Returns
    -------
    torch.Tensor, shape ``(2 l1 + 1, 2 l2 + 1, 2 l3 + 1)``
        A cached tensor: do not modify it in place.

    Raises
    ------
    ValueError
        Degrees outside ``0..64`` or violating the triangle rule.
    TypeError
        A dtype other than float32 / float64.

    Examples
    --------
    >>> C = wigner_3j(1, 1, 0)
    >>> bool(torch.allclose(C[:, :, 0] * 3 ** 0.5, torch.eye(3, dtype=torch.float64)))  # the dot product
    True
    """
    key = _check_degrees("wigner_3j", l1, l2, l3)
    if not _triangle(*key):
        raise ValueError(f"wigner_3j: degrees {key} violate the triangle rule |l1 - l2| <= l3 <= l1 + l2")
    return _cached_copy("wigner_3j", key, *_dtype_device("wigner_3j", dtype, device))


def sphere_grid(
    degree: int, *, dtype: torch.dtype = torch.float64, device: Device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points and weights on the unit sphere that integrate polynomials of ``degree`` exactly.

    ``ceil((degree + 1) / 2)`` Gauss–Legendre nodes in ``cos(theta)`` (``theta`` from the
    ``y`` axis) times ``degree + 1`` equally spaced azimuths: ``sum_k w_k f(p_k) = ∫ f dΩ``
    for every polynomial ``f`` of degree ``<= degree`` in ``(x, y, z)``. A product of
    harmonics of degrees ``l1`` and ``l2`` projected on degree ``l3`` needs
    ``degree = l1 + l2 + l3``.

    Parameters
    ----------
    degree : int
        Highest polynomial degree integrated exactly, ``>= 0``.
    dtype : torch.dtype
        float64 (default) or float32 (nodes are computed in float64, then cast).
    device : torch.device or str, optional
        Default: CPU.

    Returns
    -------
    points : torch.Tensor, shape ``(n_theta * n_phi, 3)``
        Unit vectors ``(x, y, z)``, latitude-major.
    weights : torch.Tensor, shape ``(n_theta * n_phi,)``
        Summing to ``4 pi``.

    Raises
    ------
    ValueError
        A negative or non-integer degree.

    Examples
    --------
    >>> p, w = sphere_grid(4)
    >>> p.shape, round(float(w.sum()), 12) == round(4 * 3.141592653589793, 12)
    (torch.Size([15, 3]), True)
    >>> round(float((w * p[:, 0] ** 4).sum()), 12) == round(4 * 3.141592653589793 / 5, 12)  # ∫ x^4 = 4π/5
    True
    """
    if not is_int(degree) or int(degree) < 0:
        raise ValueError(f"sphere_grid: degree must be an integer >= 0, got {degree!r}")
    n_theta, n_phi = int(degree) // 2 + 1, int(degree) + 1
    cos_t, w_t = np.polynomial.legendre.leggauss(n_theta)
    sin_t = np.sqrt(1.0 - cos_t**2)
    phi = 2.0 * np.pi * np.arange(n_phi) / n_phi
    # polar axis y; azimuth phi measured from z towards x (e3nn's frame)
    x = sin_t[:, None] * np.sin(phi)[None, :]
    z = sin_t[:, None] * np.cos(phi)[None, :]
    y = np.broadcast_to(cos_t[:, None], x.shape)
    points = np.stack([x, y, z], axis=-1).reshape(-1, 3)
    weights = np.broadcast_to(w_t[:, None] * (2.0 * np.pi / n_phi), x.shape).reshape(-1)
    dtype, dev = _dtype_device("sphere_grid", dtype, device)
    return torch.tensor(points, dtype=dtype, device=dev), torch.tensor(weights, dtype=dtype, device=dev)


@functools.lru_cache(maxsize=None)
def _gaunt_float64(l1: int, l2: int, l3: int) -> torch.Tensor:
    points, weights = sphere_grid(l1 + l2 + l3)
    Y = [spherical_harmonics(d, points, normalization="integral") for d in (l1, l2, l3)]
    G = torch.einsum("p,pi,pj,pk->ijk", weights, *Y)
    G.requires_grad_(False)
    return G


def gaunt(
    l1: int,
    l2: int,
    l3: int,
    *,
    dtype: torch.dtype = torch.float64,
    device: Device | None = None,
) -> torch.Tensor:
    """Real Gaunt coefficients ``G[i, j, k] = ∫ Y_l1,i Y_l2,j Y_l3,k dΩ`` (orthonormal harmonics).

    Computed by exact quadrature on :func:`sphere_grid` of degree ``l1 + l2 + l3``; zero
    unless the triangle rule holds and ``l1 + l2 + l3`` is even. Where it is non-zero it is
    a multiple of :func:`wigner_3j`:
    ``G = sqrt((2l1+1)(2l2+1)(2l3+1) / 4π) (l1 l2 l3; 0 0 0) C`` up to sign (checked to
    1e-13 against Racah's formula in the validation suite).

    Parameters
    ----------
    l1, l2, l3 : int
        Degrees in ``0..64``.
    dtype : torch.dtype
        float64 (default) or float32.
    device : torch.device or str, optional
        Default: CPU.

    Returns
    -------
    torch.Tensor, shape ``(2 l1 + 1, 2 l2 + 1, 2 l3 + 1)``
        A cached tensor: do not modify it in place.

    Raises
    ------
    ValueError
        Degrees outside ``0..64``.

    Examples
    --------
    >>> G = gaunt(0, 2, 2)
    >>> bool(torch.allclose(G[0], torch.eye(5, dtype=torch.float64) / (4 * torch.pi) ** 0.5))
    True
    """
    key = _check_degrees("gaunt", l1, l2, l3)
    return _cached_copy("gaunt", key, *_dtype_device("gaunt", dtype, device))


def edge_rotation(vectors: torch.Tensor) -> torch.Tensor:
    """Rotations ``R`` with ``R @ v / |v| = +y`` for each vector, smooth in ``v``.

    Two closed forms, each a rational function of ``v`` whose denominator stays
    ``>= 1``: the shortest rotation onto ``+y`` for ``v_y >= 0``, and for ``v_y < 0`` the
    shortest rotation onto ``-y`` followed by a half turn about ``x``. Neither uses a
    random or detached vector, so the rotation (and anything computed in the edge frame)
    has exact gradients, also for edges along ``±y``. The roll about ``y`` differs between
    the two forms; a product that is equivariant about ``y`` (the SO(2) product) gives the
    same result with either.

    Parameters
    ----------
    vectors : torch.Tensor, shape ``(..., 3)``
        Non-zero edge vectors ``(x, y, z)``.

    Returns
    -------
    torch.Tensor, shape ``(..., 3, 3)``
        Proper rotations, same dtype and device.

    Raises
    ------
    ValueError
        If the last axis is not 3.

    Examples
    --------
    >>> v = torch.tensor([[0.3, -2.0, 0.1], [0.0, 1.0, 0.0]], dtype=torch.float64)
    >>> R = edge_rotation(v)
    >>> (R @ (v / v.norm(dim=-1, keepdim=True))[..., None]).squeeze(-1).round(decimals=12)
    tensor([[0., 1., 0.],
            [0., 1., 0.]], dtype=torch.float64)
    """
    if vectors.ndim == 0 or vectors.shape[-1] != 3:
        raise ValueError(f"edge_rotation: vectors must have shape (..., 3), got {tuple(vectors.shape)}")
    u = vectors / torch.linalg.vector_norm(vectors, dim=-1, keepdim=True)
    x, y, z = u[..., 0], u[..., 1], u[..., 2]
    upper = y >= 0
    # Shortest rotation taking u to s*y (s = +1 or -1): axis u x (s y) = s (-z, 0, x), cos = s*y;
    # R = I + [k]x + [k]x^2 / (1 + cos). The denominator is >= 1 in the branch that is used;
    # the other branch's is clamped so that it (and its gradient) stays finite.
    zero = torch.zeros_like(x)

    def shortest(s: float) -> torch.Tensor:
        kx, kz = -s * z, s * x
        c = torch.clamp(1.0 + s * y, min=0.5)
        K = torch.stack(
            [torch.stack([zero, -kz, zero], -1), torch.stack([kz, zero, -kx], -1), torch.stack([zero, kx, zero], -1)],
            -2,
        )
        return torch.eye(3, dtype=u.dtype, device=u.device) + K + (K @ K) / c[..., None, None]

    to_plus = shortest(1.0)
    half_turn_x = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=u.dtype, device=u.device))
    to_minus = half_turn_x @ shortest(-1.0)
    return torch.where(upper[..., None, None], to_plus, to_minus)


def _spiral(n: int) -> torch.Tensor:
    """``n`` points of a golden-angle spiral on the unit sphere (float64)."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    y = 1.0 - 2.0 * k / n
    r = torch.sqrt(1.0 - y * y)
    phi = math.pi * (3.0 - math.sqrt(5.0)) * k
    return torch.stack([r * torch.sin(phi), y, r * torch.cos(phi)], dim=-1)


@functools.lru_cache(maxsize=None)
def _fit_points(lmax: int) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Few points ``P`` and, per degree, ``pinv(Y_l(P))`` with ``Y_l(P)`` well conditioned (float64).

    ``2 lmax + 1`` points are the fewest that determine ``D^lmax``; the golden-angle spiral
    with the fewest points (from ``2 lmax + 1`` up) whose worst condition number over the
    degrees is at most 5 is used (the best one up to ``4 lmax + 2`` points if none is), so the
    fit loses at most a few units of rounding.
    """
    best: tuple[float, torch.Tensor] | None = None
    for n in range(2 * lmax + 1, 4 * lmax + 3):
        points = _spiral(n)
        cond = max(float(torch.linalg.cond(spherical_harmonics(d, points).T)) for d in range(lmax + 1))
        if best is None or cond < best[0]:
            best = (cond, points)
        if cond <= 5.0:
            break
    assert best is not None
    points = best[1]
    return points, tuple(torch.linalg.pinv(spherical_harmonics(d, points).T) for d in range(lmax + 1))


@functools.lru_cache(maxsize=None)
def _fit_tables(lmax: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, list[torch.Tensor]]:
    points, inverses = _fit_points(lmax)
    return points.to(dtype=dtype, device=device), [B.to(dtype=dtype, device=device) for B in inverses]


def wigner_D_from_matrix(lmax: int, R: torch.Tensor) -> list[torch.Tensor]:
    """Wigner matrices ``D^l(R)`` for ``l = 0..lmax`` in the harmonics' basis, polynomial in ``R``.

    ``Y_l(R p) = D^l(R) Y_l(p)`` at ``n >= 2l + 1`` fixed points ``p`` (a golden-angle spiral
    on which ``Y_l`` has full rank) gives ``D^l(R) = Y_l(R P) Y_l(P)^+`` with a precomputed
    pseudo-inverse: each entry is a polynomial of degree ``l`` in the entries of ``R``, so it
    is exact to rounding (the fits are conditioned to at most about 5), has no Euler-angle
    singularity and is differentiable to any order. ``spherical_harmonics(l, R @ r) == D^l(R) @
    spherical_harmonics(l, r)`` for proper rotations.

    Parameters
    ----------
    lmax : int
        Highest degree, ``>= 0``.
    R : torch.Tensor, shape ``(..., 3, 3)``
        Rotation matrices (float32 or float64).

    Returns
    -------
    list of torch.Tensor
        ``D[l]`` of shape ``(..., 2l + 1, 2l + 1)``.

    Raises
    ------
    ValueError
        A negative degree or ``R`` not of shape ``(..., 3, 3)``.

    Examples
    --------
    >>> from physics.equivariant import random_rotation, spherical_harmonics
    >>> R = random_rotation(dtype=torch.float64, generator=0)
    >>> r = torch.tensor([0.2, -0.5, 0.9], dtype=torch.float64)
    >>> D = wigner_D_from_matrix(3, R)
    >>> bool(torch.allclose(spherical_harmonics(3, R @ r), D[3] @ spherical_harmonics(3, r), atol=1e-13))
    True
    """
    if not is_int(lmax) or int(lmax) < 0:
        raise ValueError(f"wigner_D_from_matrix: lmax must be an integer >= 0, got {lmax!r}")
    if R.ndim < 2 or tuple(R.shape[-2:]) != (3, 3):
        raise ValueError(f"wigner_D_from_matrix: R must have shape (..., 3, 3), got {tuple(R.shape)}")
    _, inverses = _fit_tables(int(lmax), R.dtype, R.device)
    Y = fit_harmonics(int(lmax), R)
    out, start = [], 0
    for d, B in enumerate(inverses):
        # D = Y_l(RP) Y_l(P)^+ ; Y_l(RP) is (2l+1, n): the harmonics of each rotated point as a column
        out.append(torch.einsum("...pi,pj->...ij", Y[..., start : start + 2 * d + 1], B))
        start += 2 * d + 1
    return out


def wigner_D_rows(
    degrees: Sequence[int],
    rows: Sequence[tuple[int, int]],
    R: torch.Tensor,
    *,
    Y: torch.Tensor | None = None,
    lmax: int | None = None,
) -> torch.Tensor:
    """Selected rows of the block-diagonal Wigner matrix of several degrees.

    ``out[..., r, J] = D^{l_s}(R)[m, j]`` for ``rows[r] = (s, m)`` and column ``J`` in slot
    ``s``'s range of the compact layout (``sum(2 l_s + 1)`` columns, slot after slot), zero
    for columns of other slots. Rotating a compact feature vector by it gives the rotated
    components in the order ``rows`` lists them (padded, permuted or repeated). Same fit as
    :func:`wigner_D_from_matrix`, as one matrix product per call; ``Y`` may pass the
    harmonics at the rotated fit points, ``fit_harmonics(lmax, R)``, to share them between
    calls (``lmax`` must then be the same, ``>= max(degrees)``).
    """
    degrees, rows = tuple(int(d) for d in degrees), tuple((int(s), int(m)) for s, m in rows)
    fit = max(max(degrees), lmax if lmax is not None else 0)
    index, inverse, mask = _row_tables(degrees, rows, fit, R.dtype, R.device)
    if Y is None:
        Y = fit_harmonics(fit, R)
    if index is not None:  # None: the rows are all harmonics 0..fit in order (no gather, no backward scatter)
        Y = Y[..., index]
    return (Y.transpose(-1, -2) @ inverse) * mask


def fit_harmonics(lmax: int, R: torch.Tensor) -> torch.Tensor:
    """Harmonics of degrees ``0..lmax`` at the rotated fit points: ``(..., n_points, (lmax + 1)^2)``."""
    points, _ = _fit_tables(lmax, R.dtype, R.device)
    rotated = torch.einsum("...ij,pj->...pi", R, points)
    return spherical_harmonics(list(range(lmax + 1)), rotated, normalize=False)


@functools.lru_cache(maxsize=None)
def _row_tables(
    degrees: tuple[int, ...], rows: tuple[tuple[int, int], ...], lmax: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    _, inverses = _fit_points(lmax)
    n = inverses[0].shape[0]
    starts = [sum(2 * d + 1 for d in degrees[:s]) for s in range(len(degrees))]
    compact = sum(2 * d + 1 for d in degrees)
    index = torch.zeros(len(rows), dtype=torch.long)
    inverse = torch.zeros((n, compact), dtype=torch.float64)
    mask = torch.zeros((len(rows), compact), dtype=torch.float64)
    for s, d in enumerate(degrees):
        inverse[:, starts[s] : starts[s] + 2 * d + 1] = inverses[d]
    for r, (s, m) in enumerate(rows):
        d = degrees[s]
        if abs(m) <= d:  # rows with |m| > l_s stay zero (padding)
            index[r] = d * d + d + m
            mask[r, starts[s] : starts[s] + 2 * d + 1] = 1.0
    identity = len(rows) == (lmax + 1) ** 2 and bool((index == torch.arange(len(rows))).all())
    return (
        None if identity else index.to(device),
        inverse.to(dtype=dtype, device=device),
        mask.to(dtype=dtype, device=device),
    )
