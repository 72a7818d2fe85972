"""The trade-off across nodes (`make technology`): the 8x8 OS-SA, SySMT-2T and SySMT-4T at
pipeline depths 0 and 2 on every cell library, timed and priced on each.

Per library and design:

- area on the library (um^2) and its ratio to the OS-SA at the same depth, the critical
  path and fmax (synth/flow.py `time_design`: the timing flow of `nbsmt synth --pdk`);
- the like-for-like time speedups (synth/timing_report.py `fair_comparisons`): at the
  same depth, and each at its best MACs/ns/um^2;
- pJ/MAC of the `make sim` GEMM under both glitch models, from the per-action energies of
  a gate-level calibration run of the array on that library (energy/array.py, the
  estimate `nbsmt energy` makes; its direct-run validation is in `make energy`), with
  leakage at the design's own clock, the share of leakage in it, the energy ratio to the
  OS-SA at the same depth and the energy-delay product per MAC.

Every library's results are cached by content (the synthesis cache for timing, a JSON
cache here for each energy measurement), so a warm run only reads. Writes
build/technology/technology.{md,json,csv} and technology.png (energy ratio vs node), all
or none. Run: `python -m nbsmt.energy.technology [--pdk osu018,sky130hd,...] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from pathlib import Path

from nbsmt.core.cache import Cache, build_root, digest
from nbsmt.core.fileio import folder_outputs
from nbsmt.core.interrupts import Interrupted, handled
from nbsmt.core.plotting import pyplot, save_png
from nbsmt.core.pool import WorkerPool
from nbsmt.core.tables import markdown_table
from nbsmt.energy.array import gemm_energy, mapped_array
from nbsmt.energy.gatesim import GLITCH_MODELS
from nbsmt.energy.pe import power_library
from nbsmt.host.stimulus import demo_operands
from nbsmt.hw.design import Design
from nbsmt.synth import pdk
from nbsmt.synth.liberty import LibertyError
from nbsmt.synth.flow import time_design, yosys_version
from nbsmt.synth.timing import sta_version
from nbsmt.synth.timing_report import DEMO_GEMM, fair_comparisons

LIBRARIES = ("osu018", "sky130hd", "gf180mcu", "asap7")
#: Feature size (nm) of each named library: the plot's axis.
NODE_NM = {"osu018": 180, "sky130hd": 130, "gf180mcu": 180, "asap7": 7}
THREADS = (1, 2, 4)
DEPTHS = (0, 2)
REPORT_FILES = ("technology.md", "technology.json", "technology.csv", "technology.png")
CACHE_VERSION = 3


def designs(size: int, depths=DEPTHS) -> list[Design]:
    return [Design.array(size, size, t, pipeline=d) for d in depths for t in THREADS]


def _energy(spec: str, design: Design, model: str, period_ns: float, workdir: str) -> dict:
    """The demo GEMM's energy on `design` (energy/array.py `gemm_energy`)."""
    a, w = demo_operands()
    return gemm_energy(a, w, design=design, model=model, workdir=Path(workdir), pdk=spec,
                       period_ns=period_ns)


def _map(spec: str, design: Design, workdir: str) -> None:
    """Map `design` for the energy runs (cached), so both glitch models reuse it."""
    mapped_array(design, workdir=Path(workdir), pdk=spec)


def _time(spec: str, design: Design) -> dict:
    """`time_design` of `design` on the library `spec` (cached in the synthesis cache)."""
    return time_design(design, design.verilog(), pdk.load(spec), Cache(build_root() / "synth-cache"))


