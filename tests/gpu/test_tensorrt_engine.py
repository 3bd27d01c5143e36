"""The TensorRT engine itself: cache use, stale engines, batch splitting. Needs TensorRT and a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from edged.models import verified_path
from edged.vision.engines import EngineError
from edged.vision.engines.trt_cache import EngineCache
from tests.gpu.conftest import engine_config, tensorrt_missing

_MISSING = tensorrt_missing()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")]


def _config(tmp_path, **changes):
    cfg = engine_config("tensorrt-fp16", tmp_path)
    return cfg.model_copy(update=changes)


def test_missing_engine_is_not_built_by_the_daemon(models_dir, tmp_path):
    from edged.vision.engines.tensorrt_engine import TensorRTEngine

    cfg = _config(tmp_path, build_missing=False)
    with pytest.raises(EngineError, match="build-engines"):
        TensorRTEngine(verified_path(models_dir, "fr_landmark.onnx"), cfg)


def test_corrupted_engine_is_rebuilt_not_loaded(models_dir, tmp_path):
    from edged.vision.engines.tensorrt_engine import TensorRTEngine

    path = verified_path(models_dir, "fr_landmark.onnx")
    TensorRTEngine(path, _config(tmp_path)).close()
    (engine_file,) = tmp_path.glob("fr_landmark.*.engine")
    engine_file.write_bytes(engine_file.read_bytes()[:-64])
    with pytest.raises(EngineError, match="do not match"):
        TensorRTEngine(path, _config(tmp_path, build_missing=False))
    rebuilt = TensorRTEngine(path, _config(tmp_path, build_missing=True))
    rebuilt.close()
    assert EngineCache(tmp_path).stale_files([]) != []


def test_batches_beyond_the_largest_profile_are_split(models_dir, tmp_path):
    from edged.vision.engines.tensorrt_engine import TensorRTEngine

    engine = TensorRTEngine(
        verified_path(models_dir, "fr_feature.onnx"), _config(tmp_path, max_batch=4, opt_batch=2)
    )
    try:
        assert engine.max_batch == 4
        x = np.random.default_rng(0).uniform(-1, 1, (11, 3, 112, 112)).astype(np.float32)
        whole = engine.infer(x)[0]
        singles = np.concatenate([engine.infer(x[i : i + 1])[0] for i in range(len(x))])
        assert whole.shape == (11, 512)
        cos = (whole * singles).sum(1) / np.linalg.norm(whole, axis=1) / np.linalg.norm(singles, axis=1)
        assert cos.min() >= 0.999
    finally:
        engine.close()
