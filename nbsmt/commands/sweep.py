"""`nbsmt sweep`: area, cycles and accuracy of a grid of SySMT designs, on Dask.

Without --scheduler it starts a `distributed.LocalCluster` of worker processes on this
machine (--workers, default: one per core; 0 runs every task here, one at a time); with
--scheduler it uses that cluster, whose workers need nbsmt installed (docs/sweep.md).
Exit status: 0, 2 for bad input or an unreachable scheduler, 2 + the number of failed
design points (at most 102) when some failed, 130/143 when interrupted (Ctrl-C/SIGTERM:
`nbsmt.core.interrupts` stops the local workers; finished results stay cached).
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
import time

from nbsmt.cli import BuildDefault, cluster_flags, int_arg, path_flag, pdk_files, report_flags
from nbsmt.core.errors import InputError
from nbsmt.core.interrupts import Interrupted, handled


def register(sub) -> None:
    from nbsmt.core.policy import ROUNDING_CHOICES, THREAD_CHOICES, WINDOW_CHOICES, ZERO_SKIP_CHOICES
    from nbsmt.sweep.grid import PIPELINE_CHOICES
    from nbsmt.sweep.metrics import DEFAULT_METRICS, METRICS

    p = sub.add_parser("sweep", help="design-space sweep on Dask: area, cycles, accuracy per design",
                       description="Evaluate every design of a grid (array size x threads x "
                                   "policy x pipeline depth x cell library) on a workload, as "
                                   "Dask tasks; "
                                   "write a table with ratios vs the OS-SA, a Pareto plot "
                                   "and a summary.")
    p.add_argument("--sizes", type=int, nargs="+", default=[4, 8], metavar="N",
                   help="array sizes N (N x N) (default: 4 8)")
    p.add_argument("--threads", type=int, nargs="+", default=list(THREAD_CHOICES),
                   choices=THREAD_CHOICES, metavar="T", help="threads per PE (default: 1 2 4)")
    p.add_argument("--windows", type=int, nargs="+", default=[2], choices=WINDOW_CHOICES,
                   metavar="W", help="activation window sets (default: 2)")
    p.add_argument("--rounding", nargs="+", default=["rne"], choices=ROUNDING_CHOICES,
                   help="rounding rules (default: rne)")
    p.add_argument("--zero-skip", nargs="+", default=["both"], choices=ZERO_SKIP_CHOICES,
                   help="lane activity rules (default: both)")
    p.add_argument("--pipeline", type=int, nargs="+", default=[0], choices=PIPELINE_CHOICES,
                   metavar="P", help="PE pipeline depths (default: 0)")
    path_flag(p.add_argument("--pdk", nargs="+", default=None, metavar="NAME|LIB[,LIB...]",
                             help="cell libraries the timing and energy metrics use, a sweep "
                                  "axis: osu018 (default), sky130hd, asap7, gf180mcu or Liberty "
                                  "files joined by commas"), "liberty")
    p.add_argument("--metrics", default=",".join(DEFAULT_METRICS), metavar="LIST",
                   help=f"comma-separated, from {', '.join(METRICS)} (default: "
                        f"{','.join(DEFAULT_METRICS)}; energy runs a gate-level simulation "
                        "per point)")
    path_flag(p.add_argument("--workload", default="demo", metavar="W",
                             help="demo (the `make sim` GEMM), digits (the `nbsmt eval` CNN) or "
                                  "A.npy,W.npy (default: demo)"), "workload")
    cluster_flags(p, default_workers="one per core")
    report_flags(p, "sweep", "sweep.md, sweep.csv, sweep.json, pareto.png")
    cache = p.add_mutually_exclusive_group()
    path_flag(cache.add_argument("--cache", default=BuildDefault("sweep-cache"), metavar="DIR",
                                 help="result cache (default: %(default)s)"), "cache-folder")
    cache.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.set_defaults(func=run)


def _metrics(text: str) -> list[str]:
    from nbsmt.sweep.metrics import METRICS
    names = [m.strip() for m in text.split(",") if m.strip()]
    for m in names:
        if m not in METRICS:
            raise InputError(f"--metrics: unknown metric {m!r} (available: {', '.join(METRICS)})")
    if not names:
        raise InputError("--metrics names no metric")
    return list(dict.fromkeys(names))


def _library_spec(spec: str | None, metrics: list[str], priced: bool) -> str:
    """`spec` (the default library for None), its files read and their units checked
    before any work when a metric uses the library (`priced`; InputError, one line)."""
    from nbsmt.synth import pdk
    from nbsmt.synth.liberty import LibertyError
    spec = spec or pdk.default_name()
    if priced:
        try:
            pdk.usable(spec, power="energy" in metrics)
        except LibertyError as exc:
            raise InputError(f"--pdk: {exc}") from None
    return spec


def run(args) -> int:
    from pathlib import Path

    from nbsmt.core.cache import Cache
    from nbsmt.sweep import workloads
    from nbsmt.sweep.grid import grid
    from nbsmt.sweep.metrics import LIBRARY_METRICS
    from nbsmt.sweep.report import pareto_front, report_outputs, with_ratios, write_report
    from nbsmt.sweep.cluster import cluster_client, scheduler_timeout
    from nbsmt.sweep.run import Sweep

    from nbsmt.hw.design import MAX_DIM
    for n in args.sizes:
        int_arg("--sizes", n, 1, MAX_DIM)
    if args.workers is not None:
        int_arg("--workers", args.workers, 0)
    metrics = _metrics(args.metrics)
    timeout = scheduler_timeout(args.scheduler_timeout)
    pdks = list(dict.fromkeys(args.pdk or [None]))
    priced = any(m in LIBRARY_METRICS for m in metrics)
    outputs = report_outputs(args.out, args.json,   # checked before any work
                             inputs={"--workload": workloads.files(args.workload),
                                     "--pdk": [f for spec in pdks if priced for f in pdk_files(spec)]})
    workload = workloads.load(args.workload)
    if "energy" in metrics and workload.kind != "gemm":
        raise InputError(f"--metrics energy prices a GEMM workload (demo or A.npy,W.npy), "
                         f"not {args.workload}")
    pdks = [_library_spec(spec, metrics, priced) for spec in pdks]
    points = grid(sizes=args.sizes, threads=args.threads, windows=args.windows,
                  rounding=args.rounding, zero_skip=args.zero_skip, pipeline=args.pipeline,
                  pdks=pdks)
    cache = Cache(None if args.no_cache else Path(args.cache))
    sweep = Sweep(points, metrics, workload, cache)

    done = [0]

    def progress(point, outcomes):
        done[0] += 1
        parts = []
        for o in outcomes:
            if o.error:
                parts.append(f"{o.metric} FAILED ({o.error})")
            else:
                parts.append(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                       for k, v in o.values.items()))
        how = "cached" if all(o.cached for o in outcomes) else \
            f"{sum(o.seconds for o in outcomes):.1f} s"
        print(f"[{done[0]}/{len(points)}] {point.name}: {'; '.join(parts)} ({how})", flush=True)

    start = time.monotonic()
    try:
        # the local cluster shuts its own workers down (killing them would also kill
        # multiprocessing's resource tracker, which then floods stderr)
        with handled(kill_children=False), \
                cluster_client(args.scheduler, args.workers, timeout) as (client, executor):
            print(f"sweep: {len(points)} design points x {len(metrics)} metrics on {executor}",
                  file=sys.stderr, flush=True)
            if client is not None and importlib.util.find_spec("bokeh") is not None:
                print(f"dashboard: {client.dashboard_link}", file=sys.stderr, flush=True)
            sweep.run(client, progress, timeout)
    except Interrupted as exc:
        import warnings

        from amaranth.hdl import UnusedElaboratable
        # a design interrupted mid-elaboration is not a forgotten one: no warning at exit
        warnings.filterwarnings("ignore", category=UnusedElaboratable)
        print(f"nbsmt sweep: interrupted; {done[0]} finished points are cached"
              + ("" if cache.root is None else f" in {cache.root}"), file=sys.stderr)
        return exc.status
    wall = time.monotonic() - start

    rows = with_ratios(points, sweep.rows())
    failed = len(sweep.failed_points())
    record = {"command": "nbsmt " + shlex.join(args.argv), "workload": workload.name,
              "metrics": metrics, "executor": executor, "wall_seconds": round(wall, 2),
              "failed": failed, "rows": rows, "pareto_front": pareto_front(rows)}
    write_report(outputs, record)
    md = outputs.paths["sweep.md"]
    print(f"report: {md} ({len(points)} points, {failed} failed, {wall:.1f} s)")
    if failed:
        print(f"nbsmt sweep: {failed} of {len(points)} design points failed "
              f"(see {md})", file=sys.stderr)
        return 2 + min(failed, 100)
    return 0
