"""The fast emulator against the golden model: same output bit for bit, same SPEC §8 record."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbsmt.core.policy import Policy
from nbsmt.sim import golden_gemm
from nbsmt.sim import emulator
from nbsmt.sim.emulator import emulate_gemm
from nbsmt.sim.exact_matmul import exact_matmul, matmul_plan

from nbsmt.host.stimulus import FAMILIES, activations, weights

POLICIES = [Policy(zero_skip=z, windows=n, rounding=r)
            for z, n, r in itertools.product(("both", "act"), (2, 3, 5), ("rne", "trunc"))]
CONFIGS = [(t, m) for t in (1, 2, 4) for m in (1, 2, 4) if m <= t]


def assert_same(a, w, threads, mode, policy):
    want = golden_gemm(a, w, threads=threads, mode=mode, policy=policy)
    got = emulate_gemm(a, w, threads=threads, mode=mode, policy=policy)
    assert got.output.dtype == np.int64
    assert np.array_equal(got.output, want.output)
    assert got.stats == want.stats
    return got


@settings(max_examples=150, deadline=None)
@given(data=st.data(), threads_mode=st.sampled_from(CONFIGS), policy=st.sampled_from(POLICIES),
       a_family=st.sampled_from(FAMILIES), w_family=st.sampled_from(FAMILIES),
       shape=st.tuples(st.integers(1, 40), st.integers(1, 70), st.integers(1, 24)))
def test_emulator_equals_golden_model(data, threads_mode, policy, a_family, w_family, shape):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    m, k, n = shape
    assert_same(activations(a_family, rng, (m, k)), weights(w_family, rng, (k, n)),
                *threads_mode, policy)


@pytest.mark.parametrize("policy", [Policy(), Policy.authors(), Policy(windows=5, rounding="trunc")],
                         ids=["default", "authors", "w5-trunc"])
@pytest.mark.parametrize("threads, mode", CONFIGS)
def test_many_row_blocks_and_inner_chunks(monkeypatch, policy, threads, mode):
    """Small blocks and chunks force every seam of the blocked, chunked product."""
    monkeypatch.setattr(emulator, "_ROWS", 7)
    monkeypatch.setattr(emulator, "MAX_INNER", 13)
    rng = np.random.default_rng(threads * 10 + mode)
    a = activations("sparse", rng, (40, 91))
    w = weights("uniform", rng, (91, 11))
    assert_same(a, w, threads, mode, policy)


@pytest.mark.parametrize("acc_bits", [16, 17, 24])
def test_accumulator_wraps_like_the_golden_model(acc_bits):
    policy = Policy(acc_bits=acc_bits)
    rng = np.random.default_rng(acc_bits)
    a = activations("collide", rng, (9, 300))
    w = weights("extreme", rng, (300, 5))
    for threads, mode in CONFIGS:
        got = assert_same(a, w, threads, mode, policy)
    assert got.stats["error"]["max_abs"] > 0  # wrapping really happened


@pytest.mark.parametrize("act_bits, weight_bits", [(4, 4), (6, 8), (12, 10), (16, 16)])
def test_other_operand_widths(act_bits, weight_bits):
    """Wide operands push the exactness bound past float32 (and near float64's)."""
    policy = Policy(act_bits=act_bits, weight_bits=weight_bits, acc_bits=min(62, 2 * (act_bits + weight_bits)))
    rng = np.random.default_rng(act_bits)
    a = activations("uniform", rng, (13, 37), act_bits)
    w = weights("uniform", rng, (37, 6), weight_bits)
    for threads, mode in CONFIGS:
        assert_same(a, w, threads, mode, policy)


def test_narrow_dtypes_are_accepted_and_give_the_same_result():
    rng = np.random.default_rng(1)
    a, w = activations("sparse", rng, (20, 33)), weights("uniform", rng, (33, 8))
    wide = emulate_gemm(a, w, threads=4)
    narrow = emulate_gemm(a.astype(np.uint8), w.astype(np.int8), threads=4)
    assert np.array_equal(wide.output, narrow.output) and wide.stats == narrow.stats


@pytest.mark.parametrize("a, w, message", [
    (np.full((2, 3), 256), np.zeros((3, 2), int), r"A \(unsigned activations\): value 256"),
    (np.full((2, 3), -1), np.zeros((3, 2), int), r"A \(unsigned activations\): value -1"),
    (np.zeros((2, 3), int), np.full((3, 2), 128), r"W \(signed weights\): value 128"),
    (np.zeros((2, 3), int), np.zeros((4, 2), int), "K mismatch"),
    (np.zeros((2, 0), int), np.zeros((0, 2), int), "A: empty array"),
    (np.zeros(3, int), np.zeros((3, 2), int), "A: expected a 2-D array"),
    (np.zeros((2, 2)), np.zeros((2, 2), int), "A: dtype float64 is not an integer type"),
])
def test_bad_operands_raise_value_error(a, w, message):
    with pytest.raises(ValueError, match=message):
        emulate_gemm(a, w, threads=2)


def test_plan_proves_exactness_and_prefers_float32():
    plan, dtype = matmul_plan(np.full(1000, 255 * 128))
    assert dtype == np.float32 and len(plan) == 2
    assert all(255 * 128 * (hi - lo) <= 2**24 for lo, hi in plan)
    plan, dtype = matmul_plan(np.full(1000, 2**30))  # one product alone exceeds 2^24
    assert dtype == np.float64 and plan == [(0, 1000)]
    plan, dtype = matmul_plan(np.full(10, 2**52))  # float64 must be chunked too
    assert dtype == np.float64 and all(hi - lo <= 2 for lo, hi in plan)
    assert [lo for lo, _ in plan] == list(range(0, 10, 2))


def test_exact_matmul_is_exact_where_a_single_float_product_is_not():
    rng = np.random.default_rng(0)
    f = rng.integers(-2**26, 2**26, (5, 300))
    g = rng.integers(-2**26, 2**26, (300, 4))
    want = [[sum(int(x) * int(y) for x, y in zip(row, col)) for col in g.T] for row in f]
    assert np.array_equal(exact_matmul(f, g), np.array(want, dtype=object).astype(np.int64))
    assert not np.array_equal((f.astype(float) @ g.astype(float)).astype(np.int64), exact_matmul(f, g))
