"""Liberty (.lib) cell libraries: the project's one reader, one parse per file.

Each flow needs its own part of the file: the area flow each cell's area and the NAND2
that defines a gate equivalent (GE = area / area(smallest 2-input NAND), found by its
boolean function because cell names differ between vendors); the timing flow pins,
input capacitances and NLDM delay tables; the energy flow internal_power tables,
leakage and the units. `load_library` parses a file (plain or gzip) once into a
`Library` that serves all of them; `parse` gives the raw group tree for anything else.

Values stay in the library's own units; `Library.units` says which, read from the
file's unit attributes and never assumed. Table lookup follows OpenSTA: bilinear
interpolation inside the table, linear extrapolation from the two outermost points
outside it.
"""

from __future__ import annotations

import bisect
import dataclasses
import fnmatch
import gzip
import hashlib
import itertools
import math
import re
import zlib
from pathlib import Path

DEFAULT_LIBERTY = Path(__file__).resolve().parent / "cells" / "nbsmt45.lib"


class LibertyError(ValueError):
    """The file is not a Liberty library this flow can use."""


# ---------------------------------------------------------------------------- the tree

@dataclasses.dataclass(slots=True)
class Group:
    """One Liberty group, `kind (args) { attributes; subgroups }`. A simple attribute
    (`name : value ;`) keeps its unquoted value, a complex one (`name (a, b) ;`) the
    list of its unquoted arguments; a repeated attribute keeps its last value."""

    kind: str
    args: list[str]
    attrs: dict[str, str | list[str]] = dataclasses.field(default_factory=dict)
    groups: list[Group] = dataclasses.field(default_factory=list)

    def find(self, kind: str) -> list[Group]:
        """The subgroups of one kind, in file order."""
        return [g for g in self.groups if g.kind == kind]


# One match per statement, not per token, so the Python loop in `parse` runs once per
# attribute or group (22 MB of ASAP7 cells parse in about a second). `\` + newline
# continues a line anywhere; possessive quantifiers keep a malformed file from
# backtracking; `bad` is anything else.
_WS = r"(?:\s++|\\\r?\n)*+"
_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_STATEMENT = re.compile(rf"""{_WS}(?:
    (?P<name>[^\s{{}}();:,"/\\]++){_WS}
      (?: :{_WS}(?P<value>{_STRING}|(?:[^;{{}}\n"/\\]++|/(?![*/]))*+)[ \t]*+;?
        | \((?P<args>(?:[^")]++|{_STRING})*+)\){_WS}(?:(?P<open>\{{)|;)?
      )
  | (?P<close>\}})
  | (?P<comment>/\*[^*]*+\*++(?:[^/*][^*]*+\*++)*+/|//[^\n]*+)
  | (?P<bad>\S)
)""", re.S | re.X)
_ARG = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"|([^\s,"\\]+)', re.S)
_CONTINUATION = re.compile(r"\\\r?\n")


def parse(text: str) -> Group:
    """The `library (...)` group of Liberty `text`, with every attribute and subgroup."""
    root = Group("", [])
    stack = [root]
    group = root
    for m in _STATEMENT.finditer(text):
        name, value, args, opened, closed, bad = m.group("name", "value", "args", "open", "close", "bad")
        if name is not None:
            if value is not None:
                if value[:1] == '"':
                    value = value[1:-1]
                    if "\\" in value:
                        value = _CONTINUATION.sub(" ", value)
                else:
                    value = value.strip()
                group.attrs[name] = value
                continue
            items = _arguments(args)
            if opened:
                child = Group(name, items)
                group.groups.append(child)
                stack.append(child)
                group = child
            else:
                group.attrs[name] = items
        elif closed:
            if len(stack) == 1:
                raise LibertyError(f"line {_line(text, m.end())}: '}}' closes no group")
            stack.pop()
            group = stack[-1]
        elif bad:
            start = m.start("bad")
            what = ("unterminated comment" if text.startswith("/*", start) else
                    "unterminated string" if bad == '"' else "cannot parse")
            snippet = text[start:start + 40].split("\n", 1)[0]
            raise LibertyError(f"line {_line(text, start)}: {what} {snippet!r}")
    if len(stack) > 1:
        raise LibertyError(f"unexpected end of file inside '{group.kind} ({', '.join(group.args)})'")
    libraries = root.find("library")
    if not libraries:
        raise LibertyError("no 'library (...)' group")
    return libraries[0]


