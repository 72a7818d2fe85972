"""Run a cocotb test module against generated Verilog, from pytest or a script.

One build folder per parameter set (`build/sim/<simulator>/<build_name>/`), rebuilt only
when the Verilog text or the build arguments change, so a parametrized regression pays
each simulator's compile once and later runs only simulate. Parameters travel to the
cocotb module as environment variables (`tb_config()` reads the JSON one back), and a
failing cocotb test becomes a Python exception carrying cocotb's own failure message.

    xml = run_cocotb(verilog=text, toplevel="nbsmt_pe_t2", test_module="pe_test",
                     simulator="icarus", build_name="pe_t2_default",
                     env={"NBSMT_TB_CONFIG": {"threads": 2, ...}})
    check_results(xml)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from nbsmt.core.cache import build_root
from nbsmt.core.fileio import fresh_path, new_mode
from nbsmt.core.policy import check_choice, check_int
from nbsmt.core.toolchain import SIMULATORS, missing_simulator, simulator_environment

#: Environment variable holding the JSON test configuration (see `tb_config`).
CONFIG_ENV = "NBSMT_TB_CONFIG"

# Extra simulator build flags, kept minimal:
# - Verilator: only the two width warnings, which Verilator enables by default and which
#   Amaranth's Verilog always triggers (operands keep their own width and rely on
#   Verilog's implicit extension/truncation; Amaranth has already sized the arithmetic).
#   Every other default warning stays fatal; `python -m nbsmt.hw.lint` is the -Wall check.
# - Icarus: -g2005 after the runner's own -g2012 (the last one wins): Verilog-2005 gives
#   declaration initialisers a time-0 change event, which Verilog written for it relies
#   on. The generated Verilog does not need it (`nbsmt.hw.generate`); waveform builds
#   keep -g2012 because cocotb's dump module is SystemVerilog.
BUILD_ARGS: dict[str, list[str]] = {
    "icarus": ["-g2005"],
    # cocotb's runner makes every signal public (--public-flat-rw), which keeps Verilator
    # from optimising across them (5.9x slower on 8x8, 16x slower builds on 16x16); the
    # benches touch only the top-level ports, which `public_ports_config` makes public.
    # Verilator's merge_cond pass alone takes 43 of the 54 s that verilating a 16x16 array
    # takes, and buys no measurable speed (natively 50.8k cycles/s with it, 50.5k without).
    "verilator": ["-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "--no-public-flat-rw", "-fno-merge-cond"],
}

# 1 ns clock resolution; the benches use a 10 ns clock.
TIMESCALE = ("1ns", "1ps")

_STAMP = ".nbsmt-build.json"
_MAX_BUILDS = 4   # a build that another run keeps replacing (a different key) gives up


class SimulationFailure(AssertionError):
    """The simulation ran and failed: its bench or player reported it (e.g. no progress)."""


class CocotbFailure(SimulationFailure):
    """A cocotb test reported failure (or the simulation produced no results)."""


def _module_name(test_module: str) -> str:
    return test_module if "." in test_module else f"nbsmt.tb.{test_module}"


def _env_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def build_args(simulator: str, waves: bool) -> list[str]:
    """The extra build flags of `simulator` (see BUILD_ARGS)."""
    if simulator == "icarus" and waves:
        return []
    return BUILD_ARGS[simulator]


def _binary(simulator: str, build_dir: Path, toplevel: str) -> Path:
    """The file a build of `simulator` produces and a run executes."""
    return build_dir / ("sim.vvp" if simulator == "icarus" else toplevel)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_build(build_dir: Path, key: str, binary_name: str) -> dict | None:
    """The stamp of a complete build of `key` in `build_dir`, or None.

    Complete means the stamp names this key and the binary has the size and hash
    recorded when it was built and ran: a killed link (0-byte or truncated binary), a
    missing binary or a stamp without a binary all count as no build.
    """
    try:
        stamp = json.loads((build_dir / _STAMP).read_text())
        binary = build_dir / binary_name
        good = (isinstance(stamp, dict) and stamp.get("key") == key
                and stamp.get("binary") == binary_name
                and binary.stat().st_size == stamp.get("size")
                and _file_digest(binary) == stamp.get("sha256"))
    except (OSError, ValueError):
        return None
    return stamp if good else None


def smoke_test(simulator: str, binary: Path) -> None:
    """Run the fresh binary once without cocotb; raise RuntimeError if it cannot run.

    vvp runs the design to its end (nothing drives the clock, so at once); a Verilator
    binary (its shared libraries loaded) prints its version and stops (status 1) before
    cocotb starts.
    """
    cmd = (["vvp", "-n", str(binary)] if simulator == "icarus"
           else [str(binary), "+verilator+version"])
    try:
        proc = subprocess.run(cmd, cwd=binary.parent, capture_output=True, text=True,
                              timeout=60)
    except OSError as exc:
        raise RuntimeError(f"the fresh build {binary} does not run: {exc}") from None
    ok = (proc.returncode == 0 if simulator == "icarus"
          else proc.returncode in (0, 1) and "Version: Verilator" in proc.stdout + proc.stderr)
    if not ok:
        raise RuntimeError(f"the fresh build {binary} does not run (status {proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[:200]}")


@contextlib.contextmanager
def _locked(path: Path, how: int):
    """Hold flock `how` (fcntl.LOCK_SH or LOCK_EX) on the lock file `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, how)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def top_ports(verilog: str, toplevel: str) -> list[str]:
    """The port names of module `toplevel` in `verilog` (Verilog-2001 port list)."""
    match = re.search(rf"^module\s+{re.escape(toplevel)}\s*\(([^;]*)\)\s*;", verilog, re.M)
    if match is None:
        raise ValueError(f"module {toplevel} not found in the Verilog")
    return [p.strip().split()[-1].lstrip("\\") for p in match.group(1).split(",") if p.strip()]


def public_ports_config(verilog: str, toplevel: str) -> str:
    """A Verilator configuration file (.vlt) that makes the top module's ports, and only
    those, readable and writable through VPI: all that cocotb needs of the benches."""
    lines = ["`verilator_config"]
    lines += [f'public_flat_rw -module "{toplevel}" -var "{port}"'
              for port in top_ports(verilog, toplevel)]
    return "\n".join(lines) + "\n"


