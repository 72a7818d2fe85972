"""Verilog simulation models of Liberty cells, for gate-level runs on libraries that ship none.

Only OSU 0.18 um comes with Verilog models (energy/gatesim.py uses them there). For any
other library the models are built here from the Liberty file itself, one generator for
all libraries:

- an output pin with a `function` is a continuous assignment of it (Liberty's
  operators and precedence, synth/liberty.py `function_verilog`);
- an `ff (IQ, IQN)` group is a register on the rising edge of `clocked_on`, with its
  asynchronous `clear` and `preset` (clear wins, as `clear_preset_var1 : L` says for
  the libraries here); IQN is its complement;
- a `latch (IQ, IQN)` group is transparent while `enable` holds, with clear and preset;
- an integrated clock gate (`clock_gating_integrated_cell : latch_posedge*`) latches
  enable | test while the clock is low and passes the clock while the latch holds 1,
  whatever the file describes it with (ASAP7 uses a `statetable`).

Cells with tristate outputs, banks or other state tables are refused (the mappers do not
use them). With `delays`, each model carries `specify` path delays (`iverilog
-gspecify`) from the cell's own NLDM tables: every timing arc's cell_rise / cell_fall
at an FO4 load (four times the cell's mean input capacitance) and the flow's input
transition, per related pin; a flop's or latch's arcs from its clock or data pin too.
tests/test_cellmodels.py holds the models to OSU's own on every OSU cell.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbsmt.energy.gatesim import OSU_VERILOG
from nbsmt.synth.liberty import Cell, Library, LibertyError, function_verilog
from nbsmt.synth.techmap import OSU_LIBERTY, Netlist
from nbsmt.synth.timing import INPUT_SLEW_NS

#: Fan-out of the load the path delays are read at (a fan-out-of-4 inverter's is the
#: field's reference delay).
FANOUT = 4


def _identifier(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_]\w*", name) else "\\" + name + " "


def _state_names(cell: Cell) -> dict[str, str]:
    """The state variables of a cell's ff/latch group -> their Verilog names."""
    names = {}
    for group in cell.storage:
        for k, var in enumerate(group.args[:2]):
            names[var] = f"nbsmt_{'q' if k == 0 else 'qn'}"
    return names


def _arc_delays(library: Library, cell: Cell) -> list[tuple[str, str, float, float]]:
    """(input pin, output pin, rise ns, fall ns) of every timing arc with delay tables."""
    ins = [cell.pins[p] for p in cell.inputs]
    if not ins:
        return []
    mean_cap = sum(p.capacitance for p in ins) / len(ins)
    load, slew = FANOUT * mean_cap, library.scale_time(INPUT_SLEW_NS)
    to_ns = library.units.time / 1e-9 if library.units.time else 1.0
    arcs = {}
    for out in cell.outputs:
        for arc in cell.pins[out].arcs:
            if arc.related_pin not in cell.inputs or "cell_rise" not in arc.tables \
                    or "cell_fall" not in arc.tables:
                continue
            rise = max(0.0, arc.tables["cell_rise"].lookup(load, slew)) * to_ns
            fall = max(0.0, arc.tables["cell_fall"].lookup(load, slew)) * to_ns
            key = (arc.related_pin, out)      # several arcs of one pair (when-conditions): worst
            old = arcs.get(key, (0.0, 0.0))
            arcs[key] = (max(old[0], rise), max(old[1], fall))
    return [(i, o, r, f) for (i, o), (r, f) in arcs.items()]


