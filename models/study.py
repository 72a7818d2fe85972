"""What NB-SMT does to a model: the digits study's figures, per layer, for any ONNX model.

`study()` quantizes the model's GEMM layers (`nbsmt.models.quantized`) on calibration
images, then runs the test images batch by batch: the float network (onnxruntime, the
reference), the exact 8-bit network (mode 1) and the NB-SMT networks of modes 2 and 4
on the 2T and 4T arrays (`nbsmt.sim.emulator`, the golden model's arithmetic). Per layer
it reports the GEMM shapes and MACs of one inference, activation and weight sparsity,
the input coding, the collision and lossy-MAC rates of each mode and the cycles of one
inference (batch 1) on an R x C array per mode (`nbsmt.sim.cycles`). Per network:
top-1 accuracy with labels, otherwise top-1 agreement with the exact 8-bit network.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np

from nbsmt.core.errors import InputError
from nbsmt.core.policy import Policy
from nbsmt.models import layers as L
from nbsmt.models import quantized as Q
from nbsmt.models import search
from nbsmt.models.graph import Graph, to_onnx
from nbsmt.sim.cycles import cycle_report
from nbsmt.sim.emulator import emulate_gemm
from nbsmt.sim.exact_matmul import exact_matmul

MODES = (1, 2, 4)
COUNTS = ("macs", "macs_full", "macs_reduced_exact", "macs_reduced_lossy", "pe_cycles")


@dataclasses.dataclass(frozen=True)
class Data:
    """Images (NCHW float32) to test on and to calibrate with; labels or None."""

    name: str
    x: np.ndarray
    y: np.ndarray | None
    calib: np.ndarray
    unit_range: bool      # pixels known to lie in [0, 1]: coded round(255 x)
    calib_y: np.ndarray | None = None


def check_fits(graph: Graph, data: Data) -> None:
    want = tuple(graph.input_shape[1:])
    for what, images in (("test", data.x), ("calibration", data.calib)):
        if tuple(images.shape[1:]) != want:
            raise InputError(f"--data {data.name!r}: {what} images of shape {list(images.shape[1:])} "
                             f"do not fit the model's input {graph.input!r} of shape "
                             f"{list(want)} (C, H, W)")


class Tally:
    """Per-layer sums over images: exact-run operand statistics, each mode's counts (all
    integers, so tallies of image chunks run anywhere add up exactly), energies, and the
    top-1 predictions of each network in image order."""

    def __init__(self):
        self.zeros: dict[str, int] = {}
        self.elements: dict[str, int] = {}
        self.counts: dict[tuple[str, int], dict] = {}
        self.collisions: dict[tuple[str, int], int] = {}
        self.energy_pj: dict[tuple[str, int, str], float] = {}
        self.unseen: set[str] = set()
        self.top1: dict = {"float": [], **{m: [] for m in MODES}}

    def merge(self, other: "Tally") -> None:
        """Add `other`'s sums (its images come after this tally's)."""
        for mine, theirs in ((self.zeros, other.zeros), (self.elements, other.elements),
                             (self.collisions, other.collisions),
                             (self.energy_pj, other.energy_pj)):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        for key, c in other.counts.items():
            mine = self.counts.setdefault(key, dict.fromkeys(COUNTS, 0))
            for k in COUNTS:
                mine[k] += c[k]
        self.unseen |= other.unseen
        for key, parts in other.top1.items():
            self.top1[key] += parts

    def operand(self, name: str, a: np.ndarray) -> None:
        self.zeros[name] = self.zeros.get(name, 0) + int(np.count_nonzero(a == 0))
        self.elements[name] = self.elements.get(name, 0) + a.size

    def stats(self, name: str, mode: int, stats: dict) -> None:
        c = self.counts.setdefault((name, mode), dict.fromkeys(COUNTS, 0))
        for key in COUNTS:
            c[key] += stats[key]
        # collision_rate is collision PE-cycles / PE-cycles: the count is an integer
        self.collisions[(name, mode)] = (self.collisions.get((name, mode), 0)
                                         + int(round(stats["collision_rate"] * stats["pe_cycles"])))

    def price(self, name: str, mode: int, a, w, tables: dict, policy: Policy) -> None:
        """Energy of one GEMM in `mode` on the mode-thread array, per glitch model, from the
        per-action energies of an `nbsmt energy` report (one action count for all)."""
        mine = {model: t for (threads, model), t in tables.items() if threads == mode}
        if not mine:
            return
        counts = next(iter(mine.values())).counts(a, w, policy)
        for model, table in mine.items():
            estimate = table.estimate(a, w, policy, counts)
            key = (name, mode, model)
            self.energy_pj[key] = self.energy_pj.get(key, 0.0) + estimate["energy_pj"]
            self.unseen.update(estimate["unseen_actions"])


def float_session(graph: Graph):
    """An onnxruntime session of the graph as nbsmt runs it (the float reference)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(to_onnx(graph), options,
                                        providers=["CPUExecutionProvider"])


