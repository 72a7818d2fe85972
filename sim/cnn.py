"""A small CNN for sklearn's 8x8 digits, trained deterministically in numpy in seconds.

The workload of the NB-SMT study (sim/evaluate.py): real images, real ReLU sparsity,
real weight distributions, small enough to train on two CPU cores without a framework.

    image 8x8x1 -> conv3x3(16, pad 1) -> ReLU -> conv3x3(32, pad 1) -> ReLU
                -> maxpool 2x2 -> flatten 512 -> FC(10)

Convolutions are im2col GEMMs ([B*64, 9*C_in] @ [9*C_in, C_out]) so the quantized network
(sim/quantize.py) can run the very same matrices through the NB-SMT emulator. The data
split is fixed and stratified: train / calibration / test; the calibration split picks
quantization scales, K permutations and per-layer modes, so the test split only judges.
"""

from __future__ import annotations

import dataclasses

import numpy as np

CHANNELS = (16, 32)
CLASSES = 10
SEED = 0


@dataclasses.dataclass(frozen=True)
class Split:
    """Images as float32 [B, 8, 8, 1] in [0, 1] (pixel / 16) and integer labels [B]."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def head(self, n: int) -> "Split":
        return Split(self.x[:n], self.y[:n])


@dataclasses.dataclass(frozen=True)
class Digits:
    train: Split
    calib: Split
    test: Split


def load_digits(test_size: float = 0.25, calib_size: float = 0.2) -> Digits:
    """The 1,797 digits in a fixed stratified split (calib_size is a fraction of the rest)."""
    from sklearn.datasets import load_digits as sk_load_digits

    data = sk_load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None]
    y = data.target.astype(np.int64)
    return split_dataset(x, y, test_size, calib_size)


def split_dataset(x: np.ndarray, y: np.ndarray, test_size: float = 0.25,
                  calib_size: float = 0.2) -> Digits:
    """The fixed stratified train / calibration / test split of a labelled image set
    (calib_size is a fraction of what the test split leaves)."""
    from sklearn.model_selection import train_test_split

    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=SEED)
    x_train, x_calib, y_train, y_calib = train_test_split(
        x_rest, y_rest, test_size=calib_size, stratify=y_rest, random_state=SEED)
    return Digits(Split(x_train, y_train), Split(x_calib, y_calib), Split(x_test, y_test))


# ----------------------------------------------------------------------------------------
# im2col convolution (shared with the quantized network)


def im2col(x: np.ndarray, k: int = 3) -> np.ndarray:
    """[B, H, W, C] -> [B*H*W, k*k*C] patches of a k x k, 'same'-padded (k // 2)
    convolution; K order (dy, dx, c)."""
    b, h, w, c = x.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    cols = np.stack([xp[:, dy:dy + h, dx:dx + w, :] for dy in range(k) for dx in range(k)],
                    axis=3)
    return cols.reshape(b * h * w, k * k * c)


def col2im(cols: np.ndarray, shape, k: int = 3) -> np.ndarray:
    """Adjoint of im2col: scatter-add patch gradients back onto the [B, H, W, C] input."""
    b, h, w, c = shape
    p = k // 2
    cols = cols.reshape(b, h, w, k * k, c)
    xp = np.zeros((b, h + 2 * p, w + 2 * p, c), dtype=cols.dtype)
    for i, (dy, dx) in enumerate((dy, dx) for dy in range(k) for dx in range(k)):
        xp[:, dy:dy + h, dx:dx + w, :] += cols[:, :, :, i, :]
    return xp[:, p:h + p, p:w + p, :]


def maxpool2(x: np.ndarray) -> np.ndarray:
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


# ----------------------------------------------------------------------------------------
# The float network


@dataclasses.dataclass
class Params:
    """Weights as GEMM operands: conv [9*C_in, C_out], fc [512, 10]; biases [C_out]."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    w3: np.ndarray
    b3: np.ndarray

    def arrays(self) -> dict:
        return dataclasses.asdict(self)


def init_params(rng: np.random.Generator) -> Params:
    """He-normal weights, zero biases."""
    def he(fan_in, fan_out):
        return (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    c1, c2 = CHANNELS
    return Params(he(9, c1), np.zeros(c1, np.float32), he(9 * c1, c2), np.zeros(c2, np.float32),
                  he(16 * c2, CLASSES), np.zeros(CLASSES, np.float32))


def forward(p: Params, x: np.ndarray, keep: bool = False):
    """Logits [B, 10]; with keep=True also the intermediates the backward pass needs."""
    b = x.shape[0]
    c1, c2 = CHANNELS
    cols1 = im2col(x)
    h1 = np.maximum(cols1 @ p.w1 + p.b1, 0).reshape(b, 8, 8, c1)
    cols2 = im2col(h1)
    h2 = np.maximum(cols2 @ p.w2 + p.b2, 0).reshape(b, 8, 8, c2)
    pooled = maxpool2(h2)
    flat = pooled.reshape(b, -1)
    logits = flat @ p.w3 + p.b3
    if keep:
        return logits, (cols1, h1, cols2, h2, pooled, flat)
    return logits


def softmax_ce_grad(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the mean softmax cross-entropy with respect to the logits."""
    b = len(y)
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    dlogits = prob
    dlogits[np.arange(b), y] -= 1
    dlogits /= b
    return dlogits


def maxpool2_relu_grad(d_pooled: np.ndarray, pre: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """Gradient through a 2x2 max-pool of a ReLU output `pre`: to each window's maximum
    (ties share it; ReLU zeros it), as [B*H*W, C]."""
    up = np.repeat(np.repeat(pooled, 2, axis=1), 2, axis=2)
    d = np.repeat(np.repeat(d_pooled, 2, axis=1), 2, axis=2) * (pre == up) * (pre > 0)
    return d.reshape(-1, pre.shape[-1])


def _backward(p: Params, cache, logits, y):
    """Gradients of the mean softmax cross-entropy."""
    cols1, h1, cols2, h2, pooled, flat = cache
    dlogits = softmax_ce_grad(logits, y)
    g = {"w3": flat.T @ dlogits, "b3": dlogits.sum(0)}
    dpooled = (dlogits @ p.w3.T).reshape(pooled.shape)
    dh2 = maxpool2_relu_grad(dpooled, h2, pooled)
    g["w2"], g["b2"] = cols2.T @ dh2, dh2.sum(0)
    dh1 = col2im(dh2 @ p.w2.T, h1.shape) * (h1 > 0)
    dh1 = dh1.reshape(-1, h1.shape[-1])
    g["w1"], g["b1"] = cols1.T @ dh1, dh1.sum(0)
    return g


def train(split: Split, *, epochs: int = 20, batch: int = 32, lr: float = 3e-3,
          seed: int = SEED) -> Params:
    """Adam on mini-batches in a seeded order: the same Params on every run and machine class."""
    rng = np.random.default_rng(seed)
    p = init_params(rng)

    def grads_of(p, x, y):
        logits, cache = forward(p, x, keep=True)
        return _backward(p, cache, logits, y)
    return adam(p, grads_of, split, epochs=epochs, batch=batch, lr=lr, rng=rng)


def adam(p, grads_of, split: Split, *, epochs: int, batch: int, lr: float,
         rng: np.random.Generator):
    """Train the float32 arrays of `p` (attributes named by `p.arrays()`) with Adam on
    mini-batches in `rng`'s order, the learning rate decayed by a cosine per epoch;
    `grads_of(p, x, y)` gives the gradients by name."""
    state = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in p.arrays().items()}
    beta1, beta2, eps, step = 0.9, 0.999, 1e-8, 0
    for epoch in range(epochs):
        rate = lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))  # cosine decay per epoch
        order = rng.permutation(len(split))
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            grads = grads_of(p, split.x[idx], split.y[idx])
            step += 1
            for name, grad in grads.items():
                m, v = state[name]
                m *= beta1
                m += (1 - beta1) * grad
                v *= beta2
                v += (1 - beta2) * grad * grad
                m_hat = m / (1 - beta1 ** step)
                v_hat = v / (1 - beta2 ** step)
                param = getattr(p, name)
                param -= (rate * m_hat / (np.sqrt(v_hat) + eps)).astype(np.float32)
    return p


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy as a fraction."""
    return float((np.argmax(logits, axis=1) == y).mean())
