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
  capacitance charged once (C V^2); the clock tree is not modelled;
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


def energy_model(netlist: Netlist, library: PowerLibrary, *, design: str = "pe",
                 slew_ns: float = INPUT_SLEW_NS, output_load_pf: float | None = None) -> EnergyModel:
    """The per-toggle and per-cycle energies of `netlist` (module doc); `design` ("pe" or
    "array") tells `block_of` how to read the hierarchical cell names."""
    lib = library.timing
    if output_load_pf is None:
        output_load_pf = lib.flip_flop_data_capacitance()
    v2 = library.vdd ** 2
    load: dict[int, float] = {}
    driver: dict[int, tuple[str, str, str]] = {}        # net -> (cell name, type, pin)
    sinks: dict[int, list[tuple[str, str, str]]] = {}
    for name, (kind, pins) in netlist.cells.items():
        cell = lib.cells[kind]
        for pin, net in pins.items():
            if not isinstance(net, int):
                continue
            if cell.pins[pin].direction == "output":
                driver[net] = (name, kind, pin)
            elif not cell.pins[pin].clock:          # clock pins are priced per cycle

                load[net] = load.get(net, 0.0) + cell.pins[pin].capacitance
                sinks.setdefault(net, []).append((name, kind, pin))
    for direction, bits in netlist.ports.values():
        for net in bits:
            if isinstance(net, int) and direction == "output":
                load[net] = load.get(net, 0.0) + output_load_pf
    nets = sorted(set(load) | set(driver))
    buckets: dict[tuple[str, str], int] = {}

    def bucket(block: str, category: str) -> int:
        return buckets.setdefault((block, category), len(buckets))

    entries: list[tuple[int, int, float]] = []
    for i, net in enumerate(nets):
        c = load.get(net, 0.0)
        switching = 0.5 * c * v2                    # pF x V^2 = pJ
        if net in driver:
            name, kind, pin = driver[net]
            category = "sequential" if lib.cells[kind].sequential else "combinational"
            b = bucket(block_of(name, design), category)
            internal = library.pins.get((kind, pin))
            e = switching + (internal.per_toggle(c, slew_ns) * library.energy_unit_pj if internal else 0.0)
        else:
            b, e = bucket("inputs", "inputs"), switching
        entries.append((i, b, e))
        for name, kind, pin in sinks.get(net, []):
            passive = library.pins.get((kind, pin))
            if passive is not None and not lib.cells[kind].pins[pin].clock:
                entries.append((i, bucket(block_of(name, design), "sequential"),
                                passive.per_toggle(0.0, slew_ns) * library.energy_unit_pj))
    clock_entries, leak_entries, flops = [], [], 0
    for name, (kind, pins) in netlist.cells.items():
        cell = lib.cells[kind]
        block = block_of(name, design)
        leak_entries.append((bucket(block, "leakage"), library.leakage.get(kind, 0.0) * library.leakage_unit_w))
        clocks = [p for p in pins if cell.pins[p].clock]
        if cell.sequential and clocks:
            flops += 1
            for p in clocks:
                passive = library.pins.get((kind, p))
                e = cell.pins[p].capacitance * v2           # charged and discharged once a cycle
                if passive is not None:
                    e += 2 * passive.per_toggle(0.0, slew_ns) * library.energy_unit_pj
                clock_entries.append((bucket(block, "clock"), e))
    toggle_energy = np.zeros((len(nets), len(buckets)))
    for i, b, e in entries:
        toggle_energy[i, b] += e
    per_cycle = np.zeros(len(buckets))
    for b, e in clock_entries:
        per_cycle[b] += e
    leakage = np.zeros(len(buckets))
    for b, w in leak_entries:
        leakage[b] += w
    return EnergyModel(nets, list(buckets), toggle_energy, per_cycle, leakage, flops)
