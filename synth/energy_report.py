"""The energy report: PE gate-level runs per thread count and glitch model, GEMM estimates
on an R x C grid of PEs, the activation-sparsity sweep, written as MD/JSON/CSV/PNG.

Each (threads, glitch model) gets one gate-level PE run over a sample of the GEMM's
output elements (synth/energy.py, bit-exact checked). Its per-action energies then price
the whole GEMM on R x C PEs: every PE-cycle of the array's cycles (sim/cycles.py) is an
action, the PE-cycles without a K-step of a real output are idle. Skew, drain and
counters are not in these figures (docs/energy.md says what is left out).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from nbsmt.fileio import write_json, write_text
from nbsmt.operands import demo_operands
from nbsmt.policy import Policy
from nbsmt.sim.cycles import gemm_cycles
from nbsmt.sim.gemm import k_steps
from nbsmt.synth.energy import IDLE, ActionEnergies, action_counts, characterize, run_pe
from nbsmt.synth.gatesim import GLITCH_MODELS

SWEEP = tuple(round(0.1 * i, 1) for i in range(10))     # activation zero fractions


def sample_elements(m_rows: int, n_cols: int, count: int) -> list[tuple[int, int]]:
    """`count` output elements spread over the GEMM (a fixed stride through rows and columns)."""
    total = m_rows * n_cols
    picks = np.linspace(0, total - 1, min(count, total)).round().astype(int)
    return [(int(p) // n_cols, int(p * 7) % n_cols) for p in picks]


def gemm_estimate(table: ActionEnergies, a, w, *, rows: int, cols: int, policy: Policy) -> dict:
    """Energy of a @ w on R x C PEs in mode T from per-action energies (module doc)."""
    m_rows, k = a.shape
    n_cols = w.shape[1]
    threads = table.threads
    counts = action_counts(a, w, threads=threads, policy=policy)
    cycles = gemm_cycles(m_rows, k, n_cols, rows=rows, cols=cols, mode=threads)
    counts[IDLE] = rows * cols * cycles - sum(counts.values())
    energy = table.estimate(counts)
    macs = m_rows * k * n_cols
    effectual = int(np.count_nonzero(a[:, :, None] * w[None, :, :]))
    return {"cycles": cycles, "energy_pj": energy, "pj_per_mac": energy / macs,
            "pj_per_effectual_mac": energy / effectual if effectual else None,
            "pe_cycles_by_action": counts, "macs": macs, "effectual_macs": effectual}


def build(a, w, *, threads, models=GLITCH_MODELS, rows: int, cols: int, policy: Policy,
          elements: int, sweep: bool, workdir: Path, demo: bool) -> dict:
    """All records of the report (module doc)."""
    m_rows, k = a.shape
    sample = sample_elements(m_rows, w.shape[1], elements)
    pe, gemm, sweeps = [], [], []
    tables = {}
    for model in models:
        for t in threads:
            run = run_pe(a, w, sample, threads=t, model=model, policy=policy, idle_after=2,
                         workdir=workdir)
            table = characterize(run)
            tables[(t, model)] = table
            pe.append({
                "threads": t, "model": model, "cycles": run.cycles, "elements": len(sample),
                "macs": run.macs, "effectual_macs": run.effectual_macs,
                "pj_per_mac": run.pj_per_mac, "pj_per_effectual_mac": run.pj_per_effectual_mac,
                "pj_per_mac_by_category": {c: e / run.macs for c, e in run.energy.by_category().items()},
                "pj_per_mac_by_block": {b: e / run.macs for b, e in run.energy.by_block().items()},
                "action_pj": table.dynamic, "action_samples": table.samples,
                "clock_pj_per_cycle": table.clock_pj_per_cycle, "leakage_w": table.leakage_w,
                "bit_exact": True,
            })
            rec = gemm_estimate(table, a, w, rows=rows, cols=cols, policy=policy)
            gemm.append({"threads": t, "model": model, "rows": rows, "cols": cols, **rec})
    for model in models:
        base = next((g for g in gemm if g["model"] == model and g["threads"] == 1), None)
        for g in gemm:
            if g["model"] == model:
                g["ratio_vs_ossa"] = g["energy_pj"] / base["energy_pj"] if base else None
        for p in pe:
            pbase = next((q for q in pe if q["model"] == model and q["threads"] == 1), None)
            if p["model"] == model:
                p["ratio_vs_ossa"] = p["pj_per_mac"] / pbase["pj_per_mac"] if pbase else None
    if sweep:
        for zeros in SWEEP:
            sa, sw = demo_operands(shape=(m_rows, k, w.shape[1]), zero_activations=zeros) if demo else (
                _sparsify(a, zeros), w)
            for (t, model), table in tables.items():
                rec = gemm_estimate(table, sa, sw, rows=rows, cols=cols, policy=policy)
                sweeps.append({"threads": t, "model": model, "zero_activations": zeros,
                               "pj_per_mac": rec["pj_per_mac"], "energy_pj": rec["energy_pj"]})
    return {"shape": {"M": m_rows, "K": k, "N": w.shape[1]}, "rows": rows, "cols": cols,
            "policy": policy.as_dict(), "pe": pe, "gemm": gemm, "sweep": sweeps}


def _sparsify(a, zeros: float, seed: int = 0):
    """Activations drawn from `a`'s non-zero values, a fraction `zeros` of them zero."""
    rng = np.random.default_rng(seed)
    pool = a[a != 0] if np.any(a != 0) else np.ones(1, dtype=np.int64)
    return np.where(rng.random(a.shape) < zeros, 0, rng.choice(pool, a.shape))


