"""``split_prelu``: per-channel PRelu rewritten for ONNX Runtime, the result unchanged bit for bit."""

from __future__ import annotations

import platform

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from edged.vision.engines.prepare import NCHWC_BLOCK, X86, prepared_bytes, split_prelu

C = NCHWC_BLOCK  # a channel count the rewrite takes
# negative, zero and above one, as in the models
SLOPES = np.resize(np.array([-1.35, 0.0, 0.25, 1.23], np.float32), C)


def conv_prelu_model(slope_shape: tuple[int, ...]) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(C, 3, 3, 3)).astype(np.float32), "w")
    odd_weight = numpy_helper.from_array(rng.normal(size=(13, C, 1, 1)).astype(np.float32), "w13")
    slope = numpy_helper.from_array(SLOPES.reshape(slope_shape), "slope")
    odd_slope = numpy_helper.from_array(np.linspace(-1, 1, 13, dtype=np.float32).reshape(13, 1, 1), "slope13")
    across_width = numpy_helper.from_array(np.array([0.1, -0.2, 0.3, 0.4, 2.0], np.float32), "width_slope")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("PRelu", ["c", "slope"], ["p"]),
        helper.make_node("PRelu", ["p", "width_slope"], ["q"]),  # (W,) slope: broadcasts over width
        helper.make_node("Conv", ["q", "w13"], ["c13"]),
        helper.make_node("PRelu", ["c13", "slope13"], ["y"]),  # 13 channels: not a multiple of the block
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 13, 5, 5])],
        [weight, odd_weight, slope, odd_slope, across_width],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def run(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_channel_prelu_becomes_relu_and_depthwise_conv_with_identical_output() -> None:
    x = np.random.default_rng(1).normal(size=(3, 3, 5, 5)).astype(np.float32)
    for shape in ((C, 1, 1), (1, C, 1, 1)):
        model = conv_prelu_model(shape)
        expected = run(model.SerializeToString(), x)
        assert split_prelu(model) == 1
        ops = [n.op_type for n in model.graph.node]
        assert ops.count("PRelu") == 2  # the width-wise one and the 13-channel one are left alone
        names = {i.name for i in model.graph.initializer}
        assert {"w", "width_slope", "slope13"} <= names
        assert "slope" not in names  # no unused initializer left
        got = run(model.SerializeToString(), x)
        assert np.array_equal(got, expected)
        assert (expected < 0).any() and (expected > 0).any()  # both branches of the slope were exercised


def test_only_onnxruntime_preparation_on_x86_splits() -> None:
    plain = onnx.load_from_string(prepared_bytes(conv_prelu_model((C, 1, 1))))
    for_ort = onnx.load_from_string(prepared_bytes(conv_prelu_model((C, 1, 1)), for_onnxruntime=True))
    assert [n.op_type for n in plain.graph.node].count("PRelu") == 3
    expected = 2 if platform.machine().lower() in X86 else 3
    assert [n.op_type for n in for_ort.graph.node].count("PRelu") == expected
