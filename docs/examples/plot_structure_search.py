r"""
Which network fits a tensor? Greedy structure search
====================================================

Tensor trains, rings and Tucker decompositions are all graphs of cores joined by edges
of some rank. Given only the dense tensor, :func:`tnkit.search.greedy` starts from the
fully connected network with all edge ranks 1 and grows, one edge at a time, the rank
that lowers the error most per added parameter (GreedyTN). We hide three known networks
in dense tensors and see what the search recovers: the graph, the ranks and the number
of parameters.
"""

# %%
# Planted networks
# ----------------
# A tensor ring on :math:`5^4`, a tensor train on :math:`5^5` and a Tucker decomposition
# of :math:`6^3`, with random cores. Only the dense tensors go to the search.
import matplotlib.pyplot as plt
import numpy as np

from tnkit import Run, Structure, TensorNetwork, search

planted = {
    "tensor ring, ranks (2, 3, 2, 3)": Structure.tr((5,) * 4, (2, 3, 2, 3)),
    "tensor train, ranks (2, 3, 3, 2)": Structure.tt((5,) * 5, (2, 3, 3, 2)),
    "Tucker, ranks (2, 3, 2)": Structure.tucker((6,) * 3, (2, 3, 2)),
}
results = {}
for name, structure in planted.items():
    target = TensorNetwork.random(structure, rng=0).to_dense()
    res = search.greedy(target, tol=1e-6, run=Run(executor="serial", progress=False))
    results[name] = res
    found = [(i, j, r) for i, j, r in res.best.structure.edges if r > 1]
    print(
        f"{name}: planted {structure.num_params} parameters; found {res.best.params} parameters, "
        f"RSE {res.best.rse:.1e}, after {res.num_evaluations} fits ({res.stopped})"
    )
    print(f"    edges of rank > 1 found: {found}")

# %%
# For the ring and the train the search finds the planted graph and ranks exactly. For the
# Tucker tensor it does better than the plant: a tensor with multilinear ranks (2, 3, 2) is
# also a tensor train with ranks (2, 2), which needs fewer parameters (48 instead of 54)
# and reproduces the tensor to machine precision.
t = results["Tucker, ranks (2, 3, 2)"]
x = TensorNetwork.random(planted["Tucker, ranks (2, 3, 2)"], rng=0).to_dense()
err = np.linalg.norm(t.network.to_dense() - x) / np.linalg.norm(x)
print(f"Tucker target: relative error of the found network, recomputed: {err:.1e}")


# %%
# The graphs and the search histories
# -----------------------------------
# Top: the found networks; the edge width and label give the rank (rank-1 edges carry no
# information and are drawn faintly). Bottom: the relative error and size of every candidate
# fitted along the way (``res.evaluations``), coloured by search step; the search climbs in
# size until the error collapses at (or, for Tucker, below) the planted parameter count. (:meth:`SearchResult.plot`
# draws the search objective per evaluation instead.)
def draw_structure(ax, structure, title):
    d = structure.ndim
    angle = np.pi / 2 - 2 * np.pi * np.arange(d) / d
    pos = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    for i, j, r in structure.edges:
        (x0, y0), (x1, y1) = pos[i], pos[j]
        ax.plot([x0, x1], [y0, y1], color="C0" if r > 1 else "0.85", lw=1 + 2 * (r - 1), zorder=1)
        if r > 1:
            ax.text(
                (x0 + x1) / 2,
                (y0 + y1) / 2,
                str(r),
                ha="center",
                va="center",
                fontsize=11,
                bbox=dict(boxstyle="round", fc="w", ec="C0"),
                zorder=3,
            )
    ax.scatter(pos[:, 0], pos[:, 1], s=500, color="C1", zorder=2)
    for k in range(d):
        ax.text(*pos[k], str(k), ha="center", va="center", color="w", fontweight="bold", zorder=4)
    ax.set_title(title, fontsize=10)
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.set_aspect("equal")
    ax.set_axis_off()


fig, axes = plt.subplots(2, 3, figsize=(13, 8), gridspec_kw={"height_ratios": [1.2, 1]})
for col, (name, res) in enumerate(results.items()):
    draw_structure(axes[0, col], res.best.structure, f"planted: {name}\nfound: {res.best.params} parameters")
    ax = axes[1, col]
    sc = ax.scatter(
        [e.params for e in res.evaluations],
        [e.rse for e in res.evaluations],
        c=[e.step for e in res.evaluations],
        cmap="viridis",
        s=15,
    )
    ax.plot(res.best.params, res.best.rse, "r*", ms=14, label="best")
    ax.axvline(planted[name].num_params, color="k", ls="--", lw=1, label="planted size")
    ax.set(yscale="log", xlabel="parameters", ylabel="relative error", title=f"best RSE {res.best.rse:.1e}")
    ax.legend(fontsize=8)
    fig.colorbar(sc, ax=ax, label="search step")
fig.tight_layout()
plt.show()
