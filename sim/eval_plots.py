"""PNG plots of the workload study (`nbsmt eval`), each written atomically."""

from __future__ import annotations

import numpy as np

from nbsmt.core.plotting import pyplot, save_png

ACCURACY_PNG = "accuracy_vs_speedup.png"
COLLISIONS_PNG = "collisions.png"


def plot_accuracy(report: dict, path) -> None:
    """Test top-1 vs network speedup: uniform modes per policy and the mode-search picks."""
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
    plt = pyplot()

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
