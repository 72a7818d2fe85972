"""Reliability issue, item 2: a report one command reads from another is validated where
it is loaded (docs/reliability.md, "Reports read by other commands").

- the timing report of `nbsmt synth` (build/synth/timing.json), read by `nbsmt sim` and
  `nbsmt eval` (`nbsmt.sim.clocks.check_timing_report`);
- the energy report of `nbsmt energy` (build/energy/energy.json), read by `nbsmt eval`
  (`nbsmt.energy.report.check_energy_report`), including what it covers;
- `nbsmt energy` on operands without an effectual MAC: defined figures, `null` ratios;
- `nbsmt formal --timeout`: a finite number of seconds the solver accepts.

A bad report is exit 2, one line on stderr naming the file and the field, no traceback,
no output; nothing is simulated, trained or solved first (those steps are replaced here
by functions that fail the test if they are reached, so every test takes seconds).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from nbsmt.cli import main
from nbsmt.core.errors import InputError


def one_line(capsys, status, *words: str) -> str:
    """The single stderr line of a finished `main` call that returned `status`."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[-2000:]
    assert "Traceback" not in err
    assert all(w in lines[0] for w in words), (lines[0], words)
    return lines[0]


def strict_json(path):
    def refuse(constant):
        raise ValueError(f"non-JSON constant {constant}")
    return json.loads(Path(path).read_text(), parse_constant=refuse)


@pytest.fixture
def nothing_runs(monkeypatch, tmp_path):
    """The RTL simulation, the CNN study and the solvers fail the test if reached; the
    default reports are looked for in an empty build folder."""
    monkeypatch.setenv("NBSMT_BUILD_DIR", str(tmp_path / "build"))
    def reached(what):
        def fail(*args, **kwargs):
            raise AssertionError(f"{what} ran: the bad input should have been rejected first")
        return fail
    import nbsmt.formal.proofs
    import nbsmt.sim.evaluate
    import nbsmt.tb.array_sim
    monkeypatch.setattr(nbsmt.tb.array_sim, "run_jobs", reached("the RTL simulation"))
    monkeypatch.setattr(nbsmt.sim.evaluate, "study", reached("the CNN study"))
    monkeypatch.setattr(nbsmt.formal.proofs, "run_jobs", reached("the formal jobs"))


# ----------------------------------------------------------------------------------------
# The timing report


def _timing_record(threads, period, rows=2, cols=2, pipeline=0):
    return {"name": f"{rows}x{cols}-{threads}t", "design": "array", "size": f"{rows}x{cols}",
            "rows": rows, "cols": cols, "threads": threads, "pipeline": pipeline,
            "policy_tag": "default", "critical_path_ns": period, "fmax_mhz": 1e3 / period}


def timing_text(period="6.5", field="critical_path_ns") -> str:
    """A timing report of the 2x2 1T and 2T arrays, the 2T record's `field` as the JSON
    text `period` (a literal, so NaN and Infinity reach the file as written)."""
    records = [_timing_record(1, 5.0), _timing_record(2, 6.5)]
    records[1][field] = "@@"
    return json.dumps({"command": "nbsmt synth", "records": records}, indent=1).replace('"@@"', period)


