"""A signal at random points of every command leaves nothing behind (docs/reliability.md,
"Interrupts").

Each command runs 20 times in a fresh build folder and TMPDIR and gets Ctrl-C (SIGINT to
its whole process group, as a terminal sends it) or SIGTERM (to the process alone, as a
service manager sends it) after a random delay spread over the command's run. Whatever
the moment, the run ends with exit 0 (it had finished), 130 or 143, and afterwards:
- no traceback, and an interrupted run's last line says so;
- no process of its session is left;
- TMPDIR is empty, and no staged file (a hidden `.<name>.*.tmp`, a simulator's
  `.build-`/`.old-` folder, a probe) is left anywhere;
- its outputs are all there (exit 0) or none is (interrupted; or all, when the signal
  came after they were published).

The random moment counts from when nbsmt's handlers are in place (`_wait_for_handlers`).

The quick commands (gemm, verilog, sweep on a local cluster) run in `make test`; the
slow ones (sim on Icarus and on the native player, synth, eval, energy, formal) with
NBSMT_SIGNALS=full, in `make soak`.
Delays come from NBSMT_SEED when set (a failure prints it), else from a fresh seed.
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

BIN = Path(sys.executable).parent
POINTS = 20
SEED = int(os.environ.get("NBSMT_SEED") or random.SystemRandom().randrange(2**32))
FULL = os.environ.get("NBSMT_SIGNALS") == "full"

# command: (argv with OUT for the run's output folder and IN for its inputs, the outputs
# it writes under OUT, the longest delay in seconds: about its run time here)
QUICK = {
    "gemm": (["gemm", "--a", "IN/A.npy", "--w", "IN/W.npy", "--threads", "2",
              "--out", "OUT/C.npy", "--stats", "OUT/S.json"], ["C.npy", "S.json"], 0.6),
    "verilog": (["verilog", "--defaults", "-o", "OUT/v"], ["v"], 1.5),
    "sweep": (["sweep", "--sizes", "2", "--threads", "1", "2", "--metrics", "cycles",
               "--workers", "2", "--no-cache", "--out", "OUT/sweep"], ["sweep"], 2.5),
}
SLOW = {
    "sim": (["sim", "--a", "IN/A.npy", "--w", "IN/W.npy", "--threads", "2", "--rows", "2",
             "--simulator", "icarus", "--out", "OUT/C.npy", "--stats", "OUT/S.json"], ["C.npy", "S.json"], 3.0),
    # Verilator's default, the native player: a C++ build, then the player's own process
    "sim-native": (["sim", "--a", "IN/A.npy", "--w", "IN/W.npy", "--threads", "2", "--rows", "2",
                    "--simulator", "verilator", "--out", "OUT/C.npy", "--stats", "OUT/S.json"],
                   ["C.npy", "S.json"], 12.0),
    "synth": (["synth", "--rows", "2", "--threads", "1", "2", "--out", "OUT/synth"],
              ["synth"], 7.5),
    "eval": (["eval", "--quick", "--out", "OUT/eval"], ["eval"], 4.5),
    "energy": (["energy", "--a", "IN/A.npy", "--w", "IN/W.npy", "--threads", "1", "2",
                "--pe-only", "--elements", "64", "--out", "OUT/energy"], ["energy"], 3.0),
    "formal": (["formal", "--set", "ci", "--only", "pe", "--out", "OUT/formal"], ["formal"], 3.0),
}

# what a run stages or probes on its way to an output, and must remove on every exit
STAGED = re.compile(r"^\.(.+\.tmp|.+\.build-.*|.+\.old-.*|results-.*\.xml|nbsmt-probe\..*)$")


def _wait_for_handlers(pid: int) -> None:
    """Return once `pid` catches SIGTERM: nbsmt's handlers are in place. Before that (the
    interpreter's start and nbsmt's first imports, tens of milliseconds) a signal ends
    the process the default way, with nothing of nbsmt's to clean up yet."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return   # ended already
        caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", status, re.M).group(1), 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.005)


def _leftovers(session: int) -> str:
    return subprocess.run(["pgrep", "-a", "-s", str(session)], capture_output=True,
                          text=True).stdout.strip()


def _interrupt_once(command: str, index: int, root: Path) -> str | None:
    """Run `command` once, signalled after a random delay; None, or what went wrong."""
    argv, outputs, longest = (QUICK | SLOW)[command]
    rng = random.Random(f"{SEED}-{command}-{index}")
    delay, how = rng.uniform(0.0, longest), rng.choice(["SIGINT", "SIGTERM"])
    run = root / f"{command}-{index}"
    inputs, out, scratch = run / "in", run / "out", run / "tmp"
    for folder in (inputs, out, scratch):
        folder.mkdir(parents=True)
    rows = np.random.default_rng(index)
    np.save(inputs / "A.npy", rows.integers(0, 256, (12, 24)).astype(np.uint8))
    np.save(inputs / "W.npy", rows.integers(-128, 128, (24, 6)).astype(np.int8))
    args = [a.replace("IN", str(inputs)).replace("OUT", str(out)) for a in argv]
    env = os.environ | {"NBSMT_BUILD_DIR": str(run / "build"), "TMPDIR": str(scratch)}
    proc = subprocess.Popen([str(BIN / "nbsmt"), *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for_handlers(proc.pid)
    time.sleep(delay)
    with_what = f"{command} #{index}: {how} after {delay:.2f} s (NBSMT_SEED={SEED})"
    try:
        if how == "SIGINT":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        pass   # finished already
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"{with_what}: still running 120 s later"
    expected = {"SIGINT": 130, "SIGTERM": 143}[how]
    if proc.returncode not in (0, expected):
        return f"{with_what}: exit {proc.returncode}: {err[-1500:]}"
    if "Traceback" in err:
        return f"{with_what}: a traceback: {err[-1500:]}"
    if proc.returncode and "interrupted" not in (err.strip().splitlines() or [""])[-1]:
        return f"{with_what}: last line {err.strip()[-300:]!r}"
    deadline = time.monotonic() + 15
    while _leftovers(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _leftovers(proc.pid):
        return f"{with_what}: processes left: {_leftovers(proc.pid)}"
    if any(scratch.iterdir()):
        return f"{with_what}: TMPDIR not empty: {sorted(p.name for p in scratch.iterdir())}"
    staged = [str(p) for p in run.rglob("*") if STAGED.match(p.name)]
    if staged:
        return f"{with_what}: staged entries left: {staged[:5]}"
    # all or nothing: a signal after the outputs were published may still end the run
    # as interrupted (it is, in its last lines), but no run leaves part of them
    written = sorted(p.name for p in out.iterdir())
    if written != sorted(outputs) and (proc.returncode == 0 or written):
        return f"{with_what}: exit {proc.returncode} but outputs {written}"
    return None


def _interrupt_everywhere(command: str, tmp_path: Path) -> None:
    # two runs at a time (the machine has two cores): a signal's moment is random anyway
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        problems = [p for p in pool.map(lambda i: _interrupt_once(command, i, tmp_path),
                                        range(POINTS)) if p]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("command", QUICK)
def test_a_signal_anywhere_in_a_quick_command_leaves_nothing(command, tmp_path):
    _interrupt_everywhere(command, tmp_path)


@pytest.mark.skipif(not FULL, reason="slow commands: make soak (NBSMT_SIGNALS=full)")
@pytest.mark.parametrize("command", SLOW)
def test_a_signal_anywhere_in_a_slow_command_leaves_nothing(command, tmp_path):
    _interrupt_everywhere(command, tmp_path)