def measure(specs, size: int, *, jobs: int, progress=print) -> list[dict]:
    """One record per (library, design) (module doc). One pool for every library: first
    every design is timed and mapped, then every energy run not in the cache simulates;
    no library waits for another's last job."""
    energy_cache = Cache(build_root() / "technology-cache")
    libraries = {spec: pdk.usable(spec, power=True) for spec in specs}
    for spec in specs:
        power_library(spec)
    pairs = [(spec, d) for spec in specs for d in designs(size)]
    build_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nbsmt-technology-", dir=build_root()) as work, \
            WorkerPool(jobs) as pool:
        timing = {p: pool.submit(_time, *p) for p in pairs}
        timed = {}
        for (spec, d), future in timing.items():
            timed[(spec, d)] = future.result()
            progress(f"{spec} {d.label}: {timed[(spec, d)]['critical_path_ns']:.3f} ns, "
                     f"{timed[(spec, d)]['area_um2']:,.0f} um^2")
        found, todo = {}, []
        for spec, d in pairs:
            for m in GLITCH_MODELS:
                key = digest("technology", CACHE_VERSION, libraries[spec].digest, d.key, m,
                             timed[(spec, d)]["critical_path_ns"], DEMO_GEMM, yosys_version())
                hit = energy_cache.get_json("energy", key)
                if hit is not None:
                    found[(spec, d, m)] = hit
                else:
                    todo.append((spec, d, m, key))
        # each design mapped once (cached) before its glitch models simulate it
        for future in [pool.submit(_map, spec, d, str(Path(work) / "map"))
                       for spec, d in dict.fromkeys((spec, d) for spec, d, _, _ in todo)]:
            future.result()
        futures = {pool.submit(_energy, spec, d, m, timed[(spec, d)]["critical_path_ns"],
                               str(Path(work) / spec / m)): (spec, d, m, key)
                   for spec, d, m, key in todo}
        for future, (spec, d, m, key) in futures.items():
            found[(spec, d, m)] = future.result()
            energy_cache.put_json("energy", key, found[(spec, d, m)])
            progress(f"{spec} {d.label} {m}: {found[(spec, d, m)]['pj_per_mac']:.4f} pJ/MAC")
    records = []
    for spec, d in pairs:
        t = timed[(spec, d)]
        records.append({
            "pdk": spec, "library": libraries[spec].label, "node_nm": NODE_NM.get(spec),
            "vdd": power_library(spec).vdd, "design": "array", "size": f"{size}x{size}",
            "rows": size, "cols": size, "threads": d.threads, "pipeline": d.pipeline,
            "policy_tag": "default", "critical_path_ns": t["critical_path_ns"],
            "fmax_mhz": t["fmax_mhz"], "timing_area_um2": t["area_um2"], "area_ge": None,
            "path_blocks": t["blocks"],
            "energy": {m: found[(spec, d, m)] for m in GLITCH_MODELS},
        })
    return records


def comparisons(records: list[dict]) -> list[dict]:
    """Per library, thread count and view: time speedup, area ratio (fair_comparisons) and
    the energy ratios and energy x delay per MAC at the same depth."""
    rows = []
    for spec in dict.fromkeys(r["pdk"] for r in records):
        mine = [r for r in records if r["pdk"] == spec]
        for c in fair_comparisons(mine):
            this = next(r for r in mine if (r["threads"], r["pipeline"]) == (c["threads"], c["pipeline"]))
            base = next(r for r in mine if (r["threads"], r["pipeline"]) == (1, c["ossa_pipeline"]))
            row = {"pdk": spec, "node_nm": this["node_nm"], **c}
            for m in GLITCH_MODELS:
                e, e1 = this["energy"][m]["pj_per_mac"], base["energy"][m]["pj_per_mac"]
                row[f"energy_ratio_{m}"] = round(e / e1, 4)
                # energy x delay per MAC: pJ/MAC x the GEMM's time, relative to the OS-SA's
                row[f"edp_ratio_{m}"] = round(this["energy"][m]["edp_pj_ns_per_mac"]
                                              / base["energy"][m]["edp_pj_ns_per_mac"], 4)
            rows.append(row)
    return rows


def _f(x, digits=3):
    return "-" if x is None else f"{x:,.{digits}f}"


