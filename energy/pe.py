"""Energy of GEMMs on OS-SA / SySMT PEs: gate-level runs, per-action energies, estimates.

A PE is mapped onto the OSU 0.18 um library (synth/techmap.py), simulated at gate level
with operand streams from a GEMM (energy/gatesim.py) and priced with the library's energy
tables (energy/power.py). The PE sees what PE (i, j) of an array sees: for each output
element in turn, its S = ceil(K/m) K-steps with `en`, `last` on the final one. Every run
checks the PE's `acc`, `result`, `n_active` and `lossy` outputs bit-exact against the
golden arithmetic (nbsmt.sim.arith) in the same simulation, and the finished sums
against `golden_gemm`.

Per-action energies: the dynamic energy of each simulated cycle (its toggles x their
energies) is averaged by the cycle's action: an idle cycle (en = 0), or a K-step with n
active lanes, lossy or exact. A GEMM's energy is then its action counts (from the golden
arithmetic, as the array's counters would report them) x those energies, plus clock and
leakage for its cycles; `validate` holds that estimate to a direct gate-level run.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from pathlib import Path

import numpy as np

from nbsmt.hw.design import Design
from nbsmt.core.policy import Policy
from nbsmt.sim.arith import contribution, wrap
from nbsmt.sim.gemm import golden_gemm, lane_operands
from nbsmt.energy.cellmodels import model_file, settle_bound_ns
from nbsmt.energy.gatesim import OSU_VERILOG, SIM_PERIOD_NS, simulate, simulation_verilog
from nbsmt.energy.power import Energy, EnergyModel, PowerLibrary, energy_model, load_power_library
from nbsmt.synth.pdk import load as load_pdk
from nbsmt.synth.techmap import Mapped, map_design
from nbsmt.synth.timing import NOMINAL_PERIOD_NS
from nbsmt.host.beats import pack_lanes
from nbsmt.host.pe_vectors import expected_accumulator

IDLE = "idle"
#: Clock the leakage is priced at (ns): the timing flow's nominal 100 MHz.
PERIOD_NS = NOMINAL_PERIOD_NS


class EnergyCheckError(AssertionError):
    """A gate-level run disagreed with the golden model."""


#: The library the energy flow maps onto unless told otherwise (synth/pdk.py names).
DEFAULT_PDK = "osu018"


@functools.cache
def power_library(spec: str = DEFAULT_PDK) -> PowerLibrary:
    """The library `--pdk spec` names (synth/pdk.py), with its energy scales."""
    return load_power_library(load_pdk(spec))


def osu_library() -> PowerLibrary:
    return power_library(DEFAULT_PDK)


@functools.cache
def _mapped_pe(design: Design, workdir: str, spec: str) -> tuple[Mapped, EnergyModel]:
    lib = power_library(spec)
    mapped = map_design(design.verilog(), design.name, lib.library,
                        Path(workdir) / design.name, gate_clocks=design.gate_clocks)
    return mapped, energy_model(mapped.netlist, lib, design="pe")


def mapped_pe(design: Design, *, workdir: Path = Path("build/energy/map"),
              pdk: str = DEFAULT_PDK) -> tuple[Mapped, EnergyModel]:
    """The PE `design` mapped onto the library `pdk` and its energy model (once per process)."""
    if design.kind != "pe":
        raise ValueError(f"mapped_pe takes a PE design, not {design.name}")
    return _mapped_pe(design, str(workdir), pdk)


def simulation_setup(library, netlist, model: str, workdir: Path) -> dict:
    """simulate()'s cell models and clock period for `netlist` on `library`: OSU's own
    models at SIM_PERIOD_NS, or Liberty-built ones (energy/cellmodels.py) at a period
    twice the logic's settling bound under cell delays, when that is longer."""
    models = model_file(library, netlist, workdir)
    period = SIM_PERIOD_NS
    if model == "cell-delays" and models != OSU_VERILOG:
        period = max(period, float(math.ceil(2 * settle_bound_ns(library, netlist))))
    return {"cell_models": models, "period_ns": period}


def delayed(values, cycles: int) -> np.ndarray:
    """`values` `cycles` cycles later: zeros (the registers' reset value) first."""
    values = np.asarray(values)
    return np.concatenate([np.zeros(cycles, dtype=values.dtype), values[:len(values) - cycles]])


#: The pipeline stage of a PE block, by its submodule (hw/pe.py): a K-step that enters
#: in cycle c is reduced in c, multiplied after `pipe1` and accumulated after `pipe2`.
_STAGE_BLOCKS = {"pipe1": lambda p: 1, "mult": lambda p: min(p, 1), "pipe2": lambda p: 2,
                 "accum": lambda p: p}


def stage_of(cell: str, pipeline: int) -> int:
    """How many cycles after a K-step enters a PE the cell `cell` (a hierarchical name, in
    a PE or an array's `pe_i_j`) works on it: 0 for everything in an unpipelined PE."""
    parts = cell.split(".")
    if re.fullmatch(r"pe_\d+_\d+", parts[0]):
        parts = parts[1:]
    stage = _STAGE_BLOCKS.get(parts[0]) if len(parts) > 1 else None
    return stage(pipeline) if stage and pipeline else 0


