"""Gate-level simulation of a mapped netlist with Icarus, and per-net toggle counts from its VCD.

The netlist from synth/techmap.py is simulated with the library's own Verilog cell
models (`osu018_stdcells.v`, GPL, read from the Debian package, never copied) or, for a
library that ships none, models built from its Liberty file (energy/cellmodels.py). A
generated testbench reads one line of input-port values per cycle from a hex file,
drives them at the rising clock edge (non-blocking, in the same time step as the
flops switch, as a neighbour's registers would) and writes the output ports just
before the next edge, so the caller checks them against the golden model.

Two glitch models (docs/energy.md):

- ``zero-delay``: the cell models without delays; every net settles within the time
  step of the edge, so a net toggles at most once per cycle (the functional activity);
- ``cell-delays``: ``iverilog -gspecify`` applies the models' `specify` path delays;
  a gate output then also toggles on the transient values its inputs take while the
  logic settles (glitches). Icarus' path delays are inertial: a pulse shorter than the
  cell's delay is swallowed.

A netlist with clock gates (synth/techmap.py) is simulated with each gated flop on the
ungated clock behind a hold multiplexer (`simulation_verilog`): the same values at every
edge, without the race a zero-delay gated clock has with the data it samples (the
gate's AND output rises a delta after the clock, when a neighbouring flop's new output
may already be there). The clock gates themselves are simulated as they are, so the
gated clock nets toggle as in the gated circuit and are priced from their toggles; the
hold multiplexers are not in the energy model.

Toggles are read from a VCD of the netlist's top-level nets (the flat netlist has every
net there), counting 0<->1 changes of each net's value at the end of each time step
(a change and its reversal in one time step is no toggle; x/z are ignored). Its times
are in the unit of its `$timescale` section (Icarus writes the simulation precision).
The VCD is streamed and deleted; only the counts are kept, binned by cycle when asked.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from nbsmt.synth.techmap import OSU_LIBERTY, Netlist, to_verilog

#: The library's Verilog cell models (Debian qflow-tech-osu018, next to the Liberty file).
OSU_VERILOG = OSU_LIBERTY.with_name("osu018_stdcells.v")
GLITCH_MODELS = ("zero-delay", "cell-delays")
#: Clock period of the simulations (ns): long enough for every mapped PE and array
#: path to settle with cell delays, so no flop samples a transient value.
SIM_PERIOD_NS = 40
CLOCK, RESET = "clk", "rst"
RESET_CYCLES = 2


class GateSimError(RuntimeError):
    """Icarus failed or the netlist's outputs could not be read; one line says why."""


@dataclasses.dataclass
class GateRun:
    outputs: dict[str, list[int]]    # port -> value per cycle (None where it had x/z)
    toggles: np.ndarray              # [bins, nets] 0<->1 toggles per net (nets in `nets` order)
    nets: list[int]
    cycles: int
    model: str


def testbench(netlist: Netlist, inputs: list[str], outputs: list[str], cycles: int,
              period_ns: float) -> str:
    """Verilog testbench `tb` around the netlist (module doc)."""
    top = netlist.top
    width = {name: len(bits) for name, (_, bits) in netlist.ports.items()}
    in_bits = sum(width[p] for p in inputs)
    half = period_ns / 2
    lines = ["`timescale 1ns/10ps", "module tb;", f"  reg {CLOCK} = 0, {RESET} = 1;"]
    lines += [f"  reg [{width[p] - 1}:0] {p} = 0;" for p in inputs]
    lines += [f"  wire [{width[p] - 1}:0] {p};" for p in outputs]
    conns = [f".{p}({p})" for p in [CLOCK, *inputs, *outputs] if p in netlist.ports]
    if RESET in netlist.ports:
        conns.append(f".{RESET}({RESET})")
    lines += [f"  {top} dut ({', '.join(conns)});",
              f"  reg [{max(in_bits, 1) - 1}:0] stim [0:{cycles - 1}];",
              "  integer i, f;",
              "  initial begin",
              '    $readmemh("stimulus.hex", stim);' if inputs else "",
              '    f = $fopen("outputs.txt", "w");',
              f"    repeat ({RESET_CYCLES}) begin #{half} {CLOCK} = 1; #{half} {CLOCK} = 0; end",
              f"    #{half - 1};",
              '    $dumpfile("activity.vcd");',
              "    $dumpvars(1, dut);",
              "    #1;",
              f"    for (i = 0; i < {cycles}; i = i + 1) begin",
              f"      {CLOCK} = 1;",
              f"      {{{', '.join(inputs)}}} <= stim[i];" if inputs else "",
              f"      {RESET} <= 0;",
              f"      #{half} {CLOCK} = 0;",
              f"      #{half - 1};",
              f'      $fwrite(f, "{" ".join(["%h"] * len(outputs))}\\n", {", ".join(outputs)});',
              "      #1;",
              "    end",
              "    $fclose(f);",
              "    $finish;",
              "  end",
              "endmodule", ""]
    return "\n".join(lines)


