"""The project's own networks as ONNX files (`nbsmt export`).

`digits_model` writes the digits CNN of `nbsmt eval` (`nbsmt.sim.cnn`): NCHW input
[N, 1, 8, 8] in [0, 1], two 3x3 convolutions with ReLU, a 2x2 max-pool, then — as a
channels-last framework exports it — a transpose to NHWC before the flatten, so the
classifier's reduction order is (y, x, c), the study's. Read back by `nbsmt eval
--model`, it gives the study's exact 8-bit and NB-SMT logits bit for bit.
"""

from __future__ import annotations

import numpy as np

from nbsmt.sim import cnn

OPSET = 17


def _conv_weight(w: np.ndarray, c_in: int) -> np.ndarray:
    """[9*C_in, C_out] in (dy, dx, c) order -> ONNX [C_out, C_in, 3, 3]."""
    return w.reshape(3, 3, c_in, -1).transpose(3, 2, 0, 1)


def digits_model(params: cnn.Params):
    """The trained digits CNN as an onnx.ModelProto (float32 weights)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c1, c2 = cnn.CHANNELS
    weights = {
        "conv1.weight": _conv_weight(params.w1, 1), "conv1.bias": params.b1,
        "conv2.weight": _conv_weight(params.w2, c1), "conv2.bias": params.b2,
        "fc.weight": params.w3, "fc.bias": params.b3,
    }
    inits = [numpy_helper.from_array(np.ascontiguousarray(v, np.float32), k)
             for k, v in weights.items()]
    nodes = [
        helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["conv1"],
                         name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("Conv", ["relu1", "conv2.weight", "conv2.bias"], ["conv2"],
                         name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("MaxPool", ["relu2"], ["pool"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Transpose", ["pool"], ["pool_nhwc"], name="to_nhwc",
                         perm=[0, 2, 3, 1]),
        helper.make_node("Flatten", ["pool_nhwc"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes, "nbsmt_digits_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", cnn.CLASSES])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="nbsmt")
    model.ir_version = 8   # onnxruntime 1.18 and later read it
    onnx.checker.check_model(model)
    assert c2 * 16 == params.w3.shape[0]
    return model


def nchw(images: np.ndarray) -> np.ndarray:
    """The digits study's NHWC images [B, 8, 8, 1] as the model's NCHW input."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
