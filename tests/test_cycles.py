"""The SySMT cycle model (sim/cycles.py): hand-worked cases and the properties it promises.

The RTL's measured cycles are checked against the same function in tests/test_array.py.
"""

from __future__ import annotations

import pytest

from nbsmt.sim.cycles import cycle_report, gemm_cycles, tile_order


def test_single_tile_single_step_on_one_pe():
    # beat accepted in cycle 0, PE result registered into the output in cycle 1
    assert gemm_cycles(1, 1, 1, rows=1, cols=1, mode=1) == 2


def test_one_tile_is_k_steps_plus_skew_plus_drain():
    # last beat at S-1, row R-1 leaves R-1+C cycles later, cycles counted inclusively
    assert gemm_cycles(8, 100, 8, rows=8, cols=8, mode=1) == 99 + 7 + 8 + 1
    assert gemm_cycles(3, 10, 5, rows=4, cols=6, mode=2) == 5 + 4 + 6 - 1


def test_back_to_back_tiles_cost_k_steps_each_when_k_covers_the_rows():
    one = gemm_cycles(8, 64, 8, rows=8, cols=8, mode=1)
    four = gemm_cycles(16, 64, 16, rows=8, cols=8, mode=1)
    assert four - one == 3 * 64


def test_short_k_waits_for_the_output_rows():
    # S = 2 < R = 8: tiles every R cycles
    r = cycle_report(32, 4, 8, rows=8, cols=8, mode=2)
    assert r["k_steps"] == 2 and r["tile_period"] == 8 and r["input_wait_per_tile"] == 6
    assert r["cycles"] == 3 * 8 + 2 + 8 + 8 - 1


def test_partial_tiles_cost_whole_tiles():
    assert gemm_cycles(9, 20, 3, rows=8, cols=2, mode=1) == gemm_cycles(16, 20, 4, rows=8, cols=2, mode=1)


def test_mode_divides_k_with_ceiling():
    assert cycle_report(4, 7, 4, rows=4, cols=4, mode=4)["k_steps"] == 2
    assert cycle_report(4, 7, 4, rows=4, cols=4, mode=2)["k_steps"] == 4


def test_demo_shape_meets_the_paper_speedups():
    base = gemm_cycles(64, 256, 64, rows=8, cols=8, mode=1)
    assert gemm_cycles(64, 256, 64, rows=8, cols=8, mode=2) / base <= 0.52
    assert gemm_cycles(64, 256, 64, rows=8, cols=8, mode=4) / base <= 0.27


def test_report_is_consistent():
    r = cycle_report(20, 33, 13, rows=4, cols=5, mode=4)
    assert r["cycles"] == gemm_cycles(20, 33, 13, rows=4, cols=5, mode=4)
    assert r["cycles_mode1"] == gemm_cycles(20, 33, 13, rows=4, cols=5, mode=1)
    assert r["tiles"] == 5 * 3 and r["tile_grid"] == [5, 3]
    assert 0 < r["utilization"] <= 1


@pytest.mark.parametrize("pipeline", [1, 2])
def test_pipeline_adds_its_depth_once_per_gemm_not_per_step_or_tile(pipeline):
    for shape in [(8, 100, 8), (32, 4, 24), (9, 20, 3)]:
        for mode in (1, 2, 4):
            base = cycle_report(*shape, rows=8, cols=8, mode=mode)
            deep = cycle_report(*shape, rows=8, cols=8, mode=mode, pipeline=pipeline)
            assert deep["cycles"] == base["cycles"] + pipeline
            assert deep["cycles_mode1"] == base["cycles_mode1"] + pipeline
            assert deep["tile_period"] == base["tile_period"]
    # one PE, one step: accepted in cycle 0, sum P cycles later, out one cycle after that
    assert gemm_cycles(1, 1, 1, rows=1, cols=1, mode=1, pipeline=pipeline) == 2 + pipeline


def test_tile_order_is_row_block_major_and_covers_the_output():
    assert tile_order(5, 5, rows=2, cols=3) == [(0, 0), (0, 3), (2, 0), (2, 3), (4, 0), (4, 3)]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(rows=0, cols=1, mode=1), ValueError, "rows must be at least 1, not 0"),
    (dict(rows=1, cols=2.0, mode=1), TypeError, "cols must be an integer, not 2.0"),
    (dict(rows=1, cols=1, mode=3), ValueError, "mode must be one of 1, 2, 4, not 3"),
    (dict(rows=1, cols=1, mode=True), ValueError, "mode must be one of"),
    (dict(rows=1, cols=1, mode=1, pipeline=3), ValueError, "pipeline must be between 0 and 2, not 3"),
    (dict(rows=1, cols=1, mode=1, pipeline=1.0), TypeError, "pipeline must be an integer, not 1.0"),
])
def test_bad_parameters_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        gemm_cycles(4, 4, 4, **kwargs)
