"""The GEMM layers of a model (Conv, Gemm, MatMul) as the NB-SMT array sees them, and the
numpy operators of everything between them.

A layer's GEMM is A[M, K] @ W[K, N] per group:
- a convolution's rows are its output pixels, image by image in (y, x) order, and its
  reduction index runs (ky, kx, c) — the channels-last im2col of the digits CNN
  (`nbsmt.sim.cnn.im2col`), so a K-step holds neighbouring channels of one tap;
- a Gemm/MatMul's rows are the images and its reduction index is the input's column
  order. A flattened feature map in ONNX's NCHW order gives (c, y, x); a model exported
  from a channels-last framework (and `nbsmt export`) transposes first and gives (y, x, c).

NB-SMT's result depends on which reduction elements share a K-step, so this order is
part of the definition of "running a network on SySMT". A BatchNormalization directly
after a convolution (its only reader) is folded into the convolution's weights and bias.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nbsmt.models.graph import (GEMM_OPS, Graph, ModelError, Node, _reshape_target, dequantize,
                                quantize_linear)


@dataclasses.dataclass
class GemmLayer:
    """One GEMM layer: float weights [K, N/groups] per group, bias [N], and for a
    convolution its geometry. `output` is the tensor it produces (after a folded BN)."""

    name: str
    op: str
    input: str
    output: str
    weights: list[np.ndarray]
    bias: np.ndarray
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)   # top, left, bottom, right
    dilations: tuple[int, int] = (1, 1)
    folded: str | None = None                        # the BatchNormalization node folded in
    weight: str = ""                                 # the weight's constant in the graph
    trans_b: bool = False                            # a Gemm's weight is stored [N, K]

    def gemm_weights(self, w: np.ndarray) -> list[np.ndarray]:
        """The weight as stored in the model (float or integer) as this layer's GEMM
        operands: [K, N/groups] per group, reduction order as the module says."""
        if self.op == "Conv":
            return conv_gemm_weights(w, self.groups)
        return [w.T if self.trans_b else w]

    @property
    def groups(self) -> int:
        return len(self.weights)

    @property
    def out_channels(self) -> int:
        return sum(w.shape[1] for w in self.weights)

    def output_hw(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.strides, self.dilations
        top, left, bottom, right = self.pads
        return ((h + top + bottom - (dh * (kh - 1) + 1)) // sh + 1,
                (w + left + right - (dw * (kw - 1) + 1)) // sw + 1)

    def operands(self, x: np.ndarray) -> list[np.ndarray]:
        """The A operand of each group for input `x` (NCHW for a conv, [B, K] otherwise)."""
        if self.op != "Conv":
            return [x.reshape(x.shape[0], -1)]
        per_group = x.shape[1] // self.groups
        nhwc = x.transpose(0, 2, 3, 1)
        return [im2col(nhwc[..., g * per_group:(g + 1) * per_group], self)
                for g in range(self.groups)]

    def assemble(self, results: list[np.ndarray], x_shape) -> np.ndarray:
        """The layer's output from each group's GEMM result [M, N/groups] (bias not added)."""
        y = np.concatenate(results, axis=1) if len(results) > 1 else results[0]
        if self.op != "Conv":
            return y
        b = x_shape[0]
        ho, wo = self.output_hw(x_shape[2], x_shape[3])
        return y.reshape(b, ho, wo, -1).transpose(0, 3, 1, 2)

    def gemm_shapes(self, x_shape) -> list[tuple[int, int, int]]:
        """(M, K, N) of each group's GEMM for an input of shape `x_shape`."""
        if self.op == "Conv":
            ho, wo = self.output_hw(x_shape[2], x_shape[3])
            m_rows = x_shape[0] * ho * wo
        else:
            m_rows = x_shape[0]
        return [(m_rows, w.shape[0], w.shape[1]) for w in self.weights]


