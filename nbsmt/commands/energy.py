"""`nbsmt energy`: energy per MAC and per GEMM of SySMT vs the OS-SA from gate-level activity."""

from __future__ import annotations

import shlex
import tempfile
import time
from pathlib import Path

from nbsmt.cli import (add_design_option_arguments, add_policy_arguments, array_dim_from_args,
                       design_options_from_args, int_arg, path_flag, policy_from_args,
                       report_flags)
from nbsmt.core.errors import InputError


def register(sub) -> None:
    from nbsmt.core.policy import THREAD_CHOICES
    p = sub.add_parser(
        "energy", help="energy of SySMT vs the OS-SA from gate-level simulation on the OSU 0.18 um library",
        description="Map PEs onto the OSU 0.18 um library, simulate them at gate level (Icarus) on a "
                    "GEMM's operand streams under two glitch models, price the toggles with the "
                    "library's energy tables and estimate the GEMM on an R x C grid of PEs from "
                    "per-action energies (docs/energy.md).")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--demo", action="store_true", help="the `make sim` GEMM (64x256x64; the default)")
    path_flag(src.add_argument("--a", metavar="A.npy", help="activations [M,K] in [0,255] (with --w)"),
              "operand")
    path_flag(p.add_argument("--w", metavar="W.npy", help="weights [K,N] in [-128,127] (with --a)"),
              "operand")
    p.add_argument("--threads", type=int, nargs="+", choices=THREAD_CHOICES, metavar="T",
                   help="thread counts from 1 2 4 (default: all; 1 is always added as baseline)")
    p.add_argument("--rows", type=int, default=8, metavar="R", help="array rows (default: 8)")
    p.add_argument("--cols", type=int, metavar="C", help="array columns (default: R)")
    runs = p.add_mutually_exclusive_group()
    runs.add_argument("--pe-only", action="store_true", help="PE runs only, no array runs")
    p.add_argument("--elements", type=int, default=16, metavar="N",
                   help="output elements simulated at gate level per PE run (default: 16)")
    p.add_argument("--model", choices=("zero-delay", "cell-delays", "both"), default="both",
                   help="glitch model (default: both)")
    p.add_argument("--jobs", type=int, default=2, metavar="N",
                   help="(threads, glitch model) runs in parallel (default: 2)")
    runs.add_argument("--sparsity-sweep", action="store_true",
                      help="also estimate the array's pJ/MAC over 0-90 %% zero activations, "
                           "with a plot (needs the array runs)")
    add_policy_arguments(p)
    add_design_option_arguments(p)     # every design the run maps is built with them
    report_flags(p, "energy", "energy.md, energy.json, energy.csv, energy_sweep.png")
    p.set_defaults(func=run)


def run(args) -> int:
    from nbsmt.core.cache import build_root
    from nbsmt.core.operands import load_operands
    from nbsmt.host.stimulus import demo_operands
    from nbsmt.core.fileio import folder_outputs
    from nbsmt.energy.report import REPORT_FILES, SWEEP_PNG, build, write
    from nbsmt.energy.gatesim import GLITCH_MODELS, GateSimError
    from nbsmt.energy.pe import EnergyCheckError
    from nbsmt.hw.design import Design

    rows = array_dim_from_args("--rows", args.rows)
    cols = array_dim_from_args("--cols", args.cols if args.cols is not None else args.rows)
    int_arg("--elements", args.elements, 1, 4096)
    int_arg("--jobs", args.jobs, 1, 64)
    policy = policy_from_args(args)
    if (args.a is None) != (args.w is None):
        raise InputError("--a and --w go together")
    out = Path(args.out)
    outputs = folder_outputs(out, REPORT_FILES + ((SWEEP_PNG,) if args.sparsity_sweep else ()),
                             args.json, inputs={"--a": args.a, "--w": args.w})
    if args.a is not None:
        a, w = load_operands(args.a, args.w, policy)
    else:
        a, w = demo_operands()
    threads = sorted(set(args.threads or (1, 2, 4)) | {1})
    designs = [Design.array(rows, cols, t, policy, **design_options_from_args(args))
               for t in threads]
    models = GLITCH_MODELS if args.model == "both" else (args.model,)
    start = time.monotonic()
    scratch = build_root()            # mapping and simulation files, gone with the run
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="nbsmt-energy-", dir=scratch) as work:
            report = build(a, w, designs=designs, models=models, elements=args.elements,
                           sweep=args.sparsity_sweep, workdir=Path(work), demo=args.a is None,
                           array=not args.pe_only, jobs=args.jobs)
    except GateSimError as exc:
        raise InputError(str(exc)) from None
    except EnergyCheckError as exc:
        print(f"nbsmt energy: gate-level result differs from the golden model: {exc}")
        return 1
    report["seconds"] = round(time.monotonic() - start, 1)
    command = "nbsmt " + shlex.join(args.argv)
    with outputs.staging() as stage:
        write(report, stage, command)
    for p in report["pe"]:
        effectual = p["pj_per_effectual_mac"]     # None: no effectual MAC in the sample
        print(f"PE {p['threads']}T {p['model']:11s} {p['pj_per_mac']:6.2f} pJ/MAC "
              f"({'undefined' if effectual is None else f'{effectual:.2f}'} per effectual MAC), "
              f"{p['ratio_vs_ossa']:.3f}x the OS-SA")
    for g in report["gemm"]:
        print(f"{rows}x{cols} array {g['threads']}T {g['model']:11s} GEMM {g['energy_pj'] / 1e6:.3f} uJ, "
              f"{g['pj_per_mac']:.2f} pJ/MAC, {g['ratio_vs_ossa']:.3f}x the OS-SA; first tile direct "
              f"{g['tile']['direct_pj_per_mac']:.2f} pJ/MAC, estimate {g['tile']['validation_error']:+.1%}")
    print(f"report in {out / 'energy.md'} ({report['seconds']} s)")
    return 0
