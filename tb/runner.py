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

import hashlib
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from nbsmt.cache import build_root
from nbsmt.fileio import write_text
from nbsmt.policy import check_choice
from nbsmt.toolchain import SIMULATORS, missing_simulator, simulator_environment

#: Environment variable holding the JSON test configuration (see `tb_config`).
CONFIG_ENV = "NBSMT_TB_CONFIG"

# Extra simulator build flags, kept minimal:
# - Verilator: only the two width warnings, which Verilator enables by default and which
#   Amaranth's Verilog always triggers (operands keep their own width and rely on
#   Verilog's implicit extension/truncation; Amaranth has already sized the arithmetic).
#   Every other default warning stays fatal; `python -m nbsmt.hw.lint` is the -Wall check.
# - Icarus: none beyond the runner's own `-g2012`.
BUILD_ARGS: dict[str, list[str]] = {
    "icarus": [],
    "verilator": ["-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC"],
}

# 1 ns clock resolution; the benches use a 10 ns clock.
TIMESCALE = ("1ns", "1ps")


class CocotbFailure(AssertionError):
    """A cocotb test reported failure (or the simulation produced no results)."""


def _module_name(test_module: str) -> str:
    return test_module if "." in test_module else f"nbsmt.tb.{test_module}"


def _env_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def run_cocotb(*, verilog: str, toplevel: str, test_module: str, simulator: str,
               build_name: str, env: dict | None = None, waves: bool = False,
               testcase=None) -> Path:
    """Build `verilog` (if it changed) and run cocotb module `test_module` on `toplevel`.

    test_module: a module of the `nbsmt.tb` package ("pe_test") or a dotted module name.
    build_name: names the build folder; give every parameter set its own.
    env: extra environment for the simulation; non-string values are JSON-encoded, so
        `env={CONFIG_ENV: {...}}` pairs with `tb_config()` inside the test module.
    testcase: run only this cocotb test (name or list of names); default all.
    Returns the results xml path. Raises CocotbFailure if a test failed.
    """
    from cocotb_tools.runner import get_runner

    check_choice("simulator", simulator, SIMULATORS)
    simulator_environment()
    build_dir = build_root() / "sim" / simulator / build_name
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{toplevel}.v"
    build_args = BUILD_ARGS[simulator]
    key = hashlib.sha256(json.dumps(
        [verilog, toplevel, simulator, build_args, TIMESCALE, bool(waves)]).encode()).hexdigest()
    stamp = build_dir / ".nbsmt-build-hash"

    runner = get_runner(simulator)
    fresh = stamp.exists() and stamp.read_text() == key
    if not fresh:
        stamp.unlink(missing_ok=True)
        write_text(source, verilog)
        runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=build_dir,
                     build_args=build_args, timescale=TIMESCALE, waves=waves, always=True)
        write_text(stamp, key)

    results = build_dir / "results.xml"
    extra_env = {k: _env_text(v) for k, v in (env or {}).items()}
    try:
        xml = runner.test(test_module=_module_name(test_module), hdl_toplevel=toplevel,
                          hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=build_dir, results_xml=str(results),
                          extra_env=extra_env, waves=waves, testcase=testcase,
                          timescale=TIMESCALE)
    except SystemExit as exc:
        # Under pytest the cocotb runner exits on failure; report cocotb's message instead.
        check_results(results)
        raise CocotbFailure(f"simulation of {toplevel} exited with status {exc.code}, "
                            f"see {build_dir}") from None
    check_results(xml)
    return Path(xml)


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
