"""The NB-SMT arithmetic policy: every knob of SPEC §2-§5 in one immutable, validated object.

The golden model, the fast emulator and the RTL generator all take a `Policy`, so a
configuration is spelled the same way everywhere and a bad knob fails at construction,
with a message that names the knob, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses

ZERO_SKIP_CHOICES = ("both", "act")
WINDOW_CHOICES = (2, 3, 5)
ROUNDING_CHOICES = ("rne", "trunc")
THREAD_CHOICES = (1, 2, 4)


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value!r}")


def _check_choice(name: str, value, choices: tuple) -> None:
    if isinstance(value, bool) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}, not {value!r}")


def check_threads(threads) -> int:
    """Validate a thread count (lanes per PE) and return it."""
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be an integer, not {threads!r}")
    _check_choice("threads", threads, THREAD_CHOICES)
    return threads


def check_mode(mode, threads: int) -> int:
    """Validate a runtime mode against the PE's thread count (SPEC §7: m in {1,2,4}, m <= T)."""
    _check_choice("mode", mode, THREAD_CHOICES)
    if mode > threads:
        raise ValueError(f"mode must not exceed threads ({threads}), not {mode!r}")
    return mode


def resolve_run(threads, mode, policy: "Policy | None") -> tuple[int, int, "Policy"]:
    """Validated (threads, mode, policy) of a GEMM run: mode defaults to threads and the
    policy to the default one, as every model and the host driver take them."""
    check_threads(threads)
    mode = check_mode(threads if mode is None else mode, threads)
    return threads, mode, Policy() if policy is None else policy


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
        _check_choice("zero_skip", self.zero_skip, ZERO_SKIP_CHOICES)
        _check_choice("windows", self.windows, WINDOW_CHOICES)
        _check_choice("rounding", self.rounding, ROUNDING_CHOICES)
        _check_int("act_bits", self.act_bits, 2, 16)
        _check_int("weight_bits", self.weight_bits, 2, 16)
        for name in ("act_bits", "weight_bits"):
            if getattr(self, name) % 2:
                raise ValueError(f"{name} must be even (operands split into halves), "
                                 f"not {getattr(self, name)!r}")
        span = self.act_bits - self.act_reduced_bits
        if span % (self.windows - 1):
            raise ValueError(f"windows={self.windows} needs (act_bits - act_bits/2) divisible "
                             f"by {self.windows - 1}, not act_bits={self.act_bits}")
        min_acc = self.act_bits + self.weight_bits
        _check_int("acc_bits", self.acc_bits, min_acc, 62)

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

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def authors(cls, **overrides) -> "Policy":
        """The policy of the authors' public emulator: zero_skip="act", two windows."""
        return cls(**{"zero_skip": "act", "windows": 2, **overrides})
