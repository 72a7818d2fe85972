"""`make technology`'s comparisons (energy/technology.py) on records built by hand: the
ratios each view reports are those of the designs it pairs. The measurements themselves
are the flows' own (timing: tests/test_timing.py, tests/test_pdk.py; the GEMM energy
estimate: tests/test_energy.py, and `nbsmt sweep --metrics energy` in tests/test_sweep.py)."""

from __future__ import annotations

import pytest

from nbsmt.energy.technology import comparisons, csv_text, markdown
from nbsmt.sim.cycles import gemm_cycles
from nbsmt.synth.timing_report import DEMO_GEMM


def _record(pdk, threads, pipeline, path_ns, area, pj):
    m, k, n = DEMO_GEMM
    cycles = gemm_cycles(m, k, n, rows=8, cols=8, mode=threads, pipeline=pipeline)
    energy = {model: {"pj_per_mac": pj * scale, "leakage_share": 0.01, "cycles": cycles,
                      "time_ns": cycles * path_ns,
                      "edp_pj_ns_per_mac": pj * scale * cycles * path_ns,
                      "calibration_pj_per_mac_by_category": {"clock": pj / 2, "leakage": pj / 2},
                      "calibration_pj_per_mac_by_block": {"mult": pj / 4, "accum": 3 * pj / 4}}
              for model, scale in (("zero-delay", 1.0), ("cell-delays", 1.5))}
    return {"pdk": pdk, "library": pdk, "node_nm": 7, "vdd": 0.7, "design": "array",
            "size": "8x8", "rows": 8, "cols": 8, "threads": threads, "pipeline": pipeline,
            "policy_tag": "default", "critical_path_ns": path_ns, "fmax_mhz": 1e3 / path_ns,
            "timing_area_um2": area, "area_ge": None, "path_blocks": ["mult"], "energy": energy}


def test_same_depth_ratios_pair_designs_of_one_library_and_depth():
    records = [_record("a", 1, 0, 5.0, 100.0, 10.0), _record("a", 4, 0, 8.0, 220.0, 7.0),
               _record("a", 1, 2, 4.0, 120.0, 11.0), _record("a", 4, 2, 5.0, 260.0, 6.6),
               _record("b", 1, 2, 1.0, 10.0, 1.0), _record("b", 4, 2, 1.0, 25.0, 0.9)]
    rows = {(c["pdk"], c["threads"], c["view"], c["pipeline"]): c for c in comparisons(records)}
    four = rows[("a", 4, "same depth", 2)]
    m, k, n = DEMO_GEMM
    c1, c4 = (gemm_cycles(m, k, n, rows=8, cols=8, mode=t, pipeline=2) for t in (1, 4))
    assert four["time_speedup"] == pytest.approx(c1 * 4.0 / (c4 * 5.0), abs=1e-3)
    assert four["area_ratio_timing_lib"] == pytest.approx(260 / 120, abs=1e-3)
    assert four["energy_ratio_zero-delay"] == pytest.approx(0.6)
    assert four["energy_ratio_cell-delays"] == pytest.approx(0.6)
    assert four["edp_ratio_zero-delay"] == pytest.approx(0.6 * c4 * 5.0 / (c1 * 4.0), rel=1e-3)
    # depth 0 pairs the depth-0 designs; library b only with itself
    assert rows[("a", 4, "same depth", 0)]["energy_ratio_zero-delay"] == pytest.approx(0.7)
    assert rows[("b", 4, "same depth", 2)]["energy_ratio_zero-delay"] == pytest.approx(0.9)
    assert rows[("b", 4, "same depth", 2)]["area_ratio_timing_lib"] == 2.5
    text = markdown(records, comparisons(records), command="test", seconds=1.0)
    assert "| a | 4T | same depth | 2 / 2 |" in text and "## Share of each block" in text
    assert "| a | 4T | 2 | 75.0 | 25.0 |" in text       # accum, mult: % of the tile's energy
    assert csv_text(records, comparisons(records)).count("\n") == 1 + len(records)
