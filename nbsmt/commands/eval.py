"""`nbsmt eval`: the quantized-CNN workload study (accuracy, statistics, array speedup).

Writes DIR/eval.md, DIR/eval.json and two PNG plots, each atomically, so a reader never
sees a half-written report. Every figure in the Markdown names the command that made it.
"""

from __future__ import annotations

import sys

from nbsmt.errors import InputError

ACCURACY_PNG = "accuracy_vs_speedup.png"
COLLISIONS_PNG = "collisions.png"


def register(sub) -> None:
    p = sub.add_parser("eval", help="accuracy and speedup of a quantized CNN on NB-SMT",
                       description="Train the digits CNN, quantize it to 8 bits and run it on "
                                   "NB-SMT arrays: accuracy, per-layer statistics, cycles, "
                                   "per-layer mode search and K reordering.")
    p.add_argument("--quick", action="store_true",
                   help="fewer training epochs and smaller calibration/test splits (for tests)")
    p.add_argument("--out", default="build/eval", metavar="DIR",
                   help="report folder: eval.md, eval.json, PNG plots (default: build/eval)")
    p.add_argument("--json", metavar="F", help="also write the JSON record here")
    p.add_argument("--budget", type=float, default=1.0, metavar="PP",
                   help="accuracy-loss budget of the mode search, percentage points "
                        "of top-1 vs exact 8-bit (default: 1.0)")
    p.add_argument("--clock-ns", metavar="NS",
                   help="the SySMT arrays' clock period in ns, for speedups in time (default: "
                        "the periods `nbsmt synth` measured, from --timing)")
    p.add_argument("--timing", metavar="JSON",
                   help="timing report of `nbsmt synth` (default: build/synth/timing.json)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from nbsmt.sim.evaluate import study

    from nbsmt.fileio import write_json, write_text

    from nbsmt.clocks import check_clock_ns, default_timing_report, load_periods

    if not 0 <= args.budget <= 100:
        raise InputError(f"--budget must be between 0 and 100 percentage points, not {args.budget}")
    clock_ns = None if args.clock_ns is None else check_clock_ns(args.clock_ns)
    periods = load_periods(args.timing or default_timing_report())
    out = Path(args.out)
    command = "nbsmt eval" + (" --quick" if args.quick else "") + (
        f" --budget {args.budget:g}" if args.budget != 1.0 else "")
    report = study(quick=args.quick, budget_pp=args.budget,
                   log=lambda msg: print(f"  {msg}", file=sys.stderr))
    report["command"] = command
    report["time"] = time_speedups(report, periods, clock_ns)
    try:
        write_json(out / "eval.json", report)
        if args.json:
            write_json(args.json, report)
        plot_accuracy(report, out / ACCURACY_PNG)
        plot_collisions(report, out / COLLISIONS_PNG)
        write_text(out / "eval.md", markdown(report) + time_markdown(report))
    except OSError as exc:
        raise InputError(f"cannot write the report: {exc.strerror or exc}: "
                         f"{exc.filename or out}") from None
    done = report["done"]
    speed = ", ".join(f"{k} x{v:.2f}" for k, v in done["mode_search_speedup_at_budget"].items())
    print(f"report written to {out}/eval.md: 2T (default policy) loses "
          f"{done['2T_default_loss_pp']:.2f} pp vs exact 8-bit; mode search at "
          f"{args.budget:g} pp: {speed}")
    for arr, per_mode in report["time"].items():
        for mode, t in per_mode.items():
            print(f"{arr} mode {mode} on the {mode}T array (pipeline {t['pipeline']}): speedup "
                  f"{t['cycle_speedup']:.2f}x in cycles, {t['time_speedup']:.2f}x in time at the "
                  f"OS-SA's clock ({t['period_ns']:.3f} vs {t['ossa_period_ns']:.3f} ns; {t['source']})")
    if not report["time"]:
        print("speedup in time: no timing report (run `make synth`) and no --clock-ns")
    return 0


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


def time_speedups(report: dict, periods: dict, clock_ns) -> dict:
    """Per array and uniform mode m > 1: the network on the mT array at the pipeline depth
    meeting the OS-SA's clock, speedup in cycles and in time (nbsmt.clocks)."""
    from nbsmt.clocks import gemms_time_speedup
    out = {}
    for arr, per_mode in report["cycles"].items():
        rows, cols = (int(x) for x in arr.split("x"))
        base = per_mode["1"]["cycles"]
        for mode in ("2", "4"):
            net = per_mode[mode]
            t = gemms_time_speedup(base, net["cycles"], len(net["layers"]), rows=rows, cols=cols,
                                   threads=int(mode), periods=periods, clock_ns=clock_ns)
            if t is not None:
                out.setdefault(arr, {})[mode] = t
    return out


# ----------------------------------------------------------------------------------------
# Plots (written through a temporary file and os.replace)


def plot_accuracy(report: dict, path) -> None:
    """Test top-1 vs network speedup: uniform modes per policy and the mode-search picks."""
    from nbsmt.plotting import pyplot, save_png
    plt = pyplot()

    arrays = report["config"]["arrays"]
    fig, axes = plt.subplots(1, len(arrays), figsize=(5.5 * len(arrays), 4), sharey=True)
    markers = {"default": "o", "authors": "s"}
    runs = report["accuracy"]["runs"]
    for ax, arr in zip(axes, arrays):
        for pname, marker in markers.items():
            pts = sorted((r["speedup"][arr], 100 * r["test_accuracy"]) for r in runs
                         if r["policy"] == pname)
            ax.plot(*zip(*pts), marker=marker, label=f"uniform modes 1/2/4, {pname} policy")
            pick = report["mode_search"]["policies"][pname]["best"][arr][
                str(report["mode_search"]["budget_pp"])]
            ax.scatter([pick["test_speedup"]], [100 * pick["test_accuracy"]], marker="*", s=160,
                       zorder=3, label=f"mode search ({pname}): "
                                       + "/".join(str(m) for m in pick["modes"].values()))
        ax.axhline(100 * report["accuracy"]["exact_test"], color="grey", ls=":",
                   label="exact 8-bit")
        ax.set_title(f"{arr} array")
        ax.set_xlabel("network speedup vs mode 1 (cycles)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test top-1 accuracy (%)")
    axes[-1].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"digits CNN on SySMT ({report['command']})", fontsize=9)
    save_png(fig, path, bbox_inches="tight")


