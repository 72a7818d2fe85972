"""Changes to a model's weights that a study asks for: random weights in place of
placeholders, and magnitude pruning. Both change `Graph.constants`, so the float
reference (onnxruntime on `graph.to_onnx`) sees them too.
"""

from __future__ import annotations

import numpy as np

from nbsmt.core.errors import InputError
from nbsmt.models import layers as L
from nbsmt.models.graph import GEMM_OPS, Graph


def _fan_in(node, w: np.ndarray) -> int:
    if node.op == "Conv":
        return int(np.prod(w.shape[1:]))
    if node.op == "Gemm" and node.attrs.get("transB", 0):
        return int(w.shape[1])
    return int(w.shape[0])


def randomize(graph: Graph, images: np.ndarray, seed: int) -> None:
    """He-normal GEMM weights (zero biases) for a model whose weights are placeholders
    (the `onnx` package's topology models), and BatchNormalization statistics measured
    on `images` as they flow through the new weights (scale 1, shift 0), so activations
    keep a sane range layer after layer. A Mul or Add of the image path by a constant
    (DenseNet's extra per-channel scale and shift) becomes the identity."""
    rng = np.random.default_rng(seed)
    c = graph.constants
    for node in graph.nodes:
        if node.op in GEMM_OPS:
            w = c[node.inputs[1]]
            c[node.inputs[1]] = (rng.standard_normal(w.shape)
                                 * np.sqrt(2.0 / _fan_in(node, w))).astype(np.float32)
            if len(node.inputs) > 2 and node.inputs[2]:
                c[node.inputs[2]] = np.zeros_like(c[node.inputs[2]], dtype=np.float32)
        elif node.op in ("Mul", "Add"):
            for name in node.inputs:
                if name in c:
                    c[name] = np.full_like(c[name], 1.0 if node.op == "Mul" else 0.0,
                                           dtype=np.float32)
    layers = L.gemm_layers(graph, fold=False)
    env = dict(c)
    env[graph.input] = images.astype(np.float32)
    for node in graph.nodes:
        args = [env[i] if i else None for i in node.inputs]
        if node.op == "BatchNormalization":
            x = args[0].astype(np.float64)
            axes = (0,) + tuple(range(2, x.ndim))
            scale, shift, mean, var = node.inputs[1:5]
            c[scale] = np.ones(x.shape[1], np.float32)
            c[shift] = np.zeros(x.shape[1], np.float32)
            c[mean] = x.mean(axis=axes).astype(np.float32)
            c[var] = x.var(axis=axes).astype(np.float32)
            args = [args[0]] + [c[t] for t in node.inputs[1:5]]
        env[node.outputs[0]] = (L.float_gemm(layers[node.name], args[0])
                                if node.op in GEMM_OPS else L.apply(node, args))


def prune(graph: Graph, fraction: float) -> None:
    """Zero the `fraction` of each GEMM layer's weights with the smallest magnitude (the
    paper's 40 %-pruned ResNet-18 scenario: unstructured, per layer)."""
    if not 0 <= fraction < 1:
        raise InputError(f"--prune must be a fraction in [0, 1), not {fraction:g}")
    for node in graph.gemm_nodes():
        w = graph.constants[node.inputs[1]]
        count = int(round(fraction * w.size))
        if count:
            cut = np.argsort(np.abs(w), axis=None, kind="stable")[:count]
            flat = w.copy().reshape(-1)
            flat[cut] = 0
            graph.constants[node.inputs[1]] = flat.reshape(w.shape)
