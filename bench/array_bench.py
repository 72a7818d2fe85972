"""Simulation speed of the SySMT array RTL, and the wall time of the array regression.

Measures simulated cycles per wall-clock second for a 2T array (8x8 and 16x16) running a
64x256x64 GEMM in mode 2 on Icarus and Verilator, through the same cocotb bench as the
regression (so Python's per-cycle work is included). The build is made first with a
tiny job and not timed. `cycles_per_second` counts the bench's streaming loop alone
(clock cycles over its wall time); `end_to_end` adds simulator start-up, planning and the golden check.
Then times `pytest tests/test_array.py` (the whole array regression, both simulators) as
it stands: warm if the builds are cached, cold after `make clean`.

    .venv/bin/python bench/array_bench.py [--skip-regression] [--out build/bench/array.json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from nbsmt.fileio import write_json
from nbsmt.policy import Policy
from nbsmt.tb.array_sim import run_jobs
from nbsmt.tb.driver import plan
from nbsmt.tb.stimulus import gemm_operands

SHAPE = (64, 256, 64)


def speed(simulator: str, size: int) -> dict:
    a, w = gemm_operands("demo", np.random.default_rng(1), *SHAPE)
    kw = dict(rows=size, cols=size, threads=2, mode=2, policy=Policy())
    t0 = time.time()
    run_jobs([plan(a[:1, :1], w[:1, :1], **kw)], simulator=simulator, quiet=True)  # build
    build = time.time() - t0
    job = plan(a, w, **kw)
    t0 = time.time()
    (rec,), _ = run_jobs([job], simulator=simulator, quiet=True)
    wall = time.time() - t0
    if not rec["ok"]:
        raise SystemExit(f"{simulator} {size}x{size}: RTL disagrees: {rec['checks']}")
    # the bench's streaming loop alone: no simulator start-up, planning or checking
    cycles, sim_wall = rec["bench"]["cycles"], rec["bench"]["seconds"]
    return {"simulator": simulator, "array": f"{size}x{size}", "threads": 2, "mode": 2,
            "gemm": "x".join(map(str, SHAPE)), "cycles": rec["cycles"],
            "sim_seconds": round(sim_wall, 2), "cycles_per_second": round(cycles / sim_wall),
            "end_to_end_seconds": round(wall, 2),
            "end_to_end_cycles_per_second": round(rec["cycles"] / wall),
            "build_and_tiny_run_seconds": round(build, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-regression", action="store_true")
    ap.add_argument("--out", default="build/bench/array.json")
    args = ap.parse_args(argv)
    rows = []
    for simulator in ("verilator", "icarus"):
        for size in (8, 16):
            r = speed(simulator, size)
            rows.append(r)
            print(f"{simulator:9s} {r['array']:5s} 2T: {r['cycles']} cycles, simulation "
                  f"{r['sim_seconds']} s = {r['cycles_per_second']} cycles/s; end to end "
                  f"(start-up, golden check) {r['end_to_end_seconds']} s")
    report = {"speed": rows}
    if not args.skip_regression:
        t0 = time.time()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_array.py"],
                              capture_output=True, text=True)
        wall = time.time() - t0
        tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        report["regression"] = {"command": "pytest -q tests/test_array.py",
                                "wall_seconds": round(wall, 1), "result": tail,
                                "returncode": proc.returncode}
        print(f"array regression: {tail} in {wall:.0f} s")
    write_json(Path(args.out), report)
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
