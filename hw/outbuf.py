"""Registered back-pressure: the array's output skid buffer and its `run` enable.

Before, a beat the consumer did not take (`o.valid & ~o.ready`) froze every register of
the array in the same cycle: one combinational enable, from the output handshake
through the admission logic and a buffer tree into every PE, skew, drain and counter
register. At 16x16 it was the critical path (docs/timing.md), and it grows with the grid.

Now the array core (PEs, skews, drain, admission, statistics) moves under `run`, a
register, and the rows it hands out go through this two-row skid buffer:

- `arrive` = the drain offers a row (`row_valid`) in a cycle the core runs; the row
  leaves at once when the buffer is empty and the consumer is ready (bypass: no added
  latency, the cycle model is unchanged), otherwise it is stored;
- `o.valid` = a stored row or an arriving one: a function of registers only, never
  combinational in `o.ready`; a row offered stays offered until taken (AXI-Stream);
- `run` for the next cycle = at most one row held after this cycle: a register whose
  input sees `o.ready` (through this cycle's pop), but `o.ready` reaches no other
  register outside this buffer, nor `i.ready`, in the same cycle.

`run` is set exactly when at most DEPTH - 1 rows are held, and a row arrives only while
`run` is set, so an arrival never finds the buffer full (proven in formal/). With an
always-ready consumer the buffer stays empty, `run` stays set, and the array's timing is
exactly the old one; under back-pressure a GEMM takes at most the old design's cycles
(the cycle model plus the stalled cycles). Why two rows: one would be correct too (the
core would run only while the buffer is empty), but every stall that catches a row
would then also halt the core for the cycle after it; with two, the core runs on
through a one-cycle stall. Cost: 2 x (C x ACC + 1) flip-flops, a 2:1 output mux and
the count (measured in docs/array.md).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: Rows the skid buffer holds (see the module doc for why two suffice).
DEPTH = 2


class OutputBuffer(wiring.Component):
    """Two-row skid buffer between the drain and the output stream; drives `run`.

    Ports: `row`/`row_last`/`row_valid` from the drain (held while `run` is low, as every
    core register is), `ready` from the consumer; `data`/`last`/`valid` to the consumer;
    `run`, the core's enable (a register, set at reset).
    """

    def __init__(self, *, width: int):
        self._width = width
        super().__init__({
            "row": In(width), "row_last": In(1), "row_valid": In(1),
            "ready": In(1),
            "data": Out(width), "last": Out(1), "valid": Out(1),
            "run": Out(1, init=1),
        })

        self.count = Signal(range(DEPTH + 1))   # rows held (read by the formal monitor)

    def elaborate(self, platform):
        m = Module()
        count = self.count
        slots = [Signal(self._width + 1, name=f"slot{k}") for k in range(DEPTH)]  # last, row
        arrive = Signal()
        leave = Signal()
        incoming = Signal(self._width + 1)
        m.d.comb += [
            arrive.eq(self.row_valid & self.run),
            incoming.eq(Cat(self.row, self.row_last)),
            self.valid.eq(arrive | (count != 0)),
            leave.eq(self.valid & self.ready),
        ]
        head = Mux(count != 0, slots[0], incoming)
        m.d.comb += [self.data.eq(head[:self._width]), self.last.eq(head[self._width])]

        # Pop shifts slot 1 into slot 0; an arriving row that does not leave at once goes
        # into the first free slot after the pop.
        kept = count - leave + arrive       # rows held after this cycle
        with m.If(leave & (count == 2)):
            m.d.sync += slots[0].eq(slots[1])
        with m.If(arrive & ~(leave & (count == 0))):
            with m.If(kept == 1):
                m.d.sync += slots[0].eq(incoming)
            with m.Else():
                m.d.sync += slots[1].eq(incoming)
        m.d.sync += [count.eq(kept), self.run.eq(kept <= DEPTH - 1)]
        return m
