"""Exact cycle model of a GEMM on the SySMT array (hw/array.py), in any runtime mode.

What "cycles" counts: from the clock cycle in which the array accepts the GEMM's first
input beat to the cycle in which it hands out the last output beat, both included, with
a host that presents a beat whenever the array is ready and an always-ready output.
The RTL's `busy_cycles` counter and the cocotb testbench measure exactly this.

The array (R x C PEs) computes one R x C output tile per pass, one K-step per input
beat, S = ceil(K/m) beats per tile in mode m. The timing that yields the formula:

- The PE (i, j) sees beat b in cycle b + i + j (input skew plus one PE hop per cycle);
  it finishes a tile in the cycle its last beat arrives there.
- Results leave row by row, one whole row of C values per output beat. Row i of a
  tile whose last beat was accepted in cycle L is output in cycle L + C + i: column j
  finishes at L + i + j and is delayed C - j cycles to line up with the others.
- A tile's R output rows take R cycles, so the array accepts a tile's last beat only
  R cycles or more after the previous tile's last beat: tiles start every
  P = max(S, R) cycles. When S >= R the input never waits (back-to-back tiles).

With n tiles the last input beat is accepted in cycle (S - 1) + (n - 1) * P and the last
output beat leaves R - 1 + C cycles later, so

    cycles = (n - 1) * max(S, R) + S + R + C - 1,   n = ceil(M/R) * ceil(N/C).

Pipelined PEs (`pipeline` = P registers inside each PE, hw/pe.py) add their sum P
cycles after seeing a K-step; the operands still hop one PE per cycle and the admission
rule is unchanged, so every output row leaves P cycles later and

    cycles = (n - 1) * max(S, R) + S + R + C - 1 + P:

P cycles once per GEMM, not per K-step or per tile.

Tiles are issued row-block major (`tile_order`); every tile takes the same time, so
the order changes which results come out when, never the count.
"""

from __future__ import annotations

from nbsmt.sim.gemm import k_steps
from nbsmt.core.policy import THREAD_CHOICES, check_int, check_mode, check_pipeline


def tile_counts(m_rows: int, n_cols: int, *, rows: int, cols: int) -> tuple[int, int]:
    """(row blocks, column blocks): output tiles along M and along N (partial ones padded)."""
    return -(-m_rows // rows), -(-n_cols // cols)


def tile_order(m_rows: int, n_cols: int, *, rows: int, cols: int) -> list[tuple[int, int]]:
    """Top-left (row, column) of each output tile in issue order: row-block major.

    All N tiles of rows 0..R-1 first, then the next R rows, so a host streaming A
    re-sends each block of activation rows for every column block of W.
    """
    mt, nt = tile_counts(m_rows, n_cols, rows=rows, cols=cols)
    return [(bi * rows, bj * cols) for bi in range(mt) for bj in range(nt)]


def gemm_cycles(m_rows: int, k: int, n_cols: int, *, rows: int, cols: int, mode: int,
                pipeline: int = 0) -> int:
    """Cycles of C[M,N] = A[M,K] @ W[K,N] on an R x C SySMT array in mode m whose PEs
    have `pipeline` registers (see module doc)."""
    return cycle_report(m_rows, k, n_cols, rows=rows, cols=cols, mode=mode,
                        pipeline=pipeline)["cycles"]


def _cycles(tiles: int, steps: int, rows: int, cols: int, pipeline: int) -> int:
    """The module doc's formula: tiles every max(S, R) cycles, then fill, pipeline, drain."""
    return (tiles - 1) * max(steps, rows) + steps + rows + cols - 1 + pipeline


def cycle_report(m_rows: int, k: int, n_cols: int, *, rows: int, cols: int, mode: int,
                 pipeline: int = 0) -> dict:
    """The cycle count with its parts, the mode-1 count and the PE utilization.

    fill_drain: R + C - 1 + P cycles of the first beat reaching the far PE, the PE
    pipeline and the last tile's rows leaving; input_wait: cycles per tile the input
    waits for the output (max(0, R - S)); utilization: real PE-cycles M*N*S over
    R*C*cycles. The mode-1 count is on the same array (same pipeline depth).
    """
    for name, value in (("M", m_rows), ("K", k), ("N", n_cols), ("rows", rows), ("cols", cols)):
        check_int(name, value, 1)
    check_pipeline(pipeline)
    mode = check_mode(mode, max(THREAD_CHOICES))   # any array: the mode alone is checked
    steps = k_steps(k, mode)
    mt, nt = tile_counts(m_rows, n_cols, rows=rows, cols=cols)
    tiles = mt * nt
    period = max(steps, rows)
    cycles = _cycles(tiles, steps, rows, cols, pipeline)
    cycles_mode1 = _cycles(tiles, k, rows, cols, pipeline)
    return {
        "cycles": cycles,
        "cycles_mode1": cycles_mode1,
        "speedup_vs_mode1": cycles_mode1 / cycles,
        "tiles": tiles,
        "tile_grid": [mt, nt],
        "k_steps": steps,
        "tile_period": period,
        "input_wait_per_tile": period - steps,
        "fill_drain": rows + cols - 1 + pipeline,
        "pipeline": pipeline,
        "utilization": (m_rows * n_cols * steps) / (rows * cols * cycles),
    }
