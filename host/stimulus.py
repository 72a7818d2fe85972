"""Operand families: the one set of random operands that tests, cocotb benches and
benchmarks draw from, so "sparse" or "collide" means the same stream everywhere.

Each family stresses a different NB-SMT path:

- uniform: any operand (dense; collisions with lossy reductions on every path);
- sparse: 50-90 % zero activations, 30-80 % zero weights (n = 0/1 cycles, zero_skip);
- narrow: every activation below 2**r and every weight within r bits (reductions exact);
- extreme: 0, 1, the largest and the top-bit activations, the most negative and largest
  weights (rounding saturation and sign edges);
- collide: no zeros and activations >= 2**r, weights near the reduced range's edges
  (every lane active, every reduction on a 4T PE lossy-prone);

and three DNN-like GEMM workloads:

- relu: ~55 % zero activations, 70 % of the rest below 16; dense weights;
- pruned: 40-70 % zero weights, 30 % zero activations;
- demo: the `make sim` GEMM's statistics: ~50 % zero activations, ~70 % of the rest
  below 16 and the others exponential above 16, bell-shaped weights 40 % pruned.

Widths follow the policy (A-bit unsigned activations, W-bit signed weights).
"""

from __future__ import annotations

import numpy as np

from nbsmt.core.policy import Policy

FAMILIES = ("uniform", "sparse", "narrow", "extreme", "collide")
WORKLOADS = ("relu", "pruned", "demo")

#: The `make sim` demo GEMM: shape, seed and share of zero activations.
DEMO_SHAPE = (64, 256, 64)
DEMO_SEED = 2020
DEMO_ZERO_ACTIVATIONS = 0.5


def _check(family: str) -> None:
    if family not in FAMILIES + WORKLOADS:
        raise ValueError(f"family must be one of {', '.join(FAMILIES + WORKLOADS)}, "
                         f"not {family!r}")


def activations(family: str, rng: np.random.Generator, shape, act_bits: int = 8) -> np.ndarray:
    """Unsigned `act_bits`-bit activations of one family, int64 of `shape`."""
    _check(family)
    top = (1 << act_bits) - 1
    r = act_bits // 2
    if family in ("uniform", "pruned"):
        a = rng.integers(0, top + 1, shape)
        return np.where(rng.random(shape) < 0.3, 0, a) if family == "pruned" else a
    if family == "sparse":
        keep = rng.random(shape) >= rng.uniform(0.5, 0.9)
        return np.where(keep, rng.integers(1, top + 1, shape), 0)
    if family == "narrow":
        return rng.integers(0, 1 << r, shape)
    if family == "extreme":
        return rng.choice([0, 1, top, top - 1, 1 << (act_bits - 1)], shape)
    if family == "collide":
        return rng.integers(1 << r, top + 1, shape)
    if family == "relu":
        a = rng.integers(0, top + 1, shape)
        small = rng.integers(1, min(16, top + 1), shape)
        return np.where(rng.random(shape) < 0.55, 0,
                        np.where(rng.random(shape) < 0.7, small, a))
    return _demo_activations(rng, shape, top, DEMO_ZERO_ACTIVATIONS)


def _demo_activations(rng, shape, top: int, zero_activations: float) -> np.ndarray:
    small = rng.integers(1, min(16, top + 1), shape)
    large = np.clip(np.round(rng.exponential(40, shape)) + 16, 16, top).astype(np.int64)
    a = np.where(rng.random(shape) < 0.7, small, large)
    return np.where(rng.random(shape) < zero_activations, 0, a)


def weights(family: str, rng: np.random.Generator, shape, weight_bits: int = 8) -> np.ndarray:
    """Signed `weight_bits`-bit weights of one family, int64 of `shape`."""
    _check(family)
    half = 1 << (weight_bits - 1)
    rw = weight_bits // 2
    if family in ("uniform", "relu"):
        return rng.integers(-half, half, shape)
    if family == "sparse":
        keep = rng.random(shape) >= rng.uniform(0.3, 0.8)
        return np.where(keep, rng.integers(-half, half, shape), 0)
    if family == "narrow":
        q = 1 << (rw - 1)
        return rng.integers(-q, q, shape)
    if family == "extreme":
        return rng.choice([0, -half, half - 1, -1, 1], shape)
    if family == "collide":
        edges = [-half, half - 1, -1 - (1 << rw), (1 << rw) + 1]
        w = np.clip(rng.choice(edges, shape), -half, half - 1)
        w = np.where(rng.random(shape) < 0.5, rng.integers(-half, half, shape), w)
        return np.where(w == 0, half - 1, w)
    if family == "pruned":
        w = rng.integers(-half, half, shape)
        return np.where(rng.random(shape) < rng.uniform(0.4, 0.7), 0, w)
    # demo
    w = np.clip(np.round(rng.normal(0, 32, shape)), -half, half - 1).astype(np.int64)
    return np.where(rng.random(shape) < 0.4, 0, w)


def gemm_operands(family: str, rng: np.random.Generator, m_rows: int, k: int, n_cols: int,
                  policy: Policy | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A[M,K] and W[K,N] of one family (activations drawn first, then weights)."""
    policy = Policy() if policy is None else policy
    return (activations(family, rng, (m_rows, k), policy.act_bits),
            weights(family, rng, (k, n_cols), policy.weight_bits))


def demo_operands(seed: int = DEMO_SEED, shape=DEMO_SHAPE,
                  zero_activations: float = DEMO_ZERO_ACTIVATIONS):
    """The `make sim` demo GEMM (the `demo` family), at any share of zero activations:
    the other draws are the same, so a sparsity sweep changes only which activations
    are zero."""
    rng = np.random.default_rng(seed)
    m_rows, k, n_cols = shape
    a = _demo_activations(rng, (m_rows, k), 255, zero_activations)
    return a, weights("demo", rng, (k, n_cols))


def mixed_lanes(rng: np.random.Generator, cycles: int, threads: int, policy: Policy,
                runs=(100, 600)) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """PE-cycle operands [cycles, T]: runs of `runs[0]`..`runs[1]` cycles of each family in
    a shuffled order, repeated until `cycles`, so every stream sees every family and the
    switches between them. Returns (a, w, family of each cycle)."""
    parts_a, parts_w, kinds = [], [], []
    total = 0
    while total < cycles:
        order = list(FAMILIES)
        rng.shuffle(order)
        for family in order:
            n = int(rng.integers(*runs))
            parts_a.append(activations(family, rng, (n, threads), policy.act_bits))
            parts_w.append(weights(family, rng, (n, threads), policy.weight_bits))
            kinds += [family] * n
            total += n
    return (np.concatenate(parts_a)[:cycles], np.concatenate(parts_w)[:cycles],
            kinds[:cycles])
