r"""Matrix differential equations used to test dynamical low-rank (BUG) integrators.

Two linear test problems on ``n x n`` matrices, each given as a two-mode
:class:`tnkit.tree.kron.KronOperator` ``F(Y) = sum_k c_k A_k Y B_k^T`` (a factor ``A`` on mode 0
multiplies from the left, a factor ``B`` on mode 1 acts as ``Y B^T``), together with the
initial matrix and an exact solution:

* :func:`skew_rotation_problem` -- the matrix with known solution
  ``A(t) = exp(t W1) e^t D exp(t W2)^T`` (``W1``, ``W2`` random skew-symmetric, ``D``
  diagonal with rapidly decaying entries ``2^{-j}``) of Kieri, Lubich & Walach (SINUM 2016),
  reused for the unconventional BUG integrator (Ceruti & Lubich, BIT 2022). Its derivative
  is the linear matrix ODE ``dY/dt = W1 Y + Y + Y W2^T``; the singular values are exactly
  ``e^t d_j`` for all ``t`` (many tiny ones: the robustness test).
* :func:`discrete_schrodinger_problem` -- the discrete Schrodinger equation of the
  rank-adaptive BUG paper (Ceruti, Kusch & Lubich, BIT 2022, Sec. 6.1):
  ``i dY/dt = H[Y] = D Y + Y D^T + V Y V^T`` with ``D = tridiag(-1, 2, -1) / 2`` and
  ``V = diag(1 - cos(2 pi j / n))``, ``j = -n/2, ..., n/2 - 1``, initial value
  ``U0 S0 V0^T`` with random orthogonal ``U0``, ``V0`` and ``S0 = diag(10^{-i})``
  normalised in the Frobenius norm.

The C-order ravel of ``Y`` (mode 0 most significant) matches
:meth:`KronOperator.to_sparse`, so ``Y.reshape(-1)`` is the vector the sparse matrix acts on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from tnkit.tree.kron import KronOperator

__all__ = [
    "MatrixODEProblem",
    "random_skew_symmetric",
    "skew_rotation_problem",
    "discrete_schrodinger_problem",
]


@dataclasses.dataclass(frozen=True)
class MatrixODEProblem:
    """A linear matrix ODE ``dY/dt = operator(Y)``, ``Y(0) = initial``, with a reference.

    Attributes
    ----------
    operator : KronOperator
        Right-hand side on two modes of dimensions ``(n, n)``.
    initial : numpy.ndarray, shape (n, n)
        ``Y(0)``.
    exact : callable
        ``exact(t) -> numpy.ndarray`` of shape ``(n, n)``, the exact solution at time ``t``.
    data : dict
        The building blocks (matrices, diagonal entries), for tests and plots.
    """

    operator: KronOperator
    initial: np.ndarray
    exact: Callable[[float], np.ndarray]
    data: dict

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """``F(t, Y)`` on a dense matrix (for reference integrators).

        Parameters
        ----------
        t : float
            Time.
        y : numpy.ndarray
            Dense matrix of the state's shape.
        """
        return self.operator.apply_dense(y, t)


def _check_n(n: int, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"matrix size n must be an integer >= {minimum}, got {n!r}")
    return int(n)


def random_skew_symmetric(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random real skew-symmetric ``n x n`` matrix ``(G - G^T) / 2``, ``G`` standard normal.

    Parameters
    ----------
    n : int
        Size, >= 1.
    rng : numpy.random.Generator
        Source of ``G``.

    Examples
    --------
    >>> w = random_skew_symmetric(4, np.random.default_rng(0))
    >>> bool(np.allclose(w, -w.T))
    True
    """
    g = rng.standard_normal((_check_n(n), n))
    return (g - g.T) / 2


