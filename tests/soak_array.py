"""Array soak (`make soak`, never `make test`): random GEMM shapes with random back-pressure.

The long runs: at least NBSMT_ARRAY_CYCLES (default 10^6) array cycles per thread count
on Verilator, each GEMM checked. Then the rounds below.

Until NBSMT_SOAK_SECONDS (default 600) have passed, each round picks an array
configuration (simulator, R x C, T, policy), a few GEMMs of random shape, mode, operand
family and host/consumer pause rates, simulates them and checks every job as the array
regression does. Everything derives from NBSMT_SEED (printed by `make soak`), so
`make soak SEED=<seed>` replays the same rounds.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from nbsmt.core.policy import Policy
from nbsmt.tb.array_sim import JobOptions, run_jobs
from nbsmt.host.driver import plan
from nbsmt.tb.runner import env_int, require_simulator
from nbsmt.core.toolchain import SIMULATORS

from nbsmt.host.stimulus import FAMILIES, activations, weights

# (rows, cols, threads, policy): few enough that each build serves many rounds.
ARRAYS = ((1, 4, 2, Policy()), (3, 5, 4, Policy.authors()), (4, 4, 4, Policy()),
          (2, 3, 1, Policy()), (5, 2, 2, Policy(windows=5, rounding="trunc")),
          (4, 3, 4, Policy(zero_skip="act", windows=3, acc_bits=17)))


def test_array_soak_random_shapes_with_back_pressure():
    seed = env_int("NBSMT_SEED", 0, 0, 2**32 - 1)
    budget = env_int("NBSMT_SOAK_SECONDS", 600, 1)
    rng = np.random.default_rng(seed)
    deadline = time.monotonic() + budget
    rounds = jobs_run = cycles = 0
    while time.monotonic() < deadline:
        simulator = SIMULATORS[rounds % len(SIMULATORS)]
        require_simulator(simulator)
        rows, cols, threads, policy = ARRAYS[int(rng.integers(len(ARRAYS)))]
        jobs, options, specs = [], [], []
        for _ in range(int(rng.integers(1, 9))):
            m_rows, k, n_cols = (int(x) for x in rng.integers(1, 3 * max(rows, cols) + 1, 3))
            mode = int(rng.choice([m for m in (1, 2, 4) if m <= threads]))
            family = FAMILIES[int(rng.integers(len(FAMILIES)))]
            a = activations(family, rng, (m_rows, k))
            w = weights(family, rng, (k, n_cols))
            opt = JobOptions(valid_prob=float(rng.choice([1.0, rng.uniform(0.3, 1.0)])),
                             ready_prob=float(rng.choice([1.0, rng.uniform(0.2, 1.0)])),
                             seed=int(rng.integers(2**31)))
            jobs.append(plan(a, w, rows=rows, cols=cols, threads=threads, mode=mode,
                             policy=policy))
            options.append(opt)
            specs.append((m_rows, k, n_cols, mode, family, opt))
        # Verilator alternates the native player and the cocotb one
        harness = "native" if simulator == "verilator" and rounds // 2 % 2 else "player"
        records, _ = run_jobs(jobs, simulator=simulator, options=options, quiet=True,
                              harness=harness, reference="golden")
        for spec, rec in zip(specs, records):
            failed = [name for name, good in rec["checks"].items() if not good]
            assert not failed, (f"seed={seed} round={rounds} {simulator} {harness} {rows}x{cols} "
                                f"T={threads} {policy}: job {spec}: {failed}")
            cycles += int(rec["cycles"])
        rounds += 1
        jobs_run += len(jobs)
    print(f"\narray soak: seed {seed}, {rounds} rounds, {jobs_run} GEMMs, "
          f"{cycles} array cycles in {budget} s")
    assert rounds > 0


# 10^6 array cycles per thread count on Verilator through the stimulus player (native and
# cocotb-clocked, batch by batch): random
# GEMM shapes (several tiles, K up to 600), modes, operand families and back-pressure.
LONG_ARRAYS = {1: (8, 8, Policy()), 2: (8, 8, Policy()), 4: (8, 8, Policy())}


@pytest.mark.parametrize("threads", sorted(LONG_ARRAYS))
def test_array_soak_a_million_cycles_per_thread_count(threads):
    require_simulator("verilator")
    seed = env_int("NBSMT_SEED", 0, 0, 2**32 - 1)
    target = env_int("NBSMT_ARRAY_CYCLES", 1_000_000, 1)
    rows, cols, policy = LONG_ARRAYS[threads]
    rng = np.random.default_rng([seed, threads])
    cycles = jobs_run = 0
    while cycles < target:
        jobs, options = [], []
        for _ in range(4):
            m_rows, n_cols = (int(x) for x in rng.integers(1, 12 * rows, 2))
            k = int(rng.integers(1, 600))
            family = FAMILIES[int(rng.integers(len(FAMILIES)))]
            a = activations(family, rng, (m_rows, k))
            w = weights(family, rng, (k, n_cols))
            mode = int(rng.choice([m for m in (1, 2, 4) if m <= threads]))
            jobs.append(plan(a, w, rows=rows, cols=cols, threads=threads, mode=mode,
                             policy=policy))
            options.append(JobOptions(valid_prob=float(rng.choice([1.0, rng.uniform(0.5, 1.0)])),
                                      ready_prob=float(rng.choice([1.0, rng.uniform(0.3, 1.0)])),
                                      seed=int(rng.integers(2**31))))
        harness = ("native", "player")[jobs_run // 4 % 2]   # both player harnesses
        records, _ = run_jobs(jobs, simulator="verilator", options=options, quiet=True,
                              harness=harness, reference="golden")
        for job, opt, rec in zip(jobs, options, records):
            failed = [name for name, good in rec["checks"].items() if not good]
            assert not failed, (f"seed={seed} T={threads} {harness} job {job.a.shape}x{job.w.shape} "
                                f"mode {job.mode} {opt}: {failed}")
            cycles += int(rec["bench"]["cycles"])
        jobs_run += len(jobs)
    print(f"\narray soak T={threads}: seed {seed}, {jobs_run} GEMMs, {cycles} cycles checked")