def aligned(per_cycle: np.ndarray, stages: np.ndarray) -> np.ndarray:
    """`per_cycle` [cycles, nets] with each net's column moved `stages[net]` cycles earlier:
    row c then holds what the K-step that entered in cycle c cost in every stage (the
    last rows miss the stages that ran after the end)."""
    out = np.zeros_like(per_cycle)
    for s in np.unique(stages):
        sel = stages == s
        out[:len(out) - s, sel] = per_cycle[s:, sel]
    return out


def action_of(n: np.ndarray, lossy: np.ndarray, en: np.ndarray) -> list[str]:
    """The action of each PE-cycle: "idle", or "n<k>" with "-lossy" when a reduction lost bits."""
    return [IDLE if not e else f"n{k}" + ("-lossy" if l else "") for k, l, e in zip(n, lossy, en)]


@dataclasses.dataclass
class PEStream:
    """Per-cycle PE inputs for a list of output elements of a GEMM, and their expectations."""

    a: np.ndarray           # [cycles, T]
    w: np.ndarray           # [cycles, T]
    en: np.ndarray
    last: np.ndarray
    elements: list          # (i, j) per output element, in stream order
    macs: int               # dense MACs of those elements (K each)
    effectual: int          # MACs with a != 0 and w != 0


def pe_stream(a, w, elements, *, threads: int, mode: int, idle_after: int = 0) -> PEStream:
    """The cycles PE (i, j) runs for each `(i, j)` in `elements` (module doc), with
    `idle_after` idle cycles (en = 0, zero operands) after each element."""
    a = np.asarray(a, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    a_l, w_l = lane_operands(a, w, threads, mode)
    steps = a_l.shape[1]
    rows_a, rows_w, en, last = [], [], [], []
    zeros = np.zeros((idle_after, threads), dtype=np.int64)
    for i, j in elements:
        rows_a += [a_l[i], zeros]
        rows_w += [w_l[:, j], zeros]
        en += [1] * steps + [0] * idle_after
        last += [0] * (steps - 1) + [1] + [0] * idle_after
    effectual = sum(int(np.count_nonzero((a[i] != 0) & (w[:, j] != 0))) for i, j in elements)
    return PEStream(np.concatenate(rows_a), np.concatenate(rows_w), np.array(en), np.array(last),
                    list(elements), len(elements) * a.shape[1], effectual)


@dataclasses.dataclass
class PERun:
    threads: int
    mode: int
    model: str
    cycles: int
    macs: int
    effectual_macs: int
    energy: Energy
    dynamic_per_cycle: np.ndarray     # pJ of the toggles of each cycle's K-step (`aligned`)
    combinational_per_cycle: np.ndarray   # the part of it in combinational cells
    actions: list[str]
    clock_pj_per_cycle: float
    leakage_w: float

    @property
    def pj_per_mac(self) -> float:
        return self.energy.total / self.macs

    @property
    def pj_per_effectual_mac(self) -> float | None:
        """None (null in a report) without an effectual MAC: the ratio is undefined."""
        return self.energy.total / self.effectual_macs if self.effectual_macs else None


def run_pe(a, w, elements, *, design: Design, mode: int | None = None, model: str,
           idle_after: int = 0, workdir: Path = Path("build/energy"), pdk: str = DEFAULT_PDK,
           period_ns: float = PERIOD_NS) -> PERun:
    """Gate-level run of the PE `design` over `elements` of the GEMM a @ w, checked
    bit-exact (module doc). A pipelined PE's acc, result and result_valid come
    `design.pipeline` cycles later, its statistics one cycle later; `result` is checked
    in every cycle, except where it is a don't-care (not valid, in a pipelined PE that
    holds idle stages). Leakage is priced at a clock of `period_ns`."""
    threads, policy = design.threads, design.policy
    mode = mode or threads
    p = design.pipeline
    if p and idle_after < p:
        raise ValueError(f"a PE with {p} pipeline registers needs idle_after >= {p}, not {idle_after}")
    mapped, em = mapped_pe(design, workdir=workdir / "map", pdk=pdk)
    s = pe_stream(a, w, elements, threads=threads, mode=mode, idle_after=idle_after)
    c = contribution(s.a, s.w, policy)
    acc = expected_accumulator(c.value, s.en, s.last, policy.acc_bits)
    valid = delayed(s.en & s.last, p)
    expect = {
        "acc": delayed(acc, p), "result": delayed(wrap(acc + c.value, policy.acc_bits), p),
        "result_valid": valid,
        "n_active": delayed(np.where(s.en == 1, c.active, 0), min(p, 1)),
        "lossy": delayed(np.where(s.en == 1, c.reduced_lossy, 0), min(p, 1)),
    }
    checked = valid == 1 if p and design.gate_clocks else np.ones(len(valid), dtype=bool)
    inputs = {"a_in": pack_lanes(s.a, policy.act_bits), "w_in": pack_lanes(s.w, policy.weight_bits),
              "en_in": s.en.tolist(), "last_in": s.last.tolist()}
    cycles = len(s.en)
    name = mapped.netlist.top
    simdir = workdir / "sim" / f"{name}_{model}"
    run = simulate(mapped.netlist, simulation_verilog(mapped.netlist), inputs, list(expect), em.nets,
                   model=model, workdir=simdir, bins=cycles,
                   **simulation_setup(power_library(pdk).library, mapped.netlist, model, simdir))
    mask = (1 << policy.acc_bits) - 1
    for port, values in expect.items():
        want = [int(v) & (mask if port in ("acc", "result") else 0xFF) for v in values]
        got = run.outputs[port]
        bad = [k for k in range(cycles) if got[k] != want[k] and (port != "result" or checked[k])]
        if bad:
            k = bad[0]
            raise EnergyCheckError(f"{name} ({model}): {port} = {got[k]} at cycle {k}, "
                                   f"golden {want[k]} (a={s.a[k - p].tolist()}, w={s.w[k - p].tolist()})")
    golden = golden_gemm(np.asarray(a), np.asarray(w), threads=threads, mode=mode, policy=policy).output
    ends = np.flatnonzero(s.last == 1) + p
    for (i, j), k in zip(elements, ends):
        if (run.outputs["result"][k] & mask) != (int(golden[i, j]) & mask):
            raise EnergyCheckError(f"{name} ({model}): C[{i},{j}] != golden_gemm")
    stages = np.array([stage_of(d, p) for d in em.drivers])
    per_bucket = aligned(run.toggles.astype(np.float64), stages) @ em.toggle_energy
    combinational = [b for b, (_, cat) in enumerate(em.buckets) if cat == "combinational"]
    energy = em.energy(run.toggles.sum(axis=0), cycles, period_ns)
    return PERun(threads, mode, model, cycles, s.macs, s.effectual, energy,
                 per_bucket.sum(axis=1), per_bucket[:, combinational].sum(axis=1), action_of(c.active, c.reduced_lossy, s.en),
                 float(em.per_cycle.sum()), float(em.leakage_w.sum()))


@dataclasses.dataclass
class ActionEnergies:
    """Dynamic pJ per PE-cycle of each action, and the per-cycle clock and leakage power."""

    threads: int
    model: str
    dynamic: dict[str, float]
    samples: dict[str, int]
    clock_pj_per_cycle: float
    leakage_w: float

    def estimate(self, counts: dict[str, int], period_ns: float = PERIOD_NS) -> float:
        """pJ of a run with `counts` PE-cycles per action (clock and leakage every cycle)."""
        cycles = sum(counts.values())
        missing = [k for k, n in counts.items() if n and k not in self.dynamic]
        if missing:
            raise KeyError(f"no characterized energy for actions {missing} ({self.threads}T)")
        dynamic = sum(n * self.dynamic[k] for k, n in counts.items() if n)
        return dynamic + cycles * (self.clock_pj_per_cycle + self.leakage_w * period_ns * 1e-9 / 1e-12)


def characterize(run: PERun) -> ActionEnergies:
    """Mean dynamic energy per cycle of each action seen in `run`."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for action, e in zip(run.actions, run.dynamic_per_cycle):
        sums[action] = sums.get(action, 0.0) + float(e)
        counts[action] = counts.get(action, 0) + 1
    return ActionEnergies(run.threads, run.model, {k: sums[k] / counts[k] for k in sorted(sums)},
                          dict(sorted(counts.items())), run.clock_pj_per_cycle, run.leakage_w)


def action_counts(a, w, *, threads: int, mode: int | None = None, policy: Policy | None = None,
                  elements=None, idle_per_element: int = 0) -> dict[str, int]:
    """PE-cycles per action of a GEMM (all output elements, or `elements`)."""
    policy = policy or Policy()
    a_l, w_l = lane_operands(a, w, threads, mode or threads)
    if elements is None:
        c = contribution(a_l[:, :, None, :], w_l[None, :, :, :], policy)
        n, lossy, outputs = c.active.ravel(), c.reduced_lossy.ravel(), a_l.shape[0] * w_l.shape[1]
    else:
        c = contribution(np.stack([a_l[i] for i, _ in elements]),
                         np.stack([w_l[:, j] for _, j in elements]), policy)
        n, lossy, outputs = c.active.ravel(), c.reduced_lossy.ravel(), len(elements)
    counts: dict[str, int] = {}
    for k in range(threads + 1):
        sel = n == k
        exact = int(np.count_nonzero(sel & (lossy == 0)))
        lossy_n = int(np.count_nonzero(sel & (lossy > 0)))
        if exact:
            counts[f"n{k}"] = exact
        if lossy_n:
            counts[f"n{k}-lossy"] = lossy_n
    if idle_per_element:
        counts[IDLE] = outputs * idle_per_element
    return counts
