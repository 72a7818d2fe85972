"""cocotb side of the stimulus player (`nbsmt.tb.player`): no Python in the per-cycle loop.

Per job: reset, preload both input halves, start, then sleep until the player has
played an input half (refill it with the next chunk of the job) or filled an output
half (write it out and read it back), and finally until `done`. The clock is cocotb's
GPI clock (C++, no Python per edge). Writes what the array did beside the job, in the
same form as the per-cycle bench, for `nbsmt.host.driver.check` to judge.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, RisingEdge

from nbsmt.tb.array_test import reset, settled_counters
from nbsmt.host.job_stream import NoProgress
from nbsmt.tb.player import read_hex, threshold, write_hex
from nbsmt.tb.runner import tb_config

def _next(sequence) -> int:
    """A request number the player has not served yet: the last one (kept across jobs,
    as the player's copy is) plus one."""
    return (int(sequence.value) + 1) % 256


class _Rings:
    """Which chunk of the job goes into which half, and the output rows read so far."""

    def __init__(self, dut, beats: np.ndarray, config: dict):
        self.dut, self.beats = dut, beats
        self.in_half, self.out_half = int(config["input_half"]), int(config["output_half"])
        self.in_path, self.out_path = Path(config["in_path"]), Path(config["out_path"])
        self.out_bytes = int(config["output_bytes"])
        self.loaded = self.refilled = self.dumped = 0
        self.outs: list[np.ndarray] = []

    def load_next(self) -> None:
        """At a falling edge: ask for the next chunk in the half it belongs to."""
        chunk = self.beats[self.loaded * self.in_half:(self.loaded + 1) * self.in_half]
        write_hex(self.in_path, chunk, self.in_half)
        self.dut.in_load_half.value = self.loaded % 2
        self.dut.in_load_seq.value = _next(self.dut.in_load_seq)
        self.loaded += 1

    async def dump(self, half: int, rows: int) -> None:
        """At a falling edge: have `half` written out at the next edge, keep `rows` of it."""
        self.dut.out_dump_half.value = half
        self.dut.out_dump_seq.value = _next(self.dut.out_dump_seq)
        await FallingEdge(self.dut.clk)
        self.outs.append(read_hex(self.out_path, self.out_bytes, rows))
        self.dumped += 1


async def _play(dut, job: dict, config: dict) -> None:
    spec = np.load(job["beats"])
    beats, n_out = spec["beats"], int(spec["output_beats"])
    rings = _Rings(dut, beats, config)
    await reset(dut, idle=("start",))
    for _ in range(2):   # both input halves, one load per edge
        rings.load_next()
        await FallingEdge(dut.clk)
    dut.n_in.value = len(beats)
    dut.n_out.value = n_out
    dut.cycle_limit.value = int(job["cycle_limit"])
    dut.seed.value = int(job.get("seed", 0)) & 0xFFFFFFFF
    dut.valid_threshold.value = threshold(job.get("valid_prob", 1.0))
    dut.ready_threshold.value = threshold(job.get("ready_prob", 1.0))
    dut.start.value = 1
    started = time.perf_counter()
    await FallingEdge(dut.clk)
    dut.start.value = 0
    while True:
        # at a falling edge: serve what the player asked for, oldest first
        if rings.refilled < int(dut.in_halves.value):   # refill the half just played
            rings.refilled += 1
            if rings.loaded * rings.in_half < len(beats):
                rings.load_next()
                await FallingEdge(dut.clk)
        elif rings.dumped < int(dut.out_halves.value):   # read the half just filled
            await rings.dump(rings.dumped % 2, rings.out_half)
        elif int(dut.done.value):
            break
        else:
            await First(RisingEdge(dut.done), dut.in_halves.value_change,
                        dut.out_halves.value_change)
            await FallingEdge(dut.clk)
    loop_seconds = time.perf_counter() - started
    if int(dut.hung.value):
        raise NoProgress(f"no progress: {int(dut.received.value)}/{n_out} output beats after "
                         f"{int(dut.cycles.value)} cycles")
    if int(dut.sent.value) != len(beats):
        raise NoProgress(f"{len(beats) - int(dut.sent.value)} input beats were never accepted")
    partial = n_out - rings.dumped * rings.out_half
    if partial:
        await rings.dump(rings.dumped % 2, partial)
    counters = await settled_counters(dut, int(config["threads"]))
    out = np.concatenate(rings.outs) if rings.outs else np.zeros((0, rings.out_bytes), np.uint8)
    np.savez(job["result"], out=out,
             cycles=int(dut.last_cycle.value) - int(dut.first_cycle.value) + 1,
             stall_cycles=int(dut.stall_cycles.value), host_gaps=int(dut.host_gaps.value),
             loop_cycles=int(dut.cycles.value) + 1, loop_seconds=loop_seconds,
             extra_output=int(dut.extra_output.value), **counters)


@cocotb.test()
async def play_jobs(dut):
    """Play every job of the configuration in order and record what the array did."""
    config = tb_config()
    for name in ("in_load_seq", "out_dump_seq", "in_load_half", "out_dump_half", "start"):
        getattr(dut, name).value = 0
    Clock(dut.clk, 10, unit="ns", impl="gpi").start()
    for job in config["jobs"]:
        await _play(dut, job, config)
