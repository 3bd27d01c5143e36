"""The mask classifier wrapper, its crop and the committed model's integrity."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from edged.vision import mask
from edged.vision.faces import Face


def test_committed_onnx_matches_its_model_card() -> None:
    digest = hashlib.sha256(mask.MODEL_PATH.read_bytes()).hexdigest()
    assert digest == mask.card_sha256()
    assert mask.MODEL_PATH.stat().st_size < 5 * 1024 * 1024


def test_verify_refuses_a_changed_model(tmp_path: Path) -> None:
    shutil.copy(mask.CARD_PATH, tmp_path / mask.CARD_PATH.name)
    changed = tmp_path / "mask_classifier.onnx"
    changed.write_bytes(mask.MODEL_PATH.read_bytes() + b"\0")
    with pytest.raises(mask.MaskModelError, match="does not match its model card"):
        mask.open_classifier(model=changed)


def test_card_without_sha256_is_a_clear_error(tmp_path: Path) -> None:
    card = tmp_path / "MASK_MODEL_CARD.md"
    card.write_text("# no digest here\n")
    with pytest.raises(mask.MaskModelError, match="no sha256"):
        mask.card_sha256(card)


def test_crop_is_centred_square_of_the_box() -> None:
    frame = np.zeros((200, 300, 3), np.uint8)
    frame[80:120, 130:170] = 255  # a 40 px white square centred at (150, 100)
    crop = mask.classifier_crop(frame, np.array([130, 80, 170, 120], np.float32))
    assert crop.shape == (mask.CROP_PX, mask.CROP_PX, 3)
    white = np.argwhere(crop[:, :, 0] > 127)
    # the box fills 1 / CROP_SCALE of the crop, centred
    side = white.max(axis=0) - white.min(axis=0) + 1
    assert np.allclose(side, mask.CROP_PX / mask.CROP_SCALE, atol=2)
    assert np.allclose(white.mean(axis=0), (mask.CROP_PX - 1) / 2, atol=1)


def test_crop_past_the_frame_edge_replicates_pixels() -> None:
    frame = np.full((50, 50, 3), 7, np.uint8)
    crop = mask.classifier_crop(frame, np.array([-20, -20, 20, 20], np.float32))
    assert (crop == 7).all()


def test_input_layout_is_rgb_scaled_nchw() -> None:
    crop = np.zeros((64, 64, 3), np.uint8)
    crop[..., 0] = 255  # blue in BGR
    x = mask.to_input([crop])
    assert x.shape == (1, 3, 64, 64) and x.dtype == np.float32
    assert np.allclose(x[0, 2], 1.0) and np.allclose(x[0, 0], -1.0)


def test_classifier_fills_mask_state_with_probabilities() -> None:
    classifier = mask.open_classifier()
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    faces = [
        Face(box=np.array([40, 40, 120, 130], np.float32), score=0.9),
        Face(box=np.array([150, 30, 260, 150], np.float32), score=0.9),
    ]
    probs = classifier.probabilities([mask.classifier_crop(frame, f.box) for f in faces])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    classifier.classify(faces, frame)
    for face, p in zip(faces, probs, strict=True):
        assert face.mask is not None
        assert face.mask.state == mask.CLASSES[int(np.argmax(p))]
        assert face.mask.score == pytest.approx(float(p.max()), abs=1e-6)
        assert face.to_json()["mask"]["state"] in mask.CLASSES


def test_no_faces_no_call() -> None:
    classifier = mask.open_classifier()
    assert classifier.probabilities([]).shape == (0, 3)
    classifier.classify([], np.zeros((10, 10, 3), np.uint8))


def _tiny_classifier_onnx(path: Path, height: int, width: int) -> Path:
    """A stand-in classifier: mean colour per channel → three logits, with the given input size."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.eye(3, dtype=np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, height, width])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_the_shipped_model_reads_its_crop_size_from_its_input() -> None:
    classifier = mask.open_classifier()
    assert classifier.crop_px == mask.CROP_PX
    frame = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    box = np.array([30, 20, 90, 100], np.float32)
    assert np.array_equal(classifier.crop(frame, box), mask.classifier_crop(frame, box))


def test_a_model_trained_on_larger_crops_is_served_with_them(tmp_path: Path) -> None:
    from edged.vision.config import OnnxRuntimeEngineConfig
    from edged.vision.engines import create_engine

    path = _tiny_classifier_onnx(tmp_path / "mask_classifier.onnx", 96, 96)
    classifier = mask.MaskClassifier(create_engine(path, OnnxRuntimeEngineConfig()))
    assert classifier.crop_px == 96
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[..., 0] = 255  # all blue (BGR): the RGB mean puts the largest logit on the third output
    face = Face(box=np.array([50, 50, 150, 150], np.float32), score=0.9)
    assert classifier.crop(frame, face.box).shape == (96, 96, 3)
    classifier.classify([face], frame)
    assert face.mask is not None and face.mask.state == mask.CLASSES[2]


def test_a_model_with_non_square_input_is_refused(tmp_path: Path) -> None:
    from edged.vision.config import OnnxRuntimeEngineConfig
    from edged.vision.engines import create_engine

    path = _tiny_classifier_onnx(tmp_path / "mask_classifier.onnx", 64, 48)
    with pytest.raises(mask.MaskModelError, match="not N×3×S×S"):
        mask.MaskClassifier(create_engine(path, OnnxRuntimeEngineConfig()))
