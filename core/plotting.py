"""Matplotlib without a display, and PNGs written atomically: shared by every report."""

from __future__ import annotations


def pyplot():
    """matplotlib.pyplot on the Agg backend (reports run headless, in CI too)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_png(fig, path, **savefig_kwargs) -> None:
    """Write `fig` to `path` through a temporary file, then close it."""
    from nbsmt.core.fileio import atomic_path
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, **savefig_kwargs)
    pyplot().close(fig)
