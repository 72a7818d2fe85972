"""`nbsmt gemm`: run the bit-exact golden model on A.npy x W.npy and save C (and stats)."""

from __future__ import annotations

from nbsmt.cli import (add_gemm_arguments, fits_in_memory, path_flag, policy_from_args,
                       threads_mode_from_args)
from nbsmt.core.tables import format_ratio


def register(sub) -> None:
    p = sub.add_parser("gemm", help="bit-exact NB-SMT GEMM with the numpy golden model",
                       description="C = A @ W on T-thread NB-SMT PEs (SPEC §6-§8), bit-exact.")
    add_gemm_arguments(p)
    path_flag(p.add_argument("--out", required=True, metavar="C.npy", help="output, int64 [M,N]"),
              "output-file")
    path_flag(p.add_argument("--stats", metavar="S.json", help="write the SPEC §8 statistics here"),
              "output-file")
    p.set_defaults(func=run)


def run(args) -> int:
    from nbsmt.core.fileio import OutputSet
    from nbsmt.core.operands import load_operands
    from nbsmt.sim.gemm import golden_gemm

    policy = policy_from_args(args)
    threads, mode = threads_mode_from_args(args)
    outputs = OutputSet({"--out": args.out, "--stats": args.stats},
                        inputs={"--a": args.a, "--w": args.w})
    a, w = load_operands(args.a, args.w, policy)
    with fits_in_memory(a, w):
        result = golden_gemm(a, w, threads=threads, mode=mode, policy=policy)
    with outputs.staging() as stage:
        stage.npy("--out", result.output)
        stage.json("--stats", result.stats)
    s = result.stats
    print(f"C[{s['shape']['M']},{s['shape']['N']}] written to {args.out}: T={threads} mode={mode} "
          f"k_steps={s['k_steps']} (x{s['speedup_vs_mode1']:.2f}), collisions "
          f"{s['collision_rate']:.1%}, lossy MACs {s['macs_reduced_lossy']}, "
          f"rel. error {format_ratio(s['error']['rel_frobenius'])}")
    return 0
