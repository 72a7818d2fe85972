"""Timing records, the iso-frequency comparison at the OS-SA's clock, and their report.

Per timed design: critical path (ns), fmax (MHz), the path's start and end points and
the blocks it crosses, the area on the timing library (um^2) beside the area report's
NAND2-equivalent area. Per size, the comparison at the OS-SA's clock: the OS-SA (1T,
pipeline 0) sets the period T1; each thread count takes the smallest pipeline depth
whose critical path fits in T1 and is compared there:

    time speedup = cycle speedup x min(1, T1 / this design's period)

where the cycle speedup is the cycle model's (nbsmt.sim.cycles) for the `make sim` GEMM
on an array of that size, the OS-SA in mode 1 against this design in mode T with its
pipeline's extra cycles. A design that meets T1 runs at T1 (it gains nothing from a
faster clock of its own); one that meets it at no depth is compared at its own period.

That view pits a pipelined SySMT against an unpipelined OS-SA. Two like-for-like views
sit beside it (`fair_comparisons`), per size and thread count:

- **same depth**: the OS-SA and SySMT-T both at pipeline depth d, each at its own clock:
  time speedup = (cycles_1(d) x period_1(d)) / (cycles_T(d) x period_T(d)), area ratio
  at that depth;
- **best throughput per area**: each design at the depth where it does the most MACs
  per ns per um^2 (timing-library area), compared there.
"""

from __future__ import annotations

import csv
import io

from nbsmt.sim.clocks import choose_depth
from nbsmt.core.tables import markdown_table
from nbsmt.sim.cycles import gemm_cycles

from nbsmt.hw.design import Design

#: The `make sim` GEMM (bench/sim_demo.py): C[64,64] = A[64,256] @ W[256,64].
DEMO_GEMM = (64, 256, 64)


def _size(config: Design) -> str:
    return "PE" if config.kind == "pe" else f"{config.rows}x{config.cols}"


def timing_records(timings: dict[Design, dict], area_records: list[dict]) -> list[dict]:
    """One record per timed design, with the area report's GE figure when it has one."""
    ge = {(r["name"]): r.get("area_ge") for r in area_records}
    records = []
    for config, t in timings.items():
        records.append({
            "name": config.label, "design": config.kind, "size": _size(config),
            "rows": config.rows, "cols": config.cols, "threads": config.threads,
            "pipeline": config.pipeline, "policy_tag": config.policy.short_name,
            "critical_path_ns": t["critical_path_ns"], "fmax_mhz": t["fmax_mhz"],
            "startpoint": t["startpoint"], "endpoint": t["endpoint"], "blocks": t["blocks"],
            "cells_on_path": t["cells_on_path"], "timing_area_um2": t["area_um2"],
            "area_ge": ge.get(config.label), "cell_count": t["cell_count"],
            "fanout_buffers": t["fanout_buffers"], "library": t["library"],
            "map_seconds": t["map_seconds"], "sta_seconds": t["sta_seconds"],
            "cached": t["cached"], "path": t["path"],
        })
    records.sort(key=lambda r: (r["design"] != "pe", r["rows"], r["threads"], r["pipeline"]))
    return records


def cycle_speedup(rows: int, cols: int, threads: int, pipeline: int, gemm=DEMO_GEMM) -> float:
    """Cycle-model speedup of `gemm` in mode `threads` at `pipeline` over the OS-SA (mode 1,
    pipeline 0) on an R x C array."""
    m, k, n = gemm
    base = gemm_cycles(m, k, n, rows=rows, cols=cols, mode=1)
    return base / gemm_cycles(m, k, n, rows=rows, cols=cols, mode=threads, pipeline=pipeline)


