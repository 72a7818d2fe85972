"""The synthesis flow's pieces without Yosys: liberty reading, module merging, configs, CLI input errors."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from nbsmt.cli import main
from nbsmt.hw.generate import to_verilog
from nbsmt.core.policy import Policy
from nbsmt.synth.configs import default_set, timing_set
from nbsmt.synth.liberty import DEFAULT_LIBERTY, LibertyError, load_library
from nbsmt.synth.modules import deduplicate

NANGATE_X1 = {"INV_X1": 0.532, "BUF_X1": 0.798, "NAND2_X1": 0.798, "NOR2_X1": 0.798,
              "AND2_X1": 1.064, "OR2_X1": 1.064, "XOR2_X1": 1.596, "XNOR2_X1": 1.596,
              "AOI21_X1": 1.064, "OAI21_X1": 1.064, "MUX2_X1": 1.862, "DFF_X1": 4.522}


def test_bundled_library_has_the_nangate_x1_areas_and_nand2_reference():
    lib = load_library(DEFAULT_LIBERTY)
    assert lib.areas == NANGATE_X1
    assert lib.nand2 == "NAND2_X1" and lib.nand2_area == 0.798
    assert lib.sequential == {"DFF_X1"}


def test_nand2_is_found_by_function_not_name(tmp_path):
    path = tmp_path / "vendor.lib"
    path.write_text("""library (v) {
      cell (ND2D1) { area : 2.0; pin (A1) { direction : input; } pin (A2) { direction : input; }
        pin (ZN) { direction : output; function : "(A1 A2)'"; } }
      cell (ND2D4) { area : 5.0; pin (A1) { direction : input; } pin (A2) { direction : input; }
        pin (ZN) { direction : output; function : "!(A1*A2)"; } }
      cell (AN2D1) { area : 1.0; pin (A1) { direction : input; } pin (A2) { direction : input; }
        pin (Z) { direction : output; function : "A1 & A2"; } }
      cell (NR2D1) { area : 1.5; pin (A) { direction : input; } pin (B) { direction : input; }
        pin (ZN) { direction : output; function : "!(A+B)"; } }
    }""")
    lib = load_library(path)
    assert lib.nand2 == "ND2D1"          # the smallest true NAND2, not AND2 or NOR2
    assert lib.areas == {"ND2D1": 2.0, "ND2D4": 5.0, "AN2D1": 1.0, "NR2D1": 1.5}


def test_library_without_nand2_has_no_ge_reference(tmp_path):
    path = tmp_path / "nonand.lib"
    path.write_text('library (x) { cell (INV) { area : 1; pin (A) { direction : input; } '
                    'pin (Y) { direction : output; function : "!A"; } } }')
    assert load_library(path).nand2 is None


@pytest.mark.parametrize("text", ["not a library", "library (x) { }"])
def test_unusable_library_is_a_liberty_error(tmp_path, text):
    path = tmp_path / "bad.lib"
    path.write_text(text)
    with pytest.raises(LibertyError):
        load_library(path)


class _Leaf(wiring.Component):
    def __init__(self, width):
        super().__init__({"i": In(width), "o": Out(width)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.o.eq(self.i + 1)
        return m


class _Row(wiring.Component):
    """Three identical leaves and one wider one, each driving an output."""

    def __init__(self):
        super().__init__({"i": In(8), "o0": Out(8), "o1": Out(8), "o2": Out(8), "o3": Out(12)})

    def elaborate(self, platform):
        m = Module()
        for k, width in enumerate((8, 8, 8, 12)):
            leaf = _Leaf(width)
            m.submodules[f"leaf_{k}"] = leaf
            m.d.comb += [leaf.i.eq(self.i), getattr(self, f"o{k}").eq(leaf.o)]
        return m


def test_identical_modules_are_merged_and_counted():
    row = _Row()
    text = to_verilog(row, "row")
    h = deduplicate(text)
    assert h.top == "row"
    leaves = {n: k for n, k in h.counts.items() if "leaf" in n}
    assert sorted(leaves.values()) == [1, 3]            # 3 copies of the 8-bit leaf, 1 wide one
    assert text.count("module ") == 5 and h.verilog.count("module ") == 3


def test_default_set_covers_pe_arrays_and_policy_variants():
    configs = default_set()
    names = {c.label for c in configs}
    assert {"pe-1t", "pe-2t", "pe-4t", "8x8-1t", "8x8-2t", "8x8-4t", "16x16-4t"} <= names
    assert {"pe-4t-w3", "pe-4t-w5", "pe-4t-trunc", "pe-4t-skipact", "pe-2t-trunc"} <= names
    assert {"pe-2t-p1", "pe-4t-p2", "pe-1t-p2", "8x8-2t-p2", "8x8-4t-p1"} <= names   # depths
    assert "8x8-1t-p2" in names                  # the OS-SA at each depth: like for like
    assert not {"16x16-4t-p1", "4x4-2t-p2", "4x4-1t-p1"} & names      # only where timed
    assert all(c.baseline() in configs for c in configs)
    assert {c.label for c in timing_set(configs)} == {
        f"{size}-{t}t{f'-p{p}' if p else ''}" for size in ("pe", "8x8") for t in (1, 2, 4)
        for p in (0, 1, 2)}


@pytest.mark.parametrize("argv, message", [
    (["--liberty", "/nonexistent/x.lib"], "cannot read liberty file"),
    (["--rows", "0"], "rows must be"),
    (["--cols", "4"], "--cols needs --rows"),
    (["--jobs", "0"], "--jobs must be at least 1"),
    (["--pe", "--pdk", "synth/cells/nbsmt45.lib"], "has no timing tables"),
    (["--pe", "--pdk", "/nonexistent/t.lib"], "cannot read liberty file"),
    (["--pe", "--pdk", "sky13"], "unknown library 'sky13'"),
    (["--pe", "--pdk", ","], "names no library"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, message):
    status = main(["synth", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"), *argv])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
