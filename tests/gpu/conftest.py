"""Backends under test: ONNX Runtime everywhere, TensorRT where it imports (``pytest -m gpu`` on a Jetson
or a CUDA machine). Without TensorRT its cases skip with the reason, also in CI, which has no GPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edged.vision.config import OnnxRuntimeEngineConfig, TensorRTEngineConfig


def tensorrt_missing() -> str | None:
    """Why the TensorRT backend cannot run here, or ``None`` when it can."""
    try:
        import pycuda.driver as cuda
        import tensorrt  # noqa: F401
    except ImportError as exc:
        return f"TensorRT backend not available on this machine ({exc}); run `pytest -m gpu` on a Jetson"
    try:
        cuda.init()
        if cuda.Device.count() == 0:
            return "no CUDA device"
    except cuda.Error as exc:
        return f"CUDA is not usable here: {exc}"
    return None


BACKENDS = [
    pytest.param("onnxruntime", id="onnxruntime"),
    pytest.param("tensorrt-fp16", id="tensorrt-fp16", marks=pytest.mark.gpu),
    pytest.param("tensorrt-fp32", id="tensorrt-fp32", marks=pytest.mark.gpu),
]


def engine_config(backend: str, cache_dir: Path) -> Any:
    if backend == "onnxruntime":
        return OnnxRuntimeEngineConfig.model_validate({})
    reason = tensorrt_missing()
    if reason is not None:
        pytest.skip(reason)
    precision = backend.split("-")[1]
    return TensorRTEngineConfig.model_validate(
        {"engine_cache_dir": cache_dir, "precision": precision, "build_missing": True}
    )


@pytest.fixture(scope="session")
def engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engines")
