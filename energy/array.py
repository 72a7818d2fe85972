"""Energy of a GEMM on an R x C SySMT array: direct gate-level runs and the per-action estimate.

A direct run maps the whole array onto the OSU library (synth/techmap.py, cached by
Verilog text), streams the host's input beats (host/driver.py `plan`) into the netlist in
Icarus with an always-ready output, and checks the output tile bit-exact against
`golden_gemm` and the hardware counters against its statistics, in the same run.

The estimate prices any GEMM from action counts:

- every PE-cycle: idle, or a K-step with n active lanes, lossy or exact (the PE's
  per-action dynamic energy, characterized from the PEs *inside* a calibration run of
  the same array, so stall-enable logic and neighbour loads are those of the array);
- skew (+ input wires) per input beat, drain per output beat, counters and control per
  cycle (characterized from the same run); with clock gating, the gated clocks of the
  skew, drain, counters and control per cycle too (their enable is the core's `run`,
  on in every cycle the array moves);
- clock of every flop and leakage of every cell per cycle.

PE (i, j) computes the K-step accepted in cycle g in cycle g + i + j (docs/array.md);
a cycle's toggles are those between its rising edge and the next, so a K-step is priced
with the register updates of the step before it, the same convention as the PE runs.
In pipelined PEs a block's toggles are moved back to the cycle its K-step entered the
PE (`nbsmt.energy.pe.aligned`), so each stage is priced with its own K-step's action.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from nbsmt.core.cache import Cache, build_root, digest
from nbsmt.hw.counters import settle_cycles
from nbsmt.hw.design import Design
from nbsmt.core.policy import Policy
from nbsmt.sim.arith import contribution
from nbsmt.sim.cycles import gemm_cycles
from nbsmt.sim.gemm import golden_gemm, lane_operands
from nbsmt.energy.pe import (DEFAULT_PDK, IDLE, PERIOD_NS, EnergyCheckError, action_of,
                                aligned, power_library, simulation_setup, stage_of)
from nbsmt.energy.gatesim import simulate, simulation_verilog
from nbsmt.energy.power import Energy, EnergyModel, energy_model
from nbsmt.synth.techmap import MIN_GATED_FLOPS, SCRIPT_VERSION, Netlist, map_design
from nbsmt.host.beats import as_ints
from nbsmt.host.driver import assemble, plan

#: Array-level parts priced per beat or per cycle (blocks of synth/timing.block_of).
PER_INPUT_BEAT = ("skew", "inputs")
PER_OUTPUT_BEAT = ("drain", "output-buffer")
PER_CYCLE = ("counters", "control", "fanout-tree")


def mapped_array(design: Design, *, workdir: Path,
                 pdk: str = DEFAULT_PDK) -> tuple[Netlist, str, EnergyModel]:
    """The array `design` mapped onto the library `pdk` (cached by Verilog, script, clock
    gating and library), its simulation Verilog and its energy model."""
    if design.kind != "array":
        raise ValueError(f"mapped_array takes an array design, not {design.name}")
    verilog, top = design.verilog(), design.name
    lib = power_library(pdk)
    cache = Cache(build_root() / "energy-cache")
    key = digest("mapped", verilog, top, SCRIPT_VERSION, lib.library.digest,
                 *(["gated", MIN_GATED_FLOPS] if design.gate_clocks else []))
    hit = cache.get_json("mapped", key)
    if hit is None:
        mapped = map_design(verilog, top, lib.library, workdir / top, gate_clocks=design.gate_clocks)
        hit = mapped.netlist.to_json()
        cache.put_json("mapped", key, hit)
    netlist = Netlist.from_json(hit)
    return netlist, simulation_verilog(netlist), energy_model(netlist, lib, design="array")


def pe_actions(a, w, *, rows: int, cols: int, threads: int, policy: Policy, cycles: int) -> np.ndarray:
    """Action of every PE in every cycle, [cycles, rows, cols] strings (module doc)."""
    job = plan(a, w, rows=rows, cols=cols, threads=threads, policy=policy)
    a_l, w_l = lane_operands(a, w, threads, threads)
    steps = job.k_steps
    out = np.full((cycles, rows, cols), IDLE, dtype=object)
    for t, (r0, c0) in enumerate(job.tiles):
        al = np.zeros((rows, steps, threads), dtype=np.int64)
        wl = np.zeros((steps, cols, threads), dtype=np.int64)
        part_a, part_w = a_l[r0:r0 + rows], w_l[:, c0:c0 + cols]
        al[:len(part_a)] = part_a
        wl[:, :part_w.shape[1]] = part_w
        c = contribution(al[:, :, None, :], wl[None, :, :, :], policy)    # [R, S, C]
        acts = np.array(action_of(c.active.ravel(), c.reduced_lossy.ravel(),
                                  np.ones(c.active.size, dtype=bool)), dtype=object)
        acts = acts.reshape(rows, steps, cols)
        for i in range(rows):
            for j in range(cols):
                g = t * steps + np.arange(steps) + i + j
                keep = g < cycles
                out[g[keep], i, j] = acts[i, keep, j]
    return out


@dataclasses.dataclass
class ArrayRun:
    rows: int
    cols: int
    threads: int
    model: str
    cycles: int
    input_beats: int
    output_beats: int
    macs: int
    energy: Energy
    dynamic: dict                     # (block, category) -> pJ of the toggles alone
    pe_dynamic: np.ndarray | None     # [cycles, rows, cols] pJ, when asked for
    actions: np.ndarray | None        # [cycles, rows, cols]
    clock_pj_per_cycle: float
    leakage_w: float
    pipeline: int = 0


def _pe_group(em: EnergyModel, cols: int) -> np.ndarray:
    """PE index (i * cols + j) of each net's driver, -1 for nets outside the PEs."""
    out = np.full(len(em.nets), -1)
    for i, driver in enumerate(em.drivers):
        m = re.match(r"pe_(\d+)_(\d+)\.", driver)
        out[i] = int(m.group(1)) * cols + int(m.group(2)) if m else -1
    return out


