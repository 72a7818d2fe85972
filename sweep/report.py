"""The sweep's report: one table (a row per design point, a column per metric, ratios
against the OS-SA of the same size) as CSV, JSON and Markdown, and a Pareto plot of area
against speedup, coloured by accuracy loss, with the Pareto-optimal points (judged on
area, speedup and accuracy loss together) marked. All files are written all or nothing.

Ratios: area_ratio = area / the OS-SA's area; speedup = the OS-SA's cycles / cycles on
the same workload (both arrays R x R; the OS-SA in mode 1, the design in mode T);
time_speedup = the same in time at the OS-SA's clock, when the designs were timed;
energy_ratio and edp_ratio = pJ/MAC and energy x delay per MAC / the OS-SA's, when the
energy metric ran. Like for like, against the 1T array of the same size, library and
pipeline depth when the grid has it: time_speedup_same_depth (each at its own clock),
energy_ratio_same_depth, edp_ratio_same_depth. An undefined value (a metric that failed
or was not asked for) is null, never NaN.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math

from nbsmt.core.fileio import OutputSet, folder_outputs
from nbsmt.core.tables import markdown_table
from nbsmt.sweep.grid import DesignPoint

PARETO_PNG = "pareto.png"
#: Columns that judge accuracy, best first: the first one present colours the plot.
ACCURACY_COLUMNS = ("top1_loss_pp", "rel_frobenius")


def _ratio(num, den):
    if num is None or den in (None, 0):
        return None
    return num / den


def _time_ns(row: dict):
    if row.get("cycles") is None or row.get("critical_path_ns") is None:
        return None
    return row["cycles"] * row["critical_path_ns"]


def with_ratios(points: list[DesignPoint], rows: list[dict]) -> list[dict]:
    """`rows` plus, against each point's OS-SA row: area_ratio, speedup (cycles), when
    both were timed time_speedup at the OS-SA's clock (`nbsmt.sim.clocks.time_speedup`),
    when priced energy_ratio and edp_ratio; and the same-depth ratios (module doc)."""
    from nbsmt.sim.clocks import time_speedup
    by_point = dict(zip(points, rows))
    out = []
    for point, row in zip(points, rows):
        base = by_point.get(point.baseline(), {})
        row = dict(row)
        row["area_ratio"] = _ratio(row.get("area_ge"), base.get("area_ge"))
        row["speedup"] = _ratio(base.get("cycles"), row.get("cycles"))
        timed = [r.get(k) for r in (base, row) for k in ("cycles", "critical_path_ns")]
        if all(v is not None for v in timed):
            row["time_speedup"] = time_speedup(*timed)
        if "pj_per_mac" in row:
            row["energy_ratio"] = _ratio(row.get("pj_per_mac"), base.get("pj_per_mac"))
            row["edp_ratio"] = _ratio(row.get("edp_pj_ns_per_mac"), base.get("edp_pj_ns_per_mac"))
        same = by_point.get(dataclasses.replace(point.baseline(), pipeline=point.pipeline))
        if same is not None and "critical_path_ns" in row:
            row["time_speedup_same_depth"] = _ratio(_time_ns(same), _time_ns(row))
        if same is not None and "pj_per_mac" in row:
            row["energy_ratio_same_depth"] = _ratio(row.get("pj_per_mac"), same.get("pj_per_mac"))
            row["edp_ratio_same_depth"] = _ratio(row.get("edp_pj_ns_per_mac"),
                                                 same.get("edp_pj_ns_per_mac"))
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in row.items()})
    return out


def speed_column(rows: list[dict]) -> str:
    """time_speedup when the sweep timed its designs, else speedup (in cycles)."""
    return "time_speedup" if any(r.get("time_speedup") is not None for r in rows) else "speedup"


def objectives(rows: list[dict]) -> list[tuple[str, int]]:
    """(column, sense) the front is judged on: area ratio (smaller), speedup in time (or in
    cycles, untimed; larger) and, when measured, the first accuracy-loss column (smaller)."""
    found = [("area_ratio", -1), (speed_column(rows), 1)]
    loss = next((c for c in ACCURACY_COLUMNS if any(r.get(c) is not None for r in rows)), None)
    return found + ([(loss, -1)] if loss else [])


def pareto_front(rows: list[dict]) -> list[dict]:
    """Rows that no other row beats on every objective (`objectives`) while being strictly
    better on one: nothing else is as small, as fast and as accurate at once."""
    objs = objectives(rows)
    pts = [r for r in rows if all(r.get(c) is not None for c, _ in objs)]

    def beats(q, r):
        better_or_equal = all(sense * q[c] >= sense * r[c] for c, sense in objs)
        return better_or_equal and any(sense * q[c] > sense * r[c] for c, sense in objs)
    speed = objs[1][0]
    return sorted((r for r in pts if not any(beats(q, r) for q in pts)),
                  key=lambda r: (r["area_ratio"], -r[speed]))


def columns(rows: list[dict]) -> list[str]:
    """Every key of every row, in first-seen order (error last)."""
    cols = list(dict.fromkeys(k for r in rows for k in r if k != "error"))
    return cols + ["error"]


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown(record: dict) -> str:
    rows, front = record["rows"], {r["name"] for r in record["pareto_front"]}
    speed = speed_column(rows)
    shown = ["name", "area_ge", "area_ratio", "cycles", "speedup",
             *[c for c in ("critical_path_ns", "time_speedup", "time_speedup_same_depth",
                           "pj_per_mac", "energy_ratio", "energy_ratio_same_depth",
                           "edp_ratio_same_depth", "leakage_share") if any(c in r for r in rows)],
             *[c for c in ("top1", *ACCURACY_COLUMNS, "lossy_mac_rate") if any(c in r for r in rows)]]
    lines = ["# Design-space sweep", "",
             f"Produced by `{record['command']}`. Workload: {record['workload']}. "
             f"{len(rows)} design points, metrics {', '.join(record['metrics'])}; "
             f"{record['failed']} failed. Wall time {record['wall_seconds']:.1f} s "
             f"({record['executor']}).", "",
             "Ratios are against the OS-SA (1 thread, default policy) of the same size: "
             "area_ratio = area / OS-SA area (NAND2 gate equivalents, `nbsmt synth`'s "
             "flow); speedup = OS-SA cycles / cycles on the workload (the array cycle "
             "model, mode = threads); time_speedup = the same in time at the OS-SA's clock, "
             "each design at the slower of its own clock and the OS-SA's (critical paths on "
             "each point's cell library, OpenSTA; docs/timing.md); *_same_depth: against the "
             "1T array at the same pipeline depth, each at its own clock; energy_ratio: pJ/MAC "
             "of the workload against the OS-SA's (zero-delay gate-level estimate). "
             "Pareto-optimal points are in bold: no other point is "
             f"at once at least as good on {', '.join(c for c, _ in objectives(rows))} "
             "and better on one.", "",
             "## Pareto-optimal points", ""]
    for r in record["pareto_front"]:
        lines.append(f"- **{r['name']}**: area {_fmt(r['area_ratio'])}x, speedup "
                     f"{_fmt(r['speedup'])}x in cycles"
                     + (f", {_fmt(r['time_speedup'])}x in time" if speed == "time_speedup" else "")
                     + "".join(f", {c} {_fmt(r[c])}" for c in ACCURACY_COLUMNS if c in r))
    lines += ["", f"![Pareto plot]({PARETO_PNG})", "", "## All points", ""]
    lines += markdown_table(shown, [[f"**{r['name']}**" if r["name"] in front else r["name"],
                                     *(_fmt(r.get(c)) for c in shown[1:])] for r in rows])
    failed = [r for r in rows if r.get("error")]
    if failed:
        lines += ["", "## Failed points", ""]
        lines += [f"- {r['name']}: {r['error']}" for r in failed]
    return "\n".join(lines) + "\n"


def pareto_plot(record: dict, path) -> None:
    from nbsmt.core.plotting import pyplot, save_png
    plt = pyplot()
    speed = speed_column(record["rows"])
    rows = [r for r in record["rows"] if r.get("area_ratio") is not None
            and r.get(speed) is not None]
    colour = next((c for c in ACCURACY_COLUMNS if any(r.get(c) is not None for r in rows)), None)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if rows:
        values = [r.get(colour) if colour else None for r in rows]
        kwargs = {}
        if colour and all(v is not None for v in values):
            kwargs = {"c": values, "cmap": "viridis"}
        sc = ax.scatter([r["area_ratio"] for r in rows], [r[speed] for r in rows],
                        s=40, zorder=2, **kwargs)
        if kwargs:
            fig.colorbar(sc, ax=ax, label=colour)
        front = record["pareto_front"]
        ax.plot([r["area_ratio"] for r in front], [r[speed] for r in front], "o",
                mec="red", mfc="none", ms=12, label="Pareto-optimal", zorder=3)
        for r in front:
            ax.annotate(r["name"], (r["area_ratio"], r[speed]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("area / OS-SA area (same size)")
    ax.set_ylabel("speedup vs OS-SA (time, at the OS-SA clock)" if speed == "time_speedup"
                  else "speedup vs OS-SA (cycles)")
    ax.grid(alpha=0.3)
    ax.set_title(f"{record['workload']} ({record['command']})", fontsize=8)
    save_png(fig, path, bbox_inches="tight")


REPORT_FILES = ("sweep.json", "sweep.csv", PARETO_PNG, "sweep.md")


def report_outputs(out, json_path=None, inputs: dict | None = None) -> OutputSet:
    """The report's files in folder `out` (and `json_path`), checked before the sweep runs."""
    return folder_outputs(out, REPORT_FILES, json_path, inputs=inputs)


def write_report(outputs: OutputSet, record: dict) -> None:
    """Write every file of `outputs` from `record`, all or none."""
    with outputs.staging() as stage:
        stage.json("sweep.json", record)
        stage.json("--json", record)
        stage.text("sweep.csv", to_csv(record["rows"]))
        pareto_plot(record, stage.path(PARETO_PNG))
        stage.text("sweep.md", markdown(record))
