r"""Elliptic reference solvers on the unit square: Darcy flow, Poisson, Helmholtz.

Three second-order problems with homogeneous Dirichlet data on :math:`\Omega = (0, 1)^2`,

.. math::
    -\nabla\cdot(a \nabla u) = f, \qquad -\Delta u = f, \qquad -\Delta u - k^2 u = f,
    \qquad u|_{\partial\Omega} = 0,

the benchmark problems of the neural-operator literature (the Darcy data of FNO, Li et al.,
*Fourier Neural Operator for Parametric Partial Differential Equations*, ICLR 2021,
arXiv:2010.08895; the Darcy/Helmholtz benchmarks of MgNO, He et al., arXiv:2310.19809).
A Poisson problem with a variable coefficient is the Darcy problem.

Grid
----
``n`` nodes per side *including* the boundary (``n = 421``, ``85``, ... as in the FNO data),
spacing ``h = 1 / (n - 1)``. Arrays hold nodal values with ``u[..., i, j]`` at
``(x_i, y_j) = (i h, j h)`` (``indexing="ij"``, see :func:`unit_square_grid`); the
``m = n - 2`` interior nodes per side are the unknowns and every returned solution has zero
boundary rows and columns. Solvers take one field of shape ``(n, n)`` or a batch
``(batch, n, n)`` and return arrays of the input's library, device and dtype.

Discretisation
--------------
Darcy: the conservative five-point scheme

.. math::
    -\frac{1}{h^2}\Big[a_{i+\frac12,j}(u_{i+1,j} - u_{ij}) - a_{i-\frac12,j}(u_{ij} - u_{i-1,j})
    + a_{i,j+\frac12}(u_{i,j+1} - u_{ij}) - a_{i,j-\frac12}(u_{ij} - u_{i,j-1})\Big] = f_{ij}

with face coefficients the harmonic (default) or arithmetic mean of the two nodal values
they join. The matrix is symmetric positive definite and an M-matrix (positive diagonal,
non-positive couplings, irreducibly diagonally dominant), so ``f >= 0`` gives ``u >= 0``
(the discrete maximum principle) and the scheme is second-order accurate for smooth ``a``.

Poisson and Helmholtz: the same scheme with ``a = 1`` (the five-point Laplacian), which the
orthonormal type-I discrete sine transform (DST-I) diagonalises: eigenvalues
:math:`\lambda_{pq} = \mu_p + \mu_q`, :math:`\mu_p = (4/h^2) \sin^2(\pi p h / 2)`,
``p, q = 1..m``. The solve is two DSTs and a division, exact up to rounding.

Solvers
-------
- Direct (NumPy and torch on the CPU): SciPy sparse CSR assembly and a sparse LU
  (SuperLU, minimum-degree ordering on ``A + A^T``), factorised once per coefficient sample.
  Other libraries may ask for it; the data then go through the host and back.
- Conjugate gradients (CuPy, torch on CUDA, every other array-API library): matrix-free,
  batched over samples, written with standard array-API operations only; the operator is
  applied by slicing. Preconditioned by the constant-coefficient Laplacian through the DST
  (condition number at most ``max a / min a`` whatever ``n``) or by Jacobi. It stops at a
  relative residual ``rtol`` per sample and raises :class:`tnkit.linalg.ConvergenceError`
  after ``maxiter`` iterations.
- DST (Poisson, Helmholtz): ``scipy.fft.dstn`` on NumPy, elsewhere built from the array-API
  FFT extension (``xp.fft.rfft``) on the odd extension of the data.

The solvers are reference solvers (data generation, validation): the direct path goes
through host NumPy and does not propagate torch gradients.
"""

from physics.pde.elliptic.darcy import Darcy2D
from physics.pde.elliptic.grid import unit_square_grid
from physics.pde.elliptic.sine_transform import Helmholtz2D, Poisson2D

__all__ = ["Darcy2D", "Helmholtz2D", "Poisson2D", "unit_square_grid"]
