"""The PE's RTL against the golden model in Amaranth's simulator, over odd policies too.

The cocotb regression (tests/test_pe.py) covers the default widths on real simulators at
length; this covers the width/window/rounding generality the generator claims, quickly,
and the parameter validation messages.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from nbsmt.hw.pe import NBSMTPE
from nbsmt.sim.arith import contribution, wrap
from nbsmt.core.policy import Policy
from nbsmt.host.beats import pack_lanes
from nbsmt.host.stimulus import mixed_lanes


def check_pe(threads, policy, cycles=300, seed=1):
    rng = np.random.default_rng(seed)
    a, w, _ = mixed_lanes(rng, cycles, threads, policy, runs=(20, 60))
    c = contribution(a, w, policy)
    dut = NBSMTPE(threads=threads, policy=policy)
    A, W = policy.act_bits, policy.weight_bits
    failures = []

    async def bench(ctx):
        ctx.set(dut.en_in, 1)
        ctx.set(dut.last_in, 1)   # acc stays 0, so result = wrap(contribution)
        for i in range(cycles):
            ctx.set(dut.a_in, pack_lanes([a[i]], A)[0])
            ctx.set(dut.w_in, pack_lanes([w[i]], W)[0])
            got = (ctx.get(dut.result), ctx.get(dut.n_active), ctx.get(dut.lossy))
            want = (int(wrap(c.value[i], policy.acc_bits)), int(c.active[i]),
                    int(c.reduced_lossy[i]))
            if got != want:
                failures.append(f"a={a[i].tolist()} w={w[i].tolist()} got {got} want {want}")
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert not failures, f"{len(failures)} mismatches, first: {failures[:3]}"


POLICIES = [
    Policy(),
    Policy.authors(),
    Policy(windows=3, rounding="trunc"),
    Policy(windows=5),
    Policy(act_bits=4, weight_bits=4, acc_bits=10, windows=3),
    Policy(act_bits=16, weight_bits=6, acc_bits=24, windows=5, zero_skip="act"),
    Policy(act_bits=6, weight_bits=10, acc_bits=18, windows=2, rounding="trunc"),
    Policy(act_bits=2, weight_bits=4, acc_bits=8, windows=2),
    Policy(act_bits=4, weight_bits=2, acc_bits=7, windows=3, zero_skip="act"),
]


@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("policy", POLICIES, ids=repr)
def test_pe_matches_golden_model(threads, policy):
    check_pe(threads, policy)


@pytest.mark.parametrize("threads, exc, text", [
    (3, ValueError, "threads must be one of 1, 2, 4, not 3"),
    ("2", TypeError, "threads must be an integer, not '2'"),
    (True, TypeError, "threads must be an integer, not True"),
])
def test_pe_rejects_bad_threads(threads, exc, text):
    with pytest.raises(exc, match=text):
        NBSMTPE(threads=threads, policy=Policy())


def test_pe_rejects_non_policy():
    with pytest.raises(TypeError, match=r"policy must be a nbsmt.core.policy.Policy, not \{"):
        NBSMTPE(threads=2, policy={"windows": 2})


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_accumulator_wraps_clears_and_holds(threads):
    """A 16-bit accumulator over random en/last streams: wraps like the golden model."""
    from nbsmt.host.pe_vectors import pe_vectors

    policy = Policy(acc_bits=16)
    vec = pe_vectors(threads, policy, 600, seed=5)
    dut = NBSMTPE(threads=threads, policy=policy)
    seen = []

    async def bench(ctx):
        for i in range(len(vec.acc)):
            ctx.set(dut.a_in, vec.a_bus[i])
            ctx.set(dut.w_in, vec.w_bus[i])
            ctx.set(dut.en_in, int(vec.en[i]))
            ctx.set(dut.last_in, int(vec.last[i]))
            seen.append((ctx.get(dut.acc), ctx.get(dut.result)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == list(zip(vec.acc, vec.result))
    from nbsmt.host.pe_vectors import expected_accumulator
    unwrapped = expected_accumulator(contribution(vec.a, vec.w, policy).value, vec.en,
                                     vec.last, 62)
    assert (unwrapped != np.array(vec.acc)).any()   # the stream really did wrap
