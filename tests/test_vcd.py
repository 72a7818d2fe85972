"""Toggle counts from a VCD (energy/gatesim.py) in the time unit of its own $timescale."""

from __future__ import annotations

import numpy as np
import pytest

from nbsmt.energy.gatesim import GateSimError, count_toggles
from nbsmt.synth.techmap import Netlist

NETLIST = Netlist("t", {"q": ("output", [12, 13])}, {})
NETS = [10, 11, 12, 13]
# Changes at 5, 15 and 25 ns: bins of 10 ns from t0 = 0 each get one time step.
WANT = np.array([[1, 0, 1, 0],        # n10 rises, q[0] rises
                 [1, 1, 0, 1],        # n10 falls, n11 rises, q[1] rises
                 [1, 0, 0, 0]])       # n10 rises


def _vcd(timescale: str, per_ns: int) -> str:
    return (f"$date today $end\n{timescale}\n$scope module tb $end\n$scope module dut $end\n"
            "$var wire 1 ! n10 $end\n$var wire 1 \" n11 $end\n$var wire 2 # q [1:0] $end\n"
            "$upscope $end\n$upscope $end\n$enddefinitions $end\n"
            f"#0\n0!\n0\"\nb00 #\n#{5 * per_ns}\n1!\nb01 #\n"
            f"#{15 * per_ns}\n0!\n1\"\nb11 #\n#{25 * per_ns}\n1!\n")


@pytest.mark.parametrize("timescale, per_ns", [
    ("$timescale 1ns $end", 1),
    ("$timescale 1 ns $end", 1),
    ("$timescale\n\t10ps\n$end", 100),        # as Icarus writes it
    ("$timescale 1ps $end", 1000),
    ("$timescale 100 fs $end", 10_000),
])
def test_times_are_read_in_the_vcds_timescale(tmp_path, timescale, per_ns):
    path = tmp_path / "a.vcd"
    path.write_text(_vcd(timescale, per_ns))
    counts = count_toggles(path, NETLIST, NETS, t0=0.0, period=10.0, bins=3)
    assert counts.tolist() == WANT.tolist()


def test_a_vcd_without_a_timescale_is_an_error(tmp_path):
    path = tmp_path / "a.vcd"
    path.write_text(_vcd("", 1))
    with pytest.raises(GateSimError, match="no \\$timescale"):
        count_toggles(path, NETLIST, NETS, t0=0.0, period=10.0, bins=3)
