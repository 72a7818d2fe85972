"""The model study's report: model.md, model.json, model.csv (one row per GEMM layer)."""

from __future__ import annotations

import csv
import io

from nbsmt.core.fileio import OutputSet, folder_outputs
from nbsmt.core.tables import markdown_table

REPORT_FILES = ("model.md", "model.json", "model.csv")
CSV_COLUMNS = ("layer", "op", "groups", "M", "K", "N", "gemms", "macs", "coding",
               "activation_sparsity", "weight_sparsity", "collision_rate_2", "lossy_rate_2",
               "collision_rate_4", "lossy_rate_4", "cycles_1", "cycles_2", "cycles_4")


def report_outputs(out, json_path=None, inputs: dict | None = None) -> OutputSet:
    return folder_outputs(out, REPORT_FILES, json_path, inputs=inputs)


def _rows(report: dict) -> list[list]:
    rows = []
    for r in report["layers"]:
        m_rows, k, n = r["gemm"][0]
        rows.append([r["name"], r["op"], r["groups"], m_rows, k, n, r["gemms"], r["macs"],
                     r["coding"], r["activation_sparsity"], r["weight_sparsity"],
                     r["mode2"]["collision_rate"], r["mode2"]["lossy_mac_rate"],
                     r["mode4"]["collision_rate"], r["mode4"]["lossy_mac_rate"],
                     r["cycles"]["1"], r["cycles"]["2"], r["cycles"]["4"]])
    return rows


def csv_text(report: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_rows(report))
    return buf.getvalue()


def markdown(report: dict) -> str:
    net = report["network"]
    lines = [f"# {report['model']} on NB-SMT", "",
             f"{report['images']} test images of {report['data']} "
             f"({report['calibration_images']} calibration images), input "
             f"{report['input']!r} {report['input_shape']}; cycles of one inference (batch 1) "
             f"on a {report['array']} array; {net['macs']:,} MACs per inference.", "",
             "## Network", ""]
    labelled = "accuracy" in next(iter(net["top1"].values()))
    head = ["network", *(["top-1 accuracy"] if labelled else []),
            "agreement with exact 8-bit", "agreement with float", "cycles", "speedup"]
    body = []
    for key, rec in net["top1"].items():
        cycles = net["cycles"].get(key)
        body.append([rec["name"], *([f"{100 * rec['accuracy']:.2f} %"] if labelled else []),
                     f"{100 * rec['agreement_with_exact']:.2f} %",
                     f"{100 * rec['agreement_with_float']:.2f} %",
                     f"{cycles:,}" if cycles else "-",
                     f"{net['speedup'][key]:.3f}x" if cycles else "-"])
    lines += markdown_table(head, body)
    lines += ["", "## Layers", "",
              "GEMM per group of one inference (M output pixels or images, K reduction, N "
              "output channels); rates over every test image.", ""]
    lines += markdown_table(
        ["layer", "op", "M x K x N", "MACs", "input coding", "act. zeros", "weight zeros",
         "2T collisions", "2T lossy", "4T collisions", "4T lossy", "cycles 1/2/4"],
        [[r[0], r[1] + (f" /{r[2]}" if r[2] > 1 else ""), f"{r[3]}x{r[4]}x{r[5]}"
          + (f" x{r[6]}" if r[6] > 1 else ""), f"{r[7]:,}", r[8], f"{100 * r[9]:.1f} %",
          f"{100 * r[10]:.1f} %", f"{100 * r[11]:.1f} %", f"{100 * r[12]:.2f} %",
          f"{100 * r[13]:.1f} %", f"{100 * r[14]:.2f} %", f"{r[15]:,}/{r[16]:,}/{r[17]:,}"]
         for r in _rows(report)])
    return "\n".join(lines + _time_lines(report) + _energy_lines(report) + _search_lines(report)
                     + _reorder_lines(report)) + "\n"


