"""Sizing of the device and page-locked host buffers, allocated once at each tensor's largest shape."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class BufferError(ValueError):
    pass


@dataclass(frozen=True)
class TensorBuffer:
    name: str
    is_input: bool
    dtype: np.dtype
    max_shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.max_shape) * self.dtype.itemsize

    @property
    def max_elements(self) -> int:
        return math.prod(self.max_shape)


def max_shape(shape: tuple[int, ...], max_batch: int) -> tuple[int, ...]:
    """Replace a dynamic batch (-1, TensorRT's marker) by ``max_batch``; any other dynamic dim is an error."""
    if not shape:
        raise BufferError("scalar tensors are not supported")
    if any(d < 0 for d in shape[1:]):
        raise BufferError(f"only the batch dimension may be dynamic, got shape {shape}")
    if any(d == 0 for d in shape):
        raise BufferError(f"zero-sized dimension in shape {shape}")
    batch = max_batch if shape[0] < 0 else shape[0]
    return (batch, *shape[1:])


def plan_buffers(
    tensors: list[tuple[str, bool, np.dtype, tuple[int, ...]]], max_batch: int
) -> list[TensorBuffer]:
    """One buffer per (name, is_input, dtype, engine shape) tensor, big enough for ``max_batch``."""
    names = [t[0] for t in tensors]
    if len(set(names)) != len(names):
        raise BufferError(f"duplicate tensor names: {names}")
    if not any(t[1] for t in tensors):
        raise BufferError("the engine has no input tensor")
    return [TensorBuffer(n, inp, np.dtype(dt), max_shape(tuple(s), max_batch)) for n, inp, dt, s in tensors]


def runtime_elements(shape: tuple[int, ...], buffer: TensorBuffer) -> int:
    """Elements that a run with ``shape`` uses; refuses shapes that would overrun the buffer."""
    if any(d < 0 for d in shape):
        raise BufferError(f"{buffer.name}: shape {shape} still has a dynamic dimension")
    if len(shape) != len(buffer.max_shape) or any(
        a > b for a, b in zip(shape, buffer.max_shape, strict=True)
    ):
        raise BufferError(f"{buffer.name}: shape {shape} does not fit the buffer of {buffer.max_shape}")
    return math.prod(shape)