def float_logits(session, graph: Graph, x: np.ndarray) -> np.ndarray:
    """The reference's output; image by image for a model exported for one image."""
    if graph.single_image:
        return np.concatenate([session.run([graph.output], {graph.input: x[i:i + 1]})[0]
                               for i in range(len(x))])
    return session.run([graph.output], {graph.input: x})[0]


def _top1(logits: np.ndarray) -> np.ndarray:
    return np.argmax(logits.reshape(logits.shape[0], -1), axis=1)


def layer_table(model: Q.QModel, shape) -> list[dict]:
    """Each GEMM layer's shapes for one image of `shape` (C, H, W): input and output
    shapes, the GEMM (M, K, N) of each group, MACs, weight sparsity, coding."""
    out = []

    def record(layer, x_in):
        q = model.qlayers[layer.name]
        shapes = layer.gemm_shapes(x_in.shape)
        y = layer.assemble([np.zeros((m, n)) for m, _, n in shapes], x_in.shape)
        w_zeros = sum(int(np.count_nonzero(w == 0)) for w in q.w_q)
        out.append({"name": layer.name, "op": layer.op, "groups": layer.groups,
                    "folded": layer.folded, "input_shape": list(x_in.shape[1:]),
                    "output_shape": list(y.shape[1:]),
                    "gemm": [list(s) for s in shapes][:1], "gemms": len(shapes),
                    "macs": int(sum(m * k * n for m, k, n in shapes)),
                    "weight_sparsity": w_zeros / sum(w.size for w in q.w_q),
                    "coding": q.coding.describe(), "zero_point": q.coding.zero_point})
        return L.float_gemm(layer, x_in)
    L.run(model.graph, model.layers, np.zeros((1, *shape), np.float32), record)
    return out


def _cycles(row: dict, *, rows: int, cols: int, mode: int) -> int:
    m_rows, k, n = row["gemm"][0]
    one = cycle_report(m_rows, k, n, rows=rows, cols=cols, mode=mode)["cycles"]
    return one * row["gemms"]


def run_images(model: Q.QModel, x: np.ndarray, *, policy: Policy,
               energy_tables: dict | None = None, batch: int = 16) -> Tally:
    """The float, exact 8-bit and NB-SMT networks on images `x`, batch by batch: one
    chunk of a study, runnable in any process (a Dask worker)."""
    tally = Tally()
    session = float_session(model.graph)
    for start in range(0, len(x), batch):
        xb = x[start:start + batch]
        tally.top1["float"].append(_top1(float_logits(session, model.graph, xb)))

        def exact(q, g, a, w):
            tally.operand(q.name, a)
            if energy_tables:
                tally.price(q.name, 1, a, w, energy_tables, policy)
            return exact_matmul(a, w)
        tally.top1[1].append(_top1(Q.run(model, xb, exact)))
        for mode in MODES[1:]:
            def nbsmt(q, g, a, w, mode=mode):
                result = emulate_gemm(a, w, threads=mode, mode=mode, policy=policy)
                tally.stats(q.name, mode, result.stats)
                if energy_tables:
                    tally.price(q.name, mode, a, w, energy_tables, policy)
                return result.output
            tally.top1[mode].append(_top1(Q.run(model, xb, nbsmt)))
    return tally


def serial_map(model: Q.QModel, chunks: list[np.ndarray], run, log):
    """Each chunk in this process, in order: the default way `study` runs its images."""
    for i, chunk in enumerate(chunks):
        yield run(model, chunk)
        log(f"{sum(len(c) for c in chunks[:i + 1])}/{sum(len(c) for c in chunks)} images")


