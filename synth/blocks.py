"""Per-block breakdown: which part of the hierarchy each cell's area belongs to.

Categories follow the PE/array structure (hw/pe.py, hw/array.py): inside a PE the
submodule `reduce` is operand reduction / collision logic, `mult` the partial-product
multipliers with their combining adder, `accum` the accumulator adder and register, and
the PE's own cells its operand/control pass-through registers, `pipe1`/`pipe2` the
pipeline registers of a pipelined PE. Everything in an array outside its PEs (skew,
drain, counters, control) is one category.
"""

from __future__ import annotations

import re

from nbsmt.synth.modules import Hierarchy, clean_name

CATEGORIES = ("multipliers", "reduction", "operand_regs", "accumulator", "pipeline_regs",
              "array_control", "other")
LABELS = {
    "multipliers": "partial-product multipliers (+ combining adder)",
    "reduction": "operand reduction / collision logic",
    "operand_regs": "operand/control pass-through registers (PE)",
    "accumulator": "accumulator adder and register",
    "pipeline_regs": "PE pipeline registers",
    "array_control": "skew / drain / counters / control (array)",
    "other": "other",
}
_PE_CHILD = (("mult", "multipliers"), ("reduce", "reduction"), ("acc", "accumulator"),
             ("pipe", "pipeline_regs"))
_PE_INSTANCE = re.compile(r"^pe(_\d+)+$")


def _pe_child_category(instance: str) -> str:
    name = clean_name(instance).lower()
    for key, category in _PE_CHILD:
        if name.startswith(key):
            return category
    return "other"


def pe_modules(h: Hierarchy, design: str) -> set[str]:
    """Modules that are PEs: the top of a PE design; in an array, the top's `pe_i_j` children."""
    if design == "pe":
        return {h.top}
    found = {kind for kind, inst in h.children(h.top) if _PE_INSTANCE.match(clean_name(inst))}
    if not found:   # unnamed PEs: the most instantiated child type of the top
        tally: dict[str, int] = {}
        for kind, _ in h.children(h.top):
            tally[kind] = tally.get(kind, 0) + 1
        if tally and max(tally.values()) > 1:
            best = max(tally.values())
            found = {k for k, n in tally.items() if n == best}
    return found


def module_shares(h: Hierarchy, design: str) -> dict[str, dict[str, int]]:
    """For each module: {category: instances} -- how many copies count toward which block."""
    pes = pe_modules(h, design)
    shares: dict[str, dict[str, int]] = {}

    def walk(module: str, category: str | None, times: int) -> None:
        if module in pes:
            own = "operand_regs"
        else:
            own = category or "array_control"
        bucket = shares.setdefault(module, {})
        bucket[own] = bucket.get(own, 0) + times
        for kind, inst in h.children(module):
            if module in pes:
                walk(kind, _pe_child_category(inst), times)
            else:
                walk(kind, category, times)

    walk(h.top, None, 1)
    return shares
