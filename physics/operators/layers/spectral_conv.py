"""Spectral convolution: the integral-kernel layer of Fourier neural operators.

A spectral convolution transforms its input ``x`` of shape ``(batch, in, n_1, ..., n_d)``
with a real FFT, multiplies the lowest Fourier modes by a learned complex weight
``W[i, o, k_1, ..., k_d]`` (a different ``in x out`` matrix per retained mode), and
transforms back [FNO]_::

    y = irfft( sum_i W[i, o, k] * rfft(x)[b, i, k] )        (k over the kept modes)

The FFTs use ``norm="forward"``: the coefficients are the grid averages of ``x e^{-ikx}``,
which converge to the continuous Fourier coefficients, so one set of weights acts on the
same function sampled at any resolution (discretisation invariance).

The weight may be held *factorized* [TFNO]_ as a :class:`tnkit.Tucker`, :class:`tnkit.CP`
or :class:`tnkit.TT` whose factors are the trainable parameters. With
``implementation="factorized"`` (default) the input's Fourier coefficients are contracted
with the factors directly and the full weight is never formed. With the coefficients laid
out mode by mode, ``X[m, b, i]`` (``M`` kept modes), every factorization is a chain of one
channel map on the left, a small per-mode part and one channel map on the right::

    dense   Y[m] = X[m] W[m]                         W[m] = W[:, :, m]       (in x out)
    Tucker  Y[m] = X[m] U_in  G[m]  U_out^T          G[m] = core x_k U_k[m_k] (r_in x r_out)
    CP      Y[m] = X[m] U_in  diag(s[m])  U_out^T    s[m] = lambda * prod_k U_k[m_k]
    TT      Y[m] = X[m] G_1   Q[m]                   Q[m] = G_2 x G_3[m_1] ... (r_1 x out)

The channel maps are single GEMMs over all modes and samples, the per-mode part one
batched GEMM (or a scaling for CP), and the backward pass is written out by hand
(:class:`_ModeChain`) so that no conjugated copies are made. Only the per-mode core
``G[m]`` (Tucker, ``r_in r_out`` per mode) or ``Q[m]`` (TT) is formed, never the
``in x out`` weight. ``"reconstructed"`` forms the dense weight first and contracts it
with :func:`tnkit.contract` (sometimes faster for tiny ranks, always more memory).

Complex parameters are stored as real tensors with a trailing axis of 2 (viewed as complex
when used), so optimisers, weight decay and ``torch.distributed`` DDP see real tensors.

References
----------
.. [FNO] Z. Li et al., "Fourier Neural Operator for Parametric Partial Differential
   Equations", ICLR 2021, arXiv:2010.08895.
.. [TFNO] J. Kossaifi, N. Kovachki, K. Azizzadenesheli, A. Anandkumar, "Multi-Grid
   Tensorized Fourier Neural Operator for High-Resolution PDEs", TMLR 2024,
   arXiv:2310.00120.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from physics.operators._checks import check_input
from tnkit import CP, TT, Tucker, contract

__all__ = ["SpectralConv", "FACTORIZATIONS", "factorized_ranks"]

FACTORIZATIONS = ("dense", "tucker", "cp", "tt")
_LETTERS = "efghjklmnpqrstuvwxyzACDEFGHIJKLMNPQRSTUVWXYZ"  # spare labels (b, i, o, c are taken)


def _mode_list(n_modes: int | Sequence[int], name: str) -> list[int]:
    modes = [n_modes] if isinstance(n_modes, int) else list(n_modes)
    if not 1 <= len(modes) <= 3 or not all(isinstance(m, int) and m >= 1 for m in modes):
        raise ValueError(f"{name}: n_modes must be 1 to 3 positive integers (one per spatial axis), got {n_modes!r}")
    return modes


def kept_modes(n_modes: Sequence[int]) -> list[int]:
    """Coefficients kept per axis for ``n_modes`` Fourier modes: all axes but the last keep
    ``k`` (``(k + 1) // 2`` non-negative and ``k // 2`` negative frequencies); the last, a
    real FFT's half spectrum, keeps ``k // 2 + 1``."""
    return [*n_modes[:-1], n_modes[-1] // 2 + 1]


# --------------------------------------------------------------------------------------
# Ranks of factorized weights


def _solve_increasing(f: Any, target: float, hi: float) -> float:
    lo = 0.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def factorized_ranks(shape: Sequence[int], factorization: str, rank: float | int | Sequence[int]) -> tuple[int, ...]:
    """Ranks of a factorized tensor of ``shape``.

    Parameters
    ----------
    shape : sequence of int
        The dense tensor's shape.
    factorization : {"tucker", "cp", "tt"}
    rank : float, int or sequence of int
        A float is the fraction of the dense tensor's entries the factorization may hold
        (``0.42``: about 42 % of them; Tucker ranks scale every mode by one factor, CP picks
        one rank, TT one internal bond); an int is the same rank for every mode / bond; a
        sequence gives them explicitly (Tucker: one per mode, TT: the ``len(shape) - 1``
        internal bonds, CP: one).

    Returns
    -------
    tuple of int
        Tucker: per mode; CP: ``(R,)``; TT: the internal bonds.

    Examples
    --------
    >>> factorized_ranks((32, 32, 16, 9), "tucker", 0.42)
    (26, 26, 13, 7)
    >>> factorized_ranks((32, 32, 16, 9), "tt", 4)
    (4, 4, 4)
    """
    shape = tuple(int(s) for s in shape)
    total = math.prod(shape)
    n = len(shape)
    if factorization not in ("tucker", "cp", "tt"):
        raise ValueError(f"factorization must be one of 'tucker', 'cp', 'tt', got {factorization!r}")
    if isinstance(rank, bool) or not isinstance(rank, (int, float, Sequence)):
        raise ValueError(f"rank must be a fraction, an int or a sequence of ints, got {rank!r}")
    if isinstance(rank, float):
        if not 0 < rank <= 1e6 or not math.isfinite(rank):
            raise ValueError(f"rank as a fraction of the dense weight must be positive, got {rank}")
        target = rank * total
        if factorization == "tucker":
            c = _solve_increasing(lambda c: c**n * total + c * sum(s * s for s in shape), target, 1.0)
            return tuple(max(1, min(s, round(c * s))) for s in shape)
        if factorization == "cp":
            return (max(1, round(target / (sum(shape) + 1))),)

        def tt_count(r: float) -> float:
            bonds = (1.0, *(min(r, math.prod(shape[: k + 1]), math.prod(shape[k + 1 :])) for k in range(n - 1)), 1.0)
            return sum(bonds[k] * s * bonds[k + 1] for k, s in enumerate(shape))

        r = _solve_increasing(tt_count, target, float(total))
        return _cap_tt(shape, [max(1, round(r))] * (n - 1))
    if isinstance(rank, int):
        if rank < 1:
            raise ValueError(f"rank must be >= 1, got {rank}")
        if factorization == "tucker":
            return tuple(min(rank, s) for s in shape)
        if factorization == "cp":
            return (rank,)
        return _cap_tt(shape, [rank] * (n - 1))
    ranks = [int(r) for r in rank]
    if any(r < 1 for r in ranks):
        raise ValueError(f"ranks must be >= 1, got {list(rank)}")
    want = {"tucker": n, "cp": 1, "tt": n - 1}[factorization]
    if len(ranks) != want:
        raise ValueError(f"{factorization} of an order-{n} weight takes {want} rank(s), got {len(ranks)}: {ranks}")
    if factorization == "tucker":
        bad = [(r, s) for r, s in zip(ranks, shape) if r > s]
        if bad:
            raise ValueError(f"Tucker ranks {ranks} exceed the weight's shape {shape}")
    return tuple(ranks)


def _cap_tt(shape: tuple[int, ...], ranks: list[int]) -> tuple[int, ...]:
    """TT bonds cannot exceed the smaller of the products of the modes on either side."""
    out = []
    for k, r in enumerate(ranks):
        left, right = math.prod(shape[: k + 1]), math.prod(shape[k + 1 :])
        out.append(min(r, left, right))
    return tuple(out)


# --------------------------------------------------------------------------------------
# The layer


class _ModeChain(torch.autograd.Function):
    """``Y[m] = X[m] L P[m] R^T`` for complex ``X (M, B, I)``, ``L (I, a)``, ``P (M, a, b)``
    (or a diagonal ``P (M, a)``), ``R (O, b)``; ``L`` / ``R`` may be None (identity).

    The backward pass applies the conjugate-transposed factors through BLAS transpose
    flags (``Z.mH``) instead of autograd's conjugated copies.
    """

    @staticmethod
    def forward(
        ctx: Any, X: torch.Tensor, L: torch.Tensor | None, P: torch.Tensor, R: torch.Tensor | None
    ) -> torch.Tensor:
        M, B, _ = X.shape
        T1 = X if L is None else (X.reshape(M * B, -1) @ L).reshape(M, B, -1)
        T2 = T1 * P[:, None, :] if P.ndim == 2 else torch.bmm(T1, P)
        Y = T2 if R is None else (T2.reshape(M * B, -1) @ R.T).reshape(M, B, -1)
        ctx.save_for_backward(X, L, P, R, T1, T2)
        return Y

    @staticmethod
    def backward(ctx: Any, gY: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        X, L, P, R, T1, T2 = ctx.saved_tensors
        M, B, _ = X.shape
        need_x, need_l, need_p, need_r = ctx.needs_input_grad
        gY = gY.contiguous()
        gR = gT2 = None
        if R is None:
            gT2 = gY
        else:
            flat = gY.reshape(M * B, -1)
            if need_r:
                gR = (T2.reshape(M * B, -1).mH @ flat).T
            gT2 = (flat @ R.conj()).reshape(M, B, -1)
        if P.ndim == 2:
            gP = (T1.conj() * gT2).sum(1) if need_p else None
            gT1 = gT2 * P.conj()[:, None, :]
        else:
            gP = torch.bmm(T1.mH, gT2) if need_p else None
            gT1 = torch.bmm(gT2, P.mH)
        gL = gX = None
        if L is None:
            gX = gT1 if need_x else None
        else:
            flat = gT1.reshape(M * B, -1)
            if need_l:
                gL = X.reshape(M * B, -1).mH @ flat
            if need_x:
                gX = (flat @ L.mH).reshape(M, B, -1)
        return gX, gL, gP, gR


class SpectralConv(nn.Module):
    """Fourier-space convolution with dense or factorized (Tucker, CP, TT) complex weights.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output functions.
    n_modes : int or sequence of int
        Fourier modes kept per spatial axis (1 to 3 axes). All axes but the last keep
        frequencies ``-(k // 2) .. (k + 1) // 2 - 1``; the last (real FFT) keeps
        ``0 .. k // 2``. An input needs at least ``k`` points along each axis (the modes
        must lie below its Nyquist limit).
    factorization : {"dense", "tucker", "cp", "tt"} or None
        How the weight ``(in, out, *kept)`` is held (``None`` = dense).
    rank : float, int or sequence of int
        Ranks of the factorization (see :func:`factorized_ranks`); ignored when dense.
    implementation : {"factorized", "reconstructed"}
        Contract the input with the factors directly, or form the dense weight first.
    separable : bool
        One weight per channel (``in == out``, weight ``(in, *kept)``) instead of a full
        channel-mixing matrix per mode.
    bias : bool
        Add a learned constant per output channel.
    init_std : float or "auto"
        Standard deviation of the weight's entries at initialisation (of the represented
        dense weight when factorized); ``"auto"`` is ``sqrt(2 / (in + out))``.

    Notes
    -----
    Maps ``(batch, in_channels, n_1, ..., n_d)`` to ``(batch, out_channels, m_1, ..., m_d)``,
    ``m = n`` unless ``output_shape`` is given to :meth:`forward` (then the output is the
    kept modes' Fourier series evaluated on the ``m`` grid).

    Raises
    ------
    ValueError
        Bad sizes, an unknown factorization, modes above an input's Nyquist limit, a
        channel mismatch.

    Examples
    --------
    >>> import torch
    >>> from physics.operators import SpectralConv
    >>> _ = torch.manual_seed(0)
    >>> conv = SpectralConv(3, 5, (8, 8), factorization="tucker", rank=0.5)
    >>> conv.weight
    Tucker(shape=(3, 5, 8, 5), ranks=(2, 4, 6, 4), orthonormal=False)
    >>> conv(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 5, 16, 16])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_modes: int | Sequence[int],
        *,
        factorization: str | None = None,
        rank: float | int | Sequence[int] = 1.0,
        implementation: str = "factorized",
        separable: bool = False,
        bias: bool = True,
        init_std: float | str = "auto",
    ) -> None:
        super().__init__()
        name = "SpectralConv"
        for what, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: {what} must be a positive int, got {v!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.n_modes = _mode_list(n_modes, name)
        self.dims = len(self.n_modes)
        self.factorization = "dense" if factorization is None else str(factorization).lower()
        if self.factorization not in FACTORIZATIONS:
            raise ValueError(f"{name}: factorization must be one of {FACTORIZATIONS} or None, got {factorization!r}")
        if implementation not in ("factorized", "reconstructed"):
            raise ValueError(f"{name}: implementation must be 'factorized' or 'reconstructed', got {implementation!r}")
        self.implementation = implementation
        if separable and in_channels != out_channels:
            raise ValueError(
                f"{name}: separable weights need in_channels == out_channels, got {in_channels} and {out_channels}"
            )
        self.separable = bool(separable)
        if init_std == "auto":
            init_std = (2 / (in_channels + out_channels)) ** 0.5
        if not isinstance(init_std, (int, float)) or not init_std > 0:
            raise ValueError(f"{name}: init_std must be a positive number or 'auto', got {init_std!r}")
        self.init_std = float(init_std)

        self.kept = kept_modes(self.n_modes)
        channels = [in_channels] if self.separable else [in_channels, out_channels]
        self.weight_shape = (*channels, *self.kept)
        self._build_weight(rank)
        self.bias = nn.Parameter(self.init_std * torch.randn(out_channels, *([1] * self.dims))) if bias else None

    # ---------------------------------------------------------------- weights
    def _complex_param(self, shape: Sequence[int], std: float) -> nn.Parameter:
        # E|z|^2 = std^2: real and imaginary parts each carry half the variance
        return nn.Parameter(torch.randn(*shape, 2) * (std / math.sqrt(2)))

    def _build_weight(self, rank: Any) -> None:
        shape, s = self.weight_shape, self.init_std
        n = len(shape)
        letters = iter(_LETTERS)
        modes = ["i"] + ([] if self.separable else ["o"]) + [next(letters) for _ in range(self.dims)]
        x_terms = "bi" + "".join(modes[-self.dims :])
        out_terms = "b" + ("i" if self.separable else "o") + "".join(modes[-self.dims :])
        self.ranks: tuple[int, ...] = ()
        if self.factorization == "dense":
            self.dense = self._complex_param(shape, s)
            terms = ["".join(modes)]
        elif self.factorization == "tucker":
            self.ranks = factorized_ranks(shape, "tucker", rank)
            sigma = (s * s / math.prod(self.ranks)) ** (1 / (2 * (n + 1)))
            self.core = self._complex_param(self.ranks, sigma)
            self.factors = nn.ParameterList([self._complex_param((d, r), sigma) for d, r in zip(shape, self.ranks)])
            core = [next(letters) for _ in range(n)]
            terms = ["".join(core)] + [m + c for m, c in zip(modes, core)]
        elif self.factorization == "cp":
            self.ranks = factorized_ranks(shape, "cp", rank)
            r = self.ranks[0]
            sigma = (s * s / r) ** (1 / (2 * n))
            self.cp_weights = nn.Parameter(torch.stack([torch.ones(r), torch.zeros(r)], -1))
            self.factors = nn.ParameterList([self._complex_param((d, r), sigma) for d in shape])
            k = next(letters)
            terms = [k] + [m + k for m in modes]
        else:
            self.ranks = factorized_ranks(shape, "tt", rank)
            sigma = (s * s / math.prod(self.ranks)) ** (1 / (2 * n))
            bonds = (1, *self.ranks, 1)
            self.cores = nn.ParameterList(
                [self._complex_param((bonds[k], d, bonds[k + 1]), sigma) for k, d in enumerate(shape)]
            )
            b = [next(letters) for _ in range(n - 1)]
            terms = [modes[0] + b[0]] + [b[k - 1] + modes[k] + b[k] for k in range(1, n - 1)] + [b[-1] + modes[-1]]
        self._equation = x_terms + "," + ",".join(terms) + "->" + out_terms
        # the per-mode part of the chain (see _chain): mode-factor terms -> (*kept, left, right)
        self._core_equation = ""
        if not self.separable and self.factorization in ("tucker", "cp"):
            right = core[:2] if self.factorization == "tucker" else k
            self._core_equation = terms[0] + "," + ",".join(terms[3:]) + "->" + "".join(modes[2:]) + "".join(right)
        elif not self.separable and self.factorization == "tt":
            self._core_equation = ",".join(terms[1:]) + "->" + "".join(modes[2:]) + b[0] + "o"
        self._dense_equation = x_terms + "," + "".join(modes) + "->" + out_terms

    def _operands(self) -> list[torch.Tensor]:
        c = torch.view_as_complex
        if self.factorization == "dense":
            return [c(self.dense)]
        if self.factorization == "tucker":
            return [c(self.core)] + [c(u) for u in self.factors]
        if self.factorization == "cp":
            return [c(self.cp_weights)] + [c(u) for u in self.factors]
        g = [c(core) for core in self.cores]
        return [g[0][0]] + g[1:-1] + [g[-1][..., 0]]

    def _chain(self) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        """``(L, P, R)`` of :class:`_ModeChain` for the kept modes (mode-major order)."""
        c = torch.view_as_complex
        M = math.prod(self.kept)
        d = self.dims
        if self.factorization == "dense":
            w = c(self.dense)  # (I, O, *kept)
            return None, w.permute(*range(2, 2 + d), 0, 1).reshape(M, self.in_channels, self.out_channels), None
        if self.factorization == "tucker":
            core, (u_in, u_out, *modes) = c(self.core), [c(u) for u in self.factors]
            return u_in, torch.einsum(self._core_equation, core, *modes).reshape(M, *self.ranks[:2]), u_out
        if self.factorization == "cp":
            lam, (u_in, u_out, *modes) = c(self.cp_weights), [c(u) for u in self.factors]
            return u_in, torch.einsum(self._core_equation, lam, *modes).reshape(M, -1), u_out
        g = [c(core) for core in self.cores]
        q = torch.einsum(self._core_equation, g[1], *g[2:-1], g[-1][..., 0])
        return g[0][0], q.reshape(M, self.ranks[0], self.out_channels), None

    @property
    def weight(self) -> Any:
        """The weight as a tnkit object (:class:`tnkit.Tucker`, :class:`tnkit.CP`,
        :class:`tnkit.TT`) over complex views of the parameters, or the dense complex
        tensor (differentiable)."""
        c = torch.view_as_complex
        if self.factorization == "dense":
            return c(self.dense)
        if self.factorization == "tucker":
            return Tucker(c(self.core), [c(u) for u in self.factors])
        if self.factorization == "cp":
            return CP(c(self.cp_weights), [c(u) for u in self.factors])
        return TT([c(core) for core in self.cores])

    def dense_weight(self) -> torch.Tensor:
        """The full complex weight ``(in, [out,] *kept)`` (formed from the factors)."""
        w = self.weight
        return w if isinstance(w, torch.Tensor) else w.to_dense()

    @property
    def compression(self) -> float:
        """Complex entries held / entries of the dense weight."""
        held = sum(p.numel() // 2 for name, p in self.named_parameters() if name != "bias")
        return held / math.prod(self.weight_shape)

    # ---------------------------------------------------------------- forward
    def _check_sizes(self, sizes: Sequence[int], what: str) -> None:
        for axis, (k, n) in enumerate(zip(self.n_modes, sizes)):
            last = axis == self.dims - 1
            if (k // 2 + 1 > n // 2 + 1) if last else (k > n):
                raise ValueError(
                    f"SpectralConv: {k} Fourier modes along spatial axis {axis} lie above the Nyquist "
                    f"limit of the {what}'s {n} points; use at least {k} points or fewer modes"
                )

    def forward(self, x: torch.Tensor, output_shape: Sequence[int] | None = None) -> torch.Tensor:
        """Apply the layer to ``x``; returns ``(batch, out_channels, m_1, ..., m_d)``.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, in_channels, n_1, ..., n_d)
            Input function on the grid.
        output_shape : sequence of int, optional
            Output grid ``(m_1, ..., m_d)``: the kept modes' Fourier series evaluated on
            it; default the input grid.
        """
        check_input(x, self.in_channels, self.dims, "SpectralConv")
        sizes = tuple(x.shape[2:])
        out_sizes = sizes if output_shape is None else tuple(int(s) for s in output_shape)
        self._check_sizes(sizes, "input")
        if output_shape is not None:
            if len(out_sizes) != self.dims:
                raise ValueError(f"SpectralConv: output_shape needs {self.dims} sizes, got {tuple(output_shape)}")
            self._check_sizes(out_sizes, "output")
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()  # complex half FFTs are restricted to powers of two; the spectral part runs in float32
        if torch.is_autocast_enabled(x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                return self._forward(x, sizes, out_sizes)
        return self._forward(x, sizes, out_sizes)

    def _forward(self, x: torch.Tensor, sizes: tuple[int, ...], out_sizes: tuple[int, ...]) -> torch.Tensor:
        axes = tuple(range(-self.dims, 0))
        xh = torch.fft.rfftn(x, dim=axes, norm="forward")
        xk = self._gather(xh)
        if self.implementation == "reconstructed" and self.factorization != "dense":
            yk = contract(self._dense_equation, xk, self.dense_weight())
        elif self.separable:
            yk = contract(self._equation, xk, *self._operands())
        else:
            d, (b, i) = self.dims, xk.shape[:2]
            xm = xk.permute(*range(2, 2 + d), 0, 1).reshape(-1, b, i)  # (M, batch, in), mode-major
            ym = _ModeChain.apply(xm, *self._chain())
            yk = ym.reshape(*self.kept, b, self.out_channels).permute(d, d + 1, *range(d))
        yh = self._scatter(yk, out_sizes)
        y = torch.fft.irfftn(yh, s=out_sizes, dim=axes, norm="forward")
        if self.bias is not None:
            y = y + self.bias
        return y

    def _gather(self, xh: torch.Tensor) -> torch.Tensor:
        """The kept coefficients ``(..., *kept)`` from a half spectrum, in FFT order."""
        xh = xh[..., : self.kept[-1]]
        for axis, k in enumerate(self.n_modes[:-1]):
            dim = 2 + axis
            if xh.shape[dim] != k:
                low, high = (k + 1) // 2, k // 2
                parts = [xh.narrow(dim, 0, low)] + ([xh.narrow(dim, xh.shape[dim] - high, high)] if high else [])
                xh = torch.cat(parts, dim)
        return xh

    def _scatter(self, yk: torch.Tensor, out_sizes: Sequence[int]) -> torch.Tensor:
        """Place the kept coefficients into a zero spectrum of the output grid (the last
        axis is padded by ``irfftn`` itself)."""
        for axis, k in enumerate(self.n_modes[:-1]):
            dim, n = 2 + axis, out_sizes[axis]
            if n != k:
                low, high = (k + 1) // 2, k // 2
                shape = list(yk.shape)
                shape[dim] = n - k
                gap = yk.new_zeros(shape)
                parts = [yk.narrow(dim, 0, low), gap] + ([yk.narrow(dim, low, high)] if high else [])
                yk = torch.cat(parts, dim)
        return yk

    def extra_repr(self) -> str:
        extra = "" if self.factorization == "dense" else f", ranks={self.ranks}, implementation={self.implementation!r}"
        return (
            f"{self.in_channels}, {self.out_channels}, n_modes={tuple(self.n_modes)}, "
            f"factorization={self.factorization!r}{extra}" + (", separable=True" if self.separable else "")
        )
