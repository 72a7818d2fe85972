"""`nbsmt sweep` on real Dask clusters: a local cluster gives the serial table, a real
scheduler survives a killed worker, failures and interrupts are recorded, reruns skip."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nbsmt.cli import main
from nbsmt.sweep import metrics as sweep_metrics
from nbsmt.sweep.grid import DesignPoint, grid
from nbsmt.sweep.report import pareto_front, with_ratios
from nbsmt.core.policy import Policy

BIN = Path(sys.executable).parent


def _rows(out: Path) -> list[dict]:
    return json.loads((out / "sweep.json").read_text())["rows"]


def _sweep_cmd(*args) -> list[str]:
    return [str(BIN / "nbsmt"), "sweep", *map(str, args)]


def test_grid_collapses_1t_points_and_adds_baselines():
    points = grid(sizes=[4], threads=[2, 4], windows=[2, 5], rounding=["rne"])
    names = [p.name for p in points]
    assert names == ["4x4-1t", "4x4-2t", "4x4-2t-w5", "4x4-4t", "4x4-4t-w5"]
    assert all(p.baseline() in points for p in points)
    with pytest.raises(ValueError, match="windows must be one of 2, 3, 5, not 4"):
        grid(sizes=[4], threads=[2], windows=[4])


def test_ratios_and_pareto_front_by_hand():
    base, a, b, c = (DesignPoint(8, 1), DesignPoint(8, 2), DesignPoint(8, 4),
                     DesignPoint(8, 4, Policy(windows=5)))
    rows = [{"name": p.name, "area_ge": g, "cycles": cy}
            for p, g, cy in ((base, 100.0, 1000), (a, 140.0, 500), (b, 250.0, 260),
                             (c, 260.0, 260))]
    rows = with_ratios([base, a, b, c], rows)
    assert [r["area_ratio"] for r in rows] == [1.0, 1.4, 2.5, 2.6]
    assert [round(r["speedup"], 4) for r in rows] == [1.0, 2.0, 3.8462, 3.8462]
    # c has the same speedup as b at more area: dominated; the rest trade area for speed
    assert [r["name"] for r in pareto_front(rows)] == ["8x8-1t", "8x8-2t", "8x8-4t"]
    # ... unless it is more accurate: with the error as a third objective it joins the front
    for r, err in zip(rows, (0.0, 0.03, 0.08, 0.02)):
        r["rel_frobenius"] = err
    assert [r["name"] for r in pareto_front(rows)] == ["8x8-1t", "8x8-2t", "8x8-4t", "8x8-4t-w5"]
    rows[3]["rel_frobenius"] = 0.09
    assert [r["name"] for r in pareto_front(rows)] == ["8x8-1t", "8x8-2t", "8x8-4t"]


def test_same_depth_and_energy_ratios_by_hand():
    base, one_p2, four_p2 = DesignPoint(8, 1), DesignPoint(8, 1, pipeline=2), DesignPoint(8, 4, pipeline=2)
    rows = [{"name": p.name, "cycles": cy, "critical_path_ns": cp, "pj_per_mac": e,
             "edp_pj_ns_per_mac": e * cy * cp}
            for p, cy, cp, e in ((base, 1000, 5.0, 10.0), (one_p2, 1004, 4.0, 11.0),
                                 (four_p2, 260, 5.0, 6.6))]
    rows = with_ratios([base, one_p2, four_p2], rows)
    four = rows[2]
    # against the depth-0 OS-SA at its clock, and against the 1T at depth 2 at each one's own
    assert four["time_speedup"] == pytest.approx(1000 * 5.0 / (260 * 5.0))
    assert four["time_speedup_same_depth"] == pytest.approx(1004 * 4.0 / (260 * 5.0))
    assert four["energy_ratio"] == pytest.approx(0.66)
    assert four["energy_ratio_same_depth"] == pytest.approx(0.6)
    assert four["edp_ratio_same_depth"] == pytest.approx(0.6 * 260 * 5.0 / (1004 * 4.0))
    assert rows[1]["energy_ratio_same_depth"] == 1.0


def test_grid_has_a_library_axis_with_a_baseline_on_each():
    points = grid(sizes=[2], threads=[4], pdks=["osu018", "sky130hd"])
    assert [p.name for p in points] == ["2x2-1t", "2x2-4t", "2x2-1t@sky130hd", "2x2-4t@sky130hd"]
    assert points[3].baseline() == points[2]
    assert DesignPoint(2, 4, pdk="/x/sky130_fd_sc_hd__tt_025C_1v80.lib.gz").name == \
        "2x2-4t@sky130_fd_sc_hd__tt_025C_1v80"


def test_timing_and_energy_on_two_libraries(tmp_path, monkeypatch):
    """--pdk as a sweep axis and the energy metric: each library's OS-SA is its points'
    baseline; the columns agree with each other (energy x delay = pJ/MAC x cycles x the
    timed clock); SKY130's 130 nm cells spend less per MAC than OSU's 180 nm ones."""
    from nbsmt.synth import pdk
    if pdk.find_files(pdk.KNOWN["sky130hd"]) is None:
        pytest.skip(f"no SKY130 library: looked in {pdk.where_to_look(pdk.KNOWN['sky130hd'])}")
    monkeypatch.setenv("NBSMT_BUILD_DIR", str(tmp_path / "build"))
    assert main(["sweep", "--sizes", "1", "--threads", "1", "4", "--metrics", "cycles,timing,energy",
                 "--pdk", "osu018", "sky130hd", "--workers", "0", "--no-cache",
                 "--out", tmp_path / "out"]) == 0
    rows = {r["name"]: r for r in _rows(tmp_path / "out")}
    assert list(rows) == ["1x1-1t", "1x1-4t", "1x1-1t@sky130hd", "1x1-4t@sky130hd"]
    for lib in ("", "@sky130hd"):
        one, four = rows[f"1x1-1t{lib}"], rows[f"1x1-4t{lib}"]
        for r in (one, four):
            assert r["error"] is None
            assert r["gemm_time_ns"] == pytest.approx(r["cycles"] * r["critical_path_ns"])
            assert r["edp_pj_ns_per_mac"] == pytest.approx(r["pj_per_mac"] * r["gemm_time_ns"])
            assert 0 < r["leakage_share"] < 0.01
        assert four["energy_ratio"] == pytest.approx(four["pj_per_mac"] / one["pj_per_mac"])
        assert four["time_speedup_same_depth"] == pytest.approx(
            one["cycles"] * one["critical_path_ns"] / (four["cycles"] * four["critical_path_ns"]))
        assert four["time_speedup_same_depth"] > 1.5
    assert rows["1x1-1t@sky130hd"]["pj_per_mac"] < rows["1x1-1t"]["pj_per_mac"]


def test_local_cluster_gives_the_serial_table(tmp_path, monkeypatch):
    args = ["sweep", "--sizes", "2", "--threads", "1", "2", "--no-cache"]
    monkeypatch.setenv("NBSMT_BUILD_DIR", str(tmp_path / "build-serial"))
    assert main([*args, "--workers", "0", "--out", tmp_path / "serial"]) == 0
    monkeypatch.setenv("NBSMT_BUILD_DIR", str(tmp_path / "build-cluster"))
    assert main([*args, "--workers", "2", "--out", tmp_path / "cluster"]) == 0
    serial, cluster = _rows(tmp_path / "serial"), _rows(tmp_path / "cluster")
    assert serial == cluster
    assert [r["name"] for r in serial] == ["2x2-1t", "2x2-2t"]
    two = serial[1]
    assert two["error"] is None and 1.2 < two["area_ratio"] < 1.6 and two["speedup"] > 1.99
    assert two["rel_frobenius"] > 0 and serial[0]["rel_frobenius"] == 0
    for name in ("sweep.md", "sweep.csv", "pareto.png"):
        assert (tmp_path / "cluster" / name).stat().st_size > 0


def test_a_failing_task_is_recorded_and_counted_in_the_exit_status(tmp_path, monkeypatch,
                                                                   capsys):
    real = sweep_metrics.METRICS["cycles"]

    def cycles_failing_for_4t(point, workload):
        if point.threads == 4:
            raise RuntimeError("model exploded\nsecond line")
        return real(point, workload)

    monkeypatch.setitem(sweep_metrics.METRICS, "cycles", cycles_failing_for_4t)
    status = main(["sweep", "--sizes", "2", "3", "--threads", "2", "4", "--metrics", "cycles",
                   "--workers", "0", "--no-cache", "--out", tmp_path / "out"])
    assert status == 2 + 2   # two 4T points failed
    rows = {r["name"]: r for r in _rows(tmp_path / "out")}
    assert rows["2x2-4t"]["error"] == "cycles: RuntimeError: model exploded"
    assert rows["3x3-2t"]["error"] is None and rows["3x3-2t"]["speedup"] > 1.9
    assert "2 of 6 design points failed" in capsys.readouterr().err


def test_rerun_reads_every_result_from_the_cache(tmp_path, capsys):
    args = ["sweep", "--sizes", "3", "--threads", "1", "4", "--metrics", "cycles,accuracy",
            "--workers", "0", "--cache", tmp_path / "cache"]
    assert main([*args, "--out", tmp_path / "a"]) == 0
    first = capsys.readouterr().out
    assert main([*args, "--out", tmp_path / "b"]) == 0
    second = capsys.readouterr().out
    assert "(cached)" not in first and second.count("(cached)") == 2
    assert _rows(tmp_path / "a") == _rows(tmp_path / "b")


@pytest.mark.parametrize("argv, message", [
    (["--threads", "3"], "invalid choice: 3"),
    (["--sizes", "0"], "--sizes must be between 1 and 64, not 0"),
    (["--windows", "4"], "invalid choice: 4"),
    (["--metrics", "power"], "unknown metric 'power'"),
    (["--metrics", "energy", "--workload", "digits"], "--metrics energy prices a GEMM workload"),
    (["--pdk", "tsmc5"], "unknown library 'tsmc5'"),
    (["--workload", "nothing"], "--workload must be demo, digits or A.npy,W.npy"),
    (["--workers", "-1"], "--workers must be at least 0, not -1"),
    (["--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "2"],   # nobody listens
     "no Dask scheduler answered at tcp://127.0.0.1:9 within 2 s (--scheduler-timeout)"),
    (["--scheduler", "foo://127.0.0.1:9"],
     "cannot reach the Dask scheduler at foo://127.0.0.1:9: unknown address scheme 'foo'"),
    (["--scheduler-timeout", "0"], "--scheduler-timeout must be a number of seconds in (0, 3600]"),
    (["--scheduler-timeout", "nan"], "--scheduler-timeout must be a number of seconds"),
])
def test_bad_grid_or_scheduler_is_one_line_exit_2(tmp_path, argv, message):
    proc = subprocess.run(_sweep_cmd("--out", tmp_path / "out", *argv), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _one_line_error(proc, message: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr, \
        proc.stderr


def test_a_listener_that_is_not_dask_is_one_line_within_the_timeout(tmp_path):
    """A port that accepts the connection and never answers (the synchronous Dask client
    waits on it forever): exit 2 with one line once --scheduler-timeout has passed."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    try:
        start = time.monotonic()
        proc = subprocess.run(_sweep_cmd("--scheduler", address, "--scheduler-timeout", "2",
                                         "--out", tmp_path / "out"),
                              capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - start
    finally:
        server.close()
    _one_line_error(proc, f"no Dask scheduler answered at {address} within 2 s")
    assert accepted, "the sweep never connected: the case tested nothing"
    assert elapsed < 30, elapsed   # the deadline held (imports take a few seconds)
    assert not (tmp_path / "out").exists()


def _start_scheduler(tmp_path: Path, env: dict) -> tuple[subprocess.Popen, str]:
    sched_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(sched_file)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(sched_file.exists, 60, "the scheduler file")
    _wait_for(lambda: "address" in sched_file.read_text(), 10, "the scheduler address")
    address = json.loads(sched_file.read_text())["address"]
    assert address.startswith("tcp://127.0.0.1:")
    return scheduler, address


def _start_worker(address: str, name: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny",
         "--no-dashboard", "--host", "127.0.0.1", "--name", name],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_scheduler_without_workers_then_lost_mid_sweep(tmp_path):
    """A real `dask scheduler` with no worker: one line once --scheduler-timeout has
    passed. Then a worker joins, and the scheduler is killed once the sweep is under way:
    one line naming what was lost and where the finished points are, no report."""
    env = {**os.environ, "NBSMT_BUILD_DIR": str(tmp_path / "build")}
    procs = []
    try:
        scheduler, address = _start_scheduler(tmp_path, env)
        procs.append(scheduler)
        alone = subprocess.run(_sweep_cmd("--scheduler", address, "--scheduler-timeout", "2",
                                          "--out", tmp_path / "out"),
                               env=env, capture_output=True, text=True, timeout=60)
        _one_line_error(alone, f"no worker joined the Dask scheduler at {address} within 2 s")

        procs.append(_start_worker(address, "w0", env))
        cache = tmp_path / "cache"
        sweep = subprocess.Popen(
            _sweep_cmd("--scheduler", address, "--sizes", "2", "3", "4", "--threads", "1", "2",
                       "4", "--metrics", "area", "--cache", cache, "--out", tmp_path / "out"),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(sweep)
        first = sweep.stdout.readline()
        assert first.startswith("[1/9]"), first + sweep.stderr.read()
        scheduler.kill()
        out, err = sweep.communicate(timeout=120)
        lines = err.strip().splitlines()
        assert sweep.returncode == 2, err
        assert "Traceback" not in err and len(lines) == 2, err   # the "sweep: N" line, then it
        assert lines[-1].startswith("nbsmt sweep: error: lost the Dask scheduler"), err
        assert "of 9 tasks lost" in lines[-1] and f"cached in {cache}" in lines[-1], err
        assert not (tmp_path / "out").exists()
        assert any(cache.iterdir())   # the finished points are kept for the rerun
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_real_scheduler_survives_a_killed_worker(tmp_path):
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1; one worker is
    killed (SIGKILL) once the sweep is under way, and every point still completes."""
    env = {**os.environ, "NBSMT_BUILD_DIR": str(tmp_path / "build")}
    procs = []
    try:
        scheduler, address = _start_scheduler(tmp_path, env)
        procs.append(scheduler)
        workers = [_start_worker(address, f"w{i}", env) for i in range(2)]
        procs += workers
        sweep = subprocess.Popen(
            _sweep_cmd("--scheduler", address, "--sizes", "2", "3", "--threads", "1", "2", "4",
                       "--metrics", "area,cycles", "--no-cache", "--out", tmp_path / "out"),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(sweep)
        first = sweep.stdout.readline()   # one point done: the sweep is under way
        assert first.startswith("[1/6]"), first + sweep.stderr.read()
        workers[0].kill()
        out, err = sweep.communicate(timeout=600)
        assert sweep.returncode == 0, err
        rows = _rows(tmp_path / "out")
        assert len(rows) == 6 and all(r["error"] is None for r in rows)
        assert all(r["area_ratio"] and r["speedup"] for r in rows)
        assert workers[0].poll() is not None   # it really died
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_ctrl_c_stops_and_keeps_finished_points(tmp_path):
    """Ctrl-C as a terminal sends it (to the whole process group) during a local-cluster
    sweep: exit 130 with one line, no process or temporary folder left, finished points
    cached for the rerun."""
    cmd = _sweep_cmd("--sizes", "2", "3", "4", "--threads", "1", "2", "4", "--metrics", "area",
                     "--workers", "2", "--cache", tmp_path / "cache", "--out", tmp_path / "out")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "NBSMT_BUILD_DIR": str(tmp_path / "build"), "TMPDIR": str(scratch)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    first = proc.stdout.readline()
    assert first.startswith("[1/9]"), first + proc.stderr.read()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("nbsmt sweep: interrupted;") and "Traceback" not in err, err
    assert len(lines) == 2   # the "sweep: N design points" line, then the interrupt line
    assert not (tmp_path / "out").exists()
    def leftover():
        return subprocess.run(["pgrep", "-a", "-s", str(proc.pid)], capture_output=True,
                              text=True).stdout
    # multiprocessing's resource tracker leaves once the client's pipe closes
    _wait_for(lambda: leftover() == "", 10, "the sweep's processes to end")
    assert list(scratch.iterdir()) == []
    done = first.split(":")[0].split("] ")[1]
    rerun = subprocess.run([*cmd[:-1], tmp_path / "out2", "--sizes", done.split("x")[0],
                            "--threads", done.split("-")[1].rstrip("t")],
                           env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{done}: " in rerun.stdout and f"(cached)" in rerun.stdout.split(done)[1].splitlines()[0]


def test_local_workers_keep_glibcs_adaptive_malloc():
    """Dask's nanny default MALLOC_TRIM_THRESHOLD_=65536 halved the model emulation's
    speed in the workers (sweep/cluster.py); our local workers start without it."""
    import os

    from nbsmt.sweep.cluster import cluster_client

    with cluster_client(None, 1, 30.0) as (client, _):
        seen = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_", "unset"))
    assert list(seen.values()) == ["unset"], seen
