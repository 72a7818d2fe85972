"""cocotb bench of the SySMT array: streams packed K-steps in, collects output rows.

Every GEMM ("job") comes as a .npz of pre-packed input beats made by
`nbsmt.host.driver.plan`; this bench only moves one Python int per stream and cycle
(`nbsmt.host.job_stream.JobStream` decides what) and writes what the RTL did (output
beats, counters, measured cycles) beside the job for `nbsmt.host.driver.check` to judge.
Jobs share one simulation, with a reset between them.

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

from nbsmt.host.beats import as_ints
from nbsmt.hw.counters import SETTLE_CYCLES_MAX
from nbsmt.host.job_stream import JobStream
from nbsmt.tb.runner import tb_config


async def reset(dut, idle: tuple[str, ...] = ("i__valid", "o__ready")) -> None:
    """Two cycles of reset, the `idle` inputs low; returns at a falling edge."""
    await FallingEdge(dut.clk)
    for name in idle:
        getattr(dut, name).value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def _run_job(dut, job: dict, threads: int) -> None:
    spec = np.load(job["beats"])
    stream = JobStream(as_ints(spec["beats"]), int(spec["output_beats"]),
                       int(spec["output_bytes"]), cycle_limit=int(job["cycle_limit"]),
                       valid_prob=job.get("valid_prob", 1.0),
                       ready_prob=job.get("ready_prob", 1.0), seed=job.get("seed", 0))

    await reset(dut)
    i_valid, i_payload, i_ready = dut.i__valid, dut.i__payload, dut.i__ready
    o_valid, o_payload, o_ready = dut.o__valid, dut.o__payload, dut.o__ready
    started = time.perf_counter()
    while not stream.done:
        await FallingEdge(dut.clk)
        valid, payload, ready = stream.drive()
        i_valid.value = valid
        if payload is not None:
            i_payload.value = payload
        o_ready.value = ready
        await ReadOnly()
        stream.observe(int(i_ready.value), int(o_valid.value),
                       lambda: o_payload.value.to_unsigned())
    loop_seconds = time.perf_counter() - started
    record = stream.record()
    await FallingEdge(dut.clk)
    await ReadOnly()
    extra = int(o_valid.value)   # a duplicated row would show up here
    np.savez(job["result"], **record, loop_seconds=loop_seconds, extra_output=extra,
             **await settled_counters(dut, threads))


async def settled_counters(dut, threads: int) -> dict:
    """The array's counters once the last row has left (the top's counter ports).

    The counters add their registered increments a few cycles after the last row
    (`settle_cycles`, hw/counters.py); the array is idle by now, so waiting for the
    largest array's count changes no count.
    """
    await ClockCycles(dut.clk, SETTLE_CYCLES_MAX)
    await ReadOnly()
    return {"busy_cycles": dut.busy_cycles.value.to_unsigned(),
            "pe_cycles_by_active": np.array(
                [getattr(dut, f"pe_cycles_by_active__{b}").value.to_unsigned()
                 for b in range(threads + 1)], dtype=np.int64),
            "lossy_reductions": dut.lossy_reductions.value.to_unsigned()}


@cocotb.test()
async def array_jobs(dut):
    """Run every job of the configuration in order and record what the array did."""
    config = tb_config()
    dut.i__payload.value = 0   # defined from time 0: no x edge may wake a block by chance
    Clock(dut.clk, 10, unit="ns").start()
    for job in config["jobs"]:
        await _run_job(dut, job, int(config["threads"]))