BAD_TIMING = [   # (JSON text of the report, what the one line says)
    (timing_text("NaN"), "records[1].critical_path_ns must be a finite positive number, not nan"),
    (timing_text("Infinity"), "records[1].critical_path_ns must be a finite positive number, not inf"),
    (timing_text("-Infinity"), "records[1].critical_path_ns must be a finite positive number, not -inf"),
    (timing_text("1e999"), "records[1].critical_path_ns must be a finite positive number, not inf"),
    (timing_text("0"), "records[1].critical_path_ns must be a finite positive number, not 0"),
    (timing_text("-3.5"), "records[1].critical_path_ns must be a finite positive number, not -3.5"),
    (timing_text('"6.5"'), "records[1].critical_path_ns must be a finite positive number, not '6.5'"),
    (timing_text("true"), "records[1].critical_path_ns must be a finite positive number, not true"),
    (timing_text("NaN", "fmax_mhz"), "records[1].fmax_mhz must be a finite positive number, not nan"),
    (timing_text("0", "fmax_mhz"), "records[1].fmax_mhz must be a finite positive number, not 0"),
    (timing_text("3", "threads"), "records[1].threads must be one of 1, 2, 4, not 3"),
    (timing_text('"2"', "rows"), "records[1].rows must be an integer >= 1, not '2'"),
    (timing_text("2.0", "cols"), "records[1].cols must be an integer >= 1, not 2.0"),
    (timing_text("7", "pipeline"), "records[1].pipeline must be one of 0, 1, 2, not 7"),
    (timing_text('"chip"', "design"), "records[1].design must be one of 'pe', 'array', not 'chip'"),
    (timing_text("1", "policy_tag"), "records[1].policy_tag must be a string, not 1"),
    ('{"records": {"a": 1}}', "records must be a list, not an object"),
    ('{"records": [1]}', "records[0] must be an object, not a number"),
    ("[]", "the report must be a JSON object, not a list"),
    ('{"command": "nbsmt synth"}', "has no records"),
    ('{"records": [{"design": "array"}]}', "records[0] has no rows"),
    ('{"records": [' + json.dumps(_timing_record(2, 6.5)) + ", " + json.dumps(_timing_record(2, 7.0))
     + "]}", "records[1] times the same design as records[0] (array 2x2 2T pipeline 0)"),
    ('{"records": [], "odd\\nkey": NaN}', "['odd\\nkey'] must be a finite number, not nan"),
    ("{", "not valid JSON"),
    ("[" * 100000 + "]" * 100000, "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON (not UTF-8"),
]


def _sim(tmp_path, *flags):
    np.save(tmp_path / "A.npy", np.arange(12, dtype=np.uint8).reshape(3, 4))
    np.save(tmp_path / "W.npy", np.arange(8, dtype=np.int8).reshape(4, 2))
    return main(["sim", "--a", tmp_path / "A.npy", "--w", tmp_path / "W.npy", "--threads", "2",
                 "--rows", "2", "--cols", "2", "--out", tmp_path / "C.npy",
                 "--stats", tmp_path / "S.json", *flags])


@pytest.mark.parametrize("text, message", BAD_TIMING, ids=range(len(BAD_TIMING)))
def test_sim_rejects_a_bad_timing_report_before_simulating(tmp_path, capsys, nothing_runs,
                                                           text, message):
    report = tmp_path / "timing.json"
    report.write_bytes(text if isinstance(text, bytes) else text.encode())
    status = _sim(tmp_path, "--timing", report)
    line = one_line(capsys, status, message)
    assert status == 2
    assert line.startswith(f"nbsmt sim: error: {str(report)!r}: "), line
    assert not (tmp_path / "C.npy").exists() and not (tmp_path / "S.json").exists()


def test_sim_reads_the_default_timing_report_through_the_same_check(tmp_path, capsys, monkeypatch,
                                                                    nothing_runs):
    """The issue's run: `nbsmt sim` without --timing printed "nan ns" and exit 0."""
    monkeypatch.setenv("NBSMT_BUILD_DIR", str(tmp_path / "build"))
    report = tmp_path / "build" / "synth" / "timing.json"
    report.parent.mkdir(parents=True)
    report.write_text(timing_text("NaN"))
    status = _sim(tmp_path)
    line = one_line(capsys, status, str(report), "records[1].critical_path_ns", "not nan")
    assert status == 2, line
    assert not (tmp_path / "C.npy").exists() and not (tmp_path / "S.json").exists()


def test_sim_with_a_missing_timing_report_given_is_one_line(tmp_path, capsys, nothing_runs):
    status = _sim(tmp_path, "--timing", tmp_path / "missing.json")
    one_line(capsys, status, "--timing: no such file", "missing.json")
    assert status == 2 and not (tmp_path / "C.npy").exists()


@pytest.mark.parametrize("text, message", BAD_TIMING[:8:3], ids=range(len(BAD_TIMING[:8:3])))
def test_eval_rejects_a_bad_timing_report_before_the_study(tmp_path, capsys, nothing_runs,
                                                           text, message):
    report = tmp_path / "timing.json"
    report.write_text(text)
    status = main(["eval", "--quick", "--out", tmp_path / "r", "--json", tmp_path / "e.json",
                   "--timing", report])
    one_line(capsys, status, f"nbsmt eval: error: {str(report)!r}: {message}")
    assert status == 2 and not (tmp_path / "r").exists() and not (tmp_path / "e.json").exists()


