"""Bit-exact NB-SMT arithmetic (SPEC §3-§6), vectorized over any leading array shape.

Everything here works on int64 numpy arrays whose last axis (where there is one) is
the lane axis of a PE. The same functions serve the GEMM golden model, the cocotb
testbenches (one PE-cycle per row) and the fast emulator's operand preparation.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbsmt.core.policy import Policy


def wrap(x, bits: int):
    """Two's complement wrap of integers to `bits` bits (the accumulator never saturates)."""
    x = np.asarray(x, dtype=np.int64)
    half = np.int64(1) << (bits - 1)
    return ((x + half) & ((np.int64(1) << bits) - 1)) - half


def window_lsb(a, policy: Policy):
    """LSB position of the r-bit window kept for each activation (SPEC §4).

    The window is the lowest candidate that still holds the leading one, so a value whose
    set bits fit in some window keeps them all.
    """
    a = np.asarray(a, dtype=np.int64)
    r = policy.act_reduced_bits
    offsets = policy.window_offsets
    lsb = np.full(a.shape, offsets[-1], dtype=np.int64)
    for lo in reversed(offsets[:-1]):
        lsb = np.where(a < (np.int64(1) << (lo + r)), lo, lsb)
    return lsb


def _round_shift(x, shift, nearest: bool):
    """floor(x / 2**shift), rounded half-to-even at the kept LSB when `nearest`.

    Works for negative x too: dropping two's complement bits is a floor, and the dropped
    bits are then the (non-negative) fraction, so the same guard/sticky rule rounds
    signed and unsigned values alike.
    """
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    kept = x >> shift
    if not nearest:
        return kept
    guard_pos = np.maximum(shift - 1, 0)
    guard = np.where(shift > 0, (x >> guard_pos) & 1, 0)
    sticky = (x & ((np.int64(1) << guard_pos) - 1)) != 0
    round_up = (guard == 1) & (((kept & 1) == 1) | sticky)
    return kept + round_up


def reduce_activation(a, policy: Policy):
    """Ra(a): the activation cut to an r-bit window, kept at its weight (SPEC §4).

    Rounding up past the window's all-ones value saturates there (0xF8 -> 0xF0).
    """
    a = np.asarray(a, dtype=np.int64)
    lsb = window_lsb(a, policy)
    top = (np.int64(1) << policy.act_reduced_bits) - 1
    value = np.minimum(_round_shift(a, lsb, policy.rounds_to_nearest), top)
    return value << lsb


def reduce_weight(w, policy: Policy):
    """Rw(w): the signed weight cut to r bits (SPEC §5); small weights pass exactly."""
    w = np.asarray(w, dtype=np.int64)
    r = policy.weight_reduced_bits
    low, high = -(1 << (r - 1)), (1 << (r - 1)) - 1
    q = np.clip(_round_shift(w, np.int64(r), policy.rounds_to_nearest), low, high)
    return np.where((w >= low) & (w <= high), w, q << r)


def lane_active(a, w, policy: Policy):
    """Whether each lane needs the multiplier this cycle (SPEC §3)."""
    a, w = np.broadcast_arrays(np.asarray(a), np.asarray(w))
    return policy.lane_active(a != 0, w != 0)


@dataclasses.dataclass
class Contribution:
    """What one or many PE-cycles add, with the per-cycle facts the statistics need.

    All arrays have the operands' shape minus the lane axis.
    """

    value: np.ndarray          # sum added to the accumulator
    active: np.ndarray         # n, number of active lanes
    full_macs: np.ndarray      # active lanes computed at full precision (n == 1)
    reduced_exact: np.ndarray  # active lanes reduced without losing a bit
    reduced_lossy: np.ndarray  # active lanes whose reduction dropped bits


def contribution(a, w, policy: Policy) -> Contribution:
    """Per-cycle PE contribution (SPEC §6) for operands of shape [..., T].

    The rule depends only on n, the number of active lanes, so one function serves
    1T, 2T and 4T PEs: n = 1 is exact, n = 2 reduces activations, n >= 3 reduces both.
    A reduction is lossy when it changed an operand (Ra(a) != a, or Rw(w) != w where
    weights are reduced), whether or not the product happens to come out equal.
    """
    a = np.asarray(a, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    act = lane_active(a, w, policy)
    n = act.sum(axis=-1)
    ra = reduce_activation(a, policy)
    rw = reduce_weight(w, policy)
    n_lane = n[..., None]
    used_a = np.where(policy.reduces_activations(n_lane), ra, a)
    used_w = np.where(policy.reduces_weights(n_lane), rw, w)
    value = np.where(act, used_a * used_w, 0).sum(axis=-1)
    changed = (used_a != a) | (used_w != w)
    reduced = act & policy.reduces_activations(n_lane)
    lossy = reduced & changed
    return Contribution(
        value=value,
        active=n,
        full_macs=np.where(n == 1, 1, 0),
        reduced_exact=(reduced & ~changed).sum(axis=-1),
        reduced_lossy=lossy.sum(axis=-1),
    )


def accumulate(contributions, policy: Policy, start=0):
    """Running accumulator values after each cycle (wrapping), along the first axis."""
    c = np.asarray(contributions, dtype=np.int64)
    return wrap(np.cumsum(c, axis=0) + start, policy.acc_bits)
