"""The NB-SMT arithmetic policy: every knob of SPEC §2-§5 in one immutable, validated object,
the decisions those knobs make, and the checks every layer uses for integer parameters.

The golden model, the fast emulator, the RTL generator and the reports all take a
`Policy`. They never compare its strings themselves: they ask its predicates
(`lane_active`, `reduces_activations`, `reduces_weights`, `rounds_to_nearest`), so a new
knob value changes this module, not three implementations. `short_name` is the one
spelling of a policy in Verilog module names, build folders and report rows.

This module imports nothing heavier than the standard library: the Amaranth generators
(`nbsmt.hw`) and the numpy models (`nbsmt.sim`) both depend on it, never on each other.
"""

from __future__ import annotations

import dataclasses

ZERO_SKIP_CHOICES = ("both", "act")
WINDOW_CHOICES = (2, 3, 5)
ROUNDING_CHOICES = ("rne", "trunc")
THREAD_CHOICES = (1, 2, 4)
#: PE pipeline depths: 0 (one stage), 1 (register after reduce), 2 (also after mult).
PIPELINE_DEPTHS = (0, 1, 2)

#: Active lanes from which a PE reduces activations to r bits (SPEC §6).
ACT_REDUCTION_LANES = 2
#: Active lanes from which a 4T PE also reduces weights (SPEC §6).
WEIGHT_REDUCTION_LANES = 3


def check_bool(name: str, value) -> bool:
    """Return `value` if it is a bool, else TypeError "NAME must be a bool, not V"."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return value


def check_int(name: str, value, low: int, high: int | None = None) -> int:
    """Return `value` if it is an integer in [low, high] (no upper bound when high is None).

    The one wording for every integer parameter (dimensions, widths, counts):
    TypeError "NAME must be an integer, not V", ValueError "NAME must be between L and H,
    not V" or "NAME must be at least L, not V". `name` may be a CLI flag ("--rows").
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if high is None and value < low:
        raise ValueError(f"{name} must be at least {low}, not {value!r}")
    if high is not None and not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value!r}")
    return value


def check_choice(name: str, value, choices: tuple):
    """Return `value` if it is one of `choices` (booleans never are)."""
    if isinstance(value, bool) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
    return value


def check_threads(threads) -> int:
    """Validate a thread count (lanes per PE) and return it."""
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be an integer, not {threads!r}")
    return check_choice("threads", threads, THREAD_CHOICES)


def check_pipeline(pipeline) -> int:
    """Validate a PE pipeline depth (hw/pe.py) and return it."""
    return check_int("pipeline", pipeline, min(PIPELINE_DEPTHS), max(PIPELINE_DEPTHS))


def check_mode(mode, threads: int) -> int:
    """Validate a runtime mode against the PE's thread count (SPEC §7: m in {1,2,4}, m <= T)."""
    check_choice("mode", mode, THREAD_CHOICES)
    if mode > threads:
        raise ValueError(f"mode must not exceed threads ({threads}), not {mode!r}")
    return mode


def resolve_run(threads, mode, policy: "Policy | None") -> tuple[int, int, "Policy"]:
    """Validated (threads, mode, policy) of a GEMM run: mode defaults to threads and the
    policy to the default one, as every model and the host driver take them."""
    check_threads(threads)
    mode = check_mode(threads if mode is None else mode, threads)
    return threads, mode, Policy() if policy is None else policy


def check_policy(policy) -> "Policy":
    """Return `policy` if it is a Policy (generators take nothing else)."""
    if not isinstance(policy, Policy):
        raise TypeError(f"policy must be a nbsmt.core.policy.Policy, not {policy!r}")
    return policy


