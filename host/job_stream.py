"""The host and the output consumer around one array job, one clock cycle at a time,
for any simulator: the cocotb bench (`array_test.py`) and the Amaranth-simulator test
drive the array through this one loop, so both judge the same protocol the same way.

Per cycle a bench calls `drive()` (what to put on i.valid, i.payload and o.ready), lets
the design settle, then `observe()` (what i.ready and o.valid were, and the payload when
a beat left). A host pause (`valid_prob` < 1) and consumer back-pressure (`ready_prob`
< 1) are drawn from one seeded generator, so a failure reproduces.
"""

from __future__ import annotations

import numpy as np

from nbsmt.host.beats import from_int


class NoProgress(AssertionError):
    """The array stopped taking input or giving output for far too long."""


class JobStream:
    """One job's input beats (port values) in, `output_beats` rows out.

    cycle_limit: cycles after which the job counts as hung (raises NoProgress).
    """

    def __init__(self, beats: list[int], output_beats: int, output_bytes: int, *,
                 cycle_limit: int, valid_prob: float = 1.0, ready_prob: float = 1.0,
                 seed: int = 0):
        self.beats, self.output_beats, self.output_bytes = beats, output_beats, output_bytes
        self.valid_prob, self.ready_prob = float(valid_prob), float(ready_prob)
        self.cycle_limit = cycle_limit
        self._rng = np.random.default_rng(int(seed))
        self.outs: list[int] = []
        self.index = self.cycle = 0
        self.first = self.last = None
        self.stalls = self.gaps = 0
        self._present = self._ready = 0

    @property
    def done(self) -> bool:
        return len(self.outs) >= self.output_beats

    def drive(self) -> tuple[int, int | None, int]:
        """(i.valid, i.payload or None when not valid, o.ready) for this cycle."""
        pending = self.index < len(self.beats)
        present = pending and (self.valid_prob >= 1.0 or self._rng.random() < self.valid_prob)
        self.gaps += pending and not present
        ready = 1 if self.ready_prob >= 1.0 else int(self._rng.random() < self.ready_prob)
        self._present, self._ready = int(present), ready
        return self._present, self.beats[self.index] if present else None, ready

    def observe(self, i_ready: int, o_valid: int, o_payload) -> None:
        """Record the settled handshake; `o_payload()` reads the output beat (called only
        when one is taken)."""
        if self._present and i_ready:
            self.index += 1
            if self.first is None:
                self.first = self.cycle
        if o_valid:
            if self._ready:
                self.outs.append(int(o_payload()))
                self.last = self.cycle
            else:
                self.stalls += 1
        self.cycle += 1
        if self.cycle > self.cycle_limit:
            raise NoProgress(f"no progress: {len(self.outs)}/{self.output_beats} output beats "
                             f"after {self.cycle} cycles")

    def record(self) -> dict:
        """What the bench measured, in the form `nbsmt.host.driver.check` takes (without the
        hardware counters, which the bench reads from the design)."""
        if self.index != len(self.beats):
            raise NoProgress(f"{len(self.beats) - self.index} input beats were never accepted")
        out = np.array([from_int(o, self.output_bytes) for o in self.outs], dtype=np.uint8)
        return {"out": out.reshape(len(self.outs), self.output_bytes),
                "cycles": self.last - self.first + 1, "stall_cycles": self.stalls,
                "host_gaps": self.gaps, "loop_cycles": self.cycle}
