"""Figures and tables for people: one way to print a ratio and a Markdown table."""

from __future__ import annotations


def format_ratio(value, spec: str = ".3g") -> str:
    """A ratio of the statistics for people: `null` (undefined, e.g. error / 0) as "undefined"."""
    return "undefined" if value is None else format(value, spec)


#: Separator cell per alignment letter: "-" the renderer's default (left), "l" left,
#: "r" right, "c" centred.
_RULES = {"-": "---", "l": ":---", "r": "---:", "c": ":---:"}


def markdown_table(header, rows, align: str | None = None) -> list[str]:
    """The lines of a Markdown table: the header, the separator, then one line per row.

    Every cell is written as `str(cell)`, as given (format numbers before passing them);
    cells are not escaped, so a cell must not hold "|" or a line break. `align` gives one
    letter per column, from "-" (default, `---`), "l" (`:---`), "r" (`---:`) and
    "c" (`:---:`); None means "-" for every column. An empty header, or a row with a
    different number of cells than the header, is an error (ValueError). No blank line is
    added before or after.
    """
    header = [str(h) for h in header]
    if not header:
        raise ValueError("a Markdown table needs at least one column")
    align = "-" * len(header) if align is None else align
    if len(align) != len(header):
        raise ValueError(f"align {align!r} has {len(align)} letters for {len(header)} columns")
    bad = set(align) - set(_RULES)
    if bad:
        raise ValueError(f"align {align!r}: unknown letter(s) {''.join(sorted(bad))!r} "
                         f"(use {', '.join(map(repr, _RULES))})")
    lines = ["| " + " | ".join(header) + " |", "|" + "".join(_RULES[a] + "|" for a in align)]
    for i, row in enumerate(rows):
        cells = [str(c) for c in row]
        if len(cells) != len(header):
            raise ValueError(f"row {i} has {len(cells)} cells for {len(header)} columns: {cells!r}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines
