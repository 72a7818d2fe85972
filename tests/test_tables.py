"""core/tables.py: the one Markdown table formatter every report uses."""

from __future__ import annotations

import pytest

from nbsmt.core.tables import format_ratio, markdown_table


def test_header_separator_and_rows():
    assert markdown_table(["design", "area"], [["PE", "1,000"], ["4x4", "9,876"]]) == [
        "| design | area |",
        "|---|---|",
        "| PE | 1,000 |",
        "| 4x4 | 9,876 |",
    ]


def test_no_rows_gives_header_and_separator_only():
    assert markdown_table(["a", "b", "c"], []) == ["| a | b | c |", "|---|---|---|"]


def test_alignment_letters():
    lines = markdown_table(["job", "wall s", "note", "mid"], [], align="-rlc")
    assert lines[1] == "|---|---:|:---|:---:|"
    assert markdown_table(["x"], [], align="r")[1] == "|---:|"


def test_the_formal_reports_alignment():
    header = ["job", "expected", "result", "wall", "CPU", "Yosys", "covers"]
    assert markdown_table(header, [], align="---rrr-")[1] == "|---|---|---|---:|---:|---:|---|"


def test_values_are_written_as_given():
    # no rounding, padding or escaping: str() of each cell
    lines = markdown_table(["n", "x", "s", "none", "empty"], [[4, 0.1 + 0.2, "**b**", None, ""]])
    assert lines[2] == "| 4 | 0.30000000000000004 | **b** | None |  |"
    assert markdown_table(["ratio"], [[format_ratio(None)]])[2] == "| undefined |"


def test_rows_and_header_may_be_any_iterables():
    rows = ((f"r{i}", i * i) for i in range(3))
    assert markdown_table(("k", "v"), rows)[2:] == ["| r0 | 0 |", "| r1 | 1 |", "| r2 | 4 |"]


@pytest.mark.parametrize("row", [["only one"], ["a", "b", "c"], []])
def test_a_row_of_the_wrong_length_is_an_error(row):
    with pytest.raises(ValueError, match="row 1 has"):
        markdown_table(["a", "b"], [["fine", "row"], row])


def test_alignment_of_the_wrong_length_is_an_error():
    with pytest.raises(ValueError, match="3 columns"):
        markdown_table(["a", "b", "c"], [], align="rr")


def test_unknown_alignment_letter_is_an_error():
    with pytest.raises(ValueError, match="unknown"):
        markdown_table(["a", "b"], [], align="-x")


def test_an_empty_header_is_an_error():
    with pytest.raises(ValueError, match="at least one column"):
        markdown_table([], [])
