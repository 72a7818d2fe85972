"""The SySMT drain: finished results leave the grid as whole rows, one row per cycle.

PE (i, j) finishes a tile in cycle L + i + j (L: the cycle its last K-step entered the
array) and raises `result_valid` for exactly that cycle. Within a column the rows finish
one per cycle, and the array admits a tile's last K-step at least R cycles after the
previous one, so at most one PE of a column is valid in any cycle: a column needs no
storage, just an AND-OR bus that picks the valid PE. Column j's bus is then delayed
C - j cycles (the `deskew` triangle, C(C+1)/2 registers of ACC bits, independent of T)
so row i of every column reaches the output registers together, in cycle L + C + i.

That is the double buffering: while a tile's rows drain, the PEs already accumulate the
next tile (they clear on their last K-step). The drain never holds more than the rows in
flight, so back-pressure must halt the whole core (the array's `EnableInserter` with the
output buffer's registered `run`, hw/outbuf.py), which also freezes this module.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nbsmt.hw.skew import Skew


class Drain(wiring.Component):
    """Row-wise output of an R x C grid of `acc_bits` results (see module doc)."""

    def __init__(self, *, rows: int, cols: int, acc_bits: int, hold: bool = False):
        """`hold`: the de-skew registers load only with a valid result (`Skew`, "per-group")."""
        self._rows, self._cols, self._acc_bits, self._hold = rows, cols, acc_bits, hold
        super().__init__({
            "result": In(signed(acc_bits)).array(rows, cols),
            "result_valid": In(1).array(rows, cols),
            "data": Out(unsigned(cols * acc_bits)),
            "valid": Out(1),
            "last": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        R, C, acc = self._rows, self._cols, self._acc_bits
        m.submodules.deskew = deskew = Skew(width=acc, delays=[C - j for j in range(C)],
                                            hold="per-group" if self._hold else None)
        buses = []
        for j in range(C):
            picks = [Mux(self.result_valid[i][j], self.result[i][j].as_unsigned(), 0)
                     for i in range(R)]
            bus = Signal(acc, name=f"col{j}")
            m.d.comb += bus.eq(reduce(or_, picks))
            buses.append(bus)
        m.d.comb += [deskew.i.eq(Cat(*buses)), self.data.eq(deskew.o)]
        if self._hold:
            m.d.comb += deskew.valid.eq(Cat(*[reduce(or_, [self.result_valid[i][j] for i in range(R)])
                                              for j in range(C)]))
        # The last column finishes last: its valid flags time the output row.
        m.d.sync += [self.valid.eq(reduce(or_, [self.result_valid[i][C - 1] for i in range(R)])),
                     self.last.eq(self.result_valid[R - 1][C - 1])]
        return m
