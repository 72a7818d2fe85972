"""Energy from gate-level activity (issue 11): the library model against a hand calculation,
toggle counts from Icarus, and PE runs on GEMM streams checked bit-exact."""

from __future__ import annotations

import numpy as np
import pytest

from nbsmt.host.stimulus import demo_operands
from nbsmt.energy.pe import (EnergyCheckError, PERIOD_NS, action_counts, characterize, osu_library,
                             run_pe)
from nbsmt.hw.design import Design
from nbsmt.energy.gatesim import simulate
from nbsmt.synth.liberty import parse
from nbsmt.energy.power import energy_model
from nbsmt.synth.techmap import OSU_LIBERTY, Netlist

SLEW = 0.06          # the first slew index of the OSU tables: no interpolation along slew
PORT_LOAD = 0.01     # pF on the output port


def toggle_rings(k: int) -> Netlist:
    """k toggle flops: Q -> INV -> INV -> NOR(., rst) -> D; Q of ring 0 is the output `q`."""
    ports = {"clk": ("input", [2]), "rst": ("input", [3]), "q": ("output", [10])}
    cells = {}
    for r in range(k):
        q, n1, n2, d = (10 + 4 * r + x for x in range(4))
        cells[f"ff{r}"] = ("DFFPOSX1", {"CLK": 2, "D": d, "Q": q})
        cells[f"inv{r}a"] = ("INVX1", {"A": q, "Y": n1})
        cells[f"inv{r}b"] = ("INVX1", {"A": n1, "Y": n2})
        cells[f"nor{r}"] = ("NOR2X1", {"A": n2, "B": 3, "Y": d})
    return Netlist("rings", ports, cells)


def _liberty():
    """cell -> group of the OSU file, read raw (no project code but the tokenizer)."""
    return {g.args[0]: g for g in parse(OSU_LIBERTY.read_text()).find("cell")}


def _pin(cell, name):
    return next(p for p in cell.find("pin") if name in p.args)


def _row(text):
    return np.array([float(x) for x in text.replace(",", " ").split()])


def _energy_at(group, load):
    """An energy_template table at slew = SLEW (its first column), linear in load."""
    loads = _row(group.attrs["index_1"][0])
    assert float(group.attrs["index_2"][0].split(",")[0]) == SLEW
    column = np.array([_row(v)[0] for v in group.attrs["values"]])
    return float(np.interp(load, loads, column))


def _internal(cell, pin, load):
    """Mean of rise and fall energy, averaged over the related pins."""
    arcs = [(ig.find("rise_power")[0], ig.find("fall_power")[0]) for ig in _pin(cell, pin).find("internal_power")]
    return sum((_energy_at(r, load) + _energy_at(f, load)) / 2 for r, f in arcs) / len(arcs)


def _passive(cell, pin):
    """(rise + fall) / 2 of a 1-D passive table at SLEW (its first index)."""
    ig = _pin(cell, pin).find("internal_power")[0]
    return sum(_row(ig.find(k)[0].attrs["values"][0])[0] for k in ("rise_power", "fall_power")) / 2