def markdown(records, compare, *, command: str, seconds: float) -> str:
    m, k, n = DEMO_GEMM
    lines = ["# SySMT across cell libraries", "",
             f"Produced by `{command}` in {seconds:.0f} s. Yosys {yosys_version()}, "
             f"{sta_version()}. Each design mapped onto the library (delay-oriented ABC, "
             "fanout repair), timed by OpenSTA, simulated at gate level by Icarus on a "
             f"calibration tile of the `make sim` GEMM ({m}x{k}x{n}) and priced with the "
             "library's own tables; the GEMM's energy is the per-action estimate, with leakage "
             "at each design's own clock (docs/technology.md).", "",
             "## Like for like: SySMT against the OS-SA", ""]
    lines += markdown_table(
        ["library", "T", "view", "pipeline", "time speedup", "area ratio",
         "energy ratio (zero-delay)", "energy ratio (cell delays)", "EDP ratio (zero-delay)",
         "EDP ratio (cell delays)"],
        [[c["pdk"], f"{c['threads']}T", c["view"], f"{c['pipeline']} / {c['ossa_pipeline']}",
          _f(c["time_speedup"], 2), _f(c["area_ratio_timing_lib"]),
          _f(c["energy_ratio_zero-delay"]), _f(c["energy_ratio_cell-delays"]),
          _f(c["edp_ratio_zero-delay"]), _f(c["edp_ratio_cell-delays"])]
         for c in compare if c["threads"] > 1])
    lines += ["", "## Every design", ""]
    lines += markdown_table(
        ["library", "node (nm)", "V", "T", "pipeline", "area (um^2)", "critical path (ns)",
         "fmax (MHz)", "pJ/MAC (zero-delay)", "pJ/MAC (cell delays)", "leakage share",
         "path crosses"],
        [[r["pdk"], r["node_nm"], f"{r['vdd']:g}", f"{r['threads']}T", r["pipeline"],
          _f(r["timing_area_um2"], 0), _f(r["critical_path_ns"]), _f(r["fmax_mhz"], 1),
          _f(r["energy"]["zero-delay"]["pj_per_mac"], 4), _f(r["energy"]["cell-delays"]["pj_per_mac"], 4),
          f"{r['energy']['zero-delay']['leakage_share']:.2%}", " > ".join(r["path_blocks"])]
         for r in records])
    lines += split_tables(records)
    return "\n".join(lines) + "\n"


def split_tables(records, model: str = "zero-delay") -> list[str]:
    """Where the energy goes on each library: the calibration tile's pJ/MAC by category
    and each block's share, per design (what docs/technology.md reads the node from)."""
    rows = [r for r in records if "calibration_pj_per_mac_by_category" in r["energy"][model]]
    if not rows:
        return []
    cats = list(rows[0]["energy"][model]["calibration_pj_per_mac_by_category"])
    blocks = sorted({b for r in rows for b in r["energy"][model]["calibration_pj_per_mac_by_block"]})
    lines = ["", f"## Where the energy goes ({model}, calibration tile, pJ/MAC by category)", ""]
    lines += markdown_table(
        ["library", "T", "pipeline", *cats, "total"],
        [[r["pdk"], f"{r['threads']}T", r["pipeline"],
          *(_f(r["energy"][model]["calibration_pj_per_mac_by_category"][c], 4) for c in cats),
          _f(sum(r["energy"][model]["calibration_pj_per_mac_by_category"].values()), 4)]
         for r in rows])
    lines += ["", f"## Share of each block ({model}, calibration tile, % of its energy)", ""]
    cells = []
    for r in rows:
        split = r["energy"][model]["calibration_pj_per_mac_by_block"]
        total = sum(split.values())
        cells.append([r["pdk"], f"{r['threads']}T", r["pipeline"],
                      *(f"{100 * split.get(b, 0.0) / total:.1f}" for b in blocks)])
    lines += markdown_table(["library", "T", "pipeline", *blocks], cells)
    return lines


