"""SySMT: an R x C output-stationary grid of T-thread NB-SMT PEs with streaming I/O.

One generator for every thread count: T = 1 is the conventional OS-SA baseline, built
from the same skew, drain and counters, so area and cycle comparisons differ only in
the PEs. Submodules are named for the area breakdown: `pe_{i}_{j}`, `skew_a`, `skew_w`,
`drain`, `outbuf`, `counters`.

Protocol (payload bit layouts in `hw/array_io.py`):

- `i` (valid/ready stream, `amaranth.lib.stream`): one K-step per beat, aligned: the T
  activation lanes of every row, the T weight lanes of every column, `last` on the
  tile's last K-step, and the tile's real `rows`/`cols` (for the counters only).
- `o` (valid/ready stream): finished tiles, one row of C results per beat, rows 0..R-1
  in order, `last` on row R-1. Tiles leave in the order their K-steps came in.

Timing: K-step b of a tile accepted in cycle b reaches PE (i, j) in cycle b + i + j
(`skew_a` delays row i by i cycles, `skew_w` column j by j; the PEs' pass-through
registers move activations and the en/last control east, weights south; the control
enters at PE (0, 0) and goes down column 0 through the PEs' own registers). Row i of a
tile whose last K-step was accepted in cycle L leaves in cycle L + C + i (`drain`). The
array accepts a tile's last K-step no sooner than R cycles after the previous tile's,
so tiles of S >= R K-steps stream back to back and shorter ones wait; the cycle model
in `nbsmt.sim.cycles` is this timing.

Pipelined PEs (`pipeline` = P > 0): a PE adds K-step b to its sum P cycles after it
sees it, so every tile's results, and the drain behind them, come P cycles later: row
i leaves in cycle L + C + i + P. Nothing else moves (the operands' systolic hops, the
admission rule, the counters), so a GEMM takes P cycles more, once.

Back-pressure is registered (hw/outbuf.py): the grid, skews, drain, admission and
statistics move under `run`, a register of the two-row output skid buffer, so the
output handshake reaches none of them combinationally. While `run` is low every one of
those registers holds (`EnableInserter`) and `i.ready` is low; nothing is dropped or
duplicated, the timeline just pauses. With an always-ready output `run` never drops
and the timing above is exact.

Runtime mode: the hardware takes no mode. In mode m < T the host puts zeros on lanes
>= m (`nbsmt.sim.gemm.lane_operands`); zero activations are never active under either
zero_skip policy, so every PE behaves exactly as an m-thread PE and no lane gating or
mode register is needed in the T > 1 arrays.
"""

from __future__ import annotations

from amaranth.hdl import Cat, EnableInserter, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from nbsmt.core.policy import Policy, check_bool, check_int, check_pipeline

from nbsmt.hw.array_io import ArrayFormat
from nbsmt.hw.design import COUNTER_BITS, MAX_DIM
from nbsmt.hw.counters import Counters
from nbsmt.hw.drain import Drain
from nbsmt.hw.outbuf import DEPTH as OUTPUT_ROWS, OutputBuffer
from nbsmt.hw.pe import NBSMTPE, check_pe_params
from nbsmt.hw.skew import Skew



