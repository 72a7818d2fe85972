"""Post-training 8-bit quantization of any model's GEMM layers, in the digits study's
arithmetic (`nbsmt.sim.quantize`), so the built-in CNN exported to ONNX gives its logits
bit for bit.

- Weights: int8 per output channel, symmetric (`quantize.quantize_weights`).
- Activations: uint8, one scale per tensor, calibrated where the tensor is made. A GEMM
  layer's input is traced back through operators that commute with the quantizer
  (max-pooling, flattening, reshaping, transposing, dropout) to that source; its float
  values on the calibration images give the scale, with the least-MSE percentile clip
  of `quantize.activation_scale` (channels-last order, as the digits study).
- Inputs that can be negative (the first layer on normalized pixels, a residual sum
  before its ReLU) do not fit the SPEC's unsigned activation lanes as they are: they are
  coded with a zero point, code = round(x / s) + z with the calibrated minimum and
  maximum. The array multiplies the codes (the zero point's code is an ordinary
  activation to it) and the product is corrected exactly outside, C - z * sum_k W[k, n],
  as a post-processing unit does; the report names each such layer. Padding takes the
  code of 0.0.
- An input known to lie in [0, 1] (images of the built-in data sets) is coded
  round(255 x), the digits study's input coding.
- Bias, scaling and everything between GEMM layers run in float64.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbsmt.models import layers as L
from nbsmt.models.graph import Graph, ModelError
from nbsmt.sim import quantize

ACT_MAX = quantize.ACT_MAX
#: Operators a uint8 code passes through unchanged in meaning (the scale carries over).
TRANSPARENT_OPS = ("MaxPool", "Flatten", "Reshape", "Transpose", "Dropout", "Identity")


@dataclasses.dataclass(frozen=True)
class Coding:
    """How a GEMM layer's float input becomes uint8 codes."""

    scale: float
    zero_point: int = 0
    unit: bool = False   # round(255 x) for an input known to lie in [0, 1]

    def codes(self, x: np.ndarray) -> np.ndarray:
        if self.unit:
            return quantize.quantize_input(x)
        return np.clip(np.rint(x / self.scale) + self.zero_point, 0, ACT_MAX).astype(np.uint8)

    def describe(self) -> str:
        if self.unit:
            return "unsigned, round(255 x)"
        return f"zero point {self.zero_point}" if self.zero_point else "unsigned"


@dataclasses.dataclass
class QLayer:
    """A GEMM layer's integer operands: w_q per group [K, N/groups] int8, w_scale and
    bias [N] (float64), the input coding and the zero-point correction per group."""

    layer: L.GemmLayer
    w_q: list[np.ndarray]
    w_scale: np.ndarray
    bias: np.ndarray
    coding: Coding
    correction: list[np.ndarray]

    @property
    def name(self) -> str:
        return self.layer.name


@dataclasses.dataclass
class QModel:
    graph: Graph
    layers: dict[str, L.GemmLayer]
    qlayers: dict[str, QLayer]


def _source(graph: Graph, tensor: str) -> str:
    """The tensor whose quantization `tensor` inherits (see the module docstring)."""
    while (node := graph.producer(tensor)) is not None and node.op in TRANSPARENT_OPS:
        tensor = node.inputs[0]
    return tensor


def _channels_last(values: np.ndarray) -> np.ndarray:
    return values.transpose(0, 2, 3, 1) if values.ndim == 4 else values


def calibrate(values: np.ndarray, *, unit_input: bool = False) -> Coding:
    """The coding of a tensor from its float values on the calibration images."""
    if unit_input:
        return Coding(1.0 / ACT_MAX, unit=True)
    v = _channels_last(np.asarray(values))
    low = float(v.min()) if v.size else 0.0
    if low >= 0:
        return Coding(quantize.activation_scale(v))
    high = max(float(v.max()), 0.0)
    scale = (high - low) / ACT_MAX
    return Coding(scale, int(np.clip(np.rint(-low / scale), 0, ACT_MAX)))


