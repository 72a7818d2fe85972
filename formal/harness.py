"""The Amaranth wrappers the solver sees: every property is a 1-bit `ok_*` output, every
reachability goal a `cover_*` output, so the engine (`nbsmt.formal.smt`) needs to know
nothing about PEs or arrays.

- `PEMiter`: the generated PE (a Verilog instance, so a mutated copy can stand in)
  beside `ReferencePE`, for one cycle from any state: result = acc + contribution
  (wrapping at acc_bits), n_active, lossy and result_valid.
- `PEStep`: the PE's registers over a few cycles from any state: accumulate, hand off
  the sum and clear, hold when not enabled, pass operands and control through.
- `PEPipeline`: a pipelined PE against the single-cycle one from reset, latency
  accounted for.
- `ArrayMonitor`: a small SySMT array with free inputs and a free `o.ready`: output rows
  neither lost nor duplicated, held until accepted, counters frozen while stalled.
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Instance, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nbsmt.core.policy import Policy

from nbsmt.formal.reference import ReferencePE

_PE_INPUTS = ("a_in", "w_in", "en_in", "last_in")
_PE_OUTPUTS = ("a_out", "w_out", "en_out", "last_out", "acc", "result", "result_valid",
               "n_active", "lossy")


def _pe_ports(threads: int, policy: Policy) -> dict[str, int]:
    """Port widths of the generated PE (its Verilog is instantiated by name)."""
    T, A, W, n = threads, policy.act_bits, policy.weight_bits, threads.bit_length()
    return {"a_in": T * A, "w_in": T * W, "en_in": 1, "last_in": 1,
            "a_out": T * A, "w_out": T * W, "en_out": 1, "last_out": 1,
            "acc": policy.acc_bits, "result": policy.acc_bits, "result_valid": 1,
            "n_active": n, "lossy": n}


def _pe_instance(m: Module, module_name: str, threads: int, policy: Policy,
                 name: str = "pe") -> dict:
    """Instantiate Verilog module `module_name` (the PE) as submodule `name`; return its
    ports as signals."""
    ports = {port: Signal(width, name=f"{name}_{port}")
             for port, width in _pe_ports(threads, policy).items()}
    m.submodules[name] = Instance(
        module_name, i_clk=ClockSignal(), i_rst=ResetSignal(),
        **{f"i_{p}": ports[p] for p in _PE_INPUTS},
        **{f"o_{p}": ports[p] for p in _PE_OUTPUTS})
    return ports


class PEMiter(wiring.Component):
    """One cycle of the PE against the reference, from any register state.

    Free inputs: the operands, en, last; the accumulator register is free because the
    proof starts from an arbitrary state. `ok` holds iff every output agrees;
    `dut_contribution` (result - acc) and the `ref_*` values are outputs so a
    counterexample can print both sides.
    """

    def __init__(self, *, module_name: str, threads: int, policy: Policy):
        self._module, self._threads, self._policy = module_name, threads, policy
        ports = _pe_ports(threads, policy)
        acc, n = signed(policy.acc_bits), range(threads + 1)
        super().__init__({
            "a_in": In(ports["a_in"]), "w_in": In(ports["w_in"]),
            "en_in": In(1), "last_in": In(1),
            "acc": Out(acc), "dut_contribution": Out(acc),
            "dut_n_active": Out(n), "dut_lossy": Out(n),
            "ref_contribution": Out(acc), "ref_n_active": Out(n), "ref_lossy": Out(n),
            "ref_n": Out(n), "dut_result_valid": Out(1), "ref_result_valid": Out(1),
            "ok": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        T, p = self._threads, self._policy
        pe = _pe_instance(m, self._module, T, p)
        m.submodules.ref = ref = ReferencePE(threads=T, policy=p)
        m.d.comb += [pe[name].eq(getattr(self, name)) for name in _PE_INPUTS]
        m.d.comb += [ref.a.eq(self.a_in), ref.w.eq(self.w_in)]

        en, last = self.en_in, self.last_in
        acc = pe["acc"].as_signed()
        expected = Signal(signed(p.acc_bits))   # acc + contribution, wrapped at acc_bits
        m.d.comb += [
            expected.eq(acc + ref.contribution),
            self.acc.eq(acc),
            self.dut_contribution.eq(pe["result"].as_signed() - acc),
            self.dut_n_active.eq(pe["n_active"]), self.dut_lossy.eq(pe["lossy"]),
            self.ref_contribution.eq(ref.contribution), self.ref_n.eq(ref.n),
            self.ref_n_active.eq(Mux(en, ref.n, 0)), self.ref_lossy.eq(Mux(en, ref.lossy, 0)),
            self.dut_result_valid.eq(pe["result_valid"]), self.ref_result_valid.eq(en & last),
        ]
        m.d.comb += self.ok.eq(
            (pe["result"] == expected.as_unsigned())
            & (pe["n_active"] == self.ref_n_active) & (pe["lossy"] == self.ref_lossy)
            & (self.dut_result_valid == self.ref_result_valid))
        return m


class PEStep(wiring.Component):
    """The PE's registers over consecutive cycles from any state (checked from the second
    state on, once the `prev_*` copies hold the previous cycle).

    `ok_pass`: a_out, w_out, en_out, last_out are last cycle's inputs. `ok_acc`: the
    accumulator took last cycle's `result` (accumulate), 0 (hand-off on `last`) or kept
    its value (not enabled). `result` itself is the combinational proof's subject.
    The covers show each case, and a signed wrap of the accumulator, is reached.
    """

    def __init__(self, *, module_name: str, threads: int, policy: Policy):
        self._module, self._threads, self._policy = module_name, threads, policy
        ports = _pe_ports(threads, policy)
        super().__init__({
            "a_in": In(ports["a_in"]), "w_in": In(ports["w_in"]),
            "en_in": In(1), "last_in": In(1),
            "acc": Out(policy.acc_bits), "result": Out(policy.acc_bits),
            "ok_pass": Out(1), "ok_acc": Out(1),
            "cover_accumulate": Out(1), "cover_hold": Out(1), "cover_handoff": Out(1),
            "cover_wrap": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        T, p = self._threads, self._policy
        pe = _pe_instance(m, self._module, T, p)
        m.d.comb += [pe[name].eq(getattr(self, name)) for name in _PE_INPUTS]
        m.d.comb += [self.acc.eq(pe["acc"]), self.result.eq(pe["result"])]
        prev = {name: Signal.like(pe[name], name=f"prev_{name}")
                for name in (*_PE_INPUTS, "acc", "result")}
        m.d.sync += [prev[name].eq(pe[name]) for name in prev]

        m.d.comb += self.ok_pass.eq(
            (pe["a_out"] == prev["a_in"]) & (pe["w_out"] == prev["w_in"])
            & (pe["en_out"] == prev["en_in"]) & (pe["last_out"] == prev["last_in"]))
        en, last = prev["en_in"], prev["last_in"]
        m.d.comb += self.ok_acc.eq(pe["acc"] == Mux(en, Mux(last, 0, prev["result"]), prev["acc"]))

        sign = p.acc_bits - 1
        step = Signal(p.acc_bits)   # last cycle's contribution, result - acc
        m.d.comb += step.eq(prev["result"] - prev["acc"])
        wrapped = ((prev["acc"][sign] == step[sign])
                   & (prev["result"][sign] != prev["acc"][sign]))
        m.d.comb += [
            self.cover_accumulate.eq(en & ~last & (step != 0) & (prev["acc"] != 0)),
            self.cover_hold.eq(~en & (prev["acc"] != 0) & (prev["result"] != prev["acc"])),
            self.cover_handoff.eq(en & last & (prev["result"] != 0)),
            self.cover_wrap.eq(en & ~last & wrapped),
        ]
        return m


class ArrayMonitor(wiring.Component):
    """A SySMT array with free inputs, free `i.valid` and free `o.ready`, and its monitor.

    The array's core (grid, skews, drain, admission, statistics) moves under `run`, a
    register of its output skid buffer (hw/outbuf.py); a "halt" is a cycle with `run`
    low. Properties, each an `ok_*` output. `ok_step_*` relate a cycle to the one before,
    so they are proven for one transition from any state (for every cycle, unbounded):
    - `ok_step_hold`: after a stall (o.valid and not o.ready) the same beat is offered
      (from every state where `ok_step_room`'s invariant holds, i.e. every reachable one).
    - `ok_step_frozen`: a halted cycle changes no PE-cycle bin nor the lossy count, and
      takes no input.
    - `ok_step_room`: the buffer's invariant (`run` exactly when at most one of its two
      rows is held) is kept by every transition, and where it holds no row arrives at a
      full buffer (with `ok_trace_room`, from reset: never an overflow, unbounded).
    `ok_trace_*` depend on the history and are checked from reset to a bounded depth:
    - `ok_trace_work`: the PE-cycle bins grow by rows x cols of each accepted K-step, once,
      two advancing cycles after the one that accepted it (the array registers the count,
      the counters their increments; the staging registers are the array's own, so this
      one needs the history from reset rather than one step from any state).
    - `ok_trace_framing`: `o.last` marks exactly every R-th accepted row (rows of a tile
      stay together, none repeated or skipped inside a tile).
    - `ok_trace_owed`: a row is offered only while rows are owed (R per accepted tile,
      minus the rows accepted): no row is made up or duplicated.
    - `ok_trace_live`: a row owed leaves within C cycles that are not stalls (the
      documented latency L + C + i), so no row is lost.
    - `ok_trace_room`: the buffer's invariant holds (the base case of `ok_step_room`).
    Covers: `cover_stall` (a stall), `cover_handoff` (a tile's last row accepted after
    the tile stalled, while the next tile's K-steps entered the array meanwhile),
    `cover_slowest_row` (a row owed for C - 1 cycles: the `ok_trace_live` bound is tight).
    Assumed (`assume_beat`): a valid beat's rows/cols fields are 1..R and 1..C.
    Two more step properties need every register or a second state, so they are written
    in SMT-LIB (`nbsmt.formal.proofs.run_array`): a halt holds every register of the
    array outside the buffer, and `o.ready` reaches no register outside the buffer and
    not `i.ready` (registered back-pressure).
    """

    def __init__(self, *, rows: int, cols: int, threads: int, policy: Policy,
                 counter_bits: int = 8, count_bits: int = 10):
        from nbsmt.hw.array import SySMTArray
        self._array = SySMTArray(rows=rows, cols=cols, threads=threads, policy=policy,
                                 counter_bits=counter_bits)
        self._count_bits = count_bits
        fmt = self._array.format
        super().__init__({
            "i_valid": In(1), "i_payload": In(fmt.input_bits), "o_ready": In(1),
            "ok_step_hold": Out(1), "ok_step_frozen": Out(1), "ok_trace_work": Out(1),
            "ok_trace_framing": Out(1), "ok_trace_owed": Out(1), "ok_trace_live": Out(1),
            "ok_step_room": Out(1), "ok_trace_room": Out(1),
            "cover_stall": Out(1), "cover_handoff": Out(1), "cover_slowest_row": Out(1),
            "cover_full": Out(1), "assume_beat": Out(1),
            "i_ready": Out(1), "i_last": Out(1), "o_valid": Out(1), "o_last": Out(1),
            "stall": Out(1), "halt": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.array = arr = self._array
        R, C, bits = arr.rows, arr.cols, self._count_bits
        m.d.comb += [arr.i.valid.eq(self.i_valid), arr.i.payload.eq(self.i_payload),
                     arr.o.ready.eq(self.o_ready)]
        o, beat = arr.o, arr.i.payload
        # The host's contract: a beat names its tile's real rows and columns (1..R, 1..C).
        m.d.comb += self.assume_beat.eq(~self.i_valid | ((beat.rows >= 1) & (beat.rows <= R)
                                                         & (beat.cols >= 1) & (beat.cols <= C)))
        m.d.comb += [self.i_ready.eq(arr.i.ready), self.i_last.eq(beat.last),
                     self.o_valid.eq(o.valid), self.o_last.eq(o.payload.last)]
        stall = Signal()
        o_fire = Signal()
        i_fire = Signal()
        buf = arr.output_buffer
        run = buf.run
        m.d.comb += [stall.eq(o.valid & ~o.ready), o_fire.eq(o.valid & o.ready), self.stall.eq(stall),
                     i_fire.eq(arr.i.valid & arr.i.ready), self.halt.eq(~run)]

        # The skid buffer: `run` exactly when at most one row is held; an arriving row
        # (offered by the drain while the core runs) that does not leave needs a free slot.
        from nbsmt.hw.outbuf import DEPTH
        room = Signal()
        prev_room = Signal()
        m.d.comb += room.eq((buf.count <= DEPTH) & (run == (buf.count <= DEPTH - 1)))
        m.d.sync += prev_room.eq(room)
        overflow = buf.row_valid & run & ~o_fire & (buf.count == DEPTH)
        m.d.comb += [self.ok_trace_room.eq(room),
                     self.ok_step_room.eq((~prev_room | room) & (~room | ~overflow)),
                     self.cover_full.eq(buf.count == DEPTH)]

        tiles_in = Signal(bits)     # tiles whose last K-step was accepted
        rows_out = Signal(bits + 2)  # rows accepted by the consumer
        row_idx = Signal(range(R))  # position of the offered row in its tile
        owed = Signal(signed(bits + 4))
        m.d.comb += owed.eq(tiles_in * R - rows_out)
        with m.If(i_fire & beat.last):
            m.d.sync += tiles_in.eq(tiles_in + 1)
        with m.If(o_fire):
            m.d.sync += [rows_out.eq(rows_out + 1),
                         row_idx.eq(Mux(row_idx == R - 1, 0, row_idx + 1))]

        wait = Signal(range(C + 2))   # non-stalled cycles with rows owed and none leaving
        with m.If(o_fire | (owed == 0)):
            m.d.sync += wait.eq(0)
        with m.Elif(~stall & (wait <= C)):
            m.d.sync += wait.eq(wait + 1)

        payload = o.payload.as_value()
        prev_stall = Signal()
        prev_payload = Signal.like(payload)
        counted = [*arr.pe_cycles_by_active, arr.lossy_reductions]
        prev_counted = [Signal.like(c, name=f"prev_count{k}") for k, c in enumerate(counted)]
        total = sum(arr.pe_cycles_by_active)[:len(arr.pe_cycles_by_active[0])]
        prev_total = Signal.like(arr.pe_cycles_by_active[0])
        # The array registers an accepted K-step's real PE count, the counters register
        # an advancing cycle's increment and add it on the next advancing cycle
        # (hw/array.py, hw/counters.py): the real PEs are added two advancing cycles after
        # the K-step's; a halt holds all of it.
        staged_work = Signal.like(prev_total)
        accepted_work = Signal.like(prev_total)   # the array's registered real PE count
        prev_work = Signal.like(prev_total)
        prev_halt = Signal()
        with m.If(run):
            m.d.sync += [accepted_work.eq(Mux(i_fire, beat.rows * beat.cols, 0)),
                         staged_work.eq(accepted_work)]
        m.d.sync += [prev_stall.eq(stall), prev_halt.eq(~run), prev_payload.eq(payload),
                     prev_total.eq(total), prev_work.eq(Mux(run, staged_work, 0))]
        m.d.sync += [p.eq(c) for p, c in zip(prev_counted, counted)]

        unchanged = 1
        for p, c in zip(prev_counted, counted):
            unchanged = unchanged & (p == c)
        m.d.comb += [
            # (from states where the buffer's invariant holds: every reachable one, by
            # ok_trace_room and ok_step_room; a held count of 3 would not be reachable)
            self.ok_step_hold.eq(~prev_stall | ~prev_room | (o.valid & (payload == prev_payload))),
            self.ok_trace_framing.eq(~o.valid | (o.payload.last == (row_idx == R - 1))),
            self.ok_trace_owed.eq(~o.valid | (owed > 0)),
            self.ok_trace_live.eq(wait < C),
            self.ok_step_frozen.eq((~prev_halt | unchanged) & (run | ~arr.i.ready)),
            self.ok_trace_work.eq(total == (prev_total + prev_work)[:len(prev_total)]),
        ]

        tile_stalled = Signal()   # the tile being handed out has stalled
        tile_overlap = Signal()   # a later tile's K-step was accepted meanwhile
        with m.If(o_fire & o.payload.last):
            m.d.sync += [tile_stalled.eq(0), tile_overlap.eq(0)]
        with m.Else():
            with m.If(stall):
                m.d.sync += tile_stalled.eq(1)
            with m.If(i_fire & (owed > 0)):
                m.d.sync += tile_overlap.eq(1)
        m.d.comb += [self.cover_stall.eq(stall), self.cover_slowest_row.eq(wait == C - 1),
                     self.cover_handoff.eq(o_fire & o.payload.last & tile_stalled & tile_overlap)]
        return m


class PEPipeline(wiring.Component):
    """A pipelined PE (`pipeline` = P) beside the single-cycle PE, same inputs, from reset.

    The single-cycle PE is proven against the reference for every state (`PEMiter`,
    `PEStep`); this harness carries that proof over to the pipelined PE, trace by trace:
    - `ok_trace_sum`: its result, accumulator and result_valid are the single-cycle PE's
      of P cycles before (the en/last control travels with the data);
    - `ok_trace_stats`: n_active and lossy are those of one cycle before (they leave from
      the first pipeline register, hw/pe.py);
    - `ok_trace_pass`: the pass-through outputs are the single-cycle PE's, undelayed.
    Before P cycles have passed, the delayed copies hold their reset value 0, which a
    freshly reset pipelined PE also shows. Covers: a hand-off of a non-zero sum and an
    accumulation while both PEs are busy.
    """

    def __init__(self, *, module_names: tuple[str, str], threads: int, policy: Policy,
                 pipeline: int):
        self._modules, self._threads, self._policy = module_names, threads, policy
        self._pipeline = pipeline
        ports = _pe_ports(threads, policy)
        super().__init__({
            "a_in": In(ports["a_in"]), "w_in": In(ports["w_in"]),
            "en_in": In(1), "last_in": In(1),
            "result": Out(policy.acc_bits), "result_valid": Out(1),
            "ok_trace_sum": Out(1), "ok_trace_stats": Out(1), "ok_trace_pass": Out(1),
            "cover_handoff": Out(1), "cover_accumulate": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        T, p, P = self._threads, self._policy, self._pipeline
        single = _pe_instance(m, self._modules[0], T, p, name="single_cycle")
        piped = _pe_instance(m, self._modules[1], T, p, name="pipelined")
        for pe in (single, piped):
            m.d.comb += [pe[name].eq(getattr(self, name)) for name in _PE_INPUTS]

        def delayed(signal, cycles, name):
            for k in range(cycles):
                stage = Signal.like(signal, name=f"{name}_d{k + 1}")
                m.d.sync += stage.eq(signal)
                signal = stage
            return signal

        late = {name: delayed(single[name], P, name) for name in ("result", "acc", "result_valid")}
        stats = {name: delayed(single[name], min(P, 1), name) for name in ("n_active", "lossy")}
        m.d.comb += [
            self.result.eq(piped["result"]), self.result_valid.eq(piped["result_valid"]),
            self.ok_trace_sum.eq((piped["result"] == late["result"])
                                 & (piped["acc"] == late["acc"])
                                 & (piped["result_valid"] == late["result_valid"])),
            self.ok_trace_stats.eq((piped["n_active"] == stats["n_active"])
                                   & (piped["lossy"] == stats["lossy"])),
            self.ok_trace_pass.eq((piped["a_out"] == single["a_out"])
                                  & (piped["w_out"] == single["w_out"])
                                  & (piped["en_out"] == single["en_out"])
                                  & (piped["last_out"] == single["last_out"])),
            self.cover_handoff.eq(piped["result_valid"] & (piped["result"] != 0)),
            self.cover_accumulate.eq(~piped["result_valid"] & (piped["acc"] != 0)
                                     & (piped["result"] != piped["acc"])),
        ]
        return m
