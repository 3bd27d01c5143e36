"""The optional SFace embedder (``vision.embedder: sface``): its pinned file, and the real model on real
LFW photos through the face pipeline. ``scripts/setup`` fetches it, so in CI these tests run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from edged.models import OPTIONAL_PACKAGES, PINNED, sha256_file, verified_path, verify_installed
from edged.vision.config import OnnxRuntimeEngineConfig, VisionConfig
from edged.vision.engines.prepare import prepared_model_bytes
from edged.vision.image_io import load_image
from edged.vision.pipeline import FacePipeline
from tests.conftest import need


@pytest.fixture(scope="module")
def sface_dir(models_dir: Path) -> Path:
    problems = verify_installed(models_dir, (OPTIONAL_PACKAGES["sface"],))
    need(
        not problems,
        f"sface in {models_dir} (run edged models fetch --embedder sface): {'; '.join(problems)}",
    )
    return models_dir


@pytest.fixture(scope="module")
def pipeline(sface_dir: Path) -> FacePipeline:
    return FacePipeline(sface_dir, OnnxRuntimeEngineConfig(), VisionConfig(embedder="sface"))


def photo(lfw: Path, name: str, i: int = 1) -> Path:
    return lfw / "lfw" / "lfw-deepfunneled" / name / f"{name}_{i:04d}.jpg"


def test_the_installed_sface_is_the_pinned_file(sface_dir: Path) -> None:
    path = verified_path(sface_dir, "sface.onnx")
    assert sha256_file(path) == PINNED["sface.onnx"]
    assert PINNED["sface.onnx"] == "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"


def test_prepared_sface_takes_one_input_and_any_batch(sface_dir: Path) -> None:
    """The exporter listed all 174 weights as graph inputs; preparation leaves the image as the only one."""
    original = onnx.load(str(sface_dir / "sface.onnx"))
    assert len(original.graph.input) == 175
    prepared = onnx.load_from_string(prepared_model_bytes(sface_dir / "sface.onnx"))
    assert [i.name for i in prepared.graph.input] == ["data"]
    assert prepared.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_sface_pipeline_same_person_scores_higher(pipeline: FacePipeline, shared_data: Path) -> None:
    def emb(name: str, i: int) -> np.ndarray:
        faces = pipeline.analyse(load_image(photo(shared_data, name, i)), liveness=False)
        assert faces and faces[0].embedding is not None
        assert faces[0].embedded_by == "embedder"
        return faces[0].embedding

    gore1, gore2 = emb("Al_Gore", 2), emb("Al_Gore", 4)
    other = emb("Aaron_Eckhart", 1)
    assert gore1.shape == (128,) and abs(float(np.linalg.norm(gore1)) - 1.0) < 1e-4
    assert float(gore1 @ gore2) > float(gore1 @ other) + 0.2


def test_sface_batch_equals_one_by_one(pipeline: FacePipeline, shared_data: Path) -> None:
    crops = []
    for name, i in (("Al_Gore", 2), ("Aaron_Eckhart", 1), ("Angelina_Jolie", 1)):
        face = pipeline.detect(load_image(photo(shared_data, name, i)))[0]
        crops.append(face.aligned)
    together = pipeline.embedder.embed(crops)
    for crop, row in zip(crops, together, strict=True):
        assert float(pipeline.embedder.embed([crop])[0] @ row) > 0.9999


def test_with_sface_the_masked_head_is_not_loaded_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    """The head's weights replace fr_feature's last layers: under SFace it would make vectors of another
    model, so it is left out and masked faces go to SFace."""
    from edged.config.schema import EdgedConfig
    from edged.vision.mask import MODEL_PATH
    from edged.vision.masked.head import load_masked_embedder

    need(MODEL_PATH.exists(), f"the shipped mask classifier at {MODEL_PATH}")
    cfg = EdgedConfig.model_validate({"vision": {"embedder": "sface"}})
    assert load_masked_embedder(cfg) is None
    assert "trained on fr_feature's features, not sface's" in caplog.text


def test_build_engines_adds_only_the_configured_optional_embedder() -> None:
    from edged.vision.engine_commands import MODEL_NAMES, model_names

    assert "sface" not in MODEL_NAMES and "fr_feature" in MODEL_NAMES
    assert model_names("fr_feature") == MODEL_NAMES
    assert model_names("sface") == (*MODEL_NAMES, "sface")
