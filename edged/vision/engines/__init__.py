"""Inference backends behind one interface. Optional backends register only where they import."""

import contextlib

from edged.vision.engines import onnxruntime_engine as _onnxruntime_engine  # noqa: F401 - registers
from edged.vision.engines.base import Engine, EngineError, TensorSpec, available_engines, create_engine

with contextlib.suppress(ImportError):  # TensorRT exists only on GPU machines (Jetson, x86 with CUDA)
    from edged.vision.engines import tensorrt_engine as _tensorrt_engine  # noqa: F401

__all__ = ["Engine", "EngineError", "TensorSpec", "available_engines", "create_engine"]
