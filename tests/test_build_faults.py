"""Issue 9 #1-#2: simulator builds survive concurrent cold starts, killed links and bad binaries.

Everything here runs for real: separate processes building the same configuration at
once, a Verilator link killed with SIGKILL, binaries damaged on disk. Each test has its
own build root (NBSMT_BUILD_DIR), so every build starts cold.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from nbsmt.core.interrupts import descendants
from nbsmt.tb.runner import require_simulator, verified_build

# One small PE run through the runner, as a separate process (argv: simulator).
SCRIPT = """
import sys
from nbsmt.hw.design import Design
from nbsmt.core.policy import Policy
from nbsmt.tb.runner import CONFIG_ENV, run_cocotb
design = Design.pe(2, Policy(windows=5, acc_bits=22))
name = design.name
run_cocotb(verilog=design.verilog(), toplevel=name, test_module="pe_test",
           simulator=sys.argv[1], build_name=name, testcase="pe_random_streams",
           env={CONFIG_ENV: {"threads": 2, "policy": Policy(windows=5, acc_bits=22).as_dict(),
                             "seed": 3, "cycles": 200}})
print("run ok")
"""
TOP = "nbsmt_pe_t2_w5_acc22"


def _start(build_root: Path, simulator: str) -> subprocess.Popen:
    env = os.environ | {"NBSMT_BUILD_DIR": str(build_root)}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, simulator], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0 and "run ok" in out, out[-3000:]
    return out


def _build_dir(root: Path, simulator: str) -> Path:
    return root / "sim" / simulator / TOP


def _assert_clean_complete(root: Path, simulator: str) -> None:
    folder = _build_dir(root, simulator)
    stamp = json.loads((folder / ".nbsmt-build.json").read_text())
    assert verified_build(folder, stamp["key"], stamp["binary"]) == stamp
    leftovers = [p.name for p in folder.parent.iterdir() if ".build-" in p.name or ".old-" in p.name]
    assert not leftovers


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_concurrent_cold_builds_of_one_configuration_all_succeed(tmp_path, simulator):
    require_simulator(simulator)
    procs = [_start(tmp_path, simulator) for _ in range(3)]
    for proc in procs:
        _finish(proc)
    _assert_clean_complete(tmp_path, simulator)


def _link_running(pid: int) -> bool:
    """Whether a descendant of `pid` is linking the Verilator binary (g++ ... -o TOP)."""
    for child in descendants(pid):
        try:
            argv = psutil.Process(child).cmdline()
        except psutil.Error:   # ended meanwhile, or not ours to read
            continue
        if "-o" in argv and TOP in argv and "-c" not in argv \
                and any("g++" in a or a.endswith("ld") for a in argv[:2]):
            return True
    return False


def test_a_verilator_link_killed_midway_does_not_break_the_configuration(tmp_path):
    require_simulator("verilator")
    for attempt in range(3):   # the link lasts a fraction of a second: catch it
        proc = _start(tmp_path, "verilator")
        while proc.poll() is None and not _link_running(proc.pid):
            time.sleep(0.005)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        proc.communicate()
        subprocess.run(["rm", "-rf", str(tmp_path / "sim")], check=True)
    else:
        pytest.fail("never caught the link step running")
    _finish(_start(tmp_path, "verilator"))
    _assert_clean_complete(tmp_path, "verilator")


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_a_damaged_cached_binary_is_rebuilt(tmp_path, simulator):
    require_simulator(simulator)
    _finish(_start(tmp_path, simulator))
    folder = _build_dir(tmp_path, simulator)
    stamp = json.loads((folder / ".nbsmt-build.json").read_text())
    binary = folder / stamp["binary"]
    binary.write_bytes(binary.read_bytes()[:1000])   # truncated, as by a crash mid-write
    _finish(_start(tmp_path, simulator))
    _assert_clean_complete(tmp_path, simulator)


def test_a_stamped_build_that_fails_to_start_is_rebuilt_once(tmp_path):
    """A stamp that vouches for a broken binary (as an older nbsmt wrote it) costs one rebuild."""
    require_simulator("icarus")
    _finish(_start(tmp_path, "icarus"))
    folder = _build_dir(tmp_path, "icarus")
    stamp_path = folder / ".nbsmt-build.json"
    stamp = json.loads(stamp_path.read_text())
    binary = folder / stamp["binary"]
    binary.write_text("not a vvp file\n")
    stamp.update(size=binary.stat().st_size, sha256=hashlib.sha256(binary.read_bytes()).hexdigest())
    stamp_path.write_text(json.dumps(stamp))
    _finish(_start(tmp_path, "icarus"))
    _assert_clean_complete(tmp_path, "icarus")
