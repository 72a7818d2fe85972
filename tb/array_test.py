"""cocotb bench of the SySMT array: streams packed K-steps in, collects output rows.

Every GEMM ("job") comes as a .npz of pre-packed input beats made by
`nbsmt.tb.driver.plan`; this bench only moves one Python int per stream and cycle and
writes what the RTL did (output beats, counters, measured cycles) beside the job for
`nbsmt.tb.driver.check` to judge. Jobs share one simulation, with a reset between them.

Each cycle: drive at the falling edge, then sample after ReadOnly, so `i.ready`
(combinational in `o.ready` and the beat's `last`) is seen as the DUT sees it. A job's
`valid_prob` / `ready_prob` below 1 make the host pause and the consumer push back at
random (seeded).
"""

from __future__ import annotations

import time

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from nbsmt.tb.runner import tb_config


async def _reset(dut):
    await FallingEdge(dut.clk)
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def _run_job(dut, job: dict, threads: int) -> None:
    spec = np.load(job["beats"])
    beats = [int.from_bytes(row.tobytes(), "little") for row in spec["beats"]]
    n_out, out_bytes = int(spec["output_beats"]), int(spec["output_bytes"])
    valid_p, ready_p = float(job.get("valid_prob", 1.0)), float(job.get("ready_prob", 1.0))
    rng = np.random.default_rng(int(job.get("seed", 0)))
    limit = int(job["cycle_limit"])

    await _reset(dut)
    i_valid, i_payload, i_ready = dut.i__valid, dut.i__payload, dut.i__ready
    o_valid, o_payload, o_ready = dut.o__valid, dut.o__payload, dut.o__ready
    outs, idx, cycle = [], 0, 0
    first = last = None
    stalls = gaps = 0
    started = time.perf_counter()
    while len(outs) < n_out:
        await FallingEdge(dut.clk)
        present = idx < len(beats) and (valid_p >= 1.0 or rng.random() < valid_p)
        if idx < len(beats) and not present:
            gaps += 1
        i_valid.value = int(present)
        if present:
            i_payload.value = beats[idx]
        ready = 1 if ready_p >= 1.0 else int(rng.random() < ready_p)
        o_ready.value = ready
        await ReadOnly()
        if present and int(i_ready.value):
            idx += 1
            if first is None:
                first = cycle
        if int(o_valid.value):
            if ready:
                outs.append(o_payload.value.to_unsigned())
                last = cycle
            else:
                stalls += 1
        cycle += 1
        assert cycle <= limit, f"no progress: {len(outs)}/{n_out} output beats after {cycle} cycles"
    loop_seconds = time.perf_counter() - started
    assert idx == len(beats), f"{len(beats) - idx} input beats were never accepted"
    await FallingEdge(dut.clk)
    await ReadOnly()
    extra = int(o_valid.value)   # a duplicated row would show up here
    # The counters add their registered increments up to 2 cycles after the last row
    # (hw/counters.py); the array is idle by now, so waiting changes no count.
    await ClockCycles(dut.clk, 2)
    await ReadOnly()
    np.savez(job["result"],
             out=np.array([np.frombuffer(o.to_bytes(out_bytes, "little"), dtype=np.uint8)
                           for o in outs]).reshape(len(outs), out_bytes),
             cycles=last - first + 1, stall_cycles=stalls, host_gaps=gaps,
             extra_output=extra, loop_cycles=cycle, loop_seconds=loop_seconds,
             busy_cycles=dut.busy_cycles.value.to_unsigned(),
             pe_cycles_by_active=np.array(
                 [getattr(dut, f"pe_cycles_by_active__{b}").value.to_unsigned()
                  for b in range(threads + 1)], dtype=np.int64),
             lossy_reductions=dut.lossy_reductions.value.to_unsigned())


@cocotb.test()
async def array_jobs(dut):
    """Run every job of the configuration in order and record what the array did."""
    config = tb_config()
    Clock(dut.clk, 10, unit="ns").start()
    for job in config["jobs"]:
        await _run_job(dut, job, int(config["threads"]))