def _arguments(args: str) -> list[str]:
    """The unquoted items of `(args)`. Most are quoted table rows between separators,
    split here with str methods: the careful regex only runs where escapes are."""
    if "\\" in args:
        args = _CONTINUATION.sub(" ", args)
        if "\\" in args:
            return [quoted + bare for quoted, bare in _ARG.findall(args)]
    parts = args.split('"')
    if len(parts) > 1 and not "".join(parts[::2]).replace(",", " ").split():
        return parts[1::2]
    items = []
    for i, part in enumerate(parts):
        if i % 2:
            items.append(part)
        else:
            items += part.replace(",", " ").split()
    return items


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# --------------------------------------------------------------------------- the units

_PREFIXES = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3}
_QUANTITY = re.compile(r"\s*(\d*\.?\d*(?:[eE][-+]?\d+)?)\s*([A-Za-z]+)\s*")


def _scale(text: str, base: str, attribute: str) -> float:
    """'1nW' -> 1e-9 (base 'w'): the SI value of one unit, case-insensitive as in
    Liberty ('1pf', '1kohm')."""
    m = _QUANTITY.fullmatch(text)
    unit = m.group(2).lower() if m else ""
    prefix = unit[:-len(base)] if unit.endswith(base) else None
    if prefix not in _PREFIXES:
        raise LibertyError(f"unsupported {attribute} {text!r}")
    return float(m.group(1) or 1) * _PREFIXES[prefix]


@dataclasses.dataclass(frozen=True)
class Units:
    """The library's units as the SI value of one unit (time_unit "1ps" -> time = 1e-12
    s); None where the file has no such attribute: nothing is assumed."""

    time: float | None              # s, time_unit
    capacitance: float | None       # F, capacitive_load_unit
    voltage: float | None           # V, voltage_unit
    current: float | None           # A, current_unit
    resistance: float | None        # ohm, pulling_resistance_unit
    leakage_power: float | None     # W, leakage_power_unit
    nom_voltage: float | None       # the supply in voltage units: nom_voltage, else the
                                    # default (or only) operating_conditions' voltage

    @classmethod
    def of(cls, top: Group) -> Units:
        """The units of a parsed `library` group (`parse`)."""
        a = top.attrs

        def simple(attribute: str, base: str) -> float | None:
            return _scale(str(a[attribute]), base, attribute) if attribute in a else None

        cap = a.get("capacitive_load_unit")
        if cap is not None and (not isinstance(cap, list) or len(cap) != 2):
            raise LibertyError(f"capacitive_load_unit must be (number, unit), not {cap!r}")
        nominal = a.get("nom_voltage")
        if nominal is None:
            conditions = top.find("operating_conditions")
            chosen = [g for g in conditions if g.args[:1] == [a.get("default_operating_conditions")]]
            voltages = [g.attrs["voltage"] for g in chosen or conditions[:1] if "voltage" in g.attrs]
            nominal = voltages[0] if voltages else None
        return cls(simple("time_unit", "s"),
                   float(cap[0]) * _scale(cap[1], "f", "capacitive_load_unit") if cap else None,
                   simple("voltage_unit", "v"), simple("current_unit", "a"),
                   simple("pulling_resistance_unit", "ohm"), simple("leakage_power_unit", "w"),
                   float(nominal) if nominal is not None else None)


# -------------------------------------------------------------------------- the cells

@dataclasses.dataclass
class Table:
    """One NLDM table: `values[i][j]` at (`index_1[i]`, `index_2[j]`) with the template's
    variable names; a 1-D table has an empty `index_2`."""

    variables: tuple[str, ...]
    index_1: list[float]
    index_2: list[float]
    values: list[list[float]]

    def lookup(self, load: float, slew: float) -> float:
        """The value at output load `load` and input transition `slew` (library units)."""
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


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.replace(",", " ").split()]


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


@dataclasses.dataclass
class Arc:
    """A timing arc into an output pin from `related_pin`."""

    related_pin: str
    sense: str                       # positive_unate, negative_unate, non_unate
    kind: str                        # combinational, rising_edge, setup_rising, ...
    tables: dict[str, Table]         # cell_rise, cell_fall, rise_transition, fall_transition, *_constraint


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
    power: list[tuple[Table, Table]]  # (rise_power, fall_power) of each internal_power group
    clock_gate_role: str | None = None   # "clock", "enable", "test" or "out" on an ICG's pins
    three_state: str | None = None       # the condition under which a tristate output floats