def _private_tmpdir(runner, folder: Path) -> None:
    """Point the build's TMPDIR at `folder`: iverilog's driver and the C++ compiler keep
    scratch files there, which a killed build would otherwise leave in the user's /tmp.
    `folder` lies inside the temporary build folder, so it goes with it.

    cocotb's runner copies os.environ into `runner.env` when a build starts (its
    `_set_env_build`); the extra variable is added at that point, for this runner only.
    """
    folder.mkdir()
    copy_environment = runner._set_env_build

    def set_env_build():
        copy_environment()
        runner.env["TMPDIR"] = str(folder)
    runner._set_env_build = set_env_build


def _build(compile_into, *, build_dir: Path, key: str, binary_name: str, smoke) -> None:
    """Build into a temporary folder beside `build_dir` (`compile_into(folder)` leaves
    `binary_name` there), check the binary with `smoke(binary)`, then rename the folder
    in place.

    Called with the configuration's exclusive lock held, so any temporary or old folder
    of this configuration still lying around is left over from a killed build.
    """
    parent, name = build_dir.parent, build_dir.name
    for stale in [*parent.glob(f".{name}.build-*"), *parent.glob(f".{name}.old-*")]:
        shutil.rmtree(stale, ignore_errors=True)
    tmp, old = fresh_path(parent, f".{name}.build-"), None
    try:
        tmp.mkdir(mode=new_mode(directory=True))
        os.chmod(tmp, new_mode(directory=True))   # exact, whatever the umask
        compile_into(tmp)
        binary = tmp / binary_name
        if not binary.is_file():
            raise RuntimeError(f"the build left no {binary_name} in {tmp}")
        smoke(binary)
        stamp = {"key": key, "binary": binary_name, "size": binary.stat().st_size,
                 "sha256": _file_digest(binary)}
        (tmp / _STAMP).write_text(json.dumps(stamp))   # last: the build is complete
        if build_dir.exists():
            old = fresh_path(parent, f".{name}.old-")
            old.mkdir(mode=0o700)
            os.replace(build_dir, old / name)
        os.replace(tmp, build_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def cached_build(build_dir: Path, *, key: str, binary_name: str, compile_into, smoke,
                 distrust: dict | None = None):
    """Yield (stamp, built_now) with a verified build of `key` in `build_dir`, shared-locked
    (`_build` makes it when there is none: `compile_into`, `smoke` as there).

    Runs share the configuration's lock; a build takes it exclusively, so concurrent
    runs of one configuration build it once and never run a half-built folder.
    `distrust`: the stamp of a build whose run failed to start; it is rebuilt.
    """
    lock = build_dir.parent / f".{build_dir.name}.lock"
    built = False
    for _ in range(_MAX_BUILDS):
        with _locked(lock, fcntl.LOCK_SH):
            stamp = verified_build(build_dir, key, binary_name)
            if stamp is not None and stamp != distrust:
                yield stamp, built
                return
        with _locked(lock, fcntl.LOCK_EX):
            stamp = verified_build(build_dir, key, binary_name)
            if stamp is None or stamp == distrust:
                _build(compile_into, build_dir=build_dir, key=key, binary_name=binary_name,
                       smoke=smoke)
                built = True
            distrust = None
    raise RuntimeError(f"{build_dir} was rebuilt {_MAX_BUILDS} times by concurrent runs of "
                       f"different builds (waves and no waves?); run them one after another")


def _cocotb_compiler(runner, *, verilog: str, toplevel: str, simulator: str, waves: bool):
    """`compile_into` for `cached_build`: the cocotb runner's build of `verilog`."""
    def compile_into(folder: Path) -> None:
        source = folder / f"{toplevel}.v"
        source.write_text(verilog)
        sources = [source]
        if simulator == "verilator":
            sources.append(folder / f"{toplevel}.vlt")
            sources[-1].write_text(public_ports_config(verilog, toplevel))
        _private_tmpdir(runner, folder / "tmp")
        runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=folder,
                     build_args=build_args(simulator, waves), timescale=TIMESCALE,
                     waves=waves, always=True)
        shutil.rmtree(folder / "tmp")
    return compile_into


