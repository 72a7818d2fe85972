"""SySMT array generator and host driver, checked without an external simulator.

The cocotb regression (tests/test_array.py) is the full check on Icarus and Verilator;
these tests pin the generator's parameter checks, the payload layout shared by the RTL
and the numpy driver, the skew delays and one short run in Amaranth's own simulator.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.lib import data
from amaranth.sim import Simulator

from nbsmt.hw.array import SySMTArray
from nbsmt.hw.design import Design
from nbsmt.hw.array_io import ArrayFormat
from nbsmt.hw.counters import SETTLE_CYCLES_MAX
from nbsmt.hw.outbuf import DEPTH, OutputBuffer
from nbsmt.hw.skew import Skew
from nbsmt.core.policy import Policy
from nbsmt.host.beats import as_ints, from_bits, pack, to_bits, unpack
from nbsmt.host.driver import check, plan
from nbsmt.host.job_stream import JobStream


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(rows=0, cols=2, threads=2), ValueError, "rows must be between 1 and 64, not 0"),
    (dict(rows=2, cols=65, threads=2), ValueError, "cols must be between 1 and 64, not 65"),
    (dict(rows=2.0, cols=2, threads=2), TypeError, "rows must be an integer, not 2.0"),
    (dict(rows=2, cols=2, threads=3), ValueError, "threads must be one of 1, 2, 4, not 3"),
    (dict(rows=2, cols=2, threads=2, policy="rne"), TypeError, "policy must be a"),
    (dict(rows=2, cols=2, threads=2, counter_bits=4), ValueError, "counter_bits must be between"),
    (dict(rows=2, cols=2, threads=2, pipeline=3), ValueError, "pipeline must be between 0 and 2, not 3"),
    (dict(rows=2, cols=2, threads=2, pipeline="1"), TypeError, "pipeline must be an integer, not '1'"),
])
def test_bad_parameters_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        SySMTArray(**kwargs)


def test_stream_layouts_are_the_drivers_format():
    fmt = ArrayFormat(3, 5, 4, Policy(acc_bits=20))
    dut = SySMTArray(rows=3, cols=5, threads=4, policy=fmt.policy)
    dut._MustUse__silence = True   # only its signature is inspected
    i_layout = dut.signature.members["i"].signature.members["payload"].shape
    o_layout = dut.signature.members["o"].signature.members["payload"].shape
    for layout, fields in ((i_layout, fmt.input_fields()), (o_layout, fmt.output_fields())):
        assert isinstance(layout, data.StructLayout)
        assert [(n, layout[n].offset, layout[n].width) for n, _ in fields] == \
            [(n, off, w) for n, (off, w) in ArrayFormat.offsets(fields).items()]
    assert i_layout.size == fmt.input_bits == 3 * 32 + 5 * 32 + 1 + 2 + 3


def test_pack_and_unpack_round_trip_signed_lanes():
    rng = np.random.default_rng(0)
    fields = [("x", 3 * 7), ("y", 1), ("z", 2 * 12)]
    vals = {"x": rng.integers(0, 128, (9, 3)), "y": rng.integers(0, 2, (9, 1)),
            "z": rng.integers(-2048, 2048, (9, 2))}
    packed = pack(fields, vals, 9)
    assert packed.shape == (9, 6)
    back = unpack(fields, packed, {"x": 3, "z": 2}, signed={"z"})
    for k in vals:
        assert np.array_equal(back[k], vals[k])
    assert np.array_equal(from_bits(to_bits(np.array([[-1, 5]]), 4), 4, True), [[-1, 5]])


def test_plan_packs_lanes_per_mode_and_tiles_row_block_major():
    a = np.arange(1, 3 * 5 + 1).reshape(3, 5)           # M=3, K=5
    w = -np.arange(1, 5 * 2 + 1).reshape(5, 2)          # N=2
    job = plan(a, w, rows=2, cols=1, threads=4, mode=2)
    assert job.k_steps == 3 and job.tiles == [(0, 0), (0, 1), (2, 0), (2, 1)]
    f = unpack(job.fmt.input_fields(), job.beats, {"a": 2 * 4, "w": 4}, signed={"w"})
    # tile 3 = rows 2..3 (row 3 padded), column 1; K-step 1 carries k = 2, 3 on lanes 0, 1
    beat = 3 * 3 + 1
    assert f["a"][beat].tolist() == [a[2, 2], a[2, 3], 0, 0, 0, 0, 0, 0]
    assert f["w"][beat].tolist() == [w[2, 1], w[3, 1], 0, 0]
    assert f["last"][:, 0].tolist() == [0, 0, 1] * 4
    assert f["rows"][:, 0].tolist() == [2] * 6 + [1] * 6
    assert f["cols"][:, 0].tolist() == [1] * 12


def _skew_outputs(dut: Skew, cycles: int, valid=None) -> list[list[int]]:
    """Each cycle's three 4-bit output groups of `dut` fed word (t + 1) * 0x111 in cycle t
    (and `valid[t]` when given)."""
    seen = []

    async def bench(ctx):
        for t in range(cycles):
            ctx.set(dut.i, (t + 1) * 0x111)
            if valid is not None:
                ctx.set(dut.valid, valid[t])
            o = ctx.get(dut.o)
            seen.append([(o >> (4 * g)) & 0xF for g in range(3)])
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return seen


def test_skew_delays_each_group_by_its_count():
    seen = _skew_outputs(Skew(width=4, delays=[0, 2, 1]), 6)
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5, 6]
    assert [s[1] for s in seen][2:] == [1, 2, 3, 4]
    assert [s[2] for s in seen][1:] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("hold", ["shared", "per-group"])
def test_a_held_skew_delays_valid_data_and_keeps_its_registers_while_idle(hold):
    # Groups delayed 0, 2, 1 cycles; input valid in cycles 0, 1, 3 (per group: group 1
    # also in cycle 4). Valid data leave like an unheld skew's; an idle register keeps
    # its last valid value (the group-1 output after its last valid word).
    valid = [1, 1, 0, 1, 0, 0, 0, 0]
    if hold == "per-group":
        valid = [0b111 * v | ((t == 4) << 1) for t, v in enumerate(valid)]
    seen = _skew_outputs(Skew(width=4, delays=[0, 2, 1], hold=hold), 8, valid)
    group1, group2 = [s[1] for s in seen], [s[2] for s in seen]
    assert [group1[t + 2] for t in (0, 1, 3)] == [1, 2, 4]       # valid words, 2 cycles late
    assert [group2[t + 1] for t in (0, 1, 3)] == [1, 2, 4]
    assert group2[3] == 2 and group2[5:] == [4, 4, 4]             # held while idle
    assert group1[6:] == ([5, 5] if hold == "per-group" else [4, 4])


@pytest.mark.parametrize("ready_prob", [1.0, 0.7, 0.3])
def test_the_output_buffer_passes_rows_in_order_and_halts_the_core_only_when_full(ready_prob):
    """The skid buffer against a Python queue: a row offered by a running core is never
    lost, rows leave in order, `o.valid` is set exactly when a row is held or arriving, and
    `run` is set exactly when at most one row is held. The drain's row stays offered while
    the core is halted, as the array's drain register holds it."""
    rng = np.random.default_rng(int(ready_prob * 10))
    dut = OutputBuffer(width=16)
    seen = {"sent": [], "got": [], "halted_while_ready": 0, "ran_through_stall": 0}

    async def bench(ctx):
        held, next_row, offered = [], 1, False
        for _ in range(400):
            if not offered:
                offered = rng.random() < 0.8
            ready = int(rng.random() < ready_prob)
            ctx.set(dut.row_valid, int(offered))
            ctx.set(dut.row, next_row)
            ctx.set(dut.row_last, next_row % 3 == 0)
            ctx.set(dut.ready, ready)
            run, valid = ctx.get(dut.run), ctx.get(dut.valid)
            assert run == (len(held) <= DEPTH - 1), (held, run)
            arrive = offered and run
            assert valid == (bool(held) or arrive)
            queue = held + ([next_row] if arrive else [])
            if valid:
                assert ctx.get(dut.data) == queue[0] and ctx.get(dut.last) == (queue[0] % 3 == 0)
            if valid and ready:
                seen["got"].append(queue.pop(0))
            elif valid and run:
                seen["ran_through_stall"] += 1
            if arrive:
                seen["sent"].append(next_row)
                next_row, offered = next_row + 1, False
            assert len(queue) <= DEPTH, "a row arrived at a full buffer"
            held = queue
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen["got"] == seen["sent"][:len(seen["got"])] and len(seen["sent"]) > 100
    assert len(seen["sent"]) - len(seen["got"]) <= DEPTH
    if ready_prob < 1:   # a stall does not stop the core while the buffer has room
        assert seen["ran_through_stall"] > 0


