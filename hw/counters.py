"""Hardware statistics of the SySMT array, equal to the golden model's for the same GEMM.

- `busy_cycles`: every cycle with work in flight (a K-step accepted, a tile open or
  output rows owed), stalled or not, counted one cycle later. With an always-ready
  output and a host that keeps up, it equals `nbsmt.sim.cycles.gemm_cycles`.
- `pe_cycles_by_active[b]`: PE-cycles of real output elements whose PE had b active
  lanes (`golden_gemm(...).stats["pe_cycles_by_active"]`).
- `lossy_reductions`: sum of the PEs' lossy lane reductions (`macs_reduced_lossy`).

Padding of partial tiles is not counted (docs/spec-decisions.md: statistics describe the
GEMM). Padded rows carry zero activations and padded columns zero weights, so they are
never active except that a padded column is active under zero_skip="act"; such arrays
carry a per-PE "real column" flag south with the weights and gate bins 1..T and the lossy
sum with it. Bin 0 is not counted PE by PE: each accepted K-step adds its tile's real
PE count (rows x cols from the beat) and each cycle subtracts the real PEs that were
active, so bin 0 needs neither flags nor a popcount of its own. It is exact whenever the
array is idle; while a K-step crosses the grid it runs ahead by that step's
not-yet-visited PEs.

No statistics path grows with the grid: the grid-wide popcounts are pipelined, partial
sums of GROUP = 8 terms registered level after level (a row of an 8-wide array, then
the rows: 2 levels at 8x8, 3 at 16x16, 4 at 32x32 and 64x64), the last sum is registered
as the increment, and the increment is added to the wide counter. Before, unpipelined
arrays summed the whole grid in one cycle, which was the 16x16 OS-SA's critical path
(docs/timing.md), and pipelined ones one row per register, which grew with the rows. A
counter therefore includes a cycle's PE statistics a few advancing cycles later; like
every register of the array these hold while it is stalled (the formal stall property,
docs/formal.md). Pipelined PEs emit their statistics from a register (`stats_delay` =
1), one cycle more. The counters are complete `settle_cycles(R, C, P)` cycles after the
GEMM's last output row (2 for an 8x8 array, at most SETTLE_CYCLES_MAX for any size; a
host reads them when the array is idle).

Counts wrap at `counter_bits` bits.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nbsmt.hw.design import MAX_DIM


#: Terms a clock stage of the statistics' sums adds (three adder levels).
GROUP = 8


def sum_stages(terms: int) -> int:
    """Registered partial-sum levels of a grid sum over `terms` PEs (`Counters`)."""
    stages = 0
    while terms > GROUP:
        terms, stages = -(-terms // GROUP), stages + 1
    return stages


def settle_cycles(rows: int, cols: int, pipeline: int) -> int:
    """Cycles after a GEMM's last output row until the counters are complete.

    The last K-step reaches the far PE F = L + R + C - 2 cycles after acceptance (L);
    its statistics leave d = min(pipeline, 1) cycles later, cross `sum_stages` partial-sum
    registers and the increment register, and the counter holds them one cycle after
    that: in cycle F + d + stages + 2. The last row leaves in cycle L + C + R - 1 + P.
    `busy_cycles` counts that last cycle through a register: 2 cycles after it.
    """
    return max(2, min(pipeline, 1) + sum_stages(rows * cols) + 1 - pipeline)


def tree_sum(values):
    """Sum of unsigned values as a balanced adder tree (a chain would widen by one bit per
    term and be R*C adders deep)."""
    values = list(values)
    if not values:
        return Const(0, 1)
    while len(values) > 1:
        paired = [values[k] + values[k + 1] for k in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            paired.append(values[-1])
        values = paired
    return values[0]


#: `settle_cycles` of the largest array (benches wait this long for any array: the array
#: is idle by then, so a longer wait changes no count).
SETTLE_CYCLES_MAX = settle_cycles(MAX_DIM, MAX_DIM, 0)


class Counters(wiring.Component):
    """Busy, per-bin PE-cycle and lossy-reduction counters of an R x C, T-lane array.

    `advance` is the array's clock enable: PE statistics count only cycles in which the
    grid moved (a stalled PE would otherwise be counted again). `col_real` (present when
    `gate_columns`) is the per-column real flag of the K-step entering row 0, already
    skewed like the weights; it is delayed `stats_delay` more cycles to meet statistics
    that pipelined PEs emit from a register (hw/pe.py).
    """

    def __init__(self, *, rows: int, cols: int, threads: int, counter_bits: int,
                 gate_columns: bool, stats_delay: int = 0):
        self._rows, self._cols, self._threads = rows, cols, threads
        self._bits, self._gate = counter_bits, gate_columns
        self._stats_delay = stats_delay   # cycles the PEs' statistics lag their K-step
        T, n = threads, rows * cols
        members = {
            "advance": In(1),
            "busy": In(1),
            "real_pes": In(range(n + 1)),
            "n_active": In(range(T + 1)).array(rows, cols),
            "lossy": In(range(T + 1)).array(rows, cols),
            "busy_cycles": Out(unsigned(counter_bits)),
            "pe_cycles_by_active": Out(unsigned(counter_bits)).array(T + 1),
            "lossy_reductions": Out(unsigned(counter_bits)),
        }
        if gate_columns:
            members["col_real"] = In(cols)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        R, C, T = self._rows, self._cols, self._threads
        real = [[Const(1, 1)] * C for _ in range(R)]
        if self._gate:
            # Row i sees the flag i cycles after row 0, like the weights it belongs to.
            for j in range(C):
                flag = self.col_real[j]
                for i in range(R):
                    real[i][j] = flag
                    if i < R - 1:
                        nxt = Signal(name=f"real_{i + 1}_{j}")
                        with m.If(self.advance):
                            m.d.sync += nxt.eq(flag)
                        flag = nxt
            for i in range(R):
                for j in range(C):
                    for d in range(self._stats_delay):
                        late = Signal(name=f"real_{i}_{j}_late{d}")
                        with m.If(self.advance):
                            m.d.sync += late.eq(real[i][j])
                        real[i][j] = late
        # The grid-wide sums are pipelined: partial sums of GROUP terms (row-major, so a
        # group is a row or part of one) are registered, level after level, until at most
        # GROUP remain, so no clock stage sums more than GROUP terms whatever the grid's
        # size. Like every register of the array, they hold while it is stalled (the
        # stalled cycle is not counted).
        def grid_sum(name, per_pe, top):
            terms = [per_pe(i, j) for i in range(R) for j in range(C)]
            for level in range(1, sum_stages(R * C) + 1):   # the levels settle_cycles counts
                parts = []
                for g in range(0, len(terms), GROUP):
                    part = Signal(range(top * GROUP ** level + 1),
                                  name=f"{name}_l{level}_{g // GROUP}")
                    with m.If(self.advance):
                        m.d.sync += part.eq(tree_sum(terms[g:g + GROUP]))
                    parts.append(part)
                terms = parts
            return tree_sum(terms)

        bins = []
        for b in range(1, T + 1):
            hit = Signal(range(R * C + 1), name=f"bin{b}_pes")
            m.d.comb += hit.eq(grid_sum(f"bin{b}", lambda i, j, b=b: (self.n_active[i][j] == b)
                                        & real[i][j], 1))
            bins.append(hit)
        active = Signal(range(R * C + 1))
        m.d.comb += active.eq(tree_sum(bins))
        lossy = Signal(range(R * C * T + 1))
        if T > 1:
            m.d.comb += lossy.eq(grid_sum("lossy", lambda i, j: Mux(real[i][j], self.lossy[i][j], 0), T))

        # `busy` is registered before it enables the increment: it comes from the input
        # handshake behind run's buffer tree, and the 48-bit increment's carry chain after
        # it was the 16x16 OS-SA's critical path at depth 2 (docs/timing.md).
        busy = Signal()
        m.d.sync += busy.eq(self.busy)
        with m.If(busy):
            m.d.sync += self.busy_cycles.eq(self.busy_cycles + 1)
        # An advancing cycle's increments are registered, and added on the next advancing
        # cycle: a stall holds both (every register of the array holds while it is
        # stalled), so a stalled cycle is never counted and nothing is counted twice.
        increments = [(self.pe_cycles_by_active[0], self.real_pes - active),
                      *[(self.pe_cycles_by_active[b], bins[b - 1]) for b in range(1, T + 1)],
                      (self.lossy_reductions, lossy)]
        for k, (counter, value) in enumerate(increments):
            held = Signal(value.shape(), name=f"increment{k}")
            with m.If(self.advance):
                m.d.sync += [held.eq(value), counter.eq(counter + held)]
        return m
