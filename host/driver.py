"""Host side of the SySMT array in numpy: tile a GEMM, pack K-steps into input beats,
unpack output rows into C, and hold the RTL's answer against the golden and cycle models.

No simulator or Amaranth here: the cocotb bench (`array_test.py`) only moves the packed
beats (one Python int per cycle), and the CLI, tests and benchmark share this module.

Tiling (`nbsmt.sim.cycles.tile_order`): row-block major; a partial tile is padded with
zero activation rows and zero weight columns, and every beat names its real rows and
columns so the hardware counters leave the padding out. K is mapped onto lanes with
`nbsmt.sim.gemm.lane_operands` (SPEC §7).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbsmt.hw.array_io import ArrayFormat
from nbsmt.sim.cycles import cycle_report, tile_counts, tile_order
from nbsmt.sim.gemm import GemmResult, golden_gemm, lane_operands
from nbsmt.core.policy import Policy, check_pipeline, resolve_run
from nbsmt.host.beats import pack, unpack


@dataclasses.dataclass
class ArrayJob:
    """One GEMM planned for an R x C, T-thread array in mode m."""

    fmt: ArrayFormat
    mode: int
    a: np.ndarray
    w: np.ndarray
    tiles: list[tuple[int, int]]
    k_steps: int
    beats: np.ndarray          # uint8 [tiles * k_steps, input bytes]
    pipeline: int = 0          # the array's PE pipeline depth (only latency depends on it)

    @property
    def output_beats(self) -> int:
        return len(self.tiles) * self.fmt.rows

    def cycle_report(self) -> dict:
        m_rows, k = self.a.shape
        return cycle_report(m_rows, k, self.w.shape[1], rows=self.fmt.rows,
                            cols=self.fmt.cols, mode=self.mode, pipeline=self.pipeline)


def plan(a, w, *, rows: int, cols: int, threads: int, mode: int | None = None,
         policy: Policy | None = None, pipeline: int = 0) -> ArrayJob:
    """Tile A[M,K] @ W[K,N] onto the array and pack every input beat (see module doc).

    `pipeline` (the PEs' depth) changes no beat, only the cycles the job should take.
    """
    threads, mode, policy = resolve_run(threads, mode, policy)
    check_pipeline(pipeline)
    a = np.asarray(a, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    m_rows, n_cols = a.shape[0], w.shape[1]
    fmt = ArrayFormat(rows, cols, threads, policy)
    a_l, w_l = lane_operands(a, w, threads, mode)          # [M,S,T], [S,N,T]
    steps = a_l.shape[1]
    mt, nt = tile_counts(m_rows, n_cols, rows=rows, cols=cols)
    a_pad = np.zeros((mt * rows, steps, threads), dtype=np.int64)
    a_pad[:m_rows] = a_l
    w_pad = np.zeros((steps, nt * cols, threads), dtype=np.int64)
    w_pad[:, :n_cols] = w_l
    tiles = tile_order(m_rows, n_cols, rows=rows, cols=cols)
    r0 = np.array([t[0] for t in tiles])
    c0 = np.array([t[1] for t in tiles])
    # [tile, step, row, lane] and [tile, step, col, lane]
    a_beats = a_pad.reshape(mt, rows, steps, threads).transpose(0, 2, 1, 3)[r0 // rows]
    w_beats = w_pad.reshape(steps, nt, cols, threads).transpose(1, 0, 2, 3)[c0 // cols]
    count = len(tiles) * steps
    last = np.zeros((len(tiles), steps), dtype=np.int64)
    last[:, -1] = 1
    real_rows = np.repeat(np.minimum(rows, m_rows - r0), steps)
    real_cols = np.repeat(np.minimum(cols, n_cols - c0), steps)
    beats = pack(fmt.input_fields(), {
        "a": a_beats.reshape(count, -1), "w": w_beats.reshape(count, -1),
        "last": last.reshape(count, 1), "rows": real_rows, "cols": real_cols}, count)
    return ArrayJob(fmt, mode, a, w, tiles, steps, beats, pipeline)


def assemble(job: ArrayJob, out_beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """C[M,N] from the output beats (bytes [tiles*R, nbytes]), and the beats' last flags."""
    fmt = job.fmt
    if len(out_beats) != job.output_beats:
        raise ValueError(f"expected {job.output_beats} output beats, got {len(out_beats)}")
    f = unpack(fmt.output_fields(), out_beats, {"data": fmt.cols}, signed={"data"})
    m_rows, n_cols = job.a.shape[0], job.w.shape[1]
    data = f["data"].reshape(len(job.tiles), fmt.rows, fmt.cols)
    mt, nt = tile_counts(m_rows, n_cols, rows=fmt.rows, cols=fmt.cols)
    c = np.zeros((mt * fmt.rows, nt * fmt.cols), dtype=np.int64)
    for t, (r0, c0) in enumerate(job.tiles):
        c[r0:r0 + fmt.rows, c0:c0 + fmt.cols] = data[t]
    return c[:m_rows, :n_cols], f["last"].reshape(-1)


def check(job: ArrayJob, rtl: dict, expected: GemmResult | None = None) -> dict:
    """Compare one RTL run with the models; return the stats record (`ok` says if all agree).

    expected: the job's NB-SMT result (output and SPEC §8 statistics) when the caller
    computed it already, e.g. with the emulator while the simulator ran; default: the
    golden model's, computed here.

    rtl: {"out": bytes [beats, n], "cycles", "stall_cycles", "busy_cycles",
          "pe_cycles_by_active": [...], "lossy_reductions", "host_gaps", "extra_output"
          (output beats past the expected ones)} as the bench
    measured them. When the host never paused (host_gaps == 0), busy_cycles must equal
    the measured cycles and those, less the back-pressure stalls, the cycle model.
    """
    golden = expected or golden_gemm(job.a, job.w, threads=job.fmt.threads, mode=job.mode,
                                     policy=job.fmt.policy)
    c, last = assemble(job, np.asarray(rtl["out"], dtype=np.uint8))
    model = job.cycle_report()
    expected_last = np.tile(np.arange(job.fmt.rows) == job.fmt.rows - 1, len(job.tiles))
    counters = {
        "busy_cycles": int(rtl["busy_cycles"]),
        "pe_cycles_by_active": [int(x) for x in rtl["pe_cycles_by_active"]],
        "lossy_reductions": int(rtl["lossy_reductions"]),
    }
    checks = {
        "output_equals_golden": bool(np.array_equal(c, golden.output)),
        "last_flags": bool(np.array_equal(last.astype(bool), expected_last)),
        "pe_cycles_by_active": counters["pe_cycles_by_active"] == golden.stats["pe_cycles_by_active"],
        "lossy_reductions": counters["lossy_reductions"] == golden.stats["macs_reduced_lossy"],
        "no_extra_output": int(rtl.get("extra_output", 0)) == 0,
    }
    if int(rtl.get("host_gaps", 0)) == 0:
        checks["busy_cycles_equal_measured"] = counters["busy_cycles"] == int(rtl["cycles"])
        cycles, stalls = int(rtl["cycles"]), int(rtl["stall_cycles"])
        if stalls == 0:
            checks["cycles_equal_model"] = cycles == model["cycles"]
        else:   # the core runs on while the output buffer has room (hw/outbuf.py)
            checks["cycles_within_model_plus_stalls"] = model["cycles"] <= cycles <= model["cycles"] + stalls
    return {
        "ok": all(checks.values()),
        "checks": checks,
        "array": {"rows": job.fmt.rows, "cols": job.fmt.cols, "threads": job.fmt.threads,
                  "pipeline": job.pipeline},
        "mode": job.mode,
        "cycles": int(rtl["cycles"]),
        "stall_cycles": int(rtl["stall_cycles"]),
        "cycle_model": model,
        "cycles_mode1_model": model["cycles_mode1"],
        "counters": counters,
        "golden": golden.stats,
        # the bench's clock cycles and wall time of this job's streaming loop (speed)
        "bench": {"cycles": int(rtl.get("loop_cycles", 0)),
                  "seconds": float(rtl.get("loop_seconds", 0.0))},
        "output": c,
    }
