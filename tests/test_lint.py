"""The default PEs pass `verilator --lint-only -Wall` with only the documented waivers."""

import pytest

from nbsmt.hw.configs import DEFAULT_THREADS, pe_design
from nbsmt.hw.generate import to_verilog
from nbsmt.hw.lint import lint_file, main
from nbsmt.tb.runner import require_simulator


@pytest.fixture(autouse=True)
def _verilator():
    require_simulator("verilator")


@pytest.mark.parametrize("threads", DEFAULT_THREADS)
def test_default_pe_is_lint_clean(tmp_path, threads):
    component, name = pe_design(threads)
    path = tmp_path / f"{name}.v"
    path.write_text(to_verilog(component, name))
    assert lint_file(path) == ""


@pytest.mark.parametrize("pipeline", (0, 2))
def test_pe_with_energy_options_is_lint_clean(tmp_path, pipeline):
    component, name = pe_design(4, pipeline=pipeline, isolate=True, gate_clocks=True)
    path = tmp_path / f"{name}.v"
    path.write_text(to_verilog(component, name))
    assert lint_file(path) == ""


def test_lint_reports_a_real_warning(tmp_path, capsys):
    (tmp_path / "bad.v").write_text(
        "module bad(input clk, input [3:0] d, output reg [3:0] q);\n"
        "  always @(*) if (d[0]) q = d;\n"   # a latch: never waived
        "endmodule\n")
    assert main([str(tmp_path)]) == 1
    assert "LATCH" in capsys.readouterr().out
