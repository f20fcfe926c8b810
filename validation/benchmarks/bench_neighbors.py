"""Neighbour lists (:func:`physics.potentials.neighbor_list`) against vesin 0.6 (``vesin-torch``).

Issue 25: measure the hand-written torch search against vesin on 1,000 and 100,000 atoms,
periodic and not, and use the faster one by default. The structures are fcc copper
(a = 3.6 Å, rattled by 0.05 Å) of 10 x 10 x 10 and 29 x 29 x 30 conventional cells (1,000 and
100,920 atoms), cutoff 5 Å (about 43 neighbours per atom in the bulk); "open" drops the
periodicity (a cluster cut from the crystal).

``neighbour list cells`` — tnkit's linked cell list in torch (``method="cells"``);
``neighbour list auto`` — the default (``method="auto"``: vesin's search, then tnkit's
shared final test and ordering, so the list is identical to the other methods'). The peer
is vesin's own ``NeighborList.compute`` (full list, pairs and shifts). CPU, one thread.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from _cases import Case, Contenders, Skip, unavailable


def _contenders(backend: str, reps: tuple[int, int, int], periodic: bool, method: str) -> Contenders:
    why = unavailable(backend)
    if why:
        raise Skip(why)
    if importlib.util.find_spec("vesin_torch") is None:
        raise Skip("vesin-torch not installed (pip install 'tnkit[torch]' -c constraints.txt)")
    import torch
    import vesin_torch
    from ase.build import bulk

    from physics.potentials import neighbor_list

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(reps)
    atoms.rattle(0.05, seed=0)
    positions = torch.tensor(atoms.positions)
    cell = torch.tensor(atoms.cell.array)
    search = vesin_torch.NeighborList(cutoff=5.0, full_list=True)

    def ours() -> Any:
        torch.set_num_threads(1)
        return neighbor_list(positions, 5.0, cell=cell if periodic else None, method=method)

    def peer() -> Any:
        torch.set_num_threads(1)
        return search.compute(positions, cell if periodic else torch.zeros(3, 3, dtype=torch.float64), periodic, "ijS")

    mine, theirs = ours(), peer()

    def details() -> dict[str, Any]:
        return {"atoms": len(atoms), "edges": int(mine.edge_index.shape[1]), "edges_peer": int(theirs[0].shape[0])}

    same = mine.edge_index.shape[1] == theirs[0].shape[0]
    return Contenders(tnkit=ours, peer=peer, max_rel_diff=0.0 if same else 1.0, details=details)


def cases(quick: bool) -> list[Case]:
    out = []
    sizes = [((10, 10, 10), 1000)] + ([] if quick else [((29, 29, 30), 100920)])
    for reps, n in sizes:
        for periodic in (True, False):
            for method in ("cells", "auto"):
                out.append(
                    Case(
                        name=f"neighbour list {method} {'periodic' if periodic else 'open'}",
                        backend="torch",
                        size=n,
                        peer="vesin-torch 0.6.2 NeighborList",
                        prepare=lambda r=reps, p=periodic, m=method: _contenders("torch", r, p, m),
                        # 100k atoms: a cell-list call takes seconds; three pairs suffice
                        effort=(1, 3.0, 3, 50) if n > 10_000 else None,
                    )
                )
    return out
