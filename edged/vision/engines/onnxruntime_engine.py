"""ONNX Runtime backend: the CPU default, and what the tests use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from edged.vision.config import OnnxRuntimeEngineConfig
from edged.vision.engines.base import Engine, EngineError, TensorSpec, register_engine
from edged.vision.engines.prepare import prepared_model_bytes

_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64"}


def _spec(arg: ort.NodeArg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, arg.type))


def session_options(intra_op_threads: int, inter_op_threads: int = 1) -> ort.SessionOptions:
    """The session options every ONNX Runtime session of edged uses (the engine, the benchmarks)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = intra_op_threads
    so.inter_op_num_threads = inter_op_threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Activations can still go denormal after the weights are flushed; treat them as zero too.
    so.add_session_config_entry("session.set_denormal_as_zero", "1")
    return so


class OnnxRuntimeEngine(Engine):
    def __init__(self, model_path: Path, config: OnnxRuntimeEngineConfig):
        so = session_options(config.intra_op_threads, config.inter_op_threads)
        try:
            self._session = ort.InferenceSession(
                prepared_model_bytes(model_path, for_onnxruntime=True), so, providers=list(config.providers)
            )
        except Exception as exc:  # ORT raises several private exception types
            raise EngineError(f"{model_path}: ONNX Runtime could not load it: {exc}") from exc
        self.name = model_path.stem
        self.inputs = [_spec(a) for a in self._session.get_inputs()]
        self.outputs = [_spec(a) for a in self._session.get_outputs()]
        self._input_name = self.inputs[0].name

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        outs = self._session.run(None, {self._input_name: np.ascontiguousarray(batch, dtype=np.float32)})
        return [np.asarray(o) for o in outs]


@register_engine("onnxruntime")
def _make(model_path: Path, config: OnnxRuntimeEngineConfig) -> Engine:
    return OnnxRuntimeEngine(model_path, config)