@dataclasses.dataclass(frozen=True)
class Policy:
    """Arithmetic knobs shared by the golden model, the emulator and the RTL.

    zero_skip: "both" (lane active iff a != 0 and w != 0) or "act" (iff a != 0, the
        authors' emulator).
    windows: 2, 3 or 5 candidate positions of the r-bit activation window (SPEC §4).
    rounding: "rne" (round half to even, saturating in the window) or "trunc".
    act_bits, weight_bits: operand widths A and W (even, so they split in halves).
    acc_bits: accumulator width; it wraps (two's complement), never saturates.
    """

    zero_skip: str = "both"
    windows: int = 2
    rounding: str = "rne"
    act_bits: int = 8
    weight_bits: int = 8
    acc_bits: int = 32

    def __post_init__(self):
        check_choice("zero_skip", self.zero_skip, ZERO_SKIP_CHOICES)
        check_choice("windows", self.windows, WINDOW_CHOICES)
        check_choice("rounding", self.rounding, ROUNDING_CHOICES)
        check_int("act_bits", self.act_bits, 2, 16)
        check_int("weight_bits", self.weight_bits, 2, 16)
        for name in ("act_bits", "weight_bits"):
            if getattr(self, name) % 2:
                raise ValueError(f"{name} must be even (operands split into halves), "
                                 f"not {getattr(self, name)!r}")
        span = self.act_bits - self.act_reduced_bits
        if span % (self.windows - 1):
            raise ValueError(f"windows={self.windows} needs (act_bits - act_bits/2) divisible "
                             f"by {self.windows - 1}, not act_bits={self.act_bits}")
        check_int("acc_bits", self.acc_bits, self.act_bits + self.weight_bits, 62)

    # -- widths ---------------------------------------------------------------------

    @property
    def act_reduced_bits(self) -> int:
        """r: width an activation is reduced to on a collision (A/2)."""
        return self.act_bits // 2

    @property
    def weight_reduced_bits(self) -> int:
        """Width a weight is reduced to when 3 or 4 lanes collide on a 4T PE (W/2)."""
        return self.weight_bits // 2

    @property
    def window_offsets(self) -> tuple[int, ...]:
        """Candidate LSB positions of the activation window, ascending (e.g. (0, 2, 4))."""
        span = self.act_bits - self.act_reduced_bits
        step = span // (self.windows - 1)
        return tuple(range(0, span + 1, step))

    # -- decisions (SPEC §3-§6) -----------------------------------------------------

    @property
    def zero_weight_idles(self) -> bool:
        """Whether a zero weight alone makes a lane inactive (zero_skip="both")."""
        return self.zero_skip == "both"

    def lane_active(self, act_nonzero, weight_nonzero):
        """A lane's activity from its operands' non-zero flags (SPEC §3).

        Works on anything with `&`: Python/numpy booleans or Amaranth values.
        """
        return act_nonzero & weight_nonzero if self.zero_weight_idles else act_nonzero

    @staticmethod
    def reduces_activations(n_active):
        """Whether `n_active` active lanes reduce activations to r bits (n >= 2)."""
        return n_active >= ACT_REDUCTION_LANES

    @staticmethod
    def reduces_weights(n_active):
        """Whether `n_active` active lanes reduce weights too (n >= 3, 4T PEs only)."""
        return n_active >= WEIGHT_REDUCTION_LANES

    @property
    def rounds_to_nearest(self) -> bool:
        """Round half to even at the kept LSB ("rne"), rather than truncate."""
        return self.rounding == "rne"

    # -- names ----------------------------------------------------------------------

    @property
    def short_name(self) -> str:
        """The canonical short name: "default", or the knobs that differ from the default
        policy joined by "_" (e.g. "w5_trunc", "skipact", "acc17", "a16w6").

        It is a valid Verilog identifier part, so module names, build folders, synthesis
        configurations and report rows all spell a policy this one way.
        """
        d = _DEFAULT_FIELDS
        parts = []
        if self.windows != d["windows"]:
            parts.append(f"w{self.windows}")
        if self.rounding != d["rounding"]:
            parts.append(self.rounding)
        if self.zero_skip != d["zero_skip"]:
            parts.append(f"skip{self.zero_skip}")
        if (self.act_bits, self.weight_bits) != (d["act_bits"], d["weight_bits"]):
            parts.append(f"a{self.act_bits}w{self.weight_bits}")
        if self.acc_bits != d["acc_bits"]:
            parts.append(f"acc{self.acc_bits}")
        return "_".join(parts) or "default"

    @property
    def is_default(self) -> bool:
        return self == Policy()

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def authors(cls, **overrides) -> "Policy":
        """The policy of the authors' public emulator: zero_skip="act", two windows."""
        return cls(**{"zero_skip": "act", "windows": 2, **overrides})


_DEFAULT_FIELDS = {f.name: f.default for f in dataclasses.fields(Policy)}
