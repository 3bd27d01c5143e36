"""``edged bench ops``: where ONNX Runtime spends a model's time, per operator type, from its own profiler.

This is how the PReLU rewrite in ``edged.vision.engines.prepare`` was found; run it with and without
``--no-prelu-split`` to see that rewrite's effect on any model, or on a new CPU.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edged.vision.engines.onnxruntime_engine import session_options
from edged.vision.engines.prepare import prepared_model_bytes

WARMUP = 10


def profile_ops(
    model_path: Path, *, runs: int = 100, batch: int = 1, threads: int = 1, prelu_split: bool = True
) -> dict[str, Any]:
    """Median milliseconds per run (timed without the profiler), and the profiler's kernel time by
    operator type, for the model prepared as the ONNX Runtime engine prepares it, on a uniform random
    input of the model's shape."""
    so = session_options(threads)
    with tempfile.TemporaryDirectory(prefix="edged-ops-") as tmp:
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "profile")
        data = prepared_model_bytes(model_path, for_onnxruntime=prelu_split)
        session = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        spec = session.get_inputs()[0]
        shape = [batch if not isinstance(d, int) else d for d in spec.shape]
        shape[0] = batch
        x = np.random.default_rng(0).uniform(-1.0, 1.0, size=shape).astype(np.float32)
        for _ in range(WARMUP):
            session.run(None, {spec.name: x})
        events = _profile(session, spec.name, x, runs)
        so.enable_profiling = False  # the wall time, without the profiler's per-node overhead
        plain = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        ms = _median_ms(plain, spec.name, x, runs)
    per_op: dict[str, float] = defaultdict(float)
    nodes: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time"):
            op = str(e.get("args", {}).get("op_name", "?"))
            per_op[op] += float(e["dur"]) / 1000.0
            nodes[op].add(str(e["name"]))
    total = sum(per_op.values())
    return {
        "model": model_path.name,
        "prelu_split": prelu_split,
        "batch": batch,
        "threads": threads,
        "runs": runs,
        "ms_per_run": ms,
        "ops": {
            op: {
                "ms_per_run": ms / (runs + WARMUP),
                "share": ms / total if total else 0.0,
                "nodes": len(nodes[op]),
            }
            for op, ms in sorted(per_op.items(), key=lambda kv: -kv[1])
        },
    }


def _median_ms(session: ort.InferenceSession, name: str, x: np.ndarray, runs: int) -> float:
    for _ in range(WARMUP):
        session.run(None, {name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, {name: x})
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times))


def _profile(session: ort.InferenceSession, name: str, x: np.ndarray, runs: int) -> list[dict[str, Any]]:
    for _ in range(runs):
        session.run(None, {name: x})
    with open(session.end_profiling()) as fh:
        events: list[dict[str, Any]] = json.load(fh)
    return events
