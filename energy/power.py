"""Energy of a mapped netlist from per-net toggle counts and a characterized Liberty library.

The timing reader (synth/nldm.py) keeps what STA needs; energy needs three more things
from the same file, read here from the same parse tree: each output pin's
`internal_power` tables (energy per output transition, per related input pin), input
pins' passive `internal_power` (a flop's clock and D pins burn energy without an output
change) and each cell's `cell_leakage_power`.

Energy of a run, in pJ (docs/energy.md):

- **net toggles**: every toggle of a net costs 1/2 C V^2, C = the input capacitance of
  every cell pin it drives (+ OUTPUT port load: the D pin of one library flop, the load
  the timing flow assumes), plus its driver's internal energy per output transition;
- **input-pin energy**: a toggle on a pin with passive tables (a flop's D) adds it;
- **clock**: per cycle and flop, the clock pin's rise + fall passive energy and its
  capacitance charged once (C V^2); the clock tree is not modelled. A flop behind a
  clock gate pays that only when its gated clock toggles (`energy_model`);
- **leakage**: cell_leakage_power x cycles x period.

Simplifications (stated in docs/energy.md): every table is read at one input transition
(`slew_ns`, by default the timing flow's INPUT_SLEW_NS) and at the output pin's real
load; a toggle costs the mean of the rise and fall tables (rises and falls of a net
differ by at most one); a cell with several related pins costs the mean over them (the
toggle count does not say which input switched). No wires: C is pin capacitance only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from nbsmt.synth.liberty import LibertyError
from nbsmt.synth.nldm import Table, TimingLibrary, _table, load_timing_library, parse
from nbsmt.synth.techmap import Netlist
from nbsmt.synth.timing import INPUT_SLEW_NS, NOMINAL_PERIOD_NS, block_of

CATEGORIES = ("clock", "sequential", "combinational", "inputs", "leakage")


@dataclasses.dataclass
class PinPower:
    """Energy tables of one pin: (rise, fall) per related pin (pJ per transition)."""

    arcs: list[tuple[Table, Table]]

    def per_toggle(self, load_pf: float, slew_ns: float) -> float:
        """Mean of rise and fall energy, averaged over the related pins."""
        values = [(r.lookup(load_pf, slew_ns) + f.lookup(load_pf, slew_ns)) / 2 for r, f in self.arcs]
        return sum(values) / len(values)


@dataclasses.dataclass
class PowerLibrary:
    timing: TimingLibrary
    vdd: float                                    # V
    energy_unit_pj: float                         # pJ per unit of the internal_power tables
    leakage_unit_w: float                         # W per unit of cell_leakage_power
    leakage: dict[str, float]                     # cell -> leakage (library units)
    pins: dict[tuple[str, str], PinPower]         # (cell, pin) -> energy tables

    def capacitance(self, cell: str, pin: str) -> float:
        return self.timing.cells[cell].pins[pin].capacitance


_UNITS = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0}


def _unit(text: str, suffix: str, what: str) -> float:
    """'1nW' -> 1e-9 (suffix 'W'); the scale of a Liberty unit attribute in SI."""
    text = text.strip().strip('"')
    number = text.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    prefix = text[len(number):-len(suffix)] if text.endswith(suffix) else None
    if prefix is None or prefix not in _UNITS:
        raise LibertyError(f"unsupported {what} unit {text!r}")
    return float(number or 1) * _UNITS[prefix]


def load_power_library(path) -> PowerLibrary:
    """Read the timing data (synth/nldm.py) and the power data of the Liberty file at `path`."""
    timing = load_timing_library(path)
    top = parse(Path(path).read_text(errors="replace"))
    conditions = top.find("operating_conditions")
    vdd = float(top.attrs.get("nom_voltage", conditions[0].attrs.get("voltage", 0) if conditions else 0))
    if vdd <= 0:
        raise LibertyError(f"{Path(path).name}: no nominal voltage")
    cap = top.attrs.get("capacitive_load_unit", ["1", "pf"])
    cap_f = float(cap[0]) * _unit(cap[1].lower().replace("f", "F"), "F", "capacitance")
    volt = _unit(str(top.attrs.get("voltage_unit", "1V")), "V", "voltage")
    # Liberty's internal energy unit is capacitive_load_unit x voltage_unit^2.
    energy_pj = cap_f * volt * volt / 1e-12
    leak_w = _unit(str(top.attrs.get("leakage_power_unit", "1nW")), "W", "leakage power")
    templates = {g.args[0]: tuple(g.attrs[k] for k in ("variable_1", "variable_2") if k in g.attrs)
                 for g in top.groups if g.kind in ("lu_table_template", "power_lut_template") and g.args}
    leakage, pins = {}, {}
    for cg in top.find("cell"):
        leakage[cg.args[0]] = float(cg.attrs.get("cell_leakage_power", 0.0))
        for pg in cg.find("pin"):
            arcs = []
            for ig in pg.find("internal_power"):
                tables = {t.kind: _table(t, templates) for t in ig.groups}
                if "rise_power" in tables and "fall_power" in tables:
                    arcs.append((tables["rise_power"], tables["fall_power"]))
            if arcs:
                for name in pg.args:
                    pins[(cg.args[0], name)] = PinPower(arcs)
    return PowerLibrary(timing, vdd * volt, energy_pj, leak_w, leakage, pins)


@dataclasses.dataclass
class Energy:
    """Energy of one run, pJ, by (block, category)."""

    parts: dict[tuple[str, str], float]
    cycles: int
    period_ns: float

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    def by_category(self) -> dict[str, float]:
        out = dict.fromkeys(CATEGORIES, 0.0)
        for (_, cat), e in self.parts.items():
            out[cat] += e
        return out

    def by_block(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for (block, _), e in self.parts.items():
            out[block] = out.get(block, 0.0) + e
        return dict(sorted(out.items()))


@dataclasses.dataclass
class EnergyModel:
    """Per-toggle energies of every net of one netlist and its per-cycle constants.

    `toggle_energy[i, b]` is what one toggle of net `nets[i]` costs in bucket
    `buckets[b]` (a (block, category) pair); `per_cycle[b]` is the clock energy per
    cycle and `leakage_w[b]` the leakage power.
    """

    nets: list[int]
    buckets: list[tuple[str, str]]
    toggle_energy: np.ndarray        # [nets, buckets] pJ
    per_cycle: np.ndarray            # [buckets] pJ
    leakage_w: np.ndarray            # [buckets] W
    flops: int
    drivers: list[str] = dataclasses.field(default_factory=list)   # cell driving each net ("": a port)

    @property
    def net_index(self) -> dict[int, int]:
        return {n: i for i, n in enumerate(self.nets)}

    def per_net(self) -> np.ndarray:
        """pJ per toggle of each net, all buckets together."""
        return self.toggle_energy.sum(axis=1)

    def energy(self, toggles: np.ndarray, cycles: int, period_ns: float = NOMINAL_PERIOD_NS) -> Energy:
        """Energy of a run with `toggles[i]` toggles of net i over `cycles` clock cycles."""
        toggles = np.asarray(toggles, dtype=np.float64)
        if toggles.shape != (len(self.nets),):
            raise ValueError(f"toggles must have one count per net ({len(self.nets)}), not {toggles.shape}")
        dynamic = toggles @ self.toggle_energy
        total = dynamic + cycles * self.per_cycle + self.leakage_w * cycles * period_ns * 1e-9 / 1e-12
        return Energy({b: float(e) for b, e in zip(self.buckets, total) if e}, cycles, period_ns)

    def dynamic(self, toggles: np.ndarray) -> dict[tuple[str, str], float]:
        """The toggles' energy alone by (block, category), pJ: what changes with activity
        (gated clocks included), without the per-cycle clock and the leakage."""
        values = np.asarray(toggles, dtype=np.float64) @ self.toggle_energy
        return {b: float(e) for b, e in zip(self.buckets, values) if e}


def energy_model(netlist: Netlist, library: PowerLibrary, *, design: str = "pe",
                 slew_ns: float = INPUT_SLEW_NS, output_load_pf: float | None = None,
                 clock_port: str = "clk") -> EnergyModel:
    """The per-toggle and per-cycle energies of `netlist` (module doc); `design` ("pe" or
    "array") tells `block_of` how to read the hierarchical cell names.

    Every pin on the `clock_port` net costs its capacitance (and a clock pin its passive
    energy) every cycle. A clock pin on any other net (a gated clock, an ICG latch's
    inverted clock) is a load of that net, priced per toggle like any other, and such a
    net's driver and switching count as clock energy.
    """
    lib = library.timing
    if output_load_pf is None:
        output_load_pf = lib.flip_flop_data_capacitance()
    v2 = library.vdd ** 2
    clock_nets = {b for b in netlist.ports.get(clock_port, ("", []))[1] if isinstance(b, int)}
    load: dict[int, float] = {}
    driver: dict[int, tuple[str, str, str]] = {}        # net -> (cell name, type, pin)
    sinks: dict[int, list[tuple[str, str, str]]] = {}
    on_clock: list[tuple[str, str, str]] = []           # pins on the clock port's net
    clock_driven: set[int] = set()                      # nets feeding a clock pin
    for name, (kind, pins) in netlist.cells.items():
        cell = lib.cells[kind]
        for pin, net in pins.items():
            if not isinstance(net, int):
                continue
            if cell.pins[pin].direction == "output":
                driver[net] = (name, kind, pin)
            elif net in clock_nets:
                on_clock.append((name, kind, pin))
            else:
                load[net] = load.get(net, 0.0) + cell.pins[pin].capacitance
                sinks.setdefault(net, []).append((name, kind, pin))
                if cell.pins[pin].clock:
                    clock_driven.add(net)
    for direction, bits in netlist.ports.values():
        for net in bits:
            if isinstance(net, int) and direction == "output":
                load[net] = load.get(net, 0.0) + output_load_pf
    nets = sorted((set(load) | set(driver)) - clock_nets)
    buckets: dict[tuple[str, str], int] = {}

    def bucket(block: str, category: str) -> int:
        return buckets.setdefault((block, category), len(buckets))

    def passive(kind: str, pin: str) -> float:
        """Energy of one transition of an input pin with passive tables (else 0), pJ."""
        table = library.pins.get((kind, pin))
        return table.per_toggle(0.0, slew_ns) * library.energy_unit_pj if table else 0.0

    entries: list[tuple[int, int, float]] = []
    for i, net in enumerate(nets):
        c = load.get(net, 0.0)
        switching = 0.5 * c * v2                    # pF x V^2 = pJ
        if net in driver:
            name, kind, pin = driver[net]
            category = ("clock" if net in clock_driven else
                        "sequential" if lib.cells[kind].sequential else "combinational")
            b = bucket(block_of(name, design), category)
            internal = library.pins.get((kind, pin))
            e = switching + (internal.per_toggle(c, slew_ns) * library.energy_unit_pj if internal else 0.0)
        else:
            b, e = bucket("inputs", "inputs"), switching
        entries.append((i, b, e))
        for name, kind, pin in sinks.get(net, []):
            if library.pins.get((kind, pin)) is not None:
                category = "clock" if lib.cells[kind].pins[pin].clock else "sequential"
                entries.append((i, bucket(block_of(name, design), category), passive(kind, pin)))
    clock_entries, leak_entries = [], []
    for name, kind, pin in on_clock:                # charged and discharged once a cycle
        e = lib.cells[kind].pins[pin].capacitance * v2 + 2 * passive(kind, pin)
        clock_entries.append((bucket(block_of(name, design), "clock"), e))
    flops = 0
    for name, (kind, pins) in netlist.cells.items():
        cell = lib.cells[kind]
        leak_entries.append((bucket(block_of(name, design), "leakage"),
                             library.leakage.get(kind, 0.0) * library.leakage_unit_w))
        flops += bool(cell.sequential and any(cell.pins[p].clock for p in pins))
    toggle_energy = np.zeros((len(nets), len(buckets)))
    for i, b, e in entries:
        toggle_energy[i, b] += e
    per_cycle = np.zeros(len(buckets))
    for b, e in clock_entries:
        per_cycle[b] += e
    leakage = np.zeros(len(buckets))
    for b, w in leak_entries:
        leakage[b] += w
    return EnergyModel(nets, list(buckets), toggle_energy, per_cycle, leakage, flops,
                       [driver[n][0] if n in driver else "" for n in nets])