@dataclasses.dataclass
class Cell:
    name: str
    area: float                      # 0.0 when the cell declares none (then not in Library.areas)
    pins: dict[str, Pin]
    storage: list[Group]             # its ff, latch, ff_bank, latch_bank and statetable groups
    leakage: float = 0.0             # cell_leakage_power
    clock_gating: str | None = None  # clock_gating_integrated_cell ("latch_posedge", ...)

    @property
    def sequential(self) -> bool:
        return bool(self.storage)

    @property
    def clocked_on(self) -> str | None:
        """The first ff group's clock expression ("CLK", "!CLK"); None without one."""
        ff = [g for g in self.storage if g.kind == "ff"]
        return str(ff[0].attrs.get("clocked_on", "")) if ff else None

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

    @property
    def is_nand2(self) -> bool:
        """Two inputs and one output whose function is their NAND, and no state."""
        outputs = [p.function for p in self.pins.values() if p.direction == "output" and p.function is not None]
        inputs = self.inputs
        if self.sequential or len(inputs) != 2 or len(outputs) != 1:
            return False
        try:
            return all(_evaluate(outputs[0], dict(zip(inputs, bits))) == (not all(bits))
                       for bits in itertools.product((False, True), repeat=2))
        except (LibertyError, IndexError):
            return False


def parse_function(expr: str) -> tuple:
    """A Liberty boolean function as a tree: ("var", name), ("const", bool), ("not", x),
    ("xor" | "and" | "or", a, b). Liberty's precedence: ! and postfix ' first, then ^,
    then & * or juxtaposition (AND), then | + (OR)."""
    tokens = re.findall(r"[A-Za-z_][\w\[\]]*|[01]|[!'&*|+^()]", expr)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        if pos >= len(tokens):
            raise LibertyError(f"cannot parse function {expr!r}")
        pos += 1
        return tokens[pos - 1]

    def primary():
        tok = take()
        if tok == "!":
            node = ("not", primary())
        elif tok == "(":
            node = disjunction()
            if take() != ")":
                raise LibertyError(f"unbalanced function {expr!r}")
        elif tok in ("0", "1"):
            node = ("const", tok == "1")
        elif tok[0].isalpha() or tok[0] == "_":
            node = ("var", tok)
        else:
            raise LibertyError(f"cannot parse function {expr!r}")
        while peek() == "'":
            take()
            node = ("not", node)
        return node

    def xor():
        node = primary()
        while peek() == "^":
            take()
            node = ("xor", node, primary())
        return node

    def conjunction():
        node = xor()
        while peek() not in (None, "|", "+", ")"):
            if peek() in ("&", "*"):
                take()
            node = ("and", node, xor())
        return node

    def disjunction():
        node = conjunction()
        while peek() in ("|", "+"):
            take()
            node = ("or", node, conjunction())
        return node

    result = disjunction()
    if pos != len(tokens):
        raise LibertyError(f"cannot parse function {expr!r}")
    return result


def _evaluate(expr: str, values: dict[str, bool]) -> bool:
    """The value of Liberty boolean function `expr` (`parse_function`) at `values`."""
    def value(node):
        kind = node[0]
        if kind == "var":
            if node[1] not in values:
                raise LibertyError(f"unknown name {node[1]!r} in function {expr!r}")
            return values[node[1]]
        if kind == "const":
            return node[1]
        if kind == "not":
            return not value(node[1])
        a, b = value(node[1]), value(node[2])
        return a != b if kind == "xor" else (a and b) if kind == "and" else (a or b)
    return value(parse_function(expr))


def function_verilog(expr: str, name=lambda pin: pin) -> str:
    """Liberty boolean function `expr` as a Verilog expression, each name through `name`."""
    def text(node):
        kind = node[0]
        if kind == "var":
            return name(node[1])
        if kind == "const":
            return "1'b1" if node[1] else "1'b0"
        if kind == "not":
            return f"~{text(node[1])}"
        op = {"xor": "^", "and": "&", "or": "|"}[kind]
        return f"({text(node[1])} {op} {text(node[2])})"
    return text(parse_function(expr))