def skew_rotation_problem(
    n: int = 100,
    decay: float = 0.5,
    rank: int | None = None,
    seed: int = 0,
) -> MatrixODEProblem:
    r"""``dY/dt = W1 Y + Y + Y W2^T`` with exact solution ``exp(t W1) e^t D exp(t W2)^T``.

    Parameters
    ----------
    n : int
        Matrix size (default 100, as in the papers).
    decay : float
        ``D = diag(decay**j)``, ``j = 1..n``; the default ``0.5`` gives ``d_j = 2^{-j}``.
    rank : int, optional
        Keep only the first ``rank`` diagonal entries of ``D`` (the rest zero): an exactly
        rank-``rank`` solution.
    seed : int
        Seed for the random skew-symmetric ``W1``, ``W2``.

    Returns
    -------
    MatrixODEProblem
        ``data`` holds ``"W1"``, ``"W2"``, ``"d"`` (diagonal of ``D``). The singular values of
        ``exact(t)`` are ``e^t * d`` (orthogonal factors), an invariant the tests check.

    Raises
    ------
    ValueError
        ``n < 1``, ``decay`` not in ``(0, 1]`` or ``rank`` not in ``0..n``.

    Examples
    --------
    >>> p = skew_rotation_problem(n=6, seed=1)
    >>> y = p.exact(0.3)
    >>> w1, w2 = p.data["W1"], p.data["W2"]
    >>> bool(np.allclose(p.operator.apply_dense(y), w1 @ y + y + y @ w2.T))
    True
    >>> bool(np.allclose(np.linalg.svd(y, compute_uv=False), np.exp(0.3) * 0.5 ** np.arange(1, 7)))
    True
    """
    n = _check_n(n)
    if not (np.isfinite(decay) and 0 < decay <= 1):
        raise ValueError(f"skew_rotation_problem: decay must be in (0, 1], got {decay}")
    d = float(decay) ** np.arange(1, n + 1, dtype=float)
    if rank is not None:
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank <= n:
            raise ValueError(f"skew_rotation_problem: rank must be an integer in 0..{n}, got {rank!r}")
        d[int(rank) :] = 0.0
    rng = np.random.default_rng(seed)
    w1 = random_skew_symmetric(n, rng)
    w2 = random_skew_symmetric(n, rng)

    op = KronOperator([n, n])
    op.add({0: w1}).add({}).add({1: w2})

    def exact(t: float) -> np.ndarray:
        left = scipy.linalg.expm(t * w1)
        right = scipy.linalg.expm(t * w2)
        return np.exp(t) * (left * d) @ right.T

    return MatrixODEProblem(op, np.diag(d), exact, {"W1": w1, "W2": w2, "d": d})


def discrete_schrodinger_problem(n: int = 100, seed: int = 0) -> MatrixODEProblem:
    r"""Discrete Schrodinger equation ``i dY/dt = D Y + Y D^T + V Y V^T`` on ``n x n`` matrices.

    ``D = tridiag(-1, 2, -1) / 2`` (a scaled discrete Laplacian), ``V = diag(1 - cos x_j)`` on
    the grid ``x_j = 2 pi j / n``, ``j = -n/2, ..., n/2 - 1``. The initial value is
    ``U0 S0 V0^T`` with ``U0``, ``V0`` random orthogonal (QR of Gaussian matrices) and
    ``S0 = diag(10^{-1}, ..., 10^{-n}) / ||.||_F`` (Ceruti, Kusch & Lubich, BIT 2022, Sec. 6.1;
    final time 1 there). The right-hand side is ``-i H[Y]``; ``H`` is Hermitian, so the
    Frobenius norm and the energy ``<Y, H[Y]>`` are conserved. The exact solution is the
    action of the ``n^2 x n^2`` matrix exponential (:func:`scipy.sparse.linalg.expm_multiply`).

    Parameters
    ----------
    n : int
        Matrix size, even, ``>= 2`` (default 100).
    seed : int
        Seed of the random orthogonal factors.

    Returns
    -------
    MatrixODEProblem
        ``data`` holds ``"D"``, ``"V"`` (dense), ``"U0"``, ``"V0"``, ``"s0"``.

    Examples
    --------
    >>> p = discrete_schrodinger_problem(n=8)
    >>> y1 = p.exact(0.5)
    >>> bool(np.isclose(np.linalg.norm(y1), np.linalg.norm(p.initial)))
    True
    """
    n = _check_n(n, 2)
    if n % 2:
        raise ValueError(f"discrete_schrodinger_problem: n must be even, got {n}")
    lap = (2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)) / 2
    x = 2 * np.pi * np.arange(-n // 2, n // 2) / n
    pot = np.diag(1 - np.cos(x))

    rng = np.random.default_rng(seed)
    u0, _ = np.linalg.qr(rng.standard_normal((n, n)))
    v0, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s0 = 10.0 ** -np.arange(1, n + 1, dtype=float)
    s0 /= np.linalg.norm(s0)
    y0 = ((u0 * s0) @ v0.T).astype(complex)

    op = KronOperator([n, n])
    op.add({0: lap}, coef=-1j).add({1: lap}, coef=-1j).add({0: pot, 1: pot}, coef=-1j)
    gen = op.to_sparse().tocsr()
    shape = (n, n)

    def exact(t: float) -> np.ndarray:
        if t == 0:
            return y0.copy()
        return scipy.sparse.linalg.expm_multiply(gen * t, y0.reshape(-1)).reshape(shape)

    return MatrixODEProblem(op, y0, exact, {"D": lap, "V": pot, "U0": u0, "V0": v0, "s0": s0})
