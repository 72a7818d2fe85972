"""Per-layer modes and K reordering for any model, on its calibration images.

- `mode_search`: which layers of a model can run in mode 4 or 2 on a 4T array within an
  accuracy budget. The digits study tries all 3^3 assignments of its three layers; a
  model with dozens of layers cannot, so this search is greedy: layers in decreasing
  mode-1 cycles (the biggest saving first), each given the fastest mode (4, then 2) that
  keeps the calibration loss within the budget, given the modes already chosen. The loss
  is top-1 accuracy lost vs the exact 8-bit network (with labels) or the share of images
  whose top-1 changes (without). The choice is then judged once on the test images.
- `reorder_study`: per layer and mode, collisions and lossy MACs of the test images
  without and with the K permutation derived from the calibration operands
  (`nbsmt.sim.reorder`: the exact product is unchanged).
"""

from __future__ import annotations

import numpy as np

from nbsmt.core.policy import Policy
from nbsmt.models import quantized as Q
from nbsmt.sim import reorder
from nbsmt.sim.emulator import emulate_gemm
from nbsmt.sim.exact_matmul import exact_matmul

THREADS = 4   # the array of the search, as the digits study's


def _top1(logits: np.ndarray) -> np.ndarray:
    return np.argmax(logits.reshape(logits.shape[0], -1), axis=1)


def run_modes(model: Q.QModel, x: np.ndarray, modes: dict, policy: Policy,
              threads: int = THREADS, batch: int = 16) -> np.ndarray:
    """Top-1 of the network with mode `modes[layer]` per layer on a `threads` array."""
    def gemm(q, group, a, w):
        mode = modes[q.name]
        if mode == 1:
            return exact_matmul(a, w)
        return emulate_gemm(a, w, threads=threads, mode=mode, policy=policy).output
    return np.concatenate([_top1(Q.run(model, x[i:i + batch], gemm))
                           for i in range(0, len(x), batch)])


def _loss_pp(pred: np.ndarray, exact: np.ndarray, labels) -> float:
    if labels is not None:
        return 100 * float((exact == labels).mean() - (pred == labels).mean())
    return 100 * float((pred != exact).mean())


def mode_search(model: Q.QModel, table: list[dict], calib_x, calib_y, test_x, test_y, *,
                budget_pp: float, policy: Policy, log=lambda msg: None) -> dict:
    """The greedy per-layer modes within `budget_pp` (module docstring), with the
    cycles of one inference (`table`'s per-mode cycles) and the test split's verdict."""
    names = [r["name"] for r in sorted(table, key=lambda r: -r["cycles"]["1"])]
    cycles = {r["name"]: r["cycles"] for r in table}
    exact = run_modes(model, calib_x, dict.fromkeys(names, 1), policy)
    modes = dict.fromkeys(names, 1)
    trials = []
    for name in names:
        for mode in (4, 2):
            trial = {**modes, name: mode}
            loss = _loss_pp(run_modes(model, calib_x, trial, policy), exact, calib_y)
            trials.append({"layer": name, "mode": mode, "calib_loss_pp": loss})
            if loss <= budget_pp + 1e-9:
                modes = trial
                break
        log(f"mode search: {name} -> mode {modes[name]}")
    total = sum(cycles[n][str(m)] for n, m in modes.items())
    base = sum(cycles[n]["1"] for n in names)
    calib_loss = _loss_pp(run_modes(model, calib_x, modes, policy), exact, calib_y)
    test_exact = run_modes(model, test_x, dict.fromkeys(names, 1), policy)
    test_loss = _loss_pp(run_modes(model, test_x, modes, policy), test_exact, test_y)
    return {"threads": THREADS, "budget_pp": budget_pp,
            "loss": "accuracy" if calib_y is not None else "changed top-1",
            "modes": modes, "calib_loss_pp": calib_loss, "test_loss_pp": test_loss,
            "cycles": total, "cycles_mode1": base, "speedup": base / total, "trials": trials}


def reorder_study(model: Q.QModel, calib_x, test_x, *, policy: Policy,
                  modes=(2, 4)) -> dict:
    """Per mode and layer: collision and lossy-MAC rates on the test images without and
    with the calibration-derived K permutation (one per layer and group)."""
    operands: dict = {}

    def keep(q, group, a, w):
        operands.setdefault((q.name, group), []).append(a)
        return exact_matmul(a, w)
    Q.run(model, calib_x, keep)
    calib = {key: np.concatenate(parts) for key, parts in operands.items()}
    out = {}
    for mode in modes:
        perms = {key: reorder.k_permutation(**reorder.column_stats(a, policy), mode=mode)
                 for key, a in calib.items()}
        sums: dict = {}

        def measure(q, group, a, w, mode=mode, perms=perms):
            for label, (aa, ww) in (("without", (a, w)),
                                    ("with", reorder.permute(a, w, perms[(q.name, group)]))):
                s = emulate_gemm(aa, ww, threads=mode, mode=mode, policy=policy).stats
                acc = sums.setdefault((q.name, label), [0.0, 0, 0, 0])
                acc[0] += s["collision_rate"] * s["pe_cycles"]
                acc[1] += s["pe_cycles"]
                acc[2] += s["macs_reduced_lossy"]
                acc[3] += s["macs"]
            return exact_matmul(a, w)
        Q.run(model, test_x, measure)
        out[str(mode)] = {
            name: {label: {"collision_rate": c / p if p else 0.0,
                           "lossy_mac_rate": lossy / macs if macs else 0.0}
                   for label in ("without", "with")
                   for c, p, lossy, macs in [sums[(name, label)]]}
            for name in dict.fromkeys(n for n, _ in sums)}
    return out
