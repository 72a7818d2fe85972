"""`nbsmt gemm` end to end: bit-exact output, stats file, and one-line rejection of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nbsmt.host.stimulus import FAMILIES, activations, weights
from .reference import ref_gemm

NBSMT = [sys.executable, "-m", "nbsmt.cli"]


def run(*args, cwd=None):
    return subprocess.run([*NBSMT, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


@pytest.fixture
def operands(tmp_path):
    rng = np.random.default_rng(2024)
    a = activations("sparse", rng, (6, 13))
    w = weights("uniform", rng, (13, 5))
    np.save(tmp_path / "A.npy", a)
    np.save(tmp_path / "W.npy", w)
    return tmp_path, a, w


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("flags, threads, mode, policy", [
    ([], 2, 2, {}),
    (["--mode", "4", "--zero-skip", "act", "--windows", "5"], 4, 4,
     {"zero_skip": "act", "windows": 5}),
    (["--mode", "2", "--rounding", "trunc", "--windows", "3", "--acc-bits", "20"], 4, 2,
     {"rounding": "trunc", "windows": 3, "acc_bits": 20}),
    (["--mode", "1"], 1, 1, {}),
])
def test_gemm_cli_is_bit_exact_with_reference(tmp_path, family, flags, threads, mode, policy):
    rng = np.random.default_rng(len(family) * 31 + threads)
    a, w = activations(family, rng, (5, 11)), weights(family, rng, (11, 4))
    np.save(tmp_path / "A.npy", a.astype(np.uint8))
    np.save(tmp_path / "W.npy", w.astype(np.int8))  # narrow dtypes are accepted
    out, stats = tmp_path / "C.npy", tmp_path / "S.json"
    r = run("gemm", "--a", tmp_path / "A.npy", "--w", tmp_path / "W.npy", "--threads", threads,
            *flags, "--out", out, "--stats", stats)
    assert r.returncode == 0, r.stderr
    c = np.load(out)
    want, want_stats = ref_gemm(a.tolist(), w.tolist(), threads, mode, **policy)
    assert c.dtype == np.int64 and c.tolist() == want
    s = json.loads(stats.read_text())
    assert s["threads"] == threads and s["mode"] == mode
    for key, value in want_stats.items():
        assert s[key] == value


# Files written into the test folder, by name: each is wrong in one way.
BAD_FILES = {
    "A3.npy": np.zeros((2, 3, 4), dtype=np.int64),
    "Afloat.npy": np.full((4, 5), 0.5),
    "Abig.npy": np.full((4, 5), 256),
    "Aneg.npy": np.full((4, 5), -1),
    "Wbig.npy": np.full((5, 3), 128),
    "Wk.npy": np.ones((6, 3), dtype=np.int64),
    "Aempty.npy": np.zeros((0, 5), dtype=np.int64),
}

# case: (A file, W file, further flags, the message the one stderr line must contain)
BAD = {
    "missing file": ("nope.npy", "W.npy", ["--threads", 2], "nope.npy: no such file"),
    "not npy": ("junk.npy", "W.npy", ["--threads", 2], "not a readable .npy array"),
    "wrong rank": ("A3.npy", "W.npy", ["--threads", 2], "expected a 2-D array, got shape (2, 3, 4)"),
    "empty": ("Aempty.npy", "W.npy", ["--threads", 2], "empty array"),
    "non-integer": ("Afloat.npy", "W.npy", ["--threads", 2], "dtype float64 is not an integer type"),
    "activation range": ("Abig.npy", "W.npy", ["--threads", 2],
                         "value 256 at (0, 0) is outside [0, 255]"),
    "negative activation": ("Aneg.npy", "W.npy", ["--threads", 1], "is outside [0, 255]"),
    "weight range": ("A.npy", "Wbig.npy", ["--threads", 2],
                     "value 128 at (0, 0) is outside [-128, 127]"),
    "K mismatch": ("A.npy", "Wk.npy", ["--threads", 2], "K mismatch"),
    "mode > threads": ("A.npy", "W.npy", ["--threads", 2, "--mode", 4],
                       "mode must not exceed threads"),
    "bad threads": ("A.npy", "W.npy", ["--threads", 3], "invalid choice: 3"),
    "bad windows": ("A.npy", "W.npy", ["--threads", 2, "--windows", 4], "invalid choice: 4"),
    "bad zero-skip": ("A.npy", "W.npy", ["--threads", 2, "--zero-skip", "weights"],
                      "invalid choice"),
    "bad rounding": ("A.npy", "W.npy", ["--threads", 2, "--rounding", "up"], "invalid choice"),
    "bad acc-bits": ("A.npy", "W.npy", ["--threads", 2, "--acc-bits", "8"],
                     "acc_bits must be between 16 and 62"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_exit_2_and_no_output(operands, case):
    tmp, _, _ = operands
    for name, array in BAD_FILES.items():
        np.save(tmp / name, array)
    (tmp / "junk.npy").write_text("not numpy")
    a_file, w_file, flags, message = BAD[case]
    args = ["--a", tmp / a_file, "--w", tmp / w_file, *flags]
    out, stats = tmp / "C.npy", tmp / "S.json"
    r = run("gemm", *args, "--out", out, "--stats", stats)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not out.exists() and not stats.exists()
    assert not [p for p in os.listdir(tmp) if p.endswith(".tmp")]


def test_every_subcommand_has_help():
    from nbsmt.cli import COMMANDS
    assert run("--help").returncode == 0
    for name in COMMANDS:
        r = run(name, "--help")
        assert r.returncode == 0 and "usage: nbsmt " + name in r.stdout, name


def test_outputs_get_ordinary_permissions(operands):
    tmp, _, _ = operands
    umask = os.umask(0o022)
    try:
        r = run("gemm", "--a", tmp / "A.npy", "--w", tmp / "W.npy", "--threads", 2,
                "--out", tmp / "C.npy")
    finally:
        os.umask(umask)
    assert r.returncode == 0, r.stderr
    assert (tmp / "C.npy").stat().st_mode & 0o777 == 0o644
