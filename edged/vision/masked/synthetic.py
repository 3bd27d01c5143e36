"""Synthetic training faces for the mask classifier, to widen its rare ``incorrect`` class.

The bare faces (``no_mask``) of the training split's photos get a mask drawn from their landmarks: worn
over the nose (``mask``), under the nose or on the chin (``incorrect``). The photos stay the street scenes
of the real data, and the validation and test photos are never touched. Each drawn face is then shrunk to
a random width, as small as the crowd faces of the real data, and cut with the pipeline's crop function.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from edged.vision.image_io import load_image
from edged.vision.mask import CLASSES, CROP_PX, classifier_crop
from edged.vision.masked.dataset import AnnotatedImage, CropSet, match
from edged.vision.masked.draw import draw_mask, style_for

SEED = 1128
# (class, how the mask is worn) drawn on every source face, each with its own seeded style
VARIANTS = (
    ("incorrect", "under_nose"),
    ("incorrect", "under_nose"),
    ("incorrect", "chin"),
    ("mask", "over_nose"),
)
MIN_SOURCE_PX = 24.0  # narrower bare faces have landmarks too rough to draw a mask on
SMALLEST_PX = 10.0  # drawn faces are shrunk to a width drawn log-uniformly from here up to their own width
LOW_RANGE = {"under_nose": (0.1, 0.8), "chin": (0.05, 0.4)}


class Landmarker:
    """The pipeline's detector (size floor lowered) and 68-point landmark model."""

    def __init__(self, models_dir: Path | None = None) -> None:
        from edged.models import resolve_models_dir, verified_path
        from edged.vision.config import DetectorConfig, OnnxRuntimeEngineConfig
        from edged.vision.detector import FaceDetector
        from edged.vision.engines import create_engine
        from edged.vision.landmarks import LandmarkModel

        root = resolve_models_dir(models_dir)
        self.detector = FaceDetector(
            create_engine(verified_path(root, "fr_detect.onnx"), OnnxRuntimeEngineConfig()),
            DetectorConfig(min_face_px=8, max_faces=256),
        )
        self.landmarks = LandmarkModel(
            create_engine(verified_path(root, "fr_landmark.onnx"), OnnxRuntimeEngineConfig())
        )

    def __call__(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Detector boxes (M, 4) and their landmarks (M, 68, 2)."""
        boxes = self.detector.detect(bgr)[0]
        return boxes, np.asarray(self.landmarks.predict(bgr, boxes)).reshape(len(boxes), 68, 2)


def synthetic_crops(
    data_dir: Path, train_images: list[AnnotatedImage], landmarker: Landmarker, px: int = CROP_PX
) -> CropSet:
    """Every VARIANT on every bare training face at least MIN_SOURCE_PX wide that the detector frames."""
    rng = np.random.default_rng(SEED)
    no_mask = CLASSES.index("no_mask")
    rows: list[tuple[np.ndarray, int, str, float]] = []
    for im in train_images:
        widths = im.boxes[:, 2] - im.boxes[:, 0]
        bare = [k for k, lab in enumerate(im.labels) if lab == no_mask and widths[k] >= MIN_SOURCE_PX]
        if not bare:
            continue
        bgr = load_image(Path(data_dir) / "images" / im.name)
        boxes, lms = landmarker(bgr)
        found = match(im.boxes[bare], boxes)
        for k, d in zip(bare, found, strict=True):
            if d < 0:
                continue
            for v, (label, worn) in enumerate(VARIANTS):
                style = style_for(f"{im.name}#{k}", v)
                if worn != "over_nose":
                    style = dataclasses.replace(style, worn=worn, low=float(rng.uniform(*LOW_RANGE[worn])))
                drawn = draw_mask(bgr, lms[d], style)
                width = float(boxes[d, 2] - boxes[d, 0])
                target = float(np.exp(rng.uniform(np.log(SMALLEST_PX), np.log(max(width, SMALLEST_PX)))))
                scale = min(1.0, target / width)
                if scale < 1.0:
                    drawn = cv2.resize(drawn, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                crop = classifier_crop(drawn, boxes[d] * scale, px)
                rows.append((crop, CLASSES.index(label), im.name, float(widths[k]) * scale))
    return CropSet(
        crops=np.stack([r[0] for r in rows]) if rows else np.zeros((0, px, px, 3), np.uint8),
        labels=np.array([r[1] for r in rows], np.int64),
        images=[r[2] for r in rows],
        matched=np.ones(len(rows), bool),
        box_px=np.array([r[3] for r in rows], np.float32),
        info={"matched": len(rows), "total": len(rows), "synthetic": len(rows)},
    )


def sampling_weights(labels: np.ndarray, n_real: int, counts: np.ndarray, power: float) -> np.ndarray:
    """Per-sample draw weights; samples from n_real on are drawn faces.

    Imbalance, deliberately: by default every class is drawn equally often (power 1: incorrect goes from 3 %
    of boxes to a third of the samples); a milder loss weight sits on top. Power 0.75 was also tried
    (`--sampling-power 0.75 --epochs 8`); power 1 scored better on the validation split. Drawn faces take
    their natural part of their class's draws, at most half, so the real faces of a class stay at least half.
    """
    drawn = np.arange(len(labels)) >= n_real
    w = np.zeros(len(labels))
    for c in range(len(counts)):
        real_c, drawn_c = (labels == c) & ~drawn, (labels == c) & drawn
        share = min(0.5, drawn_c.sum() / max((labels == c).sum(), 1))
        total = counts[c] ** (1 - power)  # the class's part of all draws, as without drawn faces
        w[real_c] = total * (1 - share) / max(real_c.sum(), 1)
        w[drawn_c] = total * share / max(drawn_c.sum(), 1)
    return w
