"""Chebyshev–Tucker functions: mesh-free, rank-structured approximations on a box.

A smooth function ``f`` on a box ``[a_1, b_1] x ... x [a_d, b_d]`` is approximated
in two levels [Kh]_ [BKKS]_:

1. *interpolation*: ``f`` is sampled on the tensor grid of Chebyshev points of the
   first kind and turned into the coefficient tensor ``C`` of its tensor-product
   Chebyshev interpolant ``p(x) = sum_k C[k_1..k_d] T_k1(t_1(x_1)) ... T_kd(t_d(x_d))``;
2. *compression*: ``C`` is compressed in Tucker format by a sequentially truncated
   HOSVD (:func:`tnkit.decompositions.tucker.sthosvd`), ``C ~ core x_1 U_1 ... x_d U_d``.

Each factor column of ``U_k`` is then the Chebyshev coefficient vector of a
univariate function, so the approximation is stored as a small core and ``d``
"Chebyshev factor" matrices. It is evaluated at arbitrary points (no mesh) by
forming ``T_j(t_k(x_k))`` for every point, multiplying by ``U_k`` and contracting
with the core; differentiated exactly by the Chebyshev derivative recurrence on one
factor; and integrated over the box by Clenshaw–Curtis weights on every factor.

Nodes are the first-kind (Gauss–Chebyshev) points, in ascending order as
:func:`numpy.polynomial.chebyshev.chebpts1`; coefficients are a DCT-II of the
samples along every axis and agree with
:func:`numpy.polynomial.chebyshev.chebinterpolate` in 1-D.

References
----------
.. [Kh] B. N. Khoromskij, "Tensor Numerical Methods in Scientific Computing",
   De Gruyter (2018); "Tensor-structured numerical methods in scientific
   computing: survey on recent advances", Chemometr. Intell. Lab. Syst. 110,
   1 (2012).
.. [BKKS] P. Benner, V. Khoromskaia, B. N. Khoromskij, "Range-separated tensor
   format for many-particle modeling", SIAM J. Sci. Comput. 40, A1034 (2018).
.. [Tr] L. N. Trefethen, "Approximation Theory and Approximation Practice",
   SIAM (2013), chapters 3, 8 and 19.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.backend import namespace
from tnkit.contract import contract
from tnkit.decompositions.chebyshev_basis import (
    _LETTERS,
    _check_degree,
    _check_interval,
    _clenshaw_curtis_weights,
    _derivative_matrix,
    _target,
    _unit_nodes,
    _vandermonde,
    chebyshev_coefficients,
)
from tnkit.decompositions.tucker import sthosvd
from tnkit.io import register_type

__all__ = ["ChebTucker"]


# --------------------------------------------------------------------------------------
# One-dimensional building blocks


# --------------------------------------------------------------------------------------
# The two-level format


class ChebTucker:
    """A function on a box as a Tucker-compressed tensor-product Chebyshev series.

    ``f(x) ~ sum_{a} core[a_1..a_d] prod_k sum_j factors[k][j, a_k] T_j(t_k(x_k))``
    with ``t_k(x) = (2 x - a_k - b_k) / (b_k - a_k)``. Build one from a function with
    :meth:`fit`, or directly from a core and Chebyshev factor matrices.

    Parameters
    ----------
    core : array, shape (r_1, ..., r_d)
        Tucker core.
    factors : sequence of d arrays, shapes (n_k + 1, r_k)
        Chebyshev coefficients (rows: degree 0..n_k) of the univariate functions
        spanning each mode. After :meth:`fit` they have orthonormal columns; after
        :meth:`derivative` not necessarily.
    box : sequence of d pairs (a_k, b_k)
        The box, ``a_k < b_k``.

    Attributes
    ----------
    core, factors, box
        As given (``box`` as a tuple of float pairs).

    Raises
    ------
    ValueError
        Inconsistent shapes, ``a_k >= b_k`` or degree < 1.
    TypeError
        Arrays from different libraries or devices, or a non-real dtype.

    References
    ----------
    .. [Kh] B. N. Khoromskij, "Tensor Numerical Methods in Scientific Computing",
       De Gruyter (2018).
    .. [BKKS] P. Benner, V. Khoromskaia, B. N. Khoromskij, "Range-separated tensor
       format for many-particle modeling", SIAM J. Sci. Comput. 40, A1034 (2018).

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda p: np.exp(-np.sum(p**2, axis=1))
    >>> ct = ChebTucker.fit(f, box=[(-1, 1)] * 3, degree=20, tol=1e-12)
    >>> ct.ranks, ct.degree
    ((1, 1, 1), (20, 20, 20))
    >>> pts = np.array([[0.1, -0.2, 0.3], [0.9, 0.9, -0.9]])
    >>> bool(np.allclose(ct(pts), f(pts), rtol=1e-12, atol=0))
    True
    >>> exact = (np.sqrt(np.pi) * 0.8427007929497149) ** 3   # (int_{-1}^1 e^{-x^2})^3
    >>> bool(abs(float(ct.integrate()) - exact) < 1e-12)
    True
    """

    def __init__(self, core: Any, factors: Sequence[Any], box: Sequence[tuple[float, float]]) -> None:
        factors = list(factors)
        xp = namespace(core, *factors)
        d = core.ndim
        if d < 1:
            raise ValueError("ChebTucker: the core needs at least one dimension")
        if len(factors) != d or len(box) != d:
            raise ValueError(
                f"ChebTucker: core has {d} dimensions but got {len(factors)} factors and a box of {len(box)} intervals"
            )
        if not xp.isdtype(core.dtype, "real floating"):
            raise TypeError(f"ChebTucker: expected a real floating dtype, got {core.dtype}")
        for k, u in enumerate(factors):
            if u.ndim != 2 or u.shape[1] != core.shape[k]:
                raise ValueError(
                    f"ChebTucker: factor {k} must have shape (n_{k} + 1, {core.shape[k]}), got {tuple(u.shape)}"
                )
            if u.shape[0] < 2:
                raise ValueError(f"ChebTucker: factor {k} has degree {u.shape[0] - 1}; need >= 1")
            if u.dtype != core.dtype:
                raise TypeError(f"ChebTucker: factor {k} has dtype {u.dtype}, the core {core.dtype}")
        self.core = core
        self.factors = factors
        self.box = tuple(_check_interval(*ab, dim=k) for k, ab in enumerate(box))

    # ----------------------------------------------------------------------------------
    # construction

    @classmethod
    def fit(
        cls,
        f: Callable[[Any], Any],
        box: Sequence[tuple[float, float]],
        degree: int | Sequence[int],
        *,
        tol: float | None = None,
        ranks: Sequence[int] | None = None,
        like: Any = None,
        batch_size: int = 1 << 16,
    ) -> ChebTucker:
        """Interpolate ``f`` on the Chebyshev grid of ``box`` and compress the coefficients.

        Parameters
        ----------
        f : callable
            ``f(points)`` with ``points`` of shape (m, d) in ``like``'s library,
            device and dtype, returning shape (m,) (vectorised).
        box : sequence of d pairs (a_k, b_k)
            The box, ``a_k < b_k``.
        degree : int or sequence of d ints
            Chebyshev degree per dimension (>= 1); ``degree + 1`` nodes each.
        tol : float, optional
            Relative Frobenius tolerance of the Tucker truncation of the
            coefficient tensor ``C``, passed to :func:`tnkit.decompositions.tucker.sthosvd`:
            ``||C - C_hat||_F <= tol ||C||_F``. The added max-norm error on the box
            is at most ``sum |C - C_hat| <= sqrt(prod(n_k + 1)) tol ||C||_F`` and in
            practice about ``tol ||C||_F``. Must lie in ``(0, 1)``.
        ranks : int or sequence of d ints, optional
            Fixed Tucker ranks instead of ``tol`` (give at most one of the two).
            With neither, the coefficients are kept uncompressed (identity
            factors, ranks ``n_k + 1``): the plain interpolant.
        like : array, optional
            Library, device and real dtype of the result; NumPy float64 by default.
        batch_size : int
            Points per call to ``f``.

        Returns
        -------
        ChebTucker

        Raises
        ------
        ValueError
            Degree < 1, a box interval with ``a >= b``, mismatched lengths, or ``f``
            returning a wrong shape or NaN/Inf; from :func:`tnkit.decompositions.tucker.sthosvd`:
            both ``tol`` and ``ranks``, ``tol`` outside ``(0, 1)``, a rank above
            ``n_k + 1``.
        TypeError
            ``f`` returning something that is not an array of ``like``'s library.
        """
        d = len(box)
        if d < 1:
            raise ValueError("ChebTucker.fit: box needs at least one interval")
        intervals = [_check_interval(*ab, dim=k) for k, ab in enumerate(box)]
        if isinstance(degree, (int, np.integer)) and not isinstance(degree, bool):
            degrees = [int(degree)] * d
        else:
            degrees = list(degree)  # type: ignore[arg-type]  # a sequence of ints; checked below
        if len(degrees) != d:
            raise ValueError(f"ChebTucker.fit: box has {d} intervals but degree has {len(degrees)} entries")
        degrees = [_check_degree(n) for n in degrees]
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"ChebTucker.fit: batch_size must be a positive int, got {batch_size!r}")
        xp, device, dtype = _target(like)

        axes = [
            xp.asarray(0.5 * (a + b) + 0.5 * (b - a) * _unit_nodes(n), dtype=dtype, device=device)
            for (a, b), n in zip(intervals, degrees)
        ]
        grids = xp.meshgrid(*axes, indexing="ij")
        points = xp.stack([xp.reshape(g, (-1,)) for g in grids], axis=1)
        total = points.shape[0]
        chunks = []
        for start in range(0, total, batch_size):
            chunk = points[start : min(start + batch_size, total), :]
            chunks.append(_checked_values(xp, f, chunk, dtype))
        values = xp.reshape(xp.concat(chunks) if len(chunks) > 1 else chunks[0], tuple(n + 1 for n in degrees))

        coeffs = chebyshev_coefficients(values)
        if tol is None and ranks is None:
            eyes = [xp.eye(n + 1, dtype=dtype, device=device) for n in degrees]
            return cls(coeffs, eyes, intervals)
        tucker = sthosvd(coeffs, ranks=ranks, tol=tol)
        return cls(tucker.core, list(tucker.factors), intervals)

    # ----------------------------------------------------------------------------------
    # properties

    @property
    def ndim(self) -> int:
        """Number of variables ``d``."""
        return self.core.ndim

    @property
    def ranks(self) -> tuple[int, ...]:
        """Tucker ranks ``(r_1, ..., r_d)``."""
        return tuple(int(s) for s in self.core.shape)

    @property
    def degree(self) -> tuple[int, ...]:
        """Chebyshev degrees ``(n_1, ..., n_d)``."""
        return tuple(int(u.shape[0]) - 1 for u in self.factors)

    def __repr__(self) -> str:
        return f"ChebTucker(ndim={self.ndim}, degree={self.degree}, ranks={self.ranks}, box={self.box})"

    def coefficients(self) -> Any:
        """The full Chebyshev coefficient tensor, shape (n_1 + 1, ..., n_d + 1).

        Dense: ``prod(n_k + 1)`` entries. For checks and small cases.
        """
        letters = _LETTERS[: self.ndim]
        upper = "".join(c.upper() for c in letters)
        terms = ",".join(f"{u}{c}" for u, c in zip(upper, letters))
        return contract(f"{letters},{terms}->{upper}", self.core, *self.factors)

    # ----------------------------------------------------------------------------------
    # evaluation

    def __call__(self, points: Any, *, extrapolate: bool = False) -> Any:
        """Evaluate at arbitrary points.

        Cost ``O(m sum_k n_k r_k + m prod_k r_k)``: per dimension the Chebyshev
        polynomials of the coordinates (m, n_k + 1) times the factor, then one
        contraction with the core. Differentiable with respect to ``points`` and
        the stored arrays on PyTorch.

        Parameters
        ----------
        points : array, shape (m, d)
            Same library, device and dtype as the core.
        extrapolate : bool
            Allow points outside the box (the polynomial is evaluated there; its
            error grows quickly away from the box). Default: raise.

        Returns
        -------
        array, shape (m,)

        Raises
        ------
        ValueError
            Wrong shape, or points outside the box without ``extrapolate=True``.
        TypeError
            Points of another library, device or dtype.
        """
        xp = namespace(self.core, points)
        d = self.ndim
        if points.ndim != 2 or points.shape[1] != d:
            raise ValueError(f"ChebTucker: points must have shape (m, {d}), got {tuple(points.shape)}")
        if points.dtype != self.core.dtype:
            raise TypeError(
                f"ChebTucker: points have dtype {points.dtype} but the approximation {self.core.dtype}; "
                "convert one of them explicitly"
            )
        if not extrapolate and points.shape[0] > 0:
            self._check_inside(xp, points)
        reduced = []
        for k, ((a, b), u) in enumerate(zip(self.box, self.factors)):
            t = (points[:, k] - 0.5 * (a + b)) * (2.0 / (b - a))
            reduced.append(_vandermonde(xp, t, u.shape[0] - 1) @ u)
        letters = _LETTERS[:d]
        terms = ",".join(f"m{c}" for c in letters)
        return contract(f"{letters},{terms}->m", self.core, *reduced)

    def _check_inside(self, xp: Any, points: Any) -> None:
        lo = backend.to_host(xp.min(points, axis=0))
        hi = backend.to_host(xp.max(points, axis=0))
        for k, (a, b) in enumerate(self.box):
            slack = 8.0 * np.finfo(lo.dtype).eps * max(abs(a), abs(b))
            if lo[k] < a - slack or hi[k] > b + slack:
                raise ValueError(
                    f"ChebTucker: points outside the box in dimension {k}: coordinates span "
                    f"[{lo[k]:.6g}, {hi[k]:.6g}] but the box is [{a:.6g}, {b:.6g}]; "
                    "pass extrapolate=True to evaluate the polynomial there anyway"
                )

    # ----------------------------------------------------------------------------------
    # calculus

    def derivative(self, dim: int, order: int = 1) -> ChebTucker:
        """Partial derivative ``d^order / dx_dim^order`` of the approximation.

        Exact for the polynomial: the Chebyshev derivative recurrence is applied to
        the coefficient columns of one factor (scaled by ``(2 / (b - a))^order``);
        core, other factors and degrees are unchanged (top coefficients become 0).

        Parameters
        ----------
        dim : int
            Variable index, ``0 <= dim < d``.
        order : int
            Derivative order, >= 1.

        Returns
        -------
        ChebTucker

        Raises
        ------
        ValueError
            ``dim`` out of range or ``order < 1``.

        Examples
        --------
        >>> import numpy as np
        >>> ct = ChebTucker.fit(lambda p: np.sin(p[:, 0]) * p[:, 1] ** 2, [(0, 2), (-1, 1)], 16)
        >>> p = np.array([[0.5, 0.3]])
        >>> bool(np.allclose(ct.derivative(0)(p), np.cos(0.5) * 0.09, atol=1e-12))
        True
        """
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 0 <= dim < self.ndim:
            raise ValueError(f"derivative: dim must be an int in [0, {self.ndim}), got {dim!r}")
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise ValueError(f"derivative: order must be an int >= 1, got {order!r}")
        u = self.factors[dim]
        xp = namespace(u)
        a, b = self.box[dim]
        n = u.shape[0] - 1
        dmat = np.linalg.matrix_power(_derivative_matrix(n), int(order)) * (2.0 / (b - a)) ** int(order)
        new = xp.asarray(dmat, dtype=u.dtype, device=backend.device_of(u)) @ u
        factors = list(self.factors)
        factors[dim] = new
        return ChebTucker(self.core, factors, self.box)

    def integrate(self) -> Any:
        """Integral of the approximation over the box.

        Clenshaw–Curtis weights ``int_{-1}^1 T_j = 2 / (1 - j^2)`` (even ``j``) act
        on every factor, scaled by ``(b_k - a_k) / 2``; the core contracts the
        resulting vectors. Cost ``O(sum_k n_k r_k + prod_k r_k)``.

        Returns
        -------
        0-d array
            In the approximation's library, device and dtype.

        Examples
        --------
        >>> import numpy as np
        >>> ct = ChebTucker.fit(lambda p: p[:, 0] ** 2 + p[:, 1], [(0, 1), (0, 2)], 3)
        >>> round(float(ct.integrate()), 12)   # int_0^1 int_0^2 (x^2 + y) dy dx = 2/3 + 2
        2.666666666667
        """
        xp = namespace(self.core)
        vectors = []
        for (a, b), u in zip(self.box, self.factors):
            w = _clenshaw_curtis_weights(u.shape[0] - 1) * (0.5 * (b - a))
            vectors.append(xp.asarray(w, dtype=u.dtype, device=backend.device_of(u)) @ u)
        letters = _LETTERS[: self.ndim]
        return contract(f"{letters},{','.join(letters)}->", self.core, *vectors)


def _checked_values(xp: Any, f: Callable[[Any], Any], chunk: Any, dtype: Any) -> Any:
    m = chunk.shape[0]
    out = f(chunk)
    try:
        lib_out = backend.library_name(namespace(out))
    except TypeError:
        raise TypeError(f"ChebTucker.fit: f must return an array of shape ({m},), got {type(out).__name__}") from None
    lib_in = backend.library_name(xp)
    if lib_out != lib_in:
        raise TypeError(f"ChebTucker.fit: f was given {lib_in} points but returned a {lib_out} array")
    if tuple(out.shape) != (m,):
        raise ValueError(
            f"ChebTucker.fit: f must return shape ({m},) for points of shape ({m}, {chunk.shape[1]}), "
            f"got {tuple(out.shape)}"
        )
    if out.dtype != dtype:
        raise TypeError(f"ChebTucker.fit: f returned dtype {out.dtype}, expected {dtype} (the points' dtype)")
    if not bool(xp.all(xp.isfinite(out))):
        bad = int(backend.to_host(xp.sum(xp.astype(~xp.isfinite(out), xp.int64))))
        raise ValueError(f"ChebTucker.fit: f returned NaN or Inf at {bad} of {m} points; expected finite values")
    return out


# --------------------------------------------------------------------------------------
# Storage


def _to_dict(obj: ChebTucker) -> dict[str, Any]:
    return {
        "core": obj.core,
        "factors": {f"{k:05d}": u for k, u in enumerate(obj.factors)},
        "box": np.asarray(obj.box, dtype=np.float64),
    }


def _from_dict(data: dict[str, Any]) -> ChebTucker:
    factors = [data["factors"][k] for k in sorted(data["factors"])]
    box = backend.to_host(data["box"])
    return ChebTucker(data["core"], factors, [(float(a), float(b)) for a, b in box])


register_type(ChebTucker, "chebtucker", _to_dict, _from_dict, version=1)
