"""Per-design metrics: each is one existing per-design function of the project, run as
one Dask task, and returns a flat dict of JSON numbers.

- area: Yosys synthesis of the R x R array (`nbsmt.synth.flow`, the `nbsmt synth` flow
  and its cache): NAND2 gate equivalents and um^2;
- timing: the array mapped onto the OSU 0.18 um cells and timed by OpenSTA
  (`nbsmt.synth.flow.time_design`): critical path, fmax, area in that library;
- cycles: the array's exact cycle model (`nbsmt.sim.cycles`) on every GEMM of the
  workload, in the design's full mode (m = T);
- accuracy: the exact emulator (`nbsmt.sim.emulator`) on the workload: output error and
  lossy MACs of a GEMM, or top-1 of the digits CNN against exact 8-bit.

A new metric (energy from an energy model) is one more function of (point, workload) in
`METRICS`; ratios against the OS-SA are computed by the report from the same columns of
the baseline point.
"""

from __future__ import annotations

from nbsmt.sweep.grid import DesignPoint
from nbsmt.sweep.workloads import Workload, trained_digits


def area(point: DesignPoint, workload: Workload) -> dict:
    from nbsmt.core.cache import Cache, build_root
    from nbsmt.synth.flow import generate, synthesize
    from nbsmt.synth.liberty import DEFAULT_LIBERTY, load_library

    library = load_library(DEFAULT_LIBERTY)
    config = point.design
    cache = Cache(build_root() / "synth-cache")
    verilog, seconds = generate(config, cache)
    s = synthesize(config, verilog, library, cache, generate_seconds=seconds)
    return {"area_ge": s.area_um2 / library.nand2_area, "area_um2": s.area_um2}


def timing(point: DesignPoint, workload: Workload) -> dict:
    from nbsmt.core.cache import Cache, build_root
    from nbsmt.synth.flow import generate, time_design
    from nbsmt.synth.liberty import load_library
    from nbsmt.synth.techmap import OSU_LIBERTY

    config = point.design
    cache = Cache(build_root() / "synth-cache")
    verilog, _ = generate(config, cache)
    t = time_design(config, verilog, load_library(OSU_LIBERTY), cache)
    return {"critical_path_ns": t["critical_path_ns"], "fmax_mhz": t["fmax_mhz"],
            "area_osu_um2": t["area_um2"]}


def cycles(point: DesignPoint, workload: Workload) -> dict:
    from nbsmt.sim.cycles import cycle_report
    total = 0
    for m_rows, k, n_cols in workload.gemm_shapes().values():
        total += cycle_report(m_rows, k, n_cols, rows=point.size, cols=point.size,
                              mode=point.threads, pipeline=point.pipeline)["cycles"]
    return {"cycles": total}


def accuracy(point: DesignPoint, workload: Workload) -> dict:
    if workload.kind == "digits":
        from nbsmt.sim.cnn import accuracy as top1
        wl = trained_digits()
        modes = dict.fromkeys(wl.shapes, point.threads)
        logits, _ = wl.runner.nbsmt(wl.test.x, modes=modes, threads=point.threads,
                                    policy=point.policy)
        acc = top1(logits, wl.test.y)
        return {"top1": acc, "top1_loss_pp": 100 * (wl.exact_accuracy["test"] - acc)}
    from nbsmt.sim.emulator import emulate_gemm
    stats = emulate_gemm(workload.a, workload.w, threads=point.threads,
                         policy=point.policy).stats
    macs = stats["macs"]
    return {"rel_frobenius": stats["error"]["rel_frobenius"],
            "lossy_mac_rate": stats["macs_reduced_lossy"] / macs if macs else 0.0}


#: name -> per-design function; the order is the table's column order.
METRICS = {"area": area, "timing": timing, "cycles": cycles, "accuracy": accuracy}
