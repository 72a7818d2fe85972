"""Liberty timing data: cells, pins, load capacitances and NLDM delay tables.

The area flow only needs cell areas (synth/liberty.py); timing needs more of the file:
which pins are inputs, outputs or clocks, each input's capacitance (the load it puts
on the net driving it) and each arc's non-linear delay model (NLDM) tables, delay and
output transition as functions of output load and input transition. The timing flow
uses it to check that a library can be timed at all, to pick the buffer for fanout
repair (synth/techmap.py) and, in the tests, to compute a path delay by hand and hold
OpenSTA to it. Table lookup follows OpenSTA: bilinear interpolation inside the table,
linear extrapolation from the two outermost points outside it.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import re
from pathlib import Path

from nbsmt.synth.liberty import LibertyError, _strip_comments

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}();:,]|[^\s{}();:,"]+')


@dataclasses.dataclass
class Group:
    """One Liberty group: `kind (args) { attributes; subgroups }`."""

    kind: str
    args: list[str]
    attrs: dict[str, str | list[str]] = dataclasses.field(default_factory=dict)
    groups: list["Group"] = dataclasses.field(default_factory=list)

    def find(self, kind: str) -> list["Group"]:
        return [g for g in self.groups if g.kind == kind]


def _unquote(token: str) -> str:
    return token[1:-1] if token.startswith('"') else token


def parse(text: str) -> Group:
    """The top `library (...)` group of Liberty `text` (comments and line continuations
    removed). Complex attributes (`index_1 ("...")`, `values (...)`) keep their
    argument strings as a list."""
    tokens = _TOKEN.findall(_strip_comments(text).replace("\\\n", " "))
    pos = 0

    def group_body(group: Group) -> None:
        nonlocal pos
        while pos < len(tokens) and tokens[pos] != "}":
            name = tokens[pos]
            pos += 1
            if tokens[pos] == ":":                      # simple attribute: name : value ;
                value = tokens[pos + 1]
                pos += 2
                while pos < len(tokens) and tokens[pos] not in (";", "}"):
                    value += " " + tokens[pos]          # unquoted values with spaces
                    pos += 1
                if pos < len(tokens) and tokens[pos] == ";":
                    pos += 1
                group.attrs[name] = _unquote(value)
                continue
            if tokens[pos] != "(":
                raise LibertyError(f"unexpected {tokens[pos]!r} after {name!r}")
            pos += 1
            args = []
            while tokens[pos] != ")":
                if tokens[pos] != ",":
                    args.append(_unquote(tokens[pos]))
                pos += 1
            pos += 1
            if pos < len(tokens) and tokens[pos] == "{":    # subgroup
                pos += 1
                child = Group(name, args)
                group_body(child)
                pos += 1                                    # the closing brace
                group.groups.append(child)
            else:                                           # complex attribute
                if pos < len(tokens) and tokens[pos] == ";":
                    pos += 1
                group.attrs[name] = args

    try:
        while pos < len(tokens) and tokens[pos] != "library":
            pos += 1
        if pos >= len(tokens):
            raise LibertyError("no 'library (...)' group")
        top = Group("library", [])
        pos += 1
        group_body_start = tokens.index("{", pos)
        top.args = [_unquote(t) for t in tokens[pos + 1:group_body_start - 1] if t != ","]
        pos = group_body_start + 1
        group_body(top)
    except IndexError:
        raise LibertyError("unbalanced Liberty file (unexpected end)") from None
    return top


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.replace(",", " ").split()]


@dataclasses.dataclass
class Table:
    """One NLDM table: `values[i][j]` at (`index_1[i]`, `index_2[j]`) with the template's
    variable names; a 1-D table has an empty `index_2`."""

    variables: tuple[str, ...]
    index_1: list[float]
    index_2: list[float]
    values: list[list[float]]

    def lookup(self, load: float, slew: float) -> float:
        """The value at output load `load` (pF) and input transition `slew` (ns)."""
        point = {"total_output_net_capacitance": load, "input_net_transition": slew,
                 "input_transition_time": slew}
        x1 = point[self.variables[0]]
        if not self.index_2:
            return _interpolate(self.index_1, [row[0] for row in self.values], x1)
        x2 = point[self.variables[1]]
        column = [_interpolate(self.index_2, row, x2) for row in self.values]
        return _interpolate(self.index_1, column, x1)


def _interpolate(xs: list[float], ys: list[float], x: float) -> float:
    """Linear interpolation in the segment holding x; outside, the outermost segment's line."""
    if len(xs) == 1:
        return ys[0]
    i = min(max(bisect.bisect_right(xs, x) - 1, 0), len(xs) - 2)
    x0, x1 = xs[i], xs[i + 1]
    return ys[i] + (ys[i + 1] - ys[i]) * (x - x0) / (x1 - x0)


