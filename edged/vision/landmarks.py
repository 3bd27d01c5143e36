"""68-point landmarks on the detector box, and the five alignment points derived from them."""

from __future__ import annotations

import cv2
import numpy as np

from edged.vision.engines import Engine

SIZE = 64

# iBUG-68 index of each point's mirror image (left eye <-> right eye, jaw ends, mouth corners...).
MIRROR = np.array(
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]
)


def preprocess(grey: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop exactly the box (as the model was trained), 64×64 grey, x / 256. Returns input and crop rect."""
    h, w = grey.shape[:2]
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(w, max(x2, x1 + 1)), min(h, max(y2, y1 + 1))
    crop = cv2.resize(grey[y1:y2, x1:x2], (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    rect = np.array([x1, y1, x2 - x1, y2 - y1], np.float32)
    return (crop.astype(np.float32) / 256.0)[None], rect


def to_five_points(lm: np.ndarray) -> np.ndarray:
    """Eye centres (mean of the four eyelid points), nose tip, mouth corners (outer and inner lip mean)."""
    return np.array(
        [
            lm[[37, 38, 40, 41]].mean(axis=0),
            lm[[43, 44, 46, 47]].mean(axis=0),
            lm[30],
            lm[[48, 60]].mean(axis=0),
            lm[[54, 64]].mean(axis=0),
        ],
        np.float32,
    )


class LandmarkModel:
    """``mirror=True`` also runs the mirrored crop and averages the two (one batch): the points jitter
    less, which steadies the alignment (LFW figures with and without it in the README)."""

    def __init__(self, engine: Engine, mirror: bool = True):
        self.engine = engine
        self.mirror = mirror

    def predict(self, bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 68, 2) landmarks in frame pixels for N boxes, one batched call."""
        if len(boxes) == 0:
            return np.zeros((0, 68, 2), np.float32)
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        inputs, rects = zip(*(preprocess(grey, b) for b in boxes), strict=True)
        batch = np.stack(inputs)
        n = len(batch)
        if self.mirror:
            batch = np.concatenate([batch, batch[:, :, :, ::-1]])
        out = self.engine.infer(batch)[0].reshape(-1, 68, 2)
        if self.mirror:
            mirrored = out[n:, MIRROR]
            mirrored[:, :, 0] = 1.0 - mirrored[:, :, 0]
            out = (out[:n] + mirrored) / 2
        r = np.stack(rects)
        return (out * r[:, None, 2:4] + r[:, None, 0:2]).astype(np.float32)
