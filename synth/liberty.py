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


@dataclasses.dataclass
class Cell:
    name: str
    area: float                      # 0.0 when the cell declares none (then not in Library.areas)
    pins: dict[str, Pin]
    storage: list[Group]             # its ff, latch, ff_bank, latch_bank and statetable groups
    leakage: float = 0.0             # cell_leakage_power

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


def _evaluate(expr: str, values: dict[str, bool]) -> bool:
    """Liberty boolean function: ! and postfix ' negate, & * or juxtaposition AND, | + OR, ^ XOR."""
    tokens = re.findall(r"[A-Za-z_][\w\[\]]*|[01]|[!'&*|+^()]", expr)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def primary():
        tok = take()
        if tok == "!":
            value = not primary()
        elif tok == "(":
            value = disjunction()
            if take() != ")":
                raise LibertyError(f"unbalanced function {expr!r}")
        elif tok in ("0", "1"):
            value = tok == "1"
        elif tok in values:
            value = values[tok]
        else:
            raise LibertyError(f"unknown name {tok!r} in function {expr!r}")
        while peek() == "'":
            take()
            value = not value
        return value

    def conjunction():
        value = primary()
        while peek() not in (None, "|", "+", "^", ")"):
            if peek() in ("&", "*"):
                take()
            value = primary() and value
        return value

    def xor():
        value = conjunction()
        while peek() == "^":
            take()
            value = conjunction() != value
        return value

    def disjunction():
        value = xor()
        while peek() in ("|", "+"):
            take()
            value = xor() or value
        return value

    result = disjunction()
    if pos != len(tokens):
        raise LibertyError(f"cannot parse function {expr!r}")
    return result


# ------------------------------------------------------------------------ the library

_TIMING_TABLES = ("cell_rise", "cell_fall", "rise_transition", "fall_transition",
                  "rise_constraint", "fall_constraint")
_STORAGE = ("ff", "latch", "ff_bank", "latch_bank", "statetable")


@dataclasses.dataclass(frozen=True)
class Library:
    """A Liberty library, everything the flows read from it."""

    path: Path                       # resolved
    name: str
    units: Units
    cells: dict[str, Cell]
    areas: dict[str, float]          # cell -> area, for the cells that declare one (um^2 here)
    nand2: str | None                # reference cell for gate equivalents
    sequential: frozenset[str]       # cells of `areas` with state (ff, latch, statetable)
    digest: str                      # sha256 of the file's bytes (keys the synthesis caches)

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
                             attrs.get("function"), attrs.get("clock") == "true", arcs, power)
    area = group.attrs.get("area")
    return Cell(group.args[0], float(area) if area is not None else 0.0, pins,
                [g for g in group.groups if g.kind in _STORAGE],
                float(group.attrs.get("cell_leakage_power", 0.0)))


def _library(top: Group, path: Path, digest: str) -> Library:
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
    if not areas:
        raise LibertyError("no cells with an area")
    nand2 = None
    for name, area in areas.items():
        if cells[name].is_nand2 and (nand2 is None or area < areas[nand2]):
            nand2 = name
    if nand2 is not None and areas[nand2] <= 0:   # a gate equivalent would divide by zero
        raise LibertyError(f"the gate-equivalent cell {nand2} has area {areas[nand2]:g}")
    return Library(path.resolve(), top.args[0] if top.args else path.stem, Units.of(top), cells, areas,
                   nand2, frozenset(n for n in areas if cells[n].sequential), digest)


def load_library(path) -> Library:
    """Read the Liberty file at `path` (plain or gzip) into a `Library`; a file that
    cannot be read or used raises LibertyError, one line naming the file and why."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LibertyError(f"cannot read liberty file {str(path)!r}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise LibertyError(f"cannot read liberty file {str(path)!r}: bad gzip data ({exc})") from None
    try:
        return _library(parse(data.decode(errors="replace")), path, digest)
    except ValueError as exc:        # LibertyError, or a number that is not one
        raise LibertyError(f"cannot read liberty file {str(path)!r}: {exc}") from None
