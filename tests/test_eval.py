"""`nbsmt eval --quick` end to end: every report field, sane accuracies, a valid mode search."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

NBSMT = [sys.executable, "-m", "nbsmt.cli"]


def run(*args):
    return subprocess.run([*NBSMT, *map(str, args)], capture_output=True, text=True, timeout=300)


# A made-up energy report for the 8x8 1T array: glitch model "every" prices every PE
# action (idle included) at 1 pJ, "n1" only a PE-cycle with one active lane; nothing
# else costs anything. So an inference costs rows x cols x its cycles (cycle model), or
# its PE-cycles with one active lane (the emulator's statistics).
_ACTIONS = ("idle", "n0", "n1", "n1-lossy")


def _energy_report(path):
    def table(model, priced):
        return {"threads": 1, "model": model, "rows": 8, "cols": 8, "action_pj": {
            "pe": {a: float(a in priced) for a in _ACTIONS}, "pe_samples": {},
            "per_input_beat": 0.0, "per_output_beat": 0.0, "per_cycle_counters_control": 0.0,
            "clock_per_cycle": 0.0, "leakage_w": 0.0}}
    from nbsmt.core.policy import Policy
    path.write_text(json.dumps({"rows": 8, "cols": 8, "policy": Policy().as_dict(),
                                "gemm": [table("every", _ACTIONS), table("n1", ("n1",))]}))
    return path


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    proc = run("eval", "--quick", "--out", out / "report", "--json", out / "copy.json",
               "--energy", _energy_report(out / "energy.json"))
    assert proc.returncode == 0, proc.stderr
    return out, proc, json.loads((out / "report" / "eval.json").read_text())


def test_quick_eval_writes_every_file(quick):
    out, proc, report = quick
    folder = out / "report"
    for name in ("accuracy_vs_speedup.png", "collisions.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "copy.json").read_text()) == report
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "temporary files left"
    assert "report written to" in proc.stdout and "2T (default policy) loses" in proc.stdout
    md = (folder / "eval.md").read_text()
    for section in ("## Accuracy (test split)", "## Per-layer statistics (SPEC §8)",
                    "## Array cycles and utilization", "## Per-layer modes within",
                    "## K reordering", "## Emulator vs golden model", "`nbsmt eval --quick`"):
        assert section in md, section


def test_report_has_every_field(quick):
    _, _, report = quick
    assert set(report) >= {"config", "accuracy", "cycles", "mode_search", "reorder",
                           "emulator_check", "done", "timing_s", "command"}
    runs = report["accuracy"]["runs"]
    assert [(r["policy"], r["mode"]) for r in runs] == [
        (None, None), *((p, m) for p in ("default", "authors") for m in (1, 2, 4))]
    spec8 = {"pe_cycles_by_active", "collision_rate", "macs", "macs_full", "macs_reduced_exact",
             "macs_reduced_lossy", "error", "k_steps", "speedup_vs_mode1"}
    for r in runs[1:]:
        assert set(r["layers"]) == {"conv1", "conv2", "fc"}
        for stats in r["layers"].values():
            assert spec8 <= set(stats)
            assert len(stats["pe_cycles_by_active"]) == r["threads"] + 1
        assert set(r["speedup"]) == {"8x8", "16x16"}
    for arr in ("8x8", "16x16"):
        assert set(report["cycles"][arr]) == {"1", "2", "4"}
        assert report["cycles"][arr]["1"]["speedup"] == 1.0
        for mode in ("2", "4"):
            assert 1.0 < report["cycles"][arr][mode]["speedup"] <= int(mode)
    assert set(report["reorder"]) == {"default-2", "default-4", "authors-2", "authors-4"}
    assert all(e["exact_product_unchanged"] for e in report["reorder"].values())
    assert report["emulator_check"] and all(c["equal"] for c in report["emulator_check"].values())
    assert isinstance(report["done"]["2T_default_loss_below_1pp"], bool)


def test_energy_per_inference_is_priced_from_the_action_counts(quick):
    out, _, report = quick
    images = report["config"]["split"]["test"]
    energy = report["energy"]["per_model"]
    assert set(energy) == {"every", "n1"} and set(energy["every"]) == {"1"}
    cycles = report["cycles"]["8x8"]["1"]["layers"]
    for name, nj in energy["every"]["1"]["layers_nj_per_inference"].items():
        assert nj * 1e3 * images == pytest.approx(64 * cycles[name]["cycles"], rel=1e-12)
    exact = next(r for r in report["accuracy"]["runs"] if r["policy"] == "default" and r["mode"] == 1)
    for name, nj in energy["n1"]["1"]["layers_nj_per_inference"].items():
        assert nj * 1e3 * images == pytest.approx(exact["layers"][name]["pe_cycles_by_active"][1],
                                                  rel=1e-12)
    assert "## Energy per inference" in (out / "report" / "eval.md").read_text()


def test_eval_without_an_energy_report_says_how_to_get_one(tmp_path):
    from nbsmt.sim.evaluate import inference_energy
    assert inference_energy(None, None) == {
        "note": "no energy report: run `make energy` (or give --energy)"}
    r = run("eval", "--quick", "--out", tmp_path / "r", "--energy", tmp_path / "missing.json")
    assert r.returncode == 2 and r.stderr.strip().endswith("no such file: " + repr(str(tmp_path / "missing.json")))


def test_exact_8bit_accuracy_is_close_to_float(quick):
    _, _, report = quick
    runs = report["accuracy"]["runs"]
    float_acc = runs[0]["test_accuracy"]
    assert float_acc > 0.85  # the quick network still learned the digits
    for r in runs[1:]:
        if r["mode"] == 1:
            assert r["test_accuracy"] == report["accuracy"]["exact_test"]
            assert abs(r["test_accuracy"] - float_acc) <= 0.02
            assert all(s["error"]["max_abs"] == 0 for s in r["layers"].values())


def test_mode_search_respects_the_budget_and_maximizes_speedup(quick):
    _, _, report = quick
    search = report["mode_search"]
    assert search["split"] == "calib" and search["threads"] == 4
    for found in search["policies"].values():
        assert len(found["candidates"]) == 27
        for arr, per_budget in found["best"].items():
            for budget, pick in per_budget.items():
                assert pick["calib_loss_pp"] <= float(budget) + 1e-9
                allowed = [c for c in found["candidates"] if c["calib_loss_pp"] <= float(budget) + 1e-9]
                assert round(pick["speedup"], 3) == max(round(c["speedup"][arr], 3) for c in allowed)
    assert set(report["done"]["mode_search_speedup_at_budget"]) == {"8x8", "16x16"}


def test_bad_budget_is_one_line_and_exit_2(tmp_path):
    proc = run("eval", "--quick", "--budget", "-1", "--out", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--budget" in proc.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("clock", ["-2", "0", "inf", "x"])
def test_bad_clock_is_one_line_and_exit_2(tmp_path, clock):
    proc = run("eval", "--quick", "--clock-ns", clock, "--out", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--clock-ns must be a clock period" in proc.stderr
    assert not list(tmp_path.iterdir())
