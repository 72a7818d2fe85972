"""Random PE stimulus and the golden model's expected outputs, all precomputed with numpy.

The cocotb bench then only writes one packed int per input bus and compares one int per
output each cycle. Streams mix the operand families of `nbsmt.host.stimulus` (uniform,
sparse, narrow, extreme, collide: `mixed_lanes`) in runs, each run with its own random
en/last pattern (always on, gappy; long, short or one-cycle tiles).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbsmt.core.policy import Policy
from nbsmt.sim.arith import contribution, wrap
from nbsmt.host.beats import pack_lanes
from nbsmt.host.stimulus import mixed_lanes


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


def _control(rng, kinds: list[str]):
    """en/last per cycle: each run of one family gets its own pattern (always on, gappy;
    long, short or one-cycle tiles)."""
    en, last = [], []
    starts = [i for i in range(len(kinds)) if i == 0 or kinds[i] != kinds[i - 1]]
    for lo, hi in zip(starts, starts[1:] + [len(kinds)]):
        en_p = rng.choice([1.0, 0.9, 0.5])
        last_p = rng.choice([0.0, 0.01, 0.1, 0.5, 1.0])
        en.append(rng.random(hi - lo) < en_p)
        last.append(rng.random(hi - lo) < last_p)
    return np.concatenate(en).astype(np.int64), np.concatenate(last).astype(np.int64)


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
    a, w, kinds = mixed_lanes(rng, cycles, threads, policy)
    en, last = _control(rng, kinds)
    c = contribution(a, w, policy)
    acc = expected_accumulator(c.value, en, last, policy.acc_bits)
    return PEVectors(
        a=a, w=w, en=en, last=last, kind=kinds,
        a_bus=pack_lanes(a, policy.act_bits), w_bus=pack_lanes(w, policy.weight_bits),
        acc=acc.tolist(), result=wrap(acc + c.value, policy.acc_bits).tolist(),
        n_active=np.where(en == 1, c.active, 0).tolist(),
        lossy=np.where(en == 1, c.reduced_lossy, 0).tolist(),
    )
