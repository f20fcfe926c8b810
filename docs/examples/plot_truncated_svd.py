r"""
Truncated SVD and the Eckart–Young theorem
==========================================

Every tensor-network truncation in tnkit ends in :func:`tnkit.truncated_svd`. It returns
the kept singular triplets and the *discarded weight* :math:`\sum_{i \geq k} s_i^2`, which
by the Eckart–Young theorem equals the squared Frobenius error of the best rank-:math:`k`
approximation. Here we build a matrix with a prescribed spectrum, truncate it at every
rank and check both statements, then compare with a randomized SVD.
"""

# %%
# A matrix with a known spectrum
# ------------------------------
# :math:`A = U \operatorname{diag}(\sigma) V^T` with random orthogonal :math:`U, V` and
# singular values that decay exponentially down to a small plateau.
import matplotlib.pyplot as plt
import numpy as np

import tnkit

rng = np.random.default_rng(0)
m, n = 300, 200
sigma = np.exp(-np.arange(n) / 12.0) + 1e-4
u0, _ = np.linalg.qr(rng.standard_normal((m, n)))
v0, _ = np.linalg.qr(rng.standard_normal((n, n)))
a = (u0 * sigma) @ v0.T

# %%
# Truncate at every rank
# ----------------------
# For each rank we record the discarded weight returned by tnkit, the actual error of the
# reconstruction and the Eckart–Young value computed from the prescribed spectrum.
ranks = np.arange(1, 121)
reported, actual = [], []
for k in ranks:
    u, s, vh, dw = tnkit.truncated_svd(a, max_rank=int(k))
    reported.append(float(dw))
    actual.append(np.linalg.norm(a - (u * s) @ vh) ** 2)
reported, actual = np.array(reported), np.array(actual)
eckart_young = np.array([np.sum(sigma[k:] ** 2) for k in ranks])

rel_reported = np.max(np.abs(reported - eckart_young) / eckart_young)
rel_actual = np.max(np.abs(actual - eckart_young) / eckart_young)
print(f"max rel. deviation, reported discarded weight vs Eckart-Young: {rel_reported:.2e}")
print(f"max rel. deviation, ||A - A_k||_F^2 vs Eckart-Young:           {rel_actual:.2e}")

# %%
# Truncation by a tolerance instead of a rank
# -------------------------------------------
# ``cutoff_mode="rel_discarded"`` keeps the fewest singular values whose discarded weight
# stays below ``cutoff * ||A||_F^2``; the rank it picks is the Eckart–Young optimum.
total = np.sum(sigma**2)
for tol in (1e-2, 1e-4, 1e-6):
    u, s, vh, dw = tnkit.truncated_svd(a, cutoff=tol, cutoff_mode="rel_discarded")
    k_opt = int(np.argmax(eckart_young <= tol * total)) + 1
    print(f"tol {tol:.0e}: rank {len(s):3d} (optimal {k_opt:3d}), discarded/total = {float(dw) / total:.2e}")

# %%
# Randomized SVD
# --------------
# :func:`tnkit.randomized_svd` finds the leading triplets from a random sketch. With two
# power iterations its error is close to the optimal one.
rand_err = []
rand_ranks = ranks[::8]
for k in rand_ranks:
    u, s, vh = tnkit.randomized_svd(a, int(k), n_iter=2, rng=0)
    rand_err.append(np.linalg.norm(a - (u * s) @ vh) ** 2)
ratio = np.array(rand_err) / eckart_young[rand_ranks - 1]
print(f"randomized SVD error / optimal error: between {ratio.min():.3f} and {ratio.max():.3f}")

# %%
# Plots
# -----
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
ax1.semilogy(np.arange(1, n + 1), sigma, "k-", lw=1)
ax1.set_xlabel("index $i$")
ax1.set_ylabel(r"singular value $\sigma_i$")
ax1.set_title("prescribed spectrum")
ax2.semilogy(ranks, eckart_young, "k-", lw=3, alpha=0.3, label=r"Eckart–Young $\sum_{i>k}\sigma_i^2$")
ax2.semilogy(ranks, reported, "C0--", label="discarded weight (tnkit)")
ax2.semilogy(ranks, actual, "C1:", label=r"$\|A - A_k\|_F^2$")
ax2.semilogy(rand_ranks, rand_err, "C3o", ms=4, label="randomized SVD")
ax2.set_xlabel("rank $k$")
ax2.set_ylabel("squared error")
ax2.set_title("truncation error vs rank")
ax2.legend()
fig.tight_layout()
plt.show()