def run_array(a, w, *, design: Design, model: str, per_cycle: bool = False,
              workdir: Path = Path("build/energy"), pdk: str = DEFAULT_PDK,
              period_ns: float = PERIOD_NS) -> ArrayRun:
    """Direct gate-level run of a @ w in mode T on the array `design` mapped onto the
    library `pdk`, checked bit-exact (module doc); leakage at a clock of `period_ns`."""
    rows, cols, threads, policy = design.rows, design.cols, design.threads, design.policy
    netlist, verilog, em = mapped_array(design, workdir=workdir / "map", pdk=pdk)
    job = plan(a, w, rows=rows, cols=cols, threads=threads, policy=policy)
    beats = as_ints(job.beats)
    cycles = gemm_cycles(a.shape[0], a.shape[1], w.shape[1], rows=rows, cols=cols, mode=threads,
                         pipeline=design.pipeline)
    # The last cycle's register updates too (and one per pipeline register), and the
    # counters, complete `settle_cycles` after the last row (hw/counters.py).
    simulated = cycles + max(1 + design.pipeline,
                             settle_cycles(rows, cols, design.pipeline))
    idle = simulated - len(beats)
    inputs = {"i__payload": beats + [0] * idle, "i__valid": [1] * len(beats) + [0] * idle,
              "o__ready": [1] * simulated}
    counters = [p for p in netlist.ports if p.startswith(("pe_cycles_by_active", "lossy", "busy"))]
    simdir = workdir / "sim" / f"{netlist.top}_{model}"
    run = simulate(netlist, verilog, inputs, ["i__ready", "o__valid", "o__payload", *counters],
                   em.nets, model=model, workdir=simdir, bins=simulated if per_cycle else 1,
                   cycles=simulated,
                   **simulation_setup(power_library(pdk).library, netlist, model, simdir))
    name = f"{netlist.top} ({model})"
    if any(r != 1 for r in run.outputs["i__ready"][:len(beats)]):
        raise EnergyCheckError(f"{name}: the array held back an input beat (not a back-to-back GEMM)")
    outs = [run.outputs["o__payload"][c] for c in range(simulated) if run.outputs["o__valid"][c]]
    nbytes = (job.fmt.output_bits + 7) // 8
    if len(outs) != job.output_beats or any(o is None for o in outs):
        raise EnergyCheckError(f"{name}: {len(outs)} output beats, expected {job.output_beats}")
    got, _ = assemble(job, np.array([list(o.to_bytes(nbytes, "little")) for o in outs], dtype=np.uint8))
    golden = golden_gemm(a, w, threads=threads, policy=policy)
    if not np.array_equal(got, golden.output):
        i, j = np.argwhere(got != golden.output)[0]
        raise EnergyCheckError(f"{name}: C[{i},{j}] = {got[i, j]}, golden {golden.output[i, j]}")
    final = {p: run.outputs[p][-1] for p in counters}
    want = {f"pe_cycles_by_active__{b}": n for b, n in enumerate(golden.stats["pe_cycles_by_active"])}
    want["lossy_reductions"] = golden.stats["macs_reduced_lossy"]
    for p, v in want.items():
        if p in final and final[p] != v:
            raise EnergyCheckError(f"{name}: counter {p} = {final[p]}, golden {v}")
    energy = em.energy(run.toggles.sum(axis=0), cycles, period_ns)
    dynamic = em.dynamic(run.toggles.sum(axis=0))
    pe_dynamic = actions = None
    if per_cycle:
        group = _pe_group(em, cols)
        stages = np.array([stage_of(d, design.pipeline) for d in em.drivers])
        weighted = aligned(run.toggles.astype(np.float64), stages) * em.per_net()[None, :]
        pe_dynamic = np.zeros((simulated, rows * cols))
        inside = group >= 0
        np.add.at(pe_dynamic.T, group[inside], weighted[:, inside].T)
        pe_dynamic = pe_dynamic.reshape(simulated, rows, cols)
        actions = pe_actions(a, w, rows=rows, cols=cols, threads=threads, policy=policy, cycles=simulated)
    return ArrayRun(rows, cols, threads, model, cycles, len(beats), job.output_beats,
                    a.shape[0] * a.shape[1] * w.shape[1], energy, dynamic, pe_dynamic, actions,
                    float(em.per_cycle.sum()), float(em.leakage_w.sum()), design.pipeline)


