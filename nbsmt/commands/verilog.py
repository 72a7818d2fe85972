"""`nbsmt verilog`: write the Verilog of one PE configuration, or of the default PEs."""

from __future__ import annotations

from nbsmt.cli import (add_design_option_arguments, add_policy_arguments, array_shape_from_args,
                       design_options_from_args, path_flag, policy_from_args)


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
    path_flag(p.add_argument("-o", "--out-dir", required=True, metavar="DIR", help="output folder"),
              "output-folder")
    p.set_defaults(func=run)


def designs(args) -> list:
    """The `Design`s the parsed arguments ask for."""
    from nbsmt.hw.design import DEFAULT_THREADS, Design

    policy = policy_from_args(args)
    shape = array_shape_from_args(args)
    threads = DEFAULT_THREADS if args.defaults else (args.threads,)
    options = design_options_from_args(args)
    if shape is None:
        return [Design.pe(t, policy, **options) for t in threads]
    return [Design.array(*shape, t, policy, **options) for t in threads]


def run(args) -> int:
    from nbsmt.core.fileio import folder_outputs

    chosen = designs(args)
    outputs = folder_outputs(args.out_dir, [f"{d.name}.v" for d in chosen], flag="--out-dir")
    with outputs.staging() as stage:
        for design in chosen:
            stage.text(f"{design.name}.v", design.verilog())
    for design in chosen:
        print(f"wrote {outputs.paths[f'{design.name}.v']}")
    return 0
