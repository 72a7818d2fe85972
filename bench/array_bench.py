"""Simulation speed of the SySMT array RTL: each harness, and `nbsmt sim` end to end.

For a 2T array in mode 2 (8x8 and 16x16) it measures simulated cycles per wall-clock
second of:
  - native: the Verilog stimulus player clocked by a generated C++ main, no cocotb
            (`nbsmt.tb.native`; `nbsmt sim`'s default on Verilator),
  - player: the same player under cocotb (the default on Icarus),
  - bench:  the per-cycle cocotb bench (Python drives every cycle),
each on Icarus and Verilator (native: Verilator), and prints every row's ratio to the
native run of the same array. Every run is checked bit-exact against the golden model
(counters and cycles included) before its speed counts. Builds are made first, with a
tiny job, and timed separately. `cycles_per_second` counts the streaming loop (cycles
over its wall time); `end_to_end` adds simulator start-up, planning and the check.

GEMMs (operands as `make sim`'s demo): the per-cycle bench and Icarus run 64x256x64;
the player and native on Verilator run 256x1024x256 (524k cycles on 8x8), and a
ResNet-18-shaped layer (3136x576x64) runs on the 16x16 native player. Then the whole
command: `nbsmt sim` of a 512x512x256 GEMM on the 8x8 2T array (Verilator, warm build),
wall time from the shell, per harness. Then it times `pytest tests/test_array.py` (the
whole array regression, both simulators) as it stands.

    .venv/bin/python bench/array_bench.py [--skip-regression] [--out build/bench/array.json]
    .venv/bin/python bench/array_bench.py --scale [--out ...]   # 32x32 4T only (make scale)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nbsmt.core.fileio import write_json
from nbsmt.core.policy import Policy
from nbsmt.tb.array_sim import run_jobs
from nbsmt.host.driver import plan
from nbsmt.host.stimulus import gemm_operands

SHORT = (64, 256, 64)
LONG = (256, 1024, 256)
RESNET = (3136, 576, 64)   # ResNet-18 conv2_x as a GEMM: 56*56 positions, 3*3*64 taps, 64 filters
SCALE_GEMM = (256, 1024, 256)   # 64 tiles of 32x32, 256 K-steps each in mode 4


def _job(size: int, shape: tuple[int, int, int], threads: int = 2):
    a, w = gemm_operands("demo", np.random.default_rng(1), *shape)
    return plan(a, w, rows=size, cols=size, threads=threads, mode=threads, policy=Policy())


def _row(harness, simulator, size, shape, rec, wall, build, threads=2) -> dict:
    if not rec["ok"]:
        raise SystemExit(f"{harness} {simulator} {size}x{size}: RTL disagrees: {rec['checks']}")
    cycles, seconds = rec["bench"]["cycles"], rec["bench"]["seconds"]
    return {"harness": harness, "simulator": simulator, "array": f"{size}x{size}",
            "threads": threads, "mode": threads, "gemm": "x".join(map(str, shape)),
            "cycles": rec["cycles"],
            "sim_seconds": round(seconds, 2), "cycles_per_second": round(cycles / seconds),
            "end_to_end_seconds": round(wall, 2),
            "build_seconds": round(build, 1)}


def harness_speed(harness: str, simulator: str, size: int, shape, threads: int = 2) -> dict:
    t0 = time.time()
    run_jobs([_job(size, (1, 1, 1), threads)], simulator=simulator, quiet=True,
             harness=harness)  # build (Verilog generation included when not cached)
    build = time.time() - t0
    job = _job(size, shape, threads)
    t0 = time.time()
    (rec,), _ = run_jobs([job], simulator=simulator, quiet=True, harness=harness,
                         reference="golden")
    return _row(harness, simulator, size, shape, rec, time.time() - t0, build, threads)


def scale_speed() -> list[dict]:
    """RTL at scale: a 32x32 4T array (mode 4) runs SCALE_GEMM on Verilator through the
    stimulus player, natively and under cocotb, checked bit-exact against the golden
    model (output, counters, cycles = model) before its speed counts."""
    rows = []
    for harness in ("native", "player"):
        r = harness_speed(harness, "verilator", 32, SCALE_GEMM, threads=4)
        rows.append(r)
        print(f"32x32 4T {harness:6s} verilator {r['gemm']}: {r['cycles']} cycles, "
              f"{r['cycles_per_second']} cycles/s; build {r['build_seconds']} s; "
              f"end to end {r['end_to_end_seconds']} s", flush=True)
    return rows


def command_speed(harness: str, shape=(512, 512, 256), runs: int = 2) -> dict:
    """`nbsmt sim` of one GEMM on the 8x8 2T array, the whole process timed (best of
    `runs`, after a run that makes sure the build is there)."""
    a, w = gemm_operands("demo", np.random.default_rng(1), *shape)
    nbsmt = Path(sys.executable).with_name("nbsmt")
    walls = []
    with tempfile.TemporaryDirectory(prefix="nbsmt-bench-") as tmp:
        np.save(f"{tmp}/a.npy", a)
        np.save(f"{tmp}/w.npy", w)
        cmd = [str(nbsmt), "sim", "--a", f"{tmp}/a.npy", "--w", f"{tmp}/w.npy", "--threads", "2",
               "--harness", harness, "--out", f"{tmp}/c.npy", "--stats", f"{tmp}/s.json"]
        for n in range(runs + 1):
            t0 = time.time()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"nbsmt sim --harness {harness} failed: {proc.stdout}{proc.stderr}")
            if n:
                walls.append(time.time() - t0)
        cycles = json.loads(Path(f"{tmp}/s.json").read_text())["cycles"]
    best = min(walls)
    return {"command": " ".join(["nbsmt", *cmd[1:]]), "harness": harness,
            "gemm": "x".join(map(str, shape)), "cycles": cycles,
            "wall_seconds": round(best, 2), "cycles_per_second": round(cycles / best)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-regression", action="store_true")
    ap.add_argument("--out", default="build/bench/array.json")
    ap.add_argument("--scale", action="store_true",
                    help="only the 32x32 4T array (make scale): build time and cycles/s")
    args = ap.parse_args(argv)
    if args.scale:
        write_json(Path(args.out), {"scale": scale_speed()})
        print(f"written to {args.out}")
        return 0
    rows = []
    for size in (8, 16):
        plan_ = [("native", "verilator", LONG), ("player", "verilator", LONG),
                 ("bench", "verilator", SHORT), ("player", "icarus", SHORT),
                 ("bench", "icarus", SHORT)]
        if size == 16:
            plan_.append(("native", "verilator", RESNET))
        native = None
        for harness, simulator, shape in plan_:
            r = harness_speed(harness, simulator, size, shape)
            native = native or r["cycles_per_second"]
            r["ratio_to_native"] = round(r["cycles_per_second"] / native, 3)
            rows.append(r)
            print(f"{r['array']:5s} {harness:6s} {simulator:9s} {r['gemm']:>13s}: "
                  f"{r['cycles']:>7} cycles, {r['cycles_per_second']:>7} cycles/s "
                  f"= {r['ratio_to_native']:6.1%} of native; build {r['build_seconds']} s"
                  f"; end to end {r['end_to_end_seconds']} s", flush=True)
    commands = []
    for harness in ("native", "player"):
        c = command_speed(harness)
        commands.append(c)
        print(f"{c['command']}: {c['cycles']} cycles in {c['wall_seconds']} s = "
              f"{c['cycles_per_second']} cycles/s end to end", flush=True)
    report = {"speed": rows, "command": commands}
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
