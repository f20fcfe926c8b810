r"""
Equivariant tensor products: four algorithms, one result
========================================================

The convolution of MACE-type potentials multiplies node features of degree :math:`l_1` by
the spherical harmonics of an edge direction and keeps the parts of degree :math:`l_3`
(Clebsch–Gordan coupling). :class:`physics.equivariant.TensorProduct` computes it four ways:
the dense CG contraction, the edge-frame SO(2) product of eSCN (rotate the edge onto the
polar axis, where only matching :math:`|m|` couple), a product of values on an exact sphere
grid, and the 2D-Fourier Gaunt product. We check that they agree with each other and with
the rotation rule :math:`f(D x, R v) = D f(x, v)`, and see what a grid product cannot do.
"""

# %%
# One product, every backend
# --------------------------
# Features ``8 x (0e + 1o + 2e + 3o)`` times the harmonics of 200 edge vectors, per-edge
# weights factorised per degree (the form products of functions on the sphere can express).
import matplotlib.pyplot as plt
import torch

from physics.equivariant import BACKENDS, Irreps, TensorProduct, irreps_equivariance_error

torch.manual_seed(0)
features, harmonics = Irreps.spherical_harmonics(3, 8), Irreps.spherical_harmonics(3)
x = torch.randn(200, features.dim, dtype=torch.float64)
v = torch.randn(200, 3, dtype=torch.float64)
products = {
    name: TensorProduct(
        features,
        harmonics,
        features,
        weighting="degree",
        backend=name,
        shared_weights=False,
        internal_weights=False,
        dtype=torch.float64,
    )
    for name in BACKENDS
}
w = torch.randn(200, products["dense"].weight_numel, dtype=torch.float64)
reference = products["dense"](x, weight=w, vectors=v)
differences, symmetry = {}, {}
for name, tp in products.items():
    out = tp(x, weight=w, vectors=v)
    differences[name] = float((out - reference).abs().max() / reference.abs().max())
    symmetry[name] = irreps_equivariance_error(
        lambda a, b, tp=tp: tp(a, weight=w, vectors=b), [x, v], [features, "1o"], features
    )
    print(f"{name:7s} vs dense {differences[name]:.1e}   equivariance error {symmetry[name]:.1e}")

# %%
# What a product of functions cannot express
# ------------------------------------------
# Multiplying two functions on the sphere only produces couplings with even
# :math:`l_1 + l_2 + l_3`: a vector times a vector gives no pseudovector (``1o x 1o -> 1e``,
# the cross product). The dense and SO(2) backends keep such paths; the grid backends refuse
# them in one line.
for name in BACKENDS:
    weighting = "degree" if name in ("s2grid", "gaunt") else "path"
    try:
        TensorProduct("4x1o", "1o", "4x1e", backend=name, weighting=weighting)
        print(f"{name:7s} 1o x 1o -> 1e: computed")
    except ValueError as error:
        print(f"{name:7s} 1o x 1o -> 1e: {error}")

# %%
# The agreement at a glance
# -------------------------
fig, ax = plt.subplots(figsize=(6, 3))
names = list(BACKENDS)
positions = range(len(names))
ax.bar([p - 0.2 for p in positions], [max(differences[n], 1e-17) for n in names], width=0.4, label="vs dense")
ax.bar([p + 0.2 for p in positions], [symmetry[n] for n in names], width=0.4, label="equivariance error")
ax.set_xticks(list(positions), names)
ax.set_yscale("log")
ax.set_ylabel("relative error (float64)")
ax.legend()
fig.tight_layout()
plt.show()
