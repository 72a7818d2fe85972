"""`nbsmt energy`: energy per MAC and per GEMM of SySMT vs the OS-SA from gate-level activity."""

from __future__ import annotations

import shlex
import tempfile
import time
from pathlib import Path

from nbsmt.cli import (add_design_option_arguments, add_policy_arguments, array_dim_from_args,
                       design_options_from_args, int_arg, path_flag, pdk_files, policy_from_args,
                       report_flags)
from nbsmt.core.errors import InputError


def register(sub) -> None:
    from nbsmt.core.policy import THREAD_CHOICES
    p = sub.add_parser(
        "energy", help="energy of SySMT vs the OS-SA from gate-level simulation on a cell library",
        description="Map PEs and arrays onto a cell library (OSU 0.18 um by default, --pdk), "
                    "simulate them at gate level (Icarus) on a GEMM's operand streams under two "
                    "glitch models, price the toggles with the library's energy tables and "
                    "estimate the GEMM on an R x C grid of PEs from per-action energies "
                    "(docs/energy.md, docs/technology.md).")
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
    path_flag(p.add_argument("--pdk", metavar="NAME|LIB[,LIB...]",
                             help="cell library: osu018 (default), sky130hd, asap7, gf180mcu "
                                  "(under $PDK_ROOT or ../shared/pdk), or Liberty files with "
                                  "timing and internal_power tables"), "liberty")
    p.add_argument("--clock", default="nominal", metavar="nominal|own|NS",
                   help="the clock leakage is priced at: nominal (100 MHz, the default), own "
                        "(each design's critical path on the library, from the timing flow) "
                        "or a period in ns")
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
                             args.json, inputs={"--a": args.a, "--w": args.w,
                                                "--pdk": pdk_files(args.pdk)})
    if args.a is not None:
        a, w = load_operands(args.a, args.w, policy)
    else:
        a, w = demo_operands()
    threads = sorted(set(args.threads or (1, 2, 4)) | {1})
    designs = [Design.array(rows, cols, t, policy, **design_options_from_args(args))
               for t in threads]
    spec, library = _library(args)
    periods = _periods(args, designs, library)
    models = GLITCH_MODELS if args.model == "both" else (args.model,)
    start = time.monotonic()
    scratch = build_root()            # mapping and simulation files, gone with the run
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="nbsmt-energy-", dir=scratch) as work:
            report = build(a, w, designs=designs, models=models, elements=args.elements,
                           sweep=args.sparsity_sweep, workdir=Path(work), demo=args.a is None,
                           array=not args.pe_only, jobs=args.jobs, pdk=spec,
                           periods_ns=periods)
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


def _library(args):
    """(--pdk as given, the library): InputError when it cannot price energy."""
    from nbsmt.energy.pe import power_library
    from nbsmt.synth import pdk
    from nbsmt.synth.liberty import LibertyError
    spec = args.pdk or pdk.default_name()
    try:
        library = pdk.usable(spec, power=True)
        power_library(spec)
    except LibertyError as exc:
        raise InputError(str(exc)) from None
    return spec, library


def _periods(args, designs, library) -> dict[int, float] | None:
    """Per thread count, the clock (ns) leakage is priced at (--clock); None: nominal."""
    text = str(args.clock).strip()
    if text == "nominal":
        return None
    if text == "own":
        from nbsmt.core.cache import Cache, build_root
        from nbsmt.synth.flow import time_design
        from nbsmt.synth.timing import TimingError, sta_path
        if sta_path() is None:
            raise InputError("--clock own needs OpenSTA ('sta'): run `make setup`")
        cache = Cache(build_root() / "synth-cache")
        try:
            return {d.threads: time_design(d, d.verilog(), library, cache)["critical_path_ns"]
                    for d in designs}
        except TimingError as exc:
            raise InputError(f"--clock own: timing failed: {exc}") from None
    try:
        period = float(text)
    except ValueError:
        raise InputError(f"--clock must be nominal, own or a period in ns, not {text!r}") from None
    if not (period > 0 and period < 1e9):
        raise InputError(f"--clock period must be a positive number of ns, not {text}")
    return {d.threads: period for d in designs}
