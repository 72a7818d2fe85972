"""Static timing with OpenSTA: the clock a mapped design meets and the path that sets it.

OpenSTA (Debian package `opensta`, the `sta` binary; GPL, installed, not vendored) reads
the library and the flat netlist from synth/techmap.py and times every register-to-
register, input-to-register and register-to-output path against one ideal clock. What
the flow assumes about the outside world (the loads the known-delay test recomputes):

- inputs change at the clock edge (`set_input_delay 0`) with a transition of
  INPUT_SLEW_NS; outputs must settle by the next edge (`set_output_delay 0`) and each
  drives the D pin of one library flip-flop (`set_load`);
- no wire capacitance or resistance (no placement, no wire-load model) and an ideal
  clock (no clock tree, skew or jitter).

The critical path delay is the shortest period the design meets: the nominal period
less the worst slack (arrival plus the endpoint's setup time). Every cell on the path
is named with its place in the hierarchy, so the report says which blocks it crosses.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path

from nbsmt.synth.liberty import Library, write_files

#: Transition time (ns) of every input port.
INPUT_SLEW_NS = 0.1
#: The clock period STA is run with (ns); the report's figures do not depend on it.
NOMINAL_PERIOD_NS = 10.0
STA_BINARY = "sta"
STA_PACKAGE = "opensta"

BLOCKS = ("reduce", "mult", "accum", "pipeline", "pass-through", "skew", "drain",
          "output-buffer", "counters", "control", "fanout-tree")


class TimingError(RuntimeError):
    """OpenSTA failed or reported no path; the message says why in one line."""


@functools.cache
def sta_path() -> str | None:
    return shutil.which(STA_BINARY)


@functools.cache
def sta_version() -> str:
    path = sta_path()
    if path is None:
        return "missing"
    proc = subprocess.run([path, "-version"], capture_output=True, text=True)
    return (proc.stdout or proc.stderr).strip() or "unknown"


def tcl_script(top: str, *, output_load_pf: float, period_ns: float = NOMINAL_PERIOD_NS,
               clock: str | None = "clk", liberty: tuple[str, ...] = ("cells.lib",)) -> str:
    """OpenSTA commands for the `liberty` files + netlist.v in the working folder (module
    doc)."""
    lines = [*(f"read_liberty {name}" for name in liberty),
             # every number below and in the report in ns and pF, whatever the library's units
             "set_cmd_units -time ns -capacitance pF",
             "read_verilog netlist.v", f"link_design {top}"]
    if clock:
        lines += [f"create_clock -name clk -period {period_ns} [get_ports {clock}]",
                  f"set inputs [delete_from_list [all_inputs] [get_ports {clock}]]"]
    else:   # a purely combinational netlist: a virtual clock times port to port
        lines += [f"create_clock -name clk -period {period_ns}", "set inputs [all_inputs]"]
    lines += [
        "set_input_delay 0 -clock clk $inputs",
        f"set_input_transition {INPUT_SLEW_NS} $inputs",
        "set_output_delay 0 -clock clk [all_outputs]",
        f"set_load {output_load_pf} [all_outputs]",
        "report_checks -path_delay max -digits 4 -fields {fanout cap slew}",
        "exit",
    ]
    return "\n".join(lines) + "\n"


_POINT = re.compile(r"^\s*(?:-?[\d.]+\s+)*?(-?[\d.]+)\s+(-?[\d.]+)\s+([\^v])\s+(\S+)\s+\(([^)]*)\)\s*$")


_PE_BLOCKS = {"reduce": "reduce", "mult": "mult", "accum": "accum",
              "pipe1": "pipeline", "pipe2": "pipeline"}
_ARRAY_BLOCKS = {"skew_a": "skew", "skew_w": "skew", "drain": "drain", "outbuf": "output-buffer",
                 "counters": "counters"}


def block_of(instance: str, design: str = "array") -> str:
    """The block a netlist instance belongs to, from its hierarchical name.

    Inside a PE (`pe_i_j.` in an array, or the top of a PE design) its submodules name
    the block and its own cells are the pass-through registers; in an array the skews,
    drain, output buffer and counters name theirs and the top's own cells are the
    admission control.
    Fanout-repair buffers are their own block.
    """
    parts = instance.split(".")
    if parts[0].startswith("fanout_buf_"):
        return "fanout-tree"
    if design == "array":
        if re.fullmatch(r"pe_\d+_\d+", parts[0]):
            parts = parts[1:]
        elif len(parts) == 1:
            return "control"
        else:
            return _ARRAY_BLOCKS.get(parts[0], "control")
    return _PE_BLOCKS.get(parts[0], "pass-through") if len(parts) > 1 else "pass-through"


def parse_report(text: str, period_ns: float, *, design_kind: str = "array") -> dict:
    """The critical path from `report_checks` output: delay, start/end points, the cells
    it crosses (pin, cell type, incremental and cumulative delay, block)."""
    start = re.search(r"^Startpoint:\s*(\S+)(?:\s+\((.*)\))?", text, re.M)
    end = re.search(r"^Endpoint:\s*(\S+)(?:\s+\((.*)\))?", text, re.M)
    slack = re.search(r"^\s*(-?[\d.]+)\s+slack\s+\((MET|VIOLATED)\)", text, re.M)
    arrival = re.search(r"^\s*(-?[\d.]+)\s+data arrival time", text, re.M)
    if not (start and end and slack and arrival):
        lines = [l.strip() for l in text.splitlines() if l.strip()]
        errors = [l for l in lines if l.startswith(("Error", "Warning: no", "No paths"))]
        raise TimingError(errors[0] if errors else "OpenSTA reported no timing path")
    points = []
    body = text[start.start():arrival.end()]
    for line in body.splitlines():
        m = _POINT.match(line)
        if not m:
            continue
        delay, at, edge, pin, cell = m.groups()
        instance = pin.rsplit("/", 1)[0] if "/" in pin else pin
        instance = instance.replace("\\", "")
        port = cell in ("in", "out")
        block = "port" if port else block_of(instance, design_kind)
        points.append({"pin": pin.replace("\\", ""), "cell": cell, "edge": "rise" if edge == "^" else "fall",
                       "delay_ns": float(delay), "time_ns": float(at), "block": block})
    critical = period_ns - float(slack.group(1))
    blocks = []
    for p in points:
        if p["block"] != "port" and (not blocks or blocks[-1] != p["block"]):
            blocks.append(p["block"])
    return {
        "critical_path_ns": round(critical, 4),
        "fmax_mhz": round(1000.0 / critical, 2) if critical > 0 else None,
        "arrival_ns": float(arrival.group(1)),
        "setup_ns": round(critical - float(arrival.group(1)), 4),
        "startpoint": start.group(1).replace("\\", ""),
        "endpoint": end.group(1).replace("\\", ""),
        "start_kind": start.group(2) or "", "end_kind": end.group(2) or "",
        "blocks": blocks,
        "cells_on_path": sum(1 for p in points if p["block"] != "port"),
        "path": points,
    }


def run_sta(netlist_verilog: str, top: str, library: Library, workdir: Path, *,
            output_load_pf: float, design_kind: str = "array", clock: str | None = "clk",
            period_ns: float = NOMINAL_PERIOD_NS) -> dict:
    """Time `netlist_verilog` on `library` with OpenSTA in `workdir`; the parsed critical
    path (in ns, whatever the library's time unit)."""
    path = sta_path()
    if path is None:
        raise TimingError(f"OpenSTA ('{STA_BINARY}') is not installed: run `make setup` "
                          f"or `apt-get install {STA_PACKAGE}`")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "netlist.v").write_text(netlist_verilog)
    liberty = tuple(write_files(library, workdir))
    (workdir / "sta.tcl").write_text(tcl_script(top, output_load_pf=output_load_pf,
                                                period_ns=period_ns, clock=clock, liberty=liberty))
    proc = subprocess.run([path, "-no_splash", "-exit", "sta.tcl"], cwd=workdir,
                          capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    (workdir / "sta.log").write_text(text)
    if proc.returncode != 0:
        errors = [l.strip() for l in text.splitlines() if l.strip().startswith("Error")]
        raise TimingError(errors[0] if errors else f"sta exited with {proc.returncode}")
    return parse_report(text, period_ns, design_kind=design_kind)
