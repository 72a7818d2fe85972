"""`nbsmt verilog` writes one named file per PE configuration and rejects bad ones."""

from nbsmt.cli import main


def test_defaults_write_three_pes(tmp_path, capsys):
    assert main(["verilog", "--defaults", "-o", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"nbsmt_pe_t{t}.v" for t in (1, 2, 4)]
    text = (tmp_path / "nbsmt_pe_t2.v").read_text()
    assert "module nbsmt_pe_t2(" in text
    assert "nbsmt_pe_t2.reduce" in text   # the blocks the area report names
    assert "/work/" not in text and "src =" not in text   # reproducible text


def test_one_config_name_encodes_policy(tmp_path):
    argv = ["verilog", "--threads", "4", "--windows", "5", "--rounding", "trunc",
            "--zero-skip", "act", "--acc-bits", "24", "-o", str(tmp_path)]
    assert main(argv) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["nbsmt_pe_t4_w5_trunc_skipact_acc24.v"]


def test_bad_policy_is_one_line_error(tmp_path, capsys):
    assert main(["verilog", "--threads", "2", "--acc-bits", "8", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nbsmt verilog: error: acc_bits must be between 16 and 62")
    assert not list(tmp_path.iterdir())


def test_arrays_with_rows_and_cols_lint_clean(tmp_path):
    from nbsmt.hw.lint import lint_file
    from nbsmt.tb.runner import require_simulator

    assert main(["verilog", "--defaults", "--rows", "2", "--cols", "3", "-o", str(tmp_path)]) == 0
    assert main(["verilog", "--threads", "2", "--rows", "2", "--windows", "3",
                 "-o", str(tmp_path)]) == 0
    assert main(["verilog", "--threads", "4", "--rows", "2", "--pipeline", "1",
                 "--operand-isolation", "--clock-gating", "-o", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["nbsmt_array_2x2_t2_w3.v", "nbsmt_array_2x2_t4_p1_iso_cg.v"] + [
        f"nbsmt_array_2x3_t{t}.v" for t in (1, 2, 4)]
    assert "module nbsmt_array_2x3_t4(" in (tmp_path / "nbsmt_array_2x3_t4.v").read_text()
    require_simulator("verilator")
    for path in sorted(tmp_path.iterdir()):
        assert lint_file(path) == "", path.name


def test_bad_array_size_is_one_line_error(tmp_path, capsys):
    assert main(["verilog", "--threads", "2", "--rows", "0", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "nbsmt verilog: error: --rows must be between 1 and 64, not 0\n"
    assert not list(tmp_path.iterdir())