def test_a_valid_timing_report_loads_and_a_bad_one_names_the_field():
    from nbsmt.sim.clocks import check_timing_report, load_periods
    assert check_timing_report(json.loads(timing_text()), "t.json") is None
    with pytest.raises(InputError) as exc:
        check_timing_report({"records": [_timing_record(2, math.nan)]}, "t.json")
    assert str(exc.value) == "'t.json': records[0].critical_path_ns must be a finite positive number, not nan"
    assert load_periods("/nonexistent/timing.json") == {}


# ----------------------------------------------------------------------------------------
# The energy report


_PE = {"idle": 5.06, "n0": 16.9, "n1": 30.4, "n2": 36.2, "n2-lossy": 54.0}


def _energy_record(threads, model="zero-delay", rows=2, cols=2, pe=None):
    pe = dict(pe if pe is not None else {k: v for k, v in _PE.items()
                                         if k == "idle" or int(k[1]) <= threads})
    return {"threads": threads, "model": model, "rows": rows, "cols": cols, "pipeline": 0,
            "action_pj": {"pe": pe, "pe_samples": dict.fromkeys(pe, 4),
                          "per_input_beat": 4.5, "per_output_beat": 40.7,
                          "per_cycle_counters_control": 10.0, "clock_per_cycle": 124.0,
                          "leakage_w": 4.8e-07}}


def energy_doc(records=None, **top) -> dict:
    from nbsmt.core.policy import Policy
    return {"rows": 2, "cols": 2, "policy": Policy().as_dict(), "pe": [], "sweep": [],
            "gemm": records if records is not None else [_energy_record(1), _energy_record(2)],
            **top}


def energy_text(literal, *keys) -> str:
    """energy_doc() as JSON with the value at gemm[1].<keys> replaced by `literal`."""
    doc = energy_doc()
    node = doc["gemm"][1]
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = "@@"
    return json.dumps(doc).replace('"@@"', literal)


BAD_ENERGY = [   # (JSON text of the report, what the one line says)
    (energy_text("NaN", "action_pj", "pe", "n1"),
     "gemm[1].action_pj.pe.n1 must be a finite number >= 0, not nan"),
    (energy_text("Infinity", "action_pj", "per_input_beat"),
     "gemm[1].action_pj.per_input_beat must be a finite number >= 0, not inf"),
    (energy_text("-1.5", "action_pj", "leakage_w"),
     "gemm[1].action_pj.leakage_w must be a finite number >= 0, not -1.5"),
    (energy_text('"10.0"', "action_pj", "per_cycle_counters_control"),
     "gemm[1].action_pj.per_cycle_counters_control must be a finite number >= 0, not '10.0'"),
    (energy_text("[1, 2]", "action_pj", "pe"), "gemm[1].action_pj.pe must be an object, not a list"),
    (energy_text("{}", "action_pj", "pe"), "gemm[1].action_pj.pe has no PE action"),
    (energy_text('{"n1": 3.0, "n9": 1.0}', "action_pj", "pe"),
     "gemm[1].action_pj.pe has an action 'n9' that a 2T PE does not have"),
    (energy_text("-2", "action_pj", "pe_samples", "n1"),
     "gemm[1].action_pj.pe_samples.n1 must be an integer >= 0, not -2"),
    (energy_text("3", "threads"), "gemm[1].threads must be one of 1, 2, 4, not 3"),
    (energy_text("4", "rows"), "gemm[1] is a 4x2 array, not the report's 2x2"),
    (energy_text("5", "pipeline"), "gemm[1].pipeline must be one of 0, 1, 2, not 5"),
    (energy_text('""', "model"), "gemm[1].model must be a glitch model name, not ''"),
    (energy_text("NaN", "tile"), "gemm[1].tile must be a finite number, not nan"),
    (json.dumps(energy_doc([_energy_record(2), _energy_record(2)])),
     "gemm[1] repeats gemm[0]'s array (2T, zero-delay)"),
    (json.dumps(energy_doc(rows="2")), "rows must be an integer from 1 to 64, not '2'"),
    (json.dumps(energy_doc(policy="default")), "policy must be an object, not a string"),
    (json.dumps(energy_doc(policy={"windows": 9})), "policy is not a policy of nbsmt"),
    (json.dumps(energy_doc(gemm={"0": 1})), "gemm must be a list, not an object"),
    (json.dumps(energy_doc([7])), "gemm[0] must be an object, not a number"),
    (json.dumps({k: v for k, v in energy_doc().items() if k != "gemm"}), "has no gemm"),
    (json.dumps(energy_doc([])), "has no array records (made with --pe-only?)"),
    ("{", "not valid JSON"),
]


