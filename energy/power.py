"""Energy of a mapped netlist from per-net toggle counts and a characterized Liberty library.

The library reader (synth/liberty.py) gives, from its one parse of the file, what STA
needs and the three things energy needs beyond it: each output pin's `internal_power`
tables (energy per output transition, per related input pin), input pins' passive
`internal_power` (a flop's clock and D pins burn energy without an output change) and
each cell's `cell_leakage_power`, with the units that scale them.

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
Tables are read in the library's own units (capacitance, time); results are in pJ and W
whatever those are.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbsmt.synth.liberty import Library, LibertyError, Table, load_library
from nbsmt.synth.techmap import Netlist
from nbsmt.synth.timing import INPUT_SLEW_NS, NOMINAL_PERIOD_NS, block_of

CATEGORIES = ("clock", "sequential", "combinational", "inputs", "leakage")


@dataclasses.dataclass
class PinPower:
    """Energy tables of one pin: (rise, fall) per related pin (library energy units)."""

    arcs: list[tuple[Table, Table]]

    def per_toggle(self, load: float, slew: float) -> float:
        """Mean of rise and fall energy, averaged over the related pins (load and slew
        in library units)."""
        values = [(r.lookup(load, slew) + f.lookup(load, slew)) / 2 for r, f in self.arcs]
        return sum(values) / len(values)


@dataclasses.dataclass
class PowerLibrary:
    """A Liberty library and the scales from its units to the energy model's."""

    library: Library                              # cells, pins (leakage too), timing and power tables
    vdd: float                                    # V
    energy_unit_pj: float                         # pJ per unit of the internal_power tables
    leakage_unit_w: float                         # W per unit of cell_leakage_power
    capacitance_unit_pf: float                    # pF per unit of capacitance
    time_unit_ns: float                           # ns per unit of time
    pins: dict[tuple[str, str], PinPower]         # (cell, pin) -> energy tables


def load_power_library(source) -> PowerLibrary:
    """A `Library`, or the Liberty file at `source` (synth/liberty.py), with its energy
    scales; LibertyError when it lacks the supply voltage or a unit the model needs."""
    library = source if isinstance(source, Library) else load_library(source)
    units = library.units
    if not units.nom_voltage or units.nom_voltage <= 0:
        raise LibertyError(f"{library.path.name}: no nominal voltage")
    needed = {"capacitive_load_unit": units.capacitance, "voltage_unit": units.voltage,
              "leakage_power_unit": units.leakage_power, "time_unit": units.time}
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise LibertyError(f"{library.path.name}: no {', '.join(missing)} (the energy model needs it)")
    # Liberty's internal energy unit is capacitive_load_unit x voltage_unit^2.
    energy_pj = units.capacitance * units.voltage * units.voltage / 1e-12
    pins = {(name, pin.name): PinPower(pin.power) for name, cell in library.cells.items()
            for pin in cell.pins.values() if pin.power}
    return PowerLibrary(library, units.nom_voltage * units.voltage, energy_pj, units.leakage_power,
                        units.capacitance / 1e-12, units.time / 1e-9, pins)


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
    lib = library.library
    pf = library.capacitance_unit_pf
    # Loads and the slew in the library's units, the axes of its tables.
    output_load = lib.flip_flop_data_capacitance() if output_load_pf is None else output_load_pf / pf
    slew = slew_ns / library.time_unit_ns
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
                load[net] = load.get(net, 0.0) + output_load
    nets = sorted((set(load) | set(driver)) - clock_nets)
    buckets: dict[tuple[str, str], int] = {}

    def bucket(block: str, category: str) -> int:
        return buckets.setdefault((block, category), len(buckets))

    def passive(kind: str, pin: str) -> float:
        """Energy of one transition of an input pin with passive tables (else 0), pJ."""
        table = library.pins.get((kind, pin))
        return table.per_toggle(0.0, slew) * library.energy_unit_pj if table else 0.0

    entries: list[tuple[int, int, float]] = []
    for i, net in enumerate(nets):
        c = load.get(net, 0.0)
        switching = 0.5 * c * pf * v2               # pF x V^2 = pJ
        if net in driver:
            name, kind, pin = driver[net]
            category = ("clock" if net in clock_driven else
                        "sequential" if lib.cells[kind].sequential else "combinational")
            b = bucket(block_of(name, design), category)
            internal = library.pins.get((kind, pin))
            e = switching + (internal.per_toggle(c, slew) * library.energy_unit_pj if internal else 0.0)
        else:
            b, e = bucket("inputs", "inputs"), switching
        entries.append((i, b, e))
        for name, kind, pin in sinks.get(net, []):
            if library.pins.get((kind, pin)) is not None:
                category = "clock" if lib.cells[kind].pins[pin].clock else "sequential"
                entries.append((i, bucket(block_of(name, design), category), passive(kind, pin)))
    clock_entries, leak_entries = [], []
    for name, kind, pin in on_clock:                # charged and discharged once a cycle
        e = lib.cells[kind].pins[pin].capacitance * pf * v2 + 2 * passive(kind, pin)
        clock_entries.append((bucket(block_of(name, design), "clock"), e))
    flops = 0
    for name, (kind, pins) in netlist.cells.items():
        cell = lib.cells[kind]
        leak_entries.append((bucket(block_of(name, design), "leakage"),
                             cell.leakage * library.leakage_unit_w))
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
