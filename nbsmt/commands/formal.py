"""`nbsmt formal`: prove the generated PEs equal to the SPEC reference, check the array's
stream properties, and show that injected bugs are caught (docs/formal.md)."""

from __future__ import annotations

import os

from nbsmt.cli import int_arg, report_flags

SETS = ("full", "ci")
ONLY = ("pe", "pe-step", "array", "mutants")


def register(sub) -> None:
    p = sub.add_parser(
        "formal", help="formal proofs: PE vs SPEC reference, array stream properties, mutants",
        description="Prove with Bitwuzla (on Yosys' SMT-LIB output) that the generated PE "
                    "equals an independent SPEC reference for all inputs (T = 1, 2, 4 x the "
                    "regression's policies), that its registers accumulate, hand off and "
                    "hold, check the array's stream properties to a bounded depth, and show "
                    "that each injected bug fails with a counterexample. Exit status 1 if any "
                    "result is not the expected one.")
    p.add_argument("--set", choices=SETS, default="full",
                   help="full: the whole matrix (make formal); ci: the subset tests run "
                        "(default policy, two quick mutants, the array checks) (default: full)")
    p.add_argument("--depth", type=int, metavar="N",
                   help="array BMC depth in cycles (default: 40 for full, 24 for ci)")
    p.add_argument("--only", choices=ONLY, nargs="+", metavar="KIND",
                   help=f"run only these kinds of job, from {', '.join(ONLY)} (default: all)")
    p.add_argument("--split", action="store_true",
                   help="prove each collision count n of a 2T/4T PE as its own job")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="solvers in parallel (default: the number of cores)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="seconds per solver check, 1 to 1000000 (default: no limit); a check "
                        "over it is reported 'unknown'")
    report_flags(p, "formal", "formal.md, formal.json", json=False)
    p.set_defaults(func=run)


def _kind(job) -> str:
    """The --only group of a job: "mutants", or its kind ("array-step" is in "array")."""
    if job.mutant:
        return "mutants"
    return "array" if job.kind.startswith("array") else job.kind


def run(args) -> int:
    from pathlib import Path

    from nbsmt.formal.proofs import check_time_limit, ci_subset, full_matrix, run_jobs
    from nbsmt.core.fileio import folder_outputs
    from nbsmt.formal.report import REPORT_FILES, progress_line, write_report

    jobs_n = int_arg("--jobs", args.jobs, 1)
    if args.depth is not None:
        int_arg("--depth", args.depth, 1, 200)
    check_time_limit(args.timeout, "--timeout")
    out = Path(args.out)
    outputs = folder_outputs(out, REPORT_FILES)       # checked before any proof
    if args.set == "full":
        jobs = full_matrix(split=args.split, depth=args.depth)
    else:
        jobs = ci_subset(split=args.split, depth=args.depth)
    if args.only:
        jobs = [j for j in jobs if _kind(j) in args.only]
    print(f"{len(jobs)} formal jobs, {jobs_n} at a time", flush=True)
    results = run_jobs(jobs, workers=jobs_n, time_limit=args.timeout,
                       progress=lambda r: print(progress_line(r), flush=True))
    with outputs.staging() as stage:
        write_report(stage, results, argv=args.argv)
    bad = [r for r in results if not r.as_expected]
    print(f"{len(results) - len(bad)} of {len(results)} as expected; report in {out}/formal.md")
    return 1 if bad else 0
