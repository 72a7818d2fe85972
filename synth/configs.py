"""What `make synth` synthesizes: the default set of designs and the ones it also times.

Every entry is a `nbsmt.hw.design.Design`; its `label` names the report rows and
plots, its Verilog comes from the one cache every flow shares.
"""

from __future__ import annotations

import dataclasses

from nbsmt.core.policy import PIPELINE_DEPTHS, Policy
from nbsmt.hw.design import DEFAULT_THREADS, Design

DEFAULT_POLICY = Policy()
DEFAULT_ARRAY_SIZES = (4, 8, 16)
#: Array sizes whose pipelined variants and timing the default report includes (with the PE).
DEFAULT_TIMING_SIZES = (8,)


def policy_variants() -> list[Policy]:
    """One knob changed at a time from the default, so each row prices one knob.

    Every policy field with a choice of values appears here; a new value of a knob
    (nbsmt.core.policy's *_CHOICES) must be added too (docs/architecture.md lists the
    places that enumerate policies)."""
    d = DEFAULT_POLICY
    return [dataclasses.replace(d, windows=3), dataclasses.replace(d, windows=5),
            dataclasses.replace(d, rounding="trunc"), dataclasses.replace(d, zero_skip="act")]


def default_set(sizes=DEFAULT_ARRAY_SIZES, threads=DEFAULT_THREADS,
                timing_sizes=DEFAULT_TIMING_SIZES) -> list[Design]:
    """The `make synth` report: PEs, arrays of each size, PE policy variants, and every
    pipeline depth of the PE and of the arrays in `timing_sizes`, the OS-SA too (the
    like-for-like comparisons put it at each depth)."""
    designs = [Design.pe(t, pipeline=d) for d in PIPELINE_DEPTHS for t in threads]
    for n in sizes:
        depths = PIPELINE_DEPTHS if n in timing_sizes else (0,)
        designs += [Design.array(n, n, t, pipeline=d) for d in depths for t in threads]
    designs += [Design.pe(t, policy=p) for p in policy_variants() for t in threads if t > 1]
    return designs


def timing_set(designs, timing_sizes=DEFAULT_TIMING_SIZES) -> list[Design]:
    """The designs of the default report that are also timed: default policy, PEs and
    arrays of `timing_sizes`."""
    return [d for d in designs if d.policy.is_default
            and (d.kind == "pe" or (d.rows == d.cols and d.rows in timing_sizes))]
