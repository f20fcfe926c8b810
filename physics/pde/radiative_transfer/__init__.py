r"""1D radiative transfer with an uncertain scattering coefficient, as a linear tensor ODE.

The test problem of §5.2 of G. Ceruti, J. Kusch, Ch. Lubich, D. Sulz, *A parallel Basis
Update and Galerkin Integrator for Tree Tensor Networks*, arXiv:2412.00858
(https://arxiv.org/abs/2412.00858): the linear kinetic (linear Boltzmann) equation in slab
geometry with isotropic scattering,

.. math::
    \partial_t \psi(t, x, \mu; \xi, \eta) + \mu\, \partial_x \psi
        = \sigma_s(\xi, \eta) \Big(\tfrac12 \int_{-1}^{1} \psi \, d\mu' - \psi\Big)
          - \sigma_a \psi,
    \qquad \sigma_s(\xi, \eta) = 5 + 4\xi + \eta,

on :math:`t \in [0, 2]`, discretised by :math:`P_N` moments in the direction cosine
:math:`\mu`, a finite-volume scheme in :math:`x` and stochastic collocation in the random
parameters :math:`(\xi, \eta)`. The result is ``dY/dt = A Y`` for a 4-mode tensor

    ``Y[j, l, i, k] = u_l(t, x_j; xi_i, eta_k)``  (mode order: x, moment, xi, eta)

with ``A`` a :class:`tnkit.tree.kron.KronOperator`. The natural binary tree for the tree tensor
network is ``((x, moment), (xi, eta))``: physical space/angle in one subtree, the random
parameters in the other.

Discretisation
--------------
*Angle* (:math:`P_N`, ``n_moments = N + 1``): :math:`\psi \approx \sum_{l=0}^{N} u_l
\tilde P_l(\mu)` with the orthonormal Legendre polynomials :math:`\tilde P_l = \sqrt{(2l+1)/2}
\,P_l`. The transport matrix :math:`A_{kl} = \int_{-1}^1 \mu \tilde P_k \tilde P_l \, d\mu` is
symmetric tridiagonal with :math:`A_{l, l+1} = (l+1)/\sqrt{(2l+1)(2l+3)}`; its eigenvalues are
the ``n_moments`` Gauss-Legendre nodes (the :math:`P_N` wave speeds, all in ``(-1, 1)``).
Isotropic scattering keeps the zeroth moment and removes the others, so the collision term is
:math:`-\sigma_s S u` with :math:`S = I - e_0 e_0^T`. The scalar flux is
:math:`\phi = \int \psi\, d\mu = \sqrt2\, u_0`.

*Space*: ``nx`` cells of width ``dx`` on ``domain``; cell averages; the Roe (upwind in the
characteristic variables) flux :math:`F_{j+1/2} = A (u_j + u_{j+1})/2 - |A| (u_{j+1} - u_j)/2`
with :math:`|A| = Q |\Lambda| Q^T`. Per cell this reads

.. math::
    \dot u_j = -A \frac{u_{j+1} - u_{j-1}}{2\,dx} + |A| \frac{u_{j+1} - 2 u_j + u_{j-1}}{2\,dx},

i.e. the operator terms ``-D_x (x) A`` (central difference) plus ``L_x (x) |A|``
(stabilisation, ``L_x = tridiag(1, -2, 1) / (2 dx)``), the form used for :math:`P_N` in the
dynamical low-rank papers of Kusch, Ceruti, Einkemmer and co-authors. ``stabilization="rusanov"``
replaces ``|A|`` by the scalar ``max|eig(A)| * I`` (local Lax-Friedrichs), which keeps the
moment factor tridiagonal.

*Random parameters*: Gauss-Legendre collocation with ``n_xi`` and ``n_eta`` nodes;
the weights are normalised to probability weights (they sum to one), for
:math:`\xi, \eta \sim U[-1, 1]` independent. :math:`\sigma_s` is diagonal at the nodes, so it
contributes three Kronecker terms, ``-5 S``, ``-4 S (x) diag(xi)`` and ``-S (x) diag(eta)``.

Operator terms (``sigma_a = 0``): transport, stabilisation, three scattering terms: five
terms; ``sigma_a > 0`` adds ``-sigma_a * I`` (six).

Conservation and stability
--------------------------
The semi-discrete operator is dissipative (``A + A^T`` is negative semidefinite), so the
Euclidean norm of ``Y`` never grows. With ``boundary="periodic"`` and ``sigma_a = 0`` the
discrete mass (:meth:`RadiativeTransfer1D.mass`: scalar flux integrated over ``x`` and averaged
over the collocation nodes with their weights) is conserved exactly, node by node; with
``sigma_a > 0`` it decays exactly like ``exp(-sigma_a t)``. With ``boundary="vacuum"`` (zero
ghost cells: no inflow, the Roe flux lets the outgoing characteristics leave) mass is lost only
through the boundary, which for the default domain is negligible before ``t_end``.

Setup: from the paper and our choices
-------------------------------------
From the paper (as given in the task brief; the full text of §5.2 was not retrievable with the
tools at hand, only the abstract at https://ar5iv.labs.arxiv.org/html/2412.00858):
:math:`\sigma_s = 5 + 4\xi + \eta`, ``t_end = 2``, :math:`P_N` in angle, stochastic
collocation in :math:`(\xi, \eta)`.

Our choices (standard values, documented here; change them through the arguments):

- :math:`\xi, \eta \sim U[-1, 1]` independent (the range on which
  :math:`\sigma_s = 5 + 4\xi + \eta \ge 0`, touching zero at the corner ``(-1, -1)``).
- ``sigma_a = 0`` (pure scattering, as in the plane-source benchmark).
- Initial condition: an isotropic plane source, the scalar flux a normalised Gaussian of
  standard deviation ``source_width = 0.03`` centred in the domain (the width of the Kusch et
  al. plane-source tests), taken as exact cell averages, so the initial mass is 1.
  :math:`\psi_0 = \phi_0 / 2`, i.e. ``u_0 = phi_0 / sqrt(2)`` and ``u_l = 0`` for ``l >= 1``.
- Domain ``[-3, 3]`` (wave speeds are below 1, so at ``t_end = 2`` the solution has not
  reached the boundary), ``boundary="periodic"`` (exact mass conservation),
  ``stabilization="roe"``.
- Sizes: :data:`DEFAULT_SIZES` ``nx=600, n_moments=30, n_xi=n_eta=10`` (1.8 million unknowns;
  the full reference at ``t_end`` takes about 15 s on two cores with the default Fourier
  method, about 6 minutes with ``method="blocks"``) and the tiny
  :data:`QUICK_SIZES` ``nx=32, n_moments=4, n_xi=n_eta=3`` (1152 unknowns, a reference in
  milliseconds).

Examples
--------
>>> from physics.pde.radiative_transfer import radiative_transfer_problem
>>> prob = radiative_transfer_problem(quick=True)
>>> prob.dims, f"{prob.mass(prob.reference(0.5)):.12f}"  # mass is conserved
((32, 4, 3, 3), '1.000000000000')
"""

from physics.pde.radiative_transfer.legendre import legendre_transport_matrix
from physics.pde.radiative_transfer.problem import (
    DEFAULT_SIZES,
    QUICK_SIZES,
    RadiativeTransfer1D,
    radiative_transfer_problem,
)

__all__ = [
    "DEFAULT_SIZES",
    "QUICK_SIZES",
    "RadiativeTransfer1D",
    "legendre_transport_matrix",
    "radiative_transfer_problem",
]
