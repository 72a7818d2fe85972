"""Hardware statistics of the SySMT array, equal to the golden model's for the same GEMM.

- `busy_cycles`: every cycle with work in flight (a K-step accepted, a tile open or
  output rows owed), stalled or not. With an always-ready output and a host that keeps
  up, it equals `nbsmt.sim.cycles.gemm_cycles`.
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

The per-cycle increments (popcount trees over the grid) are registered before they are
added, so the tree and the wide counter adder are two clock stages instead of one long
path (the OS-SA's critical path without it, docs/timing.md). A counter therefore
includes a cycle's PE statistics one advancing cycle later; like every register of the
array these hold while it is stalled (the formal stall property, docs/formal.md). Arrays of pipelined PEs (whose
statistics leave from a register, `stats_delay` = 1) also register per-row partial
sums before the grid-wide sum, one more cycle. The last K-step reaches the far PE
R + C - 2 cycles after it is accepted: the counters are complete at most 2 cycles after
the GEMM's last output row (a host reads them when the array is idle).

Counts wrap at `counter_bits` bits.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


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
        # Pipelined arrays also split the grid-wide sums: per-row partial sums are
        # registered and summed over the rows the next cycle. Like every register of the
        # array, they hold while it is stalled (the stalled cycle is not counted).
        split = self._stats_delay >= 1

        def grid_sum(name, per_pe, top):
            rows = [[per_pe(i, j) for j in range(C)] for i in range(R)]
            if not split:
                return tree_sum([v for row in rows for v in row])
            parts = []
            for i, row in enumerate(rows):
                part = Signal(range(top * C + 1), name=f"{name}_row{i}")
                with m.If(self.advance):
                    m.d.sync += part.eq(tree_sum(row))
                parts.append(part)
            return tree_sum(parts)

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

        with m.If(self.busy):
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
