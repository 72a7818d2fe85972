"""Wall time of the exact NB-SMT emulator vs a plain numpy matmul and the golden model.

    .venv/bin/python bench/emulator_bench.py [--repeat N] [--json F]

A script that prints figures (not a timed test). Shapes are ResNet-18 3x3 convolutions
as im2col GEMMs (M = output pixels, K = 9 * C_in, N = C_out) at batch 1. Operands are
uniform random uint8 activations and int8 weights (the emulator's cost does not depend
on the values). Every figure is the minimum over N repetitions, measured interleaved
(baseline, emulator, baseline, ...) so a busy shared machine slows both alike; the median
is printed beside it. The baseline is numpy's float64 matmul of the same shape on
operands already converted to float64 (float32 and int64 are printed for reference:
numpy's int64 matmul does not use BLAS). The golden model is timed on the first rows
only and extrapolated linearly in M (it is a loop over row chunks, linear in M).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

from nbsmt.core.policy import Policy
from nbsmt.sim import golden_gemm
from nbsmt.sim.emulator import emulate_gemm

SHAPES = [  # (name, M, K, N)
    ("conv2_x 56x56, 64->64", 3136, 576, 64),
    ("conv3_x 28x28, 128->128", 784, 1152, 128),
    ("conv4_x 14x14, 256->256", 196, 2304, 256),
    ("conv5_x 7x7, 512->512", 49, 4608, 512),
]
GOLDEN_ROWS = 16
TARGETS = {2: 4.0, 4: 20.0}  # emulator time / float64 matmul time


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm up (caches, BLAS threads, lookup tables)
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def interleaved(fns: dict, repeat: int) -> dict:
    """Run each callable once per round, `repeat` rounds; seconds per callable."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def environment() -> dict:
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "cpus": os.cpu_count(), "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}
    try:
        from threadpoolctl import threadpool_info
        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            info["blas"] = {k: blas[0].get(k) for k in ("internal_api", "version",
                                                       "architecture", "num_threads")}
    except ImportError:
        pass
    try:
        info["loadavg_before"] = os.getloadavg()
    except OSError:
        pass
    return info


def bench(repeat: int) -> dict:
    rng = np.random.default_rng(0)
    rows = []
    for name, m_rows, k, n_cols in SHAPES:
        a = rng.integers(0, 256, (m_rows, k)).astype(np.uint8)
        w = rng.integers(-128, 128, (k, n_cols)).astype(np.int8)
        a64, w64 = a.astype(np.float64), w.astype(np.float64)
        a32, w32 = a.astype(np.float32), w.astype(np.float32)
        fns = {"matmul_f64": lambda: a64 @ w64}
        for threads in (2, 4):
            for pname, policy in (("default", Policy()), ("authors", Policy.authors())):
                fns[f"emulator_{threads}T_{pname}"] = (
                    lambda t=threads, p=policy: emulate_gemm(a, w, threads=t, policy=p))
        times = interleaved(fns, repeat)
        ref = {"matmul_f32": timed(lambda: a32 @ w32, repeat),
               "matmul_i64": timed(lambda: a.astype(np.int64) @ w.astype(np.int64),
                                   max(1, repeat // 3))}
        sub = a[:GOLDEN_ROWS]
        golden = {threads: timed(lambda t=threads: golden_gemm(sub, w, threads=t), 1)[0]
                  * m_rows / GOLDEN_ROWS for threads in (2, 4)}
        base = min(times["matmul_f64"])
        row = {"name": name, "M": m_rows, "K": k, "N": n_cols,
               "ms": {key: {"min": 1e3 * min(v), "median": 1e3 * float(np.median(v))}
                      for key, v in {**times, **ref}.items()},
               "golden_extrapolated_ms": {f"{t}T": 1e3 * s for t, s in golden.items()},
               "ratio_vs_f64": {key: min(v) / base for key, v in times.items()
                                if key.startswith("emulator")}}
        rows.append(row)
    return {"environment": environment(), "repeat": repeat, "golden_rows": GOLDEN_ROWS,
            "shapes": rows}


def print_table(result: dict) -> None:
    env = result["environment"]
    print(f"numpy {env['numpy']}, BLAS {env.get('blas')}, "
          f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']!r}, load {env.get('loadavg_before')}")
    print(f"min of {result['repeat']} interleaved runs (median in brackets), milliseconds; "
          f"golden model on {result['golden_rows']} rows, extrapolated in M")
    header = (f"{'shape':26} {'MxKxN':16} {'f64 mm':>13} {'f32 mm':>7} {'i64 mm':>8} "
              f"{'2T emul':>16} {'x f64':>6} {'4T emul':>16} {'x f64':>6} "
              f"{'4T authors':>11} {'golden 2T':>10} {'golden 4T':>10}")
    print(header)
    for r in result["shapes"]:
        ms = r["ms"]

        def cell(key):
            return f"{ms[key]['min']:6.1f} [{ms[key]['median']:5.1f}]"
        print(f"{r['name']:26} {r['M']}x{r['K']}x{r['N']:<6} {cell('matmul_f64'):>13} "
              f"{ms['matmul_f32']['min']:7.1f} {ms['matmul_i64']['min']:8.1f} "
              f"{cell('emulator_2T_default'):>16} {r['ratio_vs_f64']['emulator_2T_default']:6.1f} "
              f"{cell('emulator_4T_default'):>16} {r['ratio_vs_f64']['emulator_4T_default']:6.1f} "
              f"{ms['emulator_4T_authors']['min']:11.1f} "
              f"{r['golden_extrapolated_ms']['2T']:10.0f} {r['golden_extrapolated_ms']['4T']:10.0f}")
    worst = {t: max(r["ratio_vs_f64"][f"emulator_{t}T_default"] for r in result["shapes"])
             for t in TARGETS}
    for t, target in TARGETS.items():
        verdict = "met" if worst[t] <= target else "MISSED"
        print(f"{t}T: worst emulator/f64-matmul ratio {worst[t]:.1f} (target {target:g}): {verdict}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="repetitions per figure (default 7)")
    parser.add_argument("--json", metavar="F", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    result = bench(args.repeat)
    print_table(result)
    if args.json:
        from nbsmt.core.fileio import write_json
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
