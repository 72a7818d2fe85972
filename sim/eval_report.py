"""The workload study's report: Markdown built from the JSON record, and every file of
the report folder (eval.md, eval.json, PNG plots) written all or nothing.

Every figure in the Markdown names the command that made it; all numbers come from the
record that `nbsmt.sim.evaluate.study` returns.
"""

from __future__ import annotations


from nbsmt.core.tables import format_ratio, markdown_table
from nbsmt.core.fileio import OutputSet, folder_outputs
from nbsmt.sim.eval_plots import ACCURACY_PNG, COLLISIONS_PNG, plot_accuracy, plot_collisions


REPORT_FILES = ("eval.json", "eval.md", ACCURACY_PNG, COLLISIONS_PNG)


def report_outputs(out, json_path=None, inputs: dict | None = None) -> OutputSet:
    """The report's files in folder `out` (and `json_path`), checked before the study runs."""
    return folder_outputs(out, REPORT_FILES, json_path, inputs=inputs)


def write_report(outputs: OutputSet, report: dict) -> None:
    """Write every file of `outputs` from `report`, all or none."""
    with outputs.staging() as stage:
        stage.json("eval.json", report)
        stage.json("--json", report)
        plot_accuracy(report, stage.path(ACCURACY_PNG))
        plot_collisions(report, stage.path(COLLISIONS_PNG))
        stage.text("eval.md", markdown(report) + time_markdown(report) + energy_markdown(report))


def time_markdown(report: dict) -> str:
    """The speedup-in-time section of eval.md (empty without clock periods)."""
    rows = [[arr, mode, f"{mode}T, pipeline {t['pipeline']}", f"{t['period_ns']:.3f}",
             f"{t['ossa_period_ns']:.3f}", f"{t['cycle_speedup']:.3f}x", f"{t['time_speedup']:.3f}x",
             t["source"]]
            for arr, per_mode in report.get("time", {}).items() for mode, t in per_mode.items()]
    if not rows:
        return ""
    lines = ["", "## Speedup in time at the OS-SA's clock", "",
             "Network cycles of each uniform mode on the array whose PE pipeline depth meets the "
             "OS-SA's clock (the depth's cycles paid once per layer), in time: OS-SA cycles x "
             "OS-SA period / (cycles x max(OS-SA period, this period)); periods from `nbsmt synth` "
             "(docs/timing.md).", ""]
    lines += _table(["array", "mode", "design", "period (ns)", "OS-SA period (ns)",
                     "speedup (cycles)", "speedup (time)", "clock from"], rows)
    return "\n".join(lines) + "\n"


def energy_markdown(report: dict) -> str:
    """The energy-per-inference section of eval.md (a note without an energy report)."""
    energy = report.get("energy") or {}
    lines = ["", "## Energy per inference", ""]
    if "per_model" not in energy:
        return "\n".join(lines + [energy.get("note", "not computed"), ""]) + "\n"
    lines += [f"One test image through the network, each uniform mode m on the "
              f"{energy['rows']}x{energy['cols']} m-thread array, default policy: every layer's "
              f"GEMM priced from its PE-cycles by action (active lanes, lossy or exact, idle), "
              f"beats and cycles with the per-action energies `nbsmt energy` measured by "
              f"gate-level simulation on the OSU 0.18 um library ({energy['source']}; "
              f"docs/energy.md). Activations are those each mode's network computes.", ""]
    rows = []
    for model, per_mode in energy["per_model"].items():
        for mode, r in sorted(per_mode.items()):
            layers = ", ".join(f"{k} {v:.1f}" for k, v in r["layers_nj_per_inference"].items())
            rows.append([model, mode, f"{r['nj_per_inference']:.1f}", f"{r['pj_per_mac']:.2f}",
                         format_ratio(r["ratio_vs_mode1"], ".3f"), layers,
                         ", ".join(r["unseen_actions"]) or "-"])
    lines += _table(["glitch model", "mode", "nJ per inference", "pJ per MAC", "vs mode 1",
                     "per layer (nJ)", "actions not in the calibration"], rows)
    return "\n".join(lines) + "\n"


def _pct(x) -> str:
    return f"{100 * x:.2f} %"


def _table(header, rows) -> list[str]:
    """A Markdown table and the blank line after it."""
    return [*markdown_table(header, rows), ""]


