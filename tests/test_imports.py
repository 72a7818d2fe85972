"""Every project module is loaded under one name only.

The source folders (hw/, sim/, tb/, synth/, formal/) install as subpackages of `nbsmt`. If one of
them is also importable as a top-level package (say the repository root lands on
sys.path and something imports `host.driver`), the same file runs twice as two module
objects: two `Policy` classes that are never equal, two caches, isinstance checks that
fail. pytest runs in importlib mode (pyproject.toml) so it never puts the root there.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def modules_loaded_twice(modules=None) -> dict[str, list[str]]:
    """{file: [module names]} for every project file loaded under more than one name."""
    modules = sys.modules if modules is None else modules
    by_file: dict[str, list[str]] = {}
    for name, module in list(modules.items()):
        path = getattr(module, "__file__", None)
        if not path:
            continue
        path = os.path.realpath(path)
        if path.startswith(str(REPO) + os.sep) and "site-packages" not in path:
            by_file.setdefault(path, []).append(name)
    return {f: sorted(n) for f, n in by_file.items() if len(n) > 1}


SUBPACKAGES = ("nbsmt.commands", "nbsmt.core", "nbsmt.energy", "nbsmt.formal", "nbsmt.host", "nbsmt.hw", "nbsmt.models", "nbsmt.sim", "nbsmt.sweep",
               "nbsmt.synth", "nbsmt.tb")


def _import_every_project_module() -> list[str]:
    """Import every module of nbsmt and its subpackages (which live in other folders)."""
    names = []
    for package in ("nbsmt", *SUBPACKAGES):
        path = importlib.import_module(package).__path__
        for info in pkgutil.iter_modules(path, prefix=package + "."):
            importlib.import_module(info.name)
            names.append(info.name)
    return names


def test_no_project_module_is_loaded_under_two_names():
    # Everything pytest collected is imported by now; add the modules no test imports
    # (the cocotb benches run inside the simulator, the CLI commands lazily).
    names = _import_every_project_module()
    assert {"nbsmt.host.driver", "nbsmt.tb.pe_test", "nbsmt.hw.pe", "nbsmt.core.policy"} <= set(names)
    assert modules_loaded_twice() == {}


def test_the_check_catches_a_module_loaded_twice():
    """With the repository root on sys.path, `host.driver` beside `nbsmt.host.driver` is caught."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        sys.path.insert(0, {str(REPO / "tests")!r})
        import nbsmt.host.driver, host.driver
        from test_imports import modules_loaded_twice
        twice = modules_loaded_twice()
        print(sorted(n for names in twice.values() for n in names))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout
    assert "'nbsmt.host.driver'" in out and "'host.driver'" in out
