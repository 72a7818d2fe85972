"""Lint generated Verilog with `verilator --lint-only -Wall`: `python -m nbsmt.hw.lint DIR`.

Every .v file in DIR is linted on its own; any warning left after the waivers below fails
the run (exit status 1), so a real width bug or latch in a generator shows up in `make
lint`. The waivers cover only what Amaranth's Verilog backend (RTLIL via Yosys
write_verilog) emits for every design, whatever the design does (see WAIVERS).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: Waived Verilator warnings and why Amaranth output always triggers them.
WAIVERS = {
    "WIDTHEXPAND": "operands keep their own width and rely on Verilog's implicit "
                   "extension to the expression width (e.g. a 16-bit product added to a "
                   "33-bit sum); Amaranth has already fixed the arithmetic's widths",
    "WIDTHTRUNC": "the same, for assignments that rely on implicit truncation",
    "DECLFILENAME": "all modules of a design go into one file, and submodules are named "
                    "'<top>.<sub>', so no module name matches the file name",
    "PROCASSINIT": "registers are declared with their reset value as initializer "
                   "(`reg x = 0;`) and assigned in an always block",
    "UNUSEDSIGNAL": "every named Amaranth signal is kept as a wire for debugging, "
                    "including ones (or bits of ones) that only feed other names",
}


def lint_args() -> list[str]:
    return ["--lint-only", "-Wall"] + [f"-Wno-{w}" for w in WAIVERS]


def lint_file(path) -> str:
    """Verilator's complaints about one file ('' when clean)."""
    from nbsmt.core.toolchain import simulator_environment

    simulator_environment()
    proc = subprocess.run(["verilator", *lint_args(), str(path)],
                          capture_output=True, text=True)
    text = (proc.stdout + proc.stderr).strip()
    if proc.returncode == 0 and "%Warning" not in text:
        return ""
    return text or f"verilator exited with status {proc.returncode}"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m nbsmt.hw.lint DIR", file=sys.stderr)
        return 2
    files = sorted(Path(argv[0]).glob("*.v"))
    if not files:
        print(f"nbsmt.hw.lint: no .v files in {argv[0]}", file=sys.stderr)
        return 2
    bad = 0
    for path in files:
        problems = lint_file(path)
        print(f"{'FAIL' if problems else 'ok  '} {path}")
        if problems:
            bad += 1
            print(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
