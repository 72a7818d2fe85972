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


def _f(x, digits=2) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}" if isinstance(x, float) else f"{x:,}"


def markdown(records: list[dict], iso: list[dict], *, command: str, library: str) -> str:
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
    if iso:
        m, k, n = DEMO_GEMM
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
                 sta: str) -> None:
    """Stage timing.md, timing.csv, timing.json (a `nbsmt.core.fileio.Stage`: written with
    the run's other outputs, all or none)."""
    stage.text("timing.md", markdown(records, iso, command=command, library=library))
    stage.text("timing.csv", csv_text(records))
    stage.json("timing.json", {"command": command, "library": library, "sta": sta,
                               "demo_gemm": list(DEMO_GEMM), "records": records,
                               "iso_frequency": iso})
