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


def resnet18_model(seed: int = 0, classes: int = 1000, size: int = 224):
    """ResNet-18 (He et al. 2016, torchvision's layout: 7x7/2 stem, 3x3/2 max-pool, four
    stages of two basic blocks, 1x1/2 projection shortcuts, global average pool, FC) in
    the ImageNet shape [N, 3, 224, 224] -> [N, 1000], as an onnx.ModelProto.

    Weights are He-normal from `seed` and every BatchNormalization is the identity
    (scale 1, shift 0, mean 0, variance 1): a topology with sane activations, not a
    trained network (none is reachable offline); `nbsmt eval --random-weights` measures
    the BatchNorm statistics on its calibration images.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    def conv_bn(x, name, c_in, c_out, k, stride, relu):
        w = rng.standard_normal((c_out, c_in, k, k)) * np.sqrt(2.0 / (c_in * k * k))
        nodes.append(helper.make_node("Conv", [x, const(f"{name}.weight", w)], [name],
                                      name=name, kernel_shape=[k, k], strides=[stride] * 2,
                                      pads=[k // 2] * 4))
        bn = [const(f"{name}.bn.{p}", v) for p, v in (
            ("scale", np.ones(c_out)), ("shift", np.zeros(c_out)), ("mean", np.zeros(c_out)),
            ("var", np.ones(c_out)))]
        nodes.append(helper.make_node("BatchNormalization", [name, *bn], [f"{name}.bn"],
                                      name=f"{name}.bn"))
        if not relu:
            return f"{name}.bn"
        nodes.append(helper.make_node("Relu", [f"{name}.bn"], [f"{name}.relu"],
                                      name=f"{name}.relu"))
        return f"{name}.relu"

    x = conv_bn("image", "conv1", 3, 64, 7, 2, relu=True)
    nodes.append(helper.make_node("MaxPool", [x], ["pool"], name="maxpool",
                                  kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, c_in = "pool", 64
    for stage, c_out in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            name = f"layer{stage}.{block}"
            y = conv_bn(x, f"{name}.conv1", c_in, c_out, 3, stride, relu=True)
            y = conv_bn(y, f"{name}.conv2", c_out, c_out, 3, 1, relu=False)
            shortcut = (conv_bn(x, f"{name}.downsample", c_in, c_out, 1, stride, relu=False)
                        if stride != 1 or c_in != c_out else x)
            nodes.append(helper.make_node("Add", [y, shortcut], [f"{name}.add"],
                                          name=f"{name}.add"))
            nodes.append(helper.make_node("Relu", [f"{name}.add"], [f"{name}.out"],
                                          name=f"{name}.out"))
            x, c_in = f"{name}.out", c_out
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="avgpool"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    fc_w = rng.standard_normal((512, classes)) * np.sqrt(2.0 / 512)
    nodes.append(helper.make_node("Gemm", ["flat", const("fc.weight", fc_w),
                                           const("fc.bias", np.zeros(classes))],
                                  ["logits"], name="fc"))
    graph = helper.make_graph(
        nodes, "nbsmt_resnet18",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="nbsmt")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def nchw(images: np.ndarray) -> np.ndarray:
    """The digits study's NHWC images [B, 8, 8, 1] as the model's NCHW input."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
