"""The tensor-product module: one interface, several backends, an automatic measured choice."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from physics.equivariant._backend_gaunt import GauntBackend
from physics.equivariant._backend_grid import S2GridBackend
from physics.equivariant._backends import Backend, DenseBackend, SO2Backend, _harmonics_refusal
from physics.equivariant._products import Irreps, ProductPlan

__all__ = ["BACKENDS", "TensorProduct"]

BACKENDS: dict[str, type[Backend]] = {
    "dense": DenseBackend,
    "so2": SO2Backend,
    "s2grid": S2GridBackend,
    "gaunt": GauntBackend,
}
"""The tensor-product backends by name (``"auto"`` picks among those that can compute a product)."""

MEASURE_ROWS = 8192
"""Rows (edges) the automatic choice times each backend on, at most."""


class TensorProduct(torch.nn.Module):
    r"""Equivariant tensor product ``x1 (x) x2 -> out`` of O(3) irreps, with learnable path weights.

    For each path ``slot1 (x) slot2 -> slot_out`` (degrees ``l1, l2 -> l3``)::

        out[z, w, k] += alpha * sum_{u, v, i, j} W[u, v, w] x1[z, u, i] x2[z, v, j] C[i, j, k]

    with ``C`` the real coupling tensor (:func:`~physics.equivariant.wigner_3j`), ``W`` the
    path's weights (channelwise ``"uvu"``: ``w = u`` and ``W[u, v]``; fully connected
    ``"uvw"``: ``W[u, v, w]``) and ``alpha`` e3nn's normalisation. Inputs, weights and the
    output use e3nn's flat layout, so on the same weights the result equals
    ``e3nn.o3.TensorProduct`` (validated to 1e-12 in float64).

    Backends (``backend=``) compute the same numbers by different algorithms:

    * ``"dense"`` — the CG contraction, planned by :func:`tnkit.contract`; every path.
    * ``"so2"`` — the edge-frame product of eSCN (Passaro & Zitnick 2023): needs the second
      input to be the spherical harmonics of edge vectors (pass ``vectors=``); every path.
    * ``"s2grid"`` — the product of whole functions on an exact sphere grid (separable
      Legendre / azimuth transforms); ``weighting="degree"`` with every even coupling, no odd one.
    * ``"gaunt"`` — the Gaunt tensor product (Luo, Chen & Krishnapriyan 2024): 2D Fourier
      series and an FFT convolution; the same products as ``"s2grid"``.
    * ``"auto"`` (default) — times every backend that can compute the product on the first
      call's own inputs (forward and backward, per dtype, device and batch-size octave — sizes
      in ``[2^k, 2^(k+1))`` share one choice, so a training loop whose edge count changes from
      batch to batch measures a handful of times, not every step) and keeps the fastest;
      :attr:`chosen` reports the pick. Timings vary from run to run, so two runs may pick
      different backends and round differently (a long training then drifts apart); under
      ``torch.use_deterministic_algorithms(True)`` "auto" takes the first usable backend in
      :data:`BACKENDS` order without timing, so runs repeat bit for bit.

    Parameters
    ----------
    irreps_in1, irreps_in2, irreps_out : str or Irreps
        e.g. ``"32x0e + 32x1o + 32x2e"``; for edge products ``irreps_in2`` is
        ``Irreps.spherical_harmonics(lmax)``.
    instructions : sequence of tuple, optional
        ``(i1, i2, i_out)`` slot triples (or e3nn's ``(i1, i2, i_out, mode, True[, path_weight])``);
        default: every coupling that parity and the triangle rule allow (channelwise paths
        also need ``mul_out == mul1``).
    mode : {"uvu", "uvw"}
        Channelwise or fully connected.
    weighting : {"path", "degree"}
        ``"path"``: e3nn's weights, one block per path. ``"degree"``: factorised per slot
        (``a[slot1] b[slot2] c[slot_out]``), the form products of whole functions on the
        sphere (Gaunt, S² grid) can express; the other backends expand it to paths.
    backend : str
        A name in :data:`BACKENDS` or ``"auto"``.
    shared_weights : bool
        Weights of shape ``(weight_numel,)`` for the whole batch (True) or ``(..., weight_numel)``
        per batch element, as convolutions with radial networks use (False).
    internal_weights : bool, optional
        Hold the weights as a parameter (default: ``shared_weights``); then ``forward``
        takes no ``weight``.
    irrep_normalization, path_normalization : str
        e3nn's options: ``"component"`` / ``"norm"`` / ``"none"`` and ``"element"`` / ``"path"`` / ``"none"``.
    dtype : torch.dtype
        Of the internal weights (float32 default).
    device : torch.device or str, optional
        Of the internal weights.

    Raises
    ------
    ValueError
        Unknown backend, mode or weighting; an instruction the selection rules forbid; a
        backend that cannot express the requested paths (one line naming why and what can).

    Examples
    --------
    >>> import torch
    >>> from physics.equivariant import TensorProduct, Irreps, spherical_harmonics
    >>> tp = TensorProduct("8x0e + 8x1o", Irreps.spherical_harmonics(2), "8x0e + 8x1o + 8x2e",
    ...                    backend="dense", shared_weights=False, dtype=torch.float64)
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(5, tp.irreps_in1.dim, dtype=torch.float64, generator=g)
    >>> v = torch.randn(5, 3, dtype=torch.float64, generator=g)
    >>> w = torch.randn(5, tp.weight_numel, dtype=torch.float64, generator=g)
    >>> out = tp(x, spherical_harmonics([0, 1, 2], v), w)
    >>> so2 = TensorProduct(tp.irreps_in1, tp.irreps_in2, tp.irreps_out, backend="so2",
    ...                     shared_weights=False, dtype=torch.float64)
    >>> bool(torch.allclose(so2(x, weight=w, vectors=v), out, atol=1e-12))
    True
    """

    def __init__(
        self,
        irreps_in1: Any,
        irreps_in2: Any,
        irreps_out: Any,
        instructions: Sequence[Any] | None = None,
        *,
        mode: str = "uvu",
        weighting: str = "path",
        backend: str = "auto",
        shared_weights: bool = True,
        internal_weights: bool | None = None,
        irrep_normalization: str = "component",
        path_normalization: str = "element",
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ) -> None:
        super().__init__()
        self.plan = ProductPlan(
            irreps_in1,
            irreps_in2,
            irreps_out,
            instructions,
            mode=mode,
            weighting=weighting,
            irrep_normalization=irrep_normalization,
            path_normalization=path_normalization,
        )
        if backend != "auto" and backend not in BACKENDS:
            raise ValueError(
                f"TensorProduct: unknown backend {backend!r}; choose 'auto' or one of {', '.join(BACKENDS)}"
            )
        if backend == "auto":
            candidates = [name for name, cls in BACKENDS.items() if cls.refusal(self.plan) is None]
        else:
            candidates = [backend]
        self.backends = {name: BACKENDS[name](self.plan) for name in candidates}
        self.backend = backend
        self.shared_weights = bool(shared_weights)
        self.internal_weights = self.shared_weights if internal_weights is None else bool(internal_weights)
        if self.internal_weights and not self.shared_weights:
            raise ValueError("TensorProduct: internal_weights=True needs shared_weights=True")
        if self.internal_weights:
            self.weight = torch.nn.Parameter(torch.randn(self.plan.weight_numel, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        self._choice: dict[tuple[Any, ...], str] = {}

    @property
    def irreps_in1(self) -> Irreps:
        """The first input's irreps."""
        return self.plan.irreps_in1

    @property
    def irreps_in2(self) -> Irreps:
        """The second input's irreps (the harmonics' degrees for edge products)."""
        return self.plan.irreps_in2

    @property
    def irreps_out(self) -> Irreps:
        """The output's irreps."""
        return self.plan.irreps_out

    @property
    def weight_numel(self) -> int:
        """Number of weights per batch element (or in total, when shared)."""
        return self.plan.weight_numel

    @property
    def chosen(self) -> dict[tuple[Any, ...], str]:
        """The automatic choices made so far: ``(device type, dtype, octave, vectors given) -> backend``.

        ``octave`` is ``batch_size.bit_length()``: one choice for sizes ``2^(octave-1)`` up to
        ``2^octave - 1``.
        """
        return dict(self._choice)

    def extra_repr(self) -> str:
        return (
            f"{self.irreps_in1} x {self.irreps_in2} -> {self.irreps_out}, mode={self.plan.mode}, "
            f"weighting={self.plan.weighting}, backend={self.backend}, paths={len(self.plan.paths)}"
        )

    def _check(
        self, x1: torch.Tensor, x2: torch.Tensor | None, weight: torch.Tensor | None, vectors: torch.Tensor | None
    ) -> tuple[Any, ...]:
        if not isinstance(x1, torch.Tensor):
            raise TypeError(f"TensorProduct: x1 must be a torch.Tensor, got {type(x1).__name__}")
        if x1.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"TensorProduct: x1 must be float32 or float64, got {x1.dtype}")
        if x1.ndim < 1 or x1.shape[-1] != self.irreps_in1.dim:
            raise ValueError(
                f"TensorProduct: x1 must have last axis {self.irreps_in1.dim} ({self.irreps_in1}), "
                f"got shape {tuple(x1.shape)}"
            )
        batch = tuple(x1.shape[:-1])
        if (x2 is None) == (vectors is None):
            raise ValueError("TensorProduct: pass exactly one of x2 and vectors= (edge vectors whose harmonics are x2)")
        named = [("x2", x2, self.irreps_in2.dim), ("vectors", vectors, 3)]
        for name, t, last in named:
            if t is None:
                continue
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"TensorProduct: {name} must be a torch.Tensor, got {type(t).__name__}")
            if t.shape[-1:] != (last,) or tuple(t.shape[:-1]) != batch:
                raise ValueError(f"TensorProduct: {name} must have shape {(*batch, last)}, got {tuple(t.shape)}")
        if vectors is not None:
            reason = _harmonics_refusal(self.irreps_in2)
            if reason is not None:
                raise ValueError(f"TensorProduct: vectors= given but {reason}")
        if weight is None:
            if self.weight is None:
                raise ValueError("TensorProduct: this product has no internal weights; pass weight=")
            weight = self.weight
        elif self.internal_weights:
            raise ValueError(
                "TensorProduct: this product holds its own weights (internal_weights=True); do not pass weight="
            )
        expected = (self.weight_numel,) if self.shared_weights else (*batch, self.weight_numel)
        if tuple(weight.shape) != expected:
            raise ValueError(
                f"TensorProduct: weight must have shape {expected} "
                f"({'shared' if self.shared_weights else 'one row per batch element'}), got {tuple(weight.shape)}"
            )
        for name, t in (("x2", x2), ("vectors", vectors), ("weight", weight)):
            if t is not None and (t.dtype != x1.dtype or t.device != x1.device):
                raise TypeError(
                    f"TensorProduct: {name} is {t.dtype} on {t.device} but x1 is {x1.dtype} on {x1.device}; "
                    "convert them to one dtype and device"
                )
        return batch, weight

    def forward(
        self,
        x1: torch.Tensor,
        x2: torch.Tensor | None = None,
        weight: torch.Tensor | None = None,
        *,
        vectors: torch.Tensor | None = None,
        receivers: torch.Tensor | None = None,
        n_receivers: int | None = None,
    ) -> torch.Tensor:
        """The product of ``x1 (..., dim1)`` with ``x2 (..., dim2)`` or with the harmonics of ``vectors (..., 3)``.

        Parameters
        ----------
        x1 : torch.Tensor, shape (..., irreps_in1.dim)
        x2 : torch.Tensor, shape (..., irreps_in2.dim), optional
        weight : torch.Tensor, optional
            ``(weight_numel,)`` shared or ``(..., weight_numel)`` per element; omitted with
            internal weights.
        vectors : torch.Tensor, shape (..., 3), optional
            Edge vectors instead of ``x2``: ``x2 = spherical_harmonics(l's of irreps_in2, vectors)``.
        receivers : torch.Tensor, shape (E,), optional
            With a 1-d batch of edges: sum the products into rows ``receivers`` of an
            ``(n_receivers, irreps_out.dim)`` result (a graph convolution, ``scatter_sum`` of
            the products). The dense backend fuses the two for channelwise edge products with
            one path per output slot (MACE's), so no per-edge output is ever stored.
        n_receivers : int, optional
            Rows of that result (needed with ``receivers``).

        Returns
        -------
        torch.Tensor, shape (..., irreps_out.dim), or (n_receivers, irreps_out.dim) with receivers
        """
        batch, weight = self._check(x1, x2, weight, vectors)
        if receivers is not None:
            if len(batch) != 1 or tuple(receivers.shape) != batch or n_receivers is None:
                raise ValueError(
                    f"TensorProduct: receivers must have shape {batch[:1]} (one per edge of a 1-d batch) and come "
                    "with n_receivers"
                )
        elif n_receivers is not None:
            raise ValueError("TensorProduct: n_receivers without receivers; pass both or neither")
        Z = 1
        for n in batch:
            Z *= n
        if Z == 0:  # no edges (an isolated atom): nothing to multiply, nothing to measure
            if receivers is not None:
                return x1.new_zeros((int(n_receivers or 0), self.irreps_out.dim))
            return x1.new_zeros((*batch, self.irreps_out.dim))
        flat1 = x1.reshape(Z, -1)
        flat2 = x2.reshape(Z, -1) if x2 is not None else None
        flatv = vectors.reshape(Z, 3) if vectors is not None else None
        w = weight.reshape(1 if self.shared_weights else Z, -1)
        names = [n for n in self.backends if not (self.backends[n].needs_vectors and flatv is None)]
        if not names:
            raise ValueError(
                f"TensorProduct: backend {self.backend!r} needs edge vectors (vectors=...), not x2"
                if self.backend != "auto"
                else "TensorProduct: no backend can compute this product from x2; pass vectors="
            )
        if len(names) == 1:
            name = names[0]
        else:
            key = (x1.device.type, x1.dtype, Z.bit_length(), flatv is not None)
            if key not in self._choice:
                deterministic = torch.are_deterministic_algorithms_enabled()
                self._choice[key] = names[0] if deterministic else self._measure(names, flat1, flat2, w, flatv)
            name = self._choice[key]
        if receivers is not None:
            return self.backends[name].convolve(flat1, flat2, w, flatv, receivers, int(n_receivers or 0))
        out = self.backends[name](flat1, flat2, w, flatv)
        return out.reshape(*batch, self.irreps_out.dim)

    def _measure(
        self, names: list[str], x1: torch.Tensor, x2: torch.Tensor | None, w: torch.Tensor, v: torch.Tensor | None
    ) -> str:
        """Forward + backward time of each backend on these inputs (best of 3 after a warm-up).

        At most :data:`MEASURE_ROWS` rows are timed: enough to amortise per-operation costs,
        and a first call on a large batch does not hold every backend's intermediates at full size.
        """
        best, best_time = names[0], float("inf")
        rows = min(x1.shape[0], MEASURE_ROWS)
        x1 = x1[:rows].detach().requires_grad_(True)
        x2 = None if x2 is None else x2[:rows]
        v = None if v is None else v[:rows]
        w = w if w.shape[0] == 1 else w[:rows]
        for name in names:
            times = []
            for _ in range(4):
                if x1.is_cuda:
                    torch.cuda.synchronize(x1.device)
                start = time.perf_counter()
                out = self.backends[name](x1, x2, w.detach(), v)
                (grad,) = torch.autograd.grad(out.sum(), x1)
                if x1.is_cuda:
                    torch.cuda.synchronize(x1.device)
                times.append(time.perf_counter() - start)
                del grad
            elapsed = min(times[1:])
            if elapsed < best_time:
                best, best_time = name, elapsed
        return best
