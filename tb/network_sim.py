"""The digits CNN of `nbsmt eval` with every layer's GEMM on the SySMT array RTL.

The quantized network (`nbsmt.sim.evaluate.prepare`: the same training, seed and splits
as `nbsmt eval`) runs on the test split; each layer's GEMM (the whole batch as one
matrix) is tiled onto the array, streamed through the RTL (`run_jobs`, the player by
default) and its output feeds the next layer, so the network's top-1 accuracy is the
RTL's own. Every layer is judged as `nbsmt sim` judges a GEMM (golden model, counters,
cycle model) and also against the exact emulator `nbsmt eval` uses; the accuracy is
compared with the emulator network's on the same images and modes.
"""

from __future__ import annotations

import time

import numpy as np

from nbsmt.core.policy import Policy, check_mode
from nbsmt.sim import cnn, quantize
from nbsmt.sim.emulator import emulate_gemm
from nbsmt.sim.evaluate import Workload

NETWORKS = ("digits",)
LAYERS = quantize.LAYERS


def layer_modes(text: str | None, threads: int, mode: int) -> dict[str, int]:
    """{layer: mode} from "conv1=2,fc=1" (layers not named run in `mode`)."""
    modes = dict.fromkeys(LAYERS, mode)
    for item in filter(None, (text or "").split(",")):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in LAYERS:
            raise ValueError(f"--mode-per-layer takes LAYER=MODE items for layers "
                             f"{', '.join(LAYERS)}, not {item!r}")
        try:
            modes[name] = check_mode(int(value.strip()), threads)
        except ValueError as exc:
            reason = exc if value.strip().isdigit() else f"mode must be 1, 2 or 4, not {value!r}"
            raise ValueError(f"--mode-per-layer {name}: {reason}") from None
    return modes


def rtl_gemm(a, w, *, rows: int, cols: int, threads: int, mode: int, policy: Policy,
             simulator: str, pipeline: int = 0, harness: str | None = None):
    """One layer's GEMM on the RTL array: (the RTL's output, its record), judged as `nbsmt
    sim` judges a GEMM (golden model, counters, cycle model) and against the emulator."""
    from nbsmt.host.driver import plan
    from nbsmt.tb.array_sim import run_jobs

    job = plan(a, w, rows=rows, cols=cols, threads=threads, mode=mode, policy=policy,
               pipeline=pipeline)
    start = time.monotonic()
    (record,), _ = run_jobs([job], simulator=simulator, quiet=True, harness=harness,
                            reference="golden")
    seconds = time.monotonic() - start
    output = record.pop("output")
    emulated = emulate_gemm(a, w, threads=threads, mode=mode, policy=policy)
    checks = {**record["checks"],
              "output_equals_emulator": bool(np.array_equal(output, emulated.output)),
              "counters_equal_emulator": (
                  record["counters"]["pe_cycles_by_active"]
                  == emulated.stats["pe_cycles_by_active"]
                  and record["counters"]["lossy_reductions"]
                  == emulated.stats["macs_reduced_lossy"])}
    return output, {"shape": [int(a.shape[0]), int(a.shape[1]), int(w.shape[1])],
                    "mode": mode, "cycles": record["cycles"],
                    "cycle_model": record["cycle_model"]["cycles"],
                    "cycles_mode1_model": record["cycles_mode1_model"],
                    "collision_rate": record["golden"]["collision_rate"],
                    "lossy_reductions": record["counters"]["lossy_reductions"],
                    "ok": all(checks.values()), "checks": checks,
                    "wall_seconds": round(seconds, 2),
                    "cycles_per_second": round(record["bench"]["cycles"]
                                               / max(record["bench"]["seconds"], 1e-9))}


def run_network(wl: Workload, *, rows: int, cols: int, threads: int, modes: dict[str, int],
                policy: Policy, simulator: str, images: int | None = None, pipeline: int = 0,
                harness: str | None = None, log=lambda msg: None) -> dict:
    """Run the test split (its first `images`) through the network on the RTL; the record
    has per-layer cycles and checks and the RTL's and the emulator's top-1 accuracy."""
    from nbsmt.tb.array_sim import default_harness

    harness = harness or default_harness(simulator)
    split = wl.test if images is None else wl.test.head(images)
    layers = {}

    def gemm(name, a, w):
        output, layers[name] = rtl_gemm(a, w, rows=rows, cols=cols, threads=threads,
                                        mode=modes[name], policy=policy, simulator=simulator,
                                        pipeline=pipeline, harness=harness)
        log(f"{name}: {layers[name]['shape']} mode {modes[name]}: {layers[name]['cycles']} "
            f"cycles (model {layers[name]['cycle_model']}), "
            f"{'bit-exact' if layers[name]['ok'] else 'MISMATCH'} in "
            f"{layers[name]['wall_seconds']:.1f} s")
        return output

    rtl_accuracy = cnn.accuracy(quantize.run(wl.qnet, split.x, gemm), split.y)
    emulated_logits, _ = wl.runner.nbsmt(split.x, modes=modes, threads=threads, policy=policy)
    emulator_accuracy = cnn.accuracy(emulated_logits, split.y)
    cycles = sum(layer["cycles"] for layer in layers.values())
    base = sum(layer["cycles_mode1_model"] for layer in layers.values())
    return {"network": "digits", "images": len(split),
            "array": {"rows": rows, "cols": cols, "threads": threads, "pipeline": pipeline},
            "policy": policy.as_dict(), "simulator": simulator, "harness": harness,
            "modes": modes, "layers": layers, "cycles": cycles, "cycles_mode1_model": base,
            "cycle_speedup_vs_mode1": base / cycles,
            "rtl_accuracy": rtl_accuracy, "emulator_accuracy": emulator_accuracy,
            "exact_8bit_accuracy": cnn.accuracy(wl.runner.exact(split.x)[0], split.y),
            "ok": all(layer["ok"] for layer in layers.values())
            and rtl_accuracy == emulator_accuracy}
