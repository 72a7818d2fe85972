"""`nbsmt verilog`: write the Verilog of one PE configuration, or of the default PEs."""

from __future__ import annotations

from nbsmt.cli import (add_design_option_arguments, add_policy_arguments, array_shape_from_args,
                       policy_from_args)


def register(sub) -> None:
    from nbsmt.core.policy import THREAD_CHOICES
    p = sub.add_parser("verilog", help="generate Verilog for NB-SMT PEs and SySMT arrays",
                       description="Write <DIR>/<name>.v for a PE configuration (the name "
                                   "encodes it, e.g. nbsmt_pe_t2_w5_trunc.v), or for an "
                                   "R x C array with --rows/--cols (nbsmt_array_8x8_t2.v).")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--threads", type=int, choices=THREAD_CHOICES, help="lanes per PE (T)")
    what.add_argument("--defaults", action="store_true",
                      help="the 1T (OS-SA baseline), 2T and 4T PEs, under the policy flags")
    p.add_argument("--rows", type=int, help="generate an R x C array of such PEs (with --cols)")
    p.add_argument("--cols", type=int, help="array columns (default: --rows)")
    add_design_option_arguments(p)
    add_policy_arguments(p)
    p.add_argument("-o", "--out-dir", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=run)


def designs(args) -> list:
    """(component, name) pairs the parsed arguments ask for."""
    from nbsmt.hw.array import array_design
    from nbsmt.hw.configs import DEFAULT_THREADS, pe_design

    policy = policy_from_args(args)
    shape = array_shape_from_args(args)
    threads = DEFAULT_THREADS if args.defaults else (args.threads,)
    isolate, gate = args.operand_isolation, args.clock_gating
    if shape is None:
        return [pe_design(t, policy, args.pipeline, isolate, gate) for t in threads]
    rows, cols = shape
    return [array_design(rows=rows, cols=cols, threads=t, policy=policy, pipeline=args.pipeline,
                         isolate_operands=isolate, gate_clocks=gate)
            for t in threads]


def run(args) -> int:
    from pathlib import Path

    from nbsmt.hw.generate import to_verilog

    from nbsmt.core.fileio import write_text

    out_dir = Path(args.out_dir)
    for component, name in designs(args):
        path = out_dir / f"{name}.v"
        write_text(path, to_verilog(component, name))
        print(f"wrote {path}")
    return 0