def cell_model(library: Library, cell: Cell, *, delays: bool) -> str:
    """The Verilog module of one cell (module doc); LibertyError when it cannot be modelled."""
    ports = cell.inputs + cell.outputs
    if any(p.direction == "inout" or p.three_state for p in cell.pins.values()):
        raise LibertyError(f"cell {cell.name}: tristate or inout pins cannot be modelled")
    lines = [f"module {_identifier(cell.name)} ({', '.join(_identifier(p) for p in ports)});"]
    lines += [f"  input {_identifier(p)};" for p in cell.inputs]
    lines += [f"  output {_identifier(p)};" for p in cell.outputs]
    state = _state_names(cell)

    def expr(text: str) -> str:
        return function_verilog(text, lambda n: state.get(n) or _identifier(n))

    outputs_from_state = {}
    if cell.clock_gating and cell.clock_gating.startswith("latch_posedge"):
        roles = {p.clock_gate_role: p.name for p in cell.pins.values() if p.clock_gate_role}
        if not {"clock", "enable", "out"} <= roles.keys():
            raise LibertyError(f"cell {cell.name}: clock gate without clock, enable and out pins")
        enable = _identifier(roles["enable"]) + (f" | {_identifier(roles['test'])}" if "test" in roles else "")
        clock = _identifier(roles["clock"])
        lines += ["  reg nbsmt_q = 1'b0;",
                  f"  always @(*) if (!{clock}) nbsmt_q = {enable};",
                  f"  assign {_identifier(roles['out'])} = {clock} & nbsmt_q;"]
        outputs_from_state[roles["out"]] = True
    elif cell.storage:
        if len(cell.storage) != 1 or cell.storage[0].kind not in ("ff", "latch"):
            raise LibertyError(f"cell {cell.name}: only one ff or latch group can be modelled")
        group = cell.storage[0]
        a = group.attrs
        lines += ["  reg nbsmt_q = 1'b0;", "  wire nbsmt_qn = ~nbsmt_q;"]
        clear = expr(str(a["clear"])) if "clear" in a else None
        preset = expr(str(a["preset"])) if "preset" in a else None
        if clear:
            lines.append(f"  wire nbsmt_clear = {clear};")
        if preset:
            lines.append(f"  wire nbsmt_preset = {preset};")
        priority = (["if (nbsmt_clear) nbsmt_q <= 1'b0; else "] if clear else []) + \
                   (["if (nbsmt_preset) nbsmt_q <= 1'b1; else "] if preset else [])
        if group.kind == "ff":
            if "clocked_on" not in a or "next_state" not in a:
                raise LibertyError(f"cell {cell.name}: ff group without clocked_on and next_state")
            lines.append(f"  wire nbsmt_clock = {expr(str(a['clocked_on']))};")
            events = ["posedge nbsmt_clock"] + (["posedge nbsmt_clear"] if clear else []) + \
                     (["posedge nbsmt_preset"] if preset else [])
            lines.append(f"  always @({' or '.join(events)}) {''.join(priority)}"
                         f"nbsmt_q <= {expr(str(a['next_state']))};")
        else:
            if "enable" not in a or "data_in" not in a:
                raise LibertyError(f"cell {cell.name}: latch group without enable and data_in")
            lines.append(f"  always @(*) {''.join(priority).replace('<=', '=')}"
                         f"if ({expr(str(a['enable']))}) nbsmt_q = {expr(str(a['data_in']))};")
    for out in cell.outputs:
        if out in outputs_from_state:
            continue
        function = cell.pins[out].function
        if function is None:
            raise LibertyError(f"cell {cell.name}: output {out} has no function")
        lines.append(f"  assign {_identifier(out)} = {expr(str(function))};")
    if delays:
        arcs = _arc_delays(library, cell)
        if arcs:
            lines.append("  specify")
            lines += [f"    ({_identifier(i)} *> {_identifier(o)}) = ({r:.4f}, {f:.4f});"
                      for i, o, r, f in arcs]
            lines.append("  endspecify")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def cell_models(library: Library, kinds, *, delays: bool) -> str:
    """Verilog models of the cells `kinds` of `library` (one file, `timescale 1ns/1ps so
    a 7 nm gate's few picoseconds are kept)."""
    missing = sorted(set(kinds) - library.cells.keys())
    if missing:
        raise LibertyError(f"{library.path.name} has no cell {missing[0]}")
    return "`timescale 1ns/1ps\n" + "".join(
        cell_model(library, library.cells[k], delays=delays) for k in sorted(set(kinds)))


def settle_bound_ns(library: Library, netlist: Netlist) -> float:
    """An upper bound on how long the netlist's logic takes to settle with the models'
    delays: its deepest chain of combinational cells (flop to flop, ports to flops) times
    the slowest arc of the cells it uses, plus one clock-to-output delay. The cell-delay
    simulation's period must exceed it, or flops would sample transient values."""
    delays = {kind: max((max(r, f) for _, _, r, f in _arc_delays(library, library.cells[kind])),
                        default=0.0) for kind in {k for k, _ in netlist.cells.values()}}
    slowest = max(delays.values(), default=0.0)
    drivers, loads = {}, {}
    for name, (kind, pins) in netlist.cells.items():
        cell = library.cells[kind]
        if cell.sequential or cell.clock_gating:
            continue                   # a chain starts at a state element's output
        for pin, net in pins.items():
            if not isinstance(net, int):
                continue
            if pin in cell.outputs:
                drivers[net] = name
            else:
                loads.setdefault(name, []).append(net)
    depth: dict[str, int] = {}
    for start in loads:                # iterative DFS: longest chain of combinational cells
        stack = [(start, False)]
        while stack:
            name, done = stack.pop()
            if name in depth:
                continue
            fanin = [drivers[n] for n in loads.get(name, []) if n in drivers]
            if done:
                depth[name] = 1 + max((depth[f] for f in fanin), default=0)
                continue
            stack.append((name, True))
            stack += [(f, False) for f in fanin if f not in depth]
    return (max(depth.values(), default=0) + 1) * slowest


def model_file(library: Library, netlist: Netlist, workdir: Path) -> Path:
    """The Verilog cell models to simulate `netlist` with: OSU's own where the library is
    OSU's, else models of the netlist's cells built from the Liberty file into workdir."""
    if library.files == (OSU_LIBERTY.resolve(),) or library.path == OSU_LIBERTY.resolve():
        return OSU_VERILOG
    path = Path(workdir) / "cells.v"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cell_models(library, {k for k, _ in netlist.cells.values()}, delays=True))
    return path