def im2col(nhwc: np.ndarray, layer: GemmLayer) -> np.ndarray:
    """[B, H, W, C] -> [B*Ho*Wo, kh*kw*C], reduction order (ky, kx, c)."""
    b, h, w, c = nhwc.shape
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel, layer.strides, layer.dilations
    top, left, bottom, right = layer.pads
    ho, wo = layer.output_hw(h, w)
    xp = np.pad(nhwc, ((0, 0), (top, bottom), (left, right), (0, 0)))
    taps = [xp[:, ky * dh:ky * dh + sh * (ho - 1) + 1:sh, kx * dw:kx * dw + sw * (wo - 1) + 1:sw, :]
            for ky in range(kh) for kx in range(kw)]
    return np.stack(taps, axis=3).reshape(b * ho * wo, kh * kw * c)


def conv_gemm_weights(w: np.ndarray, groups: int) -> list[np.ndarray]:
    """[N, C/groups, kh, kw] -> per group [kh*kw*C/groups, N/groups], order (ky, kx, c)."""
    n_out, c_per_group, kh, kw = w.shape
    per_out = n_out // groups
    return [w[g * per_out:(g + 1) * per_out].transpose(2, 3, 1, 0)
            .reshape(kh * kw * c_per_group, per_out) for g in range(groups)]


def _pair(value, default) -> tuple[int, int]:
    return tuple(int(v) for v in value) if value is not None else default


def _conv_layer(node: Node, graph: Graph) -> GemmLayer:
    w = graph.constants[node.inputs[1]].astype(np.float32)
    if w.ndim != 4:
        raise ModelError(f"{graph.source}: Conv node {node.name!r} is not 2-D "
                         f"(weight shape {list(w.shape)})")
    groups = int(node.attrs.get("group", 1))
    n_out, c_per_group, kh, kw = w.shape
    if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise ModelError(f"{graph.source}: Conv node {node.name!r}: auto_pad "
                         f"{node.attrs['auto_pad']} is not supported (use explicit pads)")
    pads = node.attrs.get("pads", (0, 0, 0, 0))
    bias = (graph.constants[node.inputs[2]].astype(np.float32) if len(node.inputs) > 2
            and node.inputs[2] else np.zeros(n_out, np.float32))
    return GemmLayer(node.name, "Conv", node.inputs[0], node.outputs[0],
                     conv_gemm_weights(w, groups), bias, weight=node.inputs[1],
                     kernel=(kh, kw), strides=_pair(node.attrs.get("strides"), (1, 1)),
                     pads=(int(pads[0]), int(pads[1]), int(pads[2]), int(pads[3])),
                     dilations=_pair(node.attrs.get("dilations"), (1, 1)))


def _fc_layer(node: Node, graph: Graph) -> GemmLayer:
    w = graph.constants[node.inputs[1]].astype(np.float32)
    if node.op == "Gemm":
        if node.attrs.get("transA", 0):
            raise ModelError(f"{graph.source}: Gemm node {node.name!r} transposes its input")
        if node.attrs.get("transB", 0):
            w = w.T
        w = w * np.float32(node.attrs.get("alpha", 1.0))
        c = (graph.constants[node.inputs[2]].astype(np.float32) if len(node.inputs) > 2
             and node.inputs[2] else np.zeros(w.shape[1], np.float32))
        bias = np.broadcast_to(c * np.float32(node.attrs.get("beta", 1.0)),
                               (w.shape[1],)).astype(np.float32)
    else:
        bias = np.zeros(w.shape[1], np.float32)
    if w.ndim != 2:
        raise ModelError(f"{graph.source}: {node.op} node {node.name!r} has a "
                         f"{w.ndim}-D weight")
    return GemmLayer(node.name, node.op, node.inputs[0], node.outputs[0], [w], bias,
                     weight=node.inputs[1],
                     trans_b=node.op == "Gemm" and bool(node.attrs.get("transB", 0)))


def _fold_batchnorm(layer: GemmLayer, graph: Graph) -> None:
    """Fold the BatchNormalization that alone reads a convolution's output into it."""
    readers = graph.consumers(layer.output)
    if layer.op != "Conv" or len(readers) != 1 or readers[0].op != "BatchNormalization" \
            or layer.output == graph.output:
        return
    bn = readers[0]
    scale, shift, mean, var = (graph.constants.get(t) for t in bn.inputs[1:5])
    if any(v is None for v in (scale, shift, mean, var)):
        return
    factor = (scale / np.sqrt(var + np.float32(bn.attrs.get("epsilon", 1e-5)))).astype(np.float32)
    per_out = layer.weights[0].shape[1]
    layer.weights = [w * factor[g * per_out:(g + 1) * per_out]
                     for g, w in enumerate(layer.weights)]
    layer.bias = ((layer.bias - mean) * factor + shift).astype(np.float32)
    layer.output, layer.folded = bn.outputs[0], bn.name


