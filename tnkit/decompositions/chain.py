"""One chain of cores: what tensor trains, tensor rings, MPS and MPO share.

A chain is a list of cores ``G_k`` of shape ``(left_k, *legs_k, right_k)`` whose bonds
match, ``right_k == left_{k+1}``. An open chain (tensor train, MPS, MPO) has boundary
bonds of size one; a closed one (tensor ring) joins the last bond back to the first.
A tensor train is the chain with one leg per core; an MPS is a tensor train read as a
quantum state (see :class:`tnkit.mps.MPS`, which converts to and from :class:`TT`); an
MPO has two legs (out, in).

This module holds the single implementation of the core checks (:func:`check_chain`),
of the properties every chain has (:class:`Chain`) and of the QR/LQ sweeps that move the
orthogonality centre (:func:`move_right`, :func:`move_left`, :func:`left_orthonormal`,
:func:`right_orthonormal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tnkit import backend
from tnkit.backend import namespace
from tnkit.linalg import lq, qr

__all__ = ["Chain", "check_chain", "move_right", "move_left", "left_orthonormal", "right_orthonormal"]


def check_chain(cores: Sequence[Any], name: str, *, legs: int = 1, closed: bool = False, unit: str = "core") -> Any:
    """Check a list of chain cores and return their array namespace.

    Parameters
    ----------
    cores : sequence of arrays
        ``(left, *legs, right)`` each, one library, one floating dtype.
    name : str
        The class or function, the start of every message.
    legs : int
        Physical legs per core (1 for TT/TR/MPS, 2 for an MPO).
    closed : bool
        A ring: the last core's right bond joins the first core's left bond. Otherwise
        both boundary bonds must have size one.
    unit : str
        What a core is called in messages (``"core"``, ``"site"``).

    Raises
    ------
    ValueError
        No cores, a wrong number of axes, mismatched or non-trivial boundary bonds.
    TypeError
        Mixed libraries or dtypes, or a non-floating dtype.

    Examples
    --------
    >>> import numpy as np
    >>> check_chain([np.ones((1, 2, 3)), np.ones((2, 2, 1))], "TT")
    Traceback (most recent call last):
    ...
    ValueError: TT: bond 0-1 mismatch: core 0 has right bond 3, core 1 has left bond 2
    """
    if len(cores) == 0:
        raise ValueError(f"{name}: need at least one {unit}")
    xp = namespace(*cores)
    axes = 2 + legs
    layout = "(left, physical, right)" if legs == 1 else f"(left, {legs} physical legs, right)"
    for k, g in enumerate(cores):
        if g.ndim != axes:
            raise ValueError(f"{name}: {unit} {k} must have {axes} axes {layout}, got shape {tuple(g.shape)}")
    if not closed and (cores[0].shape[0] != 1 or cores[-1].shape[-1] != 1):
        raise ValueError(
            f"{name}: boundary bonds must have size 1, got {cores[0].shape[0]} (left) and {cores[-1].shape[-1]} (right)"
        )
    n = len(cores)
    for k in range(n if closed else n - 1):
        nxt = (k + 1) % n
        if cores[k].shape[-1] != cores[nxt].shape[0]:
            raise ValueError(
                f"{name}: bond {k}-{nxt} mismatch: {unit} {k} has right bond {cores[k].shape[-1]}, "
                f"{unit} {nxt} has left bond {cores[nxt].shape[0]}"
            )
    dtype = cores[0].dtype
    if any(g.dtype != dtype for g in cores):
        raise TypeError(f"{name}: all {unit}s must share one dtype, got {sorted({str(g.dtype) for g in cores})}")
    if not xp.isdtype(dtype, ("real floating", "complex floating")):
        raise TypeError(f"{name}: {unit}s must be floating or complex, got {dtype}")
    return xp


class Chain:
    """A chain of cores (see the module docstring); the base of TT, TR, MPS and MPO.

    Subclasses check their cores with :func:`check_chain` and store them in ``cores``;
    ``tensors`` is the same list under the name the MPS literature uses.

    Parameters
    ----------
    cores : sequence of arrays
        ``(left, *legs, right)`` each; checked by :func:`check_chain`.
    name : str
        The class, the start of every error message.
    legs : int, optional
        Physical legs per core (1 for TT/TR/MPS, 2 for an MPO); default 1.
    closed : bool, optional
        A ring (the last bond joins the first); default False.
    unit : str, optional
        What a core is called in messages (``"core"``, ``"site"``); default ``"core"``.
    """

    cores: list[Any]
    xp: Any
    closed: bool

    def __init__(
        self, cores: Sequence[Any], name: str, *, legs: int = 1, closed: bool = False, unit: str = "core"
    ) -> None:
        self.xp = check_chain(cores, name, legs=legs, closed=closed, unit=unit)
        self.cores = list(cores)
        self.closed = closed

    @property
    def tensors(self) -> list[Any]:
        """The cores (the same list object)."""
        return self.cores

    @tensors.setter
    def tensors(self, value: Sequence[Any]) -> None:
        self.cores = list(value)

    @property
    def length(self) -> int:
        """Number of cores (sites)."""
        return len(self.cores)

    def __len__(self) -> int:
        return len(self.cores)

    @property
    def ndim(self) -> int:
        """Number of tensor modes ``d`` (one per core)."""
        return len(self.cores)

    @property
    def shape(self) -> tuple[int, ...]:
        """Mode sizes ``(n_0, ..., n_{d-1})``: the first physical leg of every core."""
        return tuple(int(g.shape[1]) for g in self.cores)

    @property
    def dtype(self) -> Any:
        """Dtype of the cores."""
        return self.cores[0].dtype

    @property
    def device(self) -> Any:
        """Device of the cores."""
        return backend.device_of(self.cores[0])

    @property
    def bond_dims(self) -> list[int]:
        """Sizes of the bonds between neighbouring cores: ``length - 1`` of them on an open
        chain, ``length`` on a ring (the last joins the last core to the first)."""
        return [int(c.shape[-1]) for c in (self.cores if self.closed else self.cores[:-1])]

    def _tensors_like(self, like: Any) -> list[Any]:
        """The cores moved to ``like``'s library, device and dtype (host round trip)."""
        xp = namespace(like)
        device = backend.device_of(like)
        return [xp.asarray(backend.to_host(t), dtype=like.dtype, device=device) for t in self.cores]


