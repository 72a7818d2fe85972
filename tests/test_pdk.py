"""Cell libraries by name or path (synth/pdk.py) and the timing flow on each of them.

The open PDKs' files are read from ../shared/pdk (or $PDK_ROOT); where they are absent
the tests that need them are skipped with the reason. OSU 0.18 um is installed by
`make setup`, so its absence fails.

The known-answer test times a chain of the library's own inverters and buffers with the
flow's OpenSTA run and recomputes the delay here from the library's NLDM tables in the
library's units (ps and fF for ASAP7), then converts: each stage's delay and output
transition are the tables at (the next stage's input capacitance, or the flow's output
load; the previous stage's output transition, or the flow's input transition),
interpolated as OpenSTA does. Nothing is hard-coded but the chain, so a wrong load,
slew, unit or table makes it fail (a unit assumed instead of read: by a factor of 1000).
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path

import pytest

from nbsmt.cli import main
from nbsmt.synth import pdk
from nbsmt.synth.liberty import LibertyError, load_library
from nbsmt.synth.techmap import OSU_LIBERTY, Netlist, map_design, to_verilog
from nbsmt.synth.timing import INPUT_SLEW_NS, run_sta
from nbsmt.energy.power import energy_model

LIBRARIES = ("osu018", "sky130hd", "asap7", "gf180mcu")


def library_or_skip(name: str):
    if pdk.find_files(pdk.KNOWN[name]) is None:
        if name == "osu018":
            pytest.fail("OSU 0.18 um missing: run make setup")
        pytest.skip(f"{name} is not installed here (no $PDK_ROOT layout, no {pdk.SHARED_PDK})")
    if shutil.which("sta") is None:
        pytest.fail("OpenSTA missing: run make setup")
    return pdk.load(name)


# ------------------------------------------------------------------ known answer per library

def _chain(kinds: list[str], library) -> Netlist:
    cells, net = {}, 2
    for k, kind in enumerate(kinds):
        cell = library.cells[kind]
        out = 3 if k == len(kinds) - 1 else 10 + k
        cells[f"stage{k}"] = (kind, {cell.inputs[0]: net, cell.outputs[0]: out})
        net = out
    return Netlist("chain", {"a": ("input", [2]), "y": ("output", [3])}, cells)


def _hand_delay(kinds: list[str], library, output_load: float, input_slew: float) -> float:
    """Worst of the two input edges: the sum of the NLDM cell delays along the chain, in
    the library's time unit (loads and slews in its units)."""
    worst = 0.0
    for rising in (True, False):
        slew, total = input_slew, 0.0
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


def _chain_cells(library) -> list[str]:
    """Inverters and buffers of the library, mixed in size: the smallest inverter, the
    largest, the smallest buffer (usable cells with one timing arc)."""
    def simple(c):
        return library.usable(c.name) and len(c.pins[c.outputs[0]].arcs) == 1 and c.area > 0
    inverters = sorted((c for c in library.cells.values() if c.is_inverter and simple(c)),
                       key=lambda c: c.area)
    buffers = sorted((c for c in library.cells.values() if c.is_buffer and simple(c)),
                     key=lambda c: c.area)
    small, large, buf = inverters[0].name, inverters[-1].name, buffers[0].name
    return [small] * 4 + [buf, small, large, small, buf, small]


OSU_CHAINS = [["INVX1"] * 9,
              ["INVX1", "INVX4", "BUFX2", "INVX2", "BUFX4", "INVX8", "INVX1", "BUFX2"],
              ["BUFX2"] + ["INVX1", "INVX2"] * 6]


@pytest.mark.parametrize("name, chain", [(n, None) for n in LIBRARIES] +
                         [("osu018", k) for k in range(len(OSU_CHAINS))])
def test_an_inverter_chain_times_to_its_table_delays_in_the_librarys_units(name, chain):
    library = library_or_skip(name)
    kinds = _chain_cells(library) if chain is None else OSU_CHAINS[chain]
    load = library.flip_flop_data_capacitance()           # library units
    with tempfile.TemporaryDirectory() as tmp:
        report = run_sta(to_verilog(_chain(kinds, library)), "chain", library, Path(tmp),
                         output_load_pf=library.capacitance_pf(load), clock=None)
    hand = _hand_delay(kinds, library, load, library.scale_time(INPUT_SLEW_NS))
    hand_ns = hand * library.units.time / 1e-9
    assert report["critical_path_ns"] == pytest.approx(hand_ns, rel=1e-3, abs=2e-4), report["path"]
    assert [p["cell"] for p in report["path"] if p["block"] != "port"] == kinds
    assert hand > _hand_delay(kinds[:-1], library, load, library.scale_time(INPUT_SLEW_NS))


# ------------------------------------------------------------------ mapping and timing a PE