@dataclasses.dataclass
class Arc:
    """A timing arc into an output pin from `related_pin`."""

    related_pin: str
    sense: str                       # positive_unate, negative_unate, non_unate
    kind: str                        # combinational, rising_edge, setup_rising, ...
    tables: dict[str, Table]         # cell_rise, cell_fall, rise_transition, fall_transition


@dataclasses.dataclass
class Pin:
    name: str
    direction: str                   # input, output, inout
    capacitance: float
    rise_capacitance: float
    fall_capacitance: float
    function: str | None
    clock: bool
    arcs: list[Arc]


@dataclasses.dataclass
class Cell:
    name: str
    area: float
    pins: dict[str, Pin]
    sequential: bool
    clocked_on: str | None = None    # the ff group's clock expression ("CLK", "!CLK")

    @property
    def inputs(self) -> list[str]:
        return [p.name for p in self.pins.values() if p.direction == "input"]

    @property
    def outputs(self) -> list[str]:
        return [p.name for p in self.pins.values() if p.direction == "output"]

    @property
    def is_buffer(self) -> bool:
        """One input, one output that copies it, and no state."""
        ins, outs = self.inputs, self.outputs
        return (not self.sequential and len(ins) == 1 and len(outs) == 1
                and (self.pins[outs[0]].function or "").strip("() ") == ins[0])

    @property
    def is_inverter(self) -> bool:
        ins, outs = self.inputs, self.outputs
        function = (self.pins[outs[0]].function or "").replace(" ", "") if len(outs) == 1 else ""
        return (not self.sequential and len(ins) == 1 and len(outs) == 1
                and function in (f"!{ins[0]}", f"(!{ins[0]})", f"{ins[0]}'", f"({ins[0]}')"))


@dataclasses.dataclass
class TimingLibrary:
    path: Path
    name: str
    time_unit: str
    capacitance_unit: str
    cells: dict[str, Cell]
    digest: str = ""                 # sha256 of the file's bytes (keys the timing cache)

    @property
    def has_timing(self) -> bool:
        """True when some combinational arc has an NLDM delay table."""
        return any("cell_rise" in arc.tables or "cell_fall" in arc.tables
                   for cell in self.cells.values() for pin in cell.pins.values()
                   for arc in pin.arcs)

    def flip_flop_data_capacitance(self) -> float:
        """Input capacitance of the D pin of the smallest positive-edge flip-flop (the
        load the timing flow assumes on every output port)."""
        flops = [c for c in self.cells.values() if c.sequential and "D" in c.pins
                 and c.clocked_on and not re.search(r"[!']", c.clocked_on)]
        if not flops:
            raise LibertyError(f"{self.path.name}: no flip-flop with a D pin")
        return min(flops, key=lambda c: c.area).pins["D"].capacitance

    def strongest_buffer(self) -> Cell:
        """The buffer (not a clock buffer) with the lowest delay into a load of 16 of its
        own inputs: the cell fanout repair drives trees with."""
        buffers = [c for c in self.cells.values()
                   if c.is_buffer and not c.name.upper().startswith("CLK")] or \
                  [c for c in self.cells.values() if c.is_buffer]
        if not buffers:
            raise LibertyError(f"{self.path.name}: no buffer cell for fanout repair")

        def delay(cell: Cell) -> float:
            pin = cell.pins[cell.outputs[0]]
            load = 16 * cell.pins[cell.inputs[0]].capacitance
            arc = pin.arcs[0]
            return max(t.lookup(load, 0.1) for k, t in arc.tables.items() if k.startswith("cell_"))

        return min(buffers, key=lambda c: (delay(c), c.area))


