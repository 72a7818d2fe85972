"""The energy report: PE and R x C array gate-level runs per thread count and glitch model,
the GEMM's energy from per-action energies, the activation-sparsity sweep; MD/JSON/CSV/PNG.

For each (glitch model, threads):

- **PE**: one gate-level run over a sample of the GEMM's output elements
  (energy/pe.py, bit-exact checked): pJ per MAC, the category and block splits;
- **array**: a calibration run of the R x C array on a tile of the GEMM that is not the
  first one (a K-prefix of it) gives per-action energies (energy/array.py); a
  direct run on the first tile (full K) checks the estimate against gate-level
  simulation (`validation_error`); the whole GEMM is then priced from its action counts.

The sweep prices the demo GEMM (or A's non-zero values) at 0-90 % zero activations with
the array's per-action energies.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from nbsmt.core.pool import WorkerPool
from nbsmt.core.tables import markdown_table
from nbsmt.host.stimulus import demo_operands
from nbsmt.hw.design import Design
from nbsmt.energy.array import calibrated_table, run_array
from nbsmt.energy.pe import DEFAULT_PDK, PERIOD_NS, characterize, power_library, run_pe
from nbsmt.energy.gatesim import GLITCH_MODELS

SWEEP = tuple(round(0.1 * i, 1) for i in range(10))     # activation zero fractions


def default_energy_report() -> Path:
    """Where `make energy` writes its JSON report."""
    from nbsmt.core.cache import build_root
    return build_root() / "energy" / "energy.json"


#: The array-level energies of a `gemm` record's `action_pj` (pJ per beat or cycle; W).
ARRAY_ENERGIES = ("per_input_beat", "per_output_beat", "per_cycle_counters_control",
                  "clock_per_cycle", "leakage_w")


def _pe_action(name: str, threads: int) -> bool:
    """Whether `name` is an action of a T-thread PE: idle, nK or nK-lossy with K <= T."""
    import re

    from nbsmt.energy.pe import IDLE
    m = re.fullmatch(r"n([0-9])(-lossy)?", name)
    return name == IDLE or (m is not None and int(m.group(1)) <= threads)


def check_energy_report(doc, path) -> None:
    """The energy report of `nbsmt energy` as `load_action_tables` reads it: an object with
    the array's rows and cols (1 .. MAX_DIM), its policy (every knob, a valid Policy) and
    `gemm`, a non-empty list of per-action tables of that array, one per (threads, glitch
    model): threads 1, 2 or 4, a model name, an optional pipeline (0, 1, 2) and `action_pj`
    whose `pe` energies (actions of a T-thread PE, n0 among them: an n0 K-step, operands
    flowing and no lane active, is the energy every unmeasured action falls back to at
    worst) and array energies are finite and >= 0, `pe_samples` integers >= 0; every number
    finite. InputError naming the file and the field."""
    from nbsmt.core.policy import PIPELINE_DEPTHS, THREAD_CHOICES, Policy
    from nbsmt.hw.design import MAX_DIM
    from nbsmt.core.reports import (check_report_finite, report_at, report_choice, report_error,
                                  report_field, report_int, report_list, report_number,
                                  report_object, shown)

    report_object(doc, path, "", "a JSON object")
    rows = report_int(report_field(doc, "rows", path, ""), path, "rows", 1, MAX_DIM)
    cols = report_int(report_field(doc, "cols", path, ""), path, "cols", 1, MAX_DIM)
    policy = report_object(report_field(doc, "policy", path, ""), path, "policy")
    try:
        Policy(**policy)
    except (TypeError, ValueError) as exc:
        raise report_error(path, "policy", f"is not a policy of nbsmt: {exc}") from None
    for knob in Policy().as_dict():
        report_field(policy, knob, path, "policy")
    gemm = report_list(report_field(doc, "gemm", path, ""), path, "gemm")
    if not gemm:
        raise report_error(path, "", "has no array records (made with --pe-only?)")
    seen: dict[tuple, str] = {}
    for i, record in enumerate(gemm):
        at = report_at("gemm", i)
        report_object(record, path, at)
        threads = report_choice(report_field(record, "threads", path, at), path,
                                report_at(at, "threads"), THREAD_CHOICES)
        model = report_field(record, "model", path, at)
        if not isinstance(model, str) or not model:
            raise report_error(path, report_at(at, "model"), f"must be a glitch model name, not {shown(model)}")
        size = tuple(report_int(report_field(record, k, path, at), path, report_at(at, k), 1, MAX_DIM)
                     for k in ("rows", "cols"))
        if size != (rows, cols):
            raise report_error(path, at, f"is a {size[0]}x{size[1]} array, not the report's {rows}x{cols}")
        if "pipeline" in record:
            report_choice(record["pipeline"], path, report_at(at, "pipeline"), PIPELINE_DEPTHS)
        if (threads, model) in seen:
            raise report_error(path, at, f"repeats {seen[(threads, model)]}'s array ({threads}T, {model})")
        seen[(threads, model)] = at
        at_t = report_at(at, "action_pj")
        table = report_object(report_field(record, "action_pj", path, at), path, at_t)
        at_pe = report_at(at_t, "pe")
        pe = report_object(report_field(table, "pe", path, at_t), path, at_pe)
        if not pe:
            raise report_error(path, at_pe, "has no PE action")
        for name, energy in pe.items():
            if not _pe_action(name, threads):
                raise report_error(path, at_pe, f"has an action {name!r} that a {threads}T PE does not have")
            report_number(energy, path, report_at(at_pe, name))
        at_s = report_at(at_t, "pe_samples")
        for name, count in report_object(report_field(table, "pe_samples", path, at_t), path, at_s).items():
            report_int(count, path, report_at(at_s, name), 0)
        for key in ARRAY_ENERGIES:
            report_number(report_field(table, key, path, at_t), path, report_at(at_t, key))
        if "n0" not in pe and "n0-lossy" not in pe:
            raise report_error(
                path, f"{at} ({rows}x{cols} array, {threads}T, {model})",
                f"covers the PE actions {', '.join(sorted(pe))}, not n0 (a K-step without an "
                "active lane), which pricing a GEMM needs: make the report on operands with "
                "zeros (e.g. `nbsmt energy` on its demo GEMM)")
    check_report_finite(doc, path)


def load_action_tables(path, flag: str | None = None) -> tuple[dict, dict] | None:
    """({(threads, glitch model): ArrayActionEnergies}, the report's array and policy) of
    an `nbsmt energy` report, checked (`check_energy_report`); None when the file does not
    exist, unless the user named it with `flag` (then InputError)."""
    from nbsmt.energy.array import ArrayActionEnergies
    from nbsmt.core.reports import existing_report, read_report_json

    path = existing_report(path, flag)
    if path is None:
        return None
    report = read_report_json(path)
    check_energy_report(report, path)
    tables = {(r["threads"], r["model"]): ArrayActionEnergies.from_record(r) for r in report["gemm"]}
    about = {"rows": report["rows"], "cols": report["cols"], "policy": report["policy"],
             "source": str(path)}
    return tables, about


def sample_elements(m_rows: int, n_cols: int, count: int) -> list[tuple[int, int]]:
    """`count` output elements spread over the GEMM (a fixed stride through rows and columns)."""
    total = m_rows * n_cols
    picks = np.linspace(0, total - 1, min(count, total)).round().astype(int)
    return [(int(p) // n_cols, int(p * 7) % n_cols) for p in picks]


def _pe_record(a, w, sample, *, design: Design, model, workdir, pdk, period_ns) -> dict:
    run = run_pe(a, w, sample, design=design, model=model, idle_after=2, workdir=workdir,
                 pdk=pdk, period_ns=period_ns)
    table = characterize(run)
    return {
        "threads": design.threads, "model": model, "cycles": run.cycles, "elements": len(sample),
        "macs": run.macs, "effectual_macs": run.effectual_macs,
        "pj_per_mac": run.pj_per_mac, "pj_per_effectual_mac": run.pj_per_effectual_mac,
        "pj_per_mac_by_category": {c: e / run.macs for c, e in run.energy.by_category().items()},
        "pj_per_mac_by_block": {b: e / run.macs for b, e in run.energy.by_block().items()},
        "action_pj": table.dynamic, "action_samples": table.samples,
        "clock_pj_per_cycle": table.clock_pj_per_cycle, "leakage_w": table.leakage_w,
        "period_ns": period_ns, "pj_per_mac_leakage": run.energy.by_category()["leakage"] / run.macs,
        "bit_exact": True,
    }


def _array_record(a, w, *, design: Design, model, workdir, pdk, period_ns) -> tuple[dict, object]:
    rows, cols, threads, policy = design.rows, design.cols, design.threads, design.policy
    on = dict(design=design, model=model, workdir=workdir, pdk=pdk, period_ns=period_ns)
    table = calibrated_table(a, w, **on)
    ta, tw = a[:rows], w[:, :cols]
    direct = run_array(ta, tw, **on)
    tile_estimate = table.estimate(ta, tw, policy)
    gemm = table.estimate(a, w, policy)
    macs = a.shape[0] * a.shape[1] * w.shape[1]
    effectual = int(np.count_nonzero(a[:, :, None] * w[None, :, :]))
    return {
        "threads": threads, "model": model, "rows": rows, "cols": cols, "pipeline": design.pipeline,
        "tile": {"M": ta.shape[0], "K": ta.shape[1], "N": tw.shape[1], "cycles": direct.cycles,
                 "direct_pj": direct.energy.total, "direct_pj_per_mac": direct.energy.total / direct.macs,
                 "estimate_pj": tile_estimate["energy_pj"],
                 "validation_error": tile_estimate["energy_pj"] / direct.energy.total - 1,
                 "pj_per_mac_by_category": {c: e / direct.macs for c, e in direct.energy.by_category().items()},
                 "pj_per_mac_by_block": {b: e / direct.macs for b, e in direct.energy.by_block().items()},
                 "bit_exact": True},
        "action_pj": {"pe": table.pe, "pe_samples": table.pe_samples,
                      "per_input_beat": table.per_input_beat, "per_output_beat": table.per_output_beat,
                      "per_cycle_counters_control": table.per_cycle,
                      "clock_per_cycle": table.clock_pj_per_cycle, "leakage_w": table.leakage_w,
                      "period_ns": table.period_ns},
        **gemm, "macs": macs, "effectual_macs": effectual,
        "pj_per_effectual_mac": gemm["energy_pj"] / effectual if effectual else None,
    }, table


def _ratios(records: list[dict], key: str, into: str = "ratio_vs_ossa") -> None:
    """records[i][into] = records[i][key] / the OS-SA's (1T, same glitch model)."""
    for r in records:
        base = next((q for q in records if q["model"] == r["model"] and q["threads"] == 1), None)
        r[into] = r[key] / base[key] if base else None


def _delay_products(records: list[dict]) -> None:
    """The GEMM's time (its cycles at the clock its leakage is priced at) and energy x delay
    per MAC, and that product against the OS-SA's: the designs of a report share one
    pipeline depth, so these are the same-depth views."""
    for r in records:
        r["time_ns"] = r["cycles"] * r["action_pj"]["period_ns"]
        r["edp_pj_ns_per_mac"] = r["pj_per_mac"] * r["time_ns"]
    _ratios(records, "edp_pj_ns_per_mac", into="edp_ratio_vs_ossa")


def _job(a, w, sample, design: Design, model, *, workdir, array, pdk, period_ns):
    """The PE record, and the array record and per-action table, of one (design, model)."""
    workdir = workdir / model
    on = dict(model=model, workdir=workdir, pdk=pdk, period_ns=period_ns)
    pe = _pe_record(a, w, sample, design=design.as_pe(), **on)
    if not array:
        return pe, None, None
    rec, table = _array_record(a, w, design=design, **on)
    return pe, rec, table


def build(a, w, *, designs: list[Design], models=GLITCH_MODELS, elements: int, sweep: bool,
          workdir: Path, demo: bool, array: bool = True, jobs: int = 1, pdk: str = DEFAULT_PDK,
          periods_ns: dict[int, float] | None = None) -> dict:
    """All records of the report (module doc) for `designs`: arrays of one size, policy
    and options, one per thread count (their PEs for the PE records), mapped onto the
    library `pdk`; `jobs` (design, model) runs in parallel. Leakage is priced at each
    thread count's clock in `periods_ns` (ns; default: PERIOD_NS for all)."""
    first = designs[0]
    if any(d.replace(threads=first.threads) != first for d in designs) or first.kind != "array":
        raise ValueError("an energy report compares arrays that differ in threads only")
    rows, cols, policy = first.rows, first.cols, first.policy
    m_rows, k = a.shape
    sample = sample_elements(m_rows, w.shape[1], elements)
    pe, gemm, sweeps, tables = [], [], [], {}
    keys = [(d, model) for model in models for d in designs]
    common = dict(workdir=workdir, array=array, pdk=pdk)
    period = lambda d: (periods_ns or {}).get(d.threads, PERIOD_NS)   # noqa: E731
    if jobs > 1:
        with WorkerPool(jobs) as pool:
            futures = [pool.submit(_job, a, w, sample, t, m, period_ns=period(t), **common)
                       for t, m in keys]
            results = [f.result() for f in futures]
    else:
        results = [_job(a, w, sample, t, m, period_ns=period(t), **common) for t, m in keys]
    for (d, model), (p, rec, table) in zip(keys, results):
        pe.append(p)
        if rec is not None:
            gemm.append(rec)
            tables[(d.threads, model)] = table
    _ratios(pe, "pj_per_mac")
    _ratios(gemm, "energy_pj")
    _delay_products(gemm)
    if sweep:
        for zeros in SWEEP:
            sa, sw = demo_operands(shape=(m_rows, k, w.shape[1]), zero_activations=zeros) if demo else (
                _sparsify(a, zeros), w)
            counts = {}   # per thread count: the same for every glitch model
            for (t, model), table in tables.items():
                if t not in counts:
                    counts[t] = table.counts(sa, sw, policy)
                rec = table.estimate(sa, sw, policy, counts[t])
                sweeps.append({"threads": t, "model": model, "zero_activations": zeros,
                               "pj_per_mac": rec["pj_per_mac"], "energy_pj": rec["energy_pj"],
                               "unseen_actions": rec["unseen_actions"]})
    return {"shape": {"M": m_rows, "K": k, "N": w.shape[1]}, "rows": rows, "cols": cols,
            "policy": policy.as_dict(), "pipeline": first.pipeline, "pdk": pdk,
            "library": power_library(pdk).library.label, "vdd": power_library(pdk).vdd,
            "operand_isolation": first.isolate_operands, "clock_gating": first.gate_clocks, "pe": pe, "gemm": gemm,
            "sweep": sweeps}


def _sparsify(a, zeros: float, seed: int = 0):
    """Activations drawn from `a`'s non-zero values, a fraction `zeros` of them zero."""
    rng = np.random.default_rng(seed)
    pool = a[a != 0] if np.any(a != 0) else np.ones(1, dtype=np.int64)
    return np.where(rng.random(a.shape) < zeros, 0, rng.choice(pool, a.shape))


def _fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def design_options_text(report: dict) -> str:
    """The generator options a report's designs were built with, in words."""
    parts = []
    if report.get("pipeline"):
        parts.append(f"{report['pipeline']} pipeline register(s) per PE")
    if report.get("operand_isolation"):
        parts.append("operand isolation (an inactive lane's operands reach the multiplier units as zeros)")
    if report.get("clock_gating"):
        parts.append("clock gating (idle registers hold; every group of flops sharing an enable "
                     "is clocked through an integrated clock gate)")
    return "with " + "; ".join(parts) if parts else "as generated by default (no pipeline, isolation or clock gating)"


def markdown(report: dict, command: str) -> str:
    s = report["shape"]
    library = report.get("library", "osu018_stdcells.lib")
    vdd = report.get("vdd", 1.8)
    clocks = sorted({p.get("period_ns", PERIOD_NS) for p in report["pe"]})
    lines = [f"# Energy: {s['M']}x{s['K']}x{s['N']} GEMM on {library}, {vdd:g} V", "",
             f"Command: `{command}`", "",
             "Leakage priced at a clock of " + ", ".join(f"{c:g}" for c in clocks) + " ns.", "",
             "Designs: " + design_options_text(report), "",
             "## PE, gate-level (sampled output elements, bit-exact with the golden model)", ""]
    kinds = ("clock", "sequential", "combinational", "inputs")
    lines += markdown_table(
        ["glitch model", "T", "pJ/MAC", "pJ/effectual MAC", "vs OS-SA", *kinds, "leakage"],
        [[p["model"], p["threads"], _fmt(p["pj_per_mac"]), _fmt(p["pj_per_effectual_mac"]),
          _fmt(p["ratio_vs_ossa"], 3), *(_fmt(p["pj_per_mac_by_category"][k]) for k in kinds),
          _fmt(p["pj_per_mac_by_category"]["leakage"], 4)] for p in report["pe"]])
    blocks = sorted({b for p in report["pe"] for b in p["pj_per_mac_by_block"]})
    lines += ["", "### PE energy per MAC by block (pJ)", ""]
    lines += markdown_table(
        ["glitch model", "T", *blocks],
        [[p["model"], p["threads"], *(_fmt(p["pj_per_mac_by_block"].get(b, 0.0)) for b in blocks)]
         for p in report["pe"]])
    if report["gemm"]:
        r, c = report["rows"], report["cols"]
        lines += ["", f"## {r}x{c} array: direct gate-level run on the first tile vs the per-action estimate", ""]
        lines += markdown_table(
            ["glitch model", "T", "tile", "cycles", "direct pJ/MAC", "estimate error", *kinds],
            [[g["model"], g["threads"], "{M}x{K}x{N}".format(**g["tile"]), g["tile"]["cycles"],
              _fmt(g["tile"]["direct_pj_per_mac"]), f"{g['tile']['validation_error']:+.1%}",
              *(_fmt(g["tile"]["pj_per_mac_by_category"][k]) for k in kinds)]
             for g in report["gemm"]])
        blocks = sorted({b for g in report["gemm"] for b in g["tile"]["pj_per_mac_by_block"]})
        lines += ["", f"### {r}x{c} array tile, pJ per MAC by block (direct run)", ""]
        lines += markdown_table(
            ["glitch model", "T", *blocks],
            [[g["model"], g["threads"],
              *(_fmt(g["tile"]["pj_per_mac_by_block"].get(b, 0.0)) for b in blocks)]
             for g in report["gemm"]])
        lines += ["", f"## The whole GEMM on the {r}x{c} array (per-action estimate)", "",
                  "Every design at the same pipeline depth; time = cycles x the clock leakage is "
                  "priced at; EDP = energy x delay per MAC (pJ x us).", ""]
        lines += markdown_table(
            ["glitch model", "T", "cycles", "time (us)", "energy (uJ)", "pJ/MAC",
             "pJ/effectual MAC", "energy vs OS-SA", "EDP/MAC", "EDP vs OS-SA"],
            [[g["model"], g["threads"], g["cycles"], _fmt(g.get("time_ns", 0) / 1e3, 3),
              f"{g['energy_pj'] / 1e6:.3f}", _fmt(g["pj_per_mac"]), _fmt(g["pj_per_effectual_mac"]),
              _fmt(g["ratio_vs_ossa"], 3), _fmt(g.get("edp_pj_ns_per_mac", 0) / 1e3, 3),
              _fmt(g.get("edp_ratio_vs_ossa"), 3)]
             for g in report["gemm"]])
    if report["sweep"]:
        zs = sorted({r["zero_activations"] for r in report["sweep"]})
        lines += ["", f"## Activation sparsity sweep: pJ/MAC of the GEMM on the array (per-action estimate)", ""]
        keys = sorted({(r["model"], r["threads"]) for r in report["sweep"]})
        cells = []
        for model, t in keys:
            row = {r["zero_activations"]: r["pj_per_mac"] for r in report["sweep"]
                   if r["model"] == model and r["threads"] == t}
            cells.append([model, t, *(_fmt(row[z]) for z in zs)])
        lines += markdown_table(["glitch model", "T", *(f"{z:.0%}" for z in zs)], cells)
        unseen = sorted({a for r in report["sweep"] for a in r["unseen_actions"]}
                        | {a for g in report["gemm"] for a in g["unseen_actions"]})
        if unseen:
            lines += ["", f"Actions not seen in the calibration runs, priced as the nearest measured "
                          f"action with as many or fewer active lanes: {', '.join(unseen)}."]
    return "\n".join(lines) + "\n"


def csv_text(report: dict) -> str:
    out = io.StringIO()
    wr = csv.writer(out)
    wr.writerow(["kind", "model", "threads", "zero_activations", "pj_per_mac", "pj_per_effectual_mac",
                 "energy_pj", "ratio_vs_ossa", "time_ns", "edp_pj_ns_per_mac", "edp_ratio_vs_ossa"])
    for p in report["pe"]:
        wr.writerow(["pe", p["model"], p["threads"], "", p["pj_per_mac"], p["pj_per_effectual_mac"],
                     "", p["ratio_vs_ossa"], "", "", ""])
    for g in report["gemm"]:
        wr.writerow(["gemm", g["model"], g["threads"], "", g["pj_per_mac"], g["pj_per_effectual_mac"],
                     g["energy_pj"], g["ratio_vs_ossa"], g.get("time_ns", ""),
                     g.get("edp_pj_ns_per_mac", ""), g.get("edp_ratio_vs_ossa", "")])
    for r in report["sweep"]:
        wr.writerow(["sweep", r["model"], r["threads"], r["zero_activations"], r["pj_per_mac"], "",
                     r["energy_pj"], "", "", "", ""])
    return out.getvalue()


def sweep_plot(report: dict, path: Path) -> None:
    from nbsmt.core.plotting import pyplot, save_png
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    keys = sorted({(r["model"], r["threads"]) for r in report["sweep"]})
    for model, t in keys:
        pts = sorted((r["zero_activations"], r["pj_per_mac"]) for r in report["sweep"]
                     if r["model"] == model and r["threads"] == t)
        ax.plot([100 * z for z, _ in pts], [e for _, e in pts], "-o" if model == "zero-delay" else "--s",
                label=f"{t}T {model}", color=f"C{[1, 2, 4].index(t)}")
    ax.set_xlabel("zero activations (%)")
    ax.set_ylabel("pJ per MAC")
    ax.set_title(f"{report['rows']}x{report['cols']} array, {report.get('library', 'osu018_stdcells.lib')}, "
                 "per-action estimate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_png(fig, path, bbox_inches="tight")


REPORT_FILES = ("energy.md", "energy.json", "energy.csv")
SWEEP_PNG = "energy_sweep.png"


def write(report: dict, stage, command: str) -> None:
    """Stage energy.md, energy.json, energy.csv, the sweep plot and the --json copy (a
    `nbsmt.core.fileio.Stage`: written with the run's other outputs, all or none)."""
    report = {**report, "command": command}
    stage.text("energy.md", markdown(report, command))
    stage.json("energy.json", report)
    stage.text("energy.csv", csv_text(report))
    if report["sweep"]:
        sweep_plot(report, stage.path(SWEEP_PNG))
    else:
        stage.skip(SWEEP_PNG)
    stage.json("--json", report)
