"""RGB anti-spoofing (MiniFASNet class) on a context crop 2.7× the face box.

The model has three outputs. ``LIVE_INDEX`` is the one that means a live face; the evidence for it
is produced by ``scripts/liveness-evidence`` and written down in docs/liveness.md.
"""

from __future__ import annotations

import cv2
import numpy as np

from edged.vision.engines import Engine

SIZE = 128
CONTEXT = 2.7
LIVE_INDEX = 0


def context_crop(bgr: np.ndarray, box: np.ndarray, scale: float = CONTEXT) -> np.ndarray:
    """Square-ish crop ``scale``× the box around its centre, shifted (not cut) to stay inside the frame."""
    h, w = bgr.shape[:2]
    bw, bh = float(box[2] - box[0]), float(box[3] - box[1])
    s = min((h - 1) / max(bh, 1.0), (w - 1) / max(bw, 1.0), scale)
    nw, nh = bw * s, bh * s
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x1, y1 = cx - nw / 2, cy - nh / 2
    x1 = min(max(0.0, x1), w - 1 - nw)
    y1 = min(max(0.0, y1), h - 1 - nh)
    xi, yi = int(max(0.0, x1)), int(max(0.0, y1))
    crop = bgr[yi : yi + max(1, int(nh)), xi : xi + max(1, int(nw))]
    return cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class LivenessModel:
    def __init__(self, engine: Engine):
        self.engine = engine

    def probabilities(self, bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 3) class probabilities; BGR, raw 0..255 input as the model was trained."""
        if len(boxes) == 0:
            return np.zeros((0, 3), np.float32)
        batch = np.stack([context_crop(bgr, b) for b in boxes]).astype(np.float32).transpose(0, 3, 1, 2)
        return softmax(self.engine.infer(batch)[0])

    def live_scores(self, bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        return self.probabilities(bgr, boxes)[:, LIVE_INDEX]