def _search_lines(report: dict) -> list[str]:
    s = report.get("mode_search")
    if not s:
        return []
    lines = ["", f"## Per-layer modes within {s['budget_pp']:g} pp", "",
             f"Greedy on the calibration images ({s['loss']} vs exact 8-bit), layers in "
             f"decreasing mode-1 cycles, each given the fastest mode that keeps the loss "
             f"within the budget; {s['threads']}T array. Calibration loss "
             f"{s['calib_loss_pp']:.2f} pp, test loss {s['test_loss_pp']:.2f} pp, "
             f"{s['cycles']:,} cycles per inference (x{s['speedup']:.3f} vs mode 1).", ""]
    return lines + markdown_table(["layer", "mode"], [[n, m] for n, m in s["modes"].items()])


def _reorder_lines(report: dict) -> list[str]:
    r = report.get("reorder")
    if not r:
        return []
    lines = ["", "## K reordering", "",
             "Collisions and lossy MACs of each layer's operands (from the exact 8-bit "
             "network on the test images) without and with the K permutation derived from "
             "the calibration operands (nbsmt.sim.reorder; the exact product is unchanged).", ""]
    rows = [[name, mode, f"{100 * v['without']['collision_rate']:.1f} %",
             f"{100 * v['with']['collision_rate']:.1f} %",
             f"{100 * v['without']['lossy_mac_rate']:.2f} %",
             f"{100 * v['with']['lossy_mac_rate']:.2f} %"]
            for mode, layers in r.items() for name, v in layers.items()]
    return lines + markdown_table(["layer", "mode", "collisions", "with reorder", "lossy MACs",
                                   "with reorder"], rows)


def _time_lines(report: dict) -> list[str]:
    if not report.get("time"):
        return ["", "No clock periods (run `nbsmt synth`, or give --timing or --clock-ns): "
                "no time per inference."]
    lines = ["", "## Time per inference", "",
             "Mode m on the mT array at the pipeline depth that meets the OS-SA's clock (its "
             "cycles paid once per GEMM), mode 1 on the OS-SA; periods from `nbsmt synth` "
             "(docs/timing.md). Both run at the slower of the two clocks (\"at the OS-SA's "
             "clock\"), so the times' ratio is the speedup in time.", ""]
    return lines + markdown_table(
        ["mode", "design", "cycles", "own period (ns)", "runs at (ns)", "us per inference",
         "OS-SA us", "speedup (time)", "clock from"],
        [[m, f"{m}T, pipeline {t['pipeline']}", f"{t['cycles']:,}", f"{t['period_ns']:.3f}",
          f"{t['run_period_ns']:.3f}", f"{t['us_per_inference']:.1f}", f"{t['ossa_us_per_inference']:.1f}",
          f"{t['time_speedup']:.3f}x", t["source"]] for m, t in report["time"].items()])


def _energy_lines(report: dict) -> list[str]:
    energy = report["network"].get("energy")
    if not energy:
        return ["", "No energy report of this array (run `nbsmt energy`, or give --energy): "
                "no energy per inference."]
    lines = ["", "## Energy per inference", "",
             f"Each mode's GEMMs priced with the per-action energies of {energy['source']} "
             "(mode m on the mT array, mode 1 on the OS-SA).", ""]
    rows = [[model, m, f"{r['nj_per_inference']:.1f}", f"{r['pj_per_mac']:.3f}",
             "-" if r["ratio_vs_mode1"] is None else f"{r['ratio_vs_mode1']:.3f}"]
            for model, per_mode in energy["per_model"].items() for m, r in per_mode.items()]
    return lines + markdown_table(["glitch model", "mode", "nJ per inference", "pJ per MAC",
                                   "vs mode 1"], rows)


def write_report(outputs: OutputSet, report: dict) -> None:
    with outputs.staging() as stage:
        stage.json("model.json", report)
        stage.json("--json", report)
        stage.text("model.csv", csv_text(report))
        stage.text("model.md", markdown(report))
