"""Plain per-element reference of SPEC §3-§7, written from the SPEC text alone.

For the tests only. It shares no code with nbsmt.sim: every rule is spelled out on
Python ints, element by element, with the SPEC's own wording (bit windows, guard and
sticky bits, the per-n table), so a bug in the vectorized model cannot hide in both.
"""

from __future__ import annotations


def bit(x: int, i: int) -> int:
    return (x >> i) & 1


def ref_window(a: int, act_bits: int, windows: int) -> tuple[int, int]:
    """(msb, lsb) of the window kept for activation a, per the SPEC §4 wording."""
    r = act_bits // 2
    if windows == 2:
        upper = any(bit(a, i) for i in range(r, act_bits))
        return (act_bits - 1, r) if upper else (r - 1, 0)
    if windows == 3:
        step = (act_bits - r) // 2
        if any(bit(a, i) for i in range(act_bits - step, act_bits)):
            return (act_bits - 1, act_bits - r)
        if any(bit(a, i) for i in range(r, act_bits - step)):
            return (act_bits - step - 1, act_bits - step - r)
        return (r - 1, 0)
    if windows == 5:
        lead = a.bit_length() - 1
        if lead < r:
            return (r - 1, 0)
        return (lead, lead - r + 1)
    raise ValueError(windows)


def ref_round(value: int, drop: int, rounding: str) -> int:
    """Drop `drop` low bits of a two's complement int, with the SPEC's rounding."""
    kept = value >> drop  # Python's >> is an arithmetic (floor) shift
    if rounding == "trunc" or drop == 0:
        return kept
    guard = bit(value, drop - 1)
    sticky = (value & ((1 << (drop - 1)) - 1)) != 0
    if guard and (kept & 1 or sticky):
        kept += 1
    return kept


def ref_ra(a: int, act_bits: int = 8, windows: int = 2, rounding: str = "rne") -> int:
    r = act_bits // 2
    msb, lsb = ref_window(a, act_bits, windows)
    assert msb - lsb + 1 == r
    v = ref_round(a, lsb, rounding)
    if v > (1 << r) - 1:  # rounding overflowed the window: saturate to all-ones
        v = (1 << r) - 1
    return v << lsb


def ref_rw(w: int, weight_bits: int = 8, rounding: str = "rne") -> int:
    r = weight_bits // 2
    if -(1 << (r - 1)) <= w < (1 << (r - 1)):
        return w
    q = ref_round(w, r, rounding)
    q = max(-(1 << (r - 1)), min((1 << (r - 1)) - 1, q))
    return q * (1 << r)


def ref_wrap(x: int, bits: int) -> int:
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def ref_pe_cycle(a_lanes, w_lanes, threads, *, zero_skip="both", windows=2, rounding="rne",
                 act_bits=8, weight_bits=8):
    """(contribution, n, full, reduced_exact, reduced_lossy) of one PE-cycle per SPEC §6."""
    active = []
    for a, w in zip(a_lanes, w_lanes):
        active.append(a != 0 if zero_skip == "act" else (a != 0 and w != 0))
    n = sum(active)
    assert n <= threads
    total = full = exact = lossy = 0
    for a, w, act in zip(a_lanes, w_lanes, active):
        if not act:
            continue
        if n == 1:
            total += a * w
            full += 1
            continue
        ra = ref_ra(a, act_bits, windows, rounding)
        rw = ref_rw(w, weight_bits, rounding) if n >= 3 else w
        total += ra * rw
        if ra == a and rw == w:
            exact += 1
        else:
            lossy += 1
    return total, n, full, exact, lossy


def ref_gemm(A, W, threads, mode, *, acc_bits=32, **policy):
    """Element-by-element GEMM with lane mapping (SPEC §7); returns (C, stats dict)."""
    M, K = len(A), len(A[0])
    N = len(W[0])
    steps = -(-K // mode)
    C = [[0] * N for _ in range(M)]
    by_n = [0] * (threads + 1)
    full = exact = lossy = 0
    for i in range(M):
        for j in range(N):
            acc = 0
            for s in range(steps):
                a_l, w_l = [], []
                for t in range(threads):
                    k = s * mode + t
                    if t < mode and k < K:
                        a_l.append(int(A[i][k]))
                        w_l.append(int(W[k][j]))
                    else:
                        a_l.append(0)
                        w_l.append(0)
                c, n, f, e, lo = ref_pe_cycle(a_l, w_l, threads, **policy)
                acc = ref_wrap(acc + c, acc_bits)
                by_n[n] += 1
                full += f
                exact += e
                lossy += lo
            C[i][j] = acc
    return C, {"pe_cycles_by_active": by_n, "macs_full": full,
               "macs_reduced_exact": exact, "macs_reduced_lossy": lossy, "k_steps": steps}