def iso_frequency(records: list[dict], gemm=DEMO_GEMM) -> list[dict]:
    """Per size and thread count: the smallest depth meeting the OS-SA's clock and the
    comparison there (module doc). Sizes without a timed 1T pipeline-0 design are left out."""
    rows = []
    sizes = dict.fromkeys((r["design"], r["rows"], r["cols"]) for r in records)
    for design, r_, c_ in sizes:
        same = [r for r in records if (r["design"], r["rows"], r["cols"]) == (design, r_, c_)
                and r["policy_tag"] == "default"]
        base = next((r for r in same if r["threads"] == 1 and r["pipeline"] == 0), None)
        if base is None:
            continue
        t1 = base["critical_path_ns"]
        for threads in sorted({r["threads"] for r in same}):
            depths = {r["pipeline"]: r for r in same if r["threads"] == threads}
            chosen = depths[choose_depth([(d, r["critical_path_ns"]) for d, r in depths.items()], t1)]
            period = max(t1, chosen["critical_path_ns"])
            speedup = (cycle_speedup(r_, c_, threads, chosen["pipeline"], gemm)
                       if design == "array" else None)
            rows.append({
                "size": base["size"], "design": design, "rows": r_, "cols": c_, "threads": threads,
                "ossa_period_ns": t1, "pipeline": chosen["pipeline"],
                "meets_ossa_clock": chosen["critical_path_ns"] <= t1,
                "critical_path_ns": chosen["critical_path_ns"], "period_ns": period,
                "area_ratio_ge": (round(chosen["area_ge"] / base["area_ge"], 3)
                                  if chosen["area_ge"] and base["area_ge"] else None),
                "area_ratio_timing_lib": round(chosen["timing_area_um2"] / base["timing_area_um2"], 3),
                "cycle_speedup": round(speedup, 3) if speedup else None,
                "time_speedup": round(speedup * min(1.0, t1 / chosen["critical_path_ns"]), 3)
                if speedup else None,
                "gemm": list(gemm) if speedup else None,
            })
    return rows


def _gemm_ns(rows: int, cols: int, threads: int, pipeline: int, period_ns: float, gemm) -> float:
    m, k, n = gemm
    return gemm_cycles(m, k, n, rows=rows, cols=cols, mode=threads, pipeline=pipeline) * period_ns


def fair_comparisons(records: list[dict], gemm=DEMO_GEMM) -> list[dict]:
    """Per array size, thread count and view ("same depth" at each depth both designs
    were timed at, "best MACs/ns/um^2"): time speedup and area ratios against the OS-SA
    (module doc). Sizes without a timed OS-SA are left out."""
    rows = []
    macs = gemm[0] * gemm[1] * gemm[2]
    sizes = dict.fromkeys((r["rows"], r["cols"]) for r in records if r["design"] == "array")
    for r_, c_ in sizes:
        same = {(r["threads"], r["pipeline"]): r for r in records
                if r["design"] == "array" and (r["rows"], r["cols"]) == (r_, c_)
                and r["policy_tag"] == "default"}
        if not any(t == 1 for t, _ in same):
            continue

        def per_area(t, d):   # MACs per ns per um^2
            r = same[(t, d)]
            return macs / _gemm_ns(r_, c_, t, d, r["critical_path_ns"], gemm) / r["timing_area_um2"]

        best = {t: max((d for tt, d in same if tt == t), key=lambda d: per_area(t, d))
                for t, _ in same}
        views = [("same depth", d, d) for d in sorted({d for _, d in same})]
        views.append(("best MACs/ns/um^2", None, None))
        for view, base_depth, depth in views:
            for threads in sorted({t for t, _ in same}):
                d1 = best[1] if base_depth is None else base_depth
                dt = best[threads] if depth is None else depth
                if (1, d1) not in same or (threads, dt) not in same:
                    continue
                base, this = same[(1, d1)], same[(threads, dt)]
                base_ns = _gemm_ns(r_, c_, 1, d1, base["critical_path_ns"], gemm)
                this_ns = _gemm_ns(r_, c_, threads, dt, this["critical_path_ns"], gemm)
                rows.append({
                    "size": this["size"], "rows": r_, "cols": c_, "threads": threads,
                    "view": view, "pipeline": dt, "ossa_pipeline": d1,
                    "critical_path_ns": this["critical_path_ns"],
                    "ossa_critical_path_ns": base["critical_path_ns"],
                    "time_speedup": round(base_ns / this_ns, 3),
                    "area_ratio_timing_lib": round(this["timing_area_um2"] / base["timing_area_um2"], 3),
                    "area_ratio_ge": (round(this["area_ge"] / base["area_ge"], 3)
                                      if this["area_ge"] and base["area_ge"] else None),
                    "macs_per_ns_per_um2": per_area(threads, dt),
                    "throughput_per_area_ratio": round(per_area(threads, dt) / per_area(1, d1), 3),
                    "gemm": list(gemm),
                })
    return rows


def _f(x, digits=2) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}" if isinstance(x, float) else f"{x:,}"


