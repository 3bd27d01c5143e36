"""Inference backends behind one interface. Optional backends register only where they import."""

from edged.vision.engines import onnxruntime_engine as _onnxruntime_engine  # noqa: F401 - registers
from edged.vision.engines.base import Engine, EngineError, TensorSpec, available_engines, create_engine

try:  # TensorRT exists only on GPU machines (Jetson, x86 with CUDA)
    from edged.vision.engines import tensorrt_engine as _tensorrt_engine  # noqa: F401
except ImportError:
    pass

__all__ = ["Engine", "EngineError", "TensorSpec", "available_engines", "create_engine"]
