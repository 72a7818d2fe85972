"""`nbsmt synth`: Yosys area report of SySMT PEs/arrays against the OS-SA baseline."""

from __future__ import annotations

import shlex
import sys

from nbsmt.cli import (BuildDefault, add_policy_arguments, array_shape_from_args, int_arg,
                       path_flag, pdk_files, policy_from_args, report_flags)
from nbsmt.core.errors import InputError


def register(sub) -> None:
    from nbsmt.core.policy import PIPELINE_DEPTHS, THREAD_CHOICES
    p = sub.add_parser(
        "synth", help="area and timing of SySMT vs the OS-SA (Yosys synthesis, OpenSTA)",
        description="Synthesize PEs and R x C arrays with Yosys and report area (NAND2 gate "
                    "equivalents, um^2, transistor estimate), the ratio vs the 1-thread OS-SA and "
                    "a per-block breakdown; map them onto a timing library (OSU 0.18 um) and "
                    "time them with OpenSTA: critical path, fmax, the blocks it crosses, and "
                    "the comparison at the OS-SA's clock. Without --pe/--rows/--threads: the "
                    "default report (PE and 4x4/8x8/16x16 arrays for 1/2/4 threads, PE policy "
                    "variants; PE and 8x8 also at pipeline depths 1 and 2, and timed).")
    p.add_argument("--pe", action="store_true", help="synthesize the PE alone")
    p.add_argument("--rows", type=int, metavar="R", help="synthesize an R x C array")
    p.add_argument("--cols", type=int, metavar="C", help="array columns (default: R)")
    p.add_argument("--threads", type=int, nargs="+", choices=THREAD_CHOICES, metavar="T",
                   help="thread counts, from 1 2 4 (default: all; 1 is always added as baseline)")
    p.add_argument("--sizes", type=int, nargs="+", metavar="N",
                   help="array sizes N (N x N) of the default report (default: 4 8 16)")
    p.add_argument("--timing-sizes", type=int, nargs="+", metavar="N",
                   help="sizes of the default report also built at every pipeline depth and "
                        "timed (default: 8; the PE always is)")
    p.add_argument("--pipeline", type=int, nargs="+", choices=PIPELINE_DEPTHS, metavar="P",
                   help="PE pipeline depths of the chosen designs, from 0 1 2 (default: 0)")
    add_policy_arguments(p)
    path_flag(p.add_argument("--liberty", metavar="LIB",
                             help="your own Liberty file instead of the bundled Nangate-45-area "
                                  "cells"), "liberty")
    timing = p.add_mutually_exclusive_group()
    path_flag(timing.add_argument("--pdk", metavar="NAME|LIB[,LIB...]",
                                  help="cell library of the timing flow: osu018 (default; "
                                       "Debian qflow-tech-osu018), sky130hd, asap7, gf180mcu "
                                       "(under $PDK_ROOT or ../shared/pdk), or Liberty files "
                                       "with NLDM timing, gzip allowed"), "liberty")
    timing.add_argument("--no-timing", action="store_true", help="area only: skip mapping and STA")
    report_flags(p, "synth", "area.md, area.csv, area.json, PNG plots, and timing.md, "
                 "timing.csv, timing.json")
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="Yosys runs in parallel (default: 2)")
    p.add_argument("--flat-check", type=int, default=4, metavar="N",
                   help="also synthesize flat every PE and array up to N x N, to check the "
                        "hierarchical sum (default: 4; 0: none)")
    cache = p.add_mutually_exclusive_group()
    path_flag(cache.add_argument("--cache", default=BuildDefault("synth-cache"), metavar="DIR",
                                 help="result cache (default: %(default)s)"), "cache-folder")
    cache.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.set_defaults(func=run)


