"""Operand families the golden-model tests sweep: each stresses a different NB-SMT path."""

from __future__ import annotations

import numpy as np

FAMILIES = ("uniform", "sparse", "narrow", "extreme", "collide")


def activations(family: str, rng: np.random.Generator, shape, act_bits: int = 8) -> np.ndarray:
    top = (1 << act_bits) - 1
    if family == "uniform":
        return rng.integers(0, top + 1, shape)
    if family == "sparse":  # ReLU-like: 50-90 % zeros
        keep = rng.random(shape) >= rng.uniform(0.5, 0.9)
        return np.where(keep, rng.integers(1, top + 1, shape), 0)
    if family == "narrow":  # every value fits in r bits: reductions are exact
        return rng.integers(0, 1 << (act_bits // 2), shape)
    if family == "extreme":
        return rng.choice([0, 1, top, top - 1, 1 << (act_bits - 1)], shape)
    if family == "collide":  # no zeros: every lane is active, every cycle collides
        return rng.integers(1, top + 1, shape)
    raise ValueError(family)


def weights(family: str, rng: np.random.Generator, shape, weight_bits: int = 8) -> np.ndarray:
    half = 1 << (weight_bits - 1)
    if family == "uniform":
        return rng.integers(-half, half, shape)
    if family == "sparse":  # pruned weights
        keep = rng.random(shape) >= rng.uniform(0.3, 0.8)
        return np.where(keep, rng.integers(-half, half, shape), 0)
    if family == "narrow":
        q = 1 << (weight_bits // 2 - 1)
        return rng.integers(-q, q, shape)
    if family == "extreme":
        return rng.choice([0, -half, half - 1, -1, 1], shape)
    if family == "collide":
        w = rng.integers(-half, half - 1, shape)
        return np.where(w >= 0, w + 1, w)  # never zero
    raise ValueError(family)