def csv_text(records, compare) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["pdk", "node_nm", "threads", "pipeline", "area_um2", "critical_path_ns",
                     "fmax_mhz", "pj_per_mac_zero_delay", "pj_per_mac_cell_delays",
                     "leakage_share_zero_delay", "time_speedup_same_depth", "area_ratio_same_depth",
                     "energy_ratio_zero_delay", "energy_ratio_cell_delays"])
    same = {(c["pdk"], c["threads"], c["pipeline"]): c for c in compare if c["view"] == "same depth"}
    for r in records:
        c = same.get((r["pdk"], r["threads"], r["pipeline"]), {})
        writer.writerow([r["pdk"], r["node_nm"], r["threads"], r["pipeline"], r["timing_area_um2"],
                         r["critical_path_ns"], r["fmax_mhz"],
                         r["energy"]["zero-delay"]["pj_per_mac"], r["energy"]["cell-delays"]["pj_per_mac"],
                         r["energy"]["zero-delay"]["leakage_share"], c.get("time_speedup"),
                         c.get("area_ratio_timing_lib"), c.get("energy_ratio_zero-delay"),
                         c.get("energy_ratio_cell-delays")])
    return out.getvalue()


def plot(compare, path: Path) -> bool:
    """Energy ratio vs OS-SA at the same depth against the node, per T and glitch model."""
    plt = pyplot()
    rows = [c for c in compare if c["view"] == "same depth" and c["threads"] > 1]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for t in (2, 4):
        for m, style in (("zero-delay", "-o"), ("cell-delays", "--s")):
            for depth in sorted({c["pipeline"] for c in rows}):
                pts = sorted((c["node_nm"], c[f"energy_ratio_{m}"], c["pdk"]) for c in rows
                             if c["threads"] == t and c["pipeline"] == depth)
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style,
                            label=f"{t}T, depth {depth}, {m}")
    for c in rows:
        if c["threads"] == 4 and c["pipeline"] == rows[0]["pipeline"]:
            ax.annotate(c["pdk"], (c["node_nm"], c["energy_ratio_zero-delay"]), fontsize=8)
    ax.set_xscale("log")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("node (nm)")
    ax.set_ylabel("GEMM energy vs OS-SA (same depth)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbsmt.energy.technology",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdk", default=",".join(LIBRARIES),
                        help="libraries, by name, joined by commas (default: all four)")
    parser.add_argument("--size", type=int, default=8, help="array size N (N x N; default 8)")
    parser.add_argument("--jobs", type=int, default=2, help="simulations in parallel (default 2)")
    parser.add_argument("--out", default=str(build_root() / "technology"), help="report folder")
    args = parser.parse_args(argv)
    specs = [s for s in args.pdk.split(",") if s]
    out = Path(args.out)
    outputs = folder_outputs(out, REPORT_FILES)
    start = time.monotonic()
    try:
        # Ctrl-C / SIGTERM stop the worker processes too (finished results stay cached)
        with handled():
            records = measure(specs, args.size, jobs=args.jobs,
                              progress=lambda s: print(s, file=sys.stderr, flush=True))
    except (LibertyError, ValueError) as exc:
        print(f"technology: error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        print("technology: interrupted; finished measurements are cached", file=sys.stderr)
        return exc.status
    compare = comparisons(records)
    seconds = time.monotonic() - start
    command = "python -m nbsmt.energy.technology " + " ".join(argv if argv is not None else sys.argv[1:])
    with outputs.staging() as stage:
        stage.text("technology.md", markdown(records, compare, command=command.strip(), seconds=seconds))
        stage.text("technology.csv", csv_text(records, compare))
        stage.json("technology.json", {"command": command.strip(), "seconds": round(seconds, 1),
                                       "demo_gemm": list(DEMO_GEMM), "records": records,
                                       "comparisons": compare})
        if not plot(compare, stage.path("technology.png")):
            stage.skip("technology.png")
    for c in compare:
        if c["threads"] > 1 and c["view"] == "same depth":
            print(f"{c['pdk']:9s} {c['threads']}T depth {c['pipeline']}: {c['time_speedup']:.2f}x time, "
                  f"{c['area_ratio_timing_lib']:.3f}x area, energy {c['energy_ratio_zero-delay']:.3f}x "
                  f"(zero-delay) {c['energy_ratio_cell-delays']:.3f}x (cell delays)")
    print(f"report: {out / 'technology.md'} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
