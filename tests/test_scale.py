"""`make scale`'s report (synth/scale.py) on hand-built timing records: where a critical
path belongs, the ratios against the reference size and the same-size OS-SA."""

from __future__ import annotations

import pytest

from nbsmt.hw.design import Design
from nbsmt.synth.scale import designs, markdown, path_kind, rows_of
from nbsmt.sim.cycles import gemm_cycles
from nbsmt.synth.timing_report import DEMO_GEMM, cycle_speedup


@pytest.mark.parametrize("blocks, kind", [
    (["pipeline", "mult", "pipeline"], "PE"),
    (["skew", "mult", "fanout-tree", "accum", "drain"], "PE > drain"),
    (["accum", "drain"], "PE > drain"),
    (["drain", "control", "fanout-tree", "control", "pass-through", "counters"], "control"),
    (["output-buffer", "fanout-tree", "control", "counters"], "output-buffer"),
    (["counters"], "counters"),
    (["mult", "fanout-tree"], "PE"),
])
def test_a_path_belongs_to_the_pe_only_if_it_stays_in_the_pe_datapath(blocks, kind):
    assert path_kind(blocks) == kind


def _timing(ns: float, area: float, blocks=("accum", "drain")) -> dict:
    return {"critical_path_ns": ns, "fmax_mhz": 1000 / ns, "blocks": list(blocks),
            "startpoint": "a", "endpoint": "b", "cells_on_path": 1, "path": [],
            "area_um2": area, "cell_count": 1, "fanout_buffers": 0, "library": "lib",
            "map_seconds": 1.0, "sta_seconds": 2.0, "cached": False}


def test_ratios_are_against_the_reference_size_and_the_same_size_os_sa():
    timings = {Design.array(8, 8, 1): _timing(5.0, 100.0), Design.array(8, 8, 2): _timing(6.0, 140.0),
               Design.array(16, 16, 1): _timing(5.1, 400.0),
               Design.array(16, 16, 2): _timing(6.6, 560.0, ("control", "counters"))}
    records = {(r["size"], r["threads"]): r for r in rows_of(timings, 8)}
    big = records[(16, 2)]
    assert big["vs_reference"] == pytest.approx(6.6 / 6.0)
    assert big["area_ratio"] == pytest.approx(560.0 / 400.0)
    # rounded to 3 decimals, as the timing report's like-for-like table is
    assert big["time_speedup"] == round(cycle_speedup(16, 16, 2, 0) * 5.1 / 6.6, 3)
    assert big["path_kind"] == "control" and records[(16, 1)]["path_kind"] == "PE > drain"
    text = markdown(list(records.values()), library="lib", reference_size=8, wall_s=3.0,
                    command="python -m nbsmt.synth.scale")
    # 16x16 1T is within 5 % of 8x8 on a PE path; 16x16 2T is 10 % slower, on control
    assert "1 of 2 within 5% of it; 1 of 2 on a PE path" in text


def test_a_pipelined_design_is_compared_with_the_os_sa_at_the_same_depth():
    """The OS-SA pipelined alike, its own extra cycles counted (not the depth-0 OS-SA's)."""
    timings = {Design.array(16, 16, 1, pipeline=2): _timing(4.0, 500.0),
               Design.array(16, 16, 2, pipeline=2): _timing(4.2, 700.0)}
    (rec,) = [r for r in rows_of(timings, 16) if r["threads"] == 2]
    m, k, n = DEMO_GEMM
    base = gemm_cycles(m, k, n, rows=16, cols=16, mode=1, pipeline=2) * 4.0
    this = gemm_cycles(m, k, n, rows=16, cols=16, mode=2, pipeline=2) * 4.2
    assert rec["time_speedup"] == round(base / this, 3) and rec["area_ratio"] == 1.4


def test_the_study_covers_every_size_thread_count_and_depth_smallest_first():
    ds = designs((16, 8), threads=(1, 2, 4), depths=(0, 2))
    assert len(ds) == 12 and [d.rows for d in ds[:6]] == [8] * 6
    assert {(d.threads, d.pipeline) for d in ds} == {(t, p) for t in (1, 2, 4) for p in (0, 2)}


@pytest.mark.parametrize("argv, says", [(["--sizes", "0"], "sizes must be 1..64"),
                                        (["--pdk", "/no/such.lib"], "--pdk:")])
def test_bad_input_is_one_line_and_a_nonzero_status_before_any_work(argv, says, capsys, tmp_path):
    from nbsmt.synth.scale import main
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err and not (tmp_path / "out").exists()