# ------------------------------------------------------------------------ the library

_TIMING_TABLES = ("cell_rise", "cell_fall", "rise_transition", "fall_transition",
                  "rise_constraint", "fall_constraint")
_STORAGE = ("ff", "latch", "ff_bank", "latch_bank", "statetable")


@dataclasses.dataclass(frozen=True)
class Library:
    """A Liberty library, everything the flows read from it."""

    path: Path                       # resolved; the first of `files`
    name: str
    units: Units
    cells: dict[str, Cell]
    areas: dict[str, float]          # cell -> area, for the cells that declare one (um^2 here)
    nand2: str | None                # reference cell for gate equivalents
    sequential: frozenset[str]       # cells of `areas` with state (ff, latch, statetable)
    digest: str                      # sha256 of the files' bytes and dont_use (keys the caches)
    files: tuple[Path, ...] = ()     # every file the library was read from, resolved
    dont_use: tuple[str, ...] = ()   # glob patterns of cells the mappers must not use

    @property
    def label(self) -> str:
        """The library in reports: its file's name, and how many more files it has."""
        more = len(self.files) - 1
        return self.path.name + (f" (+{more} more files)" if more > 0 else "")

    def usable(self, cell: str) -> bool:
        """Whether the mappers may use `cell` (not matched by a dont_use pattern)."""
        return not any(fnmatch.fnmatchcase(cell, pattern) for pattern in self.dont_use)

    def scale_time(self, ns: float) -> float:
        """`ns` nanoseconds in the library's time unit (1 ns when the file has none)."""
        return ns * 1e-9 / self.units.time if self.units.time else ns

    def capacitance_pf(self, value: float) -> float:
        """A capacitance in the library's unit, in pF (the unit when the file has none)."""
        return value * self.units.capacitance / 1e-12 if self.units.capacitance else value

    def clock_gate(self) -> tuple[Cell, dict[str, str]] | None:
        """The smallest usable integrated clock gate that latches its enable while the
        clock is high (`latch_posedge*`), with its pins by role (clock, enable, out,
        and test, tied low); None when the library has none."""
        gates = []
        for cell in self.cells.values():
            if (cell.clock_gating or "").startswith("latch_posedge") and self.usable(cell.name):
                roles = {p.clock_gate_role: p.name for p in cell.pins.values() if p.clock_gate_role}
                if {"clock", "enable", "out"} <= roles.keys():
                    gates.append((cell.area, cell.name, cell, roles))
        return min(gates)[2:] if gates else None

    @property
    def nand2_area(self) -> float | None:
        return self.areas[self.nand2] if self.nand2 else None

    @property
    def has_timing(self) -> bool:
        """True when some arc has an NLDM delay table."""
        return any("cell_rise" in arc.tables or "cell_fall" in arc.tables
                   for cell in self.cells.values() for pin in cell.pins.values()
                   for arc in pin.arcs)

    def flip_flop_data_capacitance(self) -> float:
        """Input capacitance of the D pin of the smallest positive-edge flip-flop (the
        load the timing flow assumes on every output port)."""
        flops = [c for c in self.cells.values() if c.sequential and "D" in c.pins
                 and c.clocked_on and not re.search(r"[!']", c.clocked_on) and self.usable(c.name)]
        if not flops:
            raise LibertyError(f"{self.path.name}: no flip-flop with a D pin")
        return min(flops, key=lambda c: c.area).pins["D"].capacitance

    def strongest_buffer(self) -> Cell:
        """The buffer (not a clock buffer) with the lowest delay into a load of 16 of its
        own inputs: the cell fanout repair drives trees with."""
        candidates = [c for c in self.cells.values() if c.is_buffer and self.usable(c.name)]
        buffers = [c for c in candidates if not c.name.upper().startswith("CLK")] or candidates
        if not buffers:
            raise LibertyError(f"{self.path.name}: no buffer cell for fanout repair")

        def delay(cell: Cell) -> float:
            pin = cell.pins[cell.outputs[0]]
            load = 16 * cell.pins[cell.inputs[0]].capacitance
            arc = pin.arcs[0]
            slew = self.scale_time(0.1)
            return max(t.lookup(load, slew) for k, t in arc.tables.items() if k.startswith("cell_"))

        return min(buffers, key=lambda c: (delay(c), c.area))


