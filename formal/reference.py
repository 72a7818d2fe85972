"""The NB-SMT PE arithmetic of SPEC §3-§6, written from the SPEC text for the proofs.

This is the gold side of every PE proof, so it is written to be obviously right, not
small, and shares nothing with `nbsmt.hw.pe` but the `Policy` field values (it reads
`zero_skip`, `windows`, `rounding` and the widths, never the predicates the RTL asks):
- lane activity and the collision count n exactly as SPEC §3 words them;
- Ra(a): the leading one picks the window (SPEC §4), then guard/sticky rounding at the
  window's LSB with saturation to the window's all-ones value;
- Rw(w): exact inside [-2^(r-1), 2^(r-1)), else the rounded, clamped quotient by 2^r;
- per lane one full multiplier of the operands SPEC §6 chooses by n, so no split
  multiplier, shift mux or lane routing of the RTL appears here.
`tests/reference.py` plays the same role for simulation, on Python ints.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nbsmt.core.policy import Policy


def window_lsb(lead: int, policy: Policy) -> int:
    """LSB of the activation window for a leading one at bit `lead` (SPEC §4).

    windows=2: the upper half if any of its bits is set; windows=3: the top, middle or
    bottom window; windows=5: the window starts at the leading one. At widths other
    than 8 the candidates are evenly spaced and the lowest one holding the leading one
    is taken (docs/spec-decisions.md); at A = 8 that is the SPEC's wording.
    """
    A, r = policy.act_bits, policy.act_bits // 2
    step = (A - r) // (policy.windows - 1)
    candidates = range(0, A - r + 1, step)
    return min(o for o in candidates if lead <= o + r - 1)


def contribution_bits(threads: int, policy: Policy) -> int:
    """A signed width that holds any sum of `threads` A x W products (generous)."""
    return policy.act_bits + policy.weight_bits + threads


class ReferencePE(wiring.Component):
    """Combinational SPEC §6 PE-cycle: lanes `a`/`w` (lane t at [t*A, (t+1)*A) and
    [t*W, (t+1)*W), weights two's complement) -> `contribution`, `n`, `lossy`.

    `lossy` counts the active lanes of a reduced cycle (n >= 2) whose reduction changed
    an operand (docs/spec-decisions.md, SPEC §8).
    """

    def __init__(self, *, threads: int, policy: Policy):
        self._threads, self._policy = threads, policy
        super().__init__({
            "a": In(unsigned(threads * policy.act_bits)),
            "w": In(unsigned(threads * policy.weight_bits)),
            "contribution": Out(signed(contribution_bits(threads, policy))),
            "n": Out(range(threads + 1)),
            "lossy": Out(range(threads + 1)),
        })

    def _ra(self, m: Module, a, t: int) -> Signal:
        """Ra(a) as an ordinary integer (the window value shifted back into place)."""
        p = self._policy
        A, r = p.act_bits, p.act_bits // 2
        lead = Signal(range(A), name=f"lead{t}")
        for i in range(A):   # later statements win: the highest set bit
            with m.If(a[i]):
                m.d.comb += lead.eq(i)
        ra = Signal(A, name=f"ra{t}")
        with m.Switch(lead):
            for pos in range(A):
                with m.Case(pos):
                    lsb = window_lsb(pos, p)
                    kept = a[lsb:lsb + r]
                    up = 0
                    if p.rounding == "rne" and lsb > 0:
                        guard = a[lsb - 1]
                        sticky = a[:lsb - 1].any() if lsb > 1 else 0
                        up = guard & (kept[0] | sticky)
                    value = Signal(r + 1, name=f"ra{t}_lead{pos}")
                    m.d.comb += value.eq(kept + up)
                    all_ones = (1 << r) - 1
                    m.d.comb += ra.eq(Mux(value > all_ones, all_ones, value) << lsb)
        return ra

    def _rw(self, m: Module, w, t: int) -> Signal:
        """Rw(w) as an ordinary integer (a multiple of 2^r unless w was exact)."""
        p = self._policy
        W, r = p.weight_bits, p.weight_bits // 2
        low, high = -(1 << (r - 1)), (1 << (r - 1)) - 1
        q = Signal(signed(W - r + 2), name=f"q{t}")
        up = 0
        if p.rounding == "rne":
            guard = w[r - 1]
            sticky = w[:r - 1].any() if r > 1 else 0
            up = guard & (w[r] | sticky)
        m.d.comb += q.eq(w[r:].as_signed() + up)   # floor(w / 2^r), rounded
        clamped = Mux(q > high, high, Mux(q < low, low, q))
        rw = Signal(signed(W + 1), name=f"rw{t}")
        exact = (w >= low) & (w <= high)
        m.d.comb += rw.eq(Mux(exact, w, clamped * (1 << r)))
        return rw

    def elaborate(self, platform):
        m = Module()
        T, p = self._threads, self._policy
        A, W = p.act_bits, p.weight_bits
        a = [self.a[t * A:(t + 1) * A] for t in range(T)]
        w = [self.w[t * W:(t + 1) * W].as_signed() for t in range(T)]

        active = []
        for t in range(T):
            act = Signal(name=f"active{t}")
            if p.zero_skip == "act":
                m.d.comb += act.eq(a[t] != 0)
            else:
                m.d.comb += act.eq((a[t] != 0) & (w[t] != 0))
            active.append(act)
        m.d.comb += self.n.eq(sum(active))

        reduce_a = Signal()   # n >= 2: activations reduced to r bits
        reduce_w = Signal()   # n >= 3 (4T only): weights reduced too
        m.d.comb += [reduce_a.eq(self.n >= 2), reduce_w.eq(self.n >= 3)]

        products, lossy = [], []
        for t in range(T):
            ra, rw = self._ra(m, a[t], t), self._rw(m, w[t], t)
            a_used = Mux(reduce_a, ra, a[t])
            w_used = Mux(reduce_w, rw, w[t])
            product = Signal(signed(A + W + 2), name=f"product{t}")
            m.d.comb += product.eq(Mux(active[t], a_used * w_used, 0))
            products.append(product)
            changed = (ra != a[t]) | (reduce_w & (rw != w[t]))
            lossy.append(active[t] & reduce_a & changed)
        m.d.comb += [self.contribution.eq(sum(products)), self.lossy.eq(sum(lossy))]
        return m
