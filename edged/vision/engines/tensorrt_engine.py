"""TensorRT backend (TensorRT 10 named-tensor API, pycuda for memory and streams).

Buffers are allocated once, at each tensor's largest shape: device memory for every I/O tensor and a
page-locked host mirror of it, so copies are asynchronous on the engine's stream. One execution context
per optimisation profile; a call picks the narrowest profile that covers its batch and splits batches
larger than the largest profile.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pycuda.driver as cuda
import tensorrt as trt

from edged.vision.config import TensorRTEngineConfig
from edged.vision.engines.base import Engine, EngineError, TensorSpec, register_engine
from edged.vision.engines.trt_buffers import TensorBuffer, plan_buffers, runtime_elements
from edged.vision.engines.trt_cache import EngineCache, EngineCacheError, default_engine_cache_dir
from edged.vision.engines.trt_platform import PrimaryContext, current_platform, trt_logger
from edged.vision.engines.trt_profiles import BatchProfile, select_profile, split_batch


def _cache(config: TensorRTEngineConfig) -> EngineCache:
    return EngineCache(config.engine_cache_dir or default_engine_cache_dir())


class TensorRTEngine(Engine):
    def __init__(self, model_path: Path, config: TensorRTEngineConfig):
        from edged.vision.engines import trt_builder  # builder pulls in the ONNX parser; only needed here

        self.name = model_path.stem
        self._cuda = PrimaryContext(config.device)
        self._lock = threading.Lock()
        cache = _cache(config)
        plan = trt_builder.plan_build(
            model_path.parent,
            self.name,
            platform=current_platform(config.device),
            precision=config.precision_for(self.name),
            max_batch=config.max_batch,
            opt_batch=config.opt_batch,
            workspace_mb=config.workspace_mb,
            calibration_dir=config.int8_calibration_dir,
        )
        reason = cache.check(plan.key)
        if reason is not None:
            if not config.build_missing:
                raise EngineError(f"{self.name}: {reason} in {cache.directory}; run `edged build-engines`")
            trt_builder.build_and_cache(plan, cache, config.device)
        try:
            serialized = cache.load(plan.key)
        except EngineCacheError as exc:
            raise EngineError(str(exc)) from exc
        with self._cuda:
            self._setup(serialized)

    def _setup(self, serialized: bytes) -> None:
        self._runtime = trt.Runtime(trt_logger())
        self._engine = self._runtime.deserialize_cuda_engine(serialized)
        if self._engine is None:
            raise EngineError(f"{self.name}: TensorRT refused the cached engine; rebuild it")
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        tensors = []
        for n in names:
            is_input = self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT
            dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(n)))
            tensors.append((n, is_input, dtype, tuple(self._engine.get_tensor_shape(n))))
        inputs = [t for t in tensors if t[1]]
        if len(inputs) != 1:
            raise EngineError(f"{self.name}: expected one input tensor, engine has {len(inputs)}")
        self._input = inputs[0][0]
        self.profiles = tuple(
            BatchProfile(*(int(s[0]) for s in self._engine.get_tensor_profile_shape(self._input, i)))
            for i in range(self._engine.num_optimization_profiles)
        )
        self.max_batch = max(p.max for p in self.profiles)
        self._buffers = plan_buffers(tensors, self.max_batch)
        self._device = {b.name: cuda.mem_alloc(b.nbytes) for b in self._buffers}
        self._host = {b.name: cuda.pagelocked_empty(b.max_elements, b.dtype) for b in self._buffers}
        self._stream = cuda.Stream()
        self._contexts = []
        for i in range(len(self.profiles)):
            ctx = self._engine.create_execution_context()
            ctx.set_optimization_profile_async(i, self._stream.handle)
            for b in self._buffers:
                ctx.set_tensor_address(b.name, int(self._device[b.name]))
            self._contexts.append(ctx)
        self._stream.synchronize()

        def spec(b: TensorBuffer) -> TensorSpec:
            shape = tuple(None if d < 0 else int(d) for d in self._engine.get_tensor_shape(b.name))
            return TensorSpec(b.name, shape, b.dtype.name)

        self.inputs = [spec(b) for b in self._buffers if b.is_input]
        self.outputs = [spec(b) for b in self._buffers if not b.is_input]

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        if batch.ndim < 1 or len(batch) == 0:
            raise EngineError(f"{self.name}: empty batch")
        parts = [self._run(batch[a:b]) for a, b in split_batch(len(batch), self.max_batch)]
        if len(parts) == 1:
            return parts[0]
        return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        ctx = self._contexts[select_profile(self.profiles, len(batch))]
        inp = next(b for b in self._buffers if b.is_input)
        data = np.ascontiguousarray(batch, dtype=inp.dtype)
        with self._lock, self._cuda:
            if not ctx.set_input_shape(self._input, data.shape):
                raise EngineError(f"{self.name}: input shape {data.shape} is outside the engine's profiles")
            n = runtime_elements(data.shape, inp)
            host_in = self._host[inp.name][:n]
            host_in[:] = data.ravel()
            cuda.memcpy_htod_async(self._device[inp.name], host_in, self._stream)
            if not ctx.execute_async_v3(self._stream.handle):
                raise EngineError(f"{self.name}: TensorRT execution failed")
            results = []
            for b in self._buffers:
                if b.is_input:
                    continue
                shape = tuple(ctx.get_tensor_shape(b.name))
                view = self._host[b.name][: runtime_elements(shape, b)]
                cuda.memcpy_dtoh_async(view, self._device[b.name], self._stream)
                results.append((view, shape))
            self._stream.synchronize()
            return [v.reshape(s).astype(np.float32, copy=True) for v, s in results]

    def close(self) -> None:
        with self._lock, self._cuda:
            self._contexts.clear()
            for mem in self._device.values():
                mem.free()
            self._device.clear()
            self._host.clear()
        self._cuda.detach()


@register_engine("tensorrt")
def _make(model_path: Path, config: TensorRTEngineConfig) -> Engine:
    return TensorRTEngine(model_path, config)
