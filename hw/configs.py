"""Named PE configurations: one place that turns (threads, policy) into a design and a name.

The Verilog command, the lint check, the cocotb benches, the array generator and the
synthesis flow all name a PE the same way, so a file name says exactly what it contains.
"""

from __future__ import annotations

from nbsmt.core.policy import Policy, check_pipeline

from nbsmt.hw.pe import NBSMTPE

#: The PEs `nbsmt verilog --defaults` writes: the OS-SA baseline and the paper's 2T and 4T.
DEFAULT_THREADS = (1, 2, 4)


def _with_policy(base: str, policy: Policy, pipeline: int, isolate: bool = False,
                 gate_clocks: bool = False) -> str:
    """`base`, plus "_p" and the pipeline depth when non-zero, "_iso" with operand
    isolation, "_cg" with held idle registers (clock gating), plus "_" and the policy's
    short name unless it is the default policy."""
    base = f"{base}_p{check_pipeline(pipeline)}" if pipeline else base
    base = f"{base}_iso" if isolate else base
    base = f"{base}_cg" if gate_clocks else base
    return base if policy.is_default else f"{base}_{policy.short_name}"


def pe_name(threads: int, policy: Policy, pipeline: int = 0, isolate: bool = False,
            gate_clocks: bool = False) -> str:
    """Module/file name of a PE: nbsmt_pe_t2, plus the pipeline depth when non-zero,
    "_iso" with operand isolation, "_cg" with clock gating and the policy when not
    default (nbsmt_pe_t2_p1_w5_trunc)."""
    return _with_policy(f"nbsmt_pe_t{threads}", policy, pipeline, isolate, gate_clocks)


def array_name(*, rows: int, cols: int, threads: int, policy: Policy, pipeline: int = 0,
               isolate: bool = False, gate_clocks: bool = False) -> str:
    """Module/file name of an array: nbsmt_array_8x8_t2, plus pipeline depth, isolation,
    clock gating and policy as for `pe_name` (nbsmt_array_8x8_t4_p2)."""
    return _with_policy(f"nbsmt_array_{rows}x{cols}_t{threads}", policy, pipeline, isolate,
                        gate_clocks)


def pe_design(threads: int, policy: Policy | None = None, pipeline: int = 0,
              isolate: bool = False, gate_clocks: bool = False) -> tuple[NBSMTPE, str]:
    """The PE component for a configuration and its module name."""
    policy = Policy() if policy is None else policy
    return (NBSMTPE(threads=threads, policy=policy, pipeline=pipeline, isolate_operands=isolate,
                    gate_clocks=gate_clocks),
            pe_name(threads, policy, pipeline, isolate, gate_clocks))
