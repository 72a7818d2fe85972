"""What a sweep runs on each design: one GEMM (the `make sim` demo GEMM or the user's
A.npy/W.npy) or the digits CNN of `nbsmt eval`.

A workload travels to the Dask workers as a small picklable object: GEMM operands are
sent as arrays (so workers on other machines need no shared files); the CNN is named and
each worker process trains it once (deterministic, seeded) and keeps it.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from nbsmt.core.cache import digest
from nbsmt.core.errors import InputError
from nbsmt.core.policy import Policy


@dataclasses.dataclass(frozen=True, eq=False)
class Workload:
    """kind "gemm" (operands a, w) or "digits"; `name` is what reports show."""

    name: str
    kind: str
    a: np.ndarray | None = None
    w: np.ndarray | None = None

    @functools.cached_property
    def digest(self) -> str:
        """Content hash: cache keys of per-design results include it."""
        if self.kind == "digits":
            return digest("digits")
        return digest("gemm", self.a.tobytes(), list(self.a.shape), self.w.tobytes(),
                      list(self.w.shape))

    def gemm_shapes(self) -> dict[str, tuple[int, int, int]]:
        """(M, K, N) of each GEMM the workload runs (one per CNN layer, test split)."""
        if self.kind == "digits":
            return trained_digits().shapes
        return {"gemm": (self.a.shape[0], self.a.shape[1], self.w.shape[1])}


def files(spec: str) -> list[str]:
    """The operand files an `A.npy,W.npy` workload reads (none for demo or digits)."""
    return [] if spec in ("demo", "digits") else [part for part in spec.split(",") if part]


def load(spec: str) -> Workload:
    """`demo`, `digits` or `A.npy,W.npy` (InputError for anything else)."""
    if spec == "demo":
        from nbsmt.host.stimulus import demo_operands
        a, w = demo_operands()
        return Workload("demo GEMM 64x256x64", "gemm", a, w)
    if spec == "digits":
        return Workload("digits CNN (test split)", "digits")
    parts = spec.split(",")
    if len(parts) != 2 or not all(parts):
        raise InputError(f"--workload must be demo, digits or A.npy,W.npy, not {spec!r}")
    from nbsmt.core.operands import load_operands
    a, w = load_operands(parts[0], parts[1], Policy(), flags=("--workload", "--workload"))
    return Workload(f"GEMM {a.shape[0]}x{a.shape[1]}x{w.shape[1]} ({spec})", "gemm", a, w)


@functools.cache
def trained_digits():
    """The `nbsmt eval` network, trained and quantized once per process."""
    from nbsmt.sim.evaluate import prepare
    return prepare(quick=False)
