"""The project's own networks as ONNX files (`nbsmt export`).

`digits_model` writes the digits CNN of `nbsmt eval` (`nbsmt.sim.cnn`): NCHW input
[N, 1, 8, 8] in [0, 1], two 3x3 convolutions with ReLU, a 2x2 max-pool, then — as a
channels-last framework exports it — a transpose to NHWC before the flatten, so the
classifier's reduction order is (y, x, c), the study's. Read back by `nbsmt eval
--model`, it gives the study's exact 8-bit and NB-SMT logits bit for bit. `mnist_model`
writes the MNIST LeNet (`nbsmt.sim.lenet`) the same way; `resnet18_model` builds
ResNet-18 in the ImageNet shape.
"""

from __future__ import annotations

import numpy as np

from nbsmt.sim import cnn, lenet

OPSET = 17


def _conv_weight(w: np.ndarray, c_in: int, k: int) -> np.ndarray:
    """[k*k*C_in, C_out] in (dy, dx, c) order -> ONNX [C_out, C_in, k, k]."""
    return w.reshape(k, k, c_in, -1).transpose(3, 2, 0, 1)


def _sequential_cnn(name: str, image: tuple[int, int, int], convs, fc, classes: int):
    """A CNN of 'same' convolutions, each with a ReLU and, when asked, a 2x2 max-pool,
    then — as a channels-last framework exports it — a transpose to NHWC, a flatten and
    the classifier. convs: (weight [k*k*C_in, C_out], bias, k, pool) per layer; fc:
    (weight [features, classes], bias)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, x, c_in = [], [], "image", image[0]

    def const(key, value):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), key))
        return key
    for i, (w, b, k, pool) in enumerate(convs, start=1):
        conv = f"conv{i}"
        nodes.append(helper.make_node(
            "Conv", [x, const(f"{conv}.weight", _conv_weight(w, c_in, k)),
                     const(f"{conv}.bias", b)], [conv], name=conv, kernel_shape=[k, k],
            pads=[k // 2] * 4))
        nodes.append(helper.make_node("Relu", [conv], [f"relu{i}"], name=f"relu{i}"))
        x, c_in = f"relu{i}", w.shape[1]
        if pool:
            nodes.append(helper.make_node("MaxPool", [x], [f"pool{i}"], name=f"pool{i}",
                                          kernel_shape=[2, 2], strides=[2, 2]))
            x = f"pool{i}"
    nodes += [helper.make_node("Transpose", [x], ["nhwc"], name="to_nhwc", perm=[0, 2, 3, 1]),
              helper.make_node("Flatten", ["nhwc"], ["flat"], name="flatten", axis=1),
              helper.make_node("Gemm", ["flat", const("fc.weight", fc[0]),
                                        const("fc.bias", fc[1])], ["logits"], name="fc")]
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", *image])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="nbsmt")
    model.ir_version = 8   # onnxruntime 1.18 and later read it
    onnx.checker.check_model(model)
    return model


def digits_model(params: cnn.Params):
    """The trained digits CNN as an onnx.ModelProto (float32 weights)."""
    return _sequential_cnn(
        "nbsmt_digits_cnn", (1, 8, 8),
        [(params.w1, params.b1, 3, False), (params.w2, params.b2, 3, True)],
        (params.w3, params.b3), cnn.CLASSES)


def mnist_model(params: lenet.Params):
    """The trained MNIST LeNet (`nbsmt.sim.lenet`) as an onnx.ModelProto."""
    return _sequential_cnn(
        "nbsmt_mnist_lenet", (1, lenet.SIZE, lenet.SIZE),
        [(params.w1, params.b1, lenet.KERNEL, True), (params.w2, params.b2, lenet.KERNEL, True)],
        (params.w3, params.b3), lenet.CLASSES)


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