def _amaranth_run(job, ready_prob=1.0, seed=0):
    """Drive one planned job through the array in Amaranth's simulator, with the cocotb
    bench's own host/consumer loop (`JobStream`)."""
    fmt = job.fmt
    dut = SySMTArray(rows=fmt.rows, cols=fmt.cols, threads=fmt.threads, policy=fmt.policy,
                     pipeline=job.pipeline)
    stream = JobStream(as_ints(job.beats), job.output_beats, -(-fmt.output_bits // 8),
                       cycle_limit=10_000, ready_prob=ready_prob, seed=seed)
    res = {}

    async def bench(ctx):
        while not stream.done:
            valid, payload, ready = stream.drive()
            ctx.set(dut.i.valid, valid)
            if payload is not None:
                ctx.set(dut.i.payload.as_value(), payload)
            ctx.set(dut.o.ready, ready)
            stream.observe(ctx.get(dut.i.ready), ctx.get(dut.o.valid),
                           lambda: ctx.get(dut.o.payload.as_value()))
            await ctx.tick()
        res.update(stream.record(), extra_output=ctx.get(dut.o.valid))
        await ctx.tick().repeat(SETTLE_CYCLES_MAX + 1)   # the counters settle (hw/counters.py)
        res.update(busy_cycles=ctx.get(dut.busy_cycles),
                   pe_cycles_by_active=[ctx.get(x) for x in dut.pe_cycles_by_active],
                   lossy_reductions=ctx.get(dut.lossy_reductions))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return check(job, res)


@pytest.mark.parametrize("rows, cols, threads, mode, shape, policy, ready", [
    (2, 3, 2, 2, (3, 7, 4), Policy(), 1.0),                 # partial tiles, K odd
    (3, 2, 4, 4, (5, 3, 5), Policy(zero_skip="act"), 1.0),  # K < R: input waits; gated columns
    (3, 2, 4, 2, (5, 9, 5), Policy(), 0.6),                 # back-pressure
])
@pytest.mark.parametrize("pipeline", [0, 2])
def test_array_in_amaranth_simulator(rows, cols, threads, mode, shape, policy, ready, pipeline):
    rng = np.random.default_rng(rows * cols)
    m_rows, k, n_cols = shape
    a = np.where(rng.random((m_rows, k)) < 0.4, 0, rng.integers(0, 256, (m_rows, k)))
    w = np.where(rng.random((k, n_cols)) < 0.3, 0, rng.integers(-128, 128, (k, n_cols)))
    rec = _amaranth_run(plan(a, w, rows=rows, cols=cols, threads=threads, mode=mode,
                             policy=policy, pipeline=pipeline), ready_prob=ready)
    assert rec["ok"], rec["checks"]
    assert (rec["stall_cycles"] > 0) == (ready < 1.0)


def test_module_names_encode_a_nonzero_pipeline_depth_and_the_energy_options():
    assert Design.pe(2).name == "nbsmt_pe_t2"
    assert Design.pe(2, pipeline=1).name == "nbsmt_pe_t2_p1"
    assert Design.pe(4, Policy(windows=5), pipeline=2).name == "nbsmt_pe_t4_p2_w5"
    assert Design.pe(4, Policy(windows=5), pipeline=2, isolate_operands=True,
                     gate_clocks=True).name == "nbsmt_pe_t4_p2_iso_cg_w5"
    assert Design.array(8, 8, 4, pipeline=2, gate_clocks=True).name == "nbsmt_array_8x8_t4_p2_cg"
    assert Design.array(8, 8, 4, pipeline=2).name == "nbsmt_array_8x8_t4_p2"


def test_32x32_4t_array_elaborates():
    design = Design.array(32, 32, 4)
    component = design.elaborate()
    assert design.name == "nbsmt_array_32x32_t4"
    fragment = Fragment.get(component, None)
    component._MustUse__used = True   # elaborated here (Fragment.get does not mark the top)
    names = {n for _, n, *_ in fragment.subfragments}
    assert {"pe_0_0", "pe_31_31", "skew_a", "skew_w", "drain", "outbuf", "counters"} <= names
