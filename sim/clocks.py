"""Cycles to time: the clock period of each design, from the timing report or the user.

Cycle speedups assume every design runs at the OS-SA's clock. `nbsmt synth` measures
the clock each design meets (build/synth/timing.json: OpenSTA on the OSU 0.18 um
mapping, docs/timing.md); the simulation and evaluation commands read it here to put
a speedup in time next to the one in cycles, or take a period the user gives
(`--clock-ns`). At the OS-SA's clock a design runs at the slower of the two periods:

    time speedup = (OS-SA cycles x T1) / (cycles x max(T1, period))
                 = cycle speedup x min(1, T1 / period)
"""

from __future__ import annotations

import math
from pathlib import Path

from nbsmt.core.cache import build_root
from nbsmt.core.errors import InputError
from nbsmt.core.reports import (check_report_finite, existing_report, read_report_json, report_at, report_choice,
                                report_error, report_field, report_int, report_list,
                                report_number, report_object, shown)


def default_timing_report() -> Path:
    """Where `make synth` writes the timing report."""
    return build_root() / "synth" / "timing.json"


def check_clock_ns(value, flag: str = "--clock-ns") -> float:
    """A clock period in ns: a finite positive number (InputError otherwise)."""
    try:
        period = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{flag} must be a clock period in ns (a positive number), not {value!r}") from None
    if not math.isfinite(period) or period <= 0:
        raise InputError(f"{flag} must be a clock period in ns (a positive number), not {value!r}")
    return period


TIMED_DESIGNS = ("pe", "array")


def check_timing_report(doc, path) -> None:
    """The timing report of `nbsmt synth` (synth/timing_report.py) as `load_periods` reads
    it: an object whose `records` are objects with a design ("pe" or "array"), rows and
    cols (integers >= 1), threads (1, 2, 4), pipeline (0, 1, 2), an optional policy_tag
    (a string) and critical_path_ns (a finite positive number), one record per
    default-policy design; every number finite. InputError naming the file and field."""
    from nbsmt.core.policy import PIPELINE_DEPTHS, THREAD_CHOICES

    report_object(doc, path, "", "a JSON object")
    records = report_list(report_field(doc, "records", path, ""), path, "records")
    seen: dict[tuple, int] = {}
    for i, record in enumerate(records):
        at = report_at("records", i)
        report_object(record, path, at)

        def field(key):
            return report_field(record, key, path, at)
        design = report_choice(field("design"), path, report_at(at, "design"), TIMED_DESIGNS)
        rows = report_int(field("rows"), path, report_at(at, "rows"), 1)
        cols = report_int(field("cols"), path, report_at(at, "cols"), 1)
        threads = report_choice(field("threads"), path, report_at(at, "threads"), THREAD_CHOICES)
        pipeline = report_choice(field("pipeline"), path, report_at(at, "pipeline"), PIPELINE_DEPTHS)
        tag = record.get("policy_tag", "default")
        if not isinstance(tag, str):
            raise report_error(path, report_at(at, "policy_tag"), f"must be a string, not {shown(tag)}")
        report_number(field("critical_path_ns"), path, report_at(at, "critical_path_ns"), positive=True)
        if "fmax_mhz" in record:          # unread, but a frequency: 0, -1 or text is a broken report
            report_number(record["fmax_mhz"], path, report_at(at, "fmax_mhz"), positive=True)
        if tag == "default":
            key = (design, rows, cols, threads, pipeline)
            if key in seen:
                raise report_error(path, at, f"times the same design as records[{seen[key]}] "
                                             f"({design} {rows}x{cols} {threads}T pipeline {pipeline})")
            seen[key] = i
    check_report_finite(doc, path)


def load_periods(path, flag: str | None = None) -> dict[tuple, float]:
    """{(design, rows, cols, threads, pipeline): critical path ns} of a timing report's
    default-policy designs, checked (`check_timing_report`); {} when the file does not
    exist, unless the user named it with `flag` (then InputError)."""
    path = existing_report(path, flag)
    if path is None:
        return {}
    doc = read_report_json(path)
    check_timing_report(doc, path)
    return {(r["design"], r["rows"], r["cols"], r["threads"], r["pipeline"]): float(r["critical_path_ns"])
            for r in doc["records"] if r.get("policy_tag", "default") == "default"}


def time_speedup(ossa_cycles: int, ossa_period_ns: float, cycles: int, period_ns: float) -> float:
    """Speedup in time at the OS-SA's clock (module doc)."""
    return (ossa_cycles * ossa_period_ns) / (cycles * max(ossa_period_ns, period_ns))


def array_clocks(periods: dict[tuple, float], rows: int, cols: int, threads: int,
                 pipeline: int, clock_ns: float | None = None) -> dict | None:
    """This array's period and the OS-SA's (1T, pipeline 0, same size), with their source;
    None when neither the report nor the user gives this array's period."""
    ossa = periods.get(("array", rows, cols, 1, 0))
    mine = periods.get(("array", rows, cols, threads, pipeline))
    if clock_ns is not None:
        return {"period_ns": clock_ns, "ossa_period_ns": ossa if ossa is not None else clock_ns,
                "source": "--clock-ns" + (", OS-SA from the timing report" if ossa is not None
                                          else " (OS-SA assumed at the same clock)")}
    if mine is None or ossa is None:
        return None
    return {"period_ns": mine, "ossa_period_ns": ossa, "source": "timing report"}


def choose_depth(depth_periods, ossa_period_ns: float) -> int:
    """The smallest pipeline depth whose period meets the OS-SA's, else the fastest one.
    `depth_periods`: (depth, period ns) pairs of one design at different depths."""
    pairs = sorted(depth_periods)
    meeting = [d for d, p in pairs if p <= ossa_period_ns]
    return meeting[0] if meeting else min(pairs, key=lambda dp: dp[1])[0]


def iso_depths(periods: dict[tuple, float], rows: int, cols: int) -> dict[int, int]:
    """Per thread count, the smallest timed pipeline depth of an R x C array meeting the
    OS-SA's clock (or its fastest depth when none does); {} without a timed OS-SA."""
    ossa = periods.get(("array", rows, cols, 1, 0))
    if ossa is None:
        return {}
    return {threads: choose_depth([(k[4], p) for k, p in periods.items()
                                   if k[:4] == ("array", rows, cols, threads)], ossa)
            for threads in sorted({k[3] for k in periods if k[:3] == ("array", rows, cols)})}


def gemms_time_speedup(ossa_cycles: int, cycles: int, gemms: int, *, rows: int, cols: int,
                       threads: int, periods: dict[tuple, float],
                       clock_ns: float | None = None) -> dict | None:
    """A workload of `gemms` GEMMs taking `cycles` on a pipeline-0 T-thread array (and
    `ossa_cycles` on the OS-SA), run on the array at the depth that meets the OS-SA's
    clock: each GEMM pays the depth's cycles once (nbsmt.sim.cycles). With `clock_ns`
    the user's period is taken at pipeline 0. None without any period."""
    depth = 0 if clock_ns is not None else iso_depths(periods, rows, cols).get(threads, 0)
    clocks = array_clocks(periods, rows, cols, threads, depth, clock_ns)
    if clocks is None:
        return None
    total = cycles + depth * gemms
    return {"threads": threads, "pipeline": depth, "cycles": total, **clocks,
            "cycle_speedup": ossa_cycles / total,
            "time_speedup": time_speedup(ossa_cycles, clocks["ossa_period_ns"], total,
                                         clocks["period_ns"])}
