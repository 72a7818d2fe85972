"""Delay lines that skew (or de-skew) groups of a flat bus by different cycle counts.

The SySMT array skews row i's activations by i cycles and column j's weights by j
cycles so that K-step b meets in PE (i, j) in cycle b + i + j; the drain de-skews the
columns of a result row the other way. Both are this triangle of shift registers; a
group with delay 0 is a wire. Registers are in the sync domain, so the array stalls
them with `EnableInserter`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nbsmt.policy import check_int


class Skew(wiring.Component):
    """Group g of `i` (each `width` bits, group g at bits [g*width, (g+1)*width)) leaves `o`
    `delays[g]` cycles later.

    Raises
    ------
    TypeError, ValueError
        If `width` is not a positive integer or a delay is not a non-negative integer.
    """

    def __init__(self, *, width: int, delays):
        check_int("width", width, 1)
        delays = tuple(delays)
        for d in delays:
            check_int("delay", d, 0)
        if not delays:
            raise ValueError("delays must name at least one group")
        self._width, self._delays = width, delays
        super().__init__({"i": In(width * len(delays)), "o": Out(width * len(delays))})

    @property
    def delays(self) -> tuple[int, ...]:
        return self._delays

    def elaborate(self, platform):
        m = Module()
        w = self._width
        outs = []
        for g, delay in enumerate(self._delays):
            value = self.i[g * w:(g + 1) * w]
            for stage in range(delay):
                reg = Signal(w, name=f"g{g}_d{stage + 1}")
                m.d.sync += reg.eq(value)
                value = reg
            outs.append(value)
        m.d.comb += self.o.eq(Cat(*outs))
        return m
