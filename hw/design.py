"""`Design`: what one generated design is, in one frozen, validated value.

A PE alone or an R x C SySMT array, with its thread count, arithmetic policy, PE
pipeline depth, energy options and counter width. Every flow builds and passes a
`Design`: the CLI flags, the synthesis configurations, the co-simulation harness, the
energy flow, the proofs and the sweep points. It owns

- `name`: the Verilog module name, also the build folder and cache name of every flow
  (nbsmt_pe_t2, nbsmt_array_8x8_t4_p2_iso_cg_w5);
- `label`: the short row label of the reports (pe-2t-p1, 8x8-4t-p2-w5);
- `key`: what identifies its Verilog, so each design is generated once for every flow;
- `elaborate()` and `verilog()`.

A new generator option is one field here (with its name suffix and its check) and its
generator code in `hw/pe.py` or `hw/array.py`.
"""

from __future__ import annotations

import dataclasses

from nbsmt.core.cache import Cache, verilog_cache
from nbsmt.core.policy import (Policy, check_bool, check_choice, check_int, check_pipeline,
                               check_policy, check_threads)

#: The PEs `nbsmt verilog --defaults` writes: the OS-SA baseline and the paper's 2T and 4T.
DEFAULT_THREADS = (1, 2, 4)

#: Default width of the array's statistics counters (2**48 cycles is days at GHz rates).
COUNTER_BITS = 48

#: Largest rows/cols accepted (a 64 x 64 grid is already 4096 PEs).
MAX_DIM = 64

KINDS = ("pe", "array")


@dataclasses.dataclass(frozen=True)
class Design:
    """One design. Build it with `Design.pe(...)` or `Design.array(...)`; a PE has
    rows = cols = 1 and no counters (`counter_bits` None)."""

    kind: str
    threads: int
    policy: Policy = Policy()
    rows: int = 1
    cols: int = 1
    pipeline: int = 0                 # pipeline registers in every PE (hw/pe.py)
    isolate_operands: bool = False    # an inactive lane's operands reach the units as zeros
    gate_clocks: bool = False         # idle registers hold (clock gating for energy)
    counter_bits: int | None = None   # the array's statistics counters

    def __post_init__(self):
        check_choice("kind", self.kind, KINDS)
        check_threads(self.threads)
        check_policy(self.policy)
        check_pipeline(self.pipeline)
        check_bool("isolate_operands", self.isolate_operands)
        check_bool("gate_clocks", self.gate_clocks)
        if self.kind == "pe":
            if (self.rows, self.cols, self.counter_bits) != (1, 1, None):
                raise ValueError("a PE design has rows = cols = 1 and no counter_bits")
        else:
            check_int("rows", self.rows, 1, MAX_DIM)
            check_int("cols", self.cols, 1, MAX_DIM)
            check_int("counter_bits", self.counter_bits, 8, 64)

    @classmethod
    def pe(cls, threads: int, policy: Policy | None = None, **options) -> "Design":
        """A PE alone; `options`: pipeline, isolate_operands, gate_clocks."""
        return cls("pe", threads, Policy() if policy is None else policy, **options)

    @classmethod
    def array(cls, rows: int, cols: int, threads: int, policy: Policy | None = None, *,
              counter_bits: int = COUNTER_BITS, **options) -> "Design":
        """An R x C array; `options`: pipeline, isolate_operands, gate_clocks."""
        return cls("array", threads, Policy() if policy is None else policy, rows=rows,
                   cols=cols, counter_bits=counter_bits, **options)

    # -- names -------------------------------------------------------------------------

    def _suffixes(self, pipeline: str, isolate: str, gate: str, policy: str) -> str:
        """The option part of a name, in one order for `name` and `label`."""
        out = f"{pipeline}{self.pipeline}" if self.pipeline else ""
        out += isolate if self.isolate_operands else ""
        out += gate if self.gate_clocks else ""
        return out if self.policy.is_default else f"{out}{policy}{self.policy.short_name}"

    @property
    def name(self) -> str:
        """Verilog module name: nbsmt_pe_t2, nbsmt_array_8x8_t2, then "_p" and the pipeline
        depth when non-zero, "_iso", "_cg", and the policy's short name unless default
        (nbsmt_pe_t2_p1_iso_cg_w5_trunc)."""
        base = (f"nbsmt_pe_t{self.threads}" if self.kind == "pe"
                else f"nbsmt_array_{self.rows}x{self.cols}_t{self.threads}")
        return base + self._suffixes("_p", "_iso", "_cg", "_")

    @property
    def size(self) -> str:
        """"pe" or "RxC"."""
        return "pe" if self.kind == "pe" else f"{self.rows}x{self.cols}"

    @property
    def label(self) -> str:
        """Short report label: pe-2t, 8x8-4t-p2, pe-2t-w5_trunc (-iso, -cg when set)."""
        return f"{self.size}-{self.threads}t" + self._suffixes("-p", "-iso", "-cg", "-")

    @property
    def key(self) -> dict:
        """Every field as JSON, and the top module's name (which the cache checks cached
        text against): identifies the design's Verilog in every cache."""
        return {**dataclasses.asdict(self), "policy": self.policy.as_dict(), "top": self.name}

    # -- relatives -----------------------------------------------------------------------

    def replace(self, **changes) -> "Design":
        return dataclasses.replace(self, **changes)

    def as_pe(self) -> "Design":
        """The PE this design is built of, with the same policy and options (itself for a PE)."""
        return self.replace(kind="pe", rows=1, cols=1, counter_bits=None)

    def options(self) -> dict:
        """The generator options beside size, threads and policy, by field name."""
        return {"pipeline": self.pipeline, "isolate_operands": self.isolate_operands,
                "gate_clocks": self.gate_clocks}

    def baseline(self) -> "Design":
        """The conventional OS-SA of the same size and options: 1 thread, default
        policy, no pipeline."""
        return self.replace(threads=1, policy=Policy(), pipeline=0)

    def same_depth_baseline(self) -> "Design":
        """The 1-thread design of the same size, options and PE pipeline depth."""
        return self.replace(threads=1, policy=Policy())

    # -- hardware ------------------------------------------------------------------------

    def elaborate(self):
        """The Amaranth component (`NBSMTPE` or `SySMTArray`)."""
        from nbsmt.hw.array import SySMTArray
        from nbsmt.hw.pe import NBSMTPE

        options = dict(threads=self.threads, policy=self.policy, pipeline=self.pipeline,
                       isolate_operands=self.isolate_operands, gate_clocks=self.gate_clocks)
        if self.kind == "pe":
            return NBSMTPE(**options)
        return SySMTArray(rows=self.rows, cols=self.cols, counter_bits=self.counter_bits,
                          **options)

    def generate(self, cache: Cache | None = None) -> tuple[str, float]:
        """(Verilog text, seconds generating it took: 0.0 when cached). The text is kept
        in `cache` (default: the one Verilog cache every flow shares)."""
        from nbsmt.hw.generate import cached_verilog
        return cached_verilog(self.key, lambda: (self.elaborate(), self.name),
                              verilog_cache() if cache is None else cache)

    def verilog(self, cache: Cache | None = None) -> str:
        """The Verilog text, top module `name` (`generate` without the time)."""
        return self.generate(cache)[0]