def _eval_energy(tmp_path, report):
    return main(["eval", "--quick", "--out", tmp_path / "r", "--json", tmp_path / "e.json",
                 "--energy", report])


@pytest.mark.parametrize("text, message", BAD_ENERGY, ids=range(len(BAD_ENERGY)))
def test_eval_rejects_a_bad_energy_report_before_the_study(tmp_path, capsys, nothing_runs,
                                                           text, message):
    report = tmp_path / "energy.json"
    report.write_text(text)
    status = _eval_energy(tmp_path, report)
    line = one_line(capsys, status, message)
    assert status == 2
    assert line.startswith(f"nbsmt eval: error: {str(report)!r}"), line
    assert not (tmp_path / "r").exists() and not (tmp_path / "e.json").exists()


def test_an_energy_report_without_the_n0_action_covers_too_little(tmp_path, capsys, nothing_runs):
    """The issue's run: a valid report of a 2x2 2T array made on dense operands (no K-step
    without an active lane, so no n0 energy) gave `KeyError: no PE action measured for
    'n0'` after training the CNN. The per-action tables measured are those of that run."""
    dense = energy_doc([_energy_record(1, pe={"idle": 1.90, "n1": 3.00}),
                        _energy_record(2, pe={"idle": 5.29, "n2": 7.35})])
    report = tmp_path / "energy.json"
    report.write_text(json.dumps(dense))
    status = _eval_energy(tmp_path, report)
    line = one_line(capsys, status)
    assert status == 2
    assert line == (f"nbsmt eval: error: {str(report)!r}: gemm[0] (2x2 array, 1T, zero-delay) "
                    "covers the PE actions idle, n1, not n0 (a K-step without an active lane), "
                    "which pricing a GEMM needs: make the report on operands with zeros "
                    "(e.g. `nbsmt energy` on its demo GEMM)")
    assert not (tmp_path / "r").exists() and not (tmp_path / "e.json").exists()


def test_a_valid_energy_report_loads_its_tables():
    from nbsmt.energy.report import check_energy_report, load_action_tables
    assert check_energy_report(energy_doc(), "e.json") is None
    with pytest.raises(InputError) as exc:
        check_energy_report(energy_doc([_energy_record(2, pe={"idle": 1.0, "n1": math.inf})]),
                            "e.json")
    assert str(exc.value) == "'e.json': gemm[0].action_pj.pe.n1 must be a finite number >= 0, not inf"
    assert load_action_tables("/nonexistent/energy.json") is None


def test_load_action_tables_prices_every_action_of_a_covered_report(tmp_path):
    from nbsmt.core.policy import Policy
    from nbsmt.energy.report import load_action_tables
    path = tmp_path / "energy.json"
    path.write_text(json.dumps(energy_doc()))
    tables, about = load_action_tables(path)
    assert about == {"rows": 2, "cols": 2, "policy": Policy().as_dict(), "source": str(path)}
    a = np.zeros((3, 8), dtype=np.int64)
    a[1] = 7
    w = np.full((8, 3), 5, dtype=np.int64)
    for table in tables.values():
        assert table.estimate(a, w)["energy_pj"] > 0


# ----------------------------------------------------------------------------------------
# `nbsmt energy` on operands without an effectual MAC


@pytest.mark.parametrize("a", [np.zeros((2, 4)), np.array([[0, 0, 0, 0], [1, 2, 3, 4]])],
                         ids=["all-zero", "first-row-zero"])
