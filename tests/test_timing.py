"""The timing flow's report against the netlist it timed (the known-delay chains, on
every library, are in tests/test_pdk.py)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from nbsmt.synth.liberty import load_library
from nbsmt.synth.techmap import OSU_LIBERTY, OSU_PACKAGE, map_design
from nbsmt.synth.timing import STA_PACKAGE, block_of, run_sta


@pytest.fixture(scope="module")
def library():
    missing = [p for p, ok in ((OSU_PACKAGE, OSU_LIBERTY.exists()),
                               (STA_PACKAGE, shutil.which("sta") is not None)) if not ok]
    if missing:   # a broken setup, not a reason to skip: `make setup` installs both
        pytest.fail(f"timing tools missing ({', '.join(missing)}): run make setup")
    return load_library(OSU_LIBERTY)


def test_mapped_pe_critical_path_names_cells_of_its_netlist(library):
    from nbsmt.hw.design import Design
    design = Design.pe(2, pipeline=1)
    name = design.name
    with tempfile.TemporaryDirectory() as tmp:
        mapped = map_design(design.verilog(), name, library, Path(tmp))
        report = run_sta(mapped.verilog, name, library, Path(tmp),
                         output_load_pf=library.flip_flop_data_capacitance(), design_kind="pe")
    cells = [p for p in report["path"] if p["block"] != "port"]
    assert len(cells) >= 5
    for point in cells:
        instance = point["pin"].rsplit("/", 1)[0]
        assert mapped.netlist.cells[instance][0] == point["cell"], point
    assert report["critical_path_ns"] == pytest.approx(
        report["path"][-1]["time_ns"] + report["setup_ns"], abs=1e-3)
    assert 0 < report["critical_path_ns"] < 20 and report["fmax_mhz"] > 50
    assert set(report["blocks"]) <= {"reduce", "mult", "accum", "pipeline", "pass-through",
                                     "fanout-tree"}


@pytest.mark.parametrize("instance, block", [
    ("pe_3_4.mult._12_", "mult"), ("pe_0_0.reduce._1_", "reduce"), ("pe_1_0.accum._7_", "accum"),
    ("pe_1_0.pipe2._7_", "pipeline"), ("pe_2_2._5_", "pass-through"), ("skew_a._3_", "skew"),
    ("drain.deskew._9_", "drain"), ("outbuf._2_", "output-buffer"), ("counters._4_", "counters"),
    ("_12_", "control"),
    ("fanout_buf_12_3", "fanout-tree"),
])
def test_blocks_are_named_from_the_hierarchy(instance, block):
    assert block_of(instance, "array") == block
    if not instance.startswith(("pe_", "skew", "drain", "counters", "_12_")):
        return
    if instance.startswith("pe_"):   # the same cell in a PE synthesized alone
        assert block_of(instance.split(".", 1)[1], "pe") == block
