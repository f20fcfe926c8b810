"""Products of whole functions on the sphere: the shared machinery and the S² grid backend.

With the ``"degree"`` weighting a tensor product is the product of two functions on the
sphere, projected back onto the output degrees::

    f1[z, u] = sum_s a[s, u] sum_m x1[z, u, s, m] Y_{l_s, m}
    f2[z, v] = sum_t b[t, v] sum_m x2[z, v, t, m] Y_{l_t, m}
    out[z, u or w, o, k] = alpha_o sum_{v (, u)} c[o, u, v (, w)] (1/4π) ∫ f1[z, u] f2[z, v] Y_{l_o, k} dΩ

(component-normalised harmonics). :class:`SphereProductBackend` holds what every such
algorithm shares: the refusal rules, the gather of the flat e3nn inputs into a coefficient
array ``(2 (lmax + 1), n_slots, channels * Z)`` ordered by ``(|m|, cos/sin, slot)``, the
``a``/``b`` scaling, the ``c`` contraction and the scatter back to e3nn's flat layout.
Subclasses supply the product itself, from two coefficient arrays to the projections.

:class:`S2GridBackend` evaluates both functions on an exact product grid (Gauss–Legendre in
``cos(theta)`` times uniform azimuths), multiplies pointwise and integrates back. Both
transforms are separable: per ``|m|`` a small Legendre matrix over the ``theta`` nodes
(one batched matmul), then a dense ``cos``/``sin`` matrix over the azimuths (one matmul).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from physics.equivariant._backends import Backend, edge_harmonics
from physics.equivariant._products import Irreps, ProductPlan
from physics.equivariant._spherical import spherical_harmonics

__all__ = ["S2GridBackend", "SphereGrid", "SphereProductBackend", "legendre_factors"]


def legendre_factors(lmax: int, theta: np.ndarray) -> np.ndarray:
    """``P[l, k, j]``: the ``theta`` part of the component-normalised harmonics at ``theta[j]``.

    ``Y_{l, m}(theta, phi) = P[l, |m|](theta) * trig_m(phi)`` with ``trig_m = cos(m phi)``
    for ``m > 0``, ``1`` for ``m = 0`` and ``sin(|m| phi)`` for ``m < 0`` (``theta`` from the
    ``y`` axis, ``phi`` from ``z`` towards ``x``, e3nn's frame). Evaluated as the harmonics at
    ``(0, cos theta, sin theta)``, so for ``theta`` in ``(π, 2π)`` it is the trigonometric
    polynomial's continuation (``sin theta`` keeps its sign). Zero where ``k > l``.

    Parameters
    ----------
    lmax : int
        Highest degree.
    theta : numpy.ndarray, shape (n,)
        Polar angles from the ``y`` axis.

    Returns
    -------
    numpy.ndarray, shape (lmax + 1, lmax + 1, n), float64

    Examples
    --------
    >>> P = legendre_factors(2, np.array([0.0]))   # at the pole only m = 0 survives: sqrt(2l + 1)
    >>> np.round(P[:, :, 0], 12)
    array([[1.        , 0.        , 0.        ],
           [1.73205081, 0.        , 0.        ],
           [2.23606798, 0.        , 0.        ]])
    """
    t = torch.as_tensor(theta, dtype=torch.float64)
    points = torch.stack([torch.zeros_like(t), torch.cos(t), torch.sin(t)], dim=-1)
    out = np.zeros((lmax + 1, lmax + 1, len(theta)))
    for d in range(lmax + 1):
        Y = spherical_harmonics(d, points).numpy()  # (n, 2d + 1), m = -d..d
        out[d, : d + 1] = Y[:, d:].T
    return out


def _uniform_multiplicity(irreps: Irreps) -> int:
    return irreps[0][0] if len(irreps) else 0


class SphereProductBackend(Backend):
    """Base class of the backends that multiply whole functions on the sphere (``"degree"`` weighting).

    Coefficients travel as ``(2 (lmax + 1), n_slots, N)`` arrays: row ``2k`` holds
    ``m = +k`` (the ``cos`` part; ``m = 0`` for ``k = 0``), row ``2k + 1`` holds ``m = -k``
    (the ``sin`` part; a dummy for ``k = 0``), ``N`` runs over ``(channel, z)``. Entries with
    ``k > l_slot`` and the dummy row are gathered from an arbitrary element and must be
    multiplied by zero in the subclass's first table; output rows for ``k > l_o`` (and for
    output slots no path reaches) must come out exactly zero.

    Subclasses implement :meth:`product_tables` and :meth:`product`.
    """

    @classmethod
    def refusal(cls, plan: ProductPlan) -> str | None:
        if plan.weighting != "degree":
            return (
                "products of whole functions cannot weight paths separately; "
                "use weighting='degree' or backend 'dense'/'so2'"
            )
        for name, irreps in (
            ("irreps_in1", plan.irreps_in1),
            ("irreps_in2", plan.irreps_in2),
            ("irreps_out", plan.irreps_out),
        ):
            degrees = [ir.l for _, ir in irreps]
            repeated = sorted({d for d in degrees if degrees.count(d) > 1})
            if repeated:
                d = repeated[0]
                return f"degree {d} appears in two slots of {name} ({irreps}); merge them into one slot per degree"
            if len({mul for mul, _ in irreps}) > 1:
                return f"{name} ({irreps}) mixes multiplicities; give every slot the same multiplicity"
        expected = {
            (s, t, o)
            for s, (_, r1) in enumerate(plan.irreps_in1)
            for t, (_, r2) in enumerate(plan.irreps_in2)
            for o, (_, ro) in enumerate(plan.irreps_out)
            if abs(r1.l - r2.l) <= ro.l <= r1.l + r2.l and (r1.l + r2.l + ro.l) % 2 == 0
        }
        given = [(p.i1, p.i2, p.i_out) for p in plan.paths]
        for p in plan.paths:
            if p.odd:
                return (
                    f"path {p.i1}:{plan.irreps_in1[p.i1][1]} x {p.i2}:{plan.irreps_in2[p.i2][1]} -> "
                    f"{p.i_out}:{plan.irreps_out[p.i_out][1]} has odd l1 + l2 + l3, which no product of functions "
                    "on the sphere has; drop odd paths or use backend 'dense'/'so2'"
                )
        if len(set(given)) != len(given):
            return "a path is listed twice; list each coupling once"
        missing = sorted(expected - set(given))
        if missing:
            s, t, o = missing[0]
            return (
                f"the product of functions also couples {s}:{plan.irreps_in1[s][1]} x {t}:{plan.irreps_in2[t][1]} -> "
                f"{o}:{plan.irreps_out[o][1]}, which the plan lacks (parity, multiplicity or instructions exclude it); "
                "choose irreps that allow every even coupling or use backend 'dense'"
            )
        for o in range(len(plan.irreps_out)):
            alphas = [p.alpha for p in plan.paths if p.i_out == o]
            if alphas and max(alphas) - min(alphas) > 1e-12 * max(alphas):
                return (
                    f"paths into output slot {o} have different normalisations {sorted(set(alphas))}; "
                    "use path_normalization='element' and no per-path weights"
                )
        return None

    # --- tables -------------------------------------------------------------------------

    @staticmethod
    def _gather_index(irreps: Irreps, lmax: int) -> torch.Tensor:
        """Flat e3nn column of each ``(k, cos/sin, slot, channel)``; 0 where there is none."""
        mul = _uniform_multiplicity(irreps)
        index = torch.zeros((lmax + 1, 2, max(len(irreps), 1), max(mul, 1)), dtype=torch.long)
        for s, ((_, ir), sl) in enumerate(zip(irreps, irreps.slices())):
            for k in range(ir.l + 1):
                for c, m in ((0, k), (1, -k)):
                    if k == 0 and c == 1:
                        continue
                    index[k, c, s, :] = sl.start + torch.arange(mul) * ir.dim + ir.l + m
        return index

    def build_tables(self, dtype: torch.dtype, device: torch.device) -> dict[str, Any]:
        plan = self.plan
        in1, in2, out = plan.irreps_in1, plan.irreps_in2, plan.irreps_out
        reached = sorted({p.i_out for p in plan.paths})
        l1, l2 = max(in1.lmax, 0), max(in2.lmax, 0)
        lo = max((out[o][1].l for o in reached), default=0)
        lo_all = max(out.lmax, 0)
        W = _uniform_multiplicity(out)
        # where each flat output column is read from the (k, c, slot, w) array
        out_index = torch.zeros(out.dim, dtype=torch.long)
        n_out = max(len(out), 1)
        for o, ((mul, ir), sl) in enumerate(zip(out, out.slices())):
            for w in range(mul):
                for i, m in enumerate(range(-ir.l, ir.l + 1)):
                    k, c = abs(m), (0 if m >= 0 else 1)
                    out_index[sl.start + w * ir.dim + i] = ((k * 2 + c) * n_out + o) * W + w
        alpha = torch.zeros(n_out, dtype=torch.float64)
        for p in plan.paths:
            alpha[p.i_out] = p.alpha
        tables = {
            "index1": self._gather_index(in1, l1).reshape(-1).to(device),
            "index2": self._gather_index(in2, l2).reshape(-1).to(device),
            "out_index": out_index.to(device),
            "alpha": alpha.to(dtype=dtype, device=device),
            "shape1": (2 * (l1 + 1), max(len(in1), 1), _uniform_multiplicity(in1)),
            "shape2": (2 * (l2 + 1), max(len(in2), 1), _uniform_multiplicity(in2)),
            "shape_out": (2 * (lo_all + 1), n_out, W),
        }
        valid_out = np.zeros((lo_all + 1, 2, n_out))
        for o in reached:
            d = out[o][1].l
            valid_out[: d + 1, 0, o] = 1.0
            valid_out[1 : d + 1, 1, o] = 1.0
        tables.update(self.product_tables((in1, l1), (in2, l2), (out, lo_all, lo, valid_out), dtype, device))
        return tables

    def product_tables(
        self,
        in1: tuple[Irreps, int],
        in2: tuple[Irreps, int],
        out: tuple[Irreps, int, int, np.ndarray],
        dtype: torch.dtype,
        device: torch.device,
    ) -> dict[str, Any]:
        """The subclass's tables.

        ``in1``, ``in2`` are ``(irreps, lmax)``; ``out`` is ``(irreps, lmax of all slots, lmax of
        the slots some path reaches, valid)`` with ``valid[k, c, slot]`` one where the output
        coefficient exists and some path reaches the slot, zero elsewhere.
        """
        raise NotImplementedError

    def product(
        self, X1: torch.Tensor, X2: torch.Tensor, U: int, V: int, Z: int, tables: dict[str, Any]
    ) -> torch.Tensor:
        """Projections ``(2 (lo_all + 1), n_out, U * V * Z)`` of the products of ``X1 (2 (l1 + 1), n1, U * Z)``
        and ``X2 (2 (l2 + 1), n2, V * Z)`` (``N`` ordered ``(u, v, z)``)."""
        raise NotImplementedError

    # --- forward ------------------------------------------------------------------------

    def __call__(
        self, x1: torch.Tensor, x2: torch.Tensor | None, weights: torch.Tensor, vectors: torch.Tensor | None
    ) -> torch.Tensor:
        plan = self.plan
        if x2 is None:
            assert vectors is not None
            x2 = edge_harmonics(plan.irreps_in2, vectors)
        T = self.tables(x1.dtype, x1.device)
        Z, B = x1.shape[0], weights.shape[0]
        M1, S1, U = T["shape1"]
        M2, S2, V = T["shape2"]
        Mo, So, W = T["shape_out"]
        sa, sb, sc = plan.degree_layout
        a = weights[:, sa].reshape(B, S1, U).permute(1, 2, 0)  # (S1, U, B): broadcasts over z
        b = weights[:, sb].reshape(B, S2, V).permute(1, 2, 0)
        X1 = (x1.t()[T["index1"]].reshape(M1, S1, U, Z) * a).reshape(M1, S1, U * Z)
        X2 = (x2.t()[T["index2"]].reshape(M2, S2, V, Z) * b).reshape(M2, S2, V * Z)
        R = self.product(X1, X2, U, V, Z, T).reshape(Mo, So, U, V, Z)
        alpha = T["alpha"]
        if plan.mode == "uvu":
            c = (weights[:, sc].reshape(B, So, U, V) * alpha[:, None, None]).permute(1, 2, 3, 0)  # (So, U, V, B)
            Y = R[:, :, :, 0, :] * c[:, :, 0, :] if V == 1 else (R * c).sum(dim=3)
        else:
            c = weights[:, sc].reshape(B, So, U, V, W) * alpha[:, None, None, None]
            if B == 1:
                Y = torch.einsum("mouvz,ouvw->mowz", R, c[0])
            else:
                Y = torch.einsum("mouvz,zouvw->mowz", R, c)
        return Y.reshape(Mo * So * W, Z)[T["out_index"]].t().contiguous()


class S2GridBackend(SphereProductBackend):
    """The product on an exact sphere grid: to values, multiply pointwise, integrate back.

    The grid is :func:`~physics.equivariant.sphere_grid`'s (Gauss–Legendre in
    ``cos(theta)`` times ``l1 + l2 + lo + 1`` uniform azimuths, ``lo`` the highest reached
    output degree), exact for every integrand ``f1 f2 Y_lo``, so the result equals the
    Clebsch–Gordan contraction with Gaunt-factored weights to rounding. Each transform is
    a batched matmul over ``|m|`` with the Legendre factors at the ``theta`` nodes, then one
    matmul with the ``cos``/``sin`` azimuth matrix: ``O(L^3)`` per function instead of the
    ``O(L^4)`` of a dense ``(coefficients x points)`` matrix. Needs every even coupling
    between the slots and no odd one (see :meth:`refusal`).
    """

    name = "s2grid"

    def product_tables(
        self,
        in1: tuple[Irreps, int],
        in2: tuple[Irreps, int],
        out: tuple[Irreps, int, int, np.ndarray],
        dtype: torch.dtype,
        device: torch.device,
    ) -> dict[str, Any]:
        (irreps1, l1), (irreps2, l2), (irreps_out, lo_all, lo, valid_out) = in1, in2, out
        degree = l1 + l2 + lo
        n_theta, n_phi = degree // 2 + 1, degree + 1
        cos_t, w_t = np.polynomial.legendre.leggauss(n_theta)
        theta = np.arccos(cos_t)
        phi = 2.0 * np.pi * np.arange(n_phi) / n_phi
        lmax = max(l1, l2, lo_all)
        P = legendre_factors(lmax, theta)  # (l, k, theta)

        def trig(L: int) -> np.ndarray:
            """``(2 (L + 1), n_phi)``: row 2k is cos(k phi), row 2k + 1 sin(k phi)."""
            k = np.arange(L + 1)[:, None]
            return np.stack([np.cos(k * phi), np.sin(k * phi)], axis=1).reshape(2 * (L + 1), n_phi)

        def to_grid(irreps: Irreps, L: int) -> np.ndarray:
            """``(2 (L + 1), n_theta, n_slots)``, zero for the dummy row and ``k > l``."""
            table = np.zeros((L + 1, 2, n_theta, max(len(irreps), 1)))
            for s, (_, ir) in enumerate(irreps):
                table[: ir.l + 1, 0, :, s] = P[ir.l, : ir.l + 1]
                table[1 : ir.l + 1, 1, :, s] = P[ir.l, 1 : ir.l + 1]
            return table.reshape(2 * (L + 1), n_theta, -1)

        project = np.zeros((lo_all + 1, 2, max(len(irreps_out), 1), n_theta))
        for o, (_, ir) in enumerate(irreps_out):
            project[:, :, o, :] = P[ir.l, : lo_all + 1, None, :] * w_t * valid_out[:, :, o, None]

        def cast(t: np.ndarray) -> torch.Tensor:
            return torch.tensor(np.ascontiguousarray(t), dtype=dtype, device=device)

        return {
            "legendre1": cast(to_grid(irreps1, l1)),
            "legendre2": cast(to_grid(irreps2, l2)),
            "azimuth1": cast(trig(l1).T),  # (phi, 2 (l1 + 1))
            "azimuth2": cast(trig(l2).T),
            # (1 / 4π) ∫ dΩ = (1 / 4π) sum_theta w_theta (2π / n_phi) sum_phi
            "azimuth_out": cast(trig(lo_all) / (2.0 * n_phi)),  # (2 (lo + 1), phi)
            "legendre_out": cast(project.reshape(2 * (lo_all + 1), -1, n_theta)),
            "grid": (n_theta, n_phi),
        }

    @staticmethod
    def to_grid(X: torch.Tensor, legendre: torch.Tensor, azimuth: torch.Tensor) -> torch.Tensor:
        """Values ``(n_phi, n_theta, N)`` of the functions with coefficients ``X (2 (L + 1), n_slots, N)``."""
        G = torch.bmm(legendre, X)  # (2 (L + 1), n_theta, N)
        M, n_theta, N = G.shape
        return (azimuth @ G.reshape(M, n_theta * N)).reshape(-1, n_theta, N)

    @staticmethod
    def from_grid(F: torch.Tensor, azimuth: torch.Tensor, legendre: torch.Tensor) -> torch.Tensor:
        """Projections ``(2 (lo + 1), n_slots, N)`` of the values ``F (n_phi, n_theta, N)``."""
        n_phi, n_theta, N = F.shape
        H = (azimuth @ F.reshape(n_phi, n_theta * N)).reshape(-1, n_theta, N)
        return torch.bmm(legendre, H)

    def product(
        self, X1: torch.Tensor, X2: torch.Tensor, U: int, V: int, Z: int, tables: dict[str, Any]
    ) -> torch.Tensor:
        F1 = self.to_grid(X1, tables["legendre1"], tables["azimuth1"])
        F2 = self.to_grid(X2, tables["legendre2"], tables["azimuth2"])
        n_phi, n_theta = F1.shape[:2]
        F1 = F1.reshape(n_phi, n_theta, U, 1, Z)
        F2 = F2.reshape(n_phi, n_theta, 1, V, Z)
        g = (F1 * F2).reshape(n_phi, n_theta, U * V * Z)
        return self.from_grid(g, tables["azimuth_out"], tables["legendre_out"])


class SphereGrid:
    """Spherical-harmonic coefficients to values on an exact sphere grid and back.

    The grid is Gauss–Legendre in ``cos(theta)`` (``theta`` from the ``y`` axis) times uniform
    azimuths, exact for polynomials of degree ``degree`` (default ``2 lmax``: a round trip of
    degree-``lmax`` functions is exact, and so is the product of two of them projected on
    degree ``0``); :meth:`to_grid` and :meth:`from_grid` are the separable transforms the
    ``"s2grid"`` product uses — per ``|m|`` a Legendre matrix over the ``theta`` nodes, then
    one ``cos``/``sin`` matrix over the azimuths. Component-normalised harmonics in e3nn's
    order (``m = -l..l`` per degree, degrees ``0..lmax``), as ``e3nn.o3.ToS2Grid`` takes.

    Parameters
    ----------
    lmax : int
        Highest degree of the coefficients.
    degree : int, optional
        Polynomial degree the grid integrates exactly (``>= lmax``); default ``2 lmax``.
    dtype : torch.dtype
        float32 (default) or float64.
    device : torch.device or str, optional

    Raises
    ------
    ValueError
        A negative ``lmax`` or ``degree < lmax``.

    Examples
    --------
    >>> import torch
    >>> grid = SphereGrid(3, dtype=torch.float64)
    >>> x = torch.randn(5, 16, dtype=torch.float64)
    >>> values = grid.to_grid(x)                        # (5, n_theta, n_phi)
    >>> values.shape, bool(torch.allclose(grid.from_grid(values), x, atol=1e-12))
    (torch.Size([5, 4, 7]), True)
    """

    def __init__(
        self, lmax: int, degree: int | None = None, *, dtype: torch.dtype = torch.float32, device: Any = None
    ) -> None:
        if int(lmax) != lmax or lmax < 0:
            raise ValueError(f"SphereGrid: lmax must be an integer >= 0, got {lmax!r}")
        degree = 2 * lmax if degree is None else degree
        if int(degree) != degree or degree < lmax:
            raise ValueError(f"SphereGrid: degree must be an integer >= lmax = {lmax}, got {degree!r}")
        self.lmax, self.degree = int(lmax), int(degree)
        n_theta, n_phi = self.degree // 2 + 1, self.degree + 1
        self.shape = (n_theta, n_phi)
        cos_t, w_t = np.polynomial.legendre.leggauss(n_theta)
        phi = 2.0 * np.pi * np.arange(n_phi) / n_phi
        P = legendre_factors(self.lmax, np.arccos(cos_t))  # (l, k, theta)
        L = self.lmax
        # coefficient j of degree l, order m  ->  row (|m|, cos/sin) and column l of a per-|m| matrix,
        # the gather of the grid backend for the irreps 0e + 1o + ... + L
        index = SphereProductBackend._gather_index(Irreps.spherical_harmonics(L), L).reshape(L + 1, 2, L + 1)
        mask = np.zeros((L + 1, 2, L + 1))  # where (|m|, cos/sin, l) exists
        for d in range(L + 1):
            mask[: d + 1, 0, d] = 1.0
            mask[1 : d + 1, 1, d] = 1.0
        legendre = P.transpose(1, 0, 2)[:, None] * mask[..., None]  # to values: (k, c, l, theta)
        orders = np.arange(L + 1)[:, None]
        trig = np.stack([np.cos(orders * phi), np.sin(orders * phi)], axis=1).reshape(2 * (L + 1), n_phi)
        # projection (1/4π) ∫ f Y dΩ: the azimuth sum (1/n_phi) sum_phi trig^2 gives 1 (k = 0) or 1/2,
        # the theta sum w P^2 gives 2 (k = 0) or 4 for component harmonics; w / 2 makes both 1
        project = legendre * w_t / 2.0  # (k, c, l, theta)

        def cast(t: np.ndarray) -> torch.Tensor:
            return torch.tensor(np.ascontiguousarray(t), dtype=dtype, device=device)

        self._index = index.reshape(-1).to(device)
        self._mask = cast(mask.reshape(-1))
        self._legendre = cast(legendre.reshape(2 * (L + 1), L + 1, n_theta).transpose(0, 2, 1))  # (kc, theta, l)
        self._azimuth = cast(trig.T)  # (phi, kc)
        self._azimuth_back = cast(trig / n_phi)  # (kc, phi)
        self._project = cast(project.reshape(2 * (L + 1), L + 1, n_theta))  # (kc, l, theta)
        valid = torch.from_numpy(mask.reshape(-1) > 0)
        scatter = torch.empty((L + 1) ** 2, dtype=torch.long)
        scatter[index.reshape(-1)[valid]] = torch.nonzero(valid).flatten()
        self._scatter = scatter.to(device)

    def to_grid(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Values ``(..., n_theta, n_phi)`` of ``coefficients (..., (lmax + 1)^2)``.

        Parameters
        ----------
        coefficients : torch.Tensor, shape (..., (lmax + 1)^2)

        Returns
        -------
        torch.Tensor, shape (..., n_theta, n_phi)
        """
        D = (self.lmax + 1) ** 2
        if coefficients.shape[-1:] != (D,):
            raise ValueError(
                f"SphereGrid.to_grid: expected last axis {D} (degrees 0..{self.lmax}), got {tuple(coefficients.shape)}"
            )
        batch = coefficients.shape[:-1]
        X = coefficients.reshape(-1, D).t()[self._index] * self._mask[:, None]  # (kc * l, N)
        X = X.reshape(self._legendre.shape[0], self.lmax + 1, -1)
        values = S2GridBackend.to_grid(X, self._legendre, self._azimuth)  # (phi, theta, N)
        return values.permute(2, 1, 0).reshape(*batch, *self.shape)

    def from_grid(self, values: torch.Tensor) -> torch.Tensor:
        """Coefficients ``(..., (lmax + 1)^2)`` of the degree ``<= lmax`` part of ``values (..., n_theta, n_phi)``.

        Parameters
        ----------
        values : torch.Tensor, shape (..., n_theta, n_phi)

        Returns
        -------
        torch.Tensor, shape (..., (lmax + 1)^2)
        """
        if tuple(values.shape[-2:]) != self.shape:
            raise ValueError(f"SphereGrid.from_grid: expected trailing shape {self.shape}, got {tuple(values.shape)}")
        batch = values.shape[:-2]
        n_theta, n_phi = self.shape
        F = values.reshape(-1, n_theta, n_phi).permute(2, 1, 0)  # (phi, theta, N)
        C = S2GridBackend.from_grid(F, self._azimuth_back, self._project)  # (kc, l, N)
        return C.reshape(-1, C.shape[-1])[self._scatter].t().reshape(*batch, (self.lmax + 1) ** 2)
