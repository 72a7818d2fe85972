"""`nbsmt synth`: Yosys area report of SySMT PEs/arrays against the OS-SA baseline."""

from __future__ import annotations

import shlex
import sys

from nbsmt.cli import add_policy_arguments, array_shape_from_args, int_arg, policy_from_args
from nbsmt.errors import InputError


def register(sub) -> None:
    from nbsmt.policy import THREAD_CHOICES
    p = sub.add_parser(
        "synth", help="area of SySMT vs the OS-SA by Yosys synthesis (GE, um^2, transistors)",
        description="Synthesize PEs and R x C arrays with Yosys and report area (NAND2 gate "
                    "equivalents, um^2, transistor estimate), the ratio vs the 1-thread OS-SA and "
                    "a per-block breakdown. Without --pe/--rows/--threads: the default report "
                    "(PE and 4x4/8x8/16x16 arrays for 1/2/4 threads, PE policy variants).")
    p.add_argument("--pe", action="store_true", help="synthesize the PE alone")
    p.add_argument("--rows", type=int, metavar="R", help="synthesize an R x C array")
    p.add_argument("--cols", type=int, metavar="C", help="array columns (default: R)")
    p.add_argument("--threads", type=int, nargs="+", choices=THREAD_CHOICES, metavar="T",
                   help="thread counts, from 1 2 4 (default: all; 1 is always added as baseline)")
    p.add_argument("--sizes", type=int, nargs="+", metavar="N",
                   help="array sizes N (N x N) of the default report (default: 4 8 16)")
    add_policy_arguments(p)
    p.add_argument("--liberty", metavar="LIB",
                   help="your own Liberty file instead of the bundled Nangate-45-area cells")
    p.add_argument("--out", default="build/synth", metavar="DIR",
                   help="report folder: area.md, area.csv, area.json, PNG plots (default: build/synth)")
    p.add_argument("--json", metavar="F", help="also write the JSON report to F")
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="Yosys runs in parallel (default: 2)")
    p.add_argument("--flat-check", type=int, default=4, metavar="N",
                   help="also synthesize flat every PE and array up to N x N, to check the "
                        "hierarchical sum (default: 4; 0: none)")
    p.add_argument("--cache", default="build/synth-cache", metavar="DIR",
                   help="result cache (default: build/synth-cache)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.set_defaults(func=run)


def _configs(args):
    from nbsmt.synth.configs import (DEFAULT_ARRAY_SIZES, DEFAULT_POLICY, DEFAULT_THREADS,
                                     Config, default_set)

    policy = policy_from_args(args)
    custom_policy = policy != DEFAULT_POLICY
    threads = tuple(sorted(set(args.threads or DEFAULT_THREADS) | {1}))
    shape = array_shape_from_args(args)
    try:
        if not (args.pe or args.rows is not None or args.threads or custom_policy):
            sizes = tuple(args.sizes or DEFAULT_ARRAY_SIZES)
            return default_set(sizes, threads)
        if args.sizes:
            raise InputError("--sizes applies to the default report only (use --rows/--cols)")
        configs = []
        for t in threads:
            if args.pe or args.rows is None:
                configs.append(Config("pe", t, policy=policy))
            if shape is not None:
                configs.append(Config("array", t, policy=policy, rows=shape[0], cols=shape[1]))
        configs += [c.baseline() for c in configs]
        return list(dict.fromkeys(configs))
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from None


# What `run` writes into --out (checked before any synthesis starts).
REPORT_FILES = ("area.md", "area.csv", "area.json", "area_ratio.png", "area_breakdown.png")


def run(args) -> int:
    from pathlib import Path

    from nbsmt.cache import Cache
    from nbsmt.fileio import OutputSet
    from nbsmt.synth.flow import run_all, yosys_version
    from nbsmt.synth.liberty import DEFAULT_LIBERTY, LibertyError, load_library
    from nbsmt.synth.plots import breakdown_plot, ratio_plot
    from nbsmt.synth.report import build_records, write_report
    from nbsmt.synth.yosys import SynthError

    int_arg("--jobs", args.jobs, 1)
    int_arg("--flat-check", args.flat_check, 0)
    try:
        library = load_library(args.liberty or DEFAULT_LIBERTY)
    except LibertyError as exc:
        raise InputError(str(exc)) from None
    configs = _configs(args)
    out = Path(args.out)
    OutputSet({name: out / name for name in REPORT_FILES} | {"--json": args.json},
              inputs={"--liberty": args.liberty} if args.liberty else {})
    flat = {c for c in configs if c.rows <= args.flat_check and c.cols <= args.flat_check}
    cache = Cache(None if args.no_cache else args.cache)

    def progress(s):
        ge = f"{s.area_um2 / library.nand2_area:,.0f} GE" if library.nand2 else f"{s.area_um2:,.0f} um^2"
        how = "cached" if s.cached else f"{s.synth_seconds:.1f} s"
        print(f"synth {s.config.name}{' (flat)' if s.flat else ''}: {ge}, "
              f"{s.transistors:,} transistors ({how})", file=sys.stderr, flush=True)

    try:
        results = run_all(configs, library, cache, jobs=args.jobs, flat_configs=flat,
                          progress=progress)
    except SynthError as exc:
        if args.liberty:
            raise InputError(f"synthesis with {args.liberty} failed: {exc}") from None
        raise
    records = build_records(results, library)
    command = "nbsmt " + shlex.join(args.argv)
    paths = write_report(args.out, records, library, command=command, yosys=yosys_version(),
                         json_path=args.json)
    ratio_plot(records, out / "area_ratio.png")
    breakdown_plot(records, out / "area_breakdown.png",
                   "blocks_ge" if library.nand2 else "blocks_um2")
    for r in records:
        if r["threads"] > 1 and r["policy_tag"] == "default" and r["ratio_vs_ossa"]:
            size = "PE" if r["design"] == "pe" else f"{r['rows']}x{r['cols']}"
            print(f"{size} {r['threads']}T: {r['ratio_vs_ossa']:.3f}x the OS-SA", flush=True)
    print(f"report: {paths['md']}", flush=True)
    return 0
