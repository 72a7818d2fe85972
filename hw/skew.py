"""Delay lines that skew (or de-skew) groups of a flat bus by different cycle counts.

The SySMT array skews row i's activations by i cycles and column j's weights by j
cycles so that K-step b meets in PE (i, j) in cycle b + i + j; the drain de-skews the
columns of a result row the other way. Both are this triangle of shift registers; a
group with delay 0 is a wire. Registers are in the sync domain, so the array stalls
them with `EnableInserter`.

Held data (`hold`, the clock-gating option): a `valid` bit travels beside the data (one
for every group, or one per group) and a data register loads only when the valid bit
entering it is set, so an idle delay line keeps its last values (the synthesis flow then
gates their clocks). Valid data leave exactly as without it; what leaves with the valid
bit clear is a don't-care.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nbsmt.core.policy import check_int


class Skew(wiring.Component):
    """Group g of `i` (each `width` bits, group g at bits [g*width, (g+1)*width)) leaves `o`
    `delays[g]` cycles later.

    Raises
    ------
    TypeError, ValueError
        If `width` is not a positive integer, a delay is not a non-negative integer or
        `hold` is not one of HOLD.

    `hold`: None (every register loads every cycle), "shared" (input `valid`, one bit
    for all groups) or "per-group" (input `valid`, bit g for group g); module doc.
    """

    HOLD = (None, "shared", "per-group")

    def __init__(self, *, width: int, delays, hold: str | None = None):
        check_int("width", width, 1)
        delays = tuple(delays)
        for d in delays:
            check_int("delay", d, 0)
        if not delays:
            raise ValueError("delays must name at least one group")
        if hold not in self.HOLD:
            raise ValueError(f"hold must be one of {self.HOLD}, not {hold!r}")
        self._width, self._delays, self._hold = width, delays, hold
        valid = {} if hold is None else {"valid": In(1 if hold == "shared" else len(delays))}
        super().__init__({"i": In(width * len(delays)), **valid, "o": Out(width * len(delays))})

    def _valid_chain(self, m: Module, valid, length: int, name: str) -> list:
        """`valid` and its copies 1..length-1 cycles later (each loads every cycle)."""
        chain = [valid]
        for stage in range(1, length):
            late = Signal(name=f"{name}_d{stage}")
            m.d.sync += late.eq(chain[-1])
            chain.append(late)
        return chain

    @property
    def delays(self) -> tuple[int, ...]:
        return self._delays

    def elaborate(self, platform):
        m = Module()
        w = self._width
        outs = []
        if self._hold == "shared":
            shared = self._valid_chain(m, self.valid, max(self._delays), "valid")
        for g, delay in enumerate(self._delays):
            value = self.i[g * w:(g + 1) * w]
            loads = None
            if self._hold == "shared":
                loads = shared
            elif self._hold == "per-group":
                loads = self._valid_chain(m, self.valid[g], delay, f"valid{g}")
            for stage in range(delay):
                reg = Signal(w, name=f"g{g}_d{stage + 1}")
                if loads is None:
                    m.d.sync += reg.eq(value)
                else:
                    with m.If(loads[stage]):
                        m.d.sync += reg.eq(value)
                value = reg
            outs.append(value)
        m.d.comb += self.o.eq(Cat(*outs))
        return m