def _fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def markdown(report: dict, command: str) -> str:
    s = report["shape"]
    lines = [f"# Energy: {s['M']}x{s['K']}x{s['N']} GEMM, OSU 0.18 um, 1.8 V", "",
             f"Command: `{command}`", "",
             "## PE, gate-level (sampled output elements, bit-exact with the golden model)", "",
             "| glitch model | T | pJ/MAC | pJ/effectual MAC | vs OS-SA | clock | sequential | combinational | inputs | leakage |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for p in report["pe"]:
        c = p["pj_per_mac_by_category"]
        lines.append(f"| {p['model']} | {p['threads']} | {_fmt(p['pj_per_mac'])} | "
                     f"{_fmt(p['pj_per_effectual_mac'])} | {_fmt(p['ratio_vs_ossa'], 3)} | "
                     + " | ".join(_fmt(c[k]) for k in ("clock", "sequential", "combinational", "inputs"))
                     + f" | {_fmt(c['leakage'], 4)} |")
    blocks = sorted({b for p in report["pe"] for b in p["pj_per_mac_by_block"]})
    lines += ["", "### PE energy per MAC by block (pJ)", "",
              "| glitch model | T | " + " | ".join(blocks) + " |", "|---|---|" + "---|" * len(blocks)]
    for p in report["pe"]:
        lines.append(f"| {p['model']} | {p['threads']} | "
                     + " | ".join(_fmt(p["pj_per_mac_by_block"].get(b, 0.0)) for b in blocks) + " |")
    lines += ["", f"## GEMM on {report['rows']}x{report['cols']} PEs (per-action estimate; PEs only)", "",
              "| glitch model | T | cycles | energy (uJ) | pJ/MAC | pJ/effectual MAC | vs OS-SA |",
              "|---|---|---|---|---|---|---|"]
    for g in report["gemm"]:
        lines.append(f"| {g['model']} | {g['threads']} | {g['cycles']} | {g['energy_pj'] / 1e6:.3f} | "
                     f"{_fmt(g['pj_per_mac'])} | {_fmt(g['pj_per_effectual_mac'])} | "
                     f"{_fmt(g['ratio_vs_ossa'], 3)} |")
    if report["sweep"]:
        zs = sorted({r["zero_activations"] for r in report["sweep"]})
        lines += ["", "## Activation sparsity sweep (pJ/MAC, per-action estimate)", "",
                  "| glitch model | T | " + " | ".join(f"{z:.0%}" for z in zs) + " |",
                  "|---|---|" + "---|" * len(zs)]
        keys = sorted({(r["model"], r["threads"]) for r in report["sweep"]})
        for model, t in keys:
            row = {r["zero_activations"]: r["pj_per_mac"] for r in report["sweep"]
                   if r["model"] == model and r["threads"] == t}
            lines.append(f"| {model} | {t} | " + " | ".join(_fmt(row[z]) for z in zs) + " |")
    return "\n".join(lines) + "\n"


def csv_text(report: dict) -> str:
    out = io.StringIO()
    wr = csv.writer(out)
    wr.writerow(["kind", "model", "threads", "zero_activations", "pj_per_mac", "pj_per_effectual_mac",
                 "energy_pj", "ratio_vs_ossa"])
    for p in report["pe"]:
        wr.writerow(["pe", p["model"], p["threads"], "", p["pj_per_mac"], p["pj_per_effectual_mac"],
                     "", p["ratio_vs_ossa"]])
    for g in report["gemm"]:
        wr.writerow(["gemm", g["model"], g["threads"], "", g["pj_per_mac"], g["pj_per_effectual_mac"],
                     g["energy_pj"], g["ratio_vs_ossa"]])
    for r in report["sweep"]:
        wr.writerow(["sweep", r["model"], r["threads"], r["zero_activations"], r["pj_per_mac"], "",
                     r["energy_pj"], ""])
    return out.getvalue()


def sweep_plot(report: dict, path: Path) -> None:
    from nbsmt.plotting import pyplot, save_png
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    keys = sorted({(r["model"], r["threads"]) for r in report["sweep"]})
    for model, t in keys:
        pts = sorted((r["zero_activations"], r["pj_per_mac"]) for r in report["sweep"]
                     if r["model"] == model and r["threads"] == t)
        ax.plot([100 * z for z, _ in pts], [e for _, e in pts], "-o" if model == "zero-delay" else "--s",
                label=f"{t}T {model}", color=f"C{[1, 2, 4].index(t)}")
    ax.set_xlabel("zero activations (%)")
    ax.set_ylabel("pJ per MAC (PEs)")
    ax.set_title(f"{report['rows']}x{report['cols']} PEs, OSU 0.18 um")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_png(fig, path, bbox_inches="tight")


def write(report: dict, out: Path, command: str, json_path: Path | None = None) -> None:
    report = {**report, "command": command}
    write_text(out / "energy.md", markdown(report, command))
    write_json(out / "energy.json", report)
    write_text(out / "energy.csv", csv_text(report))
    if report["sweep"]:
        sweep_plot(report, out / "energy_sweep.png")
    if json_path is not None:
        write_json(json_path, report)
