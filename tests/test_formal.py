"""Formal checks in CI: the default policy's PE proofs for T = 1, 2 and 4 (4T for up to two
active lanes; all of them in `make formal`), the register
proofs, the array's stream properties (bounded and one-step), and mutants that must fail.

The whole matrix (every policy, depth 40, every mutant) is `make formal`; docs/formal.md
has both sets' measured times. The solver jobs run once, in parallel, for the module.
"""

from __future__ import annotations

import os
import random

import pytest
from amaranth.sim import Simulator

from nbsmt.cli import main
from nbsmt.formal.mutants import MUTANTS
from nbsmt.formal.proofs import POLICIES, ci_subset, pe_verilog, run_jobs
from nbsmt.formal.reference import ReferencePE
from nbsmt.formal.report import progress_line

from .reference import ref_pe_cycle

JOBS = ci_subset()


def _ids(jobs):
    return [j.name for j in jobs]


@pytest.fixture(scope="module")
def results():
    """Every CI job, run once; each result's line (status, times) goes to the log."""
    done = run_jobs(JOBS, workers=os.cpu_count() or 1,
                    progress=lambda r: print(progress_line(r), flush=True))
    return {r.job: r for r in done}


PE_PROOFS = [j for j in JOBS if j.kind == "pe" and not j.mutant]
STEP_PROOFS = [j for j in JOBS if j.kind == "pe-step" and not j.mutant]
ARRAY_CHECKS = [j for j in JOBS if j.kind.startswith("array")]
MUTANT_RUNS = [j for j in JOBS if j.mutant]


@pytest.mark.parametrize("job", PE_PROOFS, ids=_ids(PE_PROOFS))
def test_pe_equals_the_spec_reference_for_all_inputs(results, job):
    r = results[job]
    assert r.status == "proven", r.counterexample


@pytest.mark.parametrize("job", STEP_PROOFS, ids=_ids(STEP_PROOFS))
def test_pe_registers_accumulate_hand_off_hold_and_pass_through(results, job):
    r = results[job]
    assert r.status == "proven", r.counterexample
    assert set(r.covers) == {"cover_accumulate", "cover_hold", "cover_handoff", "cover_wrap"}
    assert None not in r.covers.values(), r.covers


@pytest.mark.parametrize("job", ARRAY_CHECKS, ids=_ids(ARRAY_CHECKS))
def test_array_stream_properties_hold(results, job):
    r = results[job]
    assert r.status == "proven", r.counterexample
    if job.kind == "array":   # the bounded check also reaches a stall and a hand-off in one
        assert set(r.covers) == {"cover_stall", "cover_handoff", "cover_slowest_row", "cover_full"}
        assert None not in r.covers.values(), r.covers
        assert r.checks >= 3 * (job.depth + 1)   # every property checked in every cycle


@pytest.mark.parametrize("job", MUTANT_RUNS, ids=_ids(MUTANT_RUNS))
def test_an_injected_bug_fails_with_a_counterexample(results, job):
    r = results[job]
    assert r.status == "failed", f"{job.name} was {r.status}: the proof cannot catch this bug"
    if job.kind == "pe":   # operands, then both sides' values
        lines = r.counterexample.splitlines()
        assert lines[0].startswith("a=[") and " w=[" in lines[0] and " acc=" in lines[0]
        assert lines[1].strip().startswith("PE:") and lines[2].strip().startswith("reference:")
        assert lines[1].split(":", 1)[1] != lines[2].split(":", 1)[1]
    else:
        assert "violated in cycle" in r.counterexample


def _lanes_value(values, bits):
    return sum((v & ((1 << bits) - 1)) << (t * bits) for t, v in enumerate(values))


def _operand(rng, bits, signed):
    """Operands that reach every rule: zeros, exact small values, ties, extremes."""
    kind = rng.randrange(5)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if kind == 0:
        return 0
    if kind == 1:
        return rng.randint(max(low, -8), 15 if not signed else 7)
    if kind == 2:   # a tie below a window: guard bit set, sticky bits clear
        v = (rng.randrange(1 << (bits - 4)) << 4) | 0b1000
        return v - (1 << bits) if signed and v > high else v
    if kind == 3:
        return rng.choice([low, high, high - 7, low + 8])
    return rng.randint(low, high)


@pytest.mark.parametrize("policy_name", POLICIES)
@pytest.mark.parametrize("threads", [2, 4])
def test_formal_reference_agrees_with_the_simulation_reference(threads, policy_name):
    """The two references are written independently from the SPEC; they must agree."""
    policy = POLICIES[policy_name]
    dut = ReferencePE(threads=threads, policy=policy)
    rng = random.Random(f"{threads}-{policy_name}")
    cases = [([_operand(rng, 8, False) for _ in range(threads)],
              [_operand(rng, 8, True) for _ in range(threads)]) for _ in range(400)]

    async def bench(ctx):
        for a, w in cases:
            ctx.set(dut.a, _lanes_value(a, 8))
            ctx.set(dut.w, _lanes_value(w, 8))
            total, n, _, _, lossy = ref_pe_cycle(a, w, threads, zero_skip=policy.zero_skip,
                                                 windows=policy.windows, rounding=policy.rounding)
            got = (ctx.get(dut.contribution), ctx.get(dut.n), ctx.get(dut.lossy))
            assert got == (total, n, lossy), (a, w)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("name", MUTANTS)
def test_every_mutant_still_matches_the_generated_verilog(name):
    m = MUTANTS[name]
    for threads in (1, 2, 4):
        for policy in POLICIES.values():
            if m.applies(threads, policy):
                text, _ = pe_verilog(threads, policy, pipeline=m.pipeline)
                assert m.apply(text) != text


@pytest.mark.parametrize("argv, message", [
    (["--jobs", "0"], "--jobs must be at least 1, not 0"),
    (["--depth", "0"], "--depth must be between 1 and 200, not 0"),
    (["--timeout", "0"], "--timeout must be positive, not 0.0"),
])
def test_formal_cli_rejects_bad_input_in_one_line(capsys, argv, message):
    assert main(["formal", *argv]) == 2
    err = capsys.readouterr().err
    assert err == f"nbsmt formal: error: {message}\n"


def test_a_skid_buffer_that_never_halts_the_core_fails_the_room_proof(monkeypatch):
    """The buffer proof can fail: with `run` stuck at 1 the core hands a row to a full
    buffer, and the one-step proof finds it (the regex mutates the harness's Verilog)."""
    import re

    from nbsmt.formal.proofs import Job, run_job
    from nbsmt.hw import generate

    original = generate.to_verilog

    def never_halts(*args, **kwargs):
        text, n = re.subn(r"\brun <= \\\$\d+ ;", "run <= 1'h1;", original(*args, **kwargs), count=1)
        assert n == 1, "the buffer's run register is no longer found in the generated Verilog"
        return text

    monkeypatch.setattr(generate, "to_verilog", never_halts)
    r = run_job(Job("array-step", 2, rows=2, cols=2, depth=1))
    assert r.status == "failed" and "ok_step_room violated" in r.counterexample, r.counterexample