def quantize_model(graph: Graph, layers: dict[str, L.GemmLayer], calib_x: np.ndarray, *,
                   unit_input: bool = False) -> QModel:
    """Quantize every GEMM layer, activations calibrated on `calib_x` (one batch, float
    network). `unit_input`: the images lie in [0, 1]."""
    _, env = L.run(graph, layers, calib_x, L.float_gemm, keep=True)
    qlayers = {}
    for name, layer in layers.items():
        coding = _model_coding(graph, layer)
        if coding is None:
            source = _source(graph, layer.input)
            coding = calibrate(env[source], unit_input=unit_input and source == graph.input)
        stored = _model_weights(graph, layer)
        w_q, scales = zip(*(stored or [quantize.quantize_weights(w) for w in layer.weights]))
        correction = [coding.zero_point * w.astype(np.int64).sum(axis=0) for w in w_q]
        qlayers[name] = QLayer(layer, list(w_q), np.concatenate(scales),
                               layer.bias.astype(np.float64), coding, correction)
    return QModel(graph, layers, qlayers)


def _constant_scalar(graph: Graph, name: str | None, what: str, layer) -> float | int:
    value = np.asarray(graph.constants[name]) if name else np.zeros(())
    if value.size != 1:
        raise ModelError(f"{graph.source}: the {what} of layer {layer.name!r}'s input is per "
                         f"channel; nbsmt codes an activation with one scale per tensor")
    return value.reshape(()).item()


def _model_coding(graph: Graph, layer) -> Coding | None:
    """The coding a QDQ model gives a layer's input (QuantizeLinear then
    DequantizeLinear in front of it), or None (calibrate). An int8 activation code q is
    the array's unsigned code q + 128 (its zero point moves by 128)."""
    dq = graph.producer(layer.input)
    ql = graph.producer(dq.inputs[0]) if dq is not None and dq.op == "DequantizeLinear" else None
    if ql is None or ql.op != "QuantizeLinear":
        return None
    scale = float(_constant_scalar(graph, ql.inputs[1], "scale", layer))
    zp_name = ql.inputs[2] if len(ql.inputs) > 2 and ql.inputs[2] else None
    zero = _constant_scalar(graph, zp_name, "zero point", layer)
    signed = zp_name is not None and graph.constants[zp_name].dtype == np.int8
    return Coding(scale, int(zero) + (128 if signed else 0))


def _model_weights(graph: Graph, layer) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """(int8 weights [K, N/g], scale [N/g]) per group of a QDQ model's layer, as stored
    (symmetric: zero point 0), or None (quantize its float weights)."""
    stored = graph.weight_codes.get(layer.weight)
    if stored is None or layer.folded:
        return None
    ints, scale, zero, axis = stored
    if ints.dtype != np.int8 or (zero is not None and np.any(zero != 0)):
        raise ModelError(f"{graph.source}: layer {layer.name!r} has {ints.dtype} weights with "
                         f"a zero point; nbsmt runs symmetric int8 weights")
    from nbsmt.models.graph import _along
    scales = layer.gemm_weights(np.broadcast_to(_along(scale, ints, axis), ints.shape)
                                .astype(np.float64))
    if any(np.ptp(s, axis=0).max(initial=0) > 0 for s in scales):
        raise ModelError(f"{graph.source}: layer {layer.name!r}'s weight scales vary along "
                         f"its reduction; nbsmt scales weights per output channel")
    return [(w.astype(np.int8), s[0]) for w, s in zip(layer.gemm_weights(ints), scales)]


def operands(q: QLayer, x: np.ndarray) -> list[np.ndarray]:
    """The uint8 A operand of each group of `q` for its float input `x`."""
    codes = q.coding.codes(x)
    if q.layer.op != "Conv" or not q.coding.zero_point:
        return q.layer.operands(codes)
    # pad with the code of 0.0: shift so that it is 0, pad, shift back
    shifted = codes.astype(np.int16) - q.coding.zero_point
    return [(a + q.coding.zero_point).astype(np.uint8) for a in q.layer.operands(shifted)]


def output(q: QLayer, accs: list[np.ndarray], x_shape) -> np.ndarray:
    """The layer's float64 output from each group's integer product of `operands`."""
    acc = q.layer.assemble([a - c for a, c in zip(accs, q.correction)], x_shape)
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    return acc * (q.coding.scale * q.w_scale).reshape(shape) + q.bias.reshape(shape)


def run(model: QModel, x: np.ndarray, gemm, keep: bool = False):
    """The quantized network's output; `gemm(qlayer, group, a, w_q)` -> int64 [M, N/g]
    computes each GEMM (exactly, or on the NB-SMT emulator)."""
    def layer_gemm(layer, x_in):
        q = model.qlayers[layer.name]
        a = operands(q, x_in)
        return output(q, [gemm(q, g, ag, w) for g, (ag, w) in enumerate(zip(a, q.w_q))],
                      x_in.shape)
    return L.run(model.graph, model.layers, x, layer_gemm, keep=keep)
