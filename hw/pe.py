"""The NB-SMT processing element (SPEC §6): T operand lanes sharing one split multiplier.

Blocks, named for the area report's per-block breakdown:

- ``reduce``: lane activity, collision count, Ra/Rw operand reduction and the routing of
  operands to the multiplier units (for 1T only lane activity, which feeds the counters).
- ``mult``: the partial-product multiplier units and the adder that combines them into
  the cycle's contribution.
- ``accum``: the accumulator adder and register.

The operand/control pass-through registers live in the PE itself.

Pipelining (`pipeline`, 0..2) cuts the PE's one long combinational path into stages
without changing what it computes: `pipe1` registers the routed operands between
`reduce` and `mult`, `pipe2` (with `pipe1`) the contribution between `mult` and `accum`.
The en/last control travels with the data through the same registers, so a tile's sum
appears `pipeline` cycles later and nothing else changes: the pass-through registers
(the systolic movement) stay in stage 0. The lane statistics (`n_active`, `lossy`)
leave from `pipe1` when there is one (one cycle later): from stage 0 the reduction
logic and the array's popcount trees made one path, the pipelined arrays' longest.

A 1T PE is the conventional output-stationary MAC. A 2T PE has two r x W units (r = A/2)
that are the halves of one A x W multiplier when at most one lane is active and serve
one reduced lane each when two are. A 4T PE has four r x (W/2) units: the quarters of
A x W (n <= 1), two r x W pairs (n = 2) or one Ra(a) x Rw(w) each (n >= 3).

Every inactive lane has a zero product (a = 0, or w = 0 under zero_skip="both"), so the
routing never gates operands: it only has to give each active lane its units. Units
always take the first active lane p and the last active lane q (p = q when n = 1): that
single selection serves both the exact and the 2-lane case.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nbsmt.core.policy import Policy, check_bool, check_int, check_pipeline, check_policy, check_threads


def check_pe_params(threads, policy) -> None:
    """Raise TypeError/ValueError naming a bad thread count or policy (PE and array)."""
    check_threads(threads)
    check_policy(policy)


def _popcount(bits):
    """Sum of single-bit values as an unsigned value wide enough for the count."""
    total = Const(0, 1)
    for b in bits:
        total = total + b
    return total


def _shifted(m: Module, value, amount: Signal, choices, width: int) -> Signal:
    """`value << amount` for the few amounts `amount` can take: a small mux, no barrel."""
    out = Signal(signed(width))
    *cases, top = sorted(choices)
    with m.Switch(amount):
        for c in cases:
            with m.Case(c):
                m.d.comb += out.eq(value << c)
        with m.Default():   # the largest choice; other values never occur
            m.d.comb += out.eq(value << top)
    return out


class _Lane:
    """Reduction facts of one lane (signals owned by the `reduce` block)."""

    def __init__(self, policy: Policy, t: int, with_weight: bool):
        r, rw = policy.act_reduced_bits, policy.weight_reduced_bits
        self.act = Signal(name=f"act{t}")
        self.win = Signal(r, name=f"win{t}")            # Ra(a) >> lsb
        self.lsb = Signal(range(policy.act_bits), name=f"lsb{t}")
        self.a_lossy = Signal(name=f"a_lossy{t}")       # Ra(a) != a
        if with_weight:
            self.rw = Signal(signed(rw), name=f"rw{t}")  # Rw(w) >> w_shift
            self.w_shift = Signal(name=f"w_shift{t}")    # 1: Rw(w) = rw << (W/2)
            self.w_lossy = Signal(name=f"w_lossy{t}")   # Rw(w) != w


def unit_formats(threads: int, policy: Policy) -> tuple[int, int, int]:
    """(units, unit activation width, unit signed weight width) of a T-thread PE.

    1T: one A x W multiplier; 2T: two r x W units; 4T: four r x (W/2 + 1) units (the +1:
    the low weight half is unsigned).
    """
    A, W = policy.act_bits, policy.weight_bits
    r, rw = policy.act_reduced_bits, policy.weight_reduced_bits
    return {1: (1, A, W), 2: (2, r, W), 4: (4, r, rw + 1)}[threads]


def unit_shift_choices(threads: int, policy: Policy) -> tuple[frozenset, ...]:
    """Per multiplier unit, every left shift its product can need (the mux's cases).

    Exact cases (n <= 1) put the activation's high half at r and the low half at 0; a
    reduced lane sits at its window offset; on a 4T PE the weight's high half adds W/2,
    and n >= 3 adds a reduced weight's W/2 to the window offset.
    """
    r, rw = policy.act_reduced_bits, policy.weight_reduced_bits
    offsets = frozenset(policy.window_offsets)
    if threads == 1:
        return (frozenset({0}),)
    if threads == 2:
        return (offsets | {r}, offsets | {0})
    choices = []
    for u in range(4):
        w_up = rw if u % 2 == 0 else 0            # units 0, 2 take the weight's high half
        near = offsets | ({r} if u < 2 else {0})  # units 0, 1 take the activation's high half
        choices.append(frozenset({o + w_up for o in near} |
                                 {o + s for o in offsets for s in (0, rw)}))
    return tuple(choices)


def _unit_members(threads: int, policy: Policy, direction) -> dict:
    """Signature members of the routed operands between `Reduce` and `Mult`."""
    units, ua, uw = unit_formats(threads, policy)
    shift = range(policy.act_bits + policy.weight_bits)
    return {"unit_a": direction(unsigned(ua)).array(units),
            "unit_w": direction(signed(uw)).array(units),
            "unit_shift": direction(shift).array(units)}


class Reduce(wiring.Component):
    """Lane activity, collision count, Ra/Rw and operand routing to the multiplier units.

    Outputs per unit u: `unit_a[u]` (unsigned), `unit_w[u]` (signed), `unit_shift[u]`
    (the product's left shift, one of `unit_shift_choices`), plus `n` and `lossy`
    (ungated by enable).
    """

    def __init__(self, *, threads: int, policy: Policy):
        check_pe_params(threads, policy)
        self._threads, self._policy = threads, policy
        super().__init__({
            "a": In(threads * policy.act_bits), "w": In(threads * policy.weight_bits),
            "n": Out(range(threads + 1)), "lossy": Out(range(threads + 1)),
            **_unit_members(threads, policy, Out),
        })

    def _lane_a(self, t):
        A = self._policy.act_bits
        return self.a[t * A:(t + 1) * A]

    def _lane_w(self, t):
        W = self._policy.weight_bits
        return self.w[t * W:(t + 1) * W].as_signed()

    def _reduce_activation(self, m: Module, a, lane: _Lane) -> None:
        """Window choice, then one shared r-bit saturating round-up (SPEC §4)."""
        p = self._policy
        r, offsets = p.act_reduced_bits, p.window_offsets
        raw = Signal(r, name=f"{lane.win.name}_raw")
        round_up = Signal(name=f"{lane.win.name}_up")
        # The lowest window that holds the leading one: test from the top window down.
        for k in reversed(range(len(offsets))):
            o = offsets[k]
            cond = a[offsets[k - 1] + r:].any() if k else None   # a >= 2**(lower top)
            body = m.If(cond) if k == len(offsets) - 1 else (m.Elif(cond) if cond is not None else m.Else())
            with body:
                m.d.comb += [raw.eq(a[o:o + r]), lane.lsb.eq(o)]
                if o:
                    m.d.comb += lane.a_lossy.eq(a[:o].any())
                    if p.rounds_to_nearest:
                        sticky = a[:o - 1].any() if o > 1 else 0
                        m.d.comb += round_up.eq(a[o - 1] & (a[o] | sticky))
        inc = Signal(r + 1, name=f"{lane.win.name}_inc")
        m.d.comb += [inc.eq(raw + round_up),
                     lane.win.eq(inc[:r] | inc[r].replicate(r))]  # carry only from all-ones

    def _reduce_weight(self, m: Module, w, lane: _Lane) -> None:
        """Rw(w) as an r-bit signed value and whether it sits W/2 bits up (SPEC §5)."""
        p = self._policy
        rw = p.weight_reduced_bits
        hi = w[rw:].as_signed()
        small = ~(w[rw - 1:].all() ^ w[rw - 1:].any())   # upper bits all equal: fits exactly
        m.d.comb += [lane.w_shift.eq(~small), lane.w_lossy.eq(~small & w[:rw].any())]
        if p.rounds_to_nearest:
            sticky = w[:rw - 1].any() if rw > 1 else 0
            up = w[rw - 1] & (w[rw] | sticky)
            top = (1 << (rw - 1)) - 1
            q = Mux(up & (hi != top), hi + 1, hi)   # clamp: the top value stays
        else:
            q = hi
        m.d.comb += lane.rw.eq(Mux(small, w[:rw].as_signed(), q))

    def elaborate(self, platform):
        m = Module()
        T, p = self._threads, self._policy
        r, rw = p.act_reduced_bits, p.weight_reduced_bits
        a = [self._lane_a(t) for t in range(T)]
        w = [self._lane_w(t) for t in range(T)]
        act = [Signal(name=f"act{t}") for t in range(T)]
        m.d.comb += [act[t].eq(p.lane_active(a[t].any(), w[t].any())) for t in range(T)]
        m.d.comb += self.n.eq(_popcount(act))

        if T == 1:
            m.d.comb += [self.unit_a[0].eq(a[0]), self.unit_w[0].eq(w[0]),
                         self.unit_shift[0].eq(0), self.lossy.eq(0)]
            return m

        lanes = [_Lane(p, t, with_weight=T == 4) for t in range(T)]
        for t, lane in enumerate(lanes):
            m.d.comb += lane.act.eq(act[t])
            self._reduce_activation(m, a[t], lane)
            if T == 4:
                self._reduce_weight(m, w[t], lane)
        multi = Signal()   # activations reduced (n >= 2)
        many = Signal()    # weights reduced too (n >= 3, 4T)
        m.d.comb += multi.eq(p.reduces_activations(self.n))
        if T == 4:
            m.d.comb += many.eq(p.reduces_weights(self.n))
        lossy_lane = [l.act & multi & (l.a_lossy | (many & l.w_lossy if T == 4 else 0))
                      for l in lanes]
        m.d.comb += self.lossy.eq(_popcount(lossy_lane))

        # Per lane, what a unit takes from it when n <= 2: the high/low activation half
        # (exact, n <= 1) or the reduced window (n = 2), and that part's shift.
        hi_part = [Mux(multi, l.win, a[t][r:]) for t, l in enumerate(lanes)]
        lo_part = [Mux(multi, l.win, a[t][:r]) for t, l in enumerate(lanes)]
        hi_shift = [Mux(multi, l.lsb, r) for l in lanes]
        lo_shift = [Mux(multi, l.lsb, 0) for l in lanes]

        def first(values):  # value of the first active lane (the last lane if none is)
            out = values[-1]
            for t in reversed(range(T - 1)):
                out = Mux(act[t], values[t], out)
            return out

        def last(values):  # value of the last active lane (the first lane if none is)
            out = values[0]
            for t in range(1, T):
                out = Mux(act[t], values[t], out)
            return out

        if T == 2:
            # unit 0: high half / window of lane p; unit 1: low half / window of lane q.
            m.d.comb += [
                self.unit_a[0].eq(first(hi_part)), self.unit_w[0].eq(first(w)),
                self.unit_shift[0].eq(first(hi_shift)),
                self.unit_a[1].eq(last(lo_part)), self.unit_w[1].eq(last(w)),
                self.unit_shift[1].eq(last(lo_shift)),
            ]
            return m

        # 4T, n <= 2: units 0,1 = lane p's part x (w_hi, w_lo); units 2,3 = lane q's.
        # n >= 3: unit t = Ra(a_t) x Rw(w_t).
        w_hi = [x[rw:].as_signed() for x in w]
        w_lo = [Cat(x[:rw], 0).as_signed() for x in w]
        parts = [(first, hi_part, w_hi, hi_shift, rw), (first, hi_part, w_lo, hi_shift, 0),
                 (last, lo_part, w_hi, lo_shift, rw), (last, lo_part, w_lo, lo_shift, 0)]
        for u, (pick, part, wv, shift, w_up) in enumerate(parts):
            lane = lanes[u]
            m.d.comb += [
                self.unit_a[u].eq(Mux(many, lane.win, pick(part))),
                self.unit_w[u].eq(Mux(many, lane.rw, pick(wv))),
                self.unit_shift[u].eq(Mux(many, lane.lsb + Mux(lane.w_shift, rw, 0),
                                          pick(shift) + w_up)),
            ]
        return m


class Mult(wiring.Component):
    """The partial-product units and the adder that sums them into the contribution.

    `width` is the contribution's signed width; each unit's shift mux has exactly the
    cases of `unit_shift_choices(threads, policy)`.
    """

    def __init__(self, *, threads: int, policy: Policy, width: int):
        check_pe_params(threads, policy)
        self._shift_choices = unit_shift_choices(threads, policy)
        self._width = check_int("width", width, 2)
        super().__init__({**_unit_members(threads, policy, In),
                          "contribution": Out(signed(width))})

    def elaborate(self, platform):
        m = Module()
        terms = []
        for u, choices in enumerate(self._shift_choices):
            a, w = self.unit_a[u], self.unit_w[u]
            product = Signal(signed(len(a) + len(w) + 1), name=f"product{u}")
            m.d.comb += product.eq(a * w)
            terms.append(_shifted(m, product, self.unit_shift[u], choices, self._width))
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        m.d.comb += self.contribution.eq(total)
        return m


class Accum(wiring.Component):
    """The accumulator adder and register: accumulate, hand off the sum and clear, or hold.

    `sum` is acc + contribution, wrapping at `acc_bits` (the register never saturates).
    """

    def __init__(self, *, acc_bits: int, width: int):
        check_int("acc_bits", acc_bits, 2)
        check_int("width", width, 2)
        super().__init__({
            "contribution": In(signed(width)), "en": In(1), "last": In(1),
            "acc": Out(signed(acc_bits)), "sum": Out(signed(acc_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.sum.eq(self.acc + self.contribution)
        with m.If(self.en):
            m.d.sync += self.acc.eq(Mux(self.last, 0, self.sum))
        return m


class Stage(wiring.Component):
    """One pipeline register of `width` bits (`q` is `d` one clock later).

    With `held` > 0 its low `held` bits load only while `load` is high (the data of an
    idle stage is never used, so they may hold: clock gating); the others load always.
    Its own submodule, so the area breakdown and the timing report can name it.
    """

    def __init__(self, *, width: int, held: int = 0):
        check_int("width", width, 1)
        self._held = check_int("held", held, 0, width)
        super().__init__({"d": In(width), "q": Out(width), **({"load": In(1)} if held else {})})

    def elaborate(self, platform):
        m = Module()
        h = self._held
        if not h:
            m.d.sync += self.q.eq(self.d)
            return m
        with m.If(self.load):
            m.d.sync += self.q[:h].eq(self.d[:h])
        if h < len(self.q):
            m.d.sync += self.q[h:].eq(self.d[h:])
        return m


def _register(m: Module, name: str, sources, sinks, *, held: int = 0, load=None) -> None:
    """Drive each of `sinks` from the matching source through one `Stage` named `name`;
    the first `held` bits load only while `load` is high (`Stage`)."""
    stage = Stage(width=sum(len(s) for s in sources), held=held)
    m.submodules[name] = stage
    m.d.comb += stage.d.eq(Cat(*sources))
    if held:
        m.d.comb += stage.load.eq(load)
    pos = 0
    for sink in sinks:
        m.d.comb += sink.eq(stage.q[pos:pos + len(sink)])
        pos += len(sink)


class NBSMTPE(wiring.Component):
    """One output-stationary NB-SMT PE with `threads` lanes; one K-step per clock.

    Parameters
    ----------
    threads : int
        Lanes per PE, 1, 2 or 4.
    policy : nbsmt.core.policy.Policy
        Operand widths, accumulator width, zero skipping, windows and rounding.
    pipeline : int
        Pipeline registers inside the PE, 0, 1 or 2 (module doc): `acc`, `result` and
        `result_valid` lag the inputs by this many cycles.
    isolate_operands : bool
        Operand isolation (an energy option, off by default): an inactive lane's
        operands reach the reduction logic and the multiplier units as zeros (AND gates
        on the lane's activity), so its changing bits toggle no multiplier logic. An
        inactive lane contributes 0 and stays inactive either way, so results and
        statistics are bit-identical.
    gate_clocks : bool
        Hold idle registers (an energy option, off by default): the pass-through
        operands and `last`, and the pipeline stages' data, load only with a valid
        K-step (`en`); `en_out` loads every cycle. Synthesis for energy turns every
        register enable into a clock gate (`nbsmt.synth.techmap`). Results, `acc`,
        `result_valid` and the statistics are bit-identical; `a_out`/`w_out`/`last_out`
        hold their last valid values while `en_out` is low (don't-cares there), and
        `result` of a pipelined PE differs only while `result_valid` is low.

    Raises
    ------
    TypeError
        If `threads` or `pipeline` is not an integer or `policy` is not a Policy.
    ValueError
        If `threads` is not 1, 2 or 4 or `pipeline` not 0, 1 or 2 (the Policy validates
        its own fields).
    """

    def __init__(self, *, threads: int, policy: Policy, pipeline: int = 0,
                 isolate_operands: bool = False, gate_clocks: bool = False):
        try:
            check_pe_params(threads, policy)
            check_pipeline(pipeline)
            check_bool("isolate_operands", isolate_operands)
            check_bool("gate_clocks", gate_clocks)
        except (TypeError, ValueError):
            self._MustUse__silence = True   # a rejected PE is not an unused design
            raise
        self._threads, self._policy, self._pipeline = threads, policy, pipeline
        self._isolate, self._gate_clocks = isolate_operands, gate_clocks
        T, A, W = threads, policy.act_bits, policy.weight_bits
        acc = signed(policy.acc_bits)
        super().__init__({
            "a_in": In(unsigned(T * A)), "w_in": In(unsigned(T * W)),
            "en_in": In(1), "last_in": In(1),
            "a_out": Out(unsigned(T * A)), "w_out": Out(unsigned(T * W)),
            "en_out": Out(1), "last_out": Out(1),
            "acc": Out(acc), "result": Out(acc), "result_valid": Out(1),
            "n_active": Out(range(T + 1)), "lossy": Out(range(T + 1)),
        })

    @property
    def threads(self) -> int:
        return self._threads

    @property
    def policy(self) -> Policy:
        return self._policy

    @property
    def pipeline(self) -> int:
        return self._pipeline

    @property
    def isolate_operands(self) -> bool:
        return self._isolate

    @property
    def gate_clocks(self) -> bool:
        return self._gate_clocks

    def _isolated(self, m: Module):
        """(a, w) with every inactive lane's operands zeroed (operand isolation)."""
        T, p = self._threads, self._policy
        A, W = p.act_bits, p.weight_bits
        a, w = Signal.like(self.a_in, name="a_isolated"), Signal.like(self.w_in, name="w_isolated")
        for t in range(T):
            lane_a, lane_w = self.a_in[t * A:(t + 1) * A], self.w_in[t * W:(t + 1) * W]
            active = Signal(name=f"isolate_act{t}")
            m.d.comb += [active.eq(p.lane_active(lane_a.any(), lane_w.any())),
                         a[t * A:(t + 1) * A].eq(Mux(active, lane_a, 0)),
                         w[t * W:(t + 1) * W].eq(Mux(active, lane_w, 0))]
        return a, w

    @property
    def contribution_bits(self) -> int:
        """Signed width that holds any per-cycle contribution (A + W + log2 T)."""
        return self._policy.act_bits + self._policy.weight_bits + (self._threads - 1).bit_length()

    def elaborate(self, platform):
        m = Module()
        T, p, width = self._threads, self._policy, self.contribution_bits
        m.submodules.reduce = reduce = Reduce(threads=T, policy=p)
        m.submodules.mult = mult = Mult(threads=T, policy=p, width=width)
        m.submodules.accum = accum = Accum(acc_bits=p.acc_bits, width=width)
        a_in, w_in = self._isolated(m) if self._isolate else (self.a_in, self.w_in)
        m.d.comb += [reduce.a.eq(a_in), reduce.w.eq(w_in)]
        routed = [s for name in ("unit_a", "unit_w", "unit_shift") for s in getattr(reduce, name)]
        mult_in = [s for name in ("unit_a", "unit_w", "unit_shift") for s in getattr(mult, name)]
        en, last = self.en_in, self.last_in
        n, lossy = reduce.n, reduce.lossy

        def stage(name, sources, sinks):
            """A pipeline stage of `sources`, one of them `en`. With gated clocks all but
            `en` hold while idle: they go first, as the `Stage`'s held low bits."""
            if not self._gate_clocks:
                _register(m, name, sources, sinks)
                return
            k = next(i for i, s in enumerate(sources) if s is en)
            held = [*sources[:k], *sources[k + 1:]]
            _register(m, name, [*held, en], [*sinks[:k], *sinks[k + 1:], sinks[k]],
                      held=sum(len(s) for s in held), load=en)

        if self._pipeline >= 1:
            en1, last1 = Signal(name="en_p1"), Signal(name="last_p1")
            n1, lossy1 = Signal.like(n, name="n_p1"), Signal.like(lossy, name="lossy_p1")
            stage("pipe1", [*routed, en, last, n, lossy], [*mult_in, en1, last1, n1, lossy1])
            en, last, n, lossy = en1, last1, n1, lossy1
        else:
            m.d.comb += [dst.eq(src) for src, dst in zip(routed, mult_in)]
        stats_en = en   # the statistics leave with the stage that registered them
        if self._pipeline >= 2:
            en2, last2 = Signal(name="en_p2"), Signal(name="last_p2")
            stage("pipe2", [mult.contribution, en, last], [accum.contribution, en2, last2])
            en, last = en2, last2
        else:
            m.d.comb += accum.contribution.eq(mult.contribution)
        m.d.comb += [
            accum.en.eq(en), accum.last.eq(last),
            self.acc.eq(accum.acc), self.result.eq(accum.sum),
            self.result_valid.eq(en & last),
            self.n_active.eq(Mux(stats_en, n, 0)),
            self.lossy.eq(Mux(stats_en, lossy, 0)),
        ]
        operands = [self.a_out.eq(self.a_in), self.w_out.eq(self.w_in)]
        if self._gate_clocks:
            m.d.sync += self.en_out.eq(self.en_in)
            with m.If(self.en_in):
                m.d.sync += [*operands, self.last_out.eq(self.last_in)]
        else:
            m.d.sync += [*operands, self.en_out.eq(self.en_in), self.last_out.eq(self.last_in)]
        return m
