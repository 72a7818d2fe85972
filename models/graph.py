"""An ONNX model as nbsmt runs it: one image input, constants folded, every node checked.

`load` reads the file with `onnx`, checks it, folds every node that does not depend on
the image (the `onnx` package's topology models build their placeholder weights with
ConstantOfShape), and refuses, in one line each, what nbsmt cannot run: a file that is
not ONNX, an operator outside `DATA_OPS` (named with its node), more than one image
input, free dimensions other than the batch without `input_shape`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from nbsmt.core.errors import InputError

#: Operators run on the image path. Conv, Gemm and MatMul (with constant weights) are the
#: GEMM layers the NB-SMT array runs; the others run exactly in numpy.
GEMM_OPS = ("Conv", "Gemm", "MatMul")
DATA_OPS = GEMM_OPS + (
    "BatchNormalization", "Relu", "Clip", "Add", "Sum", "Mul", "Concat", "MaxPool",
    "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Softmax",
    "Dropout", "Identity", "LRN", "QuantizeLinear", "DequantizeLinear")
#: Operators folded when every input is a constant (weights built from shapes).
FOLDABLE_OPS = ("Constant", "ConstantOfShape", "Unsqueeze", "Squeeze", "Mul", "Add", "Sub",
                "Div", "Reshape", "Cast", "Identity", "Transpose", "Concat", "Sqrt",
                "DequantizeLinear")


class ModelError(InputError):
    """A model nbsmt cannot run: not ONNX, an unsupported operator, unknown shapes."""


@dataclasses.dataclass(frozen=True)
class Node:
    op: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict
    opset: int = 17   # the model's: a few operators changed meaning (Softmax in 13)


@dataclasses.dataclass
class Graph:
    """The image path of a model: `nodes` in order, from `input` (shape `input_shape`,
    batch first, NCHW for images) to `output`; `constants` holds every weight."""

    source: str
    input: str
    input_shape: tuple[int, ...]
    output: str
    nodes: list[Node]
    constants: dict[str, np.ndarray]
    output_shape: tuple[int | None, ...] = ()
    opset: int = 17
    single_image: bool = False   # exported for batch 1 (its reshapes may say so)
    #: a QDQ model's weights as stored: constant name -> (integers, scale, zero point
    #: or nothing, axis) of the DequantizeLinear that made it
    weight_codes: dict = dataclasses.field(default_factory=dict)

    @property
    def classes(self) -> int | None:
        """The number of classes of a [batch, classes] output, when the file says it."""
        return self.output_shape[1] if len(self.output_shape) == 2 else None

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def producer(self, tensor: str) -> Node | None:
        return next((n for n in self.nodes if tensor in n.outputs), None)

    def gemm_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.op in GEMM_OPS]


def _attrs(node) -> dict:
    import onnx

    out = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, onnx.TensorProto):
            value = onnx.numpy_helper.to_array(value)
        elif isinstance(value, list):
            value = tuple(value)
        out[a.name] = value
    return out


def _fold(op: str, args: list[np.ndarray], attrs: dict) -> np.ndarray:
    """The value of a node whose inputs are all constants."""
    if op == "Constant":
        return np.asarray(attrs["value"])
    if op == "ConstantOfShape":
        fill = np.asarray(attrs.get("value", np.zeros(1, np.float32)))
        return np.full(tuple(int(d) for d in args[0]), fill.reshape(-1)[0], dtype=fill.dtype)
    if op in ("Unsqueeze", "Squeeze"):
        axes = attrs.get("axes") if len(args) < 2 else tuple(int(a) for a in args[1])
        fn = np.expand_dims if op == "Unsqueeze" else np.squeeze
        return fn(args[0], tuple(axes)) if axes is not None else np.squeeze(args[0])
    if op in ("Mul", "Add", "Sub", "Div"):
        fn = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract, "Div": np.divide}[op]
        return fn(args[0], args[1]).astype(np.result_type(args[0], args[1]))
    if op == "Reshape":
        return args[0].reshape(_reshape_target(args[0].shape, args[1]))
    if op == "Cast":
        import onnx
        return args[0].astype(onnx.helper.tensor_dtype_to_np_dtype(attrs["to"]))
    if op == "Identity":
        return args[0]
    if op == "Transpose":
        return np.transpose(args[0], attrs.get("perm"))
    if op == "Concat":
        return np.concatenate(args, axis=attrs["axis"])
    if op == "Sqrt":
        return np.sqrt(args[0])
    if op == "DequantizeLinear":
        return dequantize(args[0], *(args[1:] + [None])[:2], attrs)
    raise AssertionError(op)


def _along(value: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """A per-tensor scalar, or a per-`axis` vector shaped to broadcast against `x`."""
    value = np.asarray(value)
    if value.ndim == 0 or x.ndim == 0:
        return value
    shape = [1] * x.ndim
    shape[axis % x.ndim] = -1
    return value.reshape(shape)


def dequantize(q: np.ndarray, scale, zero_point, attrs: dict) -> np.ndarray:
    """ONNX DequantizeLinear: (q - zero_point) * scale, per tensor or along `axis`."""
    axis = int(attrs.get("axis", 1))
    z = 0 if zero_point is None else _along(zero_point, q, axis).astype(np.int64)
    return ((q.astype(np.int64) - z) * _along(scale, q, axis)).astype(np.float32)


def quantize_linear(x: np.ndarray, scale, zero_point, attrs: dict) -> np.ndarray:
    """ONNX QuantizeLinear: saturate(round-half-even(x / scale) + zero_point), uint8 by
    default or the zero point's type."""
    axis = int(attrs.get("axis", 1))
    dtype = np.uint8 if zero_point is None else np.asarray(zero_point).dtype
    z = 0 if zero_point is None else _along(zero_point, x, axis).astype(np.int64)
    info = np.iinfo(dtype)
    q = np.rint(x / _along(scale, x, axis)) + z
    return np.clip(q, info.min, info.max).astype(dtype)


