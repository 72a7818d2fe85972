"""Named PE configurations: one place that turns (threads, policy) into a design and a name.

The Verilog command, the lint check, the cocotb benches, the array generator and the
synthesis flow all name a PE the same way, so a file name says exactly what it contains.
"""

from __future__ import annotations

from nbsmt.policy import Policy

from nbsmt.hw.pe import NBSMTPE

#: The PEs `nbsmt verilog --defaults` writes: the OS-SA baseline and the paper's 2T and 4T.
DEFAULT_THREADS = (1, 2, 4)


def _with_policy(base: str, policy: Policy) -> str:
    """`base`, plus "_" and the policy's short name unless it is the default policy."""
    return base if policy.is_default else f"{base}_{policy.short_name}"


def pe_name(threads: int, policy: Policy) -> str:
    """Module/file name of a PE: nbsmt_pe_t2, plus the policy when not default
    (nbsmt_pe_t2_w5_trunc)."""
    return _with_policy(f"nbsmt_pe_t{threads}", policy)


def array_name(*, rows: int, cols: int, threads: int, policy: Policy) -> str:
    """Module/file name of an array: nbsmt_array_8x8_t2, plus the policy when not default."""
    return _with_policy(f"nbsmt_array_{rows}x{cols}_t{threads}", policy)


def pe_design(threads: int, policy: Policy | None = None) -> tuple[NBSMTPE, str]:
    """The PE component for a configuration and its module name."""
    policy = Policy() if policy is None else policy
    return NBSMTPE(threads=threads, policy=policy), pe_name(threads, policy)


def default_pe_designs(policy: Policy | None = None) -> list[tuple[NBSMTPE, str]]:
    """The 1T, 2T and 4T PEs under `policy` (default: the default policy)."""
    return [pe_design(t, policy) for t in DEFAULT_THREADS]
