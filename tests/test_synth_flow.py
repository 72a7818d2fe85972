"""`nbsmt synth` end to end on small designs (PE, 2x2): fields, ratios, hierarchical vs flat, cache."""

from __future__ import annotations

import csv
import json
import shlex

import pytest

from nbsmt.cli import main
from nbsmt.synth.blocks import CATEGORIES

REQUIRED = ("threads", "rows", "cols", "policy", "area_ge", "area_um2", "ratio_vs_ossa",
            "transistors", "ratio_transistors_vs_ossa", "blocks_ge", "blocks_transistors",
            "method", "synth_seconds", "cached")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One cold run: PEs and 2x2 arrays for 1/2/4 threads, each also synthesized flat."""
    root = tmp_path_factory.mktemp("synth")
    argv = ["synth", "--pe", "--rows", "2", "--flat-check", "2", "--out", str(root / "out"),
            "--cache", str(root / "cache"), "--json", str(root / "extra.json")]
    assert main(argv) == 0
    doc = json.loads((root / "out" / "area.json").read_text())
    return root, argv, doc


def _record(doc, design, threads, rows=1):
    matches = [r for r in doc["records"] if r["design"] == design and r["threads"] == threads
               and r["rows"] == rows and r["policy_tag"] == "default"]
    assert len(matches) == 1
    return matches[0]


def test_every_record_has_every_field(report):
    _, _, doc = report
    assert len(doc["records"]) == 6
    for r in doc["records"]:
        for key in REQUIRED:
            assert r[key] is not None, (r["name"], key)
        assert set(r["blocks_ge"]) == set(CATEGORIES)
        assert r["area_ge"] == pytest.approx(r["area_um2"] / 0.798, abs=0.1)
        assert sum(r["blocks_ge"].values()) == pytest.approx(r["area_ge"], rel=1e-3)
        assert sum(r["blocks_transistors"].values()) == r["transistors"]


@pytest.mark.parametrize("design, rows", [("pe", 1), ("array", 2)])
def test_ratios_grow_with_threads(report, design, rows):
    _, _, doc = report
    one, two, four = (_record(doc, design, t, rows) for t in (1, 2, 4))
    assert one["ratio_vs_ossa"] == 1.0
    assert 1.0 < two["ratio_vs_ossa"] < four["ratio_vs_ossa"]
    assert 1.0 < two["ratio_transistors_vs_ossa"] < four["ratio_transistors_vs_ossa"]
    assert two["area_um2"] / one["area_um2"] == pytest.approx(two["ratio_vs_ossa"], abs=1e-3)


def test_blocks_follow_the_design(report):
    _, _, doc = report
    pe1, pe4 = _record(doc, "pe", 1), _record(doc, "pe", 4)
    assert pe1["blocks_ge"]["array_control"] == 0 and pe1["blocks_ge"]["multipliers"] > 0
    assert pe4["blocks_ge"]["reduction"] > 10 * pe1["blocks_ge"]["reduction"]
    arr = _record(doc, "array", 2, rows=2)
    assert arr["blocks_ge"]["array_control"] > 0
    # the 2x2 array holds four PEs' worth of multipliers
    assert arr["blocks_ge"]["multipliers"] == pytest.approx(4 * _record(doc, "pe", 2)["blocks_ge"]["multipliers"],
                                                           rel=0.05)


def test_hierarchical_sum_agrees_with_flat_synthesis(report):
    _, _, doc = report
    for r in doc["records"]:
        assert abs(r["flat"]["hier_vs_flat"]) < 0.08, r["name"]
        if r["design"] == "array":
            assert abs(r["flat"]["hier_vs_flat"]) < 0.05, r["name"]
            assert r["module_instances"] > r["distinct_modules"]   # PE copies were merged


def test_report_files_agree(report):
    root, argv, doc = report
    out = root / "out"
    assert json.loads((root / "extra.json").read_text()) == doc
    rows = list(csv.DictReader((out / "area.csv").open()))
    assert [r["name"] for r in rows] == [r["name"] for r in doc["records"]]
    md = (out / "area.md").read_text()
    assert "nbsmt " + shlex.join(argv) in md   # the command that produced the report
    for r in doc["records"]:
        assert f"{r['area_ge']:,.1f}" in md
    for png in ("area_ratio.png", "area_breakdown.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_reads_the_cache(report, tmp_path):
    root, argv, doc = report
    out = tmp_path / "again"
    argv = [a if a != str(root / "out") else str(out) for a in argv]
    assert main(argv) == 0
    again = json.loads((out / "area.json").read_text())
    assert all(r["cached"] for r in again["records"])
    assert [r["area_ge"] for r in again["records"]] == [r["area_ge"] for r in doc["records"]]


def test_user_liberty_sets_the_ge_cell(tmp_path):
    """A library with other cell names: GE comes from its own NAND2, areas from its cells."""
    from nbsmt.synth.liberty import DEFAULT_LIBERTY
    text = DEFAULT_LIBERTY.read_text().replace("NAND2_X1", "ND2_LVT").replace("0.798", "1.596")
    lib = tmp_path / "mine.lib"
    lib.write_text(text)
    out = tmp_path / "out"
    assert main(["synth", "--pe", "--threads", "1", "--flat-check", "0", "--liberty", str(lib),
                 "--out", str(out), "--cache", str(tmp_path / "c")]) == 0
    doc = json.loads((out / "area.json").read_text())
    (r,) = doc["records"]
    assert doc["ge_cell"] == "ND2_LVT" and r["ge_cell_um2"] == 1.596
    assert r["area_ge"] == pytest.approx(r["area_um2"] / 1.596, abs=0.1)


def test_library_without_flip_flop_exits_2(tmp_path, capsys):
    from nbsmt.synth.liberty import DEFAULT_LIBERTY
    text = DEFAULT_LIBERTY.read_text()
    lib = tmp_path / "noff.lib"
    lib.write_text(text[:text.index("  cell (DFF_X1)")] + "}\n")
    status = main(["synth", "--pe", "--threads", "1", "--flat-check", "0", "--liberty", str(lib),
                   "--no-timing", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "failed" in err[0]


def test_every_design_is_timed_with_a_path_through_its_blocks(report):
    root, _, _ = report
    doc = json.loads((root / "out" / "timing.json").read_text())
    assert {(r["design"], r["threads"]) for r in doc["records"]} == {
        (d, t) for d in ("pe", "array") for t in (1, 2, 4)}
    for r in doc["records"]:
        assert 0.5 < r["critical_path_ns"] < 50 and r["fmax_mhz"] == pytest.approx(
            1000 / r["critical_path_ns"], rel=1e-3)
        assert r["timing_area_um2"] > 0 and r["blocks"]
        assert r["library"] == "osu018_stdcells.lib"
    iso = {(r["design"], r["threads"]): r for r in doc["iso_frequency"]}
    assert iso[("array", 1)]["time_speedup"] == pytest.approx(1.0)
    for t in (2, 4):   # at no depth faster than its cycles, and never slower than 1x
        r = iso[("array", t)]
        assert 1.0 < r["time_speedup"] <= r["cycle_speedup"]
