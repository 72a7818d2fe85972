"""Small bugs injected into a copy of the generated PE Verilog, each one a proof must catch.

A mutant is a regular expression on the Verilog text and its replacement, applied to
the first match only. A mutant whose pattern no longer matches (the generator changed)
raises instead of silently leaving the design correct.
"""

from __future__ import annotations

import dataclasses
import re

from nbsmt.core.policy import Policy


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    description: str
    pattern: str
    replacement: str
    proof: str                # the proof that must fail: "pe" (one cycle), "pe-step" or
                              # "pe-pipeline"
    min_threads: int = 1      # the logic it mutates exists from this thread count on
    needs_rounding: bool = False   # ... and only under rounding="rne"
    pipeline: int = 0         # the PE's pipeline depth it mutates

    def applies(self, threads: int, policy: Policy) -> bool:
        return threads >= self.min_threads and (policy.rounds_to_nearest
                                                or not self.needs_rounding)

    def apply(self, verilog: str) -> str:
        """`verilog` with the bug injected at the first match of the pattern."""
        mutated, count = re.subn(self.pattern, self.replacement, verilog, count=1)
        if count != 1:
            raise ValueError(f"mutant {self.name}: pattern {self.pattern!r} not found in the "
                             "generated Verilog (did the generator change?)")
        return mutated


MUTANTS = {m.name: m for m in (
    Mutant("rounding_tie",
           "lane 0's round-half-to-even condition 'guard and (LSB or sticky)' becomes "
           "'guard and (LSB and sticky)'",
           r"= a\[(\d+)\] \| ", r"= a[\1] & ", "pe",
           min_threads=2, needs_rounding=True),
    # Not "shifted by r - 1": the shift mux maps a value outside its cases to its
    # largest case (r here), so that mutant is equivalent, and the proof says so.
    Mutant("exact_shift",
           "an exact (n = 1) lane's high activation half is not shifted (0 instead of r)",
           r"\? lsb0 : (\d+)'h4;", r"? lsb0 : \1'h0;", "pe", min_threads=2),
    Mutant("no_clear",
           "the hand-off (last) keeps the sum in the accumulator instead of clearing it",
           r"= last \? \d+'d0 : ", "= ", "pe-step"),
    # The pipe2 instance's control input (en, last from pipe1's q) is its only "(q[..])"
    # port; the ports are listed by name, so its place among them varies with the design.
    Mutant("early_control",
           "in a depth-2 pipelined PE, the second pipeline register takes en/last from the "
           "PE's inputs instead of the first register: the control runs one cycle ahead "
           "of its contribution",
           r"(?s)(\bpipe2 \((?:(?!\);).)*?)\(q\[\d+:\d+\]\)", r"\1({last_in, en_in})",
           "pe-pipeline", pipeline=2),
)}


def mutant(name: str) -> Mutant:
    try:
        return MUTANTS[name]
    except KeyError:
        raise ValueError(f"mutant must be one of {', '.join(MUTANTS)}, not {name!r}") from None
