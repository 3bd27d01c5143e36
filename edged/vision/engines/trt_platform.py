"""What this machine's engines are tied to, and the CUDA context every TensorRT call runs in.

Imports TensorRT and pycuda: import this module only where they are expected (guarded by callers).
"""

from __future__ import annotations

import pycuda.driver as cuda
import tensorrt as trt

from edged.vision.engines.trt_cache import Platform

_LOGGER = trt.Logger(trt.Logger.WARNING)


def trt_logger() -> trt.ILogger:
    return _LOGGER


def cuda_device(index: int) -> cuda.Device:
    cuda.init()
    if index >= cuda.Device.count():
        raise RuntimeError(f"CUDA device {index} does not exist ({cuda.Device.count()} found)")
    return cuda.Device(index)


def current_platform(device_index: int = 0) -> Platform:
    dev = cuda_device(device_index)
    major, minor = dev.compute_capability()
    return Platform(
        tensorrt_version=trt.__version__, gpu_name=dev.name(), compute_capability=f"{major}.{minor}"
    )


class PrimaryContext:
    """The device's primary context (the one TensorRT's runtime API uses), pushed for a ``with`` block,
    so that any thread may call the engine."""

    def __init__(self, device_index: int):
        self._ctx = cuda_device(device_index).retain_primary_context()

    def __enter__(self) -> PrimaryContext:
        self._ctx.push()
        return self

    def __exit__(self, *exc: object) -> None:
        cuda.Context.pop()

    def detach(self) -> None:
        self._ctx.detach()