def test_energy_without_effectual_macs_reports_null_not_nan(tmp_path, capsys, a):
    np.save(tmp_path / "A.npy", a.astype(np.uint8))
    np.save(tmp_path / "W.npy", np.arange(1, 9).reshape(4, 2).astype(np.int8))
    out = tmp_path / "report"
    status = main(["energy", "--a", tmp_path / "A.npy", "--w", tmp_path / "W.npy", "--pe-only",
                   "--model", "zero-delay", "--threads", "1", "--elements", "1", "--jobs", "1",
                   "--out", out, "--json", tmp_path / "copy.json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err[-2000:]
    assert "Traceback" not in captured.err
    report = strict_json(out / "energy.json")
    (pe,) = report["pe"]
    assert pe["effectual_macs"] == 0 and pe["pj_per_effectual_mac"] is None
    assert math.isfinite(pe["pj_per_mac"]) and pe["pj_per_mac"] > 0 and pe["ratio_vs_ossa"] == 1.0
    assert strict_json(tmp_path / "copy.json") == report
    row = next(line for line in (out / "energy.md").read_text().splitlines()
               if line.startswith("| zero-delay | 1 |"))
    assert row.split("|")[4].strip() == "-", row          # the pJ/effectual MAC column
    assert "nan" not in (out / "energy.md").read_text().lower()
    assert "undefined per effectual MAC" in captured.out
    pe_row = next(line for line in (out / "energy.csv").read_text().splitlines()
                  if line.startswith("pe,"))
    assert pe_row.split(",")[5] == "", pe_row            # pj_per_effectual_mac: empty


def test_energy_on_empty_operands_is_one_line(tmp_path, capsys):
    np.save(tmp_path / "A.npy", np.zeros((0, 4), dtype=np.uint8))
    np.save(tmp_path / "W.npy", np.zeros((4, 2), dtype=np.int8))
    status = main(["energy", "--a", tmp_path / "A.npy", "--w", tmp_path / "W.npy", "--pe-only",
                   "--model", "zero-delay", "--threads", "1", "--elements", "1", "--jobs", "1",
                   "--out", tmp_path / "report"])
    one_line(capsys, status, "empty array")
    assert status == 2 and not (tmp_path / "report").exists()


# ----------------------------------------------------------------------------------------
# `nbsmt formal --timeout`


@pytest.mark.parametrize("timeout", ["inf", "1e999", "nan", "0", "-5", "0.0001", "0.5", "1e7"])
def test_formal_timeout_outside_what_the_solver_takes_is_one_line(tmp_path, capsys, nothing_runs,
                                                                  timeout):
    """Bitwuzla takes whole milliseconds, 0 meaning no limit: inf was an OverflowError in
    a worker, 0.0001 s became no limit."""
    status = main(["formal", "--set", "ci", "--only", "pe", "--timeout", timeout,
                   "--out", tmp_path / "f"])
    line = one_line(capsys, status, "--timeout must be")
    assert status == 2
    seconds = float(timeout)
    want = ("must be positive" if not seconds > 0
            else "must be a number of seconds from 1 to 1000000")
    assert line == f"nbsmt formal: error: --timeout {want}, not {seconds!r}", line
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("timeout", ["1", "2.5", "1e6"])
def test_formal_timeout_in_range_reaches_the_solver_as_given(tmp_path, monkeypatch, capsys, timeout):
    import nbsmt.formal.proofs
    got = []

    def record(jobs, *, workers, time_limit, progress):
        got.append(time_limit)
        return []
    monkeypatch.setattr(nbsmt.formal.proofs, "run_jobs", record)
    status = main(["formal", "--set", "ci", "--only", "pe", "--timeout", timeout, "--jobs", "1",
                   "--out", tmp_path / "f"])
    assert status == 0, capsys.readouterr().err
    assert got == [float(timeout)]


def test_the_solver_time_limit_is_checked_in_the_library_too():
    from nbsmt.formal.proofs import check_time_limit, run_jobs
    assert check_time_limit(None) is None and check_time_limit(30) == 30.0
    for bad in (math.inf, math.nan, 0.0001, 1e7, True, "5"):
        with pytest.raises(InputError):
            run_jobs([], time_limit=bad)
