"""edged's benchmarked pipeline: the detection measures look for faces down to the same size for edged
and MTCNN, while LFW identification keeps edged's configured minimum."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edged.peers.pipelines import SMALLEST_FACE_PX, EdgedPipeline, Settings
from edged.vision.config import VisionConfig
from edged.vision.image_io import load_image


def small_face_frame(shared_data: Path) -> np.ndarray:
    """An LFW photo shrunk so its face is about 30 px wide, on a plain 320×240 frame."""
    photo = load_image(shared_data / "lfw" / "lfw-deepfunneled" / "Al_Gore" / "Al_Gore_0002.jpg")
    frame = np.full((240, 320, 3), 128, np.uint8)
    frame[80:160, 120:200] = cv2.resize(photo, (80, 80), interpolation=cv2.INTER_AREA)
    return frame


def test_detection_measures_find_faces_below_the_configured_minimum(
    shared_data: Path, models_dir: Path
) -> None:
    vision = VisionConfig.model_validate({})
    assert vision.detector.min_face_px > SMALLEST_FACE_PX
    edged = EdgedPipeline(Settings(models_dir, models_dir, vision))
    frame = small_face_frame(shared_data)
    found = edged.detect(frame)
    assert len(found) == 1
    width = float(found[0].box[2] - found[0].box[0])
    assert SMALLEST_FACE_PX <= width < vision.detector.min_face_px
    assert edged.face.detect(frame) == []  # the gate's own pipeline ignores a face that small
    assert edged.face.detector.config.min_face_px == vision.detector.min_face_px  # restored
