"""`nbsmt verilog`: write the Verilog of one PE configuration, or of the default PEs."""

from __future__ import annotations

from ..cli import add_policy_arguments, policy_from_args


def register(sub) -> None:
    p = sub.add_parser("verilog", help="generate Verilog for NB-SMT PEs",
                       description="Write <DIR>/<name>.v for a PE configuration (the name "
                                   "encodes it, e.g. nbsmt_pe_t2_w2_rne_both.v).")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--threads", type=int, choices=(1, 2, 4), help="lanes per PE (T)")
    what.add_argument("--defaults", action="store_true",
                      help="the 1T (OS-SA baseline), 2T and 4T PEs, under the policy flags")
    add_policy_arguments(p)
    p.add_argument("-o", "--out-dir", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=run)


def designs(args) -> list:
    """(component, name) pairs the parsed arguments ask for; extend here for arrays."""
    from nbsmt.hw.configs import default_pe_designs, pe_design

    policy = policy_from_args(args)
    if args.defaults:
        return default_pe_designs(policy)
    return [pe_design(args.threads, policy)]


def run(args) -> int:
    from pathlib import Path

    from nbsmt.hw.generate import to_verilog

    from ..fileio import write_text

    out_dir = Path(args.out_dir)
    for component, name in designs(args):
        path = out_dir / f"{name}.v"
        write_text(path, to_verilog(component, name))
        print(f"wrote {path}")
    return 0
