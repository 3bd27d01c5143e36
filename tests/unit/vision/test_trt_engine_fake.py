"""The TensorRT engine's own logic on a machine without a GPU, against stand-ins for tensorrt/pycuda
(tests/gpu/fake_gpu.py) whose engine runs the graph with ONNX Runtime and enforces profiles."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edged.models import verified_path
from edged.vision.config import TensorRTEngineConfig
from edged.vision.engines import EngineError, base, create_engine
from edged.vision.engines.prepare import prepared_model_bytes
from edged.vision.engines.trt_cache import EngineCache, Platform
from tests.gpu.fake_gpu import make_pycuda, make_tensorrt, serialize

TRT_MODULES = [
    "edged.vision.engines.trt_platform",
    "edged.vision.engines.trt_calibration",
    "edged.vision.engines.trt_builder",
    "edged.vision.engines.tensorrt_engine",
]
FAKE_PLATFORM = Platform("10.3.0", "Fake GPU", "8.7")


@pytest.fixture
def fake(monkeypatch):
    package, driver = make_pycuda()
    trt = make_tensorrt(lambda: driver.memory)
    monkeypatch.setitem(sys.modules, "pycuda", package)
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    registry = dict(base._REGISTRY)
    for name in TRT_MODULES:
        sys.modules.pop(name, None)
    te = importlib.import_module("edged.vision.engines.tensorrt_engine")
    builder = importlib.import_module(TRT_MODULES[2])
    yield types.SimpleNamespace(trt=trt, driver=driver, te=te, builder=builder)
    for name in TRT_MODULES:
        sys.modules.pop(name, None)
        parent, _, child = name.rpartition(".")
        if hasattr(sys.modules[parent], child):  # else `from package import module` still finds the fake
            delattr(sys.modules[parent], child)
    base._REGISTRY.clear()
    base._REGISTRY.update(registry)


def config(tmp_path: Path, **changes) -> TensorRTEngineConfig:
    return TensorRTEngineConfig.model_validate({"engine_cache_dir": tmp_path, "warmup_runs": 0, **changes})


def put_engine(fake, models_dir, model, cfg, platform=FAKE_PLATFORM):
    plan = fake.builder.plan_build(
        models_dir,
        model,
        platform=platform,
        precision=cfg.precision_for(model),
        max_batch=cfg.max_batch,
        opt_batch=cfg.opt_batch,
        workspace_mb=cfg.workspace_mb,
    )
    data = serialize(plan.prepared_onnx, [(p.min, p.opt, p.max) for p in plan.profiles])
    return EngineCache(cfg.engine_cache_dir).store(plan.key, data)


def reference(models_dir, model, x):
    session = ort.InferenceSession(prepared_model_bytes(models_dir / f"{model}.onnx"))
    return session.run(None, {"input": x})


def faces(n, size=112, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, size, size)).astype(np.float32)


def test_batches_use_the_narrowest_profile_and_split_beyond_the_largest(fake, models_dir, tmp_path):
    cfg = config(tmp_path)
    put_engine(fake, models_dir, "fr_feature", cfg)
    engine = fake.te.TensorRTEngine(verified_path(models_dir, "fr_feature.onnx"), cfg)
    single, batched = fake.trt.contexts_made
    assert (single.profile, batched.profile) == (0, 1)
    assert engine.max_batch == 8
    for n in (1, 3, 8, 11):
        x = faces(n, seed=n)
        (got,) = engine.infer(x)
        assert got.shape == (n, 512)
        np.testing.assert_allclose(got, reference(models_dir, "fr_feature", x)[0], rtol=1e-5, atol=1e-5)
    # 1 → single; 3 → batched; 8 → batched; 11 → 8 + 3 batched
    assert (single.runs, batched.runs) == (1, 4)
    engine.close()


def test_detector_runs_frame_by_frame(fake, models_dir, tmp_path):
    cfg = config(tmp_path)
    put_engine(fake, models_dir, "fr_detect", cfg)
    engine = fake.te.TensorRTEngine(verified_path(models_dir, "fr_detect.onnx"), cfg)
    (ctx,) = fake.trt.contexts_made
    x = np.random.default_rng(1).uniform(-1, 1, (3, 3, 240, 320)).astype(np.float32)
    scores, boxes = engine.infer(x)
    assert ctx.runs == 3
    assert scores.shape == (3, 4420, 2) and boxes.shape == (3, 4420, 4)
    ref = np.concatenate([reference(models_dir, "fr_detect", x[i : i + 1])[1] for i in range(3)])
    np.testing.assert_allclose(boxes, ref, rtol=1e-5, atol=1e-6)
    engine.close()


def test_specs_report_the_dynamic_batch(fake, models_dir, tmp_path):
    cfg = config(tmp_path)
    put_engine(fake, models_dir, "fr_landmark", cfg)
    engine = fake.te.TensorRTEngine(verified_path(models_dir, "fr_landmark.onnx"), cfg)
    assert engine.inputs[0].shape == (None, 1, 64, 64)
    assert engine.outputs[0].shape == (None, 136)
    engine.warm_up(2)
    engine.close()


def test_the_projects_own_models_build_from_their_own_folder(fake, models_dir, tmp_path):
    """The mask classifier is not one of the fetched, pinned models (its card is checked before an engine
    is asked for), so the build reads it from where it lies."""
    from edged.vision.mask import MODEL_PATH

    cfg = config(tmp_path / "cache")
    put_engine(fake, MODEL_PATH.parent, "mask_classifier", cfg)
    engine = fake.te.TensorRTEngine(MODEL_PATH, cfg)
    x = faces(3, size=64)
    (got,) = engine.infer(x)
    np.testing.assert_allclose(
        got, reference(MODEL_PATH.parent, "mask_classifier", x)[0], rtol=1e-4, atol=1e-5
    )
    engine.close()


def test_build_engines_covers_the_projects_own_models(fake, models_dir, tmp_path, capsys):
    """Otherwise the boot-time build would neither build them nor keep the engines the daemon built."""
    import json

    from edged.cli import main

    cfg = tmp_path / "edged.yaml"
    cfg.write_text(f"engine:\n  type: tensorrt\n  engine_cache_dir: {tmp_path / 'cache'}\n")
    args = ["build-engines", "--config", str(cfg), "--models-dir", str(models_dir), "--check", "--json"]
    assert main(args) == 1  # nothing built yet
    rows = {r["model"]: r["status"] for r in json.loads(capsys.readouterr().out)["models"]}
    assert set(rows) == {
        "fr_detect",
        "fr_landmark",
        "fr_feature",
        "fr_liveness",
        "mask_classifier",
        "fr_feature_masked_head",
    }
    assert set(rows.values()) == {"needs build"}


def test_missing_engine_points_at_build_engines(fake, models_dir, tmp_path):
    with pytest.raises(EngineError, match="edged build-engines"):
        fake.te.TensorRTEngine(verified_path(models_dir, "fr_feature.onnx"), config(tmp_path))


def test_engine_of_another_gpu_is_not_loaded(fake, models_dir, tmp_path):
    cfg = config(tmp_path)
    put_engine(fake, models_dir, "fr_feature", cfg, platform=Platform("10.3.0", "Orin", "8.7"))
    with pytest.raises(EngineError, match="no engine built yet"):
        fake.te.TensorRTEngine(verified_path(models_dir, "fr_feature.onnx"), cfg)


def test_engine_built_with_other_batch_settings_is_not_loaded(fake, models_dir, tmp_path):
    put_engine(fake, models_dir, "fr_feature", config(tmp_path, max_batch=4, opt_batch=2))
    with pytest.raises(EngineError):
        fake.te.TensorRTEngine(verified_path(models_dir, "fr_feature.onnx"), config(tmp_path))


def test_corrupted_engine_is_not_loaded(fake, models_dir, tmp_path):
    cfg = config(tmp_path)
    path = put_engine(fake, models_dir, "fr_feature", cfg)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(EngineError, match="do not match"):
        fake.te.TensorRTEngine(verified_path(models_dir, "fr_feature.onnx"), cfg)


def test_engine_the_runtime_refuses_is_an_error(fake, models_dir, tmp_path):
    cfg = config(tmp_path)
    plan = fake.builder.plan_build(
        models_dir,
        "fr_feature",
        platform=FAKE_PLATFORM,
        precision="fp16",
        max_batch=8,
        opt_batch=4,
        workspace_mb=1024,
    )
    EngineCache(tmp_path).store(plan.key, b"not an engine")
    with pytest.raises(EngineError, match="refused"):
        fake.te.TensorRTEngine(verified_path(models_dir, "fr_feature.onnx"), cfg)


def test_close_frees_the_device_buffers(fake, models_dir, tmp_path):
    cfg = config(tmp_path)
    put_engine(fake, models_dir, "fr_liveness", cfg)
    before = len(fake.driver.memory.blocks)
    engine = fake.te.TensorRTEngine(verified_path(models_dir, "fr_liveness.onnx"), cfg)
    assert len(fake.driver.memory.blocks) == before + 2
    engine.close()
    assert len(fake.driver.memory.blocks) == before


def test_registered_as_the_tensorrt_engine_type(fake, models_dir, tmp_path):
    cfg = config(tmp_path, warmup_runs=1)
    put_engine(fake, models_dir, "fr_liveness", cfg)
    engine = create_engine(verified_path(models_dir, "fr_liveness.onnx"), cfg)
    assert isinstance(engine, fake.te.TensorRTEngine)
    x = np.random.default_rng(2).uniform(0, 255, (2, 3, 128, 128)).astype(np.float32)
    np.testing.assert_allclose(
        engine.infer(x)[0], reference(models_dir, "fr_liveness", x)[0], rtol=1e-4, atol=1e-4
    )
    engine.close()


def test_empty_batch_is_refused(fake, models_dir, tmp_path):
    cfg = config(tmp_path)
    put_engine(fake, models_dir, "fr_feature", cfg)
    engine = fake.te.TensorRTEngine(verified_path(models_dir, "fr_feature.onnx"), cfg)
    with pytest.raises(EngineError, match="empty"):
        engine.infer(np.zeros((0, 3, 112, 112), np.float32))
    engine.close()
