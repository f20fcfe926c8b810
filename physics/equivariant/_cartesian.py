"""Cartesian rank-2 tensors: the I/A/S decomposition and its invariants.

A real 3 x 3 matrix ``X`` splits into three parts that never mix under rotations
``X -> R X R^T`` [TensorNet]_::

    X = I + A + S
    I = tr(X) / 3 * Id              isotropic        (1 component,  irrep l = 0)
    A = (X - X^T) / 2               antisymmetric    (3 components, irrep l = 1, a pseudovector)
    S = (X + X^T) / 2 - I           symmetric traceless (5 components, irrep l = 2)

The parts are orthogonal under the Frobenius inner product ``<X, Y> = sum_ij X_ij Y_ij``,
so ``|X|^2 = |I|^2 + |A|^2 + |S|^2``. Every function takes arrays of shape ``(..., 3, 3)``
(or ``(..., 3)`` for vectors) from any array library (NumPy, PyTorch, CuPy; torch is the
main target), returns arrays of the same library, dtype and device, and stays
differentiable under torch autograd.

References
----------
.. [TensorNet] G. Simeon, G. De Fabritiis, "TensorNet: Cartesian Tensor Representations
   for Efficient Learning of Molecular Potentials", NeurIPS 2023, arXiv:2306.06482.
"""

from __future__ import annotations

from tnkit.backend import device_of, namespace
from tnkit.types import Array, Namespace

__all__ = [
    "decompose",
    "frobenius_inner",
    "frobenius_norm",
    "invariants",
    "skew",
    "symmetric_traceless",
    "tensor_norm",
    "trace",
    "vector_from_skew",
]


def _check_matrix(X: Array, name: str) -> None:
    if tuple(X.shape[-2:]) != (3, 3):
        raise ValueError(f"{name}: expected a tensor of shape (..., 3, 3), got {tuple(X.shape)}")


def _check_vector(v: Array, name: str) -> None:
    if len(v.shape) < 1 or v.shape[-1] != 3:
        raise ValueError(f"{name}: expected vectors of shape (..., 3), got {tuple(v.shape)}")


def _identity(xp: Namespace, like: Array) -> Array:
    return xp.eye(3, dtype=like.dtype, device=device_of(like))


def trace(X: Array) -> Array:
    """Trace of the last two axes.

    Parameters
    ----------
    X : array, shape (..., 3, 3)

    Returns
    -------
    array, shape (...)

    Examples
    --------
    >>> import torch
    >>> trace(torch.arange(9.0).reshape(3, 3))
    tensor(12.)
    """
    _check_matrix(X, "trace")
    return namespace(X).linalg.trace(X)


def decompose(X: Array) -> tuple[Array, Array, Array]:
    """Split rank-2 tensors into isotropic, antisymmetric and symmetric traceless parts.

    Parameters
    ----------
    X : array, shape (..., 3, 3)

    Returns
    -------
    I : array, shape (..., 3, 3)
        ``tr(X) / 3 * Id``.
    A : array, shape (..., 3, 3)
        ``(X - X^T) / 2``.
    S : array, shape (..., 3, 3)
        ``(X + X^T) / 2 - I``; symmetric with zero trace.

    Raises
    ------
    ValueError
        If the last two axes are not ``(3, 3)``.

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[1.0, 2.0, 0.0], [0.0, 3.0, 0.0], [4.0, 0.0, 5.0]])
    >>> I, A, S = decompose(X)
    >>> I.diagonal()
    tensor([3., 3., 3.])
    >>> A
    tensor([[ 0.,  1., -2.],
            [-1.,  0.,  0.],
            [ 2.,  0.,  0.]])
    >>> S
    tensor([[-2.,  1.,  2.],
            [ 1.,  0.,  0.],
            [ 2.,  0.,  2.]])
    >>> bool(torch.equal(I + A + S, X))
    True
    """
    _check_matrix(X, "decompose")
    xp = namespace(X)
    XT = xp.matrix_transpose(X)
    iso = (xp.linalg.trace(X) / 3)[..., None, None] * _identity(xp, X)
    return iso, (X - XT) / 2, (X + XT) / 2 - iso


def skew(v: Array) -> Array:
    """Skew-symmetric matrix of a vector: ``skew(v) @ u == cross(v, u)``.

    The convention is the usual cross-product matrix::

        skew(v) = [[  0,  -v_z,  v_y],
                   [ v_z,   0,  -v_x],
                   [-v_y,  v_x,   0 ]]

    Under a rotation or reflection ``R``, ``R skew(v) R^T == skew(det(R) R v)``: the
    vector of an antisymmetric tensor is a pseudovector.

    Parameters
    ----------
    v : array, shape (..., 3)

    Returns
    -------
    array, shape (..., 3, 3)

    Raises
    ------
    ValueError
        If the last axis is not of length 3.

    Examples
    --------
    >>> import torch
    >>> skew(torch.tensor([1.0, 2.0, 3.0]))
    tensor([[ 0., -3.,  2.],
            [ 3.,  0., -1.],
            [-2.,  1.,  0.]])
    >>> skew(torch.tensor([0.0, 0.0, 1.0])) @ torch.tensor([1.0, 0.0, 0.0])
    tensor([0., 1., 0.])
    """
    _check_vector(v, "skew")
    xp = namespace(v)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    zero = xp.zeros_like(x)
    rows = [xp.stack([zero, -z, y], axis=-1), xp.stack([z, zero, -x], axis=-1), xp.stack([-y, x, zero], axis=-1)]
    return xp.stack(rows, axis=-2)