class SySMTArray(wiring.Component):
    """R x C SySMT array of T-thread PEs (see the module doc for protocol and timing).

    Parameters
    ----------
    rows, cols : int
        Grid size R x C, 1..64 each, not necessarily square.
    threads : int
        Lanes per PE, 1, 2 or 4 (1: the OS-SA baseline).
    policy : nbsmt.core.policy.Policy
        Operand/accumulator widths and the NB-SMT arithmetic knobs.
    counter_bits : int
        Width of the statistics counters (default 48).
    pipeline : int
        Pipeline registers in every PE, 0, 1 or 2 (`nbsmt.hw.pe.NBSMTPE`).
    isolate_operands : bool
        Operand isolation in every PE (`nbsmt.hw.pe.NBSMTPE`; bit-identical results).
    gate_clocks : bool
        Idle registers hold (the clock-gating option, off by default): the PEs'
        (`nbsmt.hw.pe.NBSMTPE`), the input skews' (loaded only with an accepted beat) and
        the drain's de-skew registers (only with a finished result), each beside a valid
        bit (`nbsmt.hw.skew.Skew`). Results, counters and timing are bit-identical;
        synthesis for energy turns every register enable into a clock gate.

    Raises
    ------
    TypeError
        If a size or `pipeline` is not an integer or `policy` is not a Policy.
    ValueError
        If a size is out of range, `threads` is not 1, 2 or 4 or `pipeline` not 0..2.
    """

    def __init__(self, *, rows: int, cols: int, threads: int, policy: Policy | None = None,
                 counter_bits: int = COUNTER_BITS, pipeline: int = 0,
                 isolate_operands: bool = False, gate_clocks: bool = False):
        policy = Policy() if policy is None else policy
        try:
            check_int("rows", rows, 1, MAX_DIM)
            check_int("cols", cols, 1, MAX_DIM)
            check_pe_params(threads, policy)
            check_int("counter_bits", counter_bits, 8, 64)
            check_pipeline(pipeline)
            check_bool("isolate_operands", isolate_operands)
            check_bool("gate_clocks", gate_clocks)
        except (TypeError, ValueError):
            self._MustUse__silence = True   # a rejected array is not an unused design
            raise
        self._format = ArrayFormat(rows, cols, threads, policy)
        self._counter_bits = counter_bits
        self._pipeline = pipeline
        self._isolate, self._gate_clocks = isolate_operands, gate_clocks
        self._outbuf = OutputBuffer(width=cols * policy.acc_bits)
        self._outbuf._MustUse__silence = True   # used when the array is; the array warns
        in_layout = data.StructLayout(dict(self._format.input_fields()))
        out_layout = data.StructLayout(dict(self._format.output_fields()))
        super().__init__({
            "i": In(stream.Signature(in_layout)),
            "o": Out(stream.Signature(out_layout)),
            "busy_cycles": Out(unsigned(counter_bits)),
            "pe_cycles_by_active": Out(unsigned(counter_bits)).array(threads + 1),
            "lossy_reductions": Out(unsigned(counter_bits)),
        })

    @property
    def format(self) -> ArrayFormat:
        return self._format

    @property
    def rows(self) -> int:
        return self._format.rows

    @property
    def cols(self) -> int:
        return self._format.cols

    @property
    def threads(self) -> int:
        return self._format.threads

    @property
    def policy(self) -> Policy:
        return self._format.policy

    @property
    def pipeline(self) -> int:
        return self._pipeline

    @property
    def output_buffer(self) -> OutputBuffer:
        """The skid buffer whose `run` register is the core's enable (for monitors)."""
        return self._outbuf

    def elaborate(self, platform):
        m = Module()
        R, C, T, p = self.rows, self.cols, self.threads, self.policy
        A, W = p.act_bits, p.weight_bits
        gate_columns = not p.zero_weight_idles

        # Registered back-pressure (hw/outbuf.py): the core moves under `run`, a register
        # of the output skid buffer, never under a combinational function of `o.ready`.
        m.submodules.outbuf = outbuf = self._outbuf
        run = outbuf.run

        # Admission: a tile's last K-step needs R cycles since the previous one (drain).
        last_ok = Signal()
        if R > 1:
            gap = Signal(range(R))
            m.d.comb += last_ok.eq(gap == 0)
        else:
            m.d.comb += last_ok.eq(1)
        beat = self.i.payload
        m.d.comb += self.i.ready.eq(run & (~beat.last | last_ok))
        fire = Signal()
        m.d.comb += fire.eq(self.i.valid & self.i.ready)
        if R > 1:
            with m.If(run):
                with m.If(fire & beat.last):
                    m.d.sync += gap.eq(R - 1)
                with m.Elif(gap != 0):
                    m.d.sync += gap.eq(gap - 1)

        moving = EnableInserter(run)
        hold = "shared" if self._gate_clocks else None    # idle skews hold (clock gating)
        skew_a = Skew(width=T * A, delays=range(R), hold=hold)
        # When zero weights do not idle a lane (zero_skip="act"), padded columns would
        # count as active: each column's weights carry the column's "real" flag.
        skew_w = Skew(width=T * W + gate_columns, delays=range(C), hold=hold)
        m.submodules.skew_a = moving(skew_a)
        m.submodules.skew_w = moving(skew_w)
        m.d.comb += skew_a.i.eq(beat.a)
        if hold:
            m.d.comb += [skew_a.valid.eq(fire), skew_w.valid.eq(fire)]
        if gate_columns:
            lane_w = [beat.w[j * T * W:(j + 1) * T * W] for j in range(C)]
            m.d.comb += skew_w.i.eq(Cat(*[Cat(lane_w[j], beat.cols > j) for j in range(C)]))
        else:
            m.d.comb += skew_w.i.eq(beat.w)
        wgroup = T * W + gate_columns

        pes = [[NBSMTPE(threads=T, policy=p, pipeline=self._pipeline,
                        isolate_operands=self._isolate, gate_clocks=self._gate_clocks)
                 for _ in range(C)]
               for _ in range(R)]
        for i in range(R):
            for j in range(C):
                pe = pes[i][j]
                if j == 0:
                    m.d.comb += pe.a_in.eq(skew_a.o[i * T * A:(i + 1) * T * A])
                    if i == 0:
                        m.d.comb += [pe.en_in.eq(fire), pe.last_in.eq(beat.last)]
                    else:
                        up = pes[i - 1][0]
                        m.d.comb += [pe.en_in.eq(up.en_out), pe.last_in.eq(up.last_out)]
                else:
                    west = pes[i][j - 1]
                    m.d.comb += [pe.a_in.eq(west.a_out), pe.en_in.eq(west.en_out),
                                 pe.last_in.eq(west.last_out)]
                if i == 0:
                    m.d.comb += pe.w_in.eq(skew_w.o[j * wgroup:j * wgroup + T * W])
                else:
                    m.d.comb += pe.w_in.eq(pes[i - 1][j].w_out)
                m.submodules[f"pe_{i}_{j}"] = moving(pe)

        drain = Drain(rows=R, cols=C, acc_bits=p.acc_bits, hold=self._gate_clocks)
        m.submodules.drain = moving(drain)
        for i in range(R):
            for j in range(C):
                m.d.comb += [drain.result[i][j].eq(pes[i][j].result),
                             drain.result_valid[i][j].eq(pes[i][j].result_valid)]
        m.d.comb += [outbuf.row.eq(drain.data), outbuf.row_last.eq(drain.last),
                     outbuf.row_valid.eq(drain.valid), outbuf.ready.eq(self.o.ready),
                     self.o.valid.eq(outbuf.valid), self.o.payload.data.eq(outbuf.data),
                     self.o.payload.last.eq(outbuf.last)]

        # Work in flight, for busy_cycles: a tile open or output rows still owed.
        tile_open = Signal()
        pending = Signal(range(C + 2 * R + self._pipeline + OUTPUT_ROWS + 1))
        out_fire = self.o.valid & self.o.ready
        with m.If(fire):
            m.d.sync += tile_open.eq(~beat.last)
        m.d.sync += pending.eq(pending + Mux(fire & beat.last, R, 0) - out_fire)

        # An accepted K-step's real PE count, registered: the counters subtract the active
        # PEs from it, and that carry chain after `fire` (behind run's buffer tree) was the
        # 32x32 OS-SA's critical path at depth 2 (docs/timing.md).
        real_pes = Signal(range(R * C + 1))
        with m.If(run):
            m.d.sync += real_pes.eq(Mux(fire, beat.rows * beat.cols, 0))

        m.submodules.counters = counters = Counters(
            rows=R, cols=C, threads=T, counter_bits=self._counter_bits, gate_columns=gate_columns,
            stats_delay=min(self._pipeline, 1))
        m.d.comb += [
            counters.advance.eq(run),
            counters.busy.eq(fire | tile_open | (pending != 0)),
            counters.real_pes.eq(real_pes),
            self.busy_cycles.eq(counters.busy_cycles),
            self.lossy_reductions.eq(counters.lossy_reductions),
        ]
        if gate_columns:
            m.d.comb += counters.col_real.eq(
                Cat(*[skew_w.o[j * wgroup + T * W] for j in range(C)]))
        for i in range(R):
            for j in range(C):
                m.d.comb += [counters.n_active[i][j].eq(pes[i][j].n_active),
                             counters.lossy[i][j].eq(pes[i][j].lossy)]
        for b in range(T + 1):
            m.d.comb += self.pe_cycles_by_active[b].eq(counters.pe_cycles_by_active[b])
        return m
