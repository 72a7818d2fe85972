"""Run planned GEMMs on the SySMT array RTL (Icarus or Verilator) and judge the results.

Generates the array's Verilog, hands the packed jobs to the cocotb bench
(`array_test.py`) through `nbsmt.tb.runner.run_cocotb` (one build per array
configuration and policy, reused while the Verilog is unchanged) and checks each job
with `nbsmt.host.driver.check`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from nbsmt.core.policy import Policy, check_choice

from nbsmt.host.driver import ArrayJob, check
from nbsmt.tb.player import (INPUT_HALF, OUTPUT_HALF, PLAYER_MAX, PlayerShape, player_name,
                             player_verilog)


@contextlib.contextmanager
def _output_to(path: Path | None):
    """Send this process's and its children's stdout/stderr to `path` (None: leave them)."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(path, "w") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)


@dataclasses.dataclass
class JobOptions:
    """How the host and the consumer behave around one job (1.0: never pause)."""

    valid_prob: float = 1.0
    ready_prob: float = 1.0
    seed: int = 0


def array_verilog(job: ArrayJob, counter_bits: int, gate_clocks: bool = False) -> tuple[str, str]:
    """(module name, Verilog) of the array `job` is planned for (generated once, cached);
    `gate_clocks`: the array whose idle registers hold (`nbsmt.hw.pe.NBSMTPE`)."""
    from nbsmt.hw.design import Design

    fmt = job.fmt
    design = Design.array(fmt.rows, fmt.cols, fmt.threads, fmt.policy, pipeline=job.pipeline,
                          gate_clocks=gate_clocks, counter_bits=counter_bits)
    return design.name, design.verilog()


#: How the jobs reach the RTL: the Verilog stimulus player clocked by a generated C++
#: main (`nbsmt.tb.native`, Verilator only, the fastest), the same player under cocotb
#: (Python runs once per ring half; both simulators) or the per-cycle cocotb bench
#: (Python drives every cycle; kept for protocol tests).
HARNESSES = ("native", "player", "bench")


def default_harness(simulator: str) -> str:
    """The fastest harness `simulator` runs: native on Verilator, the player on Icarus."""
    return "native" if simulator == "verilator" else "player"


#: The models an RTL run is held against: the BLAS-speed emulator (proven equal to the
#: golden model, outputs and statistics, by tests/test_emulator.py) or the golden model.
REFERENCES = ("emulator", "golden")


def _references(jobs: list[ArrayJob], model: str):
    """Start computing every job's expected result in a thread (numpy and BLAS release the
    GIL, so it overlaps the simulator); returns the future of the list."""
    import concurrent.futures

    from nbsmt.sim.emulator import emulate_gemm
    from nbsmt.sim.gemm import golden_gemm

    compute = emulate_gemm if model == "emulator" else golden_gemm
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nbsmt-reference")
    future = pool.submit(lambda: [compute(j.a, j.w, threads=j.fmt.threads, mode=j.mode,
                                          policy=j.fmt.policy) for j in jobs])
    pool.shutdown(wait=False)
    return future


