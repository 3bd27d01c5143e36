"""Latency samples per stage, summarised as percentiles for benchmarks and status reports."""

from __future__ import annotations

import threading
from collections import defaultdict, deque

import numpy as np


def percentiles(values: list[float] | np.ndarray) -> dict[str, float | int]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"n": 0}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "n": int(arr.size),
        "p50": round(float(p50), 2),
        "p95": round(float(p95), 2),
        "p99": round(float(p99), 2),
        "max": round(float(arr.max()), 2),
    }


class LatencyRecorder:
    """Thread-safe; keeps the last ``window`` samples of each stage (bounded memory for a long run)."""

    def __init__(self, window: int = 100_000):
        self._lock = threading.Lock()
        self._samples: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))

    def add(self, stage: str, ms: float) -> None:
        with self._lock:
            self._samples[stage].append(ms)

    def add_all(self, times_ms: dict[str, float]) -> None:
        with self._lock:
            for stage, ms in times_ms.items():
                self._samples[stage].append(ms)

    def summary(self) -> dict[str, dict[str, float | int]]:
        with self._lock:
            return {stage: percentiles(list(v)) for stage, v in sorted(self._samples.items())}

    def values(self, stage: str) -> list[float]:
        with self._lock:
            return list(self._samples.get(stage, ()))
