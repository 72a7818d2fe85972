"""cocotb bench: one NB-SMT PE against the golden model, every output, every cycle.

Run through `tests/test_pe.py` (pytest) or `run_cocotb(test_module="pe_test", ...)`; the
configuration (threads, policy, cycles, seed) arrives as JSON in NBSMT_TB_CONFIG.
"""

from __future__ import annotations

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from nbsmt.core.policy import Policy

from nbsmt.host.pe_vectors import pe_vectors
from nbsmt.tb.runner import tb_config


def _describe(vec, i: int) -> str:
    return (f"a={vec.a[i].tolist()} w={vec.w[i].tolist()} en={int(vec.en[i])} "
            f"last={int(vec.last[i])} stream={vec.kind[i]}")


@cocotb.test()
async def pe_random_streams(dut):
    """Mixed random streams with random en/last; compare all outputs each cycle."""
    cfg = tb_config()
    policy = Policy(**cfg["policy"])
    threads, seed, cycles = cfg["threads"], cfg["seed"], cfg["cycles"]
    lag = int(cfg.get("pipeline", 0))   # acc/result/result_valid come this many cycles late
    stats_lag = min(lag, 1)             # n_active/lossy leave from pipe1 when there is one
    vec = pe_vectors(threads, policy, cycles, seed)
    dut._log.info("T=%d %s seed=%d cycles=%d", threads, policy, seed, cycles)

    clk = dut.clk
    a_in, w_in, en_in, last_in = dut.a_in, dut.w_in, dut.en_in, dut.last_in
    acc, result, valid = dut.acc, dut.result, dut.result_valid
    n_active, lossy = dut.n_active, dut.lossy
    a_out, w_out, en_out, last_out = dut.a_out, dut.w_out, dut.en_out, dut.last_out

    a_in.value, w_in.value, en_in.value, last_in.value = 0, 0, 0, 0
    dut.rst.value = 1
    Clock(clk, 10, unit="ns").start()
    edge = RisingEdge(clk)
    settle = ReadOnly()
    await edge
    await edge
    dut.rst.value = 0

    prev = (0, 0, 0, 0)   # pass-through registers after reset
    for i in range(cycles + lag):   # `lag` idle cycles at the end drain the pipeline
        cur = ((vec.a_bus[i], vec.w_bus[i], int(vec.en[i]), int(vec.last[i])) if i < cycles
               else (0, 0, 0, 0))
        k = i - lag   # the cycle whose inputs the accumulator side shows now
        j = i - stats_lag   # ... and the statistics
        a_in.value, w_in.value, en_in.value, last_in.value = cur
        await settle
        got = {
            "acc": acc.value.to_signed(), "result": result.value.to_signed(),
            "result_valid": int(valid.value), "n_active": int(n_active.value),
            "lossy": int(lossy.value),
            "pass": (int(a_out.value), int(w_out.value), int(en_out.value),
                     int(last_out.value)),
        }
        want = {   # before the pipeline fills, its reset registers carry a zero contribution
            "acc": vec.acc[k] if k >= 0 else 0, "result": vec.result[k] if k >= 0 else 0,
            "result_valid": int(vec.en[k] & vec.last[k]) if k >= 0 else 0,
            "n_active": vec.n_active[j] if 0 <= j < cycles else 0,
            "lossy": vec.lossy[j] if 0 <= j < cycles else 0, "pass": prev,
        }
        if got != want:
            diff = {n: (got[n], want[n]) for n in got if got[n] != want[n]}
            raise AssertionError(
                f"seed={seed} cycle={i} (pipeline {lag}): "
                f"{_describe(vec, min(i, cycles - 1))}; mismatch (rtl, golden): {diff}")
        prev = cur
        await edge


@cocotb.test()
async def pe_defined_operands_right_after_reset(dut):
    """Activations below 16 (high nibbles 0 throughout) from the first edge after reset.

    Every input is 0 from time 0, so no input ever changes the bits that decide the
    activation reduction: a combinational block that misses its time-0 evaluation
    (Icarus -g2012 with a declaration-initialised wake-up) stays `x` here.
    """
    cfg = tb_config()
    threads, seed = cfg["threads"], cfg["seed"]
    rng = np.random.default_rng(seed)
    lanes = (rng.integers(1, 16, (cfg["cycles"], threads)),     # exact reductions only:
             rng.integers(-8, 8, (cfg["cycles"], threads)))     # 4-bit operands
    a_bus = [sum(int(v) << (8 * t) for t, v in enumerate(row)) for row in lanes[0]]
    w_bus = [sum((int(v) & 0xFF) << (8 * t) for t, v in enumerate(row)) for row in lanes[1]]
    dut.a_in.value, dut.w_in.value, dut.en_in.value, dut.last_in.value = 0, 0, 0, 0
    dut.rst.value = 1
    Clock(dut.clk, 10, unit="ns").start()
    edge = RisingEdge(dut.clk)
    await edge
    await edge
    dut.rst.value = 0
    total = 0
    for i, (a, w) in enumerate(zip(a_bus, w_bus)):
        dut.a_in.value, dut.w_in.value, dut.en_in.value = a, w, 1
        dut.last_in.value = int(i == len(a_bus) - 1)
        total += int((lanes[0][i] * lanes[1][i]).sum())
        await ReadOnly()
        got = {name: str(getattr(dut, name).value) for name in ("acc", "result")}
        if "x" in "".join(got.values()).lower():
            raise AssertionError(f"seed={seed} cycle={i}: undefined outputs {got} "
                                 f"(a={lanes[0][i].tolist()} w={lanes[1][i].tolist()})")
        assert dut.result.value.to_signed() == total, (
            f"seed={seed} cycle={i}: result {dut.result.value.to_signed()} != {total}")
        await edge
