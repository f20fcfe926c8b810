"""Sweep environments shared by DMRG, TDVP and TEBD.

:class:`Environments` holds the left and right blocks ``<psi| H |psi>`` of an MPS and an
MPO as a sweep moves along the chain (quimb calls the same object a moving environment);
the effective Hamiltonians of one and two sites act through it
(:func:`one_site_matvec`, :func:`two_site_matvec`, with their diagonals for Davidson's
preconditioner). :func:`split_two_site` factors an optimised or evolved two-site tensor
back into two sites with truncation, by SVD, by the reduced density matrix, or blockwise
per charge sector.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.backend import conj as _conj
from tnkit.contract import contract
from tnkit.linalg import qr, truncated_svd
from tnkit.mps.charges import BondCharges
from tnkit.mps.mpo import MPO
from tnkit.mps.mps import MPS

__all__ = [
    "Environments",
    "one_site_diagonal",
    "one_site_matvec",
    "split_two_site",
    "two_site_diagonal",
    "two_site_matvec",
]


class Environments:
    """Left/right environments ``<psi| H |psi>`` of an MPS and an MPO.

    ``left[i]`` contracts sites ``< i`` and ``right[i]`` sites ``> i``; both have
    shape ``(chi_ket, w, chi_bra)``.

    Parameters
    ----------
    h : MPO
        The operator.
    psi : MPS
        The state; only the two boundary blocks are built here (by :meth:`update_left`
        and :meth:`update_right` after).

    Examples
    --------
    With the centre at site 0 and every right block built, the one-site effective
    Hamiltonian gives the energy:

    >>> import numpy as np
    >>> from tnkit.mps import MPS, models
    >>> h = models.heisenberg(6)
    >>> psi = MPS.random(6, 2, 4, rng=0).canonicalize(0).normalize()
    >>> env = Environments(h, psi)
    >>> for i in range(5, 0, -1):
    ...     env.update_right(i)
    >>> a = psi.tensors[0]
    >>> e = float(np.vdot(a, one_site_matvec(env, 0)(a)).real)
    >>> bool(np.isclose(e, float(h.expectation(psi))))
    True
    """

    def __init__(self, h: MPO, psi: MPS) -> None:
        self.h = h
        self.psi = psi
        xp = psi.xp
        L = psi.length
        dev = psi.device
        one = xp.ones((1, 1, 1), dtype=psi.dtype, device=dev)
        self.left: list[Any] = [one] + [None] * (L - 1)
        self.right: list[Any] = [None] * (L - 1) + [one]

    def update_left(self, i: int) -> None:
        """left[i+1] from left[i] and site i (which must be left orthonormal).

        Parameters
        ----------
        i : int
            Site, ``0 <= i < L - 1``.
        """
        xp = self.psi.xp
        a = self.psi.tensors[i]
        self.left[i + 1] = contract("awb,asc,wtsx,btd->cxd", self.left[i], a, self.h.tensors[i], _conj(xp, a))

    def update_right(self, i: int) -> None:
        """right[i-1] from right[i] and site i (which must be right orthonormal).

        Parameters
        ----------
        i : int
            Site, ``0 < i < L``.
        """
        xp = self.psi.xp
        b = self.psi.tensors[i]
        self.right[i - 1] = contract("cxd,asc,wtsx,btd->awb", self.right[i], b, self.h.tensors[i], _conj(xp, b))


def two_site_matvec(env: Environments, i: int) -> Any:
    """The two-site effective Hamiltonian at sites ``i, i+1`` as a function of ``theta (a, s, p, c)``.

    Parameters
    ----------
    env : Environments
        Environments with ``left[i]`` and the right block of the last site involved built.
    i : int
        Site (the first of the pair for the two-site maps).
    """
    left, right = env.left[i], env.right[i + 1]
    w1, w2 = env.h.tensors[i], env.h.tensors[i + 1]

    def matvec(theta: Any) -> Any:
        return contract("awb,aspc,wtsv,vupx,cxd->btud", left, theta, w1, w2, right)

    return matvec


def one_site_matvec(env: Environments, i: int) -> Any:
    """The one-site effective Hamiltonian at site ``i`` as a function of a site tensor ``(a, s, c)``.

    Parameters
    ----------
    env : Environments
        Environments with ``left[i]`` and the right block of the last site involved built.
    i : int
        Site (the first of the pair for the two-site maps).
    """
    left, right, w = env.left[i], env.right[i], env.h.tensors[i]

    def matvec(a: Any) -> Any:
        return contract("awb,asc,wtsx,cxd->btd", left, a, w, right)

    return matvec


def two_site_diagonal(env: Environments, i: int) -> Any:
    """Diagonal of the two-site effective Hamiltonian at sites ``i, i+1``, shape ``(a, s, p, c)``.

    Parameters
    ----------
    env : Environments
        Environments with ``left[i]`` and the right block of the last site involved built.
    i : int
        Site (the first of the pair for the two-site maps).
    """
    return contract("awa,wssv,vppx,cxc->aspc", env.left[i], env.h.tensors[i], env.h.tensors[i + 1], env.right[i + 1])


def one_site_diagonal(env: Environments, i: int) -> Any:
    """Diagonal of the one-site effective Hamiltonian at site ``i``, shape ``(a, s, c)``.

    Parameters
    ----------
    env : Environments
        Environments with ``left[i]`` and the right block of the last site involved built.
    i : int
        Site (the first of the pair for the two-site maps).
    """
    return contract("awa,wssx,cxc->asc", env.left[i], env.h.tensors[i], env.right[i])


def _density_matrix_split(xp: Any, mat: Any, chi: int, cutoff: float, move_right: bool) -> tuple[Any, Any, float]:
    """Truncated factorisation ``mat ~ left @ right`` from the reduced density matrix.

    With ``move_right`` the left factor has orthonormal columns spanning the dominant
    eigenvectors of ``mat mat^+`` and ``right = left^+ mat``; otherwise the right
    factor has orthonormal rows and ``left = mat right^+``. No singular value is ever
    divided by, so the result is the exact orthogonal projection of ``mat`` onto the
    kept subspace. Eigenvalues are resolved to about ``eps * ||mat||^2``, i.e. singular
    values below ~1e-7 of the largest are not (they are dropped).
    """

    def adj(m: Any) -> Any:
        return backend.adjoint(xp, m)

    work = mat if move_right else adj(mat)  # factor so that the orthonormal side is on the left
    rows, cols = work.shape
    small_side = rows <= cols
    rho = work @ adj(work) if small_side else adj(work) @ work
    w, vecs = xp.linalg.eigh((rho + adj(rho)) / 2)
    w_host = backend.to_host(w)[::-1]
    top = max(float(w_host[0]), 0.0)
    eps = backend.dtype_eps(xp, mat.dtype)
    threshold = max(cutoff * cutoff, 64 * eps) * top
    keep = max(1, min(chi, int(np.count_nonzero(w_host > threshold))))
    total = float(np.sum(np.clip(w_host, 0.0, None)))
    kept = float(np.sum(np.clip(w_host[:keep], 0.0, None)))
    n = vecs.shape[1]
    # Largest eigenvalues first (eigh sorts ascending; no negative-step slicing in torch).
    chosen = xp.take(vecs, xp.asarray(np.arange(n - 1, n - keep - 1, -1), device=backend.device_of(vecs)), axis=1)
    if small_side:
        ortho = chosen
    else:
        ortho, _ = qr(work @ chosen)
    rest = adj(ortho) @ work
    if move_right:
        return ortho, rest, max(total - kept, 0.0)
    return adj(rest), adj(ortho), max(total - kept, 0.0)


def split_two_site(
    psi: MPS,
    i: int,
    theta: Any,
    chi: int | None,
    cutoff: float,
    move_right: bool,
    charges: BondCharges | None = None,
    factorization: str = "svd",
) -> float:
    """Factor theta (a, s, p, c) into sites i and i+1 with truncation (blockwise per
    charge when a sector is conserved); return the relative discarded weight.

    Parameters
    ----------
    psi : MPS
        State whose tensors ``i`` and ``i + 1`` (and centre) are replaced in place.
    i : int
        First site of the pair.
    theta : array, shape (a, s, p, c)
        Two-site tensor.
    chi : int or None
        Largest bond dimension kept; None keeps every value above ``cutoff`` (SVD only:
        the density-matrix and blockwise splits of DMRG always get a bond dimension).
    cutoff : float
        Singular-value cutoff relative to the largest value; 0 disables it.
    move_right : bool
        Put the centre on site ``i + 1`` (True) or on site ``i`` (False).
    charges : BondCharges, optional
        Conserved U(1) sectors; the split is then blockwise per charge.
    factorization : {"svd", "eigh"}, optional
        Truncated SVD (default) or the density-matrix eigendecomposition (without charges).
    """
    xp = psi.xp
    if chi is None and (factorization == "eigh" or charges is not None):
        raise ValueError("split_two_site: the eigh and blockwise splits need a bond dimension chi")
    a, s, p, c = theta.shape
    mat = xp.reshape(theta, (a * s, p * c))
    if factorization == "eigh" and charges is None:
        assert chi is not None  # checked above
        left, right, dw = _density_matrix_split(xp, mat, chi, cutoff, move_right)
        kept2 = float(xp.linalg.vector_norm(right if move_right else left)) ** 2
        scale = xp.astype(xp.asarray(1.0 / math.sqrt(kept2), device=backend.device_of(mat)), mat.dtype)
        k = left.shape[1]
        if move_right:
            psi.tensors[i] = xp.reshape(left, (a, s, k))
            psi.tensors[i + 1] = xp.reshape(right * scale, (k, p, c))
            psi.center = i + 1
        else:
            psi.tensors[i] = xp.reshape(left * scale, (a, s, k))
            psi.tensors[i + 1] = xp.reshape(right, (k, p, c))
            psi.center = i
        norm2 = kept2 + dw
        return dw / norm2 if norm2 > 0 else 0.0
    if charges is None:
        u, sv, vh, dw = truncated_svd(mat, max_rank=chi, cutoff=cutoff)
        dw = float(dw)
    else:
        assert chi is not None  # checked above
        u, sv, vh, dw = charges.split(xp, theta, i, chi, cutoff)
    kept2 = float(xp.sum(sv * sv))
    norm2 = kept2 + dw
    sv = sv / math.sqrt(kept2)  # keep the state normalised
    k = sv.shape[0]
    svc = xp.astype(sv, u.dtype)
    if move_right:
        psi.tensors[i] = xp.reshape(u, (a, s, k))
        psi.tensors[i + 1] = xp.reshape(svc[:, None] * vh, (k, p, c))
        psi.center = i + 1
    else:
        psi.tensors[i] = xp.reshape(u * svc[None, :], (a, s, k))
        psi.tensors[i + 1] = xp.reshape(vh, (k, p, c))
        psi.center = i
    return dw / norm2 if norm2 > 0 else 0.0
