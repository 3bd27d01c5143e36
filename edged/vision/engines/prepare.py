"""Deterministic fixes applied to a verified ONNX file before any backend builds from it.

1. Denormal weights are flushed to zero. The embedder ships ~9,000 denormal floats; on x86 they
   send every multiply through microcode and the embedder runs 3-4x slower (``edged bench stages``).
2. The batch dimension of inputs and outputs is made symbolic, and ``Reshape`` constants that pin
   the batch to 1 are changed to copy it, so several faces run in one call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


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


def prepared_bytes(model: onnx.ModelProto, *, dynamic_batch: bool = True) -> bytes:
    flush_denormals(model)
    if dynamic_batch:
        make_batch_dynamic(model)
    return bytes(model.SerializeToString())


def prepared_model_bytes(path: Path, *, dynamic_batch: bool = True) -> bytes:
    return prepared_bytes(onnx.load(str(path)), dynamic_batch=dynamic_batch)
