"""The vectorized golden model against the SPEC's examples and the per-element reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbsmt.core.policy import Policy
from nbsmt.sim import contribution, golden_gemm, reduce_activation, reduce_weight
from nbsmt.sim.arith import wrap

from nbsmt.host.stimulus import FAMILIES, activations, weights
from .reference import ref_gemm, ref_pe_cycle, ref_ra, ref_rw, ref_wrap

POLICIES = [Policy(zero_skip=z, windows=n, rounding=r)
            for z, n, r in itertools.product(("both", "act"), (2, 3, 5), ("rne", "trunc"))]
CONFIGS = [(t, m) for t in (1, 2, 4) for m in (1, 2, 4) if m <= t]


def policy_id(p: Policy) -> str:
    return f"{p.zero_skip}-w{p.windows}-{p.rounding}"


@pytest.mark.parametrize("a, expected", [
    (0x0D, 0x0D), (0x18, 0x20), (0x28, 0x20), (0x29, 0x30), (0xF8, 0xF0), (0x87, 0x80)])
def test_spec_examples_of_ra(a, expected):
    assert int(reduce_activation(a, Policy())) == expected


def test_windows3_and_5_place_the_window_as_the_spec_says():
    p3, p5 = Policy(windows=3, rounding="trunc"), Policy(windows=5, rounding="trunc")
    # windows=3: [7:4] if bit 7 or 6, [5:2] if bit 5 or 4, else [3:0]
    assert int(reduce_activation(0b0111_1111, p3)) == 0b0111_0000
    assert int(reduce_activation(0b0011_1111, p3)) == 0b0011_1100
    assert int(reduce_activation(0b0000_1111, p3)) == 0b0000_1111
    # windows=5: the window starts at the leading one
    assert int(reduce_activation(0b0001_1111, p5)) == 0b0001_1110
    assert int(reduce_activation(0b0010_1011, p5)) == 0b0010_1000


@pytest.mark.parametrize("policy", POLICIES, ids=policy_id)
def test_ra_matches_reference_for_every_activation(policy):
    a = np.arange(256)
    got = reduce_activation(a, policy)
    want = [ref_ra(int(x), 8, policy.windows, policy.rounding) for x in a]
    assert got.tolist() == want
    assert (got[:16] == a[:16]).all(), "values below 16 must reduce exactly"
    assert got.max() <= 255, "rounding must saturate inside the window"


@pytest.mark.parametrize("rounding", ["rne", "trunc"])
def test_rw_matches_reference_for_every_weight(rounding):
    w = np.arange(-128, 128)
    got = reduce_weight(w, Policy(rounding=rounding))
    assert got.tolist() == [ref_rw(int(x), 8, rounding) for x in w]
    assert (got[128 - 8:128 + 8] == w[128 - 8:128 + 8]).all(), "-8..7 must be exact"
    assert set(np.unique(got[(w < -8) | (w > 7)] % 16).tolist()) == {0}


def test_rw_rounding_cases():
    p = Policy()
    assert int(reduce_weight(120, p)) == 112    # 7.5 rounds to 8, clamps to 7
    assert int(reduce_weight(-120, p)) == -128  # -7.5 rounds to even -8
    assert int(reduce_weight(-128, p)) == -128
    assert int(reduce_weight(24, p)) == 32      # 1.5 -> 2
    assert int(reduce_weight(40, p)) == 32      # 2.5 -> 2 (even)
    assert int(reduce_weight(-24, Policy(rounding="trunc"))) == -32  # floor


@pytest.mark.parametrize("policy", POLICIES, ids=policy_id)
@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("family", FAMILIES)
def test_pe_cycle_matches_reference(policy, threads, family):
    rng = np.random.default_rng(hash((policy_id(policy), threads, family)) & 0xFFFF)
    a = activations(family, rng, (400, threads))
    w = weights(family, rng, (400, threads))
    c = contribution(a, w, policy)
    for row in range(len(a)):
        want = ref_pe_cycle(a[row].tolist(), w[row].tolist(), threads,
                            zero_skip=policy.zero_skip, windows=policy.windows,
                            rounding=policy.rounding)
        got = (int(c.value[row]), int(c.active[row]), int(c.full_macs[row]),
               int(c.reduced_exact[row]), int(c.reduced_lossy[row]))
        assert got == want, f"row {row}: a={a[row]} w={w[row]}"


def _check_gemm_against_reference(a, w, threads, mode, policy):
    got = golden_gemm(a, w, threads=threads, mode=mode, policy=policy)
    want_c, want_stats = ref_gemm(a.tolist(), w.tolist(), threads, mode,
                                  acc_bits=policy.acc_bits, zero_skip=policy.zero_skip,
                                  windows=policy.windows, rounding=policy.rounding)
    assert got.output.dtype == np.int64
    assert got.output.tolist() == want_c
    for key, value in want_stats.items():
        assert got.stats[key] == value, key
    return got


@pytest.mark.parametrize("policy", POLICIES, ids=policy_id)
@pytest.mark.parametrize("family", FAMILIES)
def test_gemm_matches_reference(policy, family):
    rng = np.random.default_rng(sum(map(ord, policy_id(policy) + family)))
    for threads, mode in CONFIGS:
        m, k, n = rng.integers(1, 6), rng.integers(1, 12), rng.integers(1, 6)
        a = activations(family, rng, (m, k))
        w = weights(family, rng, (k, n))
        _check_gemm_against_reference(a, w, threads, mode, policy)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), threads_mode=st.sampled_from(CONFIGS),
       policy=st.sampled_from(POLICIES), family=st.sampled_from(FAMILIES),
       shape=st.tuples(st.integers(1, 5), st.integers(1, 13), st.integers(1, 5)))
def test_gemm_matches_reference_property(data, threads_mode, policy, family, shape):
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    m, k, n = shape
    a = activations(family, rng, (m, k))
    w = weights(data.draw(st.sampled_from(FAMILIES)), rng, (k, n))
    _check_gemm_against_reference(a, w, *threads_mode, policy)


def test_accumulator_wraps_like_the_reference():
    policy = Policy(acc_bits=16)
    a = np.full((2, 40), 255)
    w = np.full((40, 3), 127)
    w[:, 1] = -128
    got = _check_gemm_against_reference(a, w, 1, 1, policy)
    assert got.output[0, 0] == ref_wrap(40 * 255 * 127, 16) != 40 * 255 * 127
    assert int(wrap(2**15, 16)) == -(2**15) and int(wrap(-(2**15) - 1, 16)) == 2**15 - 1


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_mode_1_is_exact_os_sa_arithmetic(threads):
    rng = np.random.default_rng(threads)
    a, w = rng.integers(0, 256, (17, 33)), rng.integers(-128, 128, (33, 9))
    r = golden_gemm(a, w, threads=threads, mode=1)
    assert (r.output == a @ w).all()
    s = r.stats
    assert s["macs_reduced_exact"] == s["macs_reduced_lossy"] == 0
    assert s["macs_full"] == s["macs"] == int(((a[:, :, None] != 0) & (w[None] != 0)).sum())
    assert s["error"]["max_abs"] == 0 and s["speedup_vs_mode1"] == 1


def test_lanes_beyond_the_mode_never_collide():
    rng = np.random.default_rng(7)
    a, w = activations("collide", rng, (6, 20)), weights("collide", rng, (20, 5))
    r2 = golden_gemm(a, w, threads=4, mode=2)
    assert r2.stats["pe_cycles_by_active"][3:] == [0, 0]
    assert r2.output.tolist() == golden_gemm(a, w, threads=2, mode=2).output.tolist()


def test_stats_account_for_every_pe_cycle_and_mac():
    rng = np.random.default_rng(3)
    a, w = activations("sparse", rng, (9, 31)), weights("sparse", rng, (31, 7))
    s = golden_gemm(a, w, threads=4, mode=4).stats
    assert s["k_steps"] == 8 and s["pe_cycles"] == 9 * 7 * 8
    assert sum(s["pe_cycles_by_active"]) == s["pe_cycles"]
    by_n = s["pe_cycles_by_active"]
    assert sum(n * c for n, c in enumerate(by_n)) == s["macs"]
    assert s["macs"] == s["macs_full"] + s["macs_reduced_exact"] + s["macs_reduced_lossy"]
    assert s["macs_full"] == by_n[1]
    assert s["speedup_vs_mode1"] == 31 / 8


def test_error_stats_measure_the_difference():
    rng = np.random.default_rng(11)
    a, w = activations("collide", rng, (8, 16)), weights("collide", rng, (16, 8))
    r = golden_gemm(a, w, threads=4, mode=4)
    diff = (r.output - a @ w).astype(float)
    e = r.stats["error"]
    assert e["max_abs"] == np.abs(diff).max() > 0
    assert e["mean_abs"] == pytest.approx(np.abs(diff).mean())
    assert e["mse"] == pytest.approx((diff ** 2).mean())
    assert e["rel_frobenius"] == pytest.approx(np.linalg.norm(diff) / np.linalg.norm(a @ w))


def test_large_gemm_is_chunked_without_changing_the_result():
    from nbsmt.sim import gemm as gemm_module
    rng = np.random.default_rng(5)
    a, w = activations("sparse", rng, (40, 64)), weights("uniform", rng, (64, 16))
    whole = golden_gemm(a, w, threads=2, mode=2)
    saved = gemm_module._CHUNK_ELEMENTS
    gemm_module._CHUNK_ELEMENTS = 64 * 16  # forces one row per chunk
    try:
        chunked = golden_gemm(a, w, threads=2, mode=2)
    finally:
        gemm_module._CHUNK_ELEMENTS = saved
    assert (whole.output == chunked.output).all() and whole.stats == chunked.stats
