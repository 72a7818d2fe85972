"""Per-design metrics: each is one existing per-design function of the project, run as
one Dask task, and returns a flat dict of JSON numbers.

- area: Yosys synthesis of the R x R array (`nbsmt.synth.flow`, the `nbsmt synth` flow
  and its cache): NAND2 gate equivalents and um^2;
- timing: the array mapped onto the point's cell library (OSU 0.18 um by default) and
  timed by OpenSTA (`nbsmt.synth.flow.time_design`): critical path, fmax, area in that
  library;
- cycles: the array's exact cycle model (`nbsmt.sim.cycles`) on every GEMM of the
  workload, in the design's full mode (m = T);
- accuracy: the exact emulator (`nbsmt.sim.emulator`) on the workload: output error and
  lossy MACs of a GEMM, or top-1 of the digits CNN against exact 8-bit;
- energy (not in the default set: a gate-level simulation per point): pJ/MAC of the
  workload's GEMM on the array mapped onto the point's library, zero-delay glitch model,
  by the per-action estimate of a calibration run (`nbsmt.energy.array.gemm_energy`, as
  `make technology`), leakage at the design's own clock (its timing, cached), with the
  leakage share, the GEMM's time and energy x delay per MAC.

A new metric is one more function of (point, workload) in `METRICS`; ratios against the
OS-SA are computed by the report from the same columns of the baseline point.
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


def _timed(point: DesignPoint) -> dict:
    """`time_design` of the point's array on its library (cached by content)."""
    from nbsmt.core.cache import Cache, build_root
    from nbsmt.synth import pdk
    from nbsmt.synth.flow import generate, time_design

    config = point.design
    cache = Cache(build_root() / "synth-cache")
    verilog, _ = generate(config, cache)
    return time_design(config, verilog, pdk.load(point.pdk), cache)


def timing(point: DesignPoint, workload: Workload) -> dict:
    t = _timed(point)
    return {"critical_path_ns": t["critical_path_ns"], "fmax_mhz": t["fmax_mhz"],
            "area_lib_um2": t["area_um2"]}


def energy(point: DesignPoint, workload: Workload) -> dict:
    import tempfile
    from pathlib import Path

    from nbsmt.core.cache import build_root
    from nbsmt.energy.array import gemm_energy

    if workload.kind != "gemm":
        raise ValueError("the energy metric prices a GEMM workload (demo or A.npy,W.npy), "
                         f"not {workload.name}")
    period = _timed(point)["critical_path_ns"]
    build_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nbsmt-sweep-energy-", dir=build_root()) as work:
        e = gemm_energy(workload.a, workload.w, design=point.design, model="zero-delay",
                        workdir=Path(work), pdk=point.pdk, period_ns=period)
    return {"pj_per_mac": e["pj_per_mac"], "leakage_share": e["leakage_share"],
            "gemm_time_ns": e["time_ns"], "edp_pj_ns_per_mac": e["edp_pj_ns_per_mac"]}


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
METRICS = {"area": area, "timing": timing, "cycles": cycles, "accuracy": accuracy,
           "energy": energy}
#: The metrics the point's cell library prices (their results are keyed by its content).
LIBRARY_METRICS = ("timing", "energy")
#: What `nbsmt sweep` measures without --metrics: all but the gate-level energy runs.
DEFAULT_METRICS = ("area", "timing", "cycles", "accuracy")
