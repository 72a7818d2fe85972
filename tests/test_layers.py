"""The layer contracts (pyproject.toml, scripts/lint_imports.py) hold, and can fail."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _lint_module():
    spec = importlib.util.spec_from_file_location("lint_imports", REPO / "scripts" / "lint_imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_layers_hold(tmp_path):
    lint = _lint_module()
    result = lint.check(lint.stage(REPO, tmp_path), REPO / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_them(tmp_path):
    # A lazy import inside a function counts: the bottom layer may not reach the RTL.
    lint = _lint_module()
    staged = lint.stage(REPO, tmp_path)
    with open(staged / "nbsmt" / "core" / "errors.py", "a") as f:
        f.write("\n\ndef _upward():\n    from nbsmt.hw.design import Design\n    return Design\n")
    result = lint.check(staged, REPO / "pyproject.toml")
    assert result.returncode != 0
    assert "nbsmt.core.errors -> nbsmt.hw.design" in result.stdout


def test_a_package_no_layer_names_breaks_them(tmp_path):
    lint = _lint_module()
    staged = lint.stage(REPO, tmp_path)
    (staged / "nbsmt" / "stray").mkdir()
    (staged / "nbsmt" / "stray" / "__init__.py").write_text("")
    result = lint.check(staged, REPO / "pyproject.toml")
    assert result.returncode != 0 and "nbsmt.stray" in result.stdout
