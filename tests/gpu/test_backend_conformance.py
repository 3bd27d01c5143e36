"""Every backend against ONNX Runtime on the original model files, on real inputs.

Inputs are what the face pipeline feeds each model for real LFW images (recorded through ONNX Runtime).
Reference outputs are ONNX Runtime's on the original, unprepared file, one row at a time; the backend
under test runs the prepared graph with the per-face models batched, so dynamic batch is covered too.
Tolerances are stated in ``edged/vision/engines/trt_compare.py`` (embedding cosine >= 0.999).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edged.models import verified_path
from edged.vision.engines import create_engine
from edged.vision.engines.trt_compare import compare_model
from edged.vision.image_io import load_image
from edged.vision.lfw import read_pairs
from edged.vision.pipeline import FacePipeline
from tests.gpu import device_inputs
from tests.gpu.conftest import BACKENDS, engine_config

MODELS = ("fr_detect", "fr_landmark", "fr_feature", "fr_liveness")
IMAGES = 6
LFW_MIN_ACCURACY = 0.98  # fold 1 at the configured threshold; ONNX Runtime measured 98.33 % (docs/jetson.md)


@pytest.fixture(scope="module")
def recorded_inputs(shared_data: Path, models_dir: Path) -> dict[str, np.ndarray]:
    pairs = [p for p in read_pairs(shared_data / "lfw") if p.fold == 0]
    paths = sorted({p.a for p in pairs} | {p.b for p in pairs})[:IMAGES]
    pipe = FacePipeline(models_dir, device_inputs._RecordingConfig())  # type: ignore[arg-type]
    device_inputs.RECORDED.clear()
    for path in paths:
        pipe.analyse(load_image(path), mask=False)
    by_model: dict[str, list[np.ndarray]] = {m: [] for m in MODELS}
    for model, x, _ in device_inputs.RECORDED:
        by_model[model].append(x)
    device_inputs.RECORDED.clear()
    return {m: np.concatenate(xs) for m, xs in by_model.items()}


def reference_outputs(path: Path, x: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    rows = [session.run(None, {name: x[i : i + 1]}) for i in range(len(x))]
    names = [o.name for o in session.get_outputs()]
    return names, [np.concatenate([r[j] for r in rows]) for j in range(len(names))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", MODELS)
def test_outputs_match_onnxruntime(backend, model, recorded_inputs, models_dir, engine_cache):
    path = verified_path(models_dir, f"{model}.onnx")
    x = recorded_inputs[model]
    assert len(x) >= IMAGES  # at least one call per image
    engine = create_engine(path, engine_config(backend, engine_cache))
    try:
        if model == "fr_detect":  # one frame per call, as the pipeline runs it
            parts = [engine.infer(x[i : i + 1]) for i in range(len(x))]
            got = [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]
        else:
            got = engine.infer(x)
    finally:
        engine.close()
    names, ref = reference_outputs(path, x)
    results = compare_model(model, names, got, ref)
    assert all(r.passed for r in results), "; ".join(r.line() for r in results)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_lfw_fold1_accuracy(backend, shared_data, models_dir, engine_cache):
    from edged.vision.lfw_run import run_lfw

    if backend == "onnxruntime":
        pytest.skip("the ONNX Runtime figure is tests/integration/vision/test_lfw.py (same run, not twice)")

    pipe = FacePipeline(models_dir, engine_config(backend, engine_cache))
    result = run_lfw(pipe, shared_data / "lfw", folds=1)
    print(f"{backend}: LFW fold 1 accuracy {result['accuracy']:.4f}, missed {result['missed']}")
    assert result["pairs"] == 600
    assert result["missed"] <= 2
    assert result["accuracy"] >= LFW_MIN_ACCURACY