def _configs(args):
    from nbsmt.hw.design import Design
    from nbsmt.synth.configs import (DEFAULT_ARRAY_SIZES, DEFAULT_POLICY, DEFAULT_THREADS,
                                     DEFAULT_TIMING_SIZES, default_set, timing_set)

    policy = policy_from_args(args)
    custom_policy = policy != DEFAULT_POLICY
    threads = tuple(sorted(set(args.threads or DEFAULT_THREADS) | {1}))
    shape = array_shape_from_args(args)
    try:
        if not (args.pe or args.rows is not None or args.threads or custom_policy or args.pipeline):
            sizes = tuple(args.sizes or DEFAULT_ARRAY_SIZES)
            timing_sizes = tuple(args.timing_sizes or DEFAULT_TIMING_SIZES)
            for n in timing_sizes:
                int_arg("--timing-sizes", n, 1)
            configs = default_set(sizes, threads, timing_sizes)
            return configs, timing_set(configs, timing_sizes)
        if args.sizes or args.timing_sizes:
            raise InputError("--sizes/--timing-sizes apply to the default report only "
                             "(use --rows/--cols)")
        configs = []
        for depth in args.pipeline or (0,):
            for t in threads:
                if args.pe or args.rows is None:
                    configs.append(Design.pe(t, policy, pipeline=depth))
                if shape is not None:
                    configs.append(Design.array(*shape, t, policy, pipeline=depth))
        configs += [c.baseline() for c in configs]
        configs = list(dict.fromkeys(configs))
        return configs, configs
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from None


# What `run` writes into --out (checked before any synthesis starts).
REPORT_FILES = ("area.md", "area.csv", "area.json", "area_ratio.png", "area_breakdown.png")
TIMING_FILES = ("timing.md", "timing.csv", "timing.json")


def _timing_library(args):
    """The timing library, or None with --no-timing; InputError when it cannot time."""
    if args.no_timing:
        return None
    from nbsmt.synth import pdk
    from nbsmt.synth.liberty import LibertyError
    from nbsmt.synth.timing import STA_PACKAGE, sta_path

    if sta_path() is None:
        raise InputError(f"OpenSTA ('sta') not found: run `make setup` (installs {STA_PACKAGE}) "
                         "or pass --no-timing")
    try:
        library = pdk.usable(args.pdk or pdk.default_name(), power=False)
    except LibertyError as exc:
        raise InputError(str(exc)) from None
    return library