def study(graph: Graph, data: Data, *, rows: int = 8, cols: int = 8, batch: int = 16,
          policy: Policy | None = None, energy_tables: dict | None = None,
          search_budget_pp: float | None = None, reorder: bool = False,
          map_chunks=serial_map, log=lambda msg: None) -> dict:
    """The per-layer and network record of `graph` (`nbsmt.models.graph.load`) on `data`.

    energy_tables: {(threads, glitch model): per-action energies} of an `nbsmt energy`
    report of this R x C array; each mode's GEMMs are then priced on the mode-thread
    array (mode 1 on the OS-SA), per layer and per inference.
    search_budget_pp: also the per-layer mode search within that budget; reorder: also
    the K reordering study (`nbsmt.models.search`). map_chunks(model, chunks, run, log)
    yields `run(model, chunk)` for each chunk of `batch` images, in order: `serial_map`,
    or the command's Dask cluster."""
    policy = policy or Policy()
    t0 = time.perf_counter()
    check_fits(graph, data)
    model = Q.quantize_model(graph, L.gemm_layers(graph), data.calib,
                             unit_input=data.unit_range)
    log(f"loaded and quantized {len(model.qlayers)} GEMM layers "
        f"({time.perf_counter() - t0:.1f} s)")
    table = layer_table(model, graph.input_shape[1:])
    tally = Tally()
    chunks = [data.x[i:i + batch] for i in range(0, len(data.x), batch)]
    run = functools.partial(run_images, policy=policy, energy_tables=energy_tables,
                            batch=batch)
    for part in map_chunks(model, chunks, run,
                           lambda msg: log(f"{msg} ({time.perf_counter() - t0:.1f} s)")):
        tally.merge(part)
    predictions = {k: np.concatenate(v) for k, v in tally.top1.items()}
    for row in table:
        name = row["name"]
        row["activation_sparsity"] = tally.zeros[name] / tally.elements[name]
        row["cycles"] = {str(m): _cycles(row, rows=rows, cols=cols, mode=m) for m in MODES}
        for mode in MODES[1:]:
            c = tally.counts[(name, mode)]
            row[f"mode{mode}"] = {
                "collision_rate": tally.collisions[(name, mode)] / c["pe_cycles"]
                if c["pe_cycles"] else 0.0,
                "lossy_mac_rate": c["macs_reduced_lossy"] / c["macs"] if c["macs"] else 0.0}
    network = {"macs": sum(r["macs"] for r in table),
               "cycles": {str(m): sum(r["cycles"][str(m)] for r in table) for m in MODES}}
    network["speedup"] = {str(m): network["cycles"]["1"] / network["cycles"][str(m)]
                          for m in MODES}
    network["top1"] = _top1_record(predictions, data.y)
    network["gemms"] = sum(r["gemms"] for r in table)
    if energy_tables:
        network["energy"] = _energy_record(tally, table, len(data.x))
    extra = {}
    if search_budget_pp is not None:
        extra["mode_search"] = search.mode_search(
            model, table, data.calib, data.calib_y, data.x, data.y,
            budget_pp=search_budget_pp, policy=policy, log=log)
    if reorder:
        extra["reorder"] = search.reorder_study(model, data.calib, data.x, policy=policy)
        log(f"K reordering ({time.perf_counter() - t0:.1f} s)")
    return {**extra, "model": graph.source, "data": data.name, "images": int(len(data.x)),
            "calibration_images": int(len(data.calib)), "array": f"{rows}x{cols}",
            "policy": policy.as_dict(), "input": graph.input,
            "input_shape": list(graph.input_shape[1:]), "layers": table, "network": network,
            "seconds": round(time.perf_counter() - t0, 2)}


def _top1_record(predictions: dict, labels) -> dict:
    """Accuracy of each network with labels; agreement with exact 8-bit and with float."""
    out = {}
    names = {"float": "float", 1: "exact 8-bit", 2: "2T mode 2", 4: "4T mode 4"}
    for key, pred in predictions.items():
        rec = {"name": names[key],
               "agreement_with_exact": float((pred == predictions[1]).mean()),
               "agreement_with_float": float((pred == predictions["float"]).mean())}
        if labels is not None:
            rec["accuracy"] = float((pred == labels).mean())
        out[str(key)] = rec
    return out


def _energy_record(tally: Tally, table: list[dict], images: int) -> dict:
    """nJ per inference per glitch model and mode, per layer too, and the ratio to mode 1."""
    out: dict = {}
    for (name, mode, model), pj in tally.energy_pj.items():
        rec = out.setdefault(model, {}).setdefault(str(mode), {"nj_per_inference": 0.0,
                                                               "layers_nj": {}})
        rec["nj_per_inference"] += pj / images / 1e3
        rec["layers_nj"][name] = pj / images / 1e3
    macs = sum(r["macs"] for r in table)
    for per_mode in out.values():
        base = per_mode.get("1")
        for rec in per_mode.values():
            rec["pj_per_mac"] = rec["nj_per_inference"] * 1e3 / macs
            rec["ratio_vs_mode1"] = (rec["nj_per_inference"] / base["nj_per_inference"]
                                     if base else None)
    return {"per_model": out, "unseen_actions": sorted(tally.unseen)}


def time_per_inference(network: dict, *, rows: int, cols: int, periods: dict,
                       clock_ns: float | None) -> dict:
    """Per mode m > 1: one inference on the mT array at the pipeline depth that meets the
    OS-SA's clock (`nbsmt.sim.clocks`), its time and the speedup in time; mode 1 on the
    OS-SA. Both run at the slower of the two clocks (the speedup's "at the OS-SA's
    clock"), so the times' ratio is the speedup. Empty without clock periods."""
    from nbsmt.sim.clocks import gemms_time_speedup

    out = {}
    base = network["cycles"]["1"]
    for mode in (2, 4):
        t = gemms_time_speedup(base, network["cycles"][str(mode)], network["gemms"],
                               rows=rows, cols=cols, threads=mode, periods=periods,
                               clock_ns=clock_ns)
        if t is None:
            continue
        # at the OS-SA's clock when it is the slower one, as the speedup in time counts it
        t["run_period_ns"] = max(t["period_ns"], t["ossa_period_ns"])
        t["us_per_inference"] = t["cycles"] * t["run_period_ns"] / 1e3
        t["ossa_us_per_inference"] = base * t["ossa_period_ns"] / 1e3
        out[str(mode)] = t
    return out
