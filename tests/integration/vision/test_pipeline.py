"""The face pipeline with the real models on real LFW photos, and what it does with bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edged.cli import main
from edged.models import verified_path
from edged.vision.config import OnnxRuntimeEngineConfig
from edged.vision.engines.prepare import flush_denormals, prepared_model_bytes, split_prelu
from edged.vision.image_io import ImageError, load_image
from edged.vision.pipeline import FacePipeline


@pytest.fixture(scope="module")
def pipeline(models_dir: Path) -> FacePipeline:
    return FacePipeline(models_dir)


@pytest.fixture(scope="module")
def lfw(shared_data: Path) -> Path:
    return shared_data / "lfw" / "lfw-deepfunneled"


def photo(lfw: Path, name: str, i: int = 1) -> Path:
    return lfw / name / f"{name}_{i:04d}.jpg"


def test_one_face_with_landmarks_inside_its_box(pipeline: FacePipeline, lfw: Path) -> None:
    faces = pipeline.analyse(load_image(photo(lfw, "Aaron_Eckhart")))
    assert len(faces) == 1
    f = faces[0]
    x1, y1, x2, y2 = f.box
    assert 60 < x2 - x1 < 140  # LFW deep-funneled faces are ~80-110 px wide in 250x250
    assert f.landmarks is not None and f.landmarks.shape == (68, 2)
    inside = (f.landmarks[:, 0] > x1 - 10) & (f.landmarks[:, 0] < x2 + 10)
    assert inside.mean() > 0.9
    left_eye, right_eye = f.points5[0], f.points5[1]
    assert left_eye[0] < right_eye[0]  # image-left eye first
    assert f.embedding is not None and abs(float(np.linalg.norm(f.embedding)) - 1.0) < 1e-4
    assert f.aligned is not None and f.aligned.shape == (112, 112, 3)
    assert f.liveness is not None and 0.0 <= f.liveness <= 1.0


def test_same_person_scores_higher_than_others(pipeline: FacePipeline, lfw: Path) -> None:
    def emb(p: Path) -> np.ndarray:
        faces = pipeline.analyse(load_image(p), liveness=False)
        assert faces and faces[0].embedding is not None
        return faces[0].embedding

    gore1, gore2 = emb(photo(lfw, "Al_Gore", 2)), emb(photo(lfw, "Al_Gore", 4))
    other = emb(photo(lfw, "Aaron_Eckhart"))
    assert float(gore1 @ gore2) > 0.45
    assert float(gore1 @ other) < 0.25


def test_grey_embedding_sees_only_the_luma(models_dir: Path, pipeline: FacePipeline, lfw: Path) -> None:
    from edged.vision.embedder import Embedder
    from edged.vision.engines.onnxruntime_engine import OnnxRuntimeEngine

    colour = Embedder(
        OnnxRuntimeEngine(verified_path(models_dir, "fr_feature.onnx"), OnnxRuntimeEngineConfig()), grey=False
    )
    assert pipeline.embedder.grey  # the default
    for name, i in (("Aaron_Eckhart", 1), ("Al_Gore", 2), ("Angelina_Jolie", 1)):
        aligned = pipeline.analyse(load_image(photo(lfw, name, i)), liveness=False)[0].aligned
        assert aligned is not None
        as_grey = cv2.cvtColor(cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        # a warm white balance: red up 15 %, blue down 15 %, as between a phone photo and a gate camera
        cast = np.clip(aligned * np.array([0.85, 1.0, 1.15]), 0, 255).astype(np.uint8)
        grey_emb = pipeline.embedder.embed([aligned, as_grey, cast])
        colour_emb = colour.embed([aligned, as_grey, cast])
        assert float(grey_emb[0] @ grey_emb[1]) > 0.9999  # the colour is not seen at all
        assert float(colour_emb[0] @ colour_emb[1]) < 0.999  # the colour embedder sees it
        assert float(grey_emb[0] @ grey_emb[2]) > float(colour_emb[0] @ colour_emb[2])


def test_batch_of_faces_equals_one_by_one(pipeline: FacePipeline, lfw: Path) -> None:
    left = load_image(photo(lfw, "Al_Gore", 2))
    right = load_image(photo(lfw, "Aaron_Eckhart"))
    pair = np.hstack([left, right])
    faces = pipeline.analyse(pair, liveness=False)
    assert len(faces) == 2
    singles = pipeline.embedder.embed([faces[0].aligned])[0], pipeline.embedder.embed([faces[1].aligned])[0]
    assert float(faces[0].embedding @ singles[0]) > 0.9999
    assert float(faces[1].embedding @ singles[1]) > 0.9999


def test_turned_face_flagged_not_frontal(pipeline: FacePipeline, lfw: Path) -> None:
    img = load_image(photo(lfw, "Al_Gore", 2))
    f = pipeline.detect(img)[0]
    assert f.quality is not None and abs(f.quality.yaw_deg) < 25
    # squeeze one half of the face: the nose moves towards an edge, as when the head turns
    h, w = img.shape[:2]
    cx = int((f.box[0] + f.box[2]) / 2)
    warped = np.hstack([cv2.resize(img[:, :cx], (cx // 4, h)), cv2.resize(img[:, cx:], (w - cx, h))])
    turned = pipeline.detect(warped)
    assert turned and abs(turned[0].quality.yaw_deg) > abs(f.quality.yaw_deg) + 10


def test_blank_and_tiny_frames_give_no_faces(pipeline: FacePipeline) -> None:
    assert pipeline.analyse(np.zeros((480, 640, 3), np.uint8)) == []
    assert pipeline.analyse(np.zeros((1, 1, 3), np.uint8)) == []


def test_sixteen_bit_and_four_channel_images_are_converted(pipeline: FacePipeline, lfw: Path) -> None:
    img = load_image(photo(lfw, "Al_Gore", 2))
    as16 = img.astype(np.uint16) * 257
    bgra = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    assert len(pipeline.analyse(as16, liveness=False)) == 1
    assert len(pipeline.analyse(bgra, liveness=False)) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"this is not a jpeg", "not an image"), (None, "cannot read")],
)
def test_bad_files_give_clear_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "x.jpg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        load_image(path)


def test_cli_bad_inputs_never_traceback(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), np.full((64, 64), 40000, np.uint16))
    rgba = tmp_path / "rgba.png"
    cv2.imwrite(str(rgba), np.zeros((64, 64, 4), np.uint8))
    assert main(["detect", str(empty)]) == 1
    assert "empty file" in capsys.readouterr().err
    assert main(["detect", str(tmp_path / "missing.jpg")]) == 1
    assert "cannot read" in capsys.readouterr().err
    for path in (tiny, deep, rgba):
        assert main(["detect", str(path), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["faces"] == []


def test_detect_json_shape(lfw: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", str(photo(lfw, "Aaron_Eckhart")), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (face,) = out["faces"]
    assert set(face) >= {"box", "score", "landmarks", "quality", "liveness"}
    assert len(face["landmarks"]) == 68
    assert set(face["quality"]) == {"ok", "face_px", "sharpness", "yaw_deg", "pitch_deg", "reasons"}


def test_compare_cli(lfw: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(photo(lfw, "Al_Gore", 2)), str(photo(lfw, "Al_Gore", 4)), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["same"] is True
    assert main(["compare", str(photo(lfw, "Al_Gore", 2)), str(photo(lfw, "Aaron_Eckhart")), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["same"] is False


def test_prepared_model_has_no_denormals_and_dynamic_batch(models_dir: Path) -> None:
    import onnx

    model = onnx.load_from_string(prepared_model_bytes(models_dir / "fr_feature.onnx"))
    assert flush_denormals(model) == 0
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param == "batch"
    original = onnx.load(str(models_dir / "fr_feature.onnx"))
    assert flush_denormals(original) > 1000


@pytest.mark.parametrize("name", ["fr_feature.onnx", "fr_liveness.onnx"])
def test_prelu_split_for_onnxruntime_leaves_outputs_unchanged(models_dir: Path, name: str) -> None:
    import onnx
    import onnxruntime as ort

    def outputs(data: bytes, x: np.ndarray) -> list[np.ndarray]:
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        return [np.asarray(o) for o in session.run(None, {session.get_inputs()[0].name: x})]

    plain = onnx.load_from_string(prepared_model_bytes(models_dir / name))  # dynamic batch, no rewrite
    split = onnx.load_from_string(plain.SerializeToString())
    rewritten = split_prelu(split)
    # the embedder's PReLUs all have 64-512 channels; most of the liveness model's have 13, 26, 103, ...
    assert rewritten == (33 if name == "fr_feature.onnx" else 3)
    plain_bytes, split_bytes = plain.SerializeToString(), split.SerializeToString()
    size = 112 if name == "fr_feature.onnx" else 128
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 3, size, size)).astype(np.float32)
    if name == "fr_liveness.onnx":
        x = (x + 1) * 127.5
    for got, expected in zip(outputs(split_bytes, x), outputs(plain_bytes, x), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
