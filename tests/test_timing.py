"""The timing flow against hand calculation, and its report against the netlist it timed.

The known-delay test builds a chain of library inverters and buffers, times it with the
flow's OpenSTA run, and recomputes the path delay here from the Liberty file: each
stage's delay and output transition are the NLDM tables at (the next stage's input
capacitance, or the flow's output load; the previous stage's output transition, or the
flow's input transition), interpolated as OpenSTA does. Nothing is hard-coded but the
chain itself, so a wrong load, slew, unit or table in the flow makes it fail.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from nbsmt.synth.liberty import load_library
from nbsmt.synth.techmap import OSU_LIBERTY, OSU_PACKAGE, Netlist, map_design, to_verilog
from nbsmt.synth.timing import INPUT_SLEW_NS, STA_PACKAGE, block_of, run_sta


@pytest.fixture(scope="module")
def library():
    missing = [p for p, ok in ((OSU_PACKAGE, OSU_LIBERTY.exists()),
                               (STA_PACKAGE, shutil.which("sta") is not None)) if not ok]
    if missing:   # a broken setup, not a reason to skip: `make setup` installs both
        pytest.fail(f"timing tools missing ({', '.join(missing)}): run make setup")
    return load_library(OSU_LIBERTY)


def _chain(kinds: list[str], library) -> Netlist:
    """Input port a -> kinds[0] -> ... -> kinds[-1] -> output port y."""
    cells, net = {}, 2
    for k, kind in enumerate(kinds):
        cell = library.cells[kind]
        out = 3 if k == len(kinds) - 1 else 10 + k
        cells[f"stage{k}"] = (kind, {cell.inputs[0]: net, cell.outputs[0]: out})
        net = out
    return Netlist("chain", {"a": ("input", [2]), "y": ("output", [3])}, cells)


def _hand_delay(kinds: list[str], library, output_load: float) -> float:
    """Worst of the two input edges: sum of NLDM cell delays along the chain."""
    worst = 0.0
    for rising in (True, False):
        slew, total = INPUT_SLEW_NS, 0.0
        for k, kind in enumerate(kinds):
            cell = library.cells[kind]
            arc = cell.pins[cell.outputs[0]].arcs[0]
            out_rising = rising if arc.sense == "positive_unate" else not rising
            if k + 1 < len(kinds):
                nxt = library.cells[kinds[k + 1]].pins[library.cells[kinds[k + 1]].inputs[0]]
                load = nxt.rise_capacitance if out_rising else nxt.fall_capacitance
            else:
                load = output_load
            edge = "rise" if out_rising else "fall"
            total += arc.tables[f"cell_{edge}"].lookup(load, slew)
            slew = arc.tables[f"{edge}_transition"].lookup(load, slew)
            rising = out_rising
        worst = max(worst, total)
    return worst


@pytest.mark.parametrize("kinds", [
    ["INVX1"] * 9,
    ["INVX1", "INVX4", "BUFX2", "INVX2", "BUFX4", "INVX8", "INVX1", "BUFX2"],
    ["BUFX2"] + ["INVX1", "INVX2"] * 6,
])
def test_a_chain_of_library_cells_times_to_the_sum_of_its_table_delays(kinds, library):
    load = library.flip_flop_data_capacitance()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_sta(to_verilog(_chain(kinds, library)), "chain", library.path, Path(tmp),
                         output_load_pf=load, clock=None)
    expected = _hand_delay(kinds, library, load)
    assert report["critical_path_ns"] == pytest.approx(expected, abs=2e-4), report["path"]
    assert [p["cell"] for p in report["path"] if p["block"] != "port"] == kinds
    # a chain one stage longer is slower by more than nothing: the sum really is a sum
    assert expected > _hand_delay(kinds[:-1], library, load)


def test_mapped_pe_critical_path_names_cells_of_its_netlist(library):
    from nbsmt.hw.design import Design
    design = Design.pe(2, pipeline=1)
    name = design.name
    with tempfile.TemporaryDirectory() as tmp:
        mapped = map_design(design.verilog(), name, library, Path(tmp))
        report = run_sta(mapped.verilog, name, library.path, Path(tmp),
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
    ("drain.deskew._9_", "drain"), ("counters._4_", "counters"), ("_12_", "control"),
    ("fanout_buf_12_3", "fanout-tree"),
])
def test_blocks_are_named_from_the_hierarchy(instance, block):
    assert block_of(instance, "array") == block
    if not instance.startswith(("pe_", "skew", "drain", "counters", "_12_")):
        return
    if instance.startswith("pe_"):   # the same cell in a PE synthesized alone
        assert block_of(instance.split(".", 1)[1], "pe") == block
