"""Cell models built from Liberty (energy/cellmodels.py) against OSU's own Verilog models.

Every OSU cell but the tristate buffers (refused by the generator) and FILL (no pins) is
instantiated twice in one Icarus testbench, OSU's model and the generated one, on the same
random input sequence (every input combination of the combinational cells, then random
vectors; random clock, data, set and reset sequences for the flops and the latch), and
their outputs are compared after every step, with and without path delays. A second test
checks that the generated models of the open PDKs compile and that a generated model can
disagree: a flipped function is caught.

DFFSR never sees its clear and preset active together: there OSU's Verilog model and
its Liberty file disagree (the Liberty file says `clear_preset_var1 : L`, Q low, which
the generated model follows; OSU's model gives Q high), and the mapped designs never
use the asynchronous pins.
"""

from __future__ import annotations

import random
import subprocess

import pytest

from nbsmt.energy.cellmodels import cell_model, cell_models
from nbsmt.energy.gatesim import OSU_VERILOG
from nbsmt.synth import pdk
from nbsmt.synth.liberty import LibertyError


def _osu():
    if not OSU_VERILOG.exists():
        pytest.fail("OSU 0.18 um models missing: run make setup")
    return pdk.load("osu018")


def _bench(library, kinds, models_text: str, steps: int, seed: int) -> str:
    rng = random.Random(seed)
    lines = ["`timescale 1ns/1ps", "module tb;", "  integer f;"]
    checks = []
    for kind in kinds:
        cell = library.cells[kind]
        ins, outs = cell.inputs, cell.outputs
        lines += [f"  reg {kind}_{p} = 0;" for p in ins]
        lines += [f"  wire {kind}_ref_{p}, {kind}_gen_{p};" for p in outs]
        conn = [f".{p}({kind}_{p})" for p in ins]
        lines.append(f"  {kind} ref_{kind} ({', '.join(conn + [f'.{p}({kind}_ref_{p})' for p in outs])});")
        lines.append(f"  gen_{kind} gen_{kind} ({', '.join(conn + [f'.{p}({kind}_gen_{p})' for p in outs])});")
        checks += [(f"{kind}_ref_{p}", f"{kind}_gen_{p}", kind, p) for p in outs]
    lines += ["  initial begin", '    f = $fopen("compare.txt", "w");']
    for step in range(steps):
        clocks = []     # a clock pin changes 2 ns after the data: no race at the edge
        for kind in kinds:
            cell = library.cells[kind]
            ins = cell.inputs
            if not cell.sequential and step < 2 ** len(ins):
                bits = [(step >> k) & 1 for k in range(len(ins))]
            else:
                bits = [rng.randint(0, 1) for _ in ins]
            if kind == "DFFSR" and bits[ins.index("R")] == bits[ins.index("S")] == 0:
                bits[ins.index(rng.choice(["R", "S"]))] = 1    # not both: see the module doc
            for p, b in zip(ins, bits):
                (clocks if cell.pins[p].clock else lines).append(f"    {kind}_{p} = {b};")
        lines += ["    #2;", *clocks, "    #3;"]
        lines.append("    $fwrite(f, \"" + " ".join(["%b"] * 2 * len(checks)) + "\\n\", "
                     + ", ".join(f"{r}, {g}" for r, g, _, _ in checks) + ");")
    lines += ["    $fclose(f);", "    $finish;", "  end", "endmodule", ""]
    return "\n".join(lines) + models_text.replace("module ", "module gen_")


def _compare(tmp_path, library, kinds, models_text, *, delays: bool, steps=200, seed=1):
    (tmp_path / "tb.v").write_text(_bench(library, kinds, models_text, steps, seed))
    flags = ["-gspecify"] if delays else []
    subprocess.run(["iverilog", "-g2005", *flags, "-o", "sim.vvp", "tb.v", str(OSU_VERILOG)],
                   cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["vvp", "-n", "sim.vvp"], cwd=tmp_path, check=True, capture_output=True)
    checks = [(kind, pin) for kind in kinds for pin in library.cells[kind].outputs]
    compared = mismatches = 0
    for line in (tmp_path / "compare.txt").read_text().split("\n"):
        values = line.split()
        for (kind, pin), ref, gen in zip(checks, values[0::2], values[1::2]):
            if ref in "01":                     # OSU's flops start unknown
                compared += 1
                if ref != gen:
                    mismatches += 1
                    first = first if mismatches > 1 else (kind, pin, ref, gen)
    return compared, mismatches, (first if mismatches else None)


def _modelled(library) -> list[str]:
    kinds = []
    for name, cell in library.cells.items():
        try:
            cell_model(library, cell, delays=False)
        except LibertyError:
            continue
        if cell.outputs:
            kinds.append(name)
    return kinds


@pytest.mark.parametrize("delays", [False, True], ids=["zero-delay", "cell-delays"])
def test_generated_models_match_osus_own_on_every_cell(tmp_path, delays):
    library = _osu()
    kinds = _modelled(library)
    assert {"DFFPOSX1", "DFFNEGX1", "DFFSR", "LATCH", "FAX1", "MUX2X1", "XOR2X1"} <= set(kinds)
    assert not {"TBUFX1", "TBUFX2"} & set(kinds)          # refused: tristate
    compared, mismatches, first = _compare(tmp_path, library, kinds,
                                           cell_models(library, kinds, delays=delays), delays=delays)
    assert compared > 200 * len(kinds) and mismatches == 0, first


def test_a_wrong_model_is_caught(tmp_path):
    library = _osu()
    text = cell_models(library, ["AOI21X1", "DFFPOSX1"], delays=False)
    broken = text.replace("assign Y = ~", "assign Y = ", 1)
    assert broken != text
    _, mismatches, _ = _compare(tmp_path, library, ["AOI21X1", "DFFPOSX1"], broken, delays=False)
    assert mismatches > 0


@pytest.mark.parametrize("name", ["sky130hd", "asap7", "gf180mcu"])
def test_models_of_the_mapped_cells_of_each_pdk_compile(tmp_path, name):
    if pdk.find_files(pdk.KNOWN[name]) is None:
        pytest.skip(f"{name} is not installed here (no $PDK_ROOT layout, no {pdk.SHARED_PDK})")
    library = pdk.load(name)
    kinds = [k for k in _modelled(library) if library.usable(k) or library.cells[k].clock_gating]
    usable = {k for k, c in library.cells.items() if library.usable(k) and c.outputs
              and not any(p.three_state for p in c.pins.values())}
    assert usable <= set(kinds), sorted(usable - set(kinds))[:5]      # every cell ABC may pick
    (tmp_path / "cells.v").write_text(cell_models(library, kinds, delays=True))
    proc = subprocess.run(["iverilog", "-g2005", "-gspecify", "-o", "x.vvp", "cells.v"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[:2000]
