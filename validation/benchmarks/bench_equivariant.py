"""Equivariant tensor products (:class:`physics.equivariant.TensorProduct`) against e3nn 0.6.

The convolution of MACE / NequIP: 1000 edges, node features ``C x (0e + 1o + 2e + ...)`` up to
degree ``L`` (size = L) times the spherical harmonics of the edge vectors up to ``L``, into
``C x (0e + 1o + ...)``; every parity-allowed path, its outputs summed per output degree.
Each call is forward + backward (gradients of features, weights and edge vectors, as
forces need); both sides compute the harmonics from the vectors inside the call. CPU cases
run on one thread (``torch.set_num_threads(1)`` around each call), as the issue measures.

``tp uvu C=.. <backend>``
    Channelwise product with per-edge path weights (radial-network style) against
    ``e3nn.o3.TensorProduct`` with the same instructions and weights. Backends: ``auto``
    (the measured choice, reported in the details), ``dense`` (CG contraction), ``so2``
    (eSCN edge frame). Goals (issue 24): <= 0.25x at L <= 3, 0.4x at L = 4, 0.5x at L = 6.
``tp uvu degree C=.. <backend>``
    The same product with degree-factorised weights (the form of the Gaunt product, Luo et
    al. 2024) on the ``s2grid`` and ``gaunt`` backends; e3nn gets the identical weights
    expanded to paths. Same goals.
``tp fc C=.. <backend>``
    Fully connected (``uvw``) with shared weights against ``e3nn.o3.FullyConnectedTensorProduct``;
    goal <= 0.67x.
``s2 round trip C=..``
    :class:`physics.equivariant.SphereGrid` to values and back for 1000 x C functions of
    degree <= L (forward + backward) against ``e3nn.o3.ToS2Grid`` / ``FromS2Grid`` at their
    default resolution; goal (issue 24) <= 0.33x. Ours is exact for degree 2L (products of
    two degree-L functions project exactly onto degree 0); e3nn's default grid is
    ``2(L+1) x (2L+1)`` points.
``tp uvu C=.. vs cuequivariance``
    tnkit's automatic choice against cuequivariance-torch 0.13's ``ChannelWiseTensorProduct``
    (its torch fallback on the CPU; one output slot per path instead of summed outputs), when
    installed (``tnkit[bench]``); reported, no goal.

The details record the largest difference from the peer's output, the automatic choice,
and the activation memory each side keeps for backward (bytes of the tensors autograd
saves: the memory a training step holds per product).
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

from _cases import Case, Contenders, Skip, max_rel_diff, synchronizer, unavailable

EDGES = 1000
GOALS = {2: 0.25, 3: 0.25, 4: 0.4, 6: 0.5}


def _device(backend: str) -> Any:
    why = unavailable(backend)
    if why:
        raise Skip(why)
    if importlib.util.find_spec("e3nn") is None:
        raise Skip("e3nn not installed (pip install 'tnkit[torch]' -c constraints.txt)")
    import torch

    return torch.device("cuda" if backend == "torch-cuda" else "cpu")


@contextlib.contextmanager
def _threads(device: Any) -> Iterator[None]:
    import torch

    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _step(device: Any, forward: Callable[[], Any], inputs: tuple[Any, ...]) -> Callable[[], Any]:
    """One timed call: ``forward()`` and the gradients of ``sum(out^2)`` with respect to ``inputs``."""

    def call() -> Any:
        import torch

        with _threads(device):
            out = forward()
            torch.autograd.grad(out.square().sum(), inputs)
        return out

    return call


def _saved_mb(forward: Callable[[], Any]) -> float:
    """Megabytes of the tensors autograd saves for backward during ``forward()``."""
    import torch

    total = 0
    seen: set[int] = set()

    def pack(t: Any) -> Any:
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        forward()
    return total / 2**20


def _problem(L: int, C: int, mode: str, weighting: str, device: Any) -> dict[str, Any]:
    import torch

    from physics.equivariant import Irreps, TensorProduct

    features, sh = Irreps.spherical_harmonics(L, C), Irreps.spherical_harmonics(L)
    shared = mode == "uvw"
    probe = TensorProduct(
        features,
        sh,
        features,
        mode=mode,
        weighting=weighting,
        backend="dense",
        shared_weights=shared,
        internal_weights=False,
    )
    g = torch.Generator().manual_seed(0)
    x = torch.randn(EDGES, features.dim, generator=g).to(device).requires_grad_(True)
    v = torch.randn(EDGES, 3, generator=g).to(device).requires_grad_(True)
    shape = (probe.weight_numel,) if shared else (EDGES, probe.weight_numel)
    w = (torch.randn(shape, generator=g) / C**0.5).to(device).requires_grad_(True)
    return {"features": features, "sh": sh, "plan": probe.plan, "x": x, "v": v, "w": w, "shared": shared}


def _e3nn_forward(p: dict[str, Any], mode: str, weighting: str) -> Callable[[], Any]:
    from e3nn import o3

    from physics.equivariant import degree_to_path_weights

    plan, ls = p["plan"], list(range(p["sh"].lmax + 1))
    if mode == "uvw":
        peer = o3.FullyConnectedTensorProduct(
            str(p["features"]), str(p["sh"]), str(p["features"]), shared_weights=True, internal_weights=False
        )
    else:
        instructions = [(q.i1, q.i2, q.i_out, mode, True) for q in plan.paths]
        peer = o3.TensorProduct(
            str(p["features"]),
            str(p["sh"]),
            str(p["features"]),
            instructions,
            shared_weights=p["shared"],
            internal_weights=False,
        )
    peer = peer.to(p["x"].device)
    assert peer.weight_numel == plan.path_weight_numel

    def forward() -> Any:
        w = degree_to_path_weights(plan, p["w"]) if weighting == "degree" else p["w"]
        y = o3.spherical_harmonics(ls, p["v"], normalize=True, normalization="component")
        return peer(p["x"], y, w)

    return forward


def _contenders(backend: str, L: int, C: int, mode: str, weighting: str, ours_backend: str) -> Contenders:

    from physics.equivariant import TensorProduct

    device = _device(backend)
    p = _problem(L, C, mode, weighting, device)
    ours = TensorProduct(
        p["features"],
        p["sh"],
        p["features"],
        mode=mode,
        weighting=weighting,
        backend=ours_backend,
        shared_weights=p["shared"],
        internal_weights=False,
    ).to(device)
    if ours_backend == "cuequivariance":
        raise AssertionError("use _cue_contenders")

    def forward_ours() -> Any:
        return ours(p["x"], weight=p["w"], vectors=p["v"])

    forward_peer = _e3nn_forward(p, mode, weighting)
    inputs = (p["x"], p["w"], p["v"])

    with _threads(device):
        first = forward_ours()  # the automatic choice is measured here, before timing
        reference = forward_peer()

    return Contenders(
        tnkit=_step(device, forward_ours, inputs),
        peer=_step(device, forward_peer, inputs),
        sync=synchronizer(backend),
        max_rel_diff=max_rel_diff(first.detach(), reference.detach()),
        details=lambda: {
            "edges": EDGES,
            "channels": C,
            "paths": len(p["plan"].paths),
            "backend": ours_backend if ours_backend != "auto" else f"auto -> {next(iter(ours.chosen.values()), '?')}",
            "saved_MB_tnkit": round(_saved_mb(forward_ours), 1),
            "saved_MB_peer": round(_saved_mb(forward_peer), 1),
        },
    )


def _cue_contenders(backend: str, L: int, C: int) -> Contenders:
    if importlib.util.find_spec("cuequivariance_torch") is None:
        raise Skip("cuequivariance-torch not installed (pip install 'tnkit[bench]' -c constraints.txt)")
    import cuequivariance as cue
    import cuequivariance_torch as cuet
    import torch

    from physics.equivariant import TensorProduct

    device = _device(backend)
    p = _problem(L, C, "uvu", "path", device)
    ours = TensorProduct(p["features"], p["sh"], p["features"], shared_weights=False, internal_weights=False).to(device)
    features, sh = cue.Irreps("O3", str(p["features"])), cue.Irreps("O3", str(p["sh"]))
    peer = cuet.ChannelWiseTensorProduct(
        features,
        sh,
        filter_irreps_out=features,
        layout=cue.mul_ir,
        shared_weights=False,
        internal_weights=False,
        device=device,
        use_fallback=True if device.type == "cpu" else None,
    )
    g = torch.Generator().manual_seed(1)
    w_peer = torch.randn(EDGES, peer.weight_numel, generator=g).to(device).requires_grad_(True)
    ls = list(range(L + 1))

    def forward_ours() -> Any:
        return ours(p["x"], weight=p["w"], vectors=p["v"])

    def forward_peer() -> Any:
        from physics.equivariant import spherical_harmonics

        return peer(p["x"], spherical_harmonics(ls, p["v"]), w_peer)

    with _threads(device):
        forward_ours()
    return Contenders(
        tnkit=_step(device, forward_ours, (p["x"], p["w"], p["v"])),
        peer=_step(device, forward_peer, (p["x"], w_peer, p["v"])),
        sync=synchronizer(backend),
        details=lambda: {
            "edges": EDGES,
            "channels": C,
            "backend": f"auto -> {next(iter(ours.chosen.values()), '?')}",
            "peer_output_slots": len(peer.irreps_out),
        },
    )


def _round_trip(backend: str, L: int, C: int) -> Contenders:
    import torch
    from e3nn import o3

    from physics.equivariant import SphereGrid

    device = _device(backend)
    ours = SphereGrid(L, device=device)
    to_e3nn = o3.ToS2Grid(L).to(device)
    from_e3nn = o3.FromS2Grid((to_e3nn.res_beta, to_e3nn.res_alpha), lmax=L).to(device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(EDGES * C, (L + 1) ** 2, generator=g).to(device).requires_grad_(True)

    def forward_ours() -> Any:
        return ours.from_grid(ours.to_grid(x))

    def forward_peer() -> Any:
        return from_e3nn(to_e3nn(x))

    with _threads(device):
        first, reference = forward_ours().detach(), forward_peer().detach()
    return Contenders(
        tnkit=_step(device, forward_ours, (x,)),
        peer=_step(device, forward_peer, (x,)),
        sync=synchronizer(backend),
        max_rel_diff=max_rel_diff(first, reference),
        details=lambda: {
            "functions": EDGES * C,
            "grid_tnkit": list(ours.shape),
            "grid_peer": [to_e3nn.res_beta, to_e3nn.res_alpha],
            "round_trip_error_tnkit": float((first - x.detach()).abs().max()),
        },
    )


def cases(quick: bool) -> list[Case]:
    out: list[Case] = []
    degrees = (2,) if quick else (2, 3, 4, 6)
    channels = (16,) if quick else (16, 32)
    for backend in ("torch", "torch-cuda"):
        e3nn_tp, e3nn_fc = "e3nn 0.6 TensorProduct", "e3nn 0.6 FullyConnectedTensorProduct"
        for C in channels:
            for L in degrees:
                for ours in ("auto", "dense", "so2"):
                    out.append(
                        Case(
                            name=f"tp uvu C={C} {ours}",
                            backend=backend,
                            size=L,
                            peer=e3nn_tp,
                            prepare=lambda b=backend, L=L, C=C, o=ours: _contenders(b, L, C, "uvu", "path", o),
                            target_ratio=GOALS[L],
                        )
                    )
                for ours in ("s2grid", "gaunt"):
                    out.append(
                        Case(
                            name=f"tp uvu degree C={C} {ours}",
                            backend=backend,
                            size=L,
                            peer=e3nn_tp,
                            prepare=lambda b=backend, L=L, C=C, o=ours: _contenders(b, L, C, "uvu", "degree", o),
                            target_ratio=GOALS[L],
                        )
                    )
                for ours in ("auto", "dense", "so2"):
                    out.append(
                        Case(
                            name=f"tp fc C={C} {ours}",
                            backend=backend,
                            size=L,
                            peer=e3nn_fc,
                            prepare=lambda b=backend, L=L, C=C, o=ours: _contenders(b, L, C, "uvw", "path", o),
                            target_ratio=0.67,
                        )
                    )
                out.append(
                    Case(
                        name=f"s2 round trip C={C}",
                        backend=backend,
                        size=L,
                        peer="e3nn 0.6 ToS2Grid/FromS2Grid",
                        prepare=lambda b=backend, L=L, C=C: _round_trip(b, L, C),
                        target_ratio=0.33,
                    )
                )
                out.append(
                    Case(
                        name=f"tp uvu C={C} vs cuequivariance",
                        backend=backend,
                        size=L,
                        peer="cuequivariance-torch 0.13 ChannelWiseTensorProduct",
                        prepare=lambda b=backend, L=L, C=C: _cue_contenders(b, L, C),
                    )
                )
    return out
