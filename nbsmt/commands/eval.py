"""`nbsmt eval`: the quantized-CNN workload study (accuracy, statistics, array speedup).

The study is `nbsmt.sim.evaluate.study`; its report (DIR/eval.md, DIR/eval.json, two
PNG plots, and --json) is `nbsmt.sim.eval_report`, all or none: the places are checked
before the study runs and the files replace their targets together.
"""

from __future__ import annotations

import sys

from nbsmt.cli import path_flag, report_flags, under_build
from nbsmt.core.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("eval", help="accuracy and speedup of a quantized CNN on NB-SMT",
                       description="Train the digits CNN, quantize it to 8 bits and run it on "
                                   "NB-SMT arrays: accuracy, per-layer statistics, cycles, "
                                   "per-layer mode search and K reordering.")
    p.add_argument("--quick", action="store_true",
                   help="fewer training epochs and smaller calibration/test splits (for tests)")
    report_flags(p, "eval", "eval.md, eval.json, PNG plots")
    p.add_argument("--budget", type=float, default=1.0, metavar="PP",
                   help="accuracy-loss budget of the mode search, percentage points "
                        "of top-1 vs exact 8-bit (default: 1.0)")
    p.add_argument("--clock-ns", metavar="NS",
                   help="the SySMT arrays' clock period in ns, for speedups in time (default: "
                        "the periods `nbsmt synth` measured, from --timing)")
    path_flag(p.add_argument("--timing", metavar="JSON",
                             help="timing report of `nbsmt synth` (default: "
                                  f"{under_build('synth/timing.json')})"), "timing-report")
    path_flag(p.add_argument("--energy", metavar="JSON",
                             help="energy report of `nbsmt energy`, whose per-action energies "
                                  "price an inference per mode (default: "
                                  f"{under_build('energy/energy.json')})"), "energy-report")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from nbsmt.sim.clocks import check_clock_ns, default_timing_report, load_periods
    from nbsmt.sim.eval_report import report_outputs, write_report
    from nbsmt.sim.evaluate import study, time_speedups
    from nbsmt.energy.report import default_energy_report, load_action_tables

    if not 0 <= args.budget <= 100:
        raise InputError(f"--budget must be between 0 and 100 percentage points, not {args.budget}")
    out = Path(args.out)
    outputs = report_outputs(out, args.json, inputs={
        "--timing": args.timing or default_timing_report(),
        "--energy": args.energy or default_energy_report()})
    clock_ns = None if args.clock_ns is None else check_clock_ns(args.clock_ns)
    periods = (load_periods(args.timing, flag="--timing") if args.timing
               else load_periods(default_timing_report()))
    energy = (load_action_tables(args.energy, flag="--energy") if args.energy
              else load_action_tables(default_energy_report()))
    command = "nbsmt eval" + (" --quick" if args.quick else "") + (
        f" --budget {args.budget:g}" if args.budget != 1.0 else "")
    report = study(quick=args.quick, budget_pp=args.budget, energy=energy,
                   log=lambda msg: print(f"  {msg}", file=sys.stderr))
    report["command"] = command
    report["time"] = time_speedups(report, periods, clock_ns)
    write_report(outputs, report)
    done = report["done"]
    speed = ", ".join(f"{k} x{v:.2f}" for k, v in done["mode_search_speedup_at_budget"].items())
    print(f"report written to {out}/eval.md: 2T (default policy) loses "
          f"{done['2T_default_loss_pp']:.2f} pp vs exact 8-bit; mode search at "
          f"{args.budget:g} pp: {speed}")
    for arr, per_mode in report["time"].items():
        for mode, t in per_mode.items():
            print(f"{arr} mode {mode} on the {mode}T array (pipeline {t['pipeline']}): speedup "
                  f"{t['cycle_speedup']:.2f}x in cycles, {t['time_speedup']:.2f}x in time at the "
                  f"OS-SA's clock ({t['period_ns']:.3f} vs {t['ossa_period_ns']:.3f} ns; {t['source']})")
    if not report["time"]:
        print("speedup in time: no timing report (run `make synth`) and no --clock-ns")
    return 0
