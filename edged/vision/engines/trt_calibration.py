"""INT8 entropy calibration from a set of real, preprocessed inputs (never random data)."""

from __future__ import annotations

import numpy as np
import pycuda.driver as cuda
import tensorrt as trt


class ArrayCalibrator(trt.IInt8EntropyCalibrator2):
    """Feeds ``data`` (N x C x H x W float32) to TensorRT in batches of ``batch``. No cache file is kept:
    the calibration set is part of the engine key, so a rebuild with the same set gives the same scales."""

    def __init__(self, data: np.ndarray, batch: int, name: str):
        super().__init__()
        if data.ndim != 4 or len(data) < batch:
            raise ValueError(
                f"{name}: calibration set must be N x C x H x W with N >= {batch}, got {data.shape}"
            )
        self._data = np.ascontiguousarray(data, dtype=np.float32)
        self._batch = batch
        self._next = 0
        self._device = cuda.mem_alloc(self._data[:batch].nbytes)

    def get_batch_size(self) -> int:
        return self._batch

    def get_batch(self, names: list[str]) -> list[int] | None:
        if self._next + self._batch > len(self._data):
            return None
        cuda.memcpy_htod(self._device, self._data[self._next : self._next + self._batch])
        self._next += self._batch
        return [int(self._device)]

    def read_calibration_cache(self) -> bytes | None:
        return None

    def write_calibration_cache(self, cache: bytes) -> None:
        return None


def make_calibrator(data: np.ndarray, batch: int, name: str) -> ArrayCalibrator:
    return ArrayCalibrator(data, batch, name)