_CLOCK_GATE_ROLES = ("clock", "enable", "test", "out")


def _leakage(group: Group) -> float:
    """A cell's leakage power: its `cell_leakage_power`, else (ASAP7, GF180MCU have only
    state-dependent `leakage_power` groups) the mean over its states (`when`) of the
    groups' values summed over the supply pins, every state taken as equally likely."""
    if "cell_leakage_power" in group.attrs:
        return float(group.attrs["cell_leakage_power"])
    states: dict[str, float] = {}
    for g in group.find("leakage_power"):
        when = str(g.attrs.get("when", ""))
        states[when] = states.get(when, 0.0) + float(g.attrs.get("value", 0.0))
    conditional = {w: v for w, v in states.items() if w}
    chosen = conditional or states
    return sum(chosen.values()) / len(chosen) if chosen else 0.0


def _cell(group: Group, templates: dict[str, tuple[str, ...]]) -> Cell:
    pins = {}
    for pg in group.find("pin"):
        attrs = pg.attrs
        cap = float(attrs.get("capacitance", 0.0))
        arcs = [Arc(str(tg.attrs.get("related_pin", "")), str(tg.attrs.get("timing_sense", "")),
                    str(tg.attrs.get("timing_type", "combinational")),
                    {t.kind: _table(t, templates) for t in tg.groups if t.kind in _TIMING_TABLES})
                for tg in pg.find("timing")]
        power = []
        for ig in pg.find("internal_power"):
            rise, fall = ig.find("rise_power"), ig.find("fall_power")
            if rise and fall:
                power.append((_table(rise[-1], templates), _table(fall[-1], templates)))
        for name in pg.args:
            pins[name] = Pin(name, str(attrs.get("direction", "")), cap,
                             float(attrs.get("rise_capacitance", cap)),
                             float(attrs.get("fall_capacitance", cap)),
                             attrs.get("function"), attrs.get("clock") == "true", arcs, power,
                             next((role for role in _CLOCK_GATE_ROLES
                                   if attrs.get(f"clock_gate_{role}_pin") == "true"), None),
                             attrs.get("three_state"))
    area = group.attrs.get("area")
    return Cell(group.args[0], float(area) if area is not None else 0.0, pins,
                [g for g in group.groups if g.kind in _STORAGE],
                _leakage(group),
                group.attrs.get("clock_gating_integrated_cell"))


def _cells(top: Group) -> tuple[dict[str, Cell], dict[str, float]]:
    """The cells of a parsed library group, and the areas of those that declare one."""
    templates = {g.args[0]: tuple(g.attrs[k] for k in ("variable_1", "variable_2", "variable_3")
                                  if k in g.attrs)
                 for g in top.groups if g.kind in ("lu_table_template", "power_lut_template") and g.args}
    cells, areas = {}, {}
    for group in top.find("cell"):
        if not group.args:
            raise LibertyError("a cell group without a name")
        try:
            cell = _cell(group, templates)
        except ValueError as exc:    # LibertyError too
            raise LibertyError(f"cell {group.args[0]}: {exc}") from None
        cells[cell.name] = cell
        if "area" in group.attrs:
            if not (math.isfinite(cell.area) and cell.area >= 0):
                raise LibertyError(f"cell {cell.name}: area must be a finite number >= 0, "
                                   f"not {group.attrs['area']}")
            areas[cell.name] = cell.area
    return cells, areas


def _library(files: list[tuple[Path, Group]], digest: str, dont_use: tuple[str, ...]) -> Library:
    """One library from the parsed files (the first names it); they must agree on units."""
    cells, areas = {}, {}
    units = Units.of(files[0][1])
    for path, top in files:
        if Units.of(top) != units:
            raise LibertyError(f"{path.name} has other units than {files[0][0].name}: "
                               "the files of one library must agree")
        more, more_areas = _cells(top)
        for name in more.keys() & cells.keys():
            raise LibertyError(f"cell {name} is defined in two files")
        cells.update(more)
        areas.update(more_areas)
    if not areas:
        raise LibertyError("no cells with an area")
    nand2 = None
    for name, area in areas.items():
        if cells[name].is_nand2 and (nand2 is None or area < areas[nand2]):
            nand2 = name
    if nand2 is not None and areas[nand2] <= 0:   # a gate equivalent would divide by zero
        raise LibertyError(f"the gate-equivalent cell {nand2} has area {areas[nand2]:g}")
    path, top = files[0]
    return Library(path.resolve(), top.args[0] if top.args else path.stem, units, cells, areas,
                   nand2, frozenset(n for n in areas if cells[n].sequential), digest,
                   tuple(p.resolve() for p, _ in files), tuple(dont_use))