def move_right(cores: list[Any], i: int) -> None:
    """Left-orthonormalise core ``i`` by QR and push ``R`` into core ``i + 1`` (in place).

    Parameters
    ----------
    cores : list of arrays
        Chain cores ``(left, *legs, right)``, modified in place.
    i : int
        Core to orthonormalise, ``0 <= i < d - 1``.
    """
    xp = namespace(cores[i])
    t = cores[i]
    q, r = qr(xp.reshape(t, (-1, t.shape[-1])))
    cores[i] = xp.reshape(q, (*t.shape[:-1], q.shape[1]))
    nxt = cores[i + 1]
    cores[i + 1] = xp.reshape(r @ xp.reshape(nxt, (nxt.shape[0], -1)), (r.shape[0], *nxt.shape[1:]))


def move_left(cores: list[Any], i: int) -> None:
    """Right-orthonormalise core ``i`` by LQ and push ``L`` into core ``i - 1`` (in place).

    Parameters
    ----------
    cores : list of arrays
        Chain cores ``(left, *legs, right)``, modified in place.
    i : int
        Core to orthonormalise, ``0 < i < d``.
    """
    xp = namespace(cores[i])
    t = cores[i]
    lmat, q = lq(xp.reshape(t, (t.shape[0], -1)))
    cores[i] = xp.reshape(q, (q.shape[0], *t.shape[1:]))
    prv = cores[i - 1]
    cores[i - 1] = xp.reshape(xp.reshape(prv, (-1, prv.shape[-1])) @ lmat, (*prv.shape[:-1], lmat.shape[1]))


def left_orthonormal(cores: Sequence[Any]) -> list[Any]:
    """A copy of the chain with cores ``0 .. d-2`` left-orthonormal; the last carries the norm.

    Parameters
    ----------
    cores : sequence of arrays
        Chain cores ``(left, *legs, right)``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> g = left_orthonormal([rng.normal(size=(1, 2, 3)), rng.normal(size=(3, 2, 1))])
    >>> q = g[0].reshape(2, -1)
    >>> bool(np.allclose(q.T @ q, np.eye(q.shape[1])))
    True
    """
    out = list(cores)
    for i in range(len(out) - 1):
        move_right(out, i)
    return out


def right_orthonormal(cores: Sequence[Any]) -> list[Any]:
    """A copy of the chain with cores ``1 .. d-1`` right-orthonormal; the first carries the norm.

    Parameters
    ----------
    cores : sequence of arrays
        Chain cores ``(left, *legs, right)``.
    """
    out = list(cores)
    for i in range(len(out) - 1, 0, -1):
        move_left(out, i)
    return out