@dataclasses.dataclass
class ArrayActionEnergies:
    """Per-action energies of one array (module doc), pJ."""

    rows: int
    cols: int
    threads: int
    model: str
    pe: dict[str, float]
    pe_samples: dict[str, int]
    per_input_beat: float
    per_output_beat: float
    per_cycle: float                  # counters, control, fanout trees (dynamic)
    clock_pj_per_cycle: float         # ungated clock pins
    leakage_w: float
    pipeline: int = 0                 # the PEs' pipeline registers (cycles of a GEMM)
    period_ns: float = PERIOD_NS      # the clock leakage is priced at

    def pe_energy(self, action: str) -> tuple[float, bool]:
        """pJ of one PE-cycle of `action`, and whether it was measured. An action the
        calibration never saw takes its lossy/exact twin (same active lanes), else the
        nearest measured action with fewer active lanes (a lower bound)."""
        if action in self.pe:
            return self.pe[action], True
        n = 0 if action == IDLE else int(action[1:].split("-")[0])
        for k in range(n, -1, -1):
            for key in (f"n{k}", f"n{k}-lossy"):
                if key in self.pe:
                    return self.pe[key], False
        raise KeyError(f"no PE action measured for {action!r} ({self.threads}T)")

    @classmethod
    def from_record(cls, record: dict) -> "ArrayActionEnergies":
        """The table an `nbsmt energy` report stores for one array (its `gemm` records)."""
        t = record["action_pj"]
        return cls(rows=record["rows"], cols=record["cols"], threads=record["threads"],
                   model=record["model"], pe=dict(t["pe"]), pe_samples=dict(t["pe_samples"]),
                   per_input_beat=t["per_input_beat"], per_output_beat=t["per_output_beat"],
                   per_cycle=t["per_cycle_counters_control"],
                   clock_pj_per_cycle=t["clock_per_cycle"], leakage_w=t["leakage_w"],
                   pipeline=record.get("pipeline", 0),
                   period_ns=t.get("period_ns", PERIOD_NS))

    def counts(self, a, w, policy: Policy | None = None) -> dict[str, int]:
        """`padded_action_counts` of a @ w on this array: the same for every glitch model,
        so one count can be priced by each model's table (`estimate(counts=...)`)."""
        return padded_action_counts(a, w, rows=self.rows, cols=self.cols, threads=self.threads,
                                    policy=policy or Policy())

    def estimate(self, a, w, policy: Policy | None = None,
                 counts: dict[str, int] | None = None) -> dict:
        """Energy of a @ w in mode T on this array from action counts (module doc);
        `counts`: `self.counts(a, w, policy)` when already counted."""
        policy = policy or Policy()
        m_rows, k = a.shape
        n_cols = w.shape[1]
        cycles = gemm_cycles(m_rows, k, n_cols, rows=self.rows, cols=self.cols, mode=self.threads,
                             pipeline=self.pipeline)
        counts = dict(self.counts(a, w, policy) if counts is None else counts)
        counts[IDLE] = counts.get(IDLE, 0) + self.rows * self.cols * cycles - sum(counts.values())
        priced = {k: self.pe_energy(k) for k, n in counts.items() if n}
        pe = sum(counts[k] * e for k, (e, _) in priced.items())
        unseen = sorted(k for k, (_, seen) in priced.items() if not seen)
        tiles = -(-m_rows // self.rows) * -(-n_cols // self.cols)
        beats_in = tiles * -(-k // self.threads)   # a K-step per beat (host/driver.plan)
        beats_out = tiles * self.rows
        array = beats_in * self.per_input_beat + beats_out * self.per_output_beat + cycles * self.per_cycle
        fixed = cycles * (self.clock_pj_per_cycle + self.leakage_w * self.period_ns * 1e-9 / 1e-12)
        total = pe + array + fixed
        macs = m_rows * k * n_cols
        return {"cycles": cycles, "energy_pj": total, "pj_per_mac": total / macs,
                "pe_dynamic_pj": pe, "array_dynamic_pj": array, "clock_leakage_pj": fixed,
                "pe_cycles_by_action": counts, "unseen_actions": unseen}


#: Elements of one block of the action count (rows x K-steps x columns x lanes): the
#: count of a whole layer (e.g. 28800 x 144 x 32) runs in blocks of rows of this size.
COUNT_BLOCK = 1 << 21


def padded_action_counts(a, w, *, rows: int, cols: int, threads: int, policy: Policy) -> dict[str, int]:
    """PE-cycles per action of every K-step the array runs, padding of partial tiles included."""
    a_l, w_l = lane_operands(a, w, threads, threads)
    steps = a_l.shape[1]
    mt, nt = -(-a.shape[0] // rows), -(-w.shape[1] // cols)
    a_pad = np.zeros((mt * rows, steps, threads), dtype=np.int64)
    w_pad = np.zeros((steps, nt * cols, threads), dtype=np.int64)
    a_pad[:len(a_l)] = a_l
    w_pad[:, :w_l.shape[1]] = w_l
    key = np.zeros(2 * threads + 2, dtype=np.int64)
    block = max(1, COUNT_BLOCK // max(1, steps * nt * cols * threads))
    for r0 in range(0, len(a_pad), block):
        c = contribution(a_pad[r0:r0 + block, :, None, :], w_pad[None, :, :, :], policy)
        key += np.bincount((2 * c.active + (c.reduced_lossy > 0)).ravel(),
                           minlength=2 * threads + 2)
    counts = {}
    for n in range(threads + 1):
        for lossy in (0, 1):
            if key[2 * n + lossy]:
                counts[f"n{n}" + ("-lossy" if lossy else "")] = int(key[2 * n + lossy])
    return counts


def characterize_array(run: ArrayRun) -> ArrayActionEnergies:
    """Per-action energies from a direct run made with `per_cycle=True`."""
    if run.pe_dynamic is None:
        raise ValueError("characterize_array needs a run with per_cycle=True")
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for act, e in zip(run.actions.ravel(), run.pe_dynamic.ravel()):
        sums[act] = sums.get(act, 0.0) + float(e)
        counts[act] = counts.get(act, 0) + 1
    by_block, array_clock = {}, 0.0
    for (block, category), e in run.dynamic.items():
        if category == "clock" and block in PER_INPUT_BEAT + PER_OUTPUT_BEAT + PER_CYCLE:
            array_clock += e      # gated by the core's run enable: clocked every advancing cycle
        else:
            by_block[block] = by_block.get(block, 0.0) + e
    part = lambda names: sum(by_block.get(b, 0.0) for b in names)   # noqa: E731
    return ArrayActionEnergies(
        run.rows, run.cols, run.threads, run.model,
        {k: sums[k] / counts[k] for k in sorted(sums)}, dict(sorted(counts.items())),
        part(PER_INPUT_BEAT) / run.input_beats, part(PER_OUTPUT_BEAT) / run.output_beats,
        (part(PER_CYCLE) + array_clock) / run.cycles, run.clock_pj_per_cycle, run.leakage_w,
        run.pipeline, run.energy.period_ns)


def calibration_tile(a, w, rows: int, cols: int, threads: int):
    """The second tile along the diagonal (the first if the GEMM has one row or column
    block), its K cut to 32 K-steps: what the per-action energies are measured on."""
    r0 = rows if a.shape[0] >= 2 * rows else 0
    c0 = cols if w.shape[1] >= 2 * cols else 0
    k = min(a.shape[1], 32 * threads)
    return a[r0:r0 + rows, :k], w[:k, c0:c0 + cols]


def calibrated_table(a, w, *, design: Design, model: str, workdir: Path, pdk: str = DEFAULT_PDK,
                     period_ns: float = PERIOD_NS) -> ArrayActionEnergies:
    """Per-action energies of `design` on the library `pdk`, measured by a gate-level run
    of a @ w's calibration tile (leakage priced at `period_ns`)."""
    return characterize_array(_calibration_run(a, w, design=design, model=model, workdir=workdir,
                                               pdk=pdk, period_ns=period_ns))


def _calibration_run(a, w, *, design, model, workdir, pdk, period_ns) -> ArrayRun:
    tile = calibration_tile(a, w, design.rows, design.cols, design.threads)
    return run_array(*tile, design=design, model=model, per_cycle=True, workdir=workdir, pdk=pdk,
                     period_ns=period_ns)


def gemm_energy(a, w, *, design: Design, model: str, workdir: Path, pdk: str = DEFAULT_PDK,
                period_ns: float = PERIOD_NS) -> dict:
    """Energy of the whole GEMM a @ w on `design` (the per-action estimate of a
    calibration run), with its leakage, the leakage's share, its time and energy x delay
    per MAC, and the calibration run's own split per MAC by category and by block: what
    `make technology` and `nbsmt sweep --metrics energy` report."""
    run = _calibration_run(a, w, design=design, model=model, workdir=workdir, pdk=pdk,
                           period_ns=period_ns)
    est = characterize_array(run).estimate(a, w, design.policy)
    leakage = run.leakage_w * period_ns * 1e-9 / 1e-12 * est["cycles"]
    time_ns = est["cycles"] * period_ns
    return {"pj_per_mac": est["pj_per_mac"], "energy_pj": est["energy_pj"],
            "leakage_pj": leakage, "leakage_share": leakage / est["energy_pj"],
            "cycles": est["cycles"], "period_ns": period_ns, "time_ns": time_ns,
            "edp_pj_ns_per_mac": est["pj_per_mac"] * time_ns,
            "calibration_pj_per_mac_by_category": {
                k: e / run.macs for k, e in run.energy.by_category().items()},
            "calibration_pj_per_mac_by_block": {
                k: e / run.macs for k, e in run.energy.by_block().items()}}
