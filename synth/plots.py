"""The two report figures: area ratio vs array size (with the paper's claims) and blocks."""

from __future__ import annotations

from pathlib import Path

from nbsmt.core.plotting import pyplot, save_png

from nbsmt.synth.blocks import CATEGORIES, LABELS
from nbsmt.synth.report import PAPER_RATIO


def _default(records):
    return [r for r in records if r["policy_tag"] == "default" and not r.get("pipeline")]


def ratio_plot(records: list[dict], path: Path) -> Path | None:
    """Area ratio vs OS-SA against array size (the PE at size 1), one line per thread count."""
    rows = [r for r in _default(records) if r["threads"] > 1 and r["ratio_vs_ossa"]]
    if not rows:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = {2: "tab:blue", 4: "tab:red"}
    for t in sorted({r["threads"] for r in rows}):
        pts = sorted(((1 if r["design"] == "pe" else r["rows"]), r["ratio_vs_ossa"])
                     for r in rows if r["threads"] == t)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=colors.get(t),
                label=f"SySMT {t}T (measured)")
        if t in PAPER_RATIO:
            ax.axhline(PAPER_RATIO[t], ls="--", color=colors.get(t), alpha=0.6,
                       label=f"paper {t}T: {PAPER_RATIO[t]}x")
    sizes = sorted({1 if r["design"] == "pe" else r["rows"] for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes)
    ax.set_xticklabels(["PE" if s == 1 else f"{s}x{s}" for s in sizes])
    ax.set_xlabel("array size")
    ax.set_ylabel("area / OS-SA area")
    ax.set_ylim(bottom=1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("SySMT area relative to the OS-SA (Yosys, nbsmt45 cells)")
    fig.tight_layout()
    save_png(fig, path)
    return path


def breakdown_plot(records: list[dict], path: Path, unit_key: str = "blocks_ge") -> Path | None:
    """Stacked bars of area by block for each default-policy design, per PE (arrays / R*C)."""
    rows = [r for r in _default(records) if r[unit_key] and any(r[unit_key].values())]
    if not rows:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(rows) + 2), 4.5))
    labels = [("PE" if r["design"] == "pe" else f"{r['rows']}x{r['cols']}") + f"\n{r['threads']}T"
              for r in rows]
    bottom = [0.0] * len(rows)
    for c in CATEGORIES:
        values = [(r[unit_key][c] or 0) / (r["rows"] * r["cols"]) for r in rows]
        if not any(values):
            continue
        ax.bar(range(len(rows)), values, bottom=bottom, label=LABELS[c])
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel(("GE" if unit_key == "blocks_ge" else "um^2") + " per PE position")
    ax.set_title("Area by block (arrays divided by R x C)")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_png(fig, path)
    return path
