"""U(1) charge bookkeeping for DMRG in a fixed symmetry sector, with dense tensors.

Every bond index of the MPS carries a definite charge: the total charge of the
sites to its left in that basis state. A two-site tensor ``theta[a, s, p, c]`` of a
state in the sector can only be nonzero where ``Q(a) + q(s) + q(p) == Q(c)``. After a
local eigensolve the tensor is projected onto that pattern (roundoff would otherwise
leak into, and be amplified towards, lower-energy sectors), and the split into two
sites is an SVD per charge block, so the new bond again has definite charges even
when singular values of different blocks are degenerate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tnkit import backend
from tnkit.linalg import truncated_svd

__all__ = ["BondCharges"]


def _key(q: np.ndarray) -> np.ndarray:
    """Charges rounded onto a fine grid, so float charges compare exactly."""
    return np.round(np.asarray(q, dtype=float) * 1e6).astype(np.int64)


class BondCharges:
    """Charges of every bond index of an MPS in a fixed sector.

    Parameters
    ----------
    site_charges : list of arrays
        Charge of each local basis state, per site.
    bond_charges : list of arrays, length L + 1
        ``bond_charges[i]`` is the charge carried by each index of the bond left of
        site ``i``; ``bond_charges[0] == [0]`` and ``bond_charges[L] == [Q_total]``.
    """

    def __init__(self, site_charges: Sequence[np.ndarray], bond_charges: Sequence[np.ndarray]) -> None:
        self.site = [_key(q) for q in site_charges]
        self.bond = [_key(q) for q in bond_charges]

    @classmethod
    def product(cls, config: Sequence[int], site_charges: Sequence[np.ndarray]) -> BondCharges:
        """Charges of a product state: every bond has one index, carrying the charge summed so far.

        Parameters
        ----------
        config : sequence of int
            Basis state of every site.
        site_charges : sequence of arrays
            Charge of each local basis state, per site.
        """
        totals = np.concatenate([[0.0], np.cumsum([site_charges[i][s] for i, s in enumerate(config)])])
        return cls(site_charges, [np.array([t]) for t in totals])

    def mask(self, i: int) -> np.ndarray:
        """Allowed pattern of ``theta[a, s, p, c]`` for sites ``i, i+1`` (host booleans).

        Parameters
        ----------
        i : int
            First site of the pair.
        """
        qa, qs, qp, qc = self.bond[i], self.site[i], self.site[i + 1], self.bond[i + 2]
        return (qa[:, None, None, None] + qs[None, :, None, None] + qp[None, None, :, None]) == qc[None, None, None, :]

    def project(self, xp: Any, theta: Any, i: int) -> Any:
        """``theta`` with the entries outside the sector (see :meth:`mask`) set to zero.

        Parameters
        ----------
        xp : namespace
            Array namespace of ``theta``.
        theta : array, shape (a, s, p, c)
            Two-site tensor of sites ``i, i+1``.
        i : int
            First site of the pair.
        """
        mask = xp.asarray(self.mask(i), device=backend.device_of(theta))
        return xp.where(mask, theta, xp.zeros_like(theta))

    def split(self, xp: Any, theta: Any, i: int, chi: int, cutoff: float) -> tuple[Any, Any, Any, Any]:
        """Blockwise truncated SVD of ``theta`` (a, s, p, c) into ``u`` (a*s, k), ``s`` (k,),
        ``vh`` (k, p*c); records the new bond's charges.

        Parameters
        ----------
        xp : namespace
            Array namespace of ``theta``.
        theta : array, shape (a, s, p, c)
            Two-site tensor of sites ``i, i+1``.
        i : int
            First site of the pair.
        chi : int
            Largest number of singular values kept over all blocks.
        cutoff : float
            Singular-value cutoff relative to the largest value.

        Returns
        -------
        u, s, vh : array
            The factors.
        discarded : float
            Discarded squared weight.
        """
        a, d1, d2, c = theta.shape
        dev = backend.device_of(theta)
        mat = xp.reshape(theta, (a * d1, d2 * c))
        row_q = (self.bond[i][:, None] + self.site[i][None, :]).reshape(-1)
        col_q = (self.bond[i + 2][None, :] - self.site[i + 1][:, None]).reshape(-1)
        blocks = []
        for q in np.unique(row_q):
            rows = np.flatnonzero(row_q == q)
            cols = np.flatnonzero(col_q == q)
            if rows.size == 0 or cols.size == 0:
                continue
            ridx = xp.asarray(rows, device=dev)
            cidx = xp.asarray(cols, device=dev)
            block = xp.take(xp.take(mat, ridx, axis=0), cidx, axis=1)
            u, s, vh, _ = truncated_svd(block)
            blocks.append((q, rows, cols, u, s, vh))
        s_all = np.concatenate([backend.to_host(b[4]) for b in blocks]) if blocks else np.zeros(0)
        order = np.argsort(-s_all, kind="stable")
        keep = len(order)
        if cutoff > 0 and keep:
            keep = max(1, int(np.count_nonzero(s_all > cutoff * s_all[order[0]])))
        keep = min(keep, chi)
        chosen = np.zeros(len(s_all), dtype=bool)
        chosen[order[:keep]] = True
        discarded = float(np.sum(s_all[~chosen] ** 2))
        # Rows (and columns) of different blocks are disjoint, so the full factors are
        # block diagonal up to a permutation: stack the blocks, then scatter by take().
        kept = []
        offset = 0
        for q, rows, cols, u, s, vh in blocks:
            n = s.shape[0]
            sel = np.flatnonzero(chosen[offset : offset + n])
            offset += n
            if sel.size:
                sidx = xp.asarray(sel, device=dev)
                kept.append((q, rows, cols, xp.take(u, sidx, axis=1), xp.take(s, sidx), xp.take(vh, sidx, axis=0)))
        k_total = sum(b[4].shape[0] for b in kept)
        row_pos = np.full(a * d1, -1)
        col_pos = np.full(d2 * c, -1)
        u_parts, vh_parts, s_parts, charges = [], [], [], []
        r_off = c_off = k_off = 0
        for q, rows, cols, u, s, vh in kept:
            k = s.shape[0]
            row_pos[rows] = np.arange(r_off, r_off + rows.size)
            col_pos[cols] = np.arange(c_off, c_off + cols.size)
            u_parts.append(
                xp.concat(
                    [
                        xp.zeros((rows.size, k_off), dtype=u.dtype, device=dev),
                        u,
                        xp.zeros((rows.size, k_total - k_off - k), dtype=u.dtype, device=dev),
                    ],
                    axis=1,
                )
            )
            vh_parts.append(xp.concat([xp.zeros((k, c_off), dtype=vh.dtype, device=dev), vh], axis=1))
            s_parts.append(s)
            charges.append(np.full(k, q))
            r_off += rows.size
            c_off += cols.size
            k_off += k
        vh_parts = [
            xp.concat([v, xp.zeros((v.shape[0], c_off - v.shape[1]), dtype=v.dtype, device=dev)], axis=1)
            for v in vh_parts
        ]
        # One zero row / column at the end stands for indices outside every kept block.
        u_stack = xp.concat(u_parts + [xp.zeros((1, k_total), dtype=theta.dtype, device=dev)], axis=0)
        vh_stack = xp.concat(
            [xp.concat(vh_parts, axis=0), xp.zeros((k_total, 1), dtype=theta.dtype, device=dev)], axis=1
        )
        row_pos[row_pos < 0] = r_off
        col_pos[col_pos < 0] = c_off
        u = xp.take(u_stack, xp.asarray(row_pos, device=dev), axis=0)
        vh = xp.take(vh_stack, xp.asarray(col_pos, device=dev), axis=1)
        s = xp.concat(s_parts)
        # Order the new bond by descending singular value (as an ordinary SVD would).
        perm = np.argsort(-backend.to_host(s), kind="stable")
        pidx = xp.asarray(perm, device=dev)
        self.bond[i + 1] = np.concatenate(charges)[perm]
        return xp.take(u, pidx, axis=1), xp.take(s, pidx), xp.take(vh, pidx, axis=0), discarded