def run(args) -> int:
    from pathlib import Path

    from nbsmt.core.cache import Cache
    from nbsmt.core.fileio import folder_outputs
    from nbsmt.synth.flow import run_flows, yosys_version
    from nbsmt.synth.liberty import DEFAULT_LIBERTY, LibertyError, load_library
    from nbsmt.synth.plots import breakdown_plot, ratio_plot
    from nbsmt.synth.report import build_records, write_report
    from nbsmt.synth.timing import TimingError
    from nbsmt.synth.yosys import SynthError

    int_arg("--jobs", args.jobs, 1)
    int_arg("--flat-check", args.flat_check, 0)
    out = Path(args.out)
    outputs = folder_outputs(out, REPORT_FILES + (() if args.no_timing else TIMING_FILES),
                             args.json, inputs={"--liberty": args.liberty or DEFAULT_LIBERTY,
                                                "--pdk": [] if args.no_timing else pdk_files(args.pdk)})
    try:
        library = load_library(args.liberty or DEFAULT_LIBERTY)
    except LibertyError as exc:
        raise InputError(str(exc)) from None
    configs, timed = _configs(args)
    timing_library = _timing_library(args)
    flat = {c for c in configs if c.rows <= args.flat_check and c.cols <= args.flat_check
            and c.pipeline == 0}
    cache = Cache(None if args.no_cache else args.cache)

    def progress(s):
        ge = f"{s.area_um2 / library.nand2_area:,.0f} GE" if library.nand2 else f"{s.area_um2:,.0f} um^2"
        how = "cached" if s.cached else f"{s.synth_seconds:.1f} s"
        print(f"synth {s.config.label}{' (flat)' if s.flat else ''}: {ge}, "
              f"{s.transistors:,} transistors ({how})", file=sys.stderr, flush=True)

    def timing_progress(config, t):
        how = "cached" if t["cached"] else f"{t['map_seconds'] + t['sta_seconds']:.1f} s"
        print(f"timing {config.label}: {t['critical_path_ns']:.3f} ns ({t['fmax_mhz']:.1f} MHz), "
              f"{t['area_um2']:,.0f} um^2 on {t['library']} ({how})", file=sys.stderr, flush=True)

    try:
        results, timings = run_flows(configs, library, cache, jobs=args.jobs, flat_configs=flat,
                                     timing_configs=set(timed), timing_library=timing_library,
                                     progress=progress, timing_progress=timing_progress)
    except SynthError as exc:
        if args.liberty or args.pdk:
            lib = args.liberty or args.pdk
            raise InputError(f"synthesis with {lib} failed: {exc}") from None
        raise
    except TimingError as exc:   # OpenSTA could not time the netlist with this library
        raise InputError(f"timing failed: {exc}") from None
    records = build_records(results, library)
    command = "nbsmt " + shlex.join(args.argv)
    if timings:
        from nbsmt.synth.timing import sta_version
        from nbsmt.synth.timing_report import fair_comparisons, iso_frequency, timing_records
        from nbsmt.synth.timing_report import write_report as write_timing

        trecords = timing_records(timings, records)
        iso = iso_frequency(trecords)
        fair = fair_comparisons(trecords)
    with outputs.staging() as stage:     # every file of the report, or none
        write_report(stage, records, library, command=command, yosys=yosys_version())
        if ratio_plot(records, stage.path("area_ratio.png")) is None:
            stage.skip("area_ratio.png")
        if breakdown_plot(records, stage.path("area_breakdown.png"),
                          "blocks_ge" if library.nand2 else "blocks_um2") is None:
            stage.skip("area_breakdown.png")
        if timings:
            write_timing(stage, trecords, iso, command=command,
                         library=timing_library.label, sta=sta_version(), fair=fair)
        elif timing_library is not None:
            for name in TIMING_FILES:
                stage.skip(name)
    for r in records:
        if r["threads"] > 1 and r["policy_tag"] == "default" and r["ratio_vs_ossa"]:
            size = "PE" if r["design"] == "pe" else f"{r['rows']}x{r['cols']}"
            print(f"{size} {r['threads']}T: {r['ratio_vs_ossa']:.3f}x the OS-SA", flush=True)
    print(f"report: {outputs.paths['area.md']}", flush=True)
    if timings:
        for r in iso:
            if r["design"] == "pe":
                continue
            print(f"{r['size']} {r['threads']}T at the OS-SA clock ({r['ossa_period_ns']:.3f} ns): "
                  f"pipeline {r['pipeline']} ({r['critical_path_ns']:.3f} ns, "
                  f"{'meets it' if r['meets_ossa_clock'] else 'does not meet it'}), area "
                  f"{_ratio(r['area_ratio_ge'])} the OS-SA (GE), {_ratio(r['area_ratio_timing_lib'])} "
                  f"(timing library), speedup {r['cycle_speedup']:.2f}x in cycles, "
                  f"{r['time_speedup']:.2f}x in time", flush=True)
        for r in fair:
            if r["threads"] > 1:
                print(f"{r['size']} {r['threads']}T, {r['view']} (pipeline {r['pipeline']} vs "
                      f"{r['ossa_pipeline']}): {r['time_speedup']:.2f}x in time at "
                      f"{r['area_ratio_timing_lib']:.3f}x the area (timing library)", flush=True)
        print(f"timing report: {outputs.paths['timing.md']}", flush=True)
    return 0


def _ratio(x) -> str:
    return "-" if x is None else f"{x:.3f}x"
