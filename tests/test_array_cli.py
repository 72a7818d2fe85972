"""`nbsmt sim` end to end: RTL result and stats file, waves, and one-line rejection of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nbsmt.sim.cycles import gemm_cycles
from nbsmt.sim.gemm import golden_gemm
from nbsmt.core.policy import Policy
from nbsmt.tb.runner import require_simulator
from nbsmt.host.stimulus import gemm_operands

NBSMT = [sys.executable, "-m", "nbsmt.cli"]


def run(*args, cwd=None):
    env = {**os.environ, "NBSMT_BUILD_DIR": str(Path("build").resolve())}
    return subprocess.run([*NBSMT, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env=env)


@pytest.fixture
def operands(tmp_path):
    a, w = gemm_operands("pruned", np.random.default_rng(7), 5, 9, 3)
    np.save(tmp_path / "A.npy", a.astype(np.uint8))
    np.save(tmp_path / "W.npy", w.astype(np.int8))
    return tmp_path, a, w


# Verilator builds with only the top ports public (tb/runner.py); tracing still sees
# every signal inside the array.
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_sim_cli_writes_the_rtl_result_and_stats_with_waves(operands, simulator):
    require_simulator(simulator)
    d, a, w = operands
    out, stats = d / "C.npy", d / "S.json"
    r = run("sim", "--a", d / "A.npy", "--w", d / "W.npy", "--threads", "2", "--mode", "2",
            "--rows", "2", "--cols", "2", "--simulator", simulator, "--zero-skip", "act",
            "--out", out, "--stats", stats, "--waves")
    assert r.returncode == 0, r.stdout + r.stderr
    golden = golden_gemm(a, w, threads=2, mode=2, policy=Policy(zero_skip="act"))
    assert np.array_equal(np.load(out), golden.output)
    s = json.loads(stats.read_text())
    assert s["ok"] and s["cycles"] == gemm_cycles(5, 9, 3, rows=2, cols=2, mode=2)
    assert s["cycles_mode1_model"] == gemm_cycles(5, 9, 3, rows=2, cols=2, mode=1)
    assert s["counters"]["pe_cycles_by_active"] == golden.stats["pe_cycles_by_active"]
    assert s["counters"]["busy_cycles"] == s["cycles"]
    assert s["golden"]["macs_reduced_lossy"] == s["counters"]["lossy_reductions"]
    wave = [line for line in r.stdout.splitlines() if line.startswith("waves: ")]
    assert wave and Path(wave[0][len("waves: "):]).is_file(), r.stdout
    if simulator == "verilator":   # the PEs' accumulators are traced, not only the ports
        assert "$scope module pe_0_0 $end" in Path(wave[0][len("waves: "):]).read_text()


@pytest.mark.parametrize("reference", [None, "golden"])
def test_sim_cli_on_verilator_defaults_to_the_native_player(operands, reference):
    """No --harness on Verilator: the native player; the result is held against the
    emulator by default, the golden model on request, and is the golden model's C."""
    require_simulator("verilator")
    d, a, w = operands
    out, stats = d / "C.npy", d / "S.json"
    r = run("sim", "--a", d / "A.npy", "--w", d / "W.npy", "--threads", "4", "--rows", "3",
            "--cols", "2", "--out", out, "--stats", stats,
            *(["--reference", reference] if reference else []))
    assert r.returncode == 0, r.stdout + r.stderr
    golden = golden_gemm(a, w, threads=4, mode=4)
    assert np.array_equal(np.load(out), golden.output)
    s = json.loads(stats.read_text())
    assert (s["harness"], s["reference"]) == ("native", reference or "emulator")
    assert s["ok"] and s["cycles"] == gemm_cycles(5, 9, 3, rows=3, cols=2, mode=4)
    assert s["golden"] == json.loads(json.dumps(golden.stats))
    assert s["counters"]["pe_cycles_by_active"] == golden.stats["pe_cycles_by_active"]
    against = "the golden model" if reference else "the emulator"
    assert f"RTL result bit-exact with {against}" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["--threads", "2", "--mode", "4"], "mode must not exceed threads (2), not 4"),
    (["--threads", "2", "--rows", "0"], "--rows must be between 1 and 64, not 0"),
    (["--threads", "2", "--cols", "65"], "--cols must be between 1 and 64, not 65"),
    (["--threads", "1", "--acc-bits", "8"], "acc_bits must be between 16 and 62, not 8"),
    (["--threads", "2", "--clock-ns", "0"], "--clock-ns must be a clock period in ns (a positive number), not '0'"),
    (["--threads", "2", "--clock-ns", "nan"], "--clock-ns must be a clock period in ns (a positive number), not 'nan'"),
    (["--threads", "2", "--clock-ns", "fast"], "--clock-ns must be a clock period in ns (a positive number), not 'fast'"),
])
def test_bad_options_exit_2_with_one_line(operands, args, message):
    d, _, _ = operands
    r = run("sim", "--a", d / "A.npy", "--w", d / "W.npy", *args, "--out", d / "C.npy")
    assert r.returncode == 2
    assert r.stderr.strip() == f"nbsmt sim: error: {message}"
    assert not (d / "C.npy").exists()


def test_bad_operands_exit_2_like_gemm(operands):
    d, a, w = operands
    np.save(d / "Wbad.npy", np.ones((4, 3), dtype=np.int64))
    r = run("sim", "--a", d / "A.npy", "--w", d / "Wbad.npy", "--threads", "1",
            "--out", d / "C.npy")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("nbsmt sim: error: K mismatch")
    r = run("sim", "--a", d / "missing.npy", "--w", d / "W.npy", "--threads", "1",
            "--out", d / "C.npy")
    assert r.returncode == 2 and "no such file" in r.stderr


def test_a_failed_simulation_is_one_line_and_exit_1(monkeypatch, capsys):
    """What the bench reports (e.g. no progress) reaches the user as one line, no traceback."""
    from nbsmt.commands import sim
    from nbsmt.tb.runner import CocotbFailure

    def failing(args):
        raise CocotbFailure("play_jobs: no progress: 3/8 output beats after 1201 cycles\n  details")
    monkeypatch.setattr(sim, "run_gemm", failing)
    args = sim_args(["--a", "A.npy", "--w", "W.npy", "--out", "C.npy", "--threads", "2"])
    assert sim.run(args) == 1
    assert capsys.readouterr().err == ("nbsmt sim: the simulation failed: play_jobs: no progress: "
                                       "3/8 output beats after 1201 cycles\n")


def sim_args(argv):
    from nbsmt.cli import build_parser
    return build_parser().parse_args(["sim", *argv])
