"""Deterministic fixes applied to a verified ONNX file before any backend builds from it.

1. Denormal weights are flushed to zero. The embedder ships ~9,000 denormal floats; on x86 they
   send every multiply through microcode and the embedder runs 3-4x slower (``edged bench stages``).
2. The batch dimension of inputs and outputs is made symbolic, and ``Reshape`` constants that pin
   the batch to 1 are changed to copy it, so several faces run in one call.
3. For ONNX Runtime on x86 only: per-channel ``PRelu`` on a multiple of 16 channels is rewritten as
   ``Relu(x) - slope * Relu(-x)``, the negation and the slope as depthwise 1×1 convolutions. ONNX
   Runtime's CPU ``PRelu`` kernel is slow with a per-channel slope and cannot stay in its blocked
   (NCHWc) layout, so each one cost a slow kernel and two layout reorders (``edged bench ops --model
   fr_feature --no-prelu-split`` shows both). The rewrite gives the same result and about halves the
   embedder's time (``edged bench ops``, ``edged bench stages``). TensorRT fuses ``PRelu`` itself and
   gets the graph unchanged.
4. Weights that an old exporter also listed as graph inputs (ONNX IR < 4 style, as in SFace) are
   taken out of the inputs: otherwise every weight looks like an input a caller could feed, the
   batch fix above would rename the batch dimension of one-element weights, and a backend that
   reads "the first input" or builds optimisation profiles per input sees hundreds of them.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

# The PReLU rewrite pays off where ONNX Runtime runs convolutions in its blocked (NCHWc) layout, as it
# does on x86 (blocks of 8 channels with AVX2, 16 with AVX-512). It was measured only there, so elsewhere
# (the Jetson's Arm cores) the graph is left as it is.
X86 = ("x86_64", "amd64")
NCHWC_BLOCK = 16


def flush_denormals(model: onnx.ModelProto) -> int:
    flushed = 0
    for init in model.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        # Test the bits, not the values: once ONNX Runtime has set denormals-are-zero on this thread
        # (session.set_denormal_as_zero), numpy compares denormals as if they were 0.
        bits = arr.view(np.uint32)
        mask = ((bits & 0x7F800000) == 0) & ((bits & 0x007FFFFF) != 0)
        n = int(mask.sum())
        if n:
            arr = arr.copy()
            arr.view(np.uint32)[mask] &= np.uint32(0x80000000)
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
            flushed += n
    return flushed


def drop_initializer_inputs(model: onnx.ModelProto) -> int:
    """Remove graph inputs that are initializers; returns how many."""
    inits = {i.name for i in model.graph.initializer}
    kept = [v for v in model.graph.input if v.name not in inits]
    dropped = len(model.graph.input) - len(kept)
    if dropped:
        del model.graph.input[:]
        model.graph.input.extend(kept)
    return dropped


def make_batch_dynamic(model: onnx.ModelProto, dim_name: str = "batch") -> None:
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value") and dims[0].dim_value == 1:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = dim_name
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.input[1] not in inits:
            continue
        shape = numpy_helper.to_array(inits[node.input[1]])
        if shape.ndim == 1 and shape.size >= 2 and shape[0] == 1:
            fixed = shape.copy()
            fixed[0] = 0  # 0 = copy the input's batch dimension
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(fixed, node.input[1]))
    del model.graph.value_info[:]  # stale shapes with batch 1 would confuse shape inference


def _ranks(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    values = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    return {v.name: len(v.type.tensor_type.shape.dim) for v in values if v.type.tensor_type.HasField("shape")}


def _channel_slope(slope: onnx.TensorProto | None, block: int) -> np.ndarray | None:
    """The slope as (C, 1, 1, 1) depthwise weights when it is per channel ((C,1,1) or (1,C,1,1)) and C is
    a multiple of ``block``."""
    if slope is None:
        return None
    dims = tuple(slope.dims)
    channels = int(np.prod(dims)) if dims else 0
    if channels < 1 or channels % block or dims not in ((channels, 1, 1), (1, channels, 1, 1)):
        return None
    return numpy_helper.to_array(slope).astype(np.float32).reshape(channels, 1, 1, 1)


def split_prelu(model: onnx.ModelProto, block: int = NCHWC_BLOCK) -> int:
    """Rewrite per-channel ``PRelu`` on 4-D tensors with a constant slope as
    ``Relu(x) + Conv_dw(Relu(Conv_dw(x, -1)), -slope)``; returns how many. Any other ``PRelu`` stays,
    and so does one whose channels are not a multiple of ``block``: ONNX Runtime keeps such tensors out
    of its blocked layout, where the depthwise convolutions are slower than the ``PRelu`` they replace
    (the liveness model, with 13, 103 and 231 channels, ran slower fully rewritten)."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    ranks = _ranks(model)
    nodes: list[onnx.NodeProto] = []
    added: list[onnx.TensorProto] = []
    slopes: set[str] = set()
    rewritten = 0
    for node in graph.node:
        slope = _channel_slope(inits.get(node.input[1]), block) if node.op_type == "PRelu" else None
        if slope is None or ranks.get(node.input[0]) != 4:
            nodes.append(node)
            continue
        x, y, tag = node.input[0], node.output[0], f"{node.output[0]}__prelu"
        minus_one = numpy_helper.from_array(np.full_like(slope, -1.0), f"{tag}_minus_one")
        minus_slope = numpy_helper.from_array(-slope, f"{tag}_minus_slope")
        added += [minus_one, minus_slope]
        channels = len(slope)
        nodes += [
            helper.make_node("Relu", [x], [f"{tag}_pos"]),
            helper.make_node(
                "Conv", [x, minus_one.name], [f"{tag}_neg"], group=channels, kernel_shape=[1, 1]
            ),
            helper.make_node("Relu", [f"{tag}_neg"], [f"{tag}_neg_relu"]),
            helper.make_node(
                "Conv",
                [f"{tag}_neg_relu", minus_slope.name],
                [f"{tag}_neg_part"],
                group=channels,
                kernel_shape=[1, 1],
            ),
            helper.make_node("Add", [f"{tag}_pos", f"{tag}_neg_part"], [y]),
        ]
        slopes.add(node.input[1])
        rewritten += 1
    if slopes:
        used = {name for n in nodes for name in n.input}
        kept = [i for i in graph.initializer if i.name not in slopes or i.name in used]
        del graph.node[:]
        graph.node.extend(nodes)
        del graph.initializer[:]
        graph.initializer.extend(kept + added)
    return rewritten


def prepared_bytes(
    model: onnx.ModelProto, *, dynamic_batch: bool = True, for_onnxruntime: bool = False
) -> bytes:
    drop_initializer_inputs(model)
    flush_denormals(model)
    if dynamic_batch:
        make_batch_dynamic(model)
    if for_onnxruntime and platform.machine().lower() in X86:
        split_prelu(model)
    return bytes(model.SerializeToString())


def prepared_model_bytes(path: Path, *, dynamic_batch: bool = True, for_onnxruntime: bool = False) -> bytes:
    return prepared_bytes(onnx.load(str(path)), dynamic_batch=dynamic_batch, for_onnxruntime=for_onnxruntime)
