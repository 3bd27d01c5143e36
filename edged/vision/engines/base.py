"""The one interface every inference backend implements, and the registry keyed by config ``type``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | None, ...]  # None = dynamic (the batch dimension after preparation)
    dtype: str


class EngineError(Exception):
    pass


class Engine(ABC):
    """A loaded model. ``infer`` takes one batch for the model's single input, returns outputs in order."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    name: str

    @abstractmethod
    def infer(self, batch: np.ndarray) -> list[np.ndarray]: ...

    def warm_up(self, runs: int) -> None:
        """Run dummy batches so that the first real frame does not pay for lazy initialisation."""
        spec = self.inputs[0]
        shape = tuple(1 if d is None else d for d in spec.shape)
        dummy = np.zeros(shape, dtype=np.float32)
        for _ in range(runs):
            self.infer(dummy)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release backend resources (device buffers); the default has none."""


EngineFactory = Callable[[Path, Any], Engine]
_REGISTRY: dict[str, EngineFactory] = {}


def register_engine(type_name: str) -> Callable[[EngineFactory], EngineFactory]:
    def deco(factory: EngineFactory) -> EngineFactory:
        _REGISTRY[type_name] = factory
        return factory

    return deco


def create_engine(model_path: Path, config: Any) -> Engine:
    """Build the engine named by ``config.type`` for ``model_path`` (a verified ONNX file) and warm it up."""
    factory = _REGISTRY.get(config.type)
    if factory is None:
        raise EngineError(f"engine type {config.type!r} is not available here (have: {sorted(_REGISTRY)})")
    engine = factory(Path(model_path), config)
    engine.warm_up(config.warmup_runs)
    return engine


def available_engines() -> list[str]:
    return sorted(_REGISTRY)
