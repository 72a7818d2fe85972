"""Random PE stimulus and the golden model's expected outputs, all precomputed with numpy.

The cocotb bench then only writes one packed int per input bus and compares one int per
output each cycle. Streams mix the operand kinds that exercise different PE paths:

- uniform: any operands;
- sparse: 50-90 % zeros in activations and weights (n = 0/1 cycles, zero_skip rules);
- narrow: activations below 2**r, half the weights small (exact reductions);
- extreme: 0, the largest activation, the most negative and largest weight;
- collision: every lane active with large values (n = T, lossy reductions);

each with its own random en/last pattern (always on, gappy, short or long tiles).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbsmt.sim.arith import contribution, wrap
from nbsmt.policy import Policy

KINDS = ("uniform", "sparse", "narrow", "extreme", "collision")


@dataclasses.dataclass
class PEVectors:
    a: np.ndarray          # [N, T] activations
    w: np.ndarray          # [N, T] weights
    en: np.ndarray         # [N] 0/1
    last: np.ndarray       # [N] 0/1
    kind: list             # [N] stream kind of each cycle (for failure messages)
    a_bus: list            # [N] packed a_in values
    w_bus: list            # [N] packed w_in values (two's complement lanes)
    acc: list              # [N] expected acc register during cycle i (before the edge)
    result: list           # [N] expected combinational result
    n_active: list         # [N]
    lossy: list            # [N]


def pack(lanes, bits: int) -> list[int]:
    """Pack [N, T] lane values into N Python ints, lane t at bits [t*bits, (t+1)*bits).

    Python ints, not int64: four 16-bit lanes fill all 64 bits.
    """
    lanes = np.asarray(lanes, dtype=np.int64) & ((1 << bits) - 1)
    return [sum(int(v) << (t * bits) for t, v in enumerate(row)) for row in lanes.tolist()]


def _operands(rng, kind: str, n: int, threads: int, policy: Policy):
    A, W = policy.act_bits, policy.weight_bits
    r, rw = policy.act_reduced_bits, policy.weight_reduced_bits
    amax, wmin, wmax = (1 << A) - 1, -(1 << (W - 1)), (1 << (W - 1)) - 1
    shape = (n, threads)
    a = rng.integers(0, amax + 1, shape)
    w = rng.integers(wmin, wmax + 1, shape)
    if kind == "sparse":
        p = rng.uniform(0.5, 0.9)
        a[rng.random(shape) < p] = 0
        w[rng.random(shape) < p] = 0
    elif kind == "narrow":
        a = rng.integers(0, 1 << r, shape)
        small = rng.random(shape) < 0.5
        w[small] = rng.integers(-(1 << (rw - 1)), 1 << (rw - 1), int(small.sum()))
    elif kind == "extreme":
        a = rng.choice([0, amax], shape)
        w = rng.choice([0, wmin, wmax], shape)
    elif kind == "collision":
        a = rng.integers(1 << r, amax + 1, shape)
        w = rng.choice([wmin, wmax, -1 - (1 << rw), (1 << rw) + 1], shape)
        mixed = rng.random(shape) < 0.5
        w[mixed] = rng.integers(wmin, wmax + 1, int(mixed.sum()))
        w[w == 0] = wmax
    return a, w


def _control(rng, n: int):
    en_p = rng.choice([1.0, 0.9, 0.5])
    last_p = rng.choice([0.0, 0.01, 0.1, 0.5, 1.0])
    en = (rng.random(n) < en_p).astype(np.int64)
    last = (rng.random(n) < last_p).astype(np.int64)
    return en, last


def expected_accumulator(value, en, last, acc_bits: int):
    """acc register before each cycle: += value when en, cleared after an en & last cycle."""
    add = np.where(en == 1, value, 0)
    ends = (en == 1) & (last == 1)
    running = np.cumsum(add)
    before = running - add                             # sum of everything before cycle i
    tile = np.concatenate([[0], np.cumsum(ends)[:-1]])  # tiles finished before cycle i
    # The sum before the tile's first cycle: `running` at the last finishing cycle.
    starts = np.concatenate([[0], running[ends]])
    return wrap(before - starts[tile], acc_bits)


def pe_vectors(threads: int, policy: Policy, cycles: int, seed: int) -> PEVectors:
    """`cycles` cycles of mixed streams (every kind at least once) and their expected outputs."""
    rng = np.random.default_rng(seed)
    parts, kinds = [], []
    total = 0
    while total < cycles:
        order = list(KINDS)
        rng.shuffle(order)
        for kind in order:
            n = int(rng.integers(100, 600))
            parts.append(_operands(rng, kind, n, threads, policy) + _control(rng, n))
            kinds += [kind] * n
            total += n
    a, w, en, last = (np.concatenate(x)[:cycles] for x in zip(*parts))
    kinds = kinds[:cycles]
    c = contribution(a, w, policy)
    acc = expected_accumulator(c.value, en, last, policy.acc_bits)
    return PEVectors(
        a=a, w=w, en=en, last=last, kind=kinds,
        a_bus=pack(a, policy.act_bits), w_bus=pack(w, policy.weight_bits),
        acc=acc.tolist(), result=wrap(acc + c.value, policy.acc_bits).tolist(),
        n_active=np.where(en == 1, c.active, 0).tolist(),
        lossy=np.where(en == 1, c.reduced_lossy, 0).tolist(),
    )
