"""The masked-face head on the real embedder: written into the real graph it computes what the numpy head
computes, the shipped head is checked against its card, and the pipeline sends masked faces to it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from edged.models import verified_path
from edged.vision.config import OnnxRuntimeEngineConfig
from edged.vision.embedder import Embedder
from edged.vision.engines.onnxruntime_engine import OnnxRuntimeEngine
from edged.vision.image_io import load_image
from edged.vision.mask import MaskModelError, open_classifier
from edged.vision.masked.draw import draw_mask, style_for
from edged.vision.masked.head import (
    HEAD_CARD_PATH,
    HEAD_PATH,
    FeatureEmbedder,
    MaskedHead,
    embedder_params,
    masked_embedder_bytes,
    open_masked_embedder,
)
from edged.vision.pipeline import MASKED_STATES, FacePipeline

FACE = "lfw-deepfunneled/Aaron_Eckhart/Aaron_Eckhart_0001.jpg"


@pytest.fixture(scope="module")
def pipeline(models_dir: Path) -> FacePipeline:
    cfg = OnnxRuntimeEngineConfig()
    return FacePipeline(
        models_dir,
        cfg,
        mask_classifier=open_classifier(),
        masked_embedder=open_masked_embedder(models_dir, cfg),
    )


@pytest.fixture(scope="module")
def photo(shared_data: Path) -> np.ndarray:
    return load_image(shared_data / "lfw" / FACE)


def _engine_from_bytes(data: bytes, tmp_path: Path) -> Embedder:
    path = tmp_path / "fr_feature_masked_head.onnx"
    path.write_bytes(data)
    return Embedder(OnnxRuntimeEngine(path, OnnxRuntimeEngineConfig()))


def test_head_written_into_the_embedder_graph_computes_the_numpy_head(
    models_dir: Path, pipeline: FacePipeline, photo: np.ndarray, tmp_path: Path
) -> None:
    face = pipeline.detect(photo)[0]
    assert face.aligned is not None
    start = embedder_params(onnx.load(str(verified_path(models_dir, "fr_feature.onnx"))))
    emb, feats = FeatureEmbedder(models_dir).embed_with_features([face.aligned])
    # the untouched head is the embedder itself
    assert np.allclose(MaskedHead(start).embed(feats), emb, atol=1e-5)
    assert np.allclose(pipeline.embedder.embed([face.aligned]), emb, atol=1e-5)
    rng = np.random.default_rng(0)
    changed = MaskedHead({k: v * (1 + 0.1 * rng.standard_normal(v.shape)) for k, v in start.items()})
    in_graph = _engine_from_bytes(masked_embedder_bytes(models_dir, changed), tmp_path).embed([face.aligned])
    assert np.allclose(in_graph, changed.embed(feats), atol=1e-4)
    assert float(in_graph[0] @ emb[0]) < 0.999  # the weights really changed


def test_a_changed_head_file_is_refused_with_both_digests(models_dir: Path, tmp_path: Path) -> None:
    head = tmp_path / HEAD_PATH.name
    shutil.copy(HEAD_PATH, head)
    shutil.copy(HEAD_CARD_PATH, tmp_path / HEAD_CARD_PATH.name)
    data = bytearray(head.read_bytes())
    data[-10] ^= 0x01
    head.write_bytes(bytes(data))
    with pytest.raises(
        MaskModelError, match=r"sha256 [0-9a-f]{64} does not match its model card \([0-9a-f]{64}\)"
    ):
        open_masked_embedder(models_dir, OnnxRuntimeEngineConfig(), head_path=head)


def test_pipeline_sends_masked_faces_to_the_head(pipeline: FacePipeline, photo: np.ndarray) -> None:
    plain = pipeline.analyse(photo, liveness=False)[0]
    assert plain.mask is not None and plain.mask.state == "no_mask"
    assert plain.embedded_by == "embedder"
    assert plain.landmarks is not None
    masked_photo = draw_mask(photo, plain.landmarks, style_for(FACE, 0))
    masked = pipeline.analyse(masked_photo, liveness=False)[0]
    assert masked.mask is not None and masked.mask.state in MASKED_STATES
    assert masked.embedded_by == "masked_head"
    assert masked.embedding is not None and plain.embedding is not None
    # the same person through the mask: the head's embedding is closer to the unmasked template than the
    # plain embedder's embedding of the masked face is
    assert pipeline.embedder.embed([masked.aligned])[0] @ plain.embedding < masked.embedding @ plain.embedding  # type: ignore[list-item]


def test_face_json_says_which_embedder_made_the_embedding(pipeline: FacePipeline, photo: np.ndarray) -> None:
    face = pipeline.analyse(photo, liveness=False)[0]
    assert face.to_json()["embedded_by"] == "embedder"
    assert "embedded_by" not in pipeline.analyse(photo, embed=False, liveness=False)[0].to_json()


def test_the_head_is_fed_its_own_colour_mode_and_a_mismatch_is_logged(
    models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from edged.config.schema import EdgedConfig
    from edged.vision.masked import head as head_module

    shipped_grey = MaskedHead.load(HEAD_PATH).grey
    for grey in (shipped_grey, not shipped_grey):
        cfg = EdgedConfig.model_validate(
            {"models": {"dir": str(models_dir)}, "vision": {"grey_embedding": grey}}
        )
        caplog.clear()
        with caplog.at_level("WARNING", logger=head_module.__name__):
            embedder = head_module.load_masked_embedder(cfg)
        assert embedder is not None and embedder.grey is shipped_grey
        assert ("retrain it" in caplog.text) is (grey is not shipped_grey)
