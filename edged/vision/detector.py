"""Face detection: the RFB-320 SSD-style detector, with score threshold, NMS and minimum face size."""

from __future__ import annotations

import cv2
import numpy as np

from edged.vision.config import DetectorConfig
from edged.vision.engines import Engine

INPUT_W, INPUT_H = 320, 240


def preprocess(bgr: np.ndarray) -> np.ndarray:
    """Whole frame resized to 320×240, RGB, (x − 127) / 128, NCHW."""
    rgb = cv2.cvtColor(cv2.resize(bgr, (INPUT_W, INPUT_H), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    x = (rgb.astype(np.float32) - 127.0) / 128.0
    return x.transpose(2, 0, 1)[None]


def postprocess(
    scores: np.ndarray, boxes: np.ndarray, frame_w: int, frame_h: int, config: DetectorConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) in frame pixels and their scores (N,), best first, after NMS and size filters."""
    face = scores[:, 1]
    keep = face >= config.score_threshold
    if not keep.any():
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    b = boxes[keep] * np.array([frame_w, frame_h, frame_w, frame_h], np.float32)
    s = face[keep]
    xywh = np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    kept = cv2.dnn.NMSBoxes(xywh.tolist(), s.tolist(), config.score_threshold, config.nms_iou)
    idx = np.asarray(kept, dtype=np.int64).reshape(-1)
    b, s = b[idx], s[idx]
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, frame_w)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, frame_h)
    wide = (b[:, 2] - b[:, 0]) >= config.min_face_px
    b, s = b[wide], s[wide]
    order = np.argsort(-s)[: config.max_faces]
    return b[order].astype(np.float32), s[order].astype(np.float32)


class FaceDetector:
    def __init__(self, engine: Engine, config: DetectorConfig):
        self.engine = engine
        self.config = config

    def detect(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = bgr.shape[:2]
        scores, boxes = self.engine.infer(preprocess(bgr))
        return postprocess(scores[0], boxes[0], w, h, self.config)
