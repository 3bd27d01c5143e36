"""``edged bench stages``: how long each stage of the face pipeline takes on this machine."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import numpy as np

from edged.vision.pipeline import FacePipeline


def _time(fn: Callable[[], object], runs: int) -> dict[str, float]:
    fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000.0)
    return {"p50": float(np.percentile(samples, 50)), "p95": float(np.percentile(samples, 95))}


def bench_stages(pipeline: FacePipeline, bgr: np.ndarray, runs: int) -> dict:
    faces = pipeline.detect(bgr)
    if not faces:
        raise ValueError("the benchmark image has no face")
    face = faces[0]
    boxes = np.stack([face.box])
    assert face.aligned is not None
    aligned = [face.aligned]
    embedder = pipeline.embedder
    ms: dict[str, dict[str, float]] = {
        "detector_per_frame": _time(lambda: pipeline.detector.detect(bgr), runs),
        "landmarks_per_face": _time(lambda: pipeline.landmarks.predict(bgr, boxes), runs),
        "pipeline_detect_per_frame": _time(lambda: pipeline.detect(bgr), runs),
        "liveness_per_face": _time(lambda: pipeline.liveness.live_scores(bgr, boxes), runs),
    }
    saved = embedder.flip
    try:
        embedder.flip = False
        ms["embedder_per_face"] = _time(lambda: embedder.embed(aligned), runs)
        embedder.flip = True
        ms["embedder_per_face_with_flip"] = _time(lambda: embedder.embed(aligned), runs)
        embedder.flip = False
        batch4 = _time(lambda: embedder.embed(aligned * 4), runs)
        ms["embedder_per_face_batch4"] = {k: v / 4 for k, v in batch4.items()}
    finally:
        embedder.flip = saved
    if pipeline.mask_classifier is not None:
        ms["mask_per_face"] = _time(lambda: pipeline.classify_masks(bgr, [face]), runs)
    return {
        "ms": ms,
        "image": {"width": int(bgr.shape[1]), "height": int(bgr.shape[0]), "faces": len(faces)},
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "runs": runs,
    }
