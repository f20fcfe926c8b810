"""Variational fitting of an MPS to a target state or to an MPO applied to a state.

One-site alternating least squares: with the fitted state in mixed canonical form,
the optimal centre tensor is the projection of the target onto the environment,
so each update is a contraction, not a solve.

References
----------
.. [VMC] F. Verstraete, V. Murg and J. I. Cirac, "Matrix product states, projected
   entangled pair states, and variational renormalization group methods for quantum
   spin systems", Adv. Phys. 57, 143 (2008).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tnkit.backend import conj as _conj
from tnkit.contract import contract
from tnkit.decompositions.chain import Chain
from tnkit.mps.mps import MPS, _check_compatible

if TYPE_CHECKING:
    from tnkit.mps.mpo import MPO

__all__ = ["fit_mps"]


def fit_mps(psi: MPS, target: Any, *, sweeps: int = 4, tol: float = 1e-10) -> float:
    """Fit ``psi`` (in place, bond dimensions fixed) to ``target``.

    Parameters
    ----------
    psi : MPS
        Initial guess; its bond dimensions are kept.
    target : MPS or (MPO, MPS)
        The state to approximate, or the pair ``(H, phi)`` meaning ``H |phi>``.
    sweeps : int
        Maximum number of back-and-forth sweeps.
    tol : float
        Stop when the fidelity changes by less than this over a sweep.

    Returns
    -------
    float
        Fidelity ``|<psi|target>|^2 / (<psi|psi> <target|target>)`` after fitting.

    Examples
    --------
    >>> from tnkit.mps.mps import MPS
    >>> phi = MPS.random(8, 2, 6, rng=1)
    >>> guess = MPS.random(8, 2, 6, rng=2)
    >>> round(fit_mps(guess, phi, sweeps=6), 8)
    1.0
    """
    if isinstance(target, MPS):
        op, phi = None, target
        _check_compatible(psi, phi)
        target_norm2 = float(phi.xp.real(phi.overlap(phi)))
    elif (
        isinstance(target, tuple)
        and len(target) == 2
        and isinstance(target[0], Chain)
        and target[0].cores[0].ndim == 4  # an operator chain (MPO)
        and isinstance(target[1], MPS)
    ):
        op, phi = target
        _check_compatible(psi, phi)
        _check_operator_state(op, phi)
        target_norm2 = float(phi.xp.real(op.squared_norm_of(phi)))
    else:
        raise TypeError("fit_mps: target must be an MPS or an (MPO, MPS) pair")
    if target_norm2 == 0.0:
        raise ValueError("fit_mps: the target has zero norm")
    xp = psi.xp
    L = psi.length
    dtype = xp.result_type(psi.dtype, phi.dtype, *(() if op is None else (op.dtype,)))
    psi.tensors = [xp.astype(t, dtype) for t in psi.tensors]
    phis = [xp.astype(t, dtype) for t in phi.tensors]
    ws = None if op is None else [xp.astype(w, dtype) for w in op.tensors]
    psi.canonicalize(0)
    one = xp.ones((1, 1) if ws is None else (1, 1, 1), dtype=dtype, device=psi.device)
    left: list[Any] = [one] + [None] * (L - 1)
    right: list[Any] = [None] * (L - 1) + [one]

    def grow_left(i: int) -> None:
        c = _conj(xp, psi.tensors[i])
        if ws is None:
            left[i + 1] = contract("ab,asc,bsd->cd", left[i], phis[i], c)
        else:
            left[i + 1] = contract("awb,asc,wtsx,btd->cxd", left[i], phis[i], ws[i], c)

    def grow_right(i: int) -> None:
        c = _conj(xp, psi.tensors[i])
        if ws is None:
            right[i - 1] = contract("cd,asc,bsd->ab", right[i], phis[i], c)
        else:
            right[i - 1] = contract("cxd,asc,wtsx,btd->awb", right[i], phis[i], ws[i], c)

    def local(i: int) -> Any:
        if ws is None:
            return contract("ab,asc,cd->bsd", left[i], phis[i], right[i])
        return contract("awb,asc,wtsx,cxd->btd", left[i], phis[i], ws[i], right[i])

    for i in range(L - 1, 0, -1):
        grow_right(i)
    fidelity = 0.0
    for _ in range(sweeps):
        previous = fidelity
        for i in range(L):
            psi.tensors[i] = local(i)
            psi.center = i
            if i < L - 1:
                psi._move_right(i)
                psi.center = i + 1
                grow_left(i)
        for i in range(L - 1, -1, -1):
            psi.tensors[i] = local(i)
            psi.center = i
            if i > 0:
                psi._move_left(i)
                psi.center = i - 1
                grow_right(i)
        # At the optimum <psi|target> = ||psi||^2 (psi is the projection of the target).
        norm2 = float(xp.real(contract("asb,asb->", _conj(xp, psi.tensors[0]), psi.tensors[0])))
        fidelity = norm2 / target_norm2
        if abs(fidelity - previous) < tol:
            break
    return fidelity


def _check_operator_state(h: MPO, psi: MPS) -> None:
    if h.length != psi.length:
        raise ValueError(f"MPO has {h.length} sites but the MPS has {psi.length}")
    for i, (dh, dp) in enumerate(zip(h.local_dims, psi.local_dims)):
        if dh != dp:
            raise ValueError(f"physical dimension mismatch at site {i}: MPO has {dh}, MPS has {dp}")