def markdown(records: list[dict], iso: list[dict], *, command: str, library: str,
             fair: list[dict] = ()) -> str:
    lines = [
        "# SySMT timing report (OpenSTA on the mapped netlist)", "",
        f"Produced by `{command}`. Library: `{library}` (NLDM timing), delay-oriented ABC "
        "mapping with fanout repair (synth/techmap.py), OpenSTA with an ideal clock, no "
        "wires (synth/timing.py; docs/timing.md).", "",
        "## Critical path per design", "",
    ]
    lines += markdown_table(
        ["design", "threads", "pipeline", "critical path (ns)", "fmax (MHz)",
         "area (GE, Nangate-45 areas)", "area (um^2, timing library)", "path crosses",
         "start -> end"],
        [[r["size"], f"{r['threads']}T", r["pipeline"], _f(r["critical_path_ns"], 3),
          _f(r["fmax_mhz"], 1), _f(r["area_ge"], 0), _f(r["timing_area_um2"], 0),
          " > ".join(r["blocks"]), f"`{r['startpoint']}` -> `{r['endpoint']}`"] for r in records])
    m, k, n = DEMO_GEMM
    if fair:
        lines += ["", "## Like for like: the same pipeline depth, and each at its best "
                  "throughput per area", "",
                  "Each design at its own clock; time speedup = OS-SA time / SySMT time for the "
                  f"`make sim` GEMM ({m}x{k}x{n}) from the cycle model at each design's depth "
                  "and its critical path. \"best\" puts each design at the depth where it does "
                  "the most MACs per ns per um^2 (timing-library area).", ""]
        lines += markdown_table(
            ["design", "threads", "view", "pipeline (SySMT / OS-SA)",
             "critical path (ns, SySMT / OS-SA)", "time speedup", "area vs OS-SA (timing lib)",
             "area vs OS-SA (GE)", "MACs/ns/um^2 vs OS-SA"],
            [[r["size"], f"{r['threads']}T", r["view"], f"{r['pipeline']} / {r['ossa_pipeline']}",
              f"{r['critical_path_ns']:.3f} / {r['ossa_critical_path_ns']:.3f}",
              _f(r["time_speedup"], 3), _f(r["area_ratio_timing_lib"], 3),
              _f(r["area_ratio_ge"], 3), _f(r["throughput_per_area_ratio"], 3)] for r in fair])
    if iso:
        lines += ["", "## At the OS-SA's clock", "",
                  "For each thread count the smallest pipeline depth whose critical path fits in "
                  "the OS-SA's (1T, pipeline 0) period; time speedup = cycle speedup x "
                  "min(1, OS-SA period / this period), cycle speedup from the cycle model for "
                  f"the `make sim` GEMM ({m}x{k}x{n}, mode T) on an array of that size.", ""]
        lines += markdown_table(
            ["design", "threads", "OS-SA period (ns)", "pipeline", "critical path (ns)", "meets it",
             "area vs OS-SA (GE)", "area vs OS-SA (timing lib)", "cycle speedup", "time speedup"],
            [[r["size"], f"{r['threads']}T", _f(r["ossa_period_ns"], 3), r["pipeline"],
              _f(r["critical_path_ns"], 3), "yes" if r["meets_ossa_clock"] else "no",
              _f(r["area_ratio_ge"], 3), _f(r["area_ratio_timing_lib"], 3),
              _f(r["cycle_speedup"], 3), _f(r["time_speedup"], 3)] for r in iso])
    return "\n".join(lines) + "\n"


def csv_text(records: list[dict]) -> str:
    columns = ["name", "design", "rows", "cols", "threads", "pipeline", "policy_tag",
               "critical_path_ns", "fmax_mhz", "area_ge", "timing_area_um2", "cell_count",
               "fanout_buffers", "startpoint", "endpoint", "map_seconds", "sta_seconds", "cached"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns + ["blocks"])
    for r in records:
        writer.writerow([r[c] for c in columns] + [" > ".join(r["blocks"])])
    return out.getvalue()


def write_report(stage, records: list[dict], iso: list[dict], *, command: str, library: str,
                 sta: str, fair: list[dict] = ()) -> None:
    """Stage timing.md, timing.csv, timing.json (a `nbsmt.core.fileio.Stage`: written with
    the run's other outputs, all or none)."""
    stage.text("timing.md", markdown(records, iso, command=command, library=library, fair=fair))
    stage.text("timing.csv", csv_text(records))
    stage.json("timing.json", {"command": command, "library": library, "sta": sta,
                               "demo_gemm": list(DEMO_GEMM), "records": records,
                               "iso_frequency": iso, "fair_comparisons": list(fair)})
