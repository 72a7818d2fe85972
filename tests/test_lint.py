"""The default PEs pass `verilator --lint-only -Wall` with only the documented waivers."""

import pytest

from nbsmt.hw.design import DEFAULT_THREADS, Design
from nbsmt.hw.lint import lint_file, main
from nbsmt.tb.runner import require_simulator


@pytest.fixture(autouse=True)
def _verilator():
    require_simulator("verilator")


@pytest.mark.parametrize("threads", DEFAULT_THREADS)
def test_default_pe_is_lint_clean(tmp_path, threads):
    design = Design.pe(threads)
    path = tmp_path / f"{design.name}.v"
    path.write_text(design.verilog())
    assert lint_file(path) == ""


@pytest.mark.parametrize("pipeline", (0, 2))
def test_pe_with_energy_options_is_lint_clean(tmp_path, pipeline):
    design = Design.pe(4, pipeline=pipeline, isolate_operands=True, gate_clocks=True)
    path = tmp_path / f"{design.name}.v"
    path.write_text(design.verilog())
    assert lint_file(path) == ""


def test_lint_reports_a_real_warning(tmp_path, capsys):
    (tmp_path / "bad.v").write_text(
        "module bad(input clk, input [3:0] d, output reg [3:0] q);\n"
        "  always @(*) if (d[0]) q = d;\n"   # a latch: never waived
        "endmodule\n")
    assert main([str(tmp_path)]) == 1
    assert "LATCH" in capsys.readouterr().out
