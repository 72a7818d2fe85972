"""Every command declares its inputs and outputs up front (`nbsmt.core.fileio.OutputSet`):
an output that is an input or another output, or that cannot be written, is refused before
any work (exit 2, one line naming the flag and the path), and nothing is written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nbsmt.core.errors import InputError
from nbsmt.core.fileio import OutputSet, folder_outputs

NBSMT = [sys.executable, "-m", "nbsmt.cli"]
LIMIT = 60     # seconds: a refused run returns in a few; more means the work started


def run(*args, tmp: Path):
    """`nbsmt args` in a fresh process (build folder under `tmp`), killed with its children
    after LIMIT seconds."""
    proc = subprocess.Popen([*NBSMT, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=os.environ | {"NBSMT_BUILD_DIR": str(tmp / "build")})
    start = time.monotonic()
    try:
        out, err = proc.communicate(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"still running after {LIMIT} s: the work started")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), \
        time.monotonic() - start


def refused(result, *words: str) -> str:
    """The one stderr line of a run refused before the work; it names `words`."""
    r, seconds = result
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and ".tmp" not in lines[0], lines[0]
    assert all(w in lines[0] for w in words), lines[0]
    assert seconds < 30, seconds
    return lines[0]


@pytest.fixture
def files(tmp_path):
    """A.npy, W.npy (a 4x6 x 6x3 GEMM) and a few other inputs, with their bytes."""
    rng = np.random.default_rng(7)
    np.save(tmp_path / "A.npy", rng.integers(0, 256, (4, 6)).astype(np.uint8))
    np.save(tmp_path / "W.npy", rng.integers(-128, 128, (6, 3)).astype(np.int8))
    (tmp_path / "T.json").write_text('{"command": "nbsmt synth", "records": []}\n')
    (tmp_path / "X.json").write_text('{"not": "an energy report"}\n')
    (tmp_path / "L.lib").write_text("library (x) { }\n")
    return tmp_path


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*")) if "build" not in p.relative_to(folder).parts}


# ----------------------------------------------------------------------------------------
# 1. An output that is an input (or another output) is refused, the input untouched


def test_sim_stats_onto_its_timing_report(files):
    before = snapshot(files)
    line = refused(run("sim", "--a", files / "A.npy", "--w", files / "W.npy", "--threads", 2,
                       "--rows", 1, "--cols", 2, "--simulator", "icarus",
                       "--out", files / "C.npy", "--timing", files / "T.json",
                       "--stats", files / "T.json", tmp=files), "--stats", "--timing")
    assert str(files / "T.json") in line
    assert snapshot(files) == before


def test_energy_json_onto_its_operands(files):
    before = snapshot(files)
    refused(run("energy", "--a", files / "A.npy", "--w", files / "W.npy", "--threads", 1,
                "--pe-only", "--elements", 1, "--model", "zero-delay", "--rows", 1,
                "--out", files / "e", "--json", files / "A.npy", tmp=files), "--json", "--a",
            str(files / "A.npy"))
    assert snapshot(files) == before


def test_eval_json_onto_its_energy_report(files):
    before = snapshot(files)
    refused(run("eval", "--quick", "--out", files / "ev", "--json", files / "X.json",
                "--energy", files / "X.json", tmp=files), "--json", "--energy")
    assert snapshot(files) == before


def test_sweep_json_onto_a_workload_operand(files):
    before = snapshot(files)
    refused(run("sweep", "--sizes", 1, "--threads", 1, "--workers", 0, "--no-cache",
                "--workload", f"{files / 'A.npy'},{files / 'W.npy'}", "--out", files / "sw",
                "--json", files / "A.npy", tmp=files), "--json", "--workload")
    assert snapshot(files) == before


def test_synth_json_onto_its_pdk(files):
    before = snapshot(files)
    refused(run("synth", "--pe", "--threads", 1, "--flat-check", 0, "--no-cache",
                "--pdk", files / "L.lib", "--out", files / "s",
                "--json", files / "L.lib", tmp=files), "--json", "--pdk")
    assert snapshot(files) == before


# ----------------------------------------------------------------------------------------
# 2. Every output place is checked before the work: no partial report


def test_energy_unwritable_json_leaves_no_report(files):
    before = snapshot(files)
    refused(run("energy", "--a", files / "A.npy", "--w", files / "W.npy", "--threads", 1,
                "--pe-only", "--elements", 1, "--model", "zero-delay", "--rows", 1,
                "--out", files / "e3", "--json", "/proc/x/r.json", tmp=files),
            "--json", "/proc/x/r.json")
    assert snapshot(files) == before


def test_synth_unwritable_json_leaves_no_area_report(files):
    before = snapshot(files)
    refused(run("synth", "--pe", "--threads", 1, "--no-timing", "--flat-check", 0,
                "--no-cache", "--out", files / "s", "--json", "/proc/n.json", tmp=files),
            "--json", "/proc/n.json")
    assert snapshot(files) == before


def test_formal_json_a_directory_leaves_no_markdown(files):
    (files / "f" / "formal.json").mkdir(parents=True)
    before = snapshot(files)
    refused(run("formal", "--set", "ci", "--only", "pe", "--jobs", 1, "--out", files / "f",
                tmp=files), "--out", str(files / "f" / "formal.json"), "is a directory")
    assert snapshot(files) == before


def test_verilog_defaults_with_one_target_a_directory_writes_none(files):
    (files / "D" / "nbsmt_pe_t2.v").mkdir(parents=True)
    before = snapshot(files)
    refused(run("verilog", "--defaults", "-o", files / "D", tmp=files),
            "--out-dir", "nbsmt_pe_t2.v", "is a directory")
    assert snapshot(files) == before


# ----------------------------------------------------------------------------------------
# The mechanism itself


def test_output_set_checks_inputs_of_every_kind_and_folder_files(tmp_path):
    a, w = tmp_path / "A.npy", tmp_path / "W.npy"
    a.write_bytes(b"a")
    w.write_bytes(b"w")
    os.link(w, tmp_path / "hard-W.npy")
    inputs = {"--workload": [a, w], "--timing": None}
    with pytest.raises(InputError, match=r"^--json '.*hard-W.npy' is the same file as the "
                                         r"input --workload '.*W.npy'$"):
        folder_outputs(tmp_path / "out", ("r.md",), tmp_path / "hard-W.npy", inputs=inputs)
    with pytest.raises(InputError, match=r"^--json '.*r.md' is the same file as r.md "
                                         r"\(in --out\) '.*r.md'$"):
        folder_outputs(tmp_path / "out", ("r.md",), tmp_path / "out" / "r.md")
    outputs = folder_outputs(tmp_path / "out", ("r.md", "r.png"), inputs=inputs)
    with outputs.staging() as stage:
        stage.text("r.md", "x")
        stage.skip("r.png")                    # a plot with nothing to show
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r.md"]
    with pytest.raises(InputError, match="cannot write there"):
        OutputSet({"--json": "/proc/nbsmt-test/r.json"})