def plot_collisions(report: dict, path) -> None:
    """Per-layer collision rate and lossy-MAC rate, per mode and policy, with/without reordering."""
    from nbsmt.plotting import pyplot, save_png
    plt = pyplot()
    import numpy as np

    layers = [layer["name"] for layer in report["config"]["layers"]]
    series = []
    for key, entry in report["reorder"].items():
        for label in ("without", "with"):
            series.append((f"{entry['policy']} {entry['mode']}T, reorder {label}",
                           entry[label]["layers"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(series)
    x = np.arange(len(layers))
    for ax, metric, title in ((axes[0], "collision_rate", "collision rate (PE-cycles n >= 2)"),
                              (axes[1], "lossy_mac_rate", "lossy MACs / MACs")):
        for i, (label, stats) in enumerate(series):
            ax.bar(x + i * width - 0.4 + width / 2, [stats[n][metric] for n in layers], width,
                   label=label)
        ax.set_xticks(x, layers)
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(f"per-layer NB-SMT statistics, test split ({report['command']})", fontsize=9)
    save_png(fig, path, bbox_inches="tight")


# ----------------------------------------------------------------------------------------
# Markdown


def _pct(x) -> str:
    return f"{100 * x:.2f} %"


def _table(header, rows) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows), ""]


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
                         s["macs_reduced_lossy"], f"{s['error']['rel_frobenius']:.4f}",
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
