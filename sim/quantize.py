"""Post-training 8-bit quantization of the digits CNN, run as integer GEMMs.

What NB-SMT needs from a network is its GEMM operands in the SPEC §2 formats, so every
layer here is an integer GEMM of unsigned 8-bit activations by signed 8-bit weights:

- Activations: uint8 with one calibrated scale per tensor. The image itself is the
  first layer's input, quantized as round(pixel/16 * 255); hidden activations are
  post-ReLU, so unsigned with zero point 0. Their clipping value is the one (of a few
  percentiles of the calibration activations) with the least mean squared quantization
  error, so a rare outlier does not waste the 8 bits.
- Weights: int8 per output channel, symmetric, in [-127, 127].
- Bias, rescaling, ReLU and requantization happen outside the PE array in float (as a
  post-processing unit would); they do not touch NB-SMT. Max-pooling works on the uint8
  codes (it commutes with the monotonic quantizer).

All three layers (conv1, conv2, fc) go through the GEMM the caller supplies, so the
evaluation can run each one exactly, on the golden model or on the emulator in any mode.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbsmt.sim import cnn

ACT_MAX = 255
WEIGHT_MAX = 127
LAYERS = ("conv1", "conv2", "fc")
_CLIP_PERCENTILES = (99.0, 99.9, 99.99, 100.0)


@dataclasses.dataclass(frozen=True)
class QLayer:
    """One layer as a GEMM: acc = A[M,K] (uint8) @ w_q[K,N] (int8); y = acc*scale + bias."""

    name: str
    w_q: np.ndarray        # int8 [K, N]
    w_scale: np.ndarray    # float64 [N], per output channel
    bias: np.ndarray       # float64 [N]
    in_scale: float        # real value of one activation code at the input
    out_scale: float | None  # scale of the uint8 output; None for the logits


@dataclasses.dataclass(frozen=True)
class QNet:
    layers: tuple[QLayer, ...]

    def layer(self, name: str) -> QLayer:
        return self.layers[LAYERS.index(name)]

    def describe(self) -> list[dict]:
        return [{"name": q.name, "K": int(q.w_q.shape[0]), "N": int(q.w_q.shape[1]),
                 "in_scale": q.in_scale, "out_scale": q.out_scale,
                 "weight_zeros": float((q.w_q == 0).mean())} for q in self.layers]


def quantize_weights(w: np.ndarray):
    """Symmetric per-output-channel int8: (w_q [K, N], scale [N])."""
    scale = np.abs(w).max(axis=0).astype(np.float64) / WEIGHT_MAX
    scale[scale == 0] = 1.0
    w_q = np.clip(np.rint(w / scale), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    return w_q, scale


def activation_scale(values: np.ndarray) -> float:
    """Scale of a non-negative tensor: the clip value (a percentile) with the least MSE."""
    v = values.ravel().astype(np.float64)
    best = None
    for pct in _CLIP_PERCENTILES:
        clip = float(np.percentile(v, pct))
        if clip <= 0:
            continue
        scale = clip / ACT_MAX
        err = float(((np.clip(np.rint(v / scale), 0, ACT_MAX) * scale - v) ** 2).mean())
        if best is None or err < best[0]:
            best = (err, scale)
    return best[1] if best else 1.0


def quantize(params: cnn.Params, calib: cnn.Split) -> QNet:
    """The quantized network, activation scales calibrated on `calib` (never the test set)."""
    _, (_, h1, _, h2, _, _) = cnn.forward(params, calib.x, keep=True)
    scales = [1.0 / ACT_MAX, activation_scale(h1), activation_scale(h2)]
    layers = []
    for i, (name, w, b) in enumerate(zip(LAYERS, (params.w1, params.w2, params.w3),
                                         (params.b1, params.b2, params.b3))):
        w_q, w_scale = quantize_weights(w)
        out_scale = scales[i + 1] if i + 1 < len(LAYERS) else None
        layers.append(QLayer(name, w_q, w_scale, b.astype(np.float64), scales[i], out_scale))
    return QNet(tuple(layers))


def quantize_input(x: np.ndarray) -> np.ndarray:
    """Images in [0, 1] -> uint8 codes (scale 1/255)."""
    return np.clip(np.rint(x * ACT_MAX), 0, ACT_MAX).astype(np.uint8)


def layer_operands(name: str, act: np.ndarray) -> np.ndarray:
    """The GEMM's A operand (uint8 [M, K]) for layer `name` from its input codes."""
    if name == "fc":
        return cnn.maxpool2(act).reshape(act.shape[0], -1)
    return cnn.im2col(act)


def layer_output(qnet: QNet, name: str, acc: np.ndarray, batch: int) -> np.ndarray:
    """Rescale the integer GEMM result; next layer's uint8 codes, or float logits for fc."""
    q = qnet.layer(name)
    y = acc * (q.in_scale * q.w_scale) + q.bias
    if q.out_scale is None:
        return y
    codes = np.clip(np.rint(np.maximum(y, 0) / q.out_scale), 0, ACT_MAX).astype(np.uint8)
    return codes.reshape(batch, 8, 8, -1)


def run(qnet: QNet, x: np.ndarray, gemm) -> np.ndarray:
    """Logits of the quantized network; gemm(name, a, w_q) -> int64 [M, N] does each GEMM."""
    act = quantize_input(x)
    for q in qnet.layers:
        act = layer_output(qnet, q.name, gemm(q.name, layer_operands(q.name, act), q.w_q),
                           x.shape[0])
    return act
