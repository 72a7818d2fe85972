"""Design points of a sweep: array size x threads x policy (x pipeline depth), and the
OS-SA each one is compared with.

A 1-thread PE never reduces an operand, so windows and rounding cannot change it; the
grid keeps one 1T point per size and pipeline depth, with the default policy; the
conventional OS-SA (1T, pipeline 0) is every point's baseline.
"""

from __future__ import annotations

import dataclasses
import itertools

from nbsmt.hw.design import MAX_DIM, Design
from nbsmt.core.policy import (PIPELINE_DEPTHS, ROUNDING_CHOICES, THREAD_CHOICES, WINDOW_CHOICES,
                          ZERO_SKIP_CHOICES, Policy, check_choice, check_int, check_pipeline,
                          check_threads)

#: Pipeline depths the generator builds (0: single-cycle PE).
PIPELINE_CHOICES = PIPELINE_DEPTHS


@dataclasses.dataclass(frozen=True)
class DesignPoint:
    """One design of a sweep: an R x R array of T-thread PEs under a policy."""

    size: int
    threads: int
    policy: Policy = Policy()
    pipeline: int = 0

    def __post_init__(self):
        check_int("size", self.size, 1, MAX_DIM)
        check_threads(self.threads)
        check_pipeline(self.pipeline)

    @property
    def name(self) -> str:
        """e.g. 8x8-2t, 8x8-4t-w5_trunc, 8x8-2t-p1 (as `nbsmt synth` names it)."""
        return self.design.label

    @property
    def design(self) -> Design:
        """The R x R array this point stands for."""
        return Design.array(self.size, self.size, self.threads, self.policy,
                            pipeline=self.pipeline)

    def baseline(self) -> "DesignPoint":
        """The conventional OS-SA of the same size: 1 thread, default policy, no pipeline."""
        return DesignPoint(self.size, 1, Policy(), 0)

    @property
    def is_baseline(self) -> bool:
        return self == self.baseline()

    def as_dict(self) -> dict:
        return {"name": self.name, "size": self.size, "threads": self.threads,
                "pipeline": self.pipeline, "policy": self.policy.short_name,
                **{f"policy_{k}": v for k, v in self.policy.as_dict().items()}}


def grid(*, sizes, threads, windows=(2,), rounding=("rne",), zero_skip=("both",),
         pipeline=(0,)) -> list[DesignPoint]:
    """Every combination, 1T points collapsed to the OS-SA, baselines added, in a stable
    order (size, pipeline, threads, policy); ValueError/TypeError names a bad value."""
    for t in threads:
        check_threads(t)
    for value, choices, name in ((windows, WINDOW_CHOICES, "windows"),
                                 (rounding, ROUNDING_CHOICES, "rounding"),
                                 (zero_skip, ZERO_SKIP_CHOICES, "zero_skip"),
                                 (pipeline, PIPELINE_CHOICES, "pipeline")):
        for v in value:
            check_choice(name, v, choices)
    points = []
    for size, depth, t, w, r, z in itertools.product(sizes, pipeline, sorted(set(threads)),
                                                     windows, rounding, zero_skip):
        policy = Policy(windows=w, rounding=r, zero_skip=z) if t > 1 else Policy()
        point = DesignPoint(size, t, policy, depth)
        points += [point.baseline(), point]
    return list(dict.fromkeys(points))


__all__ = ["DesignPoint", "PIPELINE_CHOICES", "THREAD_CHOICES", "grid"]