def gemm_layers(graph: Graph, fold: bool = True) -> dict[str, GemmLayer]:
    """Every GEMM layer of `graph` by node name, BatchNormalizations folded (`fold`)."""
    layers = {}
    for node in graph.gemm_nodes():
        layer = _conv_layer(node, graph) if node.op == "Conv" else _fc_layer(node, graph)
        if fold:
            _fold_batchnorm(layer, graph)
        layers[node.name] = layer
    return layers


# ----------------------------------------------------------------------------------------
# The other operators, exactly in numpy (NCHW)


def _pool(x: np.ndarray, attrs: dict, reduce) -> np.ndarray:
    kh, kw = (int(k) for k in attrs["kernel_shape"])
    sh, sw = _pair(attrs.get("strides"), (1, 1))
    top, left, bottom, right = (int(p) for p in attrs.get("pads", (0, 0, 0, 0)))
    h, w = x.shape[2:]
    ceil = int(attrs.get("ceil_mode", 0))

    def out(size, lo, hi, k, s):
        span = size + lo + hi - k
        return (-(-span // s) if ceil else span // s) + 1
    ho, wo = out(h, top, bottom, kh, sh), out(w, left, right, kw, sw)
    extra_h = max(0, (ho - 1) * sh + kh - (h + top + bottom))
    extra_w = max(0, (wo - 1) * sw + kw - (w + left + right))
    return reduce(x, ((0, 0), (0, 0), (top, bottom + extra_h), (left, right + extra_w)),
                  (kh, kw), (sh, sw), (ho, wo))


def _max_pool(x, attrs):
    def reduce(x, pad, k, s, o):
        xp = np.pad(x, pad, constant_values=-np.inf)
        win = sliding_window_view(xp, k, axis=(2, 3))[:, :, ::s[0], ::s[1]]
        return win[:, :, :o[0], :o[1]].max(axis=(4, 5)).astype(x.dtype)
    return _pool(x, attrs, reduce)


def _average_pool(x, attrs):
    top, left, bottom, right = (int(p) for p in attrs.get("pads", (0, 0, 0, 0)))
    include_pad = int(attrs.get("count_include_pad", 0))

    def reduce(x, pad, k, s, o):
        xp = np.pad(x, pad)
        inside = np.zeros(xp.shape[2:], x.dtype)   # what a window's count includes
        if include_pad:   # the explicit pads count, a ceil-mode overhang does not
            inside[:x.shape[2] + top + bottom, :x.shape[3] + left + right] = 1
        else:
            inside[top:top + x.shape[2], left:left + x.shape[3]] = 1
        win = sliding_window_view(xp, k, axis=(2, 3))[:, :, ::s[0], ::s[1]][:, :, :o[0], :o[1]]
        count = sliding_window_view(inside, k)[::s[0], ::s[1]][:o[0], :o[1]].sum(axis=(2, 3))
        return (win.sum(axis=(4, 5)) / count).astype(x.dtype)
    return _pool(x, attrs, reduce)


def _lrn(x, attrs):
    size, alpha = int(attrs["size"]), float(attrs.get("alpha", 1e-4))
    beta, bias = float(attrs.get("beta", 0.75)), float(attrs.get("bias", 1.0))
    sq = np.pad(x * x, ((0, 0), ((size - 1) // 2, size // 2), (0, 0), (0, 0)))
    total = sliding_window_view(sq, size, axis=1).sum(axis=-1)
    return (x / (bias + alpha / size * total) ** beta).astype(x.dtype)


def _batchnorm(x, scale, shift, mean, var, attrs):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    eps = np.float32(attrs.get("epsilon", 1e-5))
    return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
            * scale.reshape(shape) + shift.reshape(shape)).astype(x.dtype)


def _reshape(x: np.ndarray, target) -> np.ndarray:
    """ONNX Reshape; a target that fixes the batch at 1 (a model exported for one image)
    keeps the batch that runs (images are independent)."""
    shape = list(_reshape_target(x.shape, target))
    if shape and shape[0] == 1 and x.shape[0] > 1 and -1 not in shape[1:] \
            and np.prod(shape[1:]) * x.shape[0] == x.size:
        shape[0] = x.shape[0]
    return x.reshape(shape)


def _softmax(x, attrs, opset: int):
    """Softmax over one axis (opset 13 on, default the last); before 13, over every axis
    from `axis` (default 1) on, the input seen as 2-D."""
    if opset >= 13:
        axes = (int(attrs.get("axis", -1)) % x.ndim,)
    else:
        axes = tuple(range(int(attrs.get("axis", 1)) % x.ndim, x.ndim))
    e = np.exp(x - x.max(axis=axes, keepdims=True))
    return e / e.sum(axis=axes, keepdims=True)


def _clip(x, lo, hi, attrs):
    lo = attrs.get("min", -np.inf) if lo is None else lo
    hi = attrs.get("max", np.inf) if hi is None else hi
    return np.clip(x, lo, hi).astype(x.dtype)


def apply(node: Node, args: list) -> np.ndarray:
    """The output of the non-GEMM `node` on its input values `args` (None: input absent)."""
    a, op = node.attrs, node.op
    if op == "Relu":
        return np.maximum(args[0], 0)
    if op == "Clip":
        return _clip(args[0], *(args[1:] + [None, None])[:2], a)
    if op in ("Add", "Sum"):
        out = args[0]
        for other in args[1:]:
            out = out + other
        return out
    if op == "Mul":
        return args[0] * args[1]
    if op == "Concat":
        return np.concatenate(args, axis=int(a["axis"]))
    if op == "MaxPool":
        return _max_pool(args[0], a)
    if op == "AveragePool":
        return _average_pool(args[0], a)
    if op == "GlobalAveragePool":
        return args[0].mean(axis=(2, 3), keepdims=True)
    if op == "Flatten":
        axis = int(a.get("axis", 1))
        return args[0].reshape(int(np.prod(args[0].shape[:axis])), -1)
    if op == "Reshape":
        return _reshape(args[0], args[1])
    if op == "Transpose":
        return np.transpose(args[0], a.get("perm"))
    if op == "Softmax":
        return _softmax(args[0], a, node.opset)
    if op in ("Dropout", "Identity"):
        return args[0]
    if op == "LRN":
        return _lrn(args[0], a)
    if op == "BatchNormalization":
        return _batchnorm(args[0], *args[1:5], a)
    if op == "QuantizeLinear":
        return quantize_linear(args[0], args[1], (args[2:] + [None])[0], a)
    if op == "DequantizeLinear":
        return dequantize(args[0], args[1], (args[2:] + [None])[0], a)
    raise AssertionError(f"{op} is a GEMM op or unsupported")


def run(graph: Graph, layers: dict[str, GemmLayer], x: np.ndarray, gemm,
        keep: bool = False):
    """The graph's output on images `x`; `gemm(layer, input)` computes each GEMM layer's
    output (folded BatchNormalization included). With `keep`, also every tensor."""
    env = dict(graph.constants)
    env[graph.input] = x
    folded = {layer.folded for layer in layers.values() if layer.folded}
    for node in graph.nodes:
        if node.name in folded:
            continue
        if node.op in GEMM_OPS:
            layer = layers[node.name]
            env[layer.output] = gemm(layer, env[layer.input])
        else:
            env[node.outputs[0]] = apply(node, [env[i] if i else None for i in node.inputs])
    return (env[graph.output], env) if keep else env[graph.output]


def float_gemm(layer: GemmLayer, x: np.ndarray) -> np.ndarray:
    """A GEMM layer in float32, as the float network computes it."""
    a = layer.operands(x.astype(np.float32))
    y = layer.assemble([ag @ w for ag, w in zip(a, layer.weights)], x.shape)
    bias = layer.bias.reshape((1, -1) + (1,) * (y.ndim - 2))
    return y + bias
