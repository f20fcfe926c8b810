"""Matrix product operators.

An :class:`MPO` is a list of rank-4 tensors ``W[i]`` of shape
``(w_left, d_out, d_in, w_right)`` with boundary bonds of size 1:

    H[t, s] = W[0][:, t_0, s_0, :] @ W[1][:, t_1, s_1, :] @ ...

:meth:`MPO.from_opsum` builds one from a sum of local terms of any range with a
finite-state automaton: bond states are the partially placed operator strings,
shared between terms with the same prefix, so nearest-neighbour models get the
textbook bond dimensions (Heisenberg 5, transverse-field Ising 3). An optional
lossless SVD pass then removes linearly dependent states, which finds the minimal
bond dimension also for couplings with structure the automaton cannot see
(exponentially decaying interactions written out term by term collapse to 3).

References
----------
.. [CW] G. M. Crosswhite and D. Bacon, "Finite automata for caching in matrix
   product algorithms", Phys. Rev. A 78, 012356 (2008).
.. [HMS] C. Hubig, I. P. McCulloch and U. Schollwöck, "Generic construction of
   efficient matrix product operators", Phys. Rev. B 95, 035129 (2017).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tnkit.backend import conj as _conj
from tnkit.backend import namespace
from tnkit.contract import contract
from tnkit.decompositions.chain import Chain
from tnkit.io import register_type
from tnkit.mps.automaton import is_hermitian_chain, opsum_tensors
from tnkit.mps.fit import _check_operator_state, fit_mps
from tnkit.mps.mps import MPS, _target
from tnkit.mps.opsum import OpSum

__all__ = ["MPO"]


class MPO(Chain):
    """A matrix product operator.

    Parameters
    ----------
    tensors : sequence of arrays, each (w_left, d_out, d_in, w_right)
    opsum : OpSum, optional
        The local terms it was built from (kept for exact references and TEBD).

    Examples
    --------
    >>> import tnkit
    >>> h = tnkit.mps.models.heisenberg(6)
    >>> h.bond_dims
    [4, 5, 5, 5, 4]
    """

    def __init__(self, tensors: Sequence[Any], *, opsum: OpSum | None = None) -> None:
        super().__init__(tensors, "MPO", legs=2, unit="site")
        for i, w in enumerate(self.cores):
            if w.shape[1] != w.shape[2]:
                raise ValueError(
                    f"MPO: site {i} maps dimension {w.shape[2]} to {w.shape[1]}; only square sites supported"
                )
        self.opsum = opsum

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_opsum(
        cls,
        opsum: OpSum,
        *,
        like: Any = None,
        dtype: str | None = None,
        compress: bool = True,
        tol: float = 1e-13,
    ) -> MPO:
        """MPO of a sum of local terms (finite-state automaton, then lossless compression).

        Parameters
        ----------
        opsum : OpSum
        like : array, optional
            Library/device of the tensors (default NumPy).
        dtype : str, optional
            ``"float64"``, ``"complex128"``, ...; default float64, or complex128 when
            any coefficient or operator is complex.
        compress : bool, optional
            Remove linearly dependent bond states by SVD (threshold ``tol`` relative
            to the largest singular value of each bond); kept only when it lowers a
            bond dimension, otherwise the automaton's exact sparse tensors are kept.
            Default True.
        tol : float, optional
            Relative threshold of the compression; default ``1e-13``.
        """
        tensors = opsum_tensors(opsum, compress=compress, tol=tol)
        xp, device = _target(like)
        name = dtype or ("complex128" if opsum.is_complex else "float64")
        if np.dtype(name).kind != "c" and any(np.iscomplexobj(t) and np.abs(t.imag).max() > 0 for t in tensors):
            raise ValueError(f"MPO.from_opsum: complex terms cannot be stored as {name}")
        dt = getattr(xp, name)
        host_dt = np.dtype(name)
        out = [
            xp.asarray(
                np.ascontiguousarray(t.real if host_dt.kind != "c" else t).astype(host_dt), dtype=dt, device=device
            )
            for t in tensors
        ]
        return cls(out, opsum=opsum)

    def to(self, like: Any) -> MPO:
        """The same operator with ``like``'s library, device and dtype.

        Parameters
        ----------
        like : array
            Array whose library, device and dtype the tensors take.
        """
        return MPO(self._tensors_like(like), opsum=self.opsum)

    # ------------------------------------------------------------------ properties

    @property
    def local_dims(self) -> list[int]:
        """Physical dimension of every site."""
        return [int(w.shape[1]) for w in self.tensors]

    def __repr__(self) -> str:
        return f"MPO(length={self.length}, bond_dims<= {max(self.bond_dims, default=1)}, dtype={self.dtype})"

    # ------------------------------------------------------------------ dense and algebra

    def to_dense(self) -> Any:
        """Dense matrix, shape ``(D, D)`` with ``D = prod(d_i)`` (small chains only)."""
        xp = self.xp
        total = math.prod(self.local_dims)
        if total > 1 << 14:
            raise ValueError(f"MPO.to_dense: dimension {total} too large for a dense matrix")
        out = xp.reshape(self.tensors[0], self.tensors[0].shape[1:])  # (t, s, w)
        for w in self.tensors[1:]:
            t0, s0, _ = out.shape
            out = contract("tsw,wabx->tasbx", out, w)
            out = xp.reshape(out, (t0 * w.shape[1], s0 * w.shape[2], w.shape[3]))
        return xp.reshape(out, (total, total))

    def adjoint(self) -> MPO:
        """The Hermitian conjugate (each site tensor conjugated with out/in swapped)."""
        xp = self.xp
        return MPO([_conj(xp, xp.permute_dims(w, (0, 2, 1, 3))) for w in self.tensors])

    def is_hermitian(self, *, rtol: float = 1e-10) -> bool:
        """Whether ``||H - H^dagger||_F^2 <= rtol * ||H||_F^2``, from two trace contractions.

        Parameters
        ----------
        rtol : float, optional
            Relative tolerance; default ``1e-10``.

        Notes
        -----
        Uses ``||H - H^+||^2 = 2 Tr(H^+ H) - 2 Re Tr(H H)``, each computed by a
        transfer-matrix sweep normalised per site (no dense matrix); scale-free (see
        :func:`~tnkit.mps.automaton.is_hermitian_chain`). ``ValueError`` for NaN or Inf entries.
        """
        return is_hermitian_chain(self.tensors, rtol=rtol, fname="MPO.is_hermitian")

    def apply(
        self,
        psi: MPS,
        *,
        max_bond: int | None = None,
        cutoff: float = 0.0,
        method: str = "svd",
        sweeps: int = 4,
    ) -> MPS:
        """``H |psi>`` as an MPS, compressed by SVD or by variational fitting.

        Parameters
        ----------
        psi : MPS
            State with the operator's local dimensions.
        max_bond : int, optional
            Largest bond dimension of the result; default no cap.
        cutoff : float, optional
            Relative singular-value cutoff of the compression; default 0 (none).
        method : {"svd", "fit"}, optional
            ``"svd"`` (default) forms the exact product (bond ``chi * w``) and truncates it
            from a canonical form; ``"fit"`` starts from that SVD result at ``max_bond``
            and refines it variationally, which is what to use when the exact product
            would be too large to hold.
        sweeps : int, optional
            Variational sweeps of ``method="fit"``; default 4.
        """
        _check_operator_state(self, psi)
        xp = namespace(self.tensors[0], psi.tensors[0])
        dtype = xp.result_type(self.dtype, psi.dtype)
        tensors = []
        for w, a in zip(self.tensors, psi.tensors):
            t = contract("wtsx,asb->awtbx", xp.astype(w, dtype), xp.astype(a, dtype))
            al, wl, d, ar, wr = t.shape
            tensors.append(xp.reshape(t, (al * wl, d, ar * wr)))
        out = MPS(tensors)
        if method == "svd":
            out.compress(max_bond, cutoff)
            return out
        if method == "fit":
            guess = out.copy()
            guess.compress(max_bond, cutoff)
            fit_mps(guess, (self, psi), sweeps=sweeps)
            return guess
        raise ValueError(f"MPO.apply: unknown method {method!r}; use 'svd' or 'fit'")

    def expectation(self, psi: MPS) -> Any:
        """``<psi|H|psi> / <psi|psi>`` as a 0-d array.

        Parameters
        ----------
        psi : MPS
            State with the operator's local dimensions.
        """
        _check_operator_state(self, psi)
        xp = psi.xp
        dtype = xp.result_type(self.dtype, psi.dtype)
        env = xp.ones((1, 1, 1), dtype=dtype, device=psi.device)
        for w, a in zip(self.tensors, psi.tensors):
            a = xp.astype(a, dtype)
            env = contract("awb,asc,wtsx,btd->cxd", env, a, xp.astype(w, dtype), _conj(xp, a))
        return env[0, 0, 0] / xp.astype(psi.overlap(psi), dtype)

    def variance(self, psi: MPS) -> Any:
        """``<H^2> - <H>^2`` (normalised) from a double-layer contraction.

        Parameters
        ----------
        psi : MPS
            State with the operator's local dimensions.
        """
        h2 = self.squared_norm_of(psi) / psi.overlap(psi)
        e = self.expectation(psi)
        xp = psi.xp
        return xp.real(h2) - xp.real(e) ** 2

    def squared_norm_of(self, psi: MPS) -> Any:
        """``<psi|H^+ H|psi>`` (unnormalised) as a 0-d array.

        Parameters
        ----------
        psi : MPS
            State with the operator's local dimensions.
        """
        _check_operator_state(self, psi)
        xp = psi.xp
        dtype = xp.result_type(self.dtype, psi.dtype)
        env = xp.ones((1, 1, 1, 1), dtype=dtype, device=psi.device)
        for w, a in zip(self.tensors, psi.tensors):
            a = xp.astype(a, dtype)
            w = xp.astype(w, dtype)
            env = contract("auvb,asc,utsx,vtry,brd->cxyd", env, a, w, _conj(xp, w), _conj(xp, a))
        return env[0, 0, 0, 0]


# ---------------------------------------------------------------------- automaton


def _mpo_to_dict(h: MPO) -> dict[str, Any]:
    return {"tensors": {f"{i:05d}": w for i, w in enumerate(h.tensors)}}


def _mpo_from_dict(data: dict[str, Any]) -> MPO:
    return MPO([data["tensors"][k] for k in sorted(data["tensors"])])


register_type(MPO, "mpo", _mpo_to_dict, _mpo_from_dict, version=1)
