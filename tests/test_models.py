"""ONNX models on NB-SMT (nbsmt.models, `nbsmt eval --model`, `nbsmt export`).

- The digits CNN exported to ONNX and read back gives the study's exact 8-bit and NB-SMT
  logits bit for bit.
- The float executor equals onnxruntime on every supported operator variant and on the
  `onnx` package's topology models (random weights).
- Zero-point inputs, MACs and cycles against values computed here from the shapes.
- Bad models and data: one line, exit 2, nothing written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nbsmt.core.policy import Policy
from nbsmt.models import export, graph as G, layers as L, quantized as Q, weights
from nbsmt.models.study import Data, float_logits, float_session, study
from nbsmt.sim import evaluate
from nbsmt.sim.cycles import cycle_report
from nbsmt.sim.emulator import emulate_gemm
from nbsmt.sim.exact_matmul import exact_matmul

BIN = Path(sys.executable).parent
LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


@pytest.fixture(scope="module")
def digits_workload():
    return evaluate.prepare(quick=True)


@pytest.fixture(scope="module")
def digits_file(digits_workload, tmp_path_factory):
    path = tmp_path_factory.mktemp("digits") / "digits.onnx"
    onnx.save(export.digits_model(digits_workload.params), path)
    return path


def test_digits_round_trip_is_bit_exact(digits_workload, digits_file):
    """Export, load, quantize on the same calibration split: the same integer weights and
    scales, and the same logits in modes 1, 2 and 4 as `nbsmt eval`'s network."""
    wl = digits_workload
    g = G.load(digits_file)
    model = Q.quantize_model(g, L.gemm_layers(g), export.nchw(wl.calib.x), unit_input=True)
    for name, q in model.qlayers.items():
        ref = wl.qnet.layer(name)
        assert q.coding.scale == ref.in_scale
        assert np.array_equal(np.concatenate(q.w_q, axis=1), ref.w_q)
        assert np.array_equal(q.w_scale, ref.w_scale) and np.array_equal(q.bias, ref.bias)
    x = export.nchw(wl.test.x)
    ours = Q.run(model, x, lambda q, g, a, w: exact_matmul(a, w))
    theirs, _ = wl.runner.exact(wl.test.x)
    assert np.array_equal(ours, theirs)
    for mode in (2, 4):
        ours = Q.run(model, x, lambda q, g, a, w: emulate_gemm(
            a, w, threads=mode, mode=mode, policy=Policy()).output)
        theirs, _ = wl.runner.nbsmt(wl.test.x, modes=dict.fromkeys(wl.shapes, mode),
                                    threads=mode, policy=Policy())
        assert np.array_equal(ours, theirs), mode
    # the float reference agrees with the numpy float network
    ref = float_logits(float_session(g), g, x)
    assert np.allclose(ref, L.run(g, L.gemm_layers(g), x, L.float_gemm), rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------------------
# Operators against onnxruntime


def _model(nodes, inits, in_shape, opset=17, out_rank=4):
    out_dims = ["N", *(f"d{i}" for i in range(1, out_rank))]
    graph = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *in_shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_dims)],
        [numpy_helper.from_array(np.asarray(v, np.float32) if k != "shape" else v, k)
         for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _operator_zoo():
    """(id, model) pairs covering each operator and attribute nbsmt implements."""
    rng = np.random.default_rng(1)
    n = helper.make_node
    zoo = {}
    zoo["conv-stride-pads-dilation"] = _model(
        [n("Conv", ["x", "w", "b"], ["y"], strides=[2, 1], pads=[1, 0, 2, 1], dilations=[1, 2])],
        {"w": _rand(rng, 6, 4, 3, 3), "b": _rand(rng, 6)}, [4, 9, 10])
    zoo["conv-groups-and-depthwise"] = _model(
        [n("Conv", ["x", "w1"], ["g"], group=2, pads=[1, 1, 1, 1]),
         n("Conv", ["g", "w2"], ["y"], group=6, strides=[2, 2], pads=[1, 1, 1, 1])],
        {"w1": _rand(rng, 6, 2, 3, 3), "w2": _rand(rng, 6, 1, 3, 3)}, [4, 7, 7])
    zoo["batchnorm-folded-and-not"] = _model(
        [n("Conv", ["x", "w"], ["c"]),
         n("BatchNormalization", ["c", "s", "t", "m", "v"], ["bn"], epsilon=1e-3),
         n("Relu", ["bn"], ["r"]),
         n("BatchNormalization", ["r", "s", "t", "m", "v"], ["y"])],
        {"w": _rand(rng, 3, 2, 1, 1), "s": rng.random(3) + 0.5, "t": _rand(rng, 3),
         "m": _rand(rng, 3), "v": rng.random(3) + 0.1}, [2, 5, 5])
    zoo["pools"] = _model(
        [n("MaxPool", ["x"], ["a"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
           ceil_mode=1),
         n("AveragePool", ["x"], ["b"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
           count_include_pad=0, ceil_mode=1),
         n("AveragePool", ["x"], ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
           count_include_pad=1, ceil_mode=1),
         n("Concat", ["a", "b", "c"], ["y"], axis=1)],
        {}, [3, 8, 8])
    zoo["residual-clip-lrn-global"] = _model(
        [n("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         n("Add", ["c", "x"], ["s"]), n("Clip", ["s", "lo", "hi"], ["k"]),
         n("Sum", ["k", "s", "x"], ["u"]),
         n("LRN", ["u"], ["l"], size=3, alpha=1e-2, beta=0.75, bias=2.0),
         n("GlobalAveragePool", ["l"], ["y"])],
        {"w": _rand(rng, 4, 4, 3, 3), "lo": np.float32(-0.5), "hi": np.float32(1.5)}, [4, 6, 6])
    zoo["flatten-transpose-gemm-matmul-softmax"] = _model(
        [n("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), n("Flatten", ["t"], ["f"]),
         n("Gemm", ["f", "w", "c"], ["g"], transB=1, alpha=0.5, beta=2.0),
         n("Relu", ["g"], ["r"]), n("Dropout", ["r"], ["d"]),
         n("Reshape", ["d", "shape"], ["rs"]), n("MatMul", ["rs", "m"], ["mm"]),
         n("Softmax", ["mm"], ["y"])],
        {"w": _rand(rng, 12, 2 * 3 * 3), "c": _rand(rng, 12), "shape": np.array([0, -1]),
         "m": _rand(rng, 12, 5)}, [2, 3, 3], out_rank=2)
    zoo["softmax-opset-11"] = _model(
        [n("Conv", ["x", "w"], ["c"]), n("Softmax", ["c"], ["y"])],
        {"w": _rand(rng, 5, 2, 1, 1)}, [2, 1, 1], opset=11)
    return zoo


@pytest.mark.parametrize("name, model", list(_operator_zoo().items()))
def test_float_executor_equals_onnxruntime(tmp_path, name, model):
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    g = G.load(path)
    x = np.random.default_rng(2).standard_normal((3, *g.input_shape[1:])).astype(np.float32)
    ours = L.run(g, L.gemm_layers(g), x, L.float_gemm)
    ref = float_logits(float_session(g), g, x)
    assert ours.shape == ref.shape
    assert np.allclose(ours, ref, rtol=1e-4, atol=1e-5), float(np.abs(ours - ref).max())


FULL = os.environ.get("NBSMT_MODELS") == "full"
LIGHT_MODELS = sorted(p.name for p in LIGHT.glob("*.onnx"))
#: In `make test`; the others (seconds to minutes each) run in `make soak` (NBSMT_MODELS=full).
FLOAT_QUICK = ["light_squeezenet.onnx", "light_resnet50.onnx", "light_shufflenet.onnx"]
STUDY_QUICK = ["light_squeezenet.onnx"]


def _subset(names, quick):
    return [n if FULL or n in quick else pytest.param(
        n, marks=pytest.mark.skip(reason="make soak (NBSMT_MODELS=full)")) for n in names]


def test_the_light_set_is_there():
    assert len(LIGHT_MODELS) == 9, LIGHT_MODELS   # the onnx package ships them


@pytest.mark.parametrize("name", _subset(LIGHT_MODELS, FLOAT_QUICK))
def test_topology_models_run_like_onnxruntime(name):
    """Every model of the `onnx` package's light set loads (placeholder weights folded),
    takes random weights, and its float network equals onnxruntime's."""
    g = G.load(LIGHT / name)
    x = np.random.default_rng(0).random((1, *g.input_shape[1:]), dtype=np.float32)
    weights.randomize(g, x, seed=1)
    ours = L.run(g, L.gemm_layers(g), x, L.float_gemm)
    ref = float_logits(float_session(g), g, x)
    assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max()


@pytest.mark.parametrize("name", _subset(LIGHT_MODELS, STUDY_QUICK))
def test_topology_model_study_on_one_synthetic_image(name):
    """The whole study (exact, 2T, 4T on the emulator) of a topology model on one image:
    every GEMM layer reported with MACs from its shapes and cycles from the cycle model."""
    from nbsmt.models.data import synthetic

    g = G.load(LIGHT / name)
    data = synthetic(1, g.input_shape[1:], calib=2)
    weights.randomize(g, data.calib, seed=1)
    report = study(g, data)
    assert len(report["layers"]) == len(g.gemm_nodes())
    for row in report["layers"]:
        m_rows, k, n = row["gemm"][0]
        assert row["macs"] == m_rows * k * n * row["gemms"]
        assert row["cycles"]["2"] == row["gemms"] * cycle_report(
            m_rows, k, n, rows=8, cols=8, mode=2)["cycles"]
    assert report["network"]["top1"]["1"]["agreement_with_exact"] == 1.0


# ----------------------------------------------------------------------------------------
# Quantization details


def test_negative_inputs_use_a_zero_point_and_padding_takes_its_code(tmp_path):
    """Inputs in [-1, 1]: the first layer is coded with a zero point; the quantized conv
    equals (codes - z) @ W_q computed here, and stays close to the float conv at the
    borders (padding with code 0 instead of z would be off by z there)."""
    rng = np.random.default_rng(4)
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
                   {"w": _rand(rng, 3, 2, 3, 3)}, [2, 5, 5])
    onnx.save(model, tmp_path / "m.onnx")
    g = G.load(tmp_path / "m.onnx")
    calib = rng.uniform(-1, 1, (8, 2, 5, 5)).astype(np.float32)
    x = rng.uniform(-1, 1, (2, 2, 5, 5)).astype(np.float32)
    qm = Q.quantize_model(g, L.gemm_layers(g), calib)
    q = qm.qlayers[g.gemm_nodes()[0].name]
    assert 100 < q.coding.zero_point < 156 and q.coding.describe().startswith("zero point")
    got = Q.run(qm, x, lambda q, grp, a, w: exact_matmul(a, w))
    codes = np.clip(np.rint(x / q.coding.scale) + q.coding.zero_point, 0, 255)
    centred = np.pad(codes - q.coding.zero_point, ((0, 0), (0, 0), (1, 1), (1, 1)))
    w_q = q.w_q[0].reshape(3, 3, 2, 3)          # (ky, kx, c, n)
    acc = np.einsum("bcyx,ijcn->bnyx", np.zeros((2, 2, 5, 5)), w_q)   # shape only
    for i in range(3):
        for j in range(3):
            acc = acc + np.einsum("bcyx,cn->bnyx", centred[:, :, i:i + 5, j:j + 5], w_q[i, j])
    want = acc * (q.coding.scale * q.w_scale).reshape(1, -1, 1, 1)
    assert np.array_equal(got, want)
    float_y = L.run(g, L.gemm_layers(g), x, L.float_gemm)
    assert np.abs(got - float_y).max() < 0.05 * np.abs(float_y).max()


def test_prune_zeroes_the_smallest_weights_of_each_layer(tmp_path):
    rng = np.random.default_rng(5)
    model = _model([helper.make_node("Conv", ["x", "w"], ["c"]),
                    helper.make_node("Flatten", ["c"], ["f"]),
                    helper.make_node("Gemm", ["f", "v"], ["y"])],
                   {"w": _rand(rng, 4, 3, 3, 3), "v": _rand(rng, 36, 5)}, [3, 5, 5], out_rank=2)
    onnx.save(model, tmp_path / "m.onnx")
    g = G.load(tmp_path / "m.onnx")
    before = {k: v.copy() for k, v in g.constants.items()}
    weights.prune(g, 0.4)
    for name in ("w", "v"):
        w, old = g.constants[name], before[name]
        zeroed = w == 0
        assert zeroed.sum() == round(0.4 * w.size)
        assert np.abs(old[zeroed]).max() <= np.abs(old[~zeroed]).min()
        assert np.array_equal(w[~zeroed], old[~zeroed])


# ----------------------------------------------------------------------------------------
# The command line


def _nbsmt(*args, cwd=None):
    return subprocess.run([str(BIN / "nbsmt"), *map(str, args)], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def test_export_then_eval_model_reports_shapes_cycles_and_the_study_accuracy(
        tmp_path, digits_workload):
    """`nbsmt export digits --quick` and `nbsmt eval --model --data digits`: MACs per
    layer from the CNN's shapes, cycles from the cycle model, and the same exact 8-bit,
    2T and 4T accuracies as the study's network on the same images."""
    proc = _nbsmt("export", "digits", "--quick", "-o", tmp_path / "d.onnx")
    assert proc.returncode == 0, proc.stderr
    proc = _nbsmt("eval", "--model", tmp_path / "d.onnx", "--data", "digits", "--images", 40,
                  "--calib", 150, "--rows", 4, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "model.json").read_text())
    shapes = {"conv1": (64, 9, 16), "conv2": (64, 9 * 16, 32), "fc": (1, 512, 10)}
    for row in report["layers"]:
        m_rows, k, n = shapes[row["name"]]
        assert row["gemm"] == [[m_rows, k, n]] and row["macs"] == m_rows * k * n
        for mode in (1, 2, 4):
            assert row["cycles"][str(mode)] == cycle_report(m_rows, k, n, rows=4, cols=4,
                                                            mode=mode)["cycles"]
    wl = digits_workload
    x = wl.test.head(40)
    for mode in (1, 2, 4):
        logits, _ = wl.runner.nbsmt(x.x, modes=dict.fromkeys(wl.shapes, mode), threads=mode,
                                    policy=Policy())
        want = float((np.argmax(logits, axis=1) == x.y).mean())
        assert report["network"]["top1"][str(mode)]["accuracy"] == want
    assert (tmp_path / "out" / "model.md").exists() and (tmp_path / "out" / "model.csv").exists()


@pytest.mark.parametrize("setup, argv, message", [
    ("text", ["--synthetic", "1"], "not an ONNX model"),
    ("erf", ["--synthetic", "1"], "unsupported operator Erf (node 'act')"),
    ("free", ["--synthetic", "1"], "free dimensions [?, 1, ?, ?]: give --input-shape C,H,W"),
    ("free", ["--synthetic", "1", "--input-shape", "3,8,8"], "does not fit input"),
    ("good", ["--data", "X3.npy"], "do not fit the model's input"),
    ("good", ["--data", "X.npy,Ybad.npy"], "out of range for 10 classes"),
    ("good", ["--data", "empty.npy"], "must be a real [B, C, H, W] array"),
    ("good", [], "--model needs images"),
    ("good", ["--synthetic", "1", "--quick"], "--quick applies to the built-in study"),
    ("good", ["--synthetic", "1", "--prune", "1.5"], "--prune must be a fraction in [0, 1)"),
])
def test_bad_models_and_data_are_one_line_exit_2(tmp_path, setup, argv, message):
    rng = np.random.default_rng(6)
    n = helper.make_node
    act = "Erf" if setup == "erf" else "Relu"
    dims = [1, "H", "W"] if setup == "free" else [1, 8, 8]
    model = _model([n("Conv", ["x", "w"], ["c"]), n(act, ["c"], ["r"], name="act"),
                    n("Flatten", ["r"], ["y"])], {"w": _rand(rng, 10, 1, 8, 8)}, dims)
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                 ["N", 10]))
    path = tmp_path / "m.onnx"
    if setup == "text":
        path.write_text("not a model\n")
    else:
        onnx.save(model, path)
    np.save(tmp_path / "X.npy", rng.random((6, 1, 8, 8)).astype(np.float32))
    np.save(tmp_path / "X3.npy", rng.random((6, 3, 8, 8)).astype(np.float32))
    np.save(tmp_path / "Ybad.npy", np.array([0, 1, 2, 3, 4, 10]))
    np.save(tmp_path / "empty.npy", np.zeros((0,), np.float32))
    proc = _nbsmt("eval", "--model", path, *argv, "--out", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


def test_model_flags_without_a_model_are_refused(tmp_path):
    proc = _nbsmt("eval", "--synthetic", "2", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "--synthetic applies to --model only" in proc.stderr


def _energy_report(path: Path, *, pe_pj: float, out_beat_pj: float) -> None:
    """An `nbsmt energy` report of a 2x2 array, 1T/2T/4T, where every PE action costs
    `pe_pj` per PE-cycle, an output beat `out_beat_pj`, and nothing else costs anything."""
    def record(threads):
        pe = {"idle": pe_pj, "n0": pe_pj, **{f"n{i}": pe_pj for i in range(1, threads + 1)},
              **({f"n{i}-lossy": pe_pj for i in range(2, threads + 1)})}
        return {"threads": threads, "model": "zero-delay", "rows": 2, "cols": 2, "pipeline": 0,
                "action_pj": {"pe": pe, "pe_samples": dict.fromkeys(pe, 4),
                              "per_input_beat": 0.0, "per_output_beat": out_beat_pj,
                              "per_cycle_counters_control": 0.0, "clock_per_cycle": 0.0,
                              "leakage_w": 0.0}}
    path.write_text(json.dumps({"rows": 2, "cols": 2, "policy": Policy().as_dict(), "pe": [],
                                "sweep": [], "gemm": [record(t) for t in (1, 2, 4)]}))


def test_energy_and_time_per_inference_by_hand(tmp_path, digits_file):
    """Priced with a report where only PE-cycles cost (1 pJ each), an inference costs
    R x C x its cycles; where only output beats cost (1 pJ), ceil(M/R) ceil(N/C) R per
    GEMM; the time is cycles x --clock-ns."""
    shapes = {"conv1": (64, 9, 16), "conv2": (64, 144, 32), "fc": (1, 512, 10)}
    for what, pe_pj, beat_pj in (("pe", 1.0, 0.0), ("beats", 0.0, 1.0)):
        _energy_report(tmp_path / f"{what}.json", pe_pj=pe_pj, out_beat_pj=beat_pj)
        proc = _nbsmt("eval", "--model", digits_file, "--data", "digits", "--images", 3,
                      "--calib", 50, "--batch", 1, "--rows", 2, "--energy",
                      tmp_path / f"{what}.json", "--clock-ns", 2.5, "--out", tmp_path / what)
        assert proc.returncode == 0, proc.stderr
        report = json.loads((tmp_path / what / "model.json").read_text())
        per_mode = report["network"]["energy"]["per_model"]["zero-delay"]
        for mode in (1, 2, 4):
            if what == "pe":
                want = 4 * sum(cycle_report(*s, rows=2, cols=2, mode=mode)["cycles"]
                               for s in shapes.values())
            else:
                want = sum(-(-m // 2) * -(-n // 2) * 2 for m, _, n in shapes.values())
            assert per_mode[str(mode)]["nj_per_inference"] * 1e3 == pytest.approx(want, rel=1e-12)
        for mode in ("2", "4"):
            t = report["time"][mode]
            assert t["us_per_inference"] == pytest.approx(
                report["network"]["cycles"][mode] * 2.5 / 1e3)
            assert t["ossa_us_per_inference"] / t["us_per_inference"] == pytest.approx(
                t["time_speedup"], rel=1e-12)


@pytest.mark.skipif(not FULL, reason="make soak (NBSMT_MODELS=full); digits MACs in CI")
def test_resnet18_graph_has_the_architecture_macs(tmp_path):
    """The exported ResNet-18: 21 GEMM layers whose MACs, computed here from the
    architecture (stem, four stages, projection shortcuts, FC), total 1.81 G."""
    from nbsmt.models.study import layer_table

    onnx.save(export.resnet18_model(), tmp_path / "r18.onnx")
    g = G.load(tmp_path / "r18.onnx")
    assert g.input_shape == (1, 3, 224, 224) and g.classes == 1000
    model = Q.quantize_model(g, L.gemm_layers(g),
                             np.random.default_rng(0).random((1, 3, 224, 224), np.float32))
    rows = {r["name"]: r for r in layer_table(model, g.input_shape[1:])}
    want = {"conv1": 112 * 112 * 64 * 3 * 49, "fc": 512 * 1000}
    for stage, (c, size) in enumerate(((64, 56), (128, 28), (256, 14), (512, 7)), start=1):
        c_in = 64 if stage == 1 else c // 2
        want[f"layer{stage}.0.conv1"] = size * size * c * c_in * 9
        for name in ("layer{}.0.conv2", "layer{}.1.conv1", "layer{}.1.conv2"):
            want[name.format(stage)] = size * size * c * c * 9
        if stage > 1:
            want[f"layer{stage}.0.downsample"] = size * size * c * c_in
    assert {n: r["macs"] for n, r in rows.items()} == want
    assert sum(want.values()) == 1_814_073_344
    assert all(r["folded"] for n, r in rows.items() if n != "fc")   # every BN folded


def test_mnist_lenet_exports_as_it_computes_and_keeps_its_accuracy_in_8_bits(tmp_path):
    """The MNIST LeNet (2 epochs) on real 28x28 images: onnxruntime on its export gives
    the numpy network's logits, and the exact 8-bit network's accuracy on the test split
    stays within 1 pp of float (and above 90 %)."""
    from nbsmt.models.data import mnist
    from nbsmt.sim import cnn, lenet

    split = lenet.load_mnist()
    assert (len(split.train), len(split.calib), len(split.test)) == (3000, 750, 1250)
    params = lenet.train(split.train, epochs=2)
    onnx.save(export.mnist_model(params), tmp_path / "mnist.onnx")
    g = G.load(tmp_path / "mnist.onnx")
    data = mnist(images=400, calib=200)
    ref = float_logits(float_session(g), g, data.x)
    assert np.allclose(ref, lenet.forward(params, split.test.x[:400]), rtol=1e-4, atol=1e-4)
    qm = Q.quantize_model(g, L.gemm_layers(g), data.calib, unit_input=True)
    exact = Q.run(qm, data.x, lambda q, grp, a, w: exact_matmul(a, w))
    float_acc, exact_acc = cnn.accuracy(ref, data.y), cnn.accuracy(exact, data.y)
    assert float_acc > 0.9 and abs(float_acc - exact_acc) <= 0.01, (float_acc, exact_acc)


def test_mode_search_keeps_its_budget_and_reorder_keeps_the_first_layer(digits_workload,
                                                                        digits_file):
    """The greedy search on the digits model: a 100 pp budget puts every layer in mode 4
    (the 4T network's cycles), a 0 pp budget keeps the calibration loss at 0, and every
    accepted trial was within its budget. K reordering: the first layer's operands are the
    image codes either way, so its rates without the permutation are the study's."""
    from nbsmt.models import search
    from nbsmt.models.data import digits

    data = digits(images=60, calib=60)
    g = G.load(digits_file)
    report = study(g, data, search_budget_pp=100.0, reorder=True)
    s = report["mode_search"]
    assert set(s["modes"].values()) == {4} and s["cycles"] == report["network"]["cycles"]["4"]
    strict = search.mode_search(
        Q.quantize_model(g, L.gemm_layers(g), data.calib, unit_input=True), report["layers"],
        data.calib, data.calib_y, data.x, data.y, budget_pp=0.0, policy=Policy())
    assert strict["calib_loss_pp"] <= 0.0
    chosen = {(t["layer"], t["mode"]) for t in strict["trials"]
              if strict["modes"][t["layer"]] == t["mode"]}
    assert all(t["calib_loss_pp"] <= 0.0 for t in strict["trials"]
               if (t["layer"], t["mode"]) in chosen)
    first = report["layers"][0]
    for mode in ("2", "4"):
        without = report["reorder"][mode][first["name"]]["without"]
        assert without["collision_rate"] == pytest.approx(first[f"mode{mode}"]["collision_rate"])
        assert without["lossy_mac_rate"] == pytest.approx(first[f"mode{mode}"]["lossy_mac_rate"])


def test_one_layer_of_an_onnx_model_on_the_rtl_is_bit_exact(tmp_path):
    """`nbsmt sim --network NET.onnx --layer NAME`: a depthwise convolution (6 groups,
    one GEMM each) on the 4x4 4T RTL array, each group bit-exact with the golden model
    and the emulator, cycles equal to the cycle model."""
    from nbsmt.tb.runner import require_simulator

    require_simulator("verilator")
    onnx.save(_operator_zoo()["conv-groups-and-depthwise"], tmp_path / "dw.onnx")
    g = G.load(tmp_path / "dw.onnx")
    depthwise = g.gemm_nodes()[1].name
    proc = _nbsmt("sim", "--network", tmp_path / "dw.onnx", "--layer", depthwise,
                  "--rows", 4, "--cols", 4, "--threads", 4, "--mode", 2,
                  "--out", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ok"] and len(report["layers"]) == 6
    for record in report["layers"].values():
        assert all(record["checks"].values()) and record["cycles"] == record["cycle_model"]
        assert record["shape"] == [4 * 4, 9, 1]   # 4x4 output pixels, 3x3 taps, 1 channel
    bad = _nbsmt("sim", "--network", tmp_path / "dw.onnx", "--layer", "nothing", "--threads", 2,
                 "--out", tmp_path / "r2.json")
    assert bad.returncode == 2 and "--layer 'nothing': no such GEMM layer" in bad.stderr


def test_an_image_folder_is_read_resized_and_normalized(tmp_path, digits_file):
    """--data DIR: one subfolder per class of PNG files (digits test images, 16x16, so
    --resize brings them back to 8x8); with --mean/--std the inputs are signed and the
    first layer is coded with a zero point; an empty folder is one line, exit 2."""
    from PIL import Image

    from nbsmt.sim import cnn

    test = cnn.load_digits().test.head(40)
    for i, (image, label) in enumerate(zip(test.x, test.y)):
        (tmp_path / "images" / f"class{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rint(image[..., 0] * 255).astype(np.uint8)).resize(
            (16, 16), Image.NEAREST).save(tmp_path / "images" / f"class{label}" / f"{i}.png")
    proc = _nbsmt("eval", "--model", digits_file, "--data", tmp_path / "images", "--resize",
                  "8,8", "--calib", 10, "--out", tmp_path / "plain")
    assert proc.returncode == 0, proc.stderr
    plain = json.loads((tmp_path / "plain" / "model.json").read_text())
    assert plain["images"] == 30 and plain["network"]["top1"]["1"]["accuracy"] > 0.8
    assert plain["layers"][0]["coding"] == "unsigned, round(255 x)"
    proc = _nbsmt("eval", "--model", digits_file, "--data", tmp_path / "images", "--resize",
                  "8,8", "--mean", "0.5", "--std", "0.25", "--calib", 10, "--out", tmp_path / "norm")
    assert proc.returncode == 0, proc.stderr
    norm = json.loads((tmp_path / "norm" / "model.json").read_text())
    assert norm["layers"][0]["coding"].startswith("zero point")
    (tmp_path / "empty" / "class0").mkdir(parents=True)
    proc = _nbsmt("eval", "--model", digits_file, "--data", tmp_path / "empty", "--out",
                  tmp_path / "none")
    assert proc.returncode == 2 and "no images" in proc.stderr and not (tmp_path / "none").exists()


def test_images_spread_over_a_local_dask_cluster_give_the_serial_report(tmp_path, digits_file):
    """--workers 2 (one task per batch of images) and --workers 0 (in this process): the
    same per-layer rates, counts, cycles and top-1 figures."""
    reports = []
    for workers in (0, 2):
        out = tmp_path / f"w{workers}"
        proc = _nbsmt("eval", "--model", digits_file, "--data", "digits", "--images", 40,
                      "--calib", 40, "--batch", 8, "--workers", workers, "--out", out)
        assert proc.returncode == 0, proc.stderr
        report = json.loads((out / "model.json").read_text())
        reports.append({k: v for k, v in report.items()
                        if k not in ("seconds", "command", "executor")})
    assert reports[0] == reports[1]


def test_a_qdq_model_runs_with_its_own_integer_weights_and_scales(tmp_path):
    """An int8 QDQ model (QuantizeLinear/DequantizeLinear before each GEMM, int8 weights
    with per-channel scales): nbsmt uses its integers and scales as stored — an int8
    activation code q becomes the array's q + 128 — and its exact 8-bit output equals
    onnxruntime's run of the QDQ graph."""
    rng = np.random.default_rng(8)
    n = helper.make_node
    w1 = rng.integers(-127, 128, (6, 1, 3, 3)).astype(np.int8)
    s1 = (rng.random(6) * 0.01 + 0.002).astype(np.float32)
    w2 = rng.integers(-127, 128, (6 * 8 * 8, 10)).astype(np.int8)
    s2 = (rng.random(10) * 0.01 + 0.002).astype(np.float32)
    inits = [numpy_helper.from_array(v, k) for k, v in {
        "w1": w1, "s1": s1, "w2": w2, "s2": s2, "b1": _rand(rng, 6),
        "in_s": np.float32(1 / 255), "in_z": np.uint8(0),
        "h_s": np.float32(0.05), "h_z": np.int8(0)}.items()]
    nodes = [n("QuantizeLinear", ["x", "in_s", "in_z"], ["xq"]),
             n("DequantizeLinear", ["xq", "in_s", "in_z"], ["xd"]),
             n("DequantizeLinear", ["w1", "s1"], ["w1d"], axis=0),
             n("Conv", ["xd", "w1d", "b1"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             n("Relu", ["c"], ["r"]), n("Flatten", ["r"], ["f"]),
             n("QuantizeLinear", ["f", "h_s", "h_z"], ["fq"]),
             n("DequantizeLinear", ["fq", "h_s", "h_z"], ["fd"]),
             n("DequantizeLinear", ["w2", "s2"], ["w2d"], axis=1),
             n("MatMul", ["fd", "w2d"], ["y"], name="fc")]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "qdq.onnx")
    g = G.load(tmp_path / "qdq.onnx")
    x = rng.random((4, 1, 8, 8), dtype=np.float32)
    qm = Q.quantize_model(g, L.gemm_layers(g), x, unit_input=True)
    conv, fc = qm.qlayers["conv"], qm.qlayers["fc"]
    assert np.array_equal(conv.w_q[0], L.conv_gemm_weights(w1, 1)[0])
    assert np.array_equal(conv.w_scale, s1.astype(np.float64))
    assert (conv.coding.scale, conv.coding.zero_point) == (np.float32(1 / 255), 0)
    assert np.array_equal(fc.w_q[0], w2) and np.array_equal(fc.w_scale, s2.astype(np.float64))
    assert (fc.coding.scale, fc.coding.zero_point) == (np.float32(0.05), 128)
    ours = Q.run(qm, x, lambda q, grp, a, w: exact_matmul(a, w))
    ref = float_logits(float_session(g), g, x)
    assert np.allclose(ours, ref, rtol=1e-4, atol=1e-4), float(np.abs(ours - ref).max())