def vector_from_skew(X: Array) -> Array:
    """The vector ``v`` with ``skew(v)`` equal to the antisymmetric part of ``X``.

    Inverse of :func:`skew` on antisymmetric matrices: ``v = ((X_zy - X_yz) / 2,
    (X_xz - X_zx) / 2, (X_yx - X_xy) / 2)``.

    Parameters
    ----------
    X : array, shape (..., 3, 3)

    Returns
    -------
    array, shape (..., 3)

    Examples
    --------
    >>> import torch
    >>> vector_from_skew(skew(torch.tensor([1.0, 2.0, 3.0])))
    tensor([1., 2., 3.])
    """
    _check_matrix(X, "vector_from_skew")
    xp = namespace(X)
    return xp.stack(
        [(X[..., 2, 1] - X[..., 1, 2]) / 2, (X[..., 0, 2] - X[..., 2, 0]) / 2, (X[..., 1, 0] - X[..., 0, 1]) / 2],
        axis=-1,
    )


def symmetric_traceless(v: Array, *, normalize: bool = False) -> Array:
    """Symmetric traceless outer product ``v v^T - |v|^2 / 3 * Id``.

    Parameters
    ----------
    v : array, shape (..., 3)
    normalize : bool, default False
        Use the unit vector ``v / |v|`` instead, giving ``v̂ v̂^T - Id / 3`` (the form
        TensorNet builds from bond directions). Zero vectors then give NaN.

    Returns
    -------
    array, shape (..., 3, 3)

    Examples
    --------
    >>> import torch
    >>> symmetric_traceless(torch.tensor([0.0, 0.0, 3.0]))
    tensor([[-3.,  0.,  0.],
            [ 0., -3.,  0.],
            [ 0.,  0.,  6.]])
    >>> (symmetric_traceless(torch.tensor([0.0, 0.0, 3.0]), normalize=True) * 3).round()
    tensor([[-1.,  0.,  0.],
            [ 0., -1.,  0.],
            [ 0.,  0.,  2.]])
    """
    _check_vector(v, "symmetric_traceless")
    xp = namespace(v)
    sq = xp.sum(v * v, axis=-1)
    if normalize:
        v = v / xp.sqrt(sq)[..., None]
        sq = xp.ones_like(sq)
    outer = v[..., :, None] * v[..., None, :]
    return outer - (sq / 3)[..., None, None] * _identity(xp, v)


def frobenius_inner(X: Array, Y: Array) -> Array:
    """Frobenius inner product ``sum_ij X_ij Y_ij`` over the last two axes.

    Parameters
    ----------
    X, Y : arrays, shape (..., 3, 3), broadcastable against each other

    Returns
    -------
    array, shape (...)

    Examples
    --------
    >>> import torch
    >>> X = torch.arange(9.0).reshape(3, 3)
    >>> I, A, S = decompose(X)
    >>> float(frobenius_inner(A, S)), float(frobenius_inner(X, torch.eye(3)))
    (0.0, 12.0)
    """
    _check_matrix(X, "frobenius_inner")
    _check_matrix(Y, "frobenius_inner")
    xp = namespace(X, Y)
    return xp.sum(X * Y, axis=(-2, -1))


def tensor_norm(X: Array) -> Array:
    """Squared Frobenius norm ``sum_ij X_ij^2`` (TensorNet's ``tensor_norm``).

    The square is smooth everywhere, unlike :func:`frobenius_norm`, whose gradient is
    undefined at zero.

    Parameters
    ----------
    X : array, shape (..., 3, 3)

    Returns
    -------
    array, shape (...)

    Examples
    --------
    >>> import torch
    >>> tensor_norm(torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0]]))
    tensor(9.)
    """
    return frobenius_inner(X, X)


def frobenius_norm(X: Array) -> Array:
    """Frobenius norm ``sqrt(sum_ij X_ij^2)``.

    Parameters
    ----------
    X : array, shape (..., 3, 3)

    Returns
    -------
    array, shape (...)

    Examples
    --------
    >>> import torch
    >>> frobenius_norm(torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0]]))
    tensor(3.)
    """
    return namespace(X).sqrt(tensor_norm(X))


def invariants(X: Array) -> tuple[Array, Array, Array, Array]:
    """Rotation invariants of rank-2 tensors: the trace and the squared norms of the parts.

    All four are unchanged by ``X -> R X R^T`` for any orthogonal ``R`` (reflections
    included), and ``|I|^2 + |A|^2 + |S|^2 == |X|^2``.

    Parameters
    ----------
    X : array, shape (..., 3, 3)

    Returns
    -------
    trace : array, shape (...)
    norm_i, norm_a, norm_s : arrays, shape (...)
        Squared Frobenius norms (:func:`tensor_norm`) of the isotropic, antisymmetric
        and symmetric traceless parts of :func:`decompose`.

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[1.0, 2.0, 0.0], [0.0, 3.0, 0.0], [4.0, 0.0, 5.0]])
    >>> [float(x) for x in invariants(X)]
    [9.0, 27.0, 10.0, 18.0]
    >>> float(tensor_norm(X))
    55.0
    """
    iso, anti, sym = decompose(X)
    return trace(X), tensor_norm(iso), tensor_norm(anti), tensor_norm(sym)
