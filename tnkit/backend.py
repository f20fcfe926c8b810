"""Per-call array namespaces and the registry of what the array API standard lacks.

Every public tnkit function finds its namespace from its arguments::

    xp = tnkit.backend.namespace(a, b)

There is no global backend. Arrays from different libraries, or from the same
library on different devices, raise :class:`TypeError` naming both.

Operations the array API standard does not define (``einsum``, a thin SVD with a
fast driver, matrix exponentials, random draws, host transfers, ...) are looked up
in a small registry keyed by library name. Each operation has a native entry per
library where one exists and a ``"generic"`` entry written against the standard
alone, which is what runs on ``array_api_strict`` (and so proves standard-only code).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np

from tnkit.types import RNG, Array, Device, DType, Namespace

__all__ = [
    "namespace",
    "library_name",
    "device_of",
    "register",
    "lookup",
    "implementations",
    "to_host",
    "asarray_like",
    "random_normal",
    "make_rng",
    "is_complex_dtype",
    "real_dtype",
    "complex_dtype",
    "dtype_eps",
    "dtype_name",
    "conj",
    "adjoint",
    "einsum",
    "thin_svd",
    "expm",
    "eigh_subset",
    "has_native",
]

GENERIC = "generic"

_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {}


# --------------------------------------------------------------------------------------
# Which library an array belongs to


def _array_library(x: Any) -> str | None:
    """Name of the library that owns ``x``, or None when ``x`` is not an array."""
    if array_api_compat.is_numpy_array(x):
        return "numpy"
    if array_api_compat.is_torch_array(x):
        return "torch"
    if array_api_compat.is_cupy_array(x):
        return "cupy"
    ns = _safe_namespace(x)
    if ns is not None and getattr(ns, "__name__", "") == "array_api_strict":
        return "array_api_strict"
    if array_api_compat.is_array_api_obj(x):
        return type(x).__module__.split(".")[0]
    return None


def _safe_namespace(x: Any) -> Namespace | None:
    getter = getattr(x, "__array_namespace__", None)
    if getter is None:
        return None
    try:
        return getter()
    except Exception:  # pragma: no cover - foreign objects with broken hooks
        return None


def library_name(xp: Namespace) -> str:
    """Short name of a namespace: ``numpy``, ``torch``, ``cupy``, ``array_api_strict``.

    Parameters
    ----------
    xp : namespace
        Array namespace of the arrays (from :func:`tnkit.backend.namespace`).
    """
    if array_api_compat.is_numpy_namespace(xp):
        return "numpy"
    if array_api_compat.is_torch_namespace(xp):
        return "torch"
    if array_api_compat.is_cupy_namespace(xp):
        return "cupy"
    if array_api_compat.is_array_api_strict_namespace(xp):
        return "array_api_strict"
    return getattr(xp, "__name__", repr(xp)).split(".")[0]


def device_of(x: Array) -> Device:
    """The device an array lives on (``"cpu"`` for NumPy).

    Parameters
    ----------
    x : array
        Array of any supported library.
    """
    return array_api_compat.device(x)


def namespace(*arrays: Array) -> Namespace:
    """Array API namespace shared by ``arrays``.

    Non-array arguments (Python scalars, None) are ignored. The namespace is the
    array-api-compat wrapper for NumPy, CuPy and PyTorch, and the library itself for
    libraries that follow the standard natively (``array_api_strict``).

    Parameters
    ----------
    *arrays
        Arrays and other values.

    Returns
    -------
    module
        The namespace, e.g. ``array_api_compat.numpy``.

    Raises
    ------
    TypeError
        If the arrays come from different libraries or live on different devices,
        or if no argument is an array.

    Examples
    --------
    >>> import numpy as np
    >>> namespace(np.ones(3)).__name__
    'array_api_compat.numpy'
    """
    found: list[tuple[str, Array]] = []
    for x in arrays:
        lib = _array_library(x)
        if lib is not None:
            found.append((lib, x))
    if not found:
        raise TypeError("namespace(): no array among the arguments (got only scalars or None)")
    first_lib, first = found[0]
    for lib, x in found[1:]:
        if lib != first_lib:
            raise TypeError(f"mixed array libraries: {first_lib} and {lib}; convert all inputs to one library")
    if first_lib != "numpy":
        dev0 = device_of(first)
        for _, x in found[1:]:
            dev = device_of(x)
            if dev != dev0:
                raise TypeError(f"arrays on different devices: {dev0} and {dev}; move them to one device")
    return array_api_compat.array_namespace(*(x for _, x in found))


# --------------------------------------------------------------------------------------
# Registry


def register(op: str, library: str = GENERIC) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``fn`` as the implementation of ``op`` for ``library``.

    Use ``library="generic"`` for the standard-only fallback.

    Parameters
    ----------
    op : str
        Operation name, e.g. ``"thin_svd"``.
    library : str, optional
        Library name as :func:`library_name` gives it; default ``"generic"``, the fallback
        for every library.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY.setdefault(op, {})[library] = fn
        return fn

    return deco


def lookup(op: str, xp: Namespace) -> Callable[..., Any]:
    """Implementation of ``op`` for namespace ``xp``: native first, generic last.

    Parameters
    ----------
    op : str
        Registered operation name, e.g. ``"thin_svd"``.
    xp : namespace
        Array namespace of the arrays (from :func:`tnkit.backend.namespace`).
    """
    impls = _REGISTRY.get(op)
    if impls is None:
        raise KeyError(f"no operation {op!r} in the tnkit.backend registry")
    fn = impls.get(library_name(xp)) or impls.get(GENERIC)
    if fn is None:
        raise NotImplementedError(
            f"operation {op!r} has no implementation for {library_name(xp)} and no generic fallback"
        )
    return fn


def has_native(op: str, xp: Namespace) -> bool:
    """Whether ``op`` has a library-specific (non-generic) implementation for ``xp``.

    Parameters
    ----------
    op : str
        Registered operation name, e.g. ``"thin_svd"``.
    xp : namespace
        Array namespace of the arrays (from :func:`tnkit.backend.namespace`).
    """
    return library_name(xp) in _REGISTRY.get(op, {})


def implementations() -> dict[str, list[str]]:
    """Capability table: for each operation, the libraries with an implementation."""
    return {op: sorted(impls) for op, impls in sorted(_REGISTRY.items())}


# --------------------------------------------------------------------------------------
# Dtypes


def dtype_name(xp: Namespace, dtype: DType) -> str:
    """Name of a dtype without its library prefix, e.g. ``"float64"``.

    Parameters
    ----------
    xp : namespace
        Array namespace of the arrays (from :func:`tnkit.backend.namespace`).
    dtype : dtype
        A dtype of ``xp``.
    """
    for name in ("float32", "float64", "complex64", "complex128"):
        if hasattr(xp, name) and dtype == getattr(xp, name):
            return name
    return str(dtype).rsplit(".", 1)[-1]


def is_complex_dtype(xp: Namespace, dtype: DType) -> bool:
    """Whether ``dtype`` is a complex floating dtype.

    Parameters
    ----------
    xp : namespace
        Array namespace of the arrays (from :func:`tnkit.backend.namespace`).
    dtype : dtype
        A dtype of ``xp``.
    """
    return xp.isdtype(dtype, "complex floating")


def real_dtype(xp: Namespace, dtype: DType) -> DType:
    """float32 for complex64/float32, float64 for complex128/float64.

    Parameters
    ----------
    xp : namespace
        Array namespace of the arrays (from :func:`tnkit.backend.namespace`).
    dtype : dtype
        A floating dtype of ``xp``.
    """
    if dtype == xp.complex64 or dtype == xp.float32:
        return xp.float32
    if dtype == xp.complex128 or dtype == xp.float64:
        return xp.float64
    raise TypeError(f"expected a floating dtype, got {dtype}")


def complex_dtype(xp: Namespace, dtype: DType) -> DType:
    """complex64 for float32/complex64, complex128 for float64/complex128.

    Parameters
    ----------
    xp : namespace
        Array namespace of the arrays (from :func:`tnkit.backend.namespace`).
    dtype : dtype
        A floating dtype of ``xp``.
    """
    return xp.complex64 if real_dtype(xp, dtype) == xp.float32 else xp.complex128


def dtype_eps(xp: Namespace, dtype: DType) -> float:
    """Machine epsilon of ``dtype``'s real precision (of float32 for complex64).

    Parameters
    ----------
    xp : namespace
        Array namespace of the arrays (from :func:`tnkit.backend.namespace`).
    dtype : dtype
        A floating dtype of ``xp``.
    """
    return float(xp.finfo(real_dtype(xp, dtype)).eps)


def conj(xp: Namespace, a: Array) -> Array:
    """Complex conjugate; real arrays are returned as they are (no copy).

    Parameters
    ----------
    xp : namespace
        Array namespace of the arrays (from :func:`tnkit.backend.namespace`).
    a : array
        Real or complex array.
    """
    return xp.conj(a) if xp.isdtype(a.dtype, "complex floating") else a


def adjoint(xp: Namespace, m: Array) -> Array:
    """Conjugate transpose of the last two axes.

    Parameters
    ----------
    xp : namespace
        Array namespace of the arrays (from :func:`tnkit.backend.namespace`).
    m : array, shape (..., n, k)
        Matrix or stack of matrices.
    """
    return conj(xp, xp.matrix_transpose(m))


# --------------------------------------------------------------------------------------
# Host transfer and creation on a given device


def to_host(x: Array) -> np.ndarray:
    """A NumPy copy of ``x`` (for small control-flow data and I/O only).

    Parameters
    ----------
    x : array
        Array of any supported library and device.
    """
    return lookup("to_host", namespace(x))(x)


@register("to_host", "numpy")
def _to_host_numpy(x: Array) -> np.ndarray:
    return np.asarray(x)


@register("to_host", "torch")
def _to_host_torch(x: Array) -> np.ndarray:
    return x.detach().cpu().resolve_conj().numpy()


@register("to_host", "cupy")
def _to_host_cupy(x: Array) -> np.ndarray:
    return x.get()


@register("to_host", GENERIC)
def _to_host_generic(x: Array) -> np.ndarray:
    return np.from_dlpack(x)


def asarray_like(a: Array, like: Array, dtype: DType | None = None) -> Array:
    """``a`` (host data) as an array of ``like``'s library, on ``like``'s device.

    Parameters
    ----------
    a : array_like
        Host data to convert.
    like : array
        Array whose library and device the result takes.
    dtype : dtype, optional
        Dtype of the result (a dtype of ``like``'s library); default ``like.dtype``.
    """
    xp = namespace(like)
    return xp.asarray(a, dtype=dtype if dtype is not None else like.dtype, device=device_of(like))


def make_rng(rng: RNG) -> np.random.Generator:
    """Normalise an ``rng`` argument: a Generator, a seed, or None (fresh entropy).

    Parameters
    ----------
    rng : numpy.random.Generator, int or None
        Returned as it is if a Generator; a seed for a new Generator if an int; fresh
        OS entropy if None.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def random_normal(
    xp: Namespace,
    shape: tuple[int, ...],
    *,
    dtype: DType,
    device: Device | None = None,
    rng: RNG = None,
) -> Array:
    """Standard normal draws of ``dtype`` on ``device``, reproducible from ``rng``.

    Draws are made on the host by NumPy (so a seed gives the same numbers on every
    library and device) and moved once. Complex dtypes get independent real and
    imaginary parts with unit total variance.

    Parameters
    ----------
    xp : namespace
        Array namespace of the arrays (from :func:`tnkit.backend.namespace`).
    shape : tuple of int
        Shape of the result.
    dtype : dtype
        Floating dtype of ``xp`` (real or complex).
    device : device, optional
        Device of the result; default the library's default device.
    rng : numpy.random.Generator, int or None, optional
        Source of the draws (see :func:`make_rng`); default fresh entropy.
    """
    gen = make_rng(rng)
    if is_complex_dtype(xp, dtype):
        host = (gen.standard_normal(shape) + 1j * gen.standard_normal(shape)) / math.sqrt(2.0)
        host = host.astype(np.complex64 if dtype == xp.complex64 else np.complex128)
    else:
        host = gen.standard_normal(shape).astype(np.float32 if dtype == xp.float32 else np.float64)
    if device is None:
        return xp.asarray(host, dtype=dtype)
    return xp.asarray(host, dtype=dtype, device=device)


# --------------------------------------------------------------------------------------
# Memory layout


def c_contiguous(x: Array) -> Array:
    """``x`` in C (row-major) order: ``x`` itself when it already is, else one copy.

    Decompositions reshape and unfold their input many times; on a Fortran-ordered or
    permuted view each of those pays a strided copy (2-2.3x slower tt_svd, sthosvd and
    hooi at 160^3), so entry points pay this one copy up front instead.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.asfortranarray(np.ones((3, 4)))
    >>> c_contiguous(a).flags["C_CONTIGUOUS"], c_contiguous(np.ones(3)) is not None
    (True, True)
    """
    return lookup("c_contiguous", namespace(x))(x)


@register("c_contiguous", "numpy")
def _c_contiguous_numpy(x: Array) -> Array:
    return np.ascontiguousarray(x)


@register("c_contiguous", "torch")
def _c_contiguous_torch(x: Array) -> Array:
    return x.contiguous()


@register("c_contiguous", "cupy")
def _c_contiguous_cupy(x: Array) -> Array:
    import cupy

    return cupy.ascontiguousarray(x)


@register("c_contiguous")
def _c_contiguous_generic(x: Array) -> Array:
    return x  # libraries without a layout to choose (array_api_strict)


# --------------------------------------------------------------------------------------
# einsum: native where the library has one


def einsum(subscripts: str, *operands: Array) -> Array:
    """Native einsum of the operands' library (no path optimisation).

    Raises NotImplementedError for libraries without one (use :func:`tnkit.contract`,
    which works everywhere).

    Parameters
    ----------
    subscripts : str
        Einsum subscripts, e.g. ``"ij,jk->ik"``.
    *operands : array
        Arrays of one library.
    """
    return lookup("einsum", namespace(*operands))(subscripts, *operands)


@register("einsum", "numpy")
def _einsum_numpy(subscripts: str, *operands: Array) -> Array:
    return np.einsum(subscripts, *operands)


@register("einsum", "torch")
def _einsum_torch(subscripts: str, *operands: Array) -> Array:
    import torch

    return torch.einsum(subscripts, *operands)


@register("einsum", "cupy")
def _einsum_cupy(subscripts: str, *operands: Array) -> Array:
    import cupy

    return cupy.einsum(subscripts, *operands)


# --------------------------------------------------------------------------------------
# Thin SVD


def thin_svd(a: Array) -> tuple[Array, Array, Array]:
    """Thin SVD ``a = u @ diag(s) @ vh`` (``full_matrices=False``), s descending.

    Parameters
    ----------
    a : array, shape (..., m, n)
        Matrix or stack of matrices.
    """
    xp = namespace(a)
    return lookup("thin_svd", xp)(xp, a)


@register("thin_svd", "numpy")
def _thin_svd_numpy(xp: Namespace, a: Array) -> tuple[Array, Array, Array]:
    return np.linalg.svd(a, full_matrices=False)


@register("thin_svd", "torch")
def _thin_svd_torch(xp: Namespace, a: Array) -> tuple[Array, Array, Array]:
    import torch

    return torch.linalg.svd(a, full_matrices=False)


@register("thin_svd", "cupy")
def _thin_svd_cupy(xp: Namespace, a: Array) -> tuple[Array, Array, Array]:
    import cupy

    return cupy.linalg.svd(a, full_matrices=False)


@register("thin_svd", GENERIC)
def _thin_svd_generic(xp: Namespace, a: Array) -> tuple[Array, Array, Array]:
    u, s, vh = xp.linalg.svd(a, full_matrices=False)
    return u, s, vh


# --------------------------------------------------------------------------------------
# Matrix exponential of a small dense matrix (Krylov projections)


def expm(a: Array) -> Array:
    """Matrix exponential of a square matrix, on its device.

    Parameters
    ----------
    a : array, shape (n, n)
        Square matrix.
    """
    xp = namespace(a)
    return lookup("expm", xp)(xp, a)


@register("expm", "numpy")
def _expm_numpy(xp: Namespace, a: Array) -> Array:
    import scipy.linalg

    return scipy.linalg.expm(a)


@register("expm", "torch")
def _expm_torch(xp: Namespace, a: Array) -> Array:
    import torch

    return torch.linalg.matrix_exp(a)


@register("expm", "cupy")
def _expm_cupy(xp: Namespace, a: Array) -> Array:
    import cupyx.scipy.linalg

    return cupyx.scipy.linalg.expm(a)


# Padé(13) coefficients for scaling and squaring (Higham 2005, SIAM J. Matrix Anal. Appl. 26).
_PADE13 = (
    64764752532480000.0,
    32382376266240000.0,
    7771770303897600.0,
    1187353796428800.0,
    129060195264000.0,
    10559470521600.0,
    670442572800.0,
    33522128640.0,
    1323241920.0,
    40840800.0,
    960960.0,
    16380.0,
    182.0,
    1.0,
)
_THETA13 = 5.371920351148152


@register("expm", GENERIC)
def _expm_generic(xp: Namespace, a: Array) -> Array:
    """Scaling and squaring with a degree-13 Padé approximant, standard ops only."""
    n = a.shape[0]
    norm1 = float(xp.max(xp.sum(xp.abs(a), axis=0))) if n else 0.0
    squarings = max(0, int(math.ceil(math.log2(norm1 / _THETA13)))) if norm1 > _THETA13 else 0
    a = a / (2.0**squarings)
    eye = xp.eye(n, dtype=a.dtype, device=device_of(a))
    b = _PADE13
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    r = xp.linalg.solve(v - u, v + u)
    for _ in range(squarings):
        r = r @ r
    return r


# --------------------------------------------------------------------------------------
# A window of eigenpairs of a small dense Hermitian matrix


def eigh_subset(a: Array, lo: int, hi: int) -> tuple[Array, Array]:
    """Eigenpairs ``lo..hi`` (inclusive, ascending) of a Hermitian matrix.

    NumPy uses LAPACK's subset driver (``scipy.linalg.eigh(subset_by_index=...)``),
    which is cheaper than a full decomposition when the window is narrow; the other
    libraries decompose fully and slice.

    Parameters
    ----------
    a : array, shape (n, n)
        Hermitian matrix.
    lo, hi : int
        First and last eigenvalue index wanted, ``0 <= lo <= hi < n``, counted ascending.

    Returns
    -------
    w : array, shape (hi - lo + 1,)
    v : array, shape (n, hi - lo + 1)
    """
    xp = namespace(a)
    n = a.shape[-1]
    if a.ndim != 2 or a.shape[0] != n:
        raise ValueError(f"eigh_subset: expected a square matrix, got shape {tuple(a.shape)}")
    if not (0 <= lo <= hi < n):
        raise ValueError(f"eigh_subset: need 0 <= lo <= hi < {n}, got lo={lo}, hi={hi}")
    return lookup("eigh_subset", xp)(xp, a, lo, hi)


@register("eigh_subset", "numpy")
def _eigh_subset_numpy(xp: Namespace, a: Array, lo: int, hi: int) -> tuple[Array, Array]:
    import scipy.linalg

    return scipy.linalg.eigh(a, subset_by_index=[lo, hi])


@register("eigh_subset", GENERIC)
def _eigh_subset_generic(xp: Namespace, a: Array, lo: int, hi: int) -> tuple[Array, Array]:
    w, v = xp.linalg.eigh(a)
    return w[lo : hi + 1], v[:, lo : hi + 1]
