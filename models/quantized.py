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
from nbsmt.models.graph import Graph
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
        source = _source(graph, layer.input)
        coding = calibrate(env[source], unit_input=unit_input and source == graph.input)
        w_q, scales = zip(*(quantize.quantize_weights(w) for w in layer.weights))
        correction = [coding.zero_point * w.astype(np.int64).sum(axis=0) for w in w_q]
        qlayers[name] = QLayer(layer, list(w_q), np.concatenate(scales),
                               layer.bias.astype(np.float64), coding, correction)
    return QModel(graph, layers, qlayers)


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