def markdown(report: dict) -> str:
    """The human-readable report; all numbers come from `report`."""
    cfg, acc = report["config"], report["accuracy"]
    cmd = report["command"]
    arrays = cfg["arrays"]
    lines = ["# NB-SMT workload study: digits CNN", "",
             f"Produced by `{cmd}` (JSON: `eval.json`). Split: {cfg['split']['train']} train / "
             f"{cfg['split']['calib']} calibration / {cfg['split']['test']} test images, "
             f"{cfg['epochs']} epochs, seed {cfg['seed']}. Quantization: uint8 activations, "
             f"int8 per-channel weights; every layer is an NB-SMT GEMM through the exact "
             f"emulator.", "", "## Accuracy (test split)", ""]
    rows = []
    for r in acc["runs"]:
        speed = [f"{r['speedup'][a]:.2f}x" if r.get("speedup") else "-" for a in arrays]
        loss = f"{r['loss_vs_exact_pp']:+.2f}" if "loss_vs_exact_pp" in r else "-"
        rows.append([r["name"], r["policy"] or "-", _pct(r["test_accuracy"]), loss, *speed])
    lines += _table(["run", "policy", "top-1", "loss vs exact (pp)",
                     *(f"speedup {a}" for a in arrays)], rows)
    lines += [f"Speedup: network cycles in mode 1 / cycles in the run's mode, from the array "
              f"cycle model `nbsmt.sim.cycles` (tiling, fill and drain included), for the test "
              f"batch. Exact 8-bit on the calibration split: {_pct(acc['exact_calib'])}.", "",
              f"![accuracy vs speedup]({ACCURACY_PNG})", "", "## Per-layer statistics (SPEC §8)",
              ""]
    rows = []
    for r in acc["runs"]:
        if r["policy"] is None:
            continue
        for name, s in r["layers"].items():
            rows.append([name, r["policy"], r["mode"], "/".join(map(str, s["pe_cycles_by_active"])),
                         _pct(s["collision_rate"]), s["macs_full"], s["macs_reduced_exact"],
                         s["macs_reduced_lossy"], format_ratio(s['error']['rel_frobenius'], ".4f"),
                         f"{s['error']['max_abs']:.0f}", f"{s['speedup_vs_mode1']:.2f}"])
    lines += _table(["layer", "policy", "mode", "PE-cycles by n", "collisions", "MACs full",
                     "reduced exact", "reduced lossy", "rel. Frobenius err", "max abs err",
                     "K-step speedup"], rows)
    lines += ["## Array cycles and utilization", ""]
    rows = []
    for arr, per_mode in report["cycles"].items():
        for mode, net in per_mode.items():
            per_layer = ", ".join(f"{n} {c['cycles']} ({_pct(c['utilization'])})"
                                  for n, c in net["layers"].items())
            rows.append([arr, mode, net["cycles"], f"{net['speedup']:.3f}x",
                         _pct(net["utilization"]), per_layer])
    lines += _table(["array", "mode", "network cycles", "speedup", "PE utilization",
                     "per layer: cycles (utilization)"], rows)
    ms = report["mode_search"]
    lines += ["## Per-layer modes within an accuracy budget (4T array)", "",
              f"Exhaustive over the 27 assignments of modes 1/2/4 to the 3 layers; accuracy "
              f"judged on the **calibration split** (exact 8-bit there: "
              f"{_pct(acc['exact_calib'])}), the pick then reported on the test split. "
              f"Objective: network speedup (equal within 0.1 %: higher calibration accuracy "
              f"wins). Main budget: {ms['budget_pp']:g} pp.", ""]
    rows = []
    for pname, found in ms["policies"].items():
        for arr, per_budget in found["best"].items():
            for budget, pick in per_budget.items():
                rows.append([pname, arr, budget, "/".join(map(str, pick["modes"].values())),
                             _pct(pick["calib_accuracy"]), _pct(pick["test_accuracy"]),
                             f"{pick['test_loss_pp']:+.2f}", f"{pick['test_speedup']:.3f}x"])
    lines += _table(["policy", "array", "budget (pp)", "modes conv1/conv2/fc", "calib top-1",
                     "test top-1", "test loss (pp)", "speedup"], rows)
    lines += ["## K reordering", "",
              "Permutation per layer and mode from calibration activations (sim/reorder.py); "
              "test split. Exact product unchanged is checked on every layer's test operands.",
              ""]
    rows = []
    for entry in report["reorder"].values():
        for label in ("without", "with"):
            e = entry[label]
            per_layer = ", ".join(f"{n} {_pct(s['collision_rate'])}/{_pct(s['lossy_mac_rate'])}"
                                  for n, s in e["layers"].items())
            rows.append([entry["policy"], entry["mode"], label, _pct(e["test_accuracy"]),
                         per_layer, entry["exact_product_unchanged"]])
    lines += _table(["policy", "mode", "reorder", "top-1", "per layer: collisions / lossy MACs",
                     "exact unchanged"], rows)
    lines += [f"![per-layer collision rates]({COLLISIONS_PNG})", "",
              "## Emulator vs golden model on real operands", ""]
    checks = report["emulator_check"]
    lines += [f"{sum(c['equal'] for c in checks.values())} of {len(checks)} layer/policy/mode "
              f"cases bit-exact (output and statistics), on the first "
              f"{next(iter(checks.values()))['shape'][0]} rows of each layer's test operands.", "",
              "## Timing", "",
              ", ".join(f"{k} {v} s" for k, v in report["timing_s"].items()), ""]
    return "\n".join(lines)