@pytest.mark.parametrize("name", ["sky130hd", "asap7"])
@pytest.mark.parametrize("threads", [1, 4])
def test_a_pe_maps_and_times_on_the_library_with_its_usable_cells(name, threads):
    from nbsmt.hw.design import Design
    library = library_or_skip(name)
    design = Design.pe(threads)
    with tempfile.TemporaryDirectory() as tmp:
        mapped = map_design(design.verilog(), design.name, library, Path(tmp))
        report = run_sta(mapped.verilog, design.name, library, Path(tmp),
                         output_load_pf=library.capacitance_pf(library.flip_flop_data_capacitance()),
                         design_kind="pe")
    assert set(mapped.cells) <= set(library.cells)
    assert all(library.usable(kind) for kind in mapped.cells), mapped.cells
    path = [p for p in report["path"] if p["block"] != "port"]
    assert len(path) >= 10
    for point in path:
        assert mapped.netlist.cells[point["pin"].rsplit("/", 1)[0]][0] == point["cell"]
    # a PE's path is tens of gates: 20 ps to 500 ps each, whatever the node
    assert 0.02 * len(path) < report["critical_path_ns"] < 0.5 * len(path)
    assert mapped.area_um2 == pytest.approx(sum(library.areas[k] * n for k, n in mapped.cells.items()))


def test_dont_use_keeps_the_mapper_off_those_cells():
    """The mechanism can fail: forbidding the 2-input NANDs the default mapping uses most
    removes them, and the design still maps."""
    from nbsmt.hw.design import Design
    library = library_or_skip("sky130hd")
    design = Design.pe(1)
    no_nand2 = load_library(*library.files, dont_use=library.dont_use + ("*nand2_*",))
    with tempfile.TemporaryDirectory() as tmp:
        default = map_design(design.verilog(), design.name, library, Path(tmp) / "a")
        without = map_design(design.verilog(), design.name, no_nand2, Path(tmp) / "b")
    assert any("nand2_" in k for k in default.cells)
    assert not any("nand2_" in k for k in without.cells) and without.cells


def test_clock_gates_are_the_librarys_own_icg():
    from nbsmt.hw.design import Design
    library = library_or_skip("sky130hd")
    cell, roles = library.clock_gate()
    assert cell.name.startswith("sky130_fd_sc_hd__dlclkp")
    assert {roles["clock"], roles["enable"], roles["out"]} == {"CLK", "GATE", "GCLK"}
    design = Design.array(2, 2, 2)
    with tempfile.TemporaryDirectory() as tmp:
        mapped = map_design(design.verilog(), design.name, library, Path(tmp), gate_clocks=True)
    gates = [k for k in mapped.cells if "dlclkp" in k]
    assert gates and len(mapped.netlist.clock_gates) == sum(mapped.cells[k] for k in gates)
    assert "osu" not in " ".join(mapped.cells)


def test_asap7_icg_has_its_test_enable_tied_low():
    library = library_or_skip("asap7")
    cell, roles = library.clock_gate()
    assert cell.name.startswith("ICGx") and roles.get("test") == "SE"


# ------------------------------------------------------------------------- finding files

def test_pdk_root_layouts_are_found(tmp_path, monkeypatch):
    library_or_skip("sky130hd")
    shared = pdk.find_files(pdk.KNOWN["sky130hd"])
    folder = tmp_path / "sky130A" / "libs.ref" / "sky130_fd_sc_hd" / "lib"
    folder.mkdir(parents=True)
    (folder / "sky130_fd_sc_hd__tt_025C_1v80.lib").write_bytes(gzip.decompress(shared[0].read_bytes()))
    monkeypatch.setenv("PDK_ROOT", str(tmp_path))
    assert pdk.resolve("sky130hd") == [folder / "sky130_fd_sc_hd__tt_025C_1v80.lib"]
    # the plain file and the shared gzip one are the same library
    assert pdk.load("sky130hd").cells.keys() == load_library(*shared).cells.keys()


def test_a_missing_known_library_names_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("PDK_ROOT", str(tmp_path))
    monkeypatch.setattr(pdk, "SHARED_PDK", tmp_path / "none")
    with pytest.raises(LibertyError, match=r"library asap7 not found: looked in \$PDK_ROOT"):
        pdk.resolve("asap7")


def test_paths_joined_by_commas_make_one_library(tmp_path):
    library_or_skip("asap7")
    files = pdk.find_files(pdk.KNOWN["asap7"])
    lib = pdk.load(",".join(str(f) for f in files))
    assert len(lib.files) == 5 and lib.dont_use == pdk.DONT_USE["asap7sc7p5t_"]
    simple = load_library(files[0])
    assert len(lib.cells) > len(simple.cells) and simple.cells.keys() <= lib.cells.keys()
    assert lib.label.endswith("(+4 more files)")


def _osu_text() -> str:
    return OSU_LIBERTY.read_text()


def test_files_of_one_library_must_agree_on_units(tmp_path):
    text = _osu_text()
    a = tmp_path / "a.lib"
    a.write_text(text)
    b = tmp_path / "b.lib"
    b.write_text(text.replace('time_unit : "1ns"', 'time_unit : "1ps"')
                 .replace("cell (", "cell (B_"))
    assert 'time_unit : "1ns"' in text
    with pytest.raises(LibertyError, match="other units"):
        load_library(a, b)
    c = tmp_path / "c.lib"
    c.write_text(text)
    with pytest.raises(LibertyError, match="defined in two files"):
        load_library(a, c)


