"""Host-side K reordering: move collisions away from values that need full precision.

SPEC §7 lets the host apply one permutation to A's columns and W's rows before mapping
K onto lanes; the exact product is unchanged, only which values share a K-step (and so
may collide) moves. This is the NB-SMT patent's idea of pairing values that need full
precision with zeros, and narrow values with each other.

From calibration activations we know, per K column, how often its value is non-zero
(`active`: it occupies the multiplier) and how often reducing it would drop bits
(`lossy`: it needs the full 8-bit multiplier). For mode m the K-steps are groups of m
consecutive positions. The heuristic is rearrangement pairing, "largest with
smallest": the riskiest columns lead one group each, and the group with the riskiest
leader receives the sparsest partners; zero-padded lanes of the last group (K not a
multiple of m) are the sparsest partners of all. Low-risk, dense columns end up together,
where collisions cost nothing because their values fit the 4-bit window.
"""

from __future__ import annotations

import numpy as np

from nbsmt.sim.arith import reduce_activation
from nbsmt.sim.gemm import k_steps
from nbsmt.core.policy import Policy


def column_stats(a, policy: Policy) -> dict:
    """Per-column fractions of non-zero and of lossy-if-reduced activations of A[M, K]."""
    a = np.asarray(a)
    table = reduce_activation(np.arange(1 << policy.act_bits), policy) != np.arange(1 << policy.act_bits)
    return {"active": (a != 0).mean(axis=0), "lossy": table[a].mean(axis=0)}


def k_permutation(active, lossy, mode: int) -> np.ndarray:
    """perm with new column p = old column perm[p] (apply to A[:, perm] and W[perm])."""
    active = np.asarray(active, dtype=np.float64)
    lossy = np.asarray(lossy, dtype=np.float64)
    k = active.size
    if mode == 1:
        return np.arange(k)
    groups = k_steps(k, mode)
    slots = [min(mode, k - g * mode) for g in range(groups)]  # real lanes per group
    # Stable sorts with the column index as the last key: a deterministic permutation.
    by_risk = np.lexsort((np.arange(k), -active, -lossy))
    leaders = list(by_risk[:groups])
    partners = sorted(by_risk[groups:], key=lambda c: (active[c], lossy[c], c))
    # Groups with padded lanes first (they already have zero partners), then the rest.
    group_order = sorted(range(groups), key=lambda g: (slots[g], g))
    layout = [[] for _ in range(groups)]
    cursor = 0
    for leader, g in zip(leaders, group_order):
        need = slots[g] - 1
        layout[g] = [leader] + partners[cursor:cursor + need]
        cursor += need
    perm = np.array([c for group in layout for c in group], dtype=np.int64)
    return perm


def permute(a, w, perm):
    """The reordered GEMM operands (A[:, perm], W[perm]); A @ W is unchanged."""
    return np.asarray(a)[:, perm], np.asarray(w)[perm]