def load_library(path, *more, dont_use=()) -> Library:
    """Read the Liberty file at `path` (plain or gzip), and any `more` files of the same
    library (ASAP7 comes in five), into one `Library`; `dont_use` lists glob patterns of
    cells the mappers must not use. A file that cannot be read or used raises
    LibertyError, one line naming the file and why. Parses are kept per process by the
    files' content."""
    paths = [Path(p) for p in (path, *more)]
    blobs = []
    for p in paths:
        try:
            blobs.append(p.read_bytes())
        except OSError as exc:
            raise LibertyError(f"cannot read liberty file {str(p)!r}: {exc.strerror or exc}") from None
    digests = [hashlib.sha256(data).hexdigest() for data in blobs]
    digest = digests[0] if len(paths) == 1 and not dont_use else \
        hashlib.sha256(" ".join(digests + ["dont_use"] + list(dont_use)).encode()).hexdigest()
    files = [(p, _parsed(p, d, data)) for p, d, data in zip(paths, digests, blobs)]
    try:
        return _library(files, digest, tuple(dont_use))
    except ValueError as exc:        # LibertyError, or a number that is not one
        where = str(paths[0]) if len(paths) == 1 else ", ".join(p.name for p in paths)
        raise LibertyError(f"cannot read liberty file {where!r}: {exc}") from None


#: Parsed files by the sha256 of their bytes: a library read twice in a process (a
#: report, then its energy flow) is parsed once.
_PARSED: dict[str, Group] = {}


def _parsed(path: Path, digest: str, data: bytes) -> Group:
    """The parsed library group of one file's bytes (plain or gzip)."""
    if digest not in _PARSED:
        try:
            if data[:2] == b"\x1f\x8b":
                try:
                    data = gzip.decompress(data)
                except (OSError, EOFError, zlib.error) as exc:
                    raise LibertyError(f"bad gzip data ({exc})") from None
            top = parse(data.decode(errors="replace"))
        except ValueError as exc:    # LibertyError, or a number that is not one
            raise LibertyError(f"cannot read liberty file {str(path)!r}: {exc}") from None
        if len(_PARSED) >= 8:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[digest] = top
    return _PARSED[digest]


def liberty_text(path: Path) -> bytes:
    """The bytes of a Liberty file, decompressed when it is gzip (the tools read plain
    text: the 2019 OpenSTA and Yosys' mappers do not all read gzip)."""
    data = Path(path).read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def library_name(path) -> str:
    """The name in the `library (...)` group of the Liberty file at `path` (its parse is
    kept for `load_library`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LibertyError(f"cannot read liberty file {str(path)!r}: {exc.strerror or exc}") from None
    top = _parsed(path, hashlib.sha256(data).hexdigest(), data)
    return top.args[0] if top.args else path.stem


def library_file_names(library: Library) -> tuple[str, ...]:
    """The names `write_files` gives the library's files in a tool's working folder."""
    count = max(1, len(library.files))
    return ("cells.lib",) if count == 1 else tuple(f"cells{i}.lib" for i in range(count))


#: A library's choice of wire-load model (SKY130 names "Small"): the tools would add
#: estimated wire capacitance to every net, and the flows model no wires on any library.
_DEFAULT_WIRE_LOAD = re.compile(rb"^[ \t]*default_wire_load(?:_mode|_selection)?[ \t]*:[^;\n]*;?[ \t]*\r?$",
                                re.M)


def write_files(library: Library, folder: Path) -> list[str]:
    """Write the library's files, plain text and without a default wire-load model, into
    `folder` for a tool run; their names there ("cells.lib" for a one-file library, as
    the scripts have always said)."""
    names = library_file_names(library)
    for name, path in zip(names, library.files or (library.path,)):
        (folder / name).write_bytes(_DEFAULT_WIRE_LOAD.sub(b"", liberty_text(path)))
    return list(names)