@pytest.mark.parametrize("drop, missing", [
    ('time_unit : "1ns"', "time_unit"),
    ("capacitive_load_unit", "capacitive_load_unit"),
])
def test_a_library_missing_a_unit_exits_2_naming_it(tmp_path, capsys, drop, missing):
    lines = [l for l in _osu_text().splitlines() if drop not in l]
    lib = tmp_path / "nounit.lib"
    lib.write_text("\n".join(lines) + "\n")
    status = main(["synth", "--pe", "--threads", "1", "--flat-check", "0", "--pdk", str(lib),
                   "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and f"no {missing}" in err[0], err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------ energy per library

def _hand_chain_energy(library, kinds, cycles: int, port_load: float, slew: float) -> float:
    """pJ of `cycles` cycles of the chain with its input toggling every cycle, from the
    library's tables in its own units (each toggle: 1/2 C V^2 of the driven pins + the
    driver's internal energy at that load; input pins' passive energy; leakage at
    PERIOD_NS)."""
    from nbsmt.energy.pe import PERIOD_NS
    u = library.units
    v = u.nom_voltage * u.voltage
    to_pj = u.capacitance * u.voltage ** 2 / 1e-12       # internal_power unit in pJ
    cells = [library.cells[k] for k in kinds]
    total = 0.0
    toggles = cycles - 1             # the input starts at 0 and flips every cycle after the first
    for k, cell in enumerate(cells):
        pin_in = cell.pins[cell.inputs[0]]
        # the net into stage k: driven by the port (k = 0) or by stage k-1
        c = pin_in.capacitance
        per = 0.5 * c * u.capacitance * v * v / 1e-12
        if k > 0:
            prev = cells[k - 1]
            arcs = prev.pins[prev.outputs[0]].power
            per += sum((r.lookup(c, slew) + f.lookup(c, slew)) / 2 for r, f in arcs) / len(arcs) * to_pj
        if pin_in.power:
            per += sum((r.lookup(0.0, slew) + f.lookup(0.0, slew)) / 2
                       for r, f in pin_in.power) / len(pin_in.power) * to_pj
        total += per * toggles
    last = cells[-1]
    arcs = last.pins[last.outputs[0]].power
    total += toggles * (0.5 * port_load * u.capacitance * v * v / 1e-12 + sum(
        (r.lookup(port_load, slew) + f.lookup(port_load, slew)) / 2 for r, f in arcs) / len(arcs) * to_pj)
    leakage_w = sum(c.leakage for c in cells) * u.leakage_power
    return total + leakage_w * cycles * PERIOD_NS * 1e-9 / 1e-12


@pytest.mark.parametrize("name", LIBRARIES)
def test_an_inverter_chain_costs_its_table_energy_in_the_librarys_units(name, tmp_path):
    from nbsmt.energy.cellmodels import model_file
    from nbsmt.energy.gatesim import simulate
    from nbsmt.energy.pe import PERIOD_NS, power_library
    library = library_or_skip(name)
    lib = power_library(name)
    kinds = _chain_cells(library)
    netlist = _chain(kinds, library)
    port_load = library.flip_flop_data_capacitance()          # library units
    em = energy_model(netlist, lib, output_load_pf=library.capacitance_pf(port_load))
    cycles = 30
    run = simulate(netlist, to_verilog(netlist), {"a": [c % 2 for c in range(cycles)]}, ["y"],
                   em.nets, model="zero-delay", workdir=tmp_path, cycles=cycles,
                   cell_models=model_file(library, netlist, tmp_path / "models"))
    assert run.outputs["y"] == [(c % 2) ^ (len(kinds) % 2) for c in range(cycles)]
    got = em.energy(run.toggles.sum(axis=0), cycles, PERIOD_NS).total
    want = _hand_chain_energy(library, kinds, cycles, port_load, library.scale_time(INPUT_SLEW_NS))
    assert got == pytest.approx(want, rel=1e-6)
    # in pJ whatever the units: a few fJ (7 nm) to a few pJ (180 nm) per toggle of 10 stages
    assert 1e-3 < got / (cycles - 1) < 10


@pytest.mark.parametrize("name", ["sky130hd", "asap7"])
@pytest.mark.parametrize("threads", [1, 4])
def test_pe_energy_runs_bit_exact_on_the_library(name, threads, tmp_path):
    from nbsmt.energy.pe import run_pe
    from nbsmt.hw.design import Design
    from nbsmt.host.stimulus import demo_operands
    library_or_skip(name)
    a, w = demo_operands()
    run = run_pe(a, w, [(0, 0), (5, 7)], design=Design.pe(threads), model="zero-delay",
                 idle_after=2, workdir=tmp_path, pdk=name)     # raises unless bit-exact
    parts = run.energy.by_category()
    assert run.macs == 2 * 256 and all(parts[k] > 0 for k in ("clock", "combinational", "leakage"))
