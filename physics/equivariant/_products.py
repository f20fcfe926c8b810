"""Irreps and the plan of a Clebsch–Gordan tensor product, shared by every backend.

:class:`Irreps` is a parsed ``"16x0e + 16x1o"`` (e3nn's notation and its flat layout:
each slot ``mul x (l, p)`` occupies ``mul * (2l + 1)`` consecutive numbers, multiplicity
major). :class:`ProductPlan` is what a backend needs: the paths ``(slot1, slot2, slot_out)``
with their connection mode, their e3nn normalisation factor, and where each path's
weights sit in the flat weight vector. Backends live in ``_backends.py``; the module
:class:`~physics.equivariant.TensorProduct` ties them together.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

from physics.equivariant._so3 import MAX_DEGREE

__all__ = ["Irreps", "ProductPlan", "Path", "WEIGHTINGS", "MODES"]

MODES = ("uvu", "uvw")
"""Connection modes: ``"uvu"`` channelwise (output multiplicity = the first input's,
weights ``(mul1, mul2)`` per path) and ``"uvw"`` fully connected (weights
``(mul1, mul2, mul_out)`` per path); e3nn's names."""

WEIGHTINGS = ("path", "degree")
"""How weights are parametrised: ``"path"`` — e3nn's, one block per path; ``"degree"`` —
factorised over the slots, ``w_path = a[slot1] b[slot2] c[slot_out]`` (the Gaunt / S²
products' form: they multiply whole functions, so they cannot weight paths separately)."""

_TERM = re.compile(r"^\s*(?:(\d+)\s*x\s*)?(\d+)\s*([eo])\s*$")


@dataclasses.dataclass(frozen=True)
class Irrep:
    """One irreducible representation of O(3): degree ``l`` and parity ``p`` (+1 even, -1 odd).

    Parameters
    ----------
    l : int
        Degree, ``>= 0``; the representation has dimension ``2l + 1``.
    p : int
        Parity under inversion: ``+1`` (``"e"``) or ``-1`` (``"o"``).
    """

    l: int  # noqa: E741 - the field's name for the degree
    p: int

    @property
    def dim(self) -> int:
        """``2l + 1``."""
        return 2 * self.l + 1

    def __str__(self) -> str:
        return f"{self.l}{'e' if self.p == 1 else 'o'}"


class Irreps(Sequence[tuple[int, Irrep]]):
    """A direct sum of O(3) irreps with multiplicities, in e3nn's notation and layout.

    Parameters
    ----------
    spec : str, Irreps, e3nn.o3.Irreps, or sequence of (mul, (l, p))
        ``"16x0e + 8x1o + 2e"`` (a missing multiplicity is 1); ``p`` is ``"e"``/``"o"``
        or ``+1``/``-1`` in the tuple form.

    Raises
    ------
    ValueError
        A term that is not ``[mul x] l e|o`` with integers ``mul >= 0``, ``l >= 0``.

    Examples
    --------
    >>> ir = Irreps("16x0e + 8x1o")
    >>> ir.dim, len(ir), str(ir)
    (40, 2, '16x0e+8x1o')
    >>> [s.start for s in ir.slices()]
    [0, 16]
    """

    def __init__(self, spec: Any) -> None:
        entries: list[tuple[int, Irrep]] = []
        if isinstance(spec, Irreps):
            entries = list(spec)
        elif isinstance(spec, str) or type(spec).__module__.startswith("e3nn"):
            text = str(spec).strip()
            for term in text.split("+") if text else []:
                match = _TERM.match(term)
                if match is None:
                    raise ValueError(
                        f"Irreps: cannot parse {term.strip()!r} in {text!r}; write terms like '16x1o' or '2e'"
                    )
                mul = int(match.group(1)) if match.group(1) is not None else 1
                entries.append((mul, Irrep(int(match.group(2)), 1 if match.group(3) == "e" else -1)))
        else:
            for item in spec:
                try:
                    mul, (l, p) = item
                    parity = {"e": 1, "o": -1, 1: 1, -1: -1}[p]
                    ok = int(mul) == mul and mul >= 0 and int(l) == l and l >= 0
                except (TypeError, ValueError, KeyError):
                    ok = False
                if not ok:
                    raise ValueError(f"Irreps: expected (mul, (l, parity)) with parity 'e'/'o' or +1/-1, got {item!r}")
                entries.append((int(mul), Irrep(int(l), parity)))
        self._entries: tuple[tuple[int, Irrep], ...] = tuple(entries)

    def __getitem__(self, i: Any) -> Any:
        return self._entries[i]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[tuple[int, Irrep]]:
        return iter(self._entries)

    def __eq__(self, other: object) -> bool:
        try:
            return self._entries == Irreps(other)._entries
        except (ValueError, TypeError):
            return False

    def __hash__(self) -> int:
        return hash(self._entries)

    def __str__(self) -> str:
        return "+".join(f"{mul}x{ir}" for mul, ir in self._entries)

    def __repr__(self) -> str:
        return f"Irreps({str(self)!r})"

    @property
    def dim(self) -> int:
        """Total number of components, ``sum mul (2l + 1)``."""
        return sum(mul * ir.dim for mul, ir in self._entries)

    @property
    def lmax(self) -> int:
        """Highest degree (``-1`` when empty)."""
        return max((ir.l for _, ir in self._entries), default=-1)

    def slices(self) -> list[slice]:
        """Where each slot sits in the flat layout."""
        out, start = [], 0
        for mul, ir in self._entries:
            out.append(slice(start, start + mul * ir.dim))
            start += mul * ir.dim
        return out

    @classmethod
    def spherical_harmonics(cls, lmax: int, mul: int = 1) -> Irreps:
        """``mul x 0e + mul x 1o + mul x 2e + ...`` up to ``lmax``: parity ``(-1)^l``, as harmonics have.

        Parameters
        ----------
        lmax : int
            Highest degree.
        mul : int
            Multiplicity of every degree.

        Returns
        -------
        Irreps
        """
        return cls([(mul, (d, 1 if d % 2 == 0 else -1)) for d in range(lmax + 1)])