def run_cocotb(*, verilog: str, toplevel: str, test_module: str, simulator: str,
               build_name: str, env: dict | None = None, waves: bool = False,
               testcase=None, plusargs: list[str] = ()) -> Path:
    """Build `verilog` (if it changed) and run cocotb module `test_module` on `toplevel`.

    test_module: a module of the `nbsmt.tb` package ("pe_test") or a dotted module name.
    build_name: names the build folder; give every parameter set its own.
    env: extra environment for the simulation; non-string values are JSON-encoded, so
        `env={CONFIG_ENV: {...}}` pairs with `tb_config()` inside the test module.
    testcase: run only this cocotb test (name or list of names); default all.
    plusargs: `+name=value` arguments for the simulation ($value$plusargs).

    Safe under concurrency and kills (see `cached_build`, `_build`); a cached build whose
    run fails to start is rebuilt once. Returns the results xml path (the last run's
    `results.xml` in the build folder). Raises CocotbFailure if a test failed.
    """
    from cocotb_tools.runner import get_runner

    check_choice("simulator", simulator, SIMULATORS)
    simulator_environment()
    build_dir = build_root() / "sim" / simulator / build_name
    key = hashlib.sha256(json.dumps(
        [verilog, toplevel, simulator, build_args(simulator, waves), TIMESCALE, bool(waves),
         public_ports_config(verilog, toplevel) if simulator == "verilator" else None]
    ).encode()).hexdigest()
    runner = get_runner(simulator)
    extra_env = {k: _env_text(v) for k, v in (env or {}).items()}
    distrust = None
    while True:
        with cached_build(build_dir, key=key, binary_name=_binary(simulator, build_dir,
                                                                   toplevel).name,
                          compile_into=_cocotb_compiler(runner, verilog=verilog,
                                                        toplevel=toplevel, simulator=simulator,
                                                        waves=waves),
                          smoke=lambda binary: smoke_test(simulator, binary),
                          distrust=distrust) as (stamp, built_now):
            ran = _run(runner, build_dir, test_module=test_module, toplevel=toplevel,
                       extra_env=extra_env, waves=waves, testcase=testcase,
                       plusargs=[*plusargs, *_wave_plusargs(simulator, build_dir, toplevel,
                                                            waves)])
        if ran is not None:
            return ran
        if built_now or distrust is not None:
            raise CocotbFailure(f"the simulation of {toplevel} ended without results, see {build_dir}")
        distrust = stamp   # the cached build is broken after all: rebuild it, once


