"""`nbsmt sim --network digits`: every layer of the eval CNN on the RTL, judged, and the
network's accuracy from the RTL outputs equal to the emulator's."""

from __future__ import annotations

import json
import subprocess

import pytest

from nbsmt.tb.network_sim import layer_modes
from nbsmt.tb.runner import require_simulator
from tests.test_cli_gemm import NBSMT, run


def test_layer_modes_default_and_override():
    assert layer_modes(None, 4, 2) == {"conv1": 2, "conv2": 2, "fc": 2}
    assert layer_modes("conv1=4, fc=1", 4, 2) == {"conv1": 4, "conv2": 2, "fc": 1}


@pytest.mark.parametrize("text, message", [
    ("conv3=2", "--mode-per-layer takes LAYER=MODE items for layers conv1, conv2, fc, not 'conv3=2'"),
    ("conv1", "--mode-per-layer takes LAYER=MODE items for layers conv1, conv2, fc, not 'conv1'"),
    ("conv1=4", "--mode-per-layer conv1: mode must not exceed threads (2), not 4"),
    ("fc=x", "--mode-per-layer fc: mode must be 1, 2 or 4, not 'x'"),
])
def test_layer_modes_rejects_bad_items(text, message):
    with pytest.raises(ValueError) as caught:
        layer_modes(text, 2, 2)
    assert str(caught.value) == message


@pytest.mark.parametrize("args, message", [
    (["--threads", "2"], "give --a and --w and --out (a GEMM) or --network"),
    (["--threads", "2", "--network", "digits", "--a", "A.npy"],
     "--network runs its own layers: --a do not apply"),
    (["--threads", "2", "--images", "3", "--a", "A.npy", "--w", "W.npy", "--out", "C.npy"],
     "--images only go with --network"),
    (["--threads", "2", "--network", "digits", "--images", "0"], "--images must be at least 1, not 0"),
    (["--threads", "2", "--network", "digits", "--reference", "golden"],
     "--network runs its own layers: --reference do not apply"),
    (["--threads", "2", "--a", "A.npy", "--w", "W.npy", "--out", "C.npy", "--harness", "native",
      "--simulator", "icarus"], "--harness native runs on Verilator only (Icarus: player or bench)"),
    (["--threads", "2", "--a", "A.npy", "--w", "W.npy", "--out", "C.npy", "--harness", "native",
      "--waves"], "--waves needs a cocotb harness (player or bench), not native"),
])
def test_network_flags_are_checked(args, message):
    r = run("sim", *args)
    assert r.returncode == 2 and r.stderr.strip() == f"nbsmt sim: error: {message}", r.stderr


def test_digits_network_on_the_rtl_is_bit_exact_and_as_accurate_as_the_emulator(tmp_path):
    """Quick network, first 12 test images, a 4T array with a different mode per layer."""
    require_simulator("verilator")
    report = tmp_path / "net.json"
    r = subprocess.run([*NBSMT, "sim", "--network", "digits", "--quick", "--images", "12",
                        "--rows", "4", "--cols", "4", "--threads", "4",
                        "--mode-per-layer", "conv1=4,conv2=2,fc=1", "--out", str(report)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    rec = json.loads(report.read_text())
    assert rec["ok"] and rec["images"] == 12
    assert [layer["mode"] for layer in rec["layers"].values()] == [4, 2, 1]
    for name, layer in rec["layers"].items():
        assert all(layer["checks"].values()), (name, layer["checks"])
        assert layer["cycles"] == layer["cycle_model"]
    assert rec["rtl_accuracy"] == rec["emulator_accuracy"]
    assert "every layer bit-exact" in r.stdout