@dataclasses.dataclass(frozen=True)
class Path:
    """One coupling ``slot1 (x) slot2 -> slot_out`` of a tensor product."""

    i1: int
    i2: int
    i_out: int
    l1: int
    l2: int
    l3: int
    mul1: int
    mul2: int
    mul_out: int
    mode: str
    alpha: float  # e3nn's normalisation factor (a square root), applied with the weights
    weight_slice: slice  # this path's weights in the flat "path" weight vector

    @property
    def odd(self) -> bool:
        """``l1 + l2 + l3`` odd: a path no product of functions on the sphere has."""
        return (self.l1 + self.l2 + self.l3) % 2 == 1

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """``(mul1, mul2)`` channelwise, ``(mul1, mul2, mul_out)`` fully connected."""
        return (self.mul1, self.mul2) if self.mode == "uvu" else (self.mul1, self.mul2, self.mul_out)


def _instruction(item: Any) -> tuple[int, int, int, float]:
    """``(i1, i2, i_out)`` or e3nn's ``(i1, i2, i_out, mode, has_weight[, path_weight])``."""
    try:
        i1, i2, io = (int(v) for v in item[:3])
        path_weight = float(item[5]) if len(item) > 5 else 1.0
        if len(item) > 4 and not item[4]:
            raise ValueError("paths without weights are not supported; give every path a weight")
    except (TypeError, IndexError) as error:
        raise ValueError(f"instruction {item!r} is not (i1, i2, i_out[, mode, has_weight, path_weight])") from error
    return i1, i2, io, path_weight