def _wave_plusargs(simulator: str, build_dir: Path, toplevel: str, waves: bool) -> list[str]:
    """cocotb's Icarus dump module names its file by the folder it was built in, which was
    a temporary one: point it at the build folder."""
    if simulator == "icarus" and waves:
        return [f"+dumpfile_path={build_dir / f'{toplevel}.fst'}"]
    return []


def _run(runner, build_dir: Path, *, test_module, toplevel, extra_env, waves,
         testcase, plusargs) -> Path | None:
    """One simulation; its results xml, or None when the simulator did not run at all."""
    results, tmp = build_dir / "results.xml", fresh_path(build_dir, ".results-", ".xml")
    try:
        try:
            runner.test(test_module=_module_name(test_module), hdl_toplevel=toplevel,
                        hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=build_dir,
                        results_xml=str(tmp), extra_env=extra_env, waves=waves,
                        testcase=testcase, timescale=TIMESCALE, plusargs=plusargs)
        except SystemExit as exc:
            # Under pytest the cocotb runner exits on failure; report cocotb's message instead.
            if not tmp.exists():
                return None
            check_results(tmp)
            raise CocotbFailure(f"simulation of {toplevel} exited with status {exc.code}, "
                                f"see {build_dir}") from None
        except (RuntimeError, OSError):   # the simulator command itself failed
            if not tmp.exists():
                return None
            raise
        if not tmp.exists():
            return None
        check_results(tmp)
        return results
    finally:
        if tmp.exists():
            os.replace(tmp, results)


def check_results(xml_path) -> int:
    """Raise CocotbFailure with each failing test's message; return the number of tests."""
    xml_path = Path(xml_path)
    if not xml_path.exists():
        raise CocotbFailure(f"no cocotb results at {xml_path}: the simulation did not run")
    root = ET.parse(xml_path).getroot()
    failures, count = [], 0
    for case in root.iter("testcase"):
        count += 1
        for tag in ("failure", "error"):
            for node in case.iter(tag):
                text = node.get("message") or node.text or tag
                failures.append(f"{case.get('name')}: {text.strip()}")
    if failures:
        raise CocotbFailure("\n".join(failures))
    if count == 0:
        raise CocotbFailure(f"no cocotb tests ran ({xml_path})")
    return count


def tb_config() -> dict:
    """Inside a cocotb test module: the JSON configuration run_cocotb passed in CONFIG_ENV."""
    return json.loads(os.environ[CONFIG_ENV])


def env_int(name: str, default: int, low: int, high: int | None = None) -> int:
    """Inside a pytest: the integer test knob `name` from the environment, else `default`.

    A value that is not an integer in [low, high] fails the test with one line naming
    the variable (`check_int`'s wording), not a traceback.
    """
    import pytest

    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        value = text
    try:
        return check_int(name, value, low, high)
    except (TypeError, ValueError) as exc:
        pytest.fail(str(exc), pytrace=False)


def require_simulator(name: str) -> None:
    """Inside a pytest: fail when simulator `name` cannot run here.

    A missing simulator is a broken setup (`make setup` installs both), so it fails
    rather than skips; set NBSMT_ALLOW_MISSING_SIMULATORS=1 to skip instead on a machine
    that deliberately lacks one.
    """
    import pytest

    reason = missing_simulator(name)
    if reason is None:
        return
    if os.environ.get("NBSMT_ALLOW_MISSING_SIMULATORS") == "1":
        pytest.skip(reason)
    pytest.fail(f"{reason} (set NBSMT_ALLOW_MISSING_SIMULATORS=1 to skip)", pytrace=False)
