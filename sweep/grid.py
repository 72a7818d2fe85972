"""Design points of a sweep: array size x threads x policy (x pipeline depth) (x cell
library), and the OS-SA each one is compared with.

A 1-thread PE never reduces an operand, so windows and rounding cannot change it; the
grid keeps one 1T point per size, pipeline depth and library, with the default policy;
the conventional OS-SA (1T, pipeline 0) on the same library is every point's baseline.
The library (`--pdk`: a name of synth/pdk.py or Liberty paths) prices the timing and
energy metrics; the area metric stays in NAND2 equivalents of the GE library.
"""

from __future__ import annotations

import dataclasses
import itertools

from nbsmt.hw.design import MAX_DIM, Design
from nbsmt.synth.pdk import default_name, short_name
from nbsmt.core.policy import (PIPELINE_DEPTHS, ROUNDING_CHOICES, THREAD_CHOICES, WINDOW_CHOICES,
                          ZERO_SKIP_CHOICES, Policy, check_choice, check_int, check_pipeline,
                          check_threads)

#: Pipeline depths the generator builds (0: single-cycle PE).
PIPELINE_CHOICES = PIPELINE_DEPTHS


@dataclasses.dataclass(frozen=True)
class DesignPoint:
    """One design of a sweep: an R x R array of T-thread PEs under a policy, on a library."""

    size: int
    threads: int
    policy: Policy = Policy()
    pipeline: int = 0
    pdk: str = default_name()

    def __post_init__(self):
        check_int("size", self.size, 1, MAX_DIM)
        check_threads(self.threads)
        check_pipeline(self.pipeline)

    @property
    def name(self) -> str:
        """e.g. 8x8-2t, 8x8-4t-w5_trunc, 8x8-2t-p1 (as `nbsmt synth` names it), with
        @library off the default library (8x8-2t@sky130hd)."""
        if self.pdk == default_name():
            return self.design.label
        return f"{self.design.label}@{short_name(self.pdk)}"

    @property
    def design(self) -> Design:
        """The R x R array this point stands for."""
        return Design.array(self.size, self.size, self.threads, self.policy,
                            pipeline=self.pipeline)

    def baseline(self) -> "DesignPoint":
        """The conventional OS-SA of the same size and library: 1 thread, default policy,
        no pipeline."""
        return DesignPoint(self.size, 1, Policy(), 0, self.pdk)

    @property
    def is_baseline(self) -> bool:
        return self == self.baseline()

    def as_dict(self) -> dict:
        return {"name": self.name, "size": self.size, "threads": self.threads,
                "pipeline": self.pipeline, "pdk": self.pdk, "policy": self.policy.short_name,
                **{f"policy_{k}": v for k, v in self.policy.as_dict().items()}}


def grid(*, sizes, threads, windows=(2,), rounding=("rne",), zero_skip=("both",),
         pipeline=(0,), pdks=(default_name(),)) -> list[DesignPoint]:
    """Every combination, 1T points collapsed to the OS-SA, baselines added, in a stable
    order (library, size, pipeline, threads, policy); ValueError/TypeError names a bad
    value."""
    for t in threads:
        check_threads(t)
    for value, choices, name in ((windows, WINDOW_CHOICES, "windows"),
                                 (rounding, ROUNDING_CHOICES, "rounding"),
                                 (zero_skip, ZERO_SKIP_CHOICES, "zero_skip"),
                                 (pipeline, PIPELINE_CHOICES, "pipeline")):
        for v in value:
            check_choice(name, v, choices)
    points = []
    for pdk, size, depth, t, w, r, z in itertools.product(dict.fromkeys(pdks), sizes, pipeline,
                                                          sorted(set(threads)), windows,
                                                          rounding, zero_skip):
        policy = Policy(windows=w, rounding=r, zero_skip=z) if t > 1 else Policy()
        point = DesignPoint(size, t, policy, depth, pdk)
        points += [point.baseline(), point]
    return list(dict.fromkeys(points))


__all__ = ["DesignPoint", "PIPELINE_CHOICES", "THREAD_CHOICES", "grid"]
