"""SySMT array regression on Icarus and Verilator (cocotb via `nbsmt.tb.array_sim`).

Each case is one array configuration (simulator, R x C, T, policy), built once and
simulated once with several GEMMs ("jobs") in a row. Every job must be bit-exact with
`golden_gemm`, have counters equal to its statistics, and, when neither side pauses,
take exactly `nbsmt.sim.cycles.gemm_cycles` cycles (busy counter included); jobs with
random back-pressure/host pauses must still deliver every row exactly once.

The set is a covering set, not a cross product: every simulator sees every T, a
non-square, a 1 x N or N x 1 grid and back-pressure; every T > 1 runs each of its modes;
the GEMM shapes hit K < R (input waits on the drain), K not a multiple of m, partial
tiles in M and N and several tiles back to back; operands (`nbsmt.host.stimulus`) are
uniform, ReLU-like sparse, pruned, narrow (exact reductions) and all-colliding; zero_skip="act" (padded
columns gated in the counters), windows 3/5, trunc and a wrapping 17-bit accumulator
each appear at least once.
"""

from __future__ import annotations

import numpy as np
import pytest

from nbsmt.core.policy import Policy
from nbsmt.tb.array_sim import JobOptions, run_jobs
from nbsmt.host.driver import plan
from nbsmt.tb.runner import require_simulator
from nbsmt.host.stimulus import gemm_operands


BP = JobOptions(valid_prob=0.8, ready_prob=0.55, seed=8)   # host pauses + back-pressure
PUSH = JobOptions(ready_prob=0.55, seed=9)   # back-pressure alone: the cycle bound is checked
SMOOTH = JobOptions()

# (simulator, rows, cols, threads, policy, [(M, K, N, mode, mix, options), ...])
CASES = [
    ("icarus", 1, 1, 1, Policy(), [
        (3, 5, 2, 1, "uniform", SMOOTH), (1, 1, 1, 1, "narrow", SMOOTH), (2, 4, 3, 1, "relu", BP)]),
    ("icarus", 3, 5, 2, Policy(), [
        (7, 9, 11, 2, "relu", SMOOTH), (7, 9, 11, 1, "pruned", SMOOTH),
        (3, 2, 5, 2, "collide", SMOOTH), (4, 7, 6, 2, "uniform", BP), (6, 4, 6, 2, "relu", PUSH)]),
    ("icarus", 4, 1, 4, Policy(zero_skip="act", windows=5, rounding="trunc"), [
        (9, 3, 2, 4, "pruned", SMOOTH), (5, 10, 3, 2, "relu", SMOOTH),
        (4, 6, 1, 1, "collide", SMOOTH), (6, 11, 2, 4, "uniform", BP)]),
    ("verilator", 8, 8, 2, Policy(), [
        (10, 20, 17, 2, "relu", SMOOTH), (8, 5, 8, 2, "collide", BP), (17, 12, 20, 2, "relu", PUSH)]),
    ("verilator", 1, 4, 2, Policy(windows=3, acc_bits=17), [
        (3, 7, 9, 2, "collide", SMOOTH), (2, 40, 4, 1, "collide", SMOOTH),
        (3, 9, 6, 2, "narrow", BP)]),
    ("verilator", 4, 4, 4, Policy(), [
        (9, 2, 6, 4, "collide", SMOOTH), (5, 13, 7, 4, "relu", SMOOTH),
        (8, 13, 8, 2, "pruned", SMOOTH), (4, 9, 5, 1, "uniform", SMOOTH),
        (7, 11, 9, 4, "uniform", BP), (9, 3, 10, 4, "pruned", PUSH)]),
    ("verilator", 5, 3, 1, Policy(zero_skip="act"), [
        (11, 6, 7, 1, "relu", SMOOTH), (5, 2, 3, 1, "uniform", SMOOTH), (6, 8, 4, 1, "pruned", BP)]),
    ("icarus", 16, 16, 4, Policy(zero_skip="act"), [
        (20, 37, 18, 4, "relu", SMOOTH), (17, 21, 16, 2, "pruned", BP)]),
]


def _case_id(case) -> str:
    sim, r, c, t, p, jobs = case
    return f"{sim}-{r}x{c}-t{t}-{p.zero_skip}-w{p.windows}-{p.rounding}-acc{p.acc_bits}"


# Pipelined PEs: the same checks (bit-exact, counters, cycles = model with the depth) on
# both simulators, every T and depth, short and long K, several tiles, back-pressure.
PIPELINED_CASES = [
    ("icarus", 3, 2, 1, Policy(), [(7, 9, 5, 1, "relu", SMOOTH), (4, 2, 3, 1, "uniform", BP)]),
    ("icarus", 2, 3, 2, Policy(), [(5, 11, 7, 2, "collide", SMOOTH), (3, 6, 4, 2, "relu", BP)]),
    ("icarus", 4, 4, 4, Policy(), [(9, 13, 6, 4, "relu", SMOOTH), (5, 3, 4, 4, "collide", SMOOTH),
                                   (6, 9, 5, 2, "pruned", BP)]),
    # zero_skip="act": the padded columns' flags must meet statistics that leave from pipe1
    ("icarus", 3, 4, 2, Policy(zero_skip="act"), [(7, 6, 9, 2, "pruned", SMOOTH),
                                                  (5, 5, 6, 2, "relu", BP)]),
    ("verilator", 3, 3, 4, Policy(), [(7, 10, 8, 4, "relu", SMOOTH), (4, 2, 5, 4, "collide", SMOOTH),
                                      (5, 7, 4, 4, "uniform", BP)]),
]
# Every case at both depths on Icarus; Verilator (a build costs minutes) the deepest 4T.
PIPELINED = [(case, p) for case in PIPELINED_CASES for p in (1, 2)
             if case[0] == "icarus" or p == 2]


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_array_matches_golden_counters_and_cycle_model(case):
    _check_case(case, pipeline=0)


