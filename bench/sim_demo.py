"""SySMT demo: one 64x256x64 GEMM on 8x8 arrays, 1T OS-SA vs SySMT-2T vs SySMT-4T, in RTL.

Activations are ReLU-like (about half zeros, most non-zeros small), weights 40 % pruned.
Each array is simulated with Verilator through the cocotb bench and checked bit-exact
against the golden model, its counters against the golden statistics and its cycles
against the cycle model. Prints a few lines per array and writes summary.json; exits 1
if any check fails or SySMT misses the paper's speedups (2T <= 0.52x, 4T <= 0.27x the
OS-SA's cycles).

Speedup in time: with a timing report of `make synth` (build/synth/timing.json), each
SySMT array is built at the smallest PE pipeline depth that meets the OS-SA's clock
(`--pipeline auto`, the report's iso-frequency choice) and its cycles are turned into
time at that clock (nbsmt.sim.clocks); without one, pipeline 0 and cycles only.

    .venv/bin/python bench/sim_demo.py [--simulator verilator] [--out build/sim-demo]
                                       [--pipeline auto|0|1|2] [--timing JSON]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from nbsmt.sim.clocks import (array_clocks, default_timing_report, iso_depths, load_periods,
                          time_speedup)
from nbsmt.core.tables import format_ratio
from nbsmt.core.fileio import write_json
from nbsmt.sim.gemm import error_stats
from nbsmt.core.policy import Policy
from nbsmt.tb.array_sim import run_jobs
from nbsmt.host.driver import plan
from nbsmt.host.stimulus import DEMO_SEED, DEMO_SHAPE, demo_operands

SHAPE = DEMO_SHAPE
ARRAY = (8, 8)
CONFIGS = [("OS-SA (1T)", 1, 1), ("SySMT-2T", 2, 2), ("SySMT-4T", 4, 4)]
TARGETS = {2: 0.52, 4: 0.27}


def workload(seed: int = DEMO_SEED):
    """The `demo` operand family (`nbsmt.host.stimulus.demo_operands`): ReLU-like activations
    (~50 % zeros, ~70 % of the rest below 16) and 40 %-pruned bell-shaped weights."""
    return demo_operands(seed, SHAPE)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulator", choices=("icarus", "verilator"), default="verilator")
    ap.add_argument("--out", default="build/sim-demo", help="folder for summary.json")
    ap.add_argument("--pipeline", default="auto", choices=("auto", "0", "1", "2"),
                    help="PE pipeline depth of the SySMT arrays (default: auto, see above)")
    ap.add_argument("--timing", default=None, help="timing report (default: build/synth/timing.json)")
    args = ap.parse_args(argv)
    periods = load_periods(args.timing or default_timing_report())

    a, w = demo_operands()
    exact = a @ w
    rows, cols = ARRAY
    print(f"GEMM {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]} on {rows}x{cols} arrays ({args.simulator}): "
          f"activations {np.mean(a == 0):.0%} zeros, {np.mean((a > 0) & (a < 16)):.0%} "
          f"in 1..15; weights {np.mean(w == 0):.0%} pruned")
    depths = iso_depths(periods, rows, cols) if args.pipeline == "auto" else {}
    if args.pipeline == "auto" and not depths:
        print("  (no timing report of this array size: pipeline 0, speedups in cycles only; "
              "`make synth` measures the clocks)")
    results, ok, base = [], True, None
    for label, threads, mode in CONFIGS:
        t0 = time.time()
        depth = 0 if threads == 1 else (depths.get(threads, 0) if args.pipeline == "auto"
                                        else int(args.pipeline))
        job = plan(a, w, rows=rows, cols=cols, threads=threads, mode=mode, policy=Policy(),
                   pipeline=depth)
        (rec,), _ = run_jobs([job], simulator=args.simulator, quiet=True)
        wall = time.time() - t0
        out = rec.pop("output")
        base = base or rec["cycles"]
        by_n = rec["counters"]["pe_cycles_by_active"]
        busy = sum(by_n[1:])
        collisions = sum(by_n[2:]) / busy if busy else 0.0
        err = error_stats(out, exact)
        ratio = rec["cycles"] / base
        target = TARGETS.get(mode)
        met = target is None or ratio <= target
        ok &= rec["ok"] and met
        clocks = array_clocks(periods, rows, cols, threads, depth)
        speed_t = (time_speedup(base, clocks["ossa_period_ns"], rec["cycles"], clocks["period_ns"])
                   if clocks else None)
        print(f"  {label:11s} {rec['cycles']:6d} cycles (model {rec['cycle_model']['cycles']}), "
              f"{ratio:.3f}x the OS-SA = speedup {base / rec['cycles']:.2f}"
              + (f" (target <= {target}x: {'met' if met else 'MISSED'})" if target else ""))
        if clocks:
            print(f"  {'':11s} pipeline {depth}: clock {clocks['period_ns']:.3f} ns (OS-SA "
                  f"{clocks['ossa_period_ns']:.3f} ns), speedup in time at the OS-SA's clock "
                  f"{speed_t:.2f}")
        print(f"  {'':11s} collisions {collisions:.1%} of PE-cycles with work, lossy "
              f"reductions {rec['counters']['lossy_reductions']}, error vs exact: rel. "
              f"Frobenius {format_ratio(err['rel_frobenius'], '.2e')}, max abs {err['max_abs']:.0f}; "
              f"bit-exact with golden: {rec['checks']['output_equals_golden']}, counters "
              f"{'match' if rec['checks']['pe_cycles_by_active'] and rec['checks']['lossy_reductions'] else 'DIFFER'}"
              f" [{wall:.0f} s wall]")
        results.append({"label": label, "threads": threads, "mode": mode, "pipeline": depth,
                        "clocks": clocks, "time_speedup": speed_t, "cycles": rec["cycles"],
                        "ratio_vs_os_sa": ratio, "target": target, "collision_rate": collisions,
                        "error": err, "wall_seconds": wall, "record": rec})
    out_dir = Path(args.out)
    write_json(out_dir / "summary.json", {"shape": SHAPE, "array": ARRAY,
                                          "simulator": args.simulator, "ok": bool(ok),
                                          "results": results})
    print(f"{'all checks passed' if ok else 'CHECKS FAILED'}; details in {out_dir / 'summary.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