def hand_energy(cycles: int, *, with_d_pin: bool = True) -> float:
    """One ring over `cycles` cycles after reset, from the Liberty values (pJ): Q, both
    inverters toggle cycles-1 times, D cycles times, rst once (module doc of energy/power.py)."""
    lib = _liberty()
    ff, inv, nor = lib["DFFPOSX1"], lib["INVX1"], lib["NOR2X1"]
    cap = lambda cell, pin: float(_pin(cell, pin).attrs["capacitance"])  # noqa: E731
    v2 = 1.8 ** 2
    c_q = cap(inv, "A") + PORT_LOAD
    c_n1, c_n2, c_d = cap(inv, "A"), cap(nor, "A"), cap(ff, "D")
    per_toggle = {
        "q": 0.5 * c_q * v2 + _internal(ff, "Q", c_q),
        "n1": 0.5 * c_n1 * v2 + _internal(inv, "Y", c_n1),
        "n2": 0.5 * c_n2 * v2 + _internal(inv, "Y", c_n2),
        "d": 0.5 * c_d * v2 + _internal(nor, "Y", c_d) + (_passive(ff, "D") if with_d_pin else 0.0),
    }
    toggles = {"q": cycles - 1, "n1": cycles - 1, "n2": cycles - 1, "d": cycles}
    clock = cycles * (2 * _passive(ff, "CLK") + cap(ff, "CLK") * v2)
    rst = 0.5 * cap(nor, "B") * v2
    leak_nw = sum(float(lib[c].attrs["cell_leakage_power"]) for c in ("DFFPOSX1", "INVX1", "INVX1", "NOR2X1"))
    leakage = leak_nw * 1e-9 * cycles * PERIOD_NS * 1e-9 / 1e-12
    return sum(per_toggle[n] * toggles[n] for n in toggles) + clock + rst + leakage


def _simulate_rings(k, cycles, tmp_path, model="zero-delay"):
    netlist = toggle_rings(k)
    em = energy_model(netlist, osu_library(), slew_ns=SLEW, output_load_pf=PORT_LOAD)
    from nbsmt.synth.techmap import to_verilog
    run = simulate(netlist, to_verilog(netlist), {}, ["q"], em.nets, model=model,
                   workdir=tmp_path / f"rings{k}_{model}", cycles=cycles)
    return em, run


def test_flop_and_inverter_chain_energy_equals_the_hand_calculation(tmp_path):
    cycles = 40
    em, run = _simulate_rings(1, cycles, tmp_path)
    index = em.net_index
    counts = run.toggles.sum(axis=0)
    assert [counts[index[n]] for n in (10, 11, 12, 13, 3)] == [cycles - 1] * 3 + [cycles, 1]
    assert run.outputs["q"] == [c % 2 for c in range(cycles)]
    got = em.energy(counts, cycles, PERIOD_NS).total
    want = hand_energy(cycles)
    assert got == pytest.approx(want, rel=0.01)
    # The check can fail: leaving out one term (the flop's D-pin energy) misses by > 1 %.
    assert abs(hand_energy(cycles, with_d_pin=False) / got - 1) > 0.01


def test_clock_energy_scales_exactly_with_flop_count(tmp_path):
    one = energy_model(toggle_rings(1), osu_library())
    three = energy_model(toggle_rings(3), osu_library())
    assert (one.flops, three.flops) == (1, 3)
    e1 = one.energy(np.zeros(len(one.nets)), 100).by_category()["clock"]
    e3 = three.energy(np.zeros(len(three.nets)), 100).by_category()["clock"]
    assert e1 > 0 and e3 == pytest.approx(3 * e1, rel=1e-12)


def test_cell_delays_leave_a_glitch_free_ring_unchanged(tmp_path):
    # Every net of the ring switches once per cycle whatever the delays: same toggles.
    _, zero = _simulate_rings(1, 20, tmp_path, "zero-delay")
    _, delayed = _simulate_rings(1, 20, tmp_path, "cell-delays")
    assert (zero.toggles == delayed.toggles).all()


def test_all_zero_operands_leave_the_pe_datapath_quiet_after_the_first_cycle(tmp_path):
    a = np.zeros((1, 64), dtype=np.int64)
    w = np.zeros((64, 1), dtype=np.int64)
    for threads in (1, 2, 4):
        run = run_pe(a, w, [(0, 0)], design=Design.pe(threads), model="zero-delay", workdir=tmp_path)
        steps = run.cycles
        # Cycle 0 leaves reset and raises `en`; the last cycle raises `last` (an input change).
        assert run.combinational_per_cycle[1:steps - 1].max() == 0.0, threads
        assert run.dynamic_per_cycle[2:steps - 1].max() == 0.0, threads   # registers too
        assert run.combinational_per_cycle[steps - 1] > 0.0