class ProductPlan:
    """The paths of a tensor product, their normalisation and weight layout (backend-independent).

    Parameters
    ----------
    irreps_in1, irreps_in2, irreps_out : Irreps or str
    instructions : sequence or None
        ``(i1, i2, i_out)`` triples (or e3nn's longer tuples, whose mode must equal
        ``mode``); ``None`` takes every coupling the parity and triangle rules allow.
    mode : {"uvu", "uvw"}
    weighting : {"path", "degree"}
    irrep_normalization, path_normalization : str
        e3nn's ``"component"`` / ``"norm"`` / ``"none"`` and ``"element"`` / ``"path"`` / ``"none"``.

    Raises
    ------
    ValueError
        An unknown mode or weighting, a degree beyond the tables (64), an instruction naming a missing slot, a coupling
        the parity or triangle rule forbids, or a channelwise path whose output
        multiplicity differs from the first input's.
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
        irrep_normalization: str = "component",
        path_normalization: str = "element",
    ) -> None:
        if mode not in MODES:
            raise ValueError(
                f"TensorProduct: unknown mode {mode!r}; choose 'uvu' (channelwise) or 'uvw' (fully connected)"
            )
        if weighting not in WEIGHTINGS:
            raise ValueError(f"TensorProduct: unknown weighting {weighting!r}; choose 'path' or 'degree'")
        if irrep_normalization not in ("component", "norm", "none"):
            raise ValueError(
                f"TensorProduct: irrep_normalization must be 'component', 'norm' or 'none', got {irrep_normalization!r}"
            )
        if path_normalization not in ("element", "path", "none"):
            raise ValueError(
                f"TensorProduct: path_normalization must be 'element', 'path' or 'none', got {path_normalization!r}"
            )
        self.irreps_in1, self.irreps_in2, self.irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
        for name, irreps in (
            ("irreps_in1", self.irreps_in1),
            ("irreps_in2", self.irreps_in2),
            ("irreps_out", self.irreps_out),
        ):
            if irreps.lmax > MAX_DEGREE:
                raise ValueError(
                    f"TensorProduct: {name} has degree {irreps.lmax}; the coupling tables go to l = {MAX_DEGREE}"
                )
        self.mode, self.weighting = mode, weighting
        in1, in2, out = self.irreps_in1, self.irreps_in2, self.irreps_out
        if instructions is None:
            triples = [
                (i1, i2, io, 1.0)
                for i1, (m1, r1) in enumerate(in1)
                for i2, (m2, r2) in enumerate(in2)
                for io, (mo, ro) in enumerate(out)
                if r1.p * r2.p == ro.p and abs(r1.l - r2.l) <= ro.l <= r1.l + r2.l and (mode == "uvw" or mo == m1)
            ]
        else:
            triples = []
            for item in instructions:
                if not isinstance(item, (str, bytes)) and len(item) > 3 and item[3] != mode:
                    raise ValueError(
                        f"TensorProduct: instruction {tuple(item)} has mode {item[3]!r} "
                        f"but the product's mode is {mode!r}"
                    )
                triples.append(_instruction(item))
        checked = []
        for i1, i2, io, pw in triples:
            if not (0 <= i1 < len(in1) and 0 <= i2 < len(in2) and 0 <= io < len(out)):
                raise ValueError(
                    f"TensorProduct: instruction ({i1}, {i2}, {io}) names a slot that does not exist "
                    f"({len(in1)}, {len(in2)}, {len(out)} slots)"
                )
            (m1, r1), (m2, r2), (mo, ro) = in1[i1], in2[i2], out[io]
            if r1.p * r2.p != ro.p or not abs(r1.l - r2.l) <= ro.l <= r1.l + r2.l:
                raise ValueError(f"TensorProduct: {r1} x {r2} -> {ro} is forbidden by the parity or triangle rule")
            if mode == "uvu" and mo != m1:
                raise ValueError(
                    f"TensorProduct: channelwise path {i1}x{i2}->{io} needs output multiplicity {m1}, got {mo}; "
                    "use mode='uvw' or change irreps_out"
                )
            checked.append((i1, i2, io, pw))

        def elements(i1: int, i2: int) -> int:
            return in2[i2][0] if mode == "uvu" else in1[i1][0] * in2[i2][0]

        paths: list[Path] = []
        offset = 0
        for i1, i2, io, pw in checked:
            (m1, r1), (m2, r2), (mo, ro) = in1[i1], in2[i2], out[io]
            alpha = {"component": ro.dim, "norm": r1.dim * r2.dim, "none": 1}[irrep_normalization]
            if path_normalization == "element":
                x = sum(elements(a, b) for a, b, c, _ in checked if c == io)
            elif path_normalization == "path":
                x = elements(i1, i2) * sum(1 for t in checked if t[2] == io)
            else:
                x = 1
            if x > 0:
                alpha /= x
            alpha *= pw
            size = m1 * m2 * (1 if mode == "uvu" else mo)
            paths.append(
                Path(i1, i2, io, r1.l, r2.l, ro.l, m1, m2, mo, mode, math.sqrt(alpha), slice(offset, offset + size))
            )
            offset += size
        self.paths = paths
        self.path_weight_numel = offset
        if weighting == "degree":
            self.degree_layout = self._degree_layout()
            self.weight_numel = self.degree_layout[-1].stop
        else:
            self.weight_numel = offset

    def _degree_layout(self) -> tuple[slice, slice, slice]:
        """Where ``a`` (per in1 slot x mul1), ``b`` (per in2 slot x mul2), ``c`` sit; ``c`` is
        per output slot x ``(mul1, mul2)`` channelwise and ``(mul1, mul2, mul_out)`` fully connected."""
        n_a = sum(mul for mul, _ in self.irreps_in1)
        n_b = sum(mul for mul, _ in self.irreps_in2)
        mul1 = {m for m, _ in self.irreps_in1}
        mul2 = {m for m, _ in self.irreps_in2}
        if len(mul1) > 1 or len(mul2) > 1:
            raise ValueError(
                "TensorProduct: weighting='degree' needs one multiplicity for all of irreps_in1 and one for "
                f"irreps_in2, got {self.irreps_in1} and {self.irreps_in2}"
            )
        u, v = mul1.pop() if mul1 else 0, mul2.pop() if mul2 else 0
        n_c = sum(u * v * (1 if self.mode == "uvu" else mul) for mul, _ in self.irreps_out)
        return slice(0, n_a), slice(n_a, n_a + n_b), slice(n_a + n_b, n_a + n_b + n_c)

    def describe(self) -> str:
        """One line per path: ``l1 x l2 -> l3`` with slot numbers."""
        return "\n".join(f"{p.i1}:{p.l1} x {p.i2}:{p.l2} -> {p.i_out}:{p.l3} ({p.mode})" for p in self.paths)
