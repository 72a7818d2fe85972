"""The command line agrees with itself (reliability issue, item 6): flags that contradict
each other are a usage error, every default under build/ follows $NBSMT_BUILD_DIR, and
every flag an error message or hint names exists."""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nbsmt
from nbsmt.cli import build_parser, main

NBSMT = [sys.executable, "-m", "nbsmt.cli"]
REPO = Path(nbsmt.__file__).resolve().parent.parent


def run(*args, cwd, env=None, timeout=120):
    return subprocess.run([*NBSMT, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=os.environ | (env or {}), timeout=timeout)


def one_line(r, *words: str) -> str:
    """The single stderr line of a usage error (exit 2, nothing on stdout), naming `words`."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, (r.returncode, r.stderr[-2000:])
    assert all(w in lines[0] for w in words), lines[0]
    assert not r.stdout and "Traceback" not in r.stderr
    return lines[0]


# ----------------------------------------------------------------------------------------
# Conflicting flags: argparse's one line, exit 2, nothing written.
# Each invocation also carries one value the command itself rejects (--jobs 0, --sizes 0),
# so that if the conflict went unnoticed again the run would stop at once with the wrong
# message instead of starting a synthesis, a sweep or an energy run.

CONFLICTS = [
    ("synth", ["--jobs", "0", "--cache", "{tmp}/cache", "--no-cache"], "--cache", "--no-cache"),
    ("synth", ["--jobs", "0", "--no-timing", "--pdk", "{tmp}/x.lib"],
     "--no-timing", "--pdk"),
    ("sweep", ["--sizes", "0", "--cache", "{tmp}/cache", "--no-cache"], "--cache", "--no-cache"),
    ("sweep", ["--sizes", "0", "--scheduler", "tcp://127.0.0.1:9", "--workers", "2"],
     "--scheduler", "--workers"),
    ("energy", ["--jobs", "0", "--sparsity-sweep", "--pe-only"], "--sparsity-sweep", "--pe-only"),
]


@pytest.mark.parametrize("command, argv, first, second", CONFLICTS,
                         ids=[f"{c[0]}:{c[2]}+{c[3]}" for c in CONFLICTS])
def test_conflicting_flags_are_a_one_line_usage_error(tmp_path, command, argv, first, second):
    work = tmp_path / "cwd"
    work.mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    r = run(command, *argv, cwd=work, env={"NBSMT_BUILD_DIR": str(tmp_path / "build")})
    line = one_line(r, f"nbsmt {command}: error:", first, second, "not allowed with")
    assert line.startswith(f"nbsmt {command}: error: argument ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd"]     # nothing written
    assert not any(work.iterdir())


def test_a_layer_named_twice_in_mode_per_layer_is_an_input_error(tmp_path):
    # --images 0 would be refused next: a duplicate that went through again fails fast.
    r = run("sim", "--network", "digits", "--threads", "4", "--simulator", "icarus",
            "--mode-per-layer", "conv1=4,conv2=2,conv1=2", "--images", "0",
            "--out", tmp_path / "r.json", cwd=tmp_path,
            env={"NBSMT_BUILD_DIR": str(tmp_path / "build")})
    one_line(r, "nbsmt sim: error: --mode-per-layer", "conv1", "twice")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------
# $NBSMT_BUILD_DIR: every default path under build/, resolved when the command runs.


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_no_default_is_a_fixed_build_path_and_the_help_names_the_variable():
    bad = []
    for name, parser in _subparsers().items():
        for action in parser._actions:
            flag = "/".join(action.option_strings)
            if isinstance(action.default, (str, Path)) and str(action.default).startswith("build"):
                bad.append(f"{name} {flag}: default {action.default!r} ignores $NBSMT_BUILD_DIR")
            text = parser._get_formatter()._expand_help(action) if action.help else ""
            if "build/" in text and "$NBSMT_BUILD_DIR/" not in text:
                bad.append(f"{name} {flag}: help {text!r} does not name $NBSMT_BUILD_DIR")
    assert not bad, "\n".join(bad)


def test_synth_writes_its_default_report_and_cache_under_nbsmt_build_dir(tmp_path, monkeypatch):
    root, work = tmp_path / "env-build", tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("NBSMT_BUILD_DIR", str(root))      # after nbsmt was imported
    assert main(["synth", "--pe", "--threads", "1", "--no-timing", "--flat-check", "0",
                 "--jobs", "1"]) == 0
    doc = json.loads((root / "synth" / "area.json").read_text())
    assert [r["threads"] for r in doc["records"]] == [1]
    assert any((root / "synth-cache").rglob("*.json"))
    assert not (work / "build").exists() and not any(work.iterdir())


def test_energy_writes_its_default_report_under_nbsmt_build_dir(tmp_path, monkeypatch):
    root, work = tmp_path / "env-build", tmp_path / "cwd"
    work.mkdir()
    rng = np.random.default_rng(3)
    np.save(tmp_path / "A.npy", rng.integers(0, 256, (2, 3)).astype(np.uint8))
    np.save(tmp_path / "W.npy", rng.integers(-128, 128, (3, 2)).astype(np.int8))
    monkeypatch.chdir(work)
    monkeypatch.setenv("NBSMT_BUILD_DIR", str(root))      # after nbsmt was imported
    assert main(["energy", "--a", tmp_path / "A.npy", "--w", tmp_path / "W.npy", "--threads", "1",
                 "--rows", "1", "--pe-only", "--model", "zero-delay", "--elements", "1",
                 "--jobs", "1"]) == 0
    report = json.loads((root / "energy" / "energy.json").read_text())
    assert [(p["threads"], p["model"]) for p in report["pe"]] == [(1, "zero-delay")]
    assert not (work / "build").exists() and not any(work.iterdir())


# ----------------------------------------------------------------------------------------
# Every flag an error message, hint or help text names is a flag of some command.

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
SOURCE_FOLDERS = ("nbsmt", "core", "hw", "sim", "host", "tb", "synth", "energy", "sweep", "formal")


def _flags_of(parser: argparse.ArgumentParser) -> set[str]:
    flags = set()
    for action in parser._actions:
        flags.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                flags |= _flags_of(child)
    return flags


def _strings(node) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _message_strings(tree) -> list[ast.Constant]:
    """String literals (f-string parts too) that reach a user as an error or hint: in a
    `raise`, in print(), warn() or an ...Error/...Exception/...Failure call, or the
    help/description text of a parser."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            found.update((id(s), s) for s in _strings(node.exc))
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in ("print", "warn", "error", "exit") or name.endswith(("Error", "Exception",
                                                                             "Failure")):
                found.update((id(s), s) for a in node.args for s in _strings(a))
            found.update((id(s), s) for k in node.keywords
                         if k.arg in ("help", "description", "epilog") for s in _strings(k.value))
    return list(found.values())


def test_every_flag_named_in_a_message_exists():
    # the scan itself: raise/print/help strings count, a tool's command line does not
    probe = ast.parse('raise InputError(f"{x!r}: made with --no-such-flag?")\n'
                      'print("run with --also-missing")\n'
                      'p.add_argument("--x", help="see --third-one")\n'
                      'cmd = ["verilator", "--lint-only"]\n')
    assert {f for s in _message_strings(probe) for f in FLAG.findall(s.value)} == {
        "--no-such-flag", "--also-missing", "--third-one"}
    flags = _flags_of(build_parser())
    assert {"--no-cache", "--pe-only", "--mode-per-layer", "--out-dir", "--help"} <= flags
    unknown = []
    for folder in SOURCE_FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for s in _message_strings(tree):
                unknown += [f"{path.relative_to(REPO)}:{s.lineno}: {flag}"
                            for flag in FLAG.findall(s.value) if flag not in flags]
    assert not unknown, "flags named in messages that no command has:\n" + "\n".join(unknown)
