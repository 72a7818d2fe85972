#!/usr/bin/env python3
"""Check the layer contracts of pyproject.toml ([tool.importlinter]) with import-linter.

The subpackages of `nbsmt` live in top-level folders (pyproject.toml's package-dir), so
the import graph is read from a staged copy laid out as the installed package is
(nbsmt/core, nbsmt/hw, ...), never from the checkout, where grimp would see no
subpackages. Exit status: import-linter's (non-zero when a contract is broken).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def stage(root: Path, dest: Path) -> Path:
    """Copy every package of `root`'s pyproject.toml to `dest` as it installs; `dest`."""
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = tool["package-dir"]
    for package in sorted(tool["packages"]):
        parent, _, leaf = package.rpartition(".")
        source = root / folders[package] if package in folders else root / folders[parent] / leaf
        target = dest.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for module in source.glob("*.py"):
            shutil.copyfile(module, target / module.name)
    return dest


def check(staged: Path, config: Path) -> subprocess.CompletedProcess:
    """import-linter on the staged packages, with `config`'s contracts."""
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", code, "--no-cache", str(config)], cwd=staged,
                          env={"PYTHONPATH": str(staged), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="nbsmt-layers-") as tmp:
        result = check(stage(ROOT, Path(tmp)), ROOT / "pyproject.toml")
    out = result.stdout + result.stderr
    # The contract lines and their verdicts, not the banner.
    print("\n".join(line for line in out.splitlines() if "KEPT" in line or "BROKEN" in line
                    or "Contracts:" in line) if result.returncode == 0 else out)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
