"""The NB-SMT workload study: accuracy, statistics and array speedup of a quantized CNN.

`study()` trains the digits CNN (sim/cnn.py), quantizes it to 8 bits (sim/quantize.py)
and runs every layer's GEMM through the exact emulator (sim/emulator.py) in each mode,
for the default policy and the authors' emulator policy. It returns one JSON-ready
record with:

- accuracy: float, exact 8-bit (mode 1), 2T (mode 2) and 4T (mode 4) per policy, on the
  test split, with the per-layer SPEC §8 statistics of every run;
- cycles: per layer and for the network, on 8x8 and 16x16 arrays, from the array cycle
  model `nbsmt.sim.cycles` (through `array_cycles`, the one place that calls it);
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

import itertools
import time

import numpy as np

from nbsmt.sim import cnn, quantize, reorder
from nbsmt.sim.emulator import emulate_gemm, exact_matmul
from nbsmt.sim.gemm import golden_gemm
from nbsmt.policy import Policy

POLICIES = {"default": Policy(), "authors": Policy.authors()}
ARRAYS = ((8, 8), (16, 16))
THREADS = 4            # the array of the mode search (SySMT 4T)
BUDGETS_PP = (0.0, 0.5, 1.0, 2.0)
FULL_EPOCHS, QUICK_EPOCHS = 20, 3
QUICK_IMAGES = 150     # --quick: calibration and test splits cut to this many images


def array_cycles(m_rows: int, k: int, n_cols: int, *, rows: int, cols: int, mode: int) -> dict:
    """Cycle count of one GEMM on an R x C SySMT array (adapter to nbsmt.sim.cycles).

    The cycle model belongs to the array (its RTL counter must match it); this is the
    only call into it, so a change of its interface is a change here alone.
    """
    from nbsmt.sim.cycles import cycle_report
    return cycle_report(m_rows, k, n_cols, rows=rows, cols=cols, mode=mode)


def _array_key(shape) -> str:
    return f"{shape[0]}x{shape[1]}"


class Runner:
    """Runs the quantized network with chosen GEMMs and remembers the operands it saw."""

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

    def nbsmt(self, x, *, modes: dict, threads: int, policy: Policy, perms=None):
        """Logits and per-layer emulator statistics with a mode (and K permutation) per layer."""
        stats = {}

        def gemm(name, a, w):
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


def study(*, quick: bool = False, budget_pp: float = 1.0, log=lambda msg: None) -> dict:
    """Run the whole study; `log` gets one line per phase."""
    t_start = time.perf_counter()
    timings = {}

    def phase(name, t0):
        timings[name] = round(time.perf_counter() - t0, 2)
        log(f"{name}: {timings[name]:.1f} s")

    t0 = time.perf_counter()
    digits = cnn.load_digits()
    calib, test = digits.calib, digits.test
    if quick:
        calib, test = calib.head(QUICK_IMAGES), test.head(QUICK_IMAGES)
    epochs = QUICK_EPOCHS if quick else FULL_EPOCHS
    params = cnn.train(digits.train, epochs=epochs)
    qnet = quantize.quantize(params, calib)
    runner = Runner(qnet)
    phase("train_and_quantize", t0)

    report = {
        "config": {
            "quick": quick, "epochs": epochs, "seed": cnn.SEED,
            "split": {"train": len(digits.train), "calib": len(calib), "test": len(test)},
            "arrays": [_array_key(a) for a in ARRAYS], "search_threads": THREADS,
            "budget_pp": budget_pp,
            "policies": {k: p.as_dict() for k, p in POLICIES.items()},
            "layers": qnet.describe(),
        },
    }
    shapes = runner.layer_shapes(len(test))
    report["config"]["gemm_shapes_test"] = {k: list(v) for k, v in shapes.items()}

    # ---- accuracy and per-layer statistics of uniform modes
    t0 = time.perf_counter()
    float_test = cnn.accuracy(cnn.forward(params, test.x), test.y)
    float_calib = cnn.accuracy(cnn.forward(params, calib.x), calib.y)
    logits, test_ops = runner.exact(test.x)
    exact_test = cnn.accuracy(logits, test.y)
    logits, calib_ops = runner.exact(calib.x)
    exact_calib = cnn.accuracy(logits, calib.y)
    runs = [{"name": "float", "policy": None, "threads": None, "mode": None,
             "test_accuracy": float_test, "calib_accuracy": float_calib}]
    for pname, policy in POLICIES.items():
        for mode in (1, 2, 4):
            modes = dict.fromkeys(shapes, mode)
            logits, stats = runner.nbsmt(test.x, modes=modes, threads=mode, policy=policy)
            acc = cnn.accuracy(logits, test.y)
            runs.append({"name": f"{mode}T mode {mode}" if mode > 1 else "exact 8-bit (mode 1)",
                         "policy": pname, "threads": mode, "mode": mode,
                         "test_accuracy": acc, "loss_vs_exact_pp": 100 * (exact_test - acc),
                         "speedup": {_array_key(a): network_cycles(shapes, modes, a)["speedup"]
                                     for a in ARRAYS},
                         "layers": {k: _layer_summary(v) for k, v in stats.items()}})
    report["accuracy"] = {"exact_test": exact_test, "exact_calib": exact_calib, "runs": runs}
    phase("uniform_modes", t0)

    # ---- array cycles of uniform modes
    report["cycles"] = {
        _array_key(a): {str(m): network_cycles(shapes, dict.fromkeys(shapes, m), a)
                        for m in (1, 2, 4)} for a in ARRAYS}

    # ---- per-layer mode search on the calibration split
    t0 = time.perf_counter()
    budgets = sorted(set(BUDGETS_PP) | {budget_pp})
    search = {}
    for pname, policy in POLICIES.items():
        found = _mode_search(runner, calib, policy, exact_calib, runner.layer_shapes(len(calib)),
                             budgets)
        # each pick judged once on the test split; speedup for the test batch's shapes
        test_acc = {}
        for key, per_budget in found["best"].items():
            arr = next(a for a in ARRAYS if _array_key(a) == key)
            for pick in per_budget.values():
                modes = tuple(pick["modes"].values())
                if modes not in test_acc:
                    logits, _ = runner.nbsmt(test.x, modes=pick["modes"], threads=THREADS,
                                             policy=policy)
                    test_acc[modes] = cnn.accuracy(logits, test.y)
                pick["test_accuracy"] = test_acc[modes]
                pick["test_loss_pp"] = 100 * (exact_test - pick["test_accuracy"])
                pick["test_speedup"] = network_cycles(shapes, pick["modes"], arr)["speedup"]
        search[pname] = found
    report["mode_search"] = {"split": "calib", "threads": THREADS, "budget_pp": budget_pp,
                             "budgets_pp": budgets, "policies": search}
    phase("mode_search", t0)

    # ---- K reordering (permutations from calibration operands)
    t0 = time.perf_counter()
    reorders = {}
    for pname, policy in POLICIES.items():
        for mode in (2, 4):
            perms = {name: reorder.k_permutation(**reorder.column_stats(a, policy), mode=mode)
                     for name, a in calib_ops.items()}
            unchanged = all(
                np.array_equal(exact_matmul(*reorder.permute(test_ops[n], qnet.layer(n).w_q, p)),
                               exact_matmul(test_ops[n], qnet.layer(n).w_q))
                for n, p in perms.items())
            entry = {"policy": pname, "mode": mode, "exact_product_unchanged": unchanged}
            for label, use in (("without", None), ("with", perms)):
                logits, stats = runner.nbsmt(test.x, modes=dict.fromkeys(shapes, mode),
                                             threads=mode, policy=policy, perms=use)
                acc = cnn.accuracy(logits, test.y)
                entry[label] = {
                    "test_accuracy": acc, "loss_vs_exact_pp": 100 * (exact_test - acc),
                    "layers": {n: {"collision_rate": s["collision_rate"],
                                   "macs_reduced_lossy": s["macs_reduced_lossy"],
                                   "lossy_mac_rate": _layer_summary(s)["lossy_mac_rate"],
                                   "rel_frobenius": s["error"]["rel_frobenius"]}
                               for n, s in stats.items()}}
            reorders[f"{pname}-{mode}"] = entry
    report["reorder"] = reorders
    phase("reorder", t0)

    # ---- the emulator used above against the golden model on real operands
    t0 = time.perf_counter()
    report["emulator_check"] = emulator_check(test_ops, qnet)
    phase("emulator_check", t0)

    two_t = next(r for r in runs if r["policy"] == "default" and r["mode"] == 2)
    best = report["mode_search"]["policies"]["default"]["best"]
    report["done"] = {
        "2T_default_loss_pp": two_t["loss_vs_exact_pp"],
        "2T_default_loss_below_1pp": two_t["loss_vs_exact_pp"] < 1.0,
        "mode_search_speedup_at_budget": {k: v[str(budget_pp)]["test_speedup"]
                                          for k, v in best.items()},
    }
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
