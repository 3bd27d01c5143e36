"""``split_prelu``: per-channel PRelu rewritten for ONNX Runtime, the result unchanged bit for bit."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from edged.vision.engines.prepare import prepared_bytes, split_prelu

SLOPES = np.array([-1.35, 0.0, 0.25, 1.23], np.float32)  # negative, zero and above one, as in the models


def conv_prelu_model(slope_shape: tuple[int, ...]) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    slope = numpy_helper.from_array(SLOPES.reshape(slope_shape), "slope")
    across_width = numpy_helper.from_array(np.array([0.1, -0.2, 0.3, 0.4, 2.0], np.float32), "width_slope")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("PRelu", ["c", "slope"], ["p"]),
        helper.make_node("PRelu", ["p", "width_slope"], ["y"]),  # (W,) slope: broadcasts over width
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, 5, 5])],
        [weight, slope, across_width],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def run(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_channel_prelu_becomes_relu_and_depthwise_conv_with_identical_output() -> None:
    x = np.random.default_rng(1).normal(size=(3, 3, 5, 5)).astype(np.float32)
    for shape in ((4, 1, 1), (1, 4, 1, 1)):
        model = conv_prelu_model(shape)
        expected = run(model.SerializeToString(), x)
        assert split_prelu(model) == 1
        ops = [n.op_type for n in model.graph.node]
        assert ops.count("PRelu") == 1  # the width-wise one is not a channel slope: left alone
        assert {i.name for i in model.graph.initializer} >= {"w", "width_slope"}
        assert "slope" not in {i.name for i in model.graph.initializer}  # no unused initializer left
        got = run(model.SerializeToString(), x)
        assert np.array_equal(got, expected)
        assert (expected < 0).any() and (expected > 0).any()  # both branches of the slope were exercised


def test_only_onnxruntime_preparation_splits() -> None:
    plain = onnx.load_from_string(prepared_bytes(conv_prelu_model((4, 1, 1))))
    for_ort = onnx.load_from_string(prepared_bytes(conv_prelu_model((4, 1, 1)), for_onnxruntime=True))
    assert [n.op_type for n in plain.graph.node].count("PRelu") == 2
    assert [n.op_type for n in for_ort.graph.node].count("PRelu") == 1
