"""Named PE configurations: one place that turns (threads, policy) into a design and a name.

The Verilog command, the lint check, the cocotb benches, the array generator and the
synthesis flow all name a PE the same way, so a file name says exactly what it contains.
"""

from __future__ import annotations

from nbsmt.sim.policy import Policy

from .pe import NBSMTPE

#: The PEs `nbsmt verilog --defaults` writes: the OS-SA baseline and the paper's 2T and 4T.
DEFAULT_THREADS = (1, 2, 4)


def policy_suffix(policy: Policy) -> str:
    """Name part for a policy, e.g. _w2_rne_both (widths only when not 8/8/32)."""
    suffix = f"_w{policy.windows}_{policy.rounding}_{policy.zero_skip}"
    if (policy.act_bits, policy.weight_bits) != (8, 8):
        suffix += f"_a{policy.act_bits}x{policy.weight_bits}"
    if policy.acc_bits != 32:
        suffix += f"_acc{policy.acc_bits}"
    return suffix


def pe_name(threads: int, policy: Policy) -> str:
    """Module/file name of a PE, e.g. nbsmt_pe_t2_w2_rne_both."""
    return f"nbsmt_pe_t{threads}{policy_suffix(policy)}"


def array_name(*, rows: int, cols: int, threads: int, policy: Policy) -> str:
    """Module/file name of an array: nbsmt_array_8x8_t2, plus the policy when not default."""
    name = f"nbsmt_array_{rows}x{cols}_t{threads}"
    return name if policy == Policy() else name + policy_suffix(policy)


def pe_design(threads: int, policy: Policy | None = None) -> tuple[NBSMTPE, str]:
    """The PE component for a configuration and its module name."""
    policy = Policy() if policy is None else policy
    return NBSMTPE(threads=threads, policy=policy), pe_name(threads, policy)


def default_pe_designs(policy: Policy | None = None) -> list[tuple[NBSMTPE, str]]:
    """The 1T, 2T and 4T PEs under `policy` (default: the default policy)."""
    return [pe_design(t, policy) for t in DEFAULT_THREADS]
