"""Figures and tables for people: one way to print a ratio and a Markdown table."""

from __future__ import annotations


def format_ratio(value, spec: str = ".3g") -> str:
    """A ratio of the statistics for people: `null` (undefined, e.g. error / 0) as "undefined"."""
    return "undefined" if value is None else format(value, spec)