@pytest.mark.parametrize("case, pipeline", PIPELINED,
                         ids=[f"{_case_id(c)}-p{p}" for c, p in PIPELINED])
def test_pipelined_array_matches_golden_counters_and_cycle_model(case, pipeline):
    _check_case(case, pipeline=pipeline)


# The per-cycle cocotb bench (Python drives every cycle; random host pauses and stalls
# through `JobStream`) on one configuration per simulator; everything else runs on the
# stimulus player, with rings of a few beats so every job streams in several chunks.
BENCH_CASES = [CASES[1], CASES[5]]
SMALL_RINGS = (8, 4)


@pytest.mark.parametrize("case", BENCH_CASES, ids=[_case_id(c) for c in BENCH_CASES])
def test_array_on_the_per_cycle_bench(case):
    _check_case(case, pipeline=0, harness="bench")


# The native harness (the player clocked by a generated C++ main, no cocotb): the same
# jobs as the player runs them, rings of a few beats, smooth and back-pressured, 2T and 4T.
NATIVE_CASES = [CASES[3], CASES[5]]


@pytest.mark.parametrize("case", NATIVE_CASES, ids=[_case_id(c) for c in NATIVE_CASES])
def test_array_on_the_native_player(case):
    _check_case(case, pipeline=0, harness="native")


@pytest.mark.parametrize("harness", ["native", "player"])
def test_a_job_that_outlives_its_cycle_limit_fails_as_no_progress(monkeypatch, harness):
    """Both player harnesses stop a job at its cycle limit and say so (the limit is
    lowered here; a real array never comes near the generous default)."""
    import nbsmt.tb.array_sim as array_sim
    from nbsmt.tb.runner import SimulationFailure

    require_simulator("verilator")
    monkeypatch.setattr(array_sim, "_cycle_limit", lambda job, opt, harness: 20)
    a, w = gemm_operands("relu", np.random.default_rng(5), 10, 20, 17, Policy())
    job = plan(a, w, rows=8, cols=8, threads=2, mode=2)
    with pytest.raises(SimulationFailure,
                       match=rf"no progress: \d+/{job.output_beats} output beats after 21 cycles"):
        run_jobs([job], simulator="verilator", harness=harness, player_halves=SMALL_RINGS)


# Held idle registers (`gate_clocks`, the clock-gating option of the energy flow): the
# same checks on Icarus, without and with pipeline registers (whose data stages hold too).
GATED = [(PIPELINED_CASES[1], 0), (PIPELINED_CASES[2], 2)]


@pytest.mark.parametrize("case, pipeline", GATED, ids=[f"{_case_id(c)}-p{p}" for c, p in GATED])
def test_array_with_held_idle_registers_matches_golden(case, pipeline):
    _check_case(case, pipeline=pipeline, gate_clocks=True)


def _check_case(case, *, pipeline: int, harness: str = "player", gate_clocks: bool = False) -> None:
    simulator, rows, cols, threads, policy, specs = case
    require_simulator(simulator)
    rng = np.random.default_rng(rows * 1000 + cols * 10 + threads)
    jobs, options = [], []
    for m_rows, k, n_cols, mode, mix, opt in specs:
        a, w = gemm_operands(mix, rng, m_rows, k, n_cols, policy)
        jobs.append(plan(a, w, rows=rows, cols=cols, threads=threads, mode=mode, policy=policy,
                         pipeline=pipeline))
        options.append(opt)
    records, _ = run_jobs(jobs, simulator=simulator, options=options, harness=harness,
                          player_halves=SMALL_RINGS, gate_clocks=gate_clocks,
                          reference="golden")
    for spec, opt, rec in zip(specs, options, records):
        failed = [name for name, good in rec["checks"].items() if not good]
        assert not failed, (f"job {spec[:5]}: {failed}; cycles {rec['cycles']} "
                            f"(stalls {rec['stall_cycles']}) vs model "
                            f"{rec['cycle_model']['cycles']}; counters {rec['counters']}; "
                            f"golden {rec['golden']['pe_cycles_by_active']} "
                            f"lossy {rec['golden']['macs_reduced_lossy']}")
        if opt is SMOOTH:
            assert rec["stall_cycles"] == 0 and "cycles_equal_model" in rec["checks"]
        else:
            assert rec["stall_cycles"] > 0, "the back-pressure job never pushed back"
        if opt is PUSH:   # no host pause: the cycle bound under back-pressure was checked
            assert "cycles_within_model_plus_stalls" in rec["checks"]
