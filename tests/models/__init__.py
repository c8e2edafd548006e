"""Model registry, pre-labeling and auto-grouping tests, and the small ONNX models they build."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _model(graph: onnx.GraphProto) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def colour_classifier(
    size: int = 16, labels: int = 2, *, layout: str = "NCHW", batch: int | str = "N", rank: int = 4
) -> bytes:
    """A classifier of ``labels`` classes: the mean of each RGB channel times a fixed matrix.
    With two labels, class 0 ("red") wins on reddish images, class 1 ("blue") on bluish ones."""
    weights = np.zeros((3, labels), dtype=np.float32)
    weights[0, 0], weights[2, 0] = 20.0, -20.0
    if labels > 1:
        weights[0, 1], weights[2, 1] = -20.0, 20.0
    axes = [2, 3] if layout == "NCHW" else [1, 2]
    if rank == 4:
        shape: list[int | str] = [batch, 3, size, size] if layout == "NCHW" else [batch, size, size, 3]
        nodes = [
            helper.make_node("ReduceMean", ["image", "axes"], ["means"], keepdims=0),
            helper.make_node("MatMul", ["means", "weights"], ["logits"]),
        ]
        inits = [numpy_helper.from_array(np.array(axes, dtype=np.int64), "axes")]
    else:
        shape = [batch, 3]
        nodes = [helper.make_node("MatMul", ["image", "weights"], ["logits"])]
        inits = []
    graph = helper.make_graph(
        nodes,
        "colour-classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, labels])],
        initializer=[*inits, numpy_helper.from_array(weights, "weights")],
    )
    return _model(graph)


def constant_detector(boxes: list[list[float]], size: int = 32) -> bytes:
    """A detector that always answers ``boxes`` (rows x1, y1, x2, y2, score, class in input
    pixels); input (1, 3, size, size), output (1, len(boxes), 6)."""
    table = np.array([boxes], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image"], ["mean"], keepdims=1),  # (1, 1, 1, 1)
            helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
            helper.make_node("Squeeze", ["nothing", "squeeze_axes"], ["flat"]),  # (1, 1, 1)
            helper.make_node("Add", ["table", "flat"], ["detections"]),
        ],
        "constant-detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("detections", TensorProto.FLOAT, [1, len(boxes), 6])],
        initializer=[
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.zeros((1,), dtype=np.float32), "zero"),
            numpy_helper.from_array(np.array([3], dtype=np.int64), "squeeze_axes"),
        ],
    )
    return _model(graph)


def slow_colour_classifier(size: int = 192, channels: int = 32, kernel: int = 7) -> bytes:
    """:func:`colour_classifier`'s two classes ("red", "blue"), plus a wide convolution whose
    pooled output nudges the logits by a hair: every image costs real work (a pre-labeling task
    takes seconds, long enough to be interrupted mid-run) without changing the answer."""
    rng = np.random.default_rng(0)
    colour = np.zeros((3, 2), dtype=np.float32)
    colour[0, 0], colour[2, 0], colour[0, 1], colour[2, 1] = 20.0, -20.0, -20.0, 20.0
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image", "axes"], ["means"], keepdims=0),
            helper.make_node("MatMul", ["means", "colour"], ["colour_logits"]),
            helper.make_node("Conv", ["image", "conv_w"], ["conv"], pads=[kernel // 2] * 4),
            helper.make_node("ReduceMean", ["conv", "axes"], ["pooled"], keepdims=0),
            helper.make_node("MatMul", ["pooled", "nudge"], ["nudge_logits"]),
            helper.make_node("Add", ["colour_logits", "nudge_logits"], ["logits"]),
        ],
        "slow-colour-classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        initializer=[
            numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"),
            numpy_helper.from_array(colour, "colour"),
            numpy_helper.from_array(
                rng.normal(0, 0.01, (channels, 3, kernel, kernel)).astype(np.float32), "conv_w"
            ),
            numpy_helper.from_array(np.full((channels, 2), 1e-3, dtype=np.float32), "nudge"),
        ],
    )
    return _model(graph)