def _elements(count, offset=0):
    return [((5 * e + offset) % 64, (11 * e + 3 * offset) % 64) for e in range(count)]


def test_sparse_activations_cost_less_per_mac_on_the_os_sa(tmp_path):
    dense = demo_operands(zero_activations=0.0, shape=(64, 64, 64))
    sparse = demo_operands(zero_activations=0.9, shape=(64, 64, 64))
    e_dense = run_pe(*dense, _elements(4), design=Design.pe(1), model="zero-delay", workdir=tmp_path).pj_per_mac
    e_sparse = run_pe(*sparse, _elements(4), design=Design.pe(1), model="zero-delay", workdir=tmp_path).pj_per_mac
    assert e_sparse < e_dense


#: Thread counts and design options of the per-action checks: every T as generated, and a
#: pipelined PE with clock gating (its K-step energy spread over the stages).
ESTIMATED = [Design.pe(1), Design.pe(2), Design.pe(4), Design.pe(2, pipeline=2, gate_clocks=True)]


def test_per_action_estimate_matches_a_direct_run_within_5_percent(tmp_path):
    a, w = demo_operands(shape=(64, 128, 64))
    held_out = _elements(3, offset=7)
    for design in ESTIMATED:
        calib = run_pe(a, w, _elements(6), design=design, model="zero-delay", idle_after=2,
                       workdir=tmp_path)
        table = characterize(calib)
        direct = run_pe(a, w, held_out, design=design, model="zero-delay", idle_after=2,
                        workdir=tmp_path)
        counts = action_counts(a, w, threads=design.threads, elements=held_out, idle_per_element=2)
        assert sum(counts.values()) == direct.cycles
        estimate = table.estimate(counts)
        assert estimate == pytest.approx(direct.energy.total, rel=0.05), design.name


def test_a_gate_level_result_that_differs_from_golden_fails_the_run(tmp_path, monkeypatch):
    import nbsmt.energy.pe as energy
    real = energy.contribution

    def off_by_one(a, w, policy):
        c = real(a, w, policy)
        c.value[-1] += 1          # the golden model now disagrees with the netlist
        return c

    monkeypatch.setattr(energy, "contribution", off_by_one)
    a, w = demo_operands(shape=(4, 16, 4))
    with pytest.raises(EnergyCheckError, match="golden"):
        run_pe(a, w, [(0, 0)], design=Design.pe(1), model="zero-delay", workdir=tmp_path)


def test_array_per_action_estimate_matches_a_direct_array_run_within_5_percent(tmp_path):
    # A 2x2 array: per-action energies from one run (16 tiles, K = 32), then a direct
    # gate-level run of other rows and columns (16 tiles, K = 64), bit-exact and
    # counter-checked inside run_array, against the estimate from action counts.
    from nbsmt.energy.array import characterize_array, run_array
    a, w = demo_operands(shape=(16, 64, 16))
    for pe in ESTIMATED[:3] + [Design.pe(2, pipeline=1, gate_clocks=True)]:
        design = Design.array(2, 2, pe.threads, **pe.options())
        calib = run_array(a[8:, :32], w[:32, 8:], design=design, model="zero-delay",
                          per_cycle=True, workdir=tmp_path)
        table = characterize_array(calib)
        direct = run_array(a[:8], w[:, :8], design=design, model="zero-delay", workdir=tmp_path)
        estimate = table.estimate(a[:8], w[:, :8])
        assert estimate["cycles"] == direct.cycles and not estimate["unseen_actions"]
        assert estimate["energy_pj"] == pytest.approx(direct.energy.total, rel=0.05), design.name