def _reshape_target(shape, target) -> tuple[int, ...]:
    """ONNX Reshape's target: 0 copies the input's dimension, -1 is inferred."""
    dims = [int(shape[i]) if int(d) == 0 else int(d) for i, d in enumerate(target)]
    return tuple(dims)


def _read(path: Path):
    import onnx

    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise
    except Exception as exc:   # protobuf says only that it could not parse
        raise ModelError(f"{path}: not an ONNX model ({type(exc).__name__})") from None
    if not model.graph.node:
        raise ModelError(f"{path}: not an ONNX model (no graph nodes)")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: invalid ONNX model: {first}") from None
    return model


def _image_input(model, path: Path, input_shape) -> tuple[str, tuple[int, ...]]:
    """The one graph input that is not an initializer, with its shape (batch first)."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ModelError(f"{path}: nbsmt runs models with one input, this one has "
                         f"{len(inputs)} ({', '.join(i.name for i in inputs) or 'none'})")
    tensor = inputs[0]
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in tensor.type.tensor_type.shape.dim]
    if input_shape is not None:
        shape = (1, *input_shape)
        if len(shape) != len(dims) or any(d not in (None, s) for d, s in zip(dims[1:], shape[1:])):
            raise ModelError(f"--input-shape {','.join(map(str, input_shape))} does not fit "
                             f"input {tensor.name!r} of shape {_dims_text(dims)}")
        return tensor.name, shape
    if not dims or any(d is None or d <= 0 for d in dims[1:]):
        raise ModelError(f"{path}: input {tensor.name!r} has free dimensions "
                         f"{_dims_text(dims)}: give --input-shape C,H,W")
    return tensor.name, (1, *dims[1:])


def _single_image(model) -> bool:
    inits = {i.name for i in model.graph.initializer}
    tensor = next(i for i in model.graph.input if i.name not in inits)
    dims = tensor.type.tensor_type.shape.dim
    return bool(dims) and dims[0].HasField("dim_value") and dims[0].dim_value == 1


def _dims_text(dims) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def load(path, input_shape: tuple[int, ...] | None = None) -> Graph:
    """The model at `path` (see the module docstring). `input_shape`: the image's shape
    without the batch (C, H, W) for a graph with free dimensions."""
    import onnx

    path = Path(path)
    model = _read(path)
    name, shape = _image_input(model, path, input_shape)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    constants = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    codes: dict = {}
    nodes = []
    for index, proto in enumerate(model.graph.node):
        node = Node(proto.op_type, proto.name or f"{proto.op_type}_{index}",
                    tuple(proto.input), tuple(proto.output), _attrs(proto), opset)
        args = [i for i in node.inputs if i]
        if node.op in FOLDABLE_OPS and all(a in constants for a in args):
            constants[node.outputs[0]] = _fold(node.op, [constants[a] for a in args],
                                               node.attrs)
            if node.op == "DequantizeLinear":   # a QDQ model's integer weights, kept
                values = [constants[a] for a in args] + [None]
                codes[node.outputs[0]] = (values[0], values[1], values[2],
                                          int(node.attrs.get("axis", 1)))
            continue
        if node.op not in DATA_OPS:
            raise ModelError(f"{path}: unsupported operator {node.op} (node {node.name!r})")
        if node.op in ("Gemm", "MatMul") and node.inputs[1] not in constants:
            raise ModelError(f"{path}: {node.op} node {node.name!r} multiplies two computed "
                             f"tensors; nbsmt runs GEMMs with constant weights")
        nodes.append(node)
    outputs = list(model.graph.output)
    if len(outputs) != 1:
        raise ModelError(f"{path}: nbsmt runs models with one output, this one has "
                         f"{len(outputs)}")
    out_dims = tuple(d.dim_value if d.HasField("dim_value") else None
                     for d in outputs[0].type.tensor_type.shape.dim)
    return Graph(str(path), name, shape, outputs[0].name, nodes, constants, out_dims, opset,
                 _single_image(model), codes)


def to_onnx(graph: Graph) -> bytes:
    """The image path of `graph` as an ONNX model (constants as initializers, batch free):
    what onnxruntime runs as the float reference, with nbsmt's changes to the weights
    (random, pruned) in it."""
    from onnx import TensorProto, helper, numpy_helper

    used = {i for n in graph.nodes for i in n.inputs if i in graph.constants}
    nodes = [helper.make_node(n.op, list(n.inputs), list(n.outputs), name=n.name,
                              **{k: list(v) if isinstance(v, tuple) else v
                                 for k, v in n.attrs.items()}) for n in graph.nodes]
    onnx_graph = helper.make_graph(
        nodes, "nbsmt",
        [helper.make_tensor_value_info(graph.input, TensorProto.FLOAT,
                                       ["N", *graph.input_shape[1:]])],
        [helper.make_tensor_value_info(graph.output, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.ascontiguousarray(graph.constants[k]), k)
         for k in sorted(used)])
    model = helper.make_model(onnx_graph,
                              opset_imports=[helper.make_opsetid("", graph.opset)])
    model.ir_version = 8
    return model.SerializeToString()
