"""The NB-SMT workload study: accuracy, statistics and array speedup of a quantized CNN.

`study()` runs the phases below in order (`prepare`, `uniform_modes`, `uniform_cycles`,
`mode_search`, `reorder_study`, `emulator_check`); it trains the digits CNN (sim/cnn.py), quantizes it to 8 bits (sim/quantize.py)
and runs every layer's GEMM through the exact emulator (sim/emulator.py) in each mode,
for the default policy and the authors' emulator policy. It returns one JSON-ready
record with:

- accuracy: float, exact 8-bit (mode 1), 2T (mode 2) and 4T (mode 4) per policy, on the
  test split, with the per-layer SPEC §8 statistics of every run;
- cycles: per layer and for the network, on 8x8 and 16x16 arrays, from the array cycle
  model `nbsmt.sim.cycles`;
- mode_search: the per-layer modes (1, 2 or 4 on a 4T array) that maximize the
  network's speedup within an accuracy-loss budget vs exact 8-bit, judged on the
  calibration split (exhaustive: 3^3 assignments), then reported on the test split;
- reorder: collisions, lossy MACs and accuracy with and without the calibration-derived
  K permutation (sim/reorder.py);
- emulator_check: the emulator against the golden model on real layer operands.

Every layer's GEMM runs over the whole split as one matrix (M = images * 64 output
pixels for a convolution, M = images for fc), which is how the array sees a batch.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np

from nbsmt.sim import cnn, quantize, reorder
from nbsmt.sim.emulator import emulate_gemm
from nbsmt.sim.exact_matmul import exact_matmul
from nbsmt.sim.cycles import cycle_report
from nbsmt.sim.gemm import golden_gemm
from nbsmt.core.policy import Policy

POLICIES = {"default": Policy(), "authors": Policy.authors()}
ARRAYS = ((8, 8), (16, 16))
THREADS = 4            # the array of the mode search (SySMT 4T)
BUDGETS_PP = (0.0, 0.5, 1.0, 2.0)
FULL_EPOCHS, QUICK_EPOCHS = 20, 3
QUICK_IMAGES = 150     # --quick: calibration and test splits cut to this many images


def array_cycles(m_rows: int, k: int, n_cols: int, *, rows: int, cols: int, mode: int) -> dict:
    """Cycle report of one GEMM on an R x C SySMT array: the array's own cycle model
    (`nbsmt.sim.cycles.cycle_report`, which its RTL counter must match), as the study's
    network totals use it."""
    return cycle_report(m_rows, k, n_cols, rows=rows, cols=cols, mode=mode)


def _array_key(shape) -> str:
    return f"{shape[0]}x{shape[1]}"


class Runner:
    """Runs the quantized network with a chosen GEMM per layer: exact 8-bit (returning the
    layers' A operands with the logits) or NB-SMT through the emulator (returning the
    layers' statistics)."""

    def __init__(self, qnet: quantize.QNet):
        self.qnet = qnet

    def layer_shapes(self, images: int) -> dict:
        """(M, K, N) of each layer's GEMM for a batch of `images`."""
        out = {}
        for q in self.qnet.layers:
            m_rows = images if q.name == "fc" else images * 64
            out[q.name] = (m_rows, int(q.w_q.shape[0]), int(q.w_q.shape[1]))
        return out

    def exact(self, x):
        """Logits and per-layer A operands of the exact 8-bit network (mode 1)."""
        operands = {}

        def gemm(name, a, w):
            operands[name] = a
            return exact_matmul(a, w)
        return quantize.run(self.qnet, x, gemm), operands

    def nbsmt(self, x, *, modes: dict, threads: int, policy: Policy, perms=None,
              operands: dict | None = None):
        """Logits and per-layer emulator statistics with a mode (and K permutation) per layer.

        operands: a dict to fill with each layer's A operand as this network computed it.
        """
        stats = {}

        def gemm(name, a, w):
            if operands is not None:
                operands[name] = a
            if perms and name in perms:
                a, w = reorder.permute(a, w, perms[name])
            result = emulate_gemm(a, w, threads=threads, mode=modes[name], policy=policy)
            stats[name] = result.stats
            return result.output
        return quantize.run(self.qnet, x, gemm), stats


def network_cycles(shapes: dict, modes: dict, array) -> dict:
    """Per-layer cycle reports and the network's cycles, speedup and PE utilization."""
    rows, cols = array
    layers = {name: array_cycles(*shape, rows=rows, cols=cols, mode=modes[name])
              for name, shape in shapes.items()}
    cycles = sum(r["cycles"] for r in layers.values())
    base = sum(r["cycles_mode1"] for r in layers.values())
    pe_cycles = sum(r["utilization"] * rows * cols * r["cycles"] for r in layers.values())
    return {"layers": layers, "cycles": cycles, "cycles_mode1": base,
            "speedup": base / cycles, "utilization": pe_cycles / (rows * cols * cycles)}


def _layer_summary(stats: dict) -> dict:
    """The SPEC §8 record of one layer, without the repeated policy, plus two rates."""
    s = {k: v for k, v in stats.items() if k != "policy"}
    s["lossy_mac_rate"] = stats["macs_reduced_lossy"] / stats["macs"] if stats["macs"] else 0.0
    return s


def _mode_search(runner, split, policy, base_acc, shapes, budgets) -> dict:
    """Calibration accuracy of every per-layer mode assignment, then the best per budget."""
    names = list(shapes)
    act0 = quantize.quantize_input(split.x)
    accs = {}

    def descend(i, act, modes):
        if i == len(names):
            accs[modes] = cnn.accuracy(act, split.y)
            return
        q = runner.qnet.layers[i]
        a = quantize.layer_operands(q.name, act)
        for mode in (1, 2, 4):
            if mode == 1:
                acc = exact_matmul(a, q.w_q)
            else:
                acc = emulate_gemm(a, q.w_q, threads=THREADS, mode=mode, policy=policy).output
            descend(i + 1, quantize.layer_output(runner.qnet, q.name, acc, len(split)),
                    modes + (mode,))
    descend(0, act0, ())
    candidates = []
    for modes, acc in sorted(accs.items()):
        assignment = dict(zip(names, modes))
        speed = {_array_key(arr): network_cycles(shapes, assignment, arr)["speedup"]
                 for arr in ARRAYS}
        candidates.append({"modes": assignment, "calib_accuracy": acc,
                           "calib_loss_pp": 100 * (base_acc - acc), "speedup": speed})
    best = {}
    for arr in ARRAYS:
        key = _array_key(arr)
        for budget in budgets:
            ok = [c for c in candidates if c["calib_loss_pp"] <= budget + 1e-9]
            # speedups within 0.1 % count as equal (a few fill cycles are not worth
            # accuracy); then the more accurate assignment wins
            pick = max(ok, key=lambda c: (round(c["speedup"][key], 3), c["calib_accuracy"]))
            best.setdefault(key, {})[str(budget)] = {**pick, "speedup": pick["speedup"][key]}
    return {"candidates": candidates, "best": best}


@dataclasses.dataclass
class Workload:
    """The trained, quantized network, its splits and its exact 8-bit baseline: what
    every phase of the study runs on (`prepare` makes it)."""

    params: cnn.Params
    qnet: quantize.QNet
    runner: Runner
    train_images: int
    calib: cnn.Split
    test: cnn.Split
    epochs: int
    shapes: dict           # (M, K, N) per layer for the test split
    float_accuracy: dict   # {"test": ..., "calib": ...}
    exact_accuracy: dict   # exact 8-bit (mode 1), {"test": ..., "calib": ...}
    operands: dict         # per split, per layer: the A operand of the exact network


def prepare(quick: bool) -> Workload:
    """Train and quantize the digits CNN; run the float and exact 8-bit networks."""
    digits = cnn.load_digits()
    calib, test = digits.calib, digits.test
    if quick:
        calib, test = calib.head(QUICK_IMAGES), test.head(QUICK_IMAGES)
    epochs = QUICK_EPOCHS if quick else FULL_EPOCHS
    params = cnn.train(digits.train, epochs=epochs)
    qnet = quantize.quantize(params, calib)
    runner = Runner(qnet)
    floats, exact, operands = {}, {}, {}
    for name, split in (("test", test), ("calib", calib)):
        floats[name] = cnn.accuracy(cnn.forward(params, split.x), split.y)
        logits, operands[name] = runner.exact(split.x)
        exact[name] = cnn.accuracy(logits, split.y)
    return Workload(params=params, qnet=qnet, runner=runner, train_images=len(digits.train),
                    calib=calib, test=test, epochs=epochs,
                    shapes=runner.layer_shapes(len(test)), float_accuracy=floats,
                    exact_accuracy=exact, operands=operands)


def describe(wl: Workload, *, quick: bool, budget_pp: float) -> dict:
    """The report's `config` record: splits, arrays, policies, layers and GEMM shapes."""
    return {
        "quick": quick, "epochs": wl.epochs, "seed": cnn.SEED,
        "split": {"train": wl.train_images, "calib": len(wl.calib), "test": len(wl.test)},
        "arrays": [_array_key(a) for a in ARRAYS], "search_threads": THREADS,
        "budget_pp": budget_pp,
        "policies": {k: p.as_dict() for k, p in POLICIES.items()},
        "layers": wl.qnet.describe(),
        "gemm_shapes_test": {k: list(v) for k, v in wl.shapes.items()},
    }


def uniform_modes(wl: Workload) -> dict:
    """Test accuracy, speedup and per-layer statistics of every policy in modes 1, 2, 4."""
    exact_test = wl.exact_accuracy["test"]
    runs = [{"name": "float", "policy": None, "threads": None, "mode": None,
             "test_accuracy": wl.float_accuracy["test"],
             "calib_accuracy": wl.float_accuracy["calib"]}]
    for pname, policy in POLICIES.items():
        for mode in (1, 2, 4):
            modes = dict.fromkeys(wl.shapes, mode)
            logits, stats = wl.runner.nbsmt(wl.test.x, modes=modes, threads=mode, policy=policy)
            acc = cnn.accuracy(logits, wl.test.y)
            runs.append({"name": f"{mode}T mode {mode}" if mode > 1 else "exact 8-bit (mode 1)",
                         "policy": pname, "threads": mode, "mode": mode,
                         "test_accuracy": acc, "loss_vs_exact_pp": 100 * (exact_test - acc),
                         "speedup": {_array_key(a): network_cycles(wl.shapes, modes, a)["speedup"]
                                     for a in ARRAYS},
                         "layers": {k: _layer_summary(v) for k, v in stats.items()}})
    return {"exact_test": exact_test, "exact_calib": wl.exact_accuracy["calib"], "runs": runs}


def uniform_cycles(wl: Workload) -> dict:
    """Network and per-layer array cycles of modes 1, 2, 4 on every array size."""
    return {_array_key(a): {str(m): network_cycles(wl.shapes, dict.fromkeys(wl.shapes, m), a)
                            for m in (1, 2, 4)} for a in ARRAYS}


def mode_search(wl: Workload, budget_pp: float) -> dict:
    """Per-layer modes within each accuracy budget (calibration split), judged on test."""
    budgets = sorted(set(BUDGETS_PP) | {budget_pp})
    exact_test = wl.exact_accuracy["test"]
    search = {}
    for pname, policy in POLICIES.items():
        found = _mode_search(wl.runner, wl.calib, policy, wl.exact_accuracy["calib"],
                             wl.runner.layer_shapes(len(wl.calib)), budgets)
        # each pick judged once on the test split; speedup for the test batch's shapes
        test_acc = {}
        for key, per_budget in found["best"].items():
            arr = next(a for a in ARRAYS if _array_key(a) == key)
            for pick in per_budget.values():
                modes = tuple(pick["modes"].values())
                if modes not in test_acc:
                    logits, _ = wl.runner.nbsmt(wl.test.x, modes=pick["modes"], threads=THREADS,
                                                policy=policy)
                    test_acc[modes] = cnn.accuracy(logits, wl.test.y)
                pick["test_accuracy"] = test_acc[modes]
                pick["test_loss_pp"] = 100 * (exact_test - pick["test_accuracy"])
                pick["test_speedup"] = network_cycles(wl.shapes, pick["modes"], arr)["speedup"]
        search[pname] = found
    return {"split": "calib", "threads": THREADS, "budget_pp": budget_pp,
            "budgets_pp": budgets, "policies": search}


def reorder_study(wl: Workload) -> dict:
    """Collisions, lossy MACs and accuracy without and with the calibration K permutation."""
    calib_ops, test_ops = wl.operands["calib"], wl.operands["test"]
    exact_test = wl.exact_accuracy["test"]
    reorders = {}
    for pname, policy in POLICIES.items():
        for mode in (2, 4):
            perms = {name: reorder.k_permutation(**reorder.column_stats(a, policy), mode=mode)
                     for name, a in calib_ops.items()}
            unchanged = all(
                np.array_equal(exact_matmul(*reorder.permute(test_ops[n], wl.qnet.layer(n).w_q, p)),
                               exact_matmul(test_ops[n], wl.qnet.layer(n).w_q))
                for n, p in perms.items())
            entry = {"policy": pname, "mode": mode, "exact_product_unchanged": unchanged}
            for label, use in (("without", None), ("with", perms)):
                logits, stats = wl.runner.nbsmt(wl.test.x, modes=dict.fromkeys(wl.shapes, mode),
                                                threads=mode, policy=policy, perms=use)
                acc = cnn.accuracy(logits, wl.test.y)
                entry[label] = {
                    "test_accuracy": acc, "loss_vs_exact_pp": 100 * (exact_test - acc),
                    "layers": {n: {"collision_rate": s["collision_rate"],
                                   "macs_reduced_lossy": s["macs_reduced_lossy"],
                                   "lossy_mac_rate": _layer_summary(s)["lossy_mac_rate"],
                                   "rel_frobenius": s["error"]["rel_frobenius"]}
                               for n, s in stats.items()}}
            reorders[f"{pname}-{mode}"] = entry
    return reorders


def headline(report: dict) -> dict:
    """The figures the command prints: 2T loss and the mode search's speedups at budget."""
    two_t = next(r for r in report["accuracy"]["runs"]
                 if r["policy"] == "default" and r["mode"] == 2)
    budget = report["mode_search"]["budget_pp"]
    best = report["mode_search"]["policies"]["default"]["best"]
    return {
        "2T_default_loss_pp": two_t["loss_vs_exact_pp"],
        "2T_default_loss_below_1pp": two_t["loss_vs_exact_pp"] < 1.0,
        "mode_search_speedup_at_budget": {k: v[str(budget)]["test_speedup"]
                                          for k, v in best.items()},
    }


def study(*, quick: bool = False, budget_pp: float = 1.0, log=lambda msg: None,
          energy=None) -> dict:
    """Run every phase of the study in order; `log` gets one line per phase.

    energy: `nbsmt.energy.report.load_action_tables`' answer (tables, about), or
    None; with it the report prices an inference per mode (`energy_per_inference`).
    """
    t_start = time.perf_counter()
    timings = {}

    def timed(name, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t0, 2)
        log(f"{name}: {timings[name]:.1f} s")
        return result

    wl = timed("train_and_quantize", prepare, quick)
    report = {"config": describe(wl, quick=quick, budget_pp=budget_pp)}
    report["accuracy"] = timed("uniform_modes", uniform_modes, wl)
    report["cycles"] = uniform_cycles(wl)
    report["mode_search"] = timed("mode_search", mode_search, wl, budget_pp)
    report["reorder"] = timed("reorder", reorder_study, wl)
    report["emulator_check"] = timed("emulator_check", emulator_check, wl.operands["test"], wl.qnet)
    report["energy"] = timed("energy", inference_energy, wl, energy)
    report["done"] = headline(report)
    report["timing_s"] = {**timings, "total": round(time.perf_counter() - t_start, 2)}
    return report


def emulator_check(operands: dict, qnet: quantize.QNet, rows: int = 256) -> dict:
    """Emulator vs golden model (output and statistics) on the first rows of each layer."""
    out = {}
    for name, a in operands.items():
        a = a[:rows]
        w = qnet.layer(name).w_q
        for (pname, policy), (threads, mode) in itertools.product(
                POLICIES.items(), ((1, 1), (2, 2), (4, 4))):
            want = golden_gemm(a, w, threads=threads, mode=mode, policy=policy)
            got = emulate_gemm(a, w, threads=threads, mode=mode, policy=policy)
            out[f"{name}/{pname}/{mode}"] = {
                "shape": [int(a.shape[0]), int(a.shape[1]), int(w.shape[1])],
                "equal": bool(np.array_equal(want.output, got.output) and want.stats == got.stats)}
    return out


def time_speedups(report: dict, periods: dict, clock_ns) -> dict:
    """Per array and uniform mode m > 1: the network on the mT array at the pipeline depth
    meeting the OS-SA's clock, speedup in cycles and in time (nbsmt.sim.clocks)."""
    from nbsmt.sim.clocks import gemms_time_speedup
    out = {}
    for arr, per_mode in report["cycles"].items():
        rows, cols = (int(x) for x in arr.split("x"))
        base = per_mode["1"]["cycles"]
        for mode in ("2", "4"):
            net = per_mode[mode]
            t = gemms_time_speedup(base, net["cycles"], len(net["layers"]), rows=rows, cols=cols,
                                   threads=int(mode), periods=periods, clock_ns=clock_ns)
            if t is not None:
                out.setdefault(arr, {})[mode] = t
    return out


def inference_energy(wl: Workload, energy) -> dict:
    """The report's `energy` record: per glitch model and mode, or a note why there is none."""
    if energy is None:
        return {"note": "no energy report: run `make energy` (or give --energy)"}
    tables, about = energy
    policy = POLICIES["default"]
    if about["policy"] != policy.as_dict():
        return {"note": f"the energy report ({about['source']}) was made for another policy "
                        "than the default"}
    return {**about, "per_model": energy_per_inference(wl, tables, policy)}


def energy_per_inference(wl: Workload, tables: dict, policy: Policy) -> dict:
    """Energy of one test inference in each uniform mode m on the m-thread array, from the
    per-action energies `nbsmt energy` measured (tables: {(threads, glitch model):
    `ArrayActionEnergies`}), priced on the operands each mode's network computes."""
    images = len(wl.test)
    out = {}
    for mode in sorted({t for t, _ in tables}):
        operands: dict = {}
        modes = dict.fromkeys(wl.shapes, mode)
        wl.runner.nbsmt(wl.test.x, modes=modes, threads=mode, policy=policy, operands=operands)
        mode_tables = {model: t for (threads, model), t in tables.items() if threads == mode}
        first = next(iter(mode_tables.values()))   # one count serves every glitch model
        counts = {name: first.counts(a, wl.qnet.layer(name).w_q, policy)
                  for name, a in operands.items()}
        for model, table in mode_tables.items():
            layers = {name: table.estimate(a, wl.qnet.layer(name).w_q, policy, counts[name])
                      for name, a in operands.items()}
            total = sum(r["energy_pj"] for r in layers.values())
            macs = sum(int(np.prod(wl.shapes[name])) for name in layers)
            out.setdefault(model, {})[str(mode)] = {
                "nj_per_inference": total / images / 1e3, "pj_per_mac": total / macs,
                "layers_nj_per_inference": {n: r["energy_pj"] / images / 1e3 for n, r in layers.items()},
                "unseen_actions": sorted({u for r in layers.values() for u in r["unseen_actions"]})}
    for per_mode in out.values():
        base = per_mode.get("1")
        for rec in per_mode.values():
            rec["ratio_vs_mode1"] = rec["nj_per_inference"] / base["nj_per_inference"] if base else None
    return out