def _cli(*args):
    import os
    import subprocess
    import sys
    from pathlib import Path
    env = {**os.environ, "NBSMT_BUILD_DIR": str(Path("build").resolve())}
    return subprocess.run([sys.executable, "-m", "nbsmt.cli", "energy", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture
def small_operands(tmp_path):
    a, w = demo_operands(shape=(5, 9, 3))
    np.save(tmp_path / "A.npy", a.astype(np.uint8))
    np.save(tmp_path / "W.npy", w.astype(np.int8))
    return tmp_path


def test_energy_cli_writes_md_json_csv_and_the_sweep_plot(small_operands):
    import json
    d = small_operands
    out = d / "report"
    r = _cli("--a", d / "A.npy", "--w", d / "W.npy", "--threads", "2", "--rows", "2",
             "--model", "zero-delay", "--elements", "2", "--sparsity-sweep", "--out", out,
             "--json", d / "copy.json")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads((out / "energy.json").read_text())
    assert [(p["threads"], p["model"]) for p in report["pe"]] == [(1, "zero-delay"), (2, "zero-delay")]
    assert report["pe"][0]["ratio_vs_ossa"] == 1.0 and report["gemm"][0]["ratio_vs_ossa"] == 1.0
    assert all(g["tile"]["bit_exact"] for g in report["gemm"])
    # energy x delay per MAC: pJ/MAC times the GEMM's cycles at the leakage clock
    one, two = report["gemm"]
    for g in (one, two):
        assert g["edp_pj_ns_per_mac"] == pytest.approx(
            g["energy_pj"] / g["macs"] * g["cycles"] * g["action_pj"]["period_ns"])
    assert two["edp_ratio_vs_ossa"] == pytest.approx(
        two["ratio_vs_ossa"] * two["cycles"] / one["cycles"])
    assert two["cycles"] < one["cycles"] and one["edp_ratio_vs_ossa"] == 1.0
    assert len(report["sweep"]) == 20
    for name in ("energy.md", "energy.csv", "energy_sweep.png"):
        assert (out / name).stat().st_size > 0
    assert json.loads((d / "copy.json").read_text()) == report


@pytest.mark.parametrize("args, message", [
    (["--rows", "0"], "--rows must be between 1 and 64, not 0"),
    (["--elements", "0"], "--elements must be between 1 and 4096, not 0"),
    (["--acc-bits", "8"], "acc_bits must be between 16 and 62, not 8"),
    (["--pipeline", "3"], "argument --pipeline: invalid choice: 3 (choose from 0, 1, 2)"),
])
def test_energy_cli_bad_options_exit_2_with_one_line_and_no_report(small_operands, args, message):
    d = small_operands
    r = _cli("--a", d / "A.npy", "--w", d / "W.npy", *args, "--out", d / "report")
    assert r.returncode == 2
    assert r.stderr.strip() == f"nbsmt energy: error: {message}"
    assert not (d / "report").exists()


def test_energy_cli_bad_operands_exit_2(small_operands):
    d = small_operands
    r = _cli("--a", d / "A.npy", "--out", d / "report")
    assert r.returncode == 2 and r.stderr.strip() == "nbsmt energy: error: --a and --w go together"
    r = _cli("--a", d / "missing.npy", "--w", d / "W.npy", "--out", d / "report")
    assert r.returncode == 2 and r.stderr.startswith("nbsmt energy: error: --a ")
    assert not (d / "report").exists()


HELD = """module held(input clk, input rst, input en, input [5:0] d, output reg [5:0] q);
  always @(posedge clk) if (rst) q <= 6'd0; else if (en) q <= d;
endmodule
"""


def _held_run(tmp_path, gate_clocks, en, d):
    from nbsmt.energy.gatesim import simulation_verilog
    from nbsmt.synth.techmap import map_design
    mapped = map_design(HELD, "held", osu_library().library, tmp_path / f"map_{gate_clocks}",
                        gate_clocks=gate_clocks)
    em = energy_model(mapped.netlist, osu_library(), slew_ns=SLEW, output_load_pf=PORT_LOAD)
    run = simulate(mapped.netlist, simulation_verilog(mapped.netlist), {"en": en, "d": d}, ["q"],
                   em.nets, model="zero-delay", workdir=tmp_path / f"sim_{gate_clocks}")
    return mapped.netlist, em, run


def test_a_clock_gate_clocks_its_flops_only_in_enabled_cycles(tmp_path):
    # A 6-bit register with an enable: one ICG (latch + AND, its latch clocked through an
    # inverter), six flops on the gated clock. Its clock energy over the run equals the
    # hand calculation from the Liberty values with the gated clock toggling twice per
    # enabled cycle; pricing the flops every cycle (no gating) misses by far more than 1 %.
    cycles = 48
    en = [1 if c % 4 == 0 else 0 for c in range(cycles)]
    d = [(7 * c + 3) % 64 for c in range(cycles)]
    netlist, em, run = _held_run(tmp_path, True, en, d)
    _, _, plain = _held_run(tmp_path, False, en, d)
    assert run.outputs["q"] == plain.outputs["q"]               # bit-exact either way
    held, want = 0, []
    for c in range(cycles):          # row c: d of the last enabled cycle before c (reset: 0)
        want.append(held)
        held = d[c] if en[c] else held
    assert run.outputs["q"] == want
    (gclk, (enable, clk)), = netlist.clock_gates.items()
    flops = [n for n, (kind, pins) in netlist.cells.items() if kind == "DFFPOSX1"]
    assert len(flops) == 6 and all(netlist.cells[n][1]["CLK"] == gclk for n in flops)
    counts = run.toggles.sum(axis=0)
    index = em.net_index
    enabled = sum(en) + 1            # edges that load q: the enabled ones and the last reset
    assert counts[index[gclk]] == 2 * enabled
    inverted = next(p["Y"] for k, p in netlist.cells.values() if k == "INVX1" and p["A"] == clk)
    assert counts[index[inverted]] == 2 * cycles

    lib = _liberty()
    ff, latch, inv, and2 = lib["DFFPOSX1"], lib["LATCH"], lib["INVX1"], lib["AND2X2"]
    cap = lambda cell, pin: float(_pin(cell, pin).attrs["capacitance"])  # noqa: E731
    v2 = 1.8 ** 2
    c_gclk, c_low = 6 * cap(ff, "CLK"), cap(latch, "CLK")
    per_cycle = (cap(inv, "A") + cap(and2, "A")) * v2             # the clock's own pins
    low_toggle = 0.5 * c_low * v2 + _internal(inv, "Y", c_low) + _passive(latch, "CLK")
    gclk_toggle = 0.5 * c_gclk * v2 + _internal(and2, "Y", c_gclk) + 6 * _passive(ff, "CLK")
    hand = cycles * per_cycle + 2 * cycles * low_toggle + 2 * enabled * gclk_toggle
    got = em.energy(counts, cycles, PERIOD_NS).by_category()["clock"]
    assert got == pytest.approx(hand, rel=0.01)
    ungated = cycles * 6 * (cap(ff, "CLK") * v2 + 2 * _passive(ff, "CLK"))
    assert abs((hand - 2 * enabled * gclk_toggle + ungated) / got - 1) > 0.01


def test_pipelined_pe_toggles_are_moved_back_to_the_cycle_their_k_step_entered():
    from nbsmt.energy.pe import aligned, stage_of
    names = ["_5_", "reduce._1_", "pipe1._2_", "mult._3_", "pipe2._4_", "accum._6_", "pe_1_2.accum._6_"]
    assert [stage_of(n, 0) for n in names] == [0] * 7
    assert [stage_of(n, 1) for n in names] == [0, 0, 1, 1, 2, 1, 1]   # (no pipe2 at P = 1)
    assert [stage_of(n, 2) for n in names] == [0, 0, 1, 1, 2, 2, 2]
    per_cycle = np.arange(12.0).reshape(4, 3)          # 4 cycles x 3 nets at stages 0, 1, 2
    assert aligned(per_cycle, np.array([0, 1, 2])).tolist() == [
        [0, 4, 8], [3, 7, 11], [6, 10, 0], [9, 0, 0]]
