"""Cell libraries by name or by path: which Liberty files make one, which cells to avoid.

`--pdk` names a library the flows map, time and price on:

- `osu018` (the default): OSU 0.18 um from Debian's qflow-tech-osu018 (`make setup`);
- `sky130hd`, `asap7`, `gf180mcu`: the open PDKs' typical-corner files, found under
  `$PDK_ROOT` in the layouts their installers use (open_pdks/volare, the
  OpenROAD-flow-scripts platforms, lambdapdk), or in `../shared/pdk` beside the
  project when it is there;
- a path, or several joined by commas (one library split in files, as ASAP7's five),
  plain or gzip.

Each known library carries the cells a mapper must not use (`DONT_USE`, matched by the
library's name in the file, so a path to a SKY130 file gets SKY130's list too), for
the reasons docs/technology.md gives: cells for test or analog purposes, delay cells
that only a hold-fixing step should place, and cells too weak to drive a net.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from nbsmt.synth.liberty import Library, LibertyError, library_name, load_library
from nbsmt.synth.techmap import OSU_LIBERTY, OSU_PACKAGE

#: The folder of official PDK Liberty files beside the project (a checkout's ../shared/pdk).
SHARED_PDK = Path(__file__).resolve().parents[1].parent / "shared" / "pdk"

ASAP7_PARTS = ("SIMPLE", "INVBUF", "SEQ", "AO", "OA")


@dataclasses.dataclass(frozen=True)
class KnownLibrary:
    """A library known by name: where its files are found, what not to map onto."""

    name: str
    description: str
    files: tuple[str, ...]            # file names (each may also exist with .gz)
    folders: tuple[str, ...]          # folders to look in, relative to $PDK_ROOT
    shared_folder: str | None         # the folder under ../shared/pdk
    library_prefix: str               # the start of the `library (...)` name in its files


KNOWN = {
    "osu018": KnownLibrary("osu018", "OSU 0.18 um (qflow-tech-osu018)",
                           (OSU_LIBERTY.name,), (), None, "osu018"),
    "sky130hd": KnownLibrary(
        "sky130hd", "SkyWater SKY130 high density, tt 25C 1.80 V",
        ("sky130_fd_sc_hd__tt_025C_1v80.lib",),
        ("sky130A/libs.ref/sky130_fd_sc_hd/lib", "sky130B/libs.ref/sky130_fd_sc_hd/lib",
         "sky130/sky130A/libs.ref/sky130_fd_sc_hd/lib", "sky130hd/lib", "sky130_fd_sc_hd/lib",
         "sky130_fd_sc_hd"),
        "sky130_fd_sc_hd", "sky130_fd_sc_hd__"),
    "asap7": KnownLibrary(
        "asap7", "ASAP7 7.5-track RVT, TT 0.70 V",
        tuple(f"asap7sc7p5t_{part}_RVT_TT_nldm.lib" for part in ASAP7_PARTS),
        ("asap7/lib", "asap7/lib/NLDM", "asap7/libs.ref/asap7sc7p5t_rvt/lib",
         "asap7sc7p5t_rvt/lib", "asap7sc7p5t_rvt"),
        "asap7sc7p5t_rvt", "asap7sc7p5t_"),
    "gf180mcu": KnownLibrary(
        "gf180mcu", "GlobalFoundries GF180MCU 7-track, tt 25C 1.80 V",
        ("gf180mcu_fd_sc_mcu7t5v0__tt_025C_1v80.lib",),
        ("gf180mcuD/libs.ref/gf180mcu_fd_sc_mcu7t5v0/lib",
         "gf180mcuC/libs.ref/gf180mcu_fd_sc_mcu7t5v0/lib",
         "gf180mcu/libs.ref/gf180mcu_fd_sc_mcu7t5v0/lib", "gf180mcu_fd_sc_mcu7t5v0/lib",
         "gf180mcu_fd_sc_mcu7t5v0"),
        "gf180mcu_fd_sc_mcu7t5v0", "gf180mcu_fd_sc_mcu7t5v0__"),
}

#: Cells the mappers must not use, per library name prefix (docs/technology.md says why).
DONT_USE = {
    "sky130_fd_sc_hd__": (
        "*probe*",          # probe_p/probec_p: test points for the e-beam prober
        "*lpflow*",         # low-power flow cells: isolation, bleeders, keep-alive buffers
        "*dlygate*", "*dlymetal*", "*clkdly*",   # delay cells, for hold fixing only
        "*conb*",           # tie cell with two outputs; ties come from the netlist
        "*macro_sparecell*", "*fill*", "*tap*", "*decap*", "*diode*",
    ),
    "asap7sc7p5t_": (
        "*x1p*_ASAP7*", "*xp*_ASAP7*",   # the sub-unit drives (xp33, x1p5...): too weak
        "SDF*",             # scan flops: no scan chain here
        "HB*",              # hold buffers (delay cells), for hold fixing only
    ),
    "gf180mcu_fd_sc_mcu7t5v0__": (
        "*dly*", "*hold*",  # delay cells and the bus holder, not logic
        "*icgtn*",          # falling-edge clock gates: every flop here is rising-edge
        "*antenna*", "*fill*", "*endcap*", "*tie*",
    ),
}


def default_name() -> str:
    return "osu018"


def short_name(spec: str) -> str:
    """What reports call the library `--pdk spec` names: its name, or its first file's
    stem (sky130_fd_sc_hd__tt_025C_1v80 for that file's path)."""
    spec = spec.strip()
    if spec in KNOWN:
        return spec
    first = Path(spec.split(",")[0])
    return first.name.removesuffix(".gz").removesuffix(".lib")


def find_files(known: KnownLibrary) -> list[Path] | None:
    """The files of a known library under $PDK_ROOT or ../shared/pdk; None if absent."""
    if known.name == "osu018":
        return [OSU_LIBERTY] if OSU_LIBERTY.exists() else None
    roots = []
    if os.environ.get("PDK_ROOT"):
        roots += [Path(os.environ["PDK_ROOT"]) / folder for folder in known.folders]
    if known.shared_folder:
        roots.append(SHARED_PDK / known.shared_folder)
    for root in roots:
        found = []
        for name in known.files:
            stem = name.removesuffix(".lib")
            candidates = [root / name, root / f"{name}.gz"] + \
                sorted(root.glob(f"{stem}*.lib")) + sorted(root.glob(f"{stem}*.lib.gz"))
            hit = next((c for c in candidates if c.is_file()), None)
            if hit is None:
                break
            found.append(hit)
        else:
            return found
    return None


def where_to_look(known: KnownLibrary) -> str:
    if known.name == "osu018":
        return f"{OSU_LIBERTY} (run `make setup`: installs {OSU_PACKAGE})"
    return (f"$PDK_ROOT/{{{','.join(known.folders[:2])},...}} or {SHARED_PDK / known.shared_folder}"
            f" ({', '.join(known.files[:2])}{', ...' if len(known.files) > 2 else ''})")


def resolve(spec: str) -> list[Path]:
    """The Liberty files `--pdk` names: a known name, or paths joined by commas;
    LibertyError (one line) when a known library is not installed."""
    spec = spec.strip()
    if spec in KNOWN:
        files = find_files(KNOWN[spec])
        if files is None:
            raise LibertyError(f"library {spec} not found: looked in {where_to_look(KNOWN[spec])}; "
                               "set PDK_ROOT or pass the Liberty file(s)")
        return files
    paths = [Path(p) for p in spec.split(",") if p.strip()]
    if not paths:
        raise LibertyError(f"--pdk {spec!r} names no library: use one of "
                           f"{', '.join(KNOWN)} or Liberty file paths")
    if len(paths) == 1 and not paths[0].exists() and os.sep not in spec and "." not in spec:
        raise LibertyError(f"unknown library {spec!r}: use one of {', '.join(KNOWN)} or a "
                           "Liberty file path")
    return paths


def dont_use_for(library_name: str) -> tuple[str, ...]:
    """The dont_use patterns of the library named `library_name` in its file."""
    return next((patterns for prefix, patterns in DONT_USE.items()
                 if library_name.startswith(prefix)), ())


def load(spec: str) -> Library:
    """The library `--pdk spec` names, read once per process, with its dont_use list."""
    files = resolve(spec)
    return load_library(*files, dont_use=dont_use_for(library_name(files[0])))


def check_units(library: Library, *, power: bool) -> None:
    """LibertyError (one line) when the library lacks a unit or table the flows need:
    timing always, power (internal_power tables, leakage) with `power`."""
    if not library.has_timing:
        raise LibertyError(f"{library.path.name} has no timing tables (no cell_rise/cell_fall): "
                           "the timing flow needs an NLDM Liberty library")
    units = library.units
    needed = {"time_unit": units.time, "capacitive_load_unit": units.capacitance,
              "voltage_unit": units.voltage, "nom_voltage": units.nom_voltage}
    if power:
        needed["leakage_power_unit"] = units.leakage_power
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise LibertyError(f"{library.path.name}: no {', '.join(missing)}")
    if power and not any(pin.power for cell in library.cells.values() for pin in cell.pins.values()):
        raise LibertyError(f"{library.path.name} has no internal_power tables: the energy flow "
                           "needs a library characterized for power")


def usable(spec: str, *, power: bool) -> Library:
    """The library `--pdk spec` names, checked for what the flows read before they start:
    its units and tables (`check_units`), a flip-flop input load and a buffer (mapping
    and timing); LibertyError (one line) names what is missing."""
    library = load(spec)
    check_units(library, power=power)
    library.flip_flop_data_capacitance()
    library.strongest_buffer()
    return library