def run_jobs(jobs: list[ArrayJob], *, simulator: str, options: list[JobOptions] | None = None,
             waves: bool = False, counter_bits: int | None = None,
             quiet: bool = False, harness: str | None = None,
             player_halves: tuple[int, int] | None = None,
             gate_clocks: bool = False, reference: str = "emulator") -> tuple[list[dict], Path]:
    """Simulate `jobs` (all planned for the same array and policy) in one simulator run;
    `gate_clocks`: on the array built with held idle registers (`array_verilog`).

    harness: one of HARNESSES (default: `default_harness(simulator)`; `waves` needs a
    cocotb one). player_halves: the player's (input, output) ring halves in beats
    (default `nbsmt.tb.player.INPUT_HALF`, `OUTPUT_HALF`). reference: one of REFERENCES,
    the model each job's output and counters are held against (computed while the
    simulator runs).

    quiet: send the simulator's build and run output to `<build folder>.log` beside the
    build folder (which a rebuild replaces) instead of the terminal.

    Returns (one `check` record per job, the build folder). Raises
    `nbsmt.tb.runner.SimulationFailure` if the bench or player itself failed (e.g.
    no progress).
    """
    from nbsmt.hw.design import COUNTER_BITS

    from nbsmt.tb.runner import CONFIG_ENV, build_root, run_cocotb

    harness = default_harness(simulator) if harness is None else harness
    check_choice("harness", harness, HARNESSES)
    check_choice("reference", reference, REFERENCES)
    if harness == "native" and simulator != "verilator":
        raise ValueError("the native harness runs on Verilator only")
    if harness == "native" and waves:
        raise ValueError("waveforms need a cocotb harness (player or bench), not native")
    if not jobs:
        raise ValueError("run_jobs needs at least one job")
    fmt, pipeline = jobs[0].fmt, jobs[0].pipeline
    if any(j.fmt != fmt or j.pipeline != pipeline for j in jobs):
        raise ValueError("all jobs of one run must target the same array and policy")
    counter_bits = COUNTER_BITS if counter_bits is None else counter_bits
    options = options or [JobOptions() for _ in jobs]
    limits = [_cycle_limit(job, opt, harness) for job, opt in zip(jobs, options)]
    expected = _references(jobs, reference)
    top, verilog = array_verilog(jobs[0], counter_bits, gate_clocks)
    name = f"{top}_c{counter_bits}"   # the build folder
    config = {"threads": fmt.threads}
    test_module, plusargs = "array_test", []
    if harness in ("player", "native"):
        input_half, output_half = player_halves or (INPUT_HALF, OUTPUT_HALF)
        rings = PlayerShape.of(fmt, counter_bits, input_half=input_half, output_half=output_half)
        name = f"{player_name(top)}_c{counter_bits}_h{rings.input_half}x{rings.output_half}"
    with tempfile.TemporaryDirectory(prefix="nbsmt-array-") as tmp:
        if harness == "native":
            from nbsmt.tb.native import play

            rtls = play(jobs, options, array_top=top, array_verilog=verilog, shape=rings,
                        build_name=name, work=Path(tmp), limits=limits)
            build_dir = build_root() / "sim" / "native" / name
        else:
            if harness == "player":   # the files the rings are refilled and emptied through
                verilog += player_verilog(top, rings)
                top = player_name(top)
                test_module = "player_test"
                config |= {"input_half": rings.input_half, "output_half": rings.output_half,
                           "output_bytes": rings.output_bytes,
                           "in_path": f"{tmp}/in.hex", "out_path": f"{tmp}/out.hex"}
                plusargs = [f"+player_in={tmp}/in.hex", f"+player_out={tmp}/out.hex"]
            entries = []
            for n, (job, opt, limit) in enumerate(zip(jobs, options, limits)):
                beats, result = Path(tmp) / f"job{n}.npz", Path(tmp) / f"job{n}.result.npz"
                np.savez(beats, beats=job.beats, output_beats=job.output_beats,
                         output_bytes=-(-fmt.output_bits // 8))
                entries.append({"beats": str(beats), "result": str(result), "cycle_limit": limit,
                                **dataclasses.asdict(opt)})
            log = build_root() / "sim" / simulator / f"{name}.log" if quiet else None
            with _output_to(log):
                xml = run_cocotb(verilog=verilog, toplevel=top, test_module=test_module,
                                 simulator=simulator, build_name=name, waves=waves,
                                 env={CONFIG_ENV: {**config, "jobs": entries}},
                                 plusargs=plusargs)
            build_dir = Path(xml).parent
            rtls = []
            for entry in entries:
                with np.load(entry["result"]) as r:
                    rtls.append({k: r[k] for k in r.files})
    records = [check(job, rtl, want) for job, rtl, want in zip(jobs, rtls, expected.result())]
    for record in records:
        record["reference"] = reference
    return records, build_dir


def _cycle_limit(job: ArrayJob, opt: JobOptions, harness: str) -> int:
    """Cycles after which a job counts as hung: generous, every cycle of the model may
    stall ~1/ready_prob times; the player's 32-bit counters bound it."""
    limit = int(job.cycle_report()["cycles"] / max(min(opt.ready_prob, opt.valid_prob), 0.05)
                * 4) + 1000
    if harness in ("player", "native"):
        if len(job.beats) > PLAYER_MAX:
            raise ValueError(f"a GEMM of {len(job.beats):,} input beats is longer than "
                             f"the player plays ({PLAYER_MAX:,}); split it")
        limit = min(limit, PLAYER_MAX)
    return limit