#: The simulation-only hold multiplexer of a gated flop (`simulation_verilog`).
_HOLD_CELL = "NBSMT_HOLD"
_HOLD_MODEL = (f"module {_HOLD_CELL} (input E, D, Q, output Y);\n"
               "  assign Y = E ? D : Q;\nendmodule\n")


def simulation_verilog(netlist: Netlist) -> str:
    """The structural Verilog Icarus runs: `to_verilog`, with every flop on a gated clock
    moved to the clock it gates behind a hold multiplexer on its enable (module doc)."""
    if not netlist.clock_gates:
        return to_verilog(netlist)
    cells = dict(netlist.cells)
    net = netlist.next_net()
    for name, (kind, pins) in netlist.cells.items():
        gate = netlist.clock_gates.get(pins.get("CLK"))
        if gate is None or "D" not in pins or "Q" not in pins:
            continue
        enable, clock = gate
        cells[name] = (kind, {**pins, "CLK": clock, "D": net})
        cells[f"{name}_hold"] = (_HOLD_CELL, {"E": enable, "D": pins["D"], "Q": pins["Q"], "Y": net})
        net += 1
    return to_verilog(Netlist(netlist.top, netlist.ports, cells)) + _HOLD_MODEL


def _stimulus(netlist: Netlist, inputs: list[str], values: dict[str, list[int]], cycles: int) -> str:
    widths = [len(netlist.ports[p][1]) for p in inputs]
    total = sum(widths)
    digits = max(1, -(-total // 4))
    rows = []
    for c in range(cycles):
        word = 0
        for p, wd in zip(inputs, widths):
            word = (word << wd) | (int(values[p][c]) & ((1 << wd) - 1))
        rows.append(f"{word:0{digits}x}")
    return "\n".join(rows) + "\n"


_VAR = re.compile(r"\$var\s+\S+\s+(\d+)\s+(\S+)\s+(\S+)(?:\s+\[(\d+)(?::(\d+))?\])?\s+\$end")
_TIMESCALE = re.compile(r"\$timescale\s+(1|10|100)\s*(s|ms|us|ns|ps|fs)\s+\$end")
#: ns per VCD time unit, exact (10ps -> 1/100, the float 0.01).
_VCD_UNITS_NS = {"s": Fraction(10**9), "ms": Fraction(10**6), "us": Fraction(10**3), "ns": Fraction(1),
                 "ps": Fraction(1, 10**3), "fs": Fraction(1, 10**6)}


def count_toggles(vcd: Path, netlist: Netlist, nets: list[int], *, t0: float, period: float,
                  bins: int) -> np.ndarray:
    """Toggles [bins, nets] of the netlist's nets in `vcd` (module doc); a change at time t
    (ns, converted from the VCD's `$timescale`) counts in bin floor((t - t0) / period),
    clipped to [0, bins)."""
    index = {n: i for i, n in enumerate(nets)}
    timescale_ns = None
    # VCD id -> list of (bit position from the LSB, net index)
    targets: dict[str, list[tuple[int, int]]] = {}
    widths: dict[str, int] = {}
    counts = np.zeros((bins, len(nets)), dtype=np.int32)
    with open(vcd) as fh:
        for line in fh:
            if line.lstrip().startswith("$timescale"):
                while "$end" not in line:      # the section may span lines
                    more = fh.readline()
                    if not more:
                        break
                    line += more
                m = _TIMESCALE.search(line)
                if not m:
                    raise GateSimError(f"{vcd}: cannot read the timescale {' '.join(line.split())!r}")
                timescale_ns = float(int(m.group(1)) * _VCD_UNITS_NS[m.group(2)])
            elif line.startswith("$var"):
                m = _VAR.search(line)
                if not m:
                    continue
                size, code, name, msb, lsb = m.groups()
                size = int(size)
                bits = []
                if re.fullmatch(r"n\d+", name) and int(name[1:]) in index:
                    bits = [(0, index[int(name[1:])])]
                elif name in netlist.ports:
                    port_bits = netlist.ports[name][1]
                    low = int(lsb) if lsb is not None else (int(msb) if msb is not None else 0)
                    for pos in range(size):
                        net = port_bits[low + pos] if low + pos < len(port_bits) else None
                        if isinstance(net, int) and net in index:
                            bits.append((pos, index[net]))
                if bits:
                    targets[code] = bits
                    widths[code] = size
            elif line.startswith("$enddefinitions"):
                break
        if timescale_ns is None:
            raise GateSimError(f"{vcd}: no $timescale section")
        # Scalars (nearly every net) take a fast path: code -> net index.
        scalar = {code: bits[0][1] for code, bits in targets.items() if widths[code] == 1}
        committed: dict[str, str] = {}
        current: dict[str, str] = {}
        now_bin = 0

        def flush() -> None:
            row = counts[now_bin]
            for code, new in current.items():
                old = committed.get(code)
                committed[code] = new
                if old is None or old == new:
                    continue
                i = scalar.get(code)
                if i is not None:
                    if old in "01" and new in "01":
                        row[i] += 1
                    continue
                for pos, i in targets[code]:
                    a, b = old[-1 - pos], new[-1 - pos]
                    if a != b and a in "01" and b in "01":
                        row[i] += 1
            current.clear()

        for line in fh:
            c = line[0]
            if c == "#":
                flush()
                t = int(line[1:]) * timescale_ns
                now_bin = min(max(int((t - t0) // period), 0), bins - 1)
            elif c in "01xzXZ":
                code = line[1:].rstrip("\n")
                if code in targets:
                    current[code] = c.lower()
            elif c in "bB":
                value, code = line[1:].split()
                if code in targets:
                    size = widths[code]
                    pad = "0" if value[0] in "01" else value[0].lower()
                    current[code] = value.lower().rjust(size, pad)
        flush()
    return counts


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [l.strip() for l in (proc.stderr + proc.stdout).splitlines() if l.strip()]
        raise GateSimError(f"{what} failed: {lines[0] if lines else f'exit {proc.returncode}'}")


def simulate(netlist: Netlist, verilog: str, inputs: dict[str, list[int]], outputs: list[str],
             nets: list[int], *, model: str, workdir: Path, bins: int = 1,
             period_ns: float = SIM_PERIOD_NS, cycles: int | None = None,
             cell_models: Path = OSU_VERILOG) -> GateRun:
    """Simulate `cycles` (default: the inputs' length) cycles of the netlist (text
    `verilog`) in Icarus under `model` with the Verilog `cell_models` (OSU's own, or
    energy/cellmodels.py's); outputs per cycle and toggles of `nets` per bin."""
    if model not in GLITCH_MODELS:
        raise ValueError(f"glitch model must be one of {', '.join(GLITCH_MODELS)}, not {model!r}")
    if shutil.which("iverilog") is None:
        raise GateSimError("Icarus Verilog (iverilog) is not installed: run `make setup`")
    cycles = cycles if cycles is not None else len(next(iter(inputs.values())))
    names = list(inputs)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "netlist.v").write_text("`timescale 1ns/10ps\n" + verilog)
    (workdir / "tb.v").write_text(testbench(netlist, names, outputs, cycles, period_ns))
    (workdir / "stimulus.hex").write_text(_stimulus(netlist, names, inputs, cycles))
    flags = ["-gspecify"] if model == "cell-delays" else []
    _run(["iverilog", "-g2005", *flags, "-s", "tb", "-o", "sim.vvp", "tb.v", "netlist.v",
          str(cell_models)], workdir, "iverilog")
    _run(["vvp", "-n", "sim.vvp"], workdir, "vvp")
    t0 = (RESET_CYCLES + 0.5) * period_ns
    per_bin = -(-cycles // bins)
    toggles = count_toggles(workdir / "activity.vcd", netlist, nets, t0=t0,
                            period=period_ns * per_bin, bins=bins)
    (workdir / "activity.vcd").unlink()
    rows = (workdir / "outputs.txt").read_text().split("\n")[:cycles]
    values: dict[str, list] = {p: [] for p in outputs}
    for row in rows:
        for p, text in zip(outputs, row.split()):
            values[p].append(int(text, 16) if re.fullmatch(r"[0-9a-fA-F]+", text) else None)
    if len(rows) != cycles or any(len(v) != cycles for v in values.values()):
        raise GateSimError(f"expected {cycles} output rows in {workdir / 'outputs.txt'}")
    return GateRun(values, toggles, nets, cycles, model)
