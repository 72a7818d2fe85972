"""What to synthesize: a PE alone or an R x C array, with a thread count and a policy.

One frozen `Config` names a design everywhere (cache keys, report rows, plot labels),
builds its Amaranth component, and the default set is the one `make synth` reports.
"""

from __future__ import annotations

import dataclasses

from nbsmt.hw.array import COUNTER_BITS, MAX_DIM, array_design
from nbsmt.hw.configs import DEFAULT_THREADS, array_name, pe_design, pe_name
from nbsmt.core.policy import (PIPELINE_DEPTHS, Policy, check_choice, check_int, check_pipeline,
                          check_threads)

DEFAULT_POLICY = Policy()
DEFAULT_ARRAY_SIZES = (4, 8, 16)
#: Array sizes whose pipelined variants and timing the default report includes (with the PE).
DEFAULT_TIMING_SIZES = (8,)


@dataclasses.dataclass(frozen=True)
class Config:
    design: str                 # "pe" or "array"
    threads: int
    policy: Policy = DEFAULT_POLICY
    rows: int = 1
    cols: int = 1
    pipeline: int = 0           # PE pipeline registers (hw/pe.py)

    def __post_init__(self):
        check_choice("design", self.design, ("pe", "array"))
        check_threads(self.threads)
        check_pipeline(self.pipeline)
        check_int("rows", self.rows, 1, MAX_DIM)
        check_int("cols", self.cols, 1, MAX_DIM)
        if self.design == "pe" and (self.rows, self.cols) != (1, 1):
            raise ValueError("a PE config has rows = cols = 1")

    @property
    def name(self) -> str:
        size = "pe" if self.design == "pe" else f"{self.rows}x{self.cols}"
        tag = "" if self.policy.is_default else f"-{self.policy.short_name}"
        depth = f"-p{self.pipeline}" if self.pipeline else ""
        return f"{size}-{self.threads}t{depth}{tag}"

    def baseline(self) -> "Config":
        """The conventional OS-SA of the same size: 1 thread, default policy, no pipeline."""
        return dataclasses.replace(self, threads=1, policy=DEFAULT_POLICY, pipeline=0)

    def same_depth_baseline(self) -> "Config":
        """The 1-thread array of the same size with the same PE pipeline depth."""
        return dataclasses.replace(self, threads=1, policy=DEFAULT_POLICY)

    def design_and_top(self):
        """(Amaranth component, Verilog top name), from the generators' own naming functions."""
        if self.design == "pe":
            return pe_design(self.threads, self.policy, self.pipeline)
        return array_design(rows=self.rows, cols=self.cols, threads=self.threads,
                            policy=self.policy, pipeline=self.pipeline)

    @property
    def verilog_key(self) -> dict:
        """What identifies this design's Verilog (the same key the simulation flow uses)."""
        if self.design == "pe":
            return {"top": pe_name(self.threads, self.policy, self.pipeline), "counter_bits": None}
        top = array_name(rows=self.rows, cols=self.cols, threads=self.threads, policy=self.policy,
                         pipeline=self.pipeline)
        return {"top": top, "counter_bits": COUNTER_BITS}


def policy_variants() -> list[Policy]:
    """One knob changed at a time from the default, so each row prices one knob."""
    d = DEFAULT_POLICY
    return [dataclasses.replace(d, windows=3), dataclasses.replace(d, windows=5),
            dataclasses.replace(d, rounding="trunc"), dataclasses.replace(d, zero_skip="act")]


def default_set(sizes=DEFAULT_ARRAY_SIZES, threads=DEFAULT_THREADS,
                timing_sizes=DEFAULT_TIMING_SIZES) -> list[Config]:
    """The `make synth` report: PEs, arrays of each size, PE policy variants, and every
    pipeline depth of the PE and of the SySMT arrays in `timing_sizes` (the pipelined 1T
    arrays, `--pipeline` reports them, are left out to keep the report's time down)."""
    configs = [Config("pe", t, pipeline=d) for d in PIPELINE_DEPTHS for t in threads]
    for n in sizes:
        depths = PIPELINE_DEPTHS if n in timing_sizes else (0,)
        configs += [Config("array", t, rows=n, cols=n, pipeline=d) for d in depths for t in threads
                    if d == 0 or t > 1]
    configs += [Config("pe", t, policy=p) for p in policy_variants() for t in threads if t > 1]
    return configs


def timing_set(configs, timing_sizes=DEFAULT_TIMING_SIZES) -> list[Config]:
    """The configurations of the default report that are also timed: default policy,
    PEs and arrays of `timing_sizes`."""
    return [c for c in configs if c.policy.is_default
            and (c.design == "pe" or (c.rows == c.cols and c.rows in timing_sizes))]
