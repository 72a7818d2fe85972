"""PE regression: every thread count and policy of interest, on Icarus and Verilator.

Each case compiles its PE once (cached in build/sim/<simulator>/<name>/) and runs
NBSMT_PE_CYCLES (default 10,000) random cycles of mixed streams through tb/pe_test.py.
The seed is fixed per case so a failure reproduces; set NBSMT_SEED to explore others
(`make soak` runs 10^6 cycles per case with a fresh NBSMT_SEED).
"""

from __future__ import annotations

import zlib

import pytest

from nbsmt.hw.design import Design
from nbsmt.core.policy import Policy
from nbsmt.tb.runner import CONFIG_ENV, env_int, require_simulator, run_cocotb
from nbsmt.core.toolchain import SIMULATORS

POLICIES = {
    "default": Policy(),
    "authors": Policy.authors(),
    "windows5": Policy(windows=5),
    "trunc": Policy(rounding="trunc"),
}


def _seed(case: str) -> int:
    return env_int("NBSMT_SEED", zlib.crc32(case.encode()), 0, 2**32 - 1)


@pytest.mark.parametrize("policy_name", POLICIES)
@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_pe_against_golden_model(simulator, threads, policy_name):
    require_simulator(simulator)
    policy = POLICIES[policy_name]
    design = Design.pe(threads, policy)
    name = design.name
    config = {"threads": threads, "policy": policy.as_dict(),
              "cycles": env_int("NBSMT_PE_CYCLES", 10_000, 1),
              "seed": _seed(f"{threads}-{policy_name}")}
    run_cocotb(verilog=design.verilog(), toplevel=name, test_module="pe_test",
               simulator=simulator, build_name=name, env={CONFIG_ENV: config},
               testcase="pe_random_streams")


# Pipelined PEs (default policy): the accumulator side lags the inputs by the depth and
# the bench shifts its expectations by it (the statistics by one cycle). Every T and
# depth on Icarus, the deepest 4T on Verilator (a build costs about a minute); fewer
# cycles, since the arithmetic is the unpipelined PE's.
PIPELINED = [("icarus", t, p) for t in (1, 2, 4) for p in (1, 2)]
PIPELINED += [("verilator", 4, 2)]


@pytest.mark.parametrize("simulator, threads, pipeline", PIPELINED,
                         ids=[f"{s}-t{t}-p{p}" for s, t, p in PIPELINED])
def test_pipelined_pe_against_golden_model(simulator, threads, pipeline):
    require_simulator(simulator)
    policy = Policy()
    design = Design.pe(threads, policy, pipeline=pipeline)
    name = design.name
    config = {"threads": threads, "policy": policy.as_dict(), "pipeline": pipeline,
              "cycles": env_int("NBSMT_PE_CYCLES", 3_000, 1),
              "seed": _seed(f"{threads}-p{pipeline}")}
    run_cocotb(verilog=design.verilog(), toplevel=name, test_module="pe_test",
               simulator=simulator, build_name=name, env={CONFIG_ENV: config},
               testcase="pe_random_streams")


# Operand isolation (an energy option): the same random streams must give bit-identical
# results and statistics, for every T and both zero-skip policies (which decide what
# "inactive" means), on Icarus.
ISOLATED = [(t, p) for t in (1, 2, 4) for p in ("default", "authors")]


@pytest.mark.parametrize("threads, policy_name", ISOLATED,
                         ids=[f"t{t}-{p}" for t, p in ISOLATED])
def test_pe_with_operand_isolation_against_golden_model(threads, policy_name):
    require_simulator("icarus")
    policy = POLICIES[policy_name]
    design = Design.pe(threads, policy, isolate_operands=True)
    name = design.name
    assert name.endswith("_iso" if policy.is_default else f"_iso_{policy.short_name}")
    config = {"threads": threads, "policy": policy.as_dict(),
              "cycles": env_int("NBSMT_PE_CYCLES", 3_000, 1),
              "seed": _seed(f"{threads}-{policy_name}-iso")}
    run_cocotb(verilog=design.verilog(), toplevel=name, test_module="pe_test",
               simulator="icarus", build_name=name, env={CONFIG_ENV: config},
               testcase="pe_random_streams")
