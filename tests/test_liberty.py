"""The Liberty reader (synth/liberty.py): its tree, gzip input, units, errors, and values
checked against the OSU library's own text."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest

from nbsmt.synth.liberty import LibertyError, load_library, parse
from nbsmt.synth.techmap import OSU_LIBERTY, Netlist

SMALL = r"""/* a header comment
   over two lines */
library (tiny) {
  time_unit : "1ps" ;
  capacitive_load_unit (1, ff);
  voltage_unit : "1V";
  current_unit : "1mA";
  pulling_resistance_unit : "1kohm";
  leakage_power_unit : "1pW";
  nom_voltage : 0.7;
  comment : "a string // not a comment, /* nor this */";
  lu_table_template (t2) {
    variable_1 : total_output_net_capacitance;
    variable_2 : input_net_transition;
  }
  cell (NAND2) {
    area : 2.5   // no semicolon: the line ends the attribute
    cell_leakage_power : 12;
    pin (A, B) { direction : input; capacitance : 1.5; }
    pin (Y) {
      direction : output;
      function : "!(A \
&B)";
      timing () {
        related_pin : "A";
        cell_rise (t2) {
          index_1 ("1, 3");
          index_2 ("10, 20");
          values ( \
            "100, 200", \
            "300, 400");
        }
      }
    }
  }
  cell (LATCH) {
    area : 4;
    latch (IQ, IQN) { enable : "G"; data_in : "D"; }
    pin (D) { direction : input; }
    pin (G) { direction : input; }
    pin (Q) { direction : output; function : "IQ"; }
  }
}
"""


def test_the_tree_has_groups_simple_and_complex_attributes():
    top = parse(SMALL)
    assert (top.kind, top.args) == ("library", ["tiny"])
    assert top.attrs["capacitive_load_unit"] == ["1", "ff"]
    assert top.attrs["comment"] == "a string // not a comment, /* nor this */"
    nand, latch = top.find("cell")
    assert nand.attrs["area"] == "2.5" and nand.attrs["cell_leakage_power"] == "12"
    assert [p.args for p in nand.find("pin")] == [["A", "B"], ["Y"]]
    y = nand.find("pin")[1]
    assert y.attrs["function"] == "!(A  &B)"                  # the continuation joins the lines
    (table,) = y.find("timing")[0].find("cell_rise")
    assert table.args == ["t2"] and table.attrs["values"] == ["100, 200", "300, 400"]
    assert latch.find("latch")[0].attrs == {"enable": "G", "data_in": "D"}


def test_library_serves_areas_tables_functions_and_state(tmp_path):
    path = tmp_path / "tiny.lib"
    path.write_text(SMALL)
    lib = load_library(path)
    assert lib.areas == {"NAND2": 2.5, "LATCH": 4.0}
    assert lib.nand2 == "NAND2" and lib.sequential == {"LATCH"}
    nand = lib.cells["NAND2"]
    assert nand.inputs == ["A", "B"] and nand.pins["B"].capacitance == 1.5
    assert nand.leakage == 12.0
    table = nand.pins["Y"].arcs[0].tables["cell_rise"]
    assert table.lookup(2, 15) == 250.0                      # the middle of all four points
    assert table.lookup(5, 10) == 500.0                      # extrapolated along the load
    (state,) = lib.cells["LATCH"].storage
    assert (state.kind, state.args, state.attrs["enable"]) == ("latch", ["IQ", "IQN"], "G")


def test_units_are_read_from_the_file():
    from nbsmt.synth.liberty import Units
    units = Units.of(parse(SMALL))
    assert units.time == 1e-12 and units.capacitance == 1e-15 and units.voltage == 1.0
    assert units.current == 1e-3 and units.resistance == 1e3 and units.leakage_power == 1e-12
    assert units.nom_voltage == 0.7
    bare = Units.of(parse("library (x) { operating_conditions (tt) { voltage : 1.2; } }"))
    assert bare.time is None and bare.capacitance is None and bare.nom_voltage == 1.2


def test_a_gzip_file_reads_as_its_text(tmp_path):
    plain, packed = tmp_path / "tiny.lib", tmp_path / "tiny.lib.gz"
    plain.write_text(SMALL)
    packed.write_bytes(gzip.compress(SMALL.encode()))
    a, b = load_library(plain), load_library(packed)
    assert (a.areas, a.nand2, a.units, a.cells["NAND2"].pins["Y"].arcs[0].tables) == \
           (b.areas, b.nand2, b.units, b.cells["NAND2"].pins["Y"].arcs[0].tables)


@pytest.mark.parametrize("content, problem", [
    (None, "No such file or directory"),
    (b"\x1f\x8b\x08\x00broken", "bad gzip data"),
    (b"library (x) { cell (A) { area : 1;", "unexpected end of file inside 'cell (A)'"),
    (b"library (x) { cell (A) { area : 1; } } }", "line 1: '}' closes no group"),
    (b"library (x) {\n  cell (A) {\n    area 1;\n  }\n}\n", "line 3: cannot parse 'area 1;'"),
    (b'library (x) {\n  comment : "open\n}\n', "line 2: "),
    (b"library (x) { cell (A) { area : wide; } }", "cell A: could not convert"),
    (b"library (x) { time_unit : 1hour; cell (A) { area : 1; } }", "unsupported time_unit '1hour'"),
    (b"cell (A) { area : 1; }", "no 'library (...)' group"),
    (b"library (x) { cell (A) { } }", "no cells with an area"),
])
def test_an_unusable_file_is_one_line_naming_it(tmp_path, content, problem):
    path = tmp_path / "bad.lib"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LibertyError) as info:
        load_library(path)
    message = str(info.value)
    assert message.startswith(f"cannot read liberty file {str(path)!r}: ") and "\n" not in message
    assert problem in message


def test_osu_values_match_its_text():
    # From osu018_stdcells.lib: INVX1 `area : 16;`, NAND2X1 `area : 24;`; INVX1's
    # cell_fall has index_1 (load) 0.005 0.0125 0.025 0.075 0.15, index_2 (slew)
    # 0.06 0.18 0.42 0.6 1.2 and rows 3, 4 "0.064368, 0.091076, 0.11557, 0.126352, ..."
    # and "0.139135, 0.174422, 0.232659, 0.261317, ...".
    lib = load_library(OSU_LIBERTY)
    netlist = Netlist("t", {}, {"u1": ("INVX1", {}), "u2": ("INVX1", {}), "u3": ("NAND2X1", {})})
    assert netlist.area(lib) == 2 * 16 + 24
    assert lib.nand2 == "NAND2X1" and lib.units.time == 1e-9 and lib.units.capacitance == 1e-12
    fall = lib.cells["INVX1"].pins["Y"].arcs[0].tables["cell_fall"]
    assert fall.lookup(0.025, 0.42) == 0.11557
    assert fall.lookup(0.05, 0.51) == pytest.approx((0.11557 + 0.126352 + 0.232659 + 0.261317) / 4)
    assert lib.cells["INVX1"].pins["A"].capacitance == 0.00932456
    assert lib.cells["DFFPOSX1"].clocked_on == "CLK" and lib.cells["DFFPOSX1"].area == 96


def _inverter_library(time_unit: str, cap: str, leakage: str, k: float) -> str:
    """An inverter; with k = 1000 every capacitance, time, energy and leakage value is
    written in units 1000 times smaller (fF, ps, fF x V^2, pW for pF, ns, pF x V^2, nW)."""
    row = lambda *v: ", ".join(str(x * k) for x in v)  # noqa: E731
    return f"""library (inv) {{
      time_unit : "{time_unit}"; capacitive_load_unit (1, {cap}); voltage_unit : "1V";
      leakage_power_unit : "{leakage}"; nom_voltage : 1.5;
      power_lut_template (e) {{ variable_1 : total_output_net_capacitance; variable_2 : input_transition_time; }}
      cell (INV) {{ area : 1; cell_leakage_power : {row(2)};
        pin (A) {{ direction : input; capacitance : {row(0.01)}; }}
        pin (Y) {{ direction : output; function : "!A";
          internal_power () {{ related_pin : "A";
            rise_power (e) {{ index_1 ("{row(0.0, 0.1)}"); index_2 ("{row(0.05, 0.25)}");
                             values ("{row(0.010, 0.030)}", "{row(0.020, 0.040)}"); }}
            fall_power (e) {{ index_1 ("{row(0.0, 0.1)}"); index_2 ("{row(0.05, 0.25)}");
                             values ("{row(0.012, 0.032)}", "{row(0.022, 0.042)}"); }} }} }} }} }}"""


def test_energy_comes_out_the_same_in_other_units(tmp_path):
    from nbsmt.energy.power import energy_model, load_power_library
    netlist = Netlist("chain", {"a": ("input", [2]), "z": ("output", [4])},
                      {"u1": ("INV", {"A": 2, "Y": 3}), "u2": ("INV", {"A": 3, "Y": 4})})
    models = []
    for name, args in (("ns.lib", ("1ns", "pf", "1nW", 1)), ("ps.lib", ("1ps", "ff", "1pW", 1000))):
        (tmp_path / name).write_text(_inverter_library(*args))
        models.append(energy_model(netlist, load_power_library(tmp_path / name), slew_ns=0.1,
                                   output_load_pf=0.02))
    ns, ps = models
    assert ns.per_net() == pytest.approx(ps.per_net(), rel=1e-12)
    assert ns.leakage_w == pytest.approx(ps.leakage_w, rel=1e-12)
    # by hand, net 3 (u1's output, one inverter input): 1/2 C V^2 + internal energy at
    # C = 0.01 pF, slew 0.1 ns: rise 0.015 + 0.1 x 0.01 and fall 0.017 + 0.1 x 0.01 pJ
    assert ns.per_net()[ns.net_index[3]] == pytest.approx(0.5 * 0.01 * 1.5 ** 2 + (0.016 + 0.018) / 2)
    assert np.all(ns.per_net() > 0)


@pytest.mark.parametrize("edit, message", [
    (lambda t: re.sub(r"area : [0-9.]+", "area : 0", t), "gate-equivalent cell NAND2_X1 has area 0"),
    (lambda t: re.sub(r"area : ([0-9.]+)", r"area : -\1", t), "area must be a finite number >= 0"),
    (lambda t: t.replace("area : 0.532", "area : nan", 1), "area must be a finite number >= 0"),
])
def test_synth_refuses_a_library_with_zero_or_negative_areas(tmp_path, capsys, edit, message):
    # Zero areas gave a ZeroDivisionError traceback, negative ones a report.
    from nbsmt.cli import main
    from nbsmt.synth.liberty import DEFAULT_LIBERTY
    lib = tmp_path / "bad.lib"
    lib.write_text(edit(DEFAULT_LIBERTY.read_text()))
    status = main(["synth", "--pe", "--threads", "1", "--no-timing", "--liberty", lib,
                   "--out", tmp_path / "out", "--no-cache"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()