def _table(group: Group, templates: dict[str, tuple[str, ...]]) -> Table:
    template = group.args[0] if group.args else "scalar"
    variables = templates.get(template, ("total_output_net_capacitance", "input_net_transition"))
    values = [_floats(row) for row in group.attrs.get("values", [])]
    if not values:
        raise LibertyError(f"table {group.kind} has no values")
    index_1 = _floats(group.attrs["index_1"][0]) if "index_1" in group.attrs else [0.0]
    index_2 = _floats(group.attrs["index_2"][0]) if "index_2" in group.attrs else []
    if not index_2 and len(values) == 1 and len(values[0]) == len(index_1) > 1:
        values = [[v] for v in values[0]]   # a 1-D table is written as one row
    return Table(variables, index_1, index_2, values)


def load_timing_library(path) -> TimingLibrary:
    """Parse the Liberty file at `path` into cells with pins, capacitances and NLDM tables."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise LibertyError(f"cannot read liberty file {str(path)!r}: {exc.strerror or exc}") from None
    try:
        top = parse(text)
    except LibertyError as exc:
        raise LibertyError(f"{str(path)!r} is not a Liberty library: {exc}") from None
    templates = {}
    for g in top.groups:
        if g.kind in ("lu_table_template", "power_lut_template") and g.args:
            templates[g.args[0]] = tuple(g.attrs[k] for k in ("variable_1", "variable_2", "variable_3")
                                         if k in g.attrs)
    cells = {}
    for cg in top.find("cell"):
        pins = {}
        for pg in cg.find("pin"):
            attrs = pg.attrs
            cap = float(attrs.get("capacitance", 0.0))
            arcs = []
            for tg in pg.find("timing"):
                tables = {t.kind: _table(t, templates) for t in tg.groups
                          if t.kind in ("cell_rise", "cell_fall", "rise_transition", "fall_transition",
                                        "rise_constraint", "fall_constraint")}
                arcs.append(Arc(str(tg.attrs.get("related_pin", "")),
                                str(tg.attrs.get("timing_sense", "")),
                                str(tg.attrs.get("timing_type", "combinational")), tables))
            for name in pg.args:
                pins[name] = Pin(name, str(attrs.get("direction", "")), cap,
                                 float(attrs.get("rise_capacitance", cap)),
                                 float(attrs.get("fall_capacitance", cap)),
                                 attrs.get("function"), attrs.get("clock") == "true", arcs)
        sequential = bool(cg.find("ff") or cg.find("latch") or cg.find("ff_bank")
                          or cg.find("latch_bank") or cg.find("statetable"))
        ff = cg.find("ff")
        cells[cg.args[0]] = Cell(cg.args[0], float(cg.attrs.get("area", 0.0)), pins, sequential,
                                 str(ff[0].attrs.get("clocked_on", "")) if ff else None)
    if not cells:
        raise LibertyError(f"{str(path)!r} has no cells")
    return TimingLibrary(path.resolve(), top.args[0] if top.args else path.stem,
                         str(top.attrs.get("time_unit", "1ns")),
                         str(top.attrs.get("capacitive_load_unit", "")), cells,
                         hashlib.sha256(path.read_bytes()).hexdigest())
