"""Issue 9 #10: the generated Verilog simulates alike under Icarus -g2012, -g2005 and Verilator.

Yosys' Verilog backend wakes `always @*` blocks through a register with a declaration
initialiser; under SystemVerilog semantics that initialiser makes no time-0 event, so a
block whose inputs never change stayed `x`. These tests drive defined operands whose
deciding bits never change (activations below 16) from the first edge after reset.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from nbsmt.hw.design import Design
from nbsmt.hw.generate import _wake_at_time_zero
from nbsmt.core.policy import Policy
from nbsmt.tb.array_sim import run_jobs
from nbsmt.host.driver import plan
from nbsmt.tb.runner import CONFIG_ENV, require_simulator, run_cocotb
from nbsmt.core.toolchain import SIMULATORS

# The minimal reproduction, in the backend's own style: `hi` never changes.
MINIMAL = r"""
module dut(a, lsb);
  reg \$auto$verilog_backend.cc:2355:dump_module$1  = 0;
  input [15:0] a;
  output [2:0] lsb;
  reg [2:0] lsb;
  wire [3:0] hi;
  assign hi = a[7:4];
  always @* begin
    if (\$auto$verilog_backend.cc:2355:dump_module$1 ) begin end
    if (|hi) lsb = 3'h4; else lsb = 3'h0;
  end
endmodule
"""

MINIMAL_TB = """
module tb;
  reg clk = 0; reg rst = 1; reg [15:0] a = 0; wire [2:0] lsb;
  dut d(.a(a), .lsb(lsb));
  always #5 clk = ~clk;
  initial begin
    @(posedge clk); @(negedge clk); rst = 0; a = 5;
    #1 $display("lsb=%b", lsb); $finish;
  end
endmodule
"""

# A user's plain testbench of the 2T PE: `reg` initialisers, a reset, then one tile.
PE_TB = """
module tb;
  reg clk = 0; reg rst = 1; reg [15:0] a_in = 0; reg [15:0] w_in = 0;
  reg en_in = 0; reg last_in = 0;
  wire [31:0] acc, result; wire result_valid; wire [1:0] n_active, lossy;
  wire [15:0] a_out, w_out; wire en_out, last_out;
  nbsmt_pe_t2 d(.clk(clk), .rst(rst), .a_in(a_in), .w_in(w_in), .en_in(en_in),
    .last_in(last_in), .acc(acc), .result(result), .result_valid(result_valid),
    .n_active(n_active), .lossy(lossy), .a_out(a_out), .w_out(w_out), .en_out(en_out),
    .last_out(last_out));
  always #5 clk = ~clk;
  initial begin
    @(posedge clk); @(negedge clk); rst = 0;
    a_in = {8'd3, 8'd5}; w_in = {8'd2, 8'd7}; en_in = 1; last_in = 1;
    #1 $display("result=%0d", $signed(result)); $finish;
  end
endmodule
"""


def _icarus(tmp_path, generation: str, *texts: str) -> str:
    if shutil.which("iverilog") is None:
        require_simulator("icarus")
    files = []
    for i, text in enumerate(texts):
        files.append(tmp_path / f"f{i}.v")
        files[-1].write_text(text)
    vvp = tmp_path / "sim.vvp"
    subprocess.run(["iverilog", f"-g{generation}", "-o", str(vvp), *map(str, files)],
                   check=True, capture_output=True)
    return subprocess.run(["vvp", "-n", str(vvp)], check=True, capture_output=True,
                          text=True).stdout.splitlines()[0]


def test_minimal_reproduction_is_x_before_and_defined_after(tmp_path):
    assert _icarus(tmp_path, "2012", MINIMAL, MINIMAL_TB) == "lsb=xxx"   # the fault
    for generation in ("2012", "2005"):
        assert _icarus(tmp_path, generation, _wake_at_time_zero(MINIMAL), MINIMAL_TB) == "lsb=000"


@pytest.mark.parametrize("generation", ["2012", "2005"])
def test_generated_pe_in_a_plain_icarus_testbench(tmp_path, generation):
    verilog = Design.pe(2, Policy()).verilog()
    assert _icarus(tmp_path, generation, verilog, PE_TB) == f"result={3 * 2 + 5 * 7}"


@pytest.mark.parametrize("threads", [2, 4])
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_pe_low_activations_from_the_first_edge_after_reset(simulator, threads):
    require_simulator(simulator)
    design = Design.pe(threads, Policy())
    name = design.name
    run_cocotb(verilog=design.verilog(), toplevel=name, test_module="pe_test",
               simulator=simulator, build_name=name, testcase="pe_defined_operands_right_after_reset",
               env={CONFIG_ENV: {"threads": threads, "seed": 9, "cycles": 12}})


# Array configurations the array regression builds anyway (tests/test_array.py).
@pytest.mark.parametrize("simulator, rows, cols, threads", [
    ("icarus", 3, 5, 2), ("verilator", 4, 4, 4)])
def test_array_low_activations_right_after_reset(simulator, rows, cols, threads):
    require_simulator(simulator)
    rng = np.random.default_rng(10)
    a, w = rng.integers(1, 16, (rows + 1, 2 * threads + 1)), rng.integers(-8, 8, (2 * threads + 1, cols))
    job = plan(a, w, rows=rows, cols=cols, threads=threads, mode=threads, policy=Policy())
    (record,), _ = run_jobs([job], simulator=simulator)
    assert all(record["checks"].values()), record["checks"]
