"""Face-box recall on the masked-faces photo set (PASCAL VOC XML), fair to each detector's box style.

Detectors draw boxes differently (dlib's HOG box is tight, the res10 SSD's loose, MTCNN's square), and
the annotators drew theirs another way again, so IoU ≥ 0.5 against raw boxes partly measures box style.
Each detector therefore gets one affine box correction (centre shift and scale, in box units), fitted as
the median over its matches (IoU ≥ 0.3) on half of the images and applied to the other half, then the
halves swap (two-fold cross-fitting). Raw and corrected recall are both reported.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edged.vision.masked.dataset import iou as iou_matrix

CLASSES = {
    "con_mascarilla": "with_mask",
    "sin_mascarilla": "without_mask",
    "mascarilla_mal_puesta": "incorrect",
}
MATCH_IOU = 0.5
FIT_IOU = 0.3


class MaskSetError(Exception):
    pass


@dataclass
class Annotated:
    image: Path
    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2
    labels: list[str]  # with_mask | without_mask | incorrect


def read_annotation(xml_path: Path, images_dir: Path) -> Annotated:
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise MaskSetError(f"{xml_path}: {exc}") from None
    name = root.findtext("filename")
    if not name:
        raise MaskSetError(f"{xml_path}: no <filename>")
    boxes, labels = [], []
    for obj in root.iter("object"):
        label = CLASSES.get((obj.findtext("name") or "").strip())
        bb = obj.find("bndbox")
        if label is None or bb is None:
            raise MaskSetError(f"{xml_path}: object without a known <name> or a <bndbox>")
        try:
            box = [float(bb.findtext(k) or "") for k in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError:
            raise MaskSetError(f"{xml_path}: non-numeric box") from None
        boxes.append(box)
        labels.append(label)
    return Annotated(images_dir / name, np.array(boxes, np.float32).reshape(-1, 4), labels)


def read_set(root: Path, limit: int | None = None) -> list[Annotated]:
    ann = Path(root) / "annotations"
    files = sorted(ann.glob("*.xml"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise MaskSetError(f"{ann}: no VOC XML files")
    return [read_annotation(f, Path(root) / "images") for f in files[:limit]]


def greedy_match(gt: np.ndarray, det: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """One-to-one (gt, det) pairs, highest IoU first."""
    iou = iou_matrix(gt, det) if len(gt) and len(det) else np.zeros((len(gt), len(det)))
    pairs = []
    while iou.size and iou.max() >= min_iou:
        g, d = np.unravel_index(int(np.argmax(iou)), iou.shape)
        pairs.append((int(g), int(d)))
        iou[g, :] = -1
        iou[:, d] = -1
    return pairs


@dataclass(frozen=True)
class BoxCorrection:
    dx: float = 0.0  # centre shift in box widths
    dy: float = 0.0
    sw: float = 1.0  # width scale
    sh: float = 1.0

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        if len(boxes) == 0:
            return boxes
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        cx, cy = boxes[:, 0] + w / 2 + self.dx * w, boxes[:, 1] + h / 2 + self.dy * h
        nw, nh = w * self.sw, h * self.sh
        return np.stack([cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2], axis=1)


def fit_correction(gts: list[np.ndarray], dets: list[np.ndarray]) -> BoxCorrection:
    rows = []
    for gt, det in zip(gts, dets, strict=True):
        for g, d in greedy_match(gt, det, FIT_IOU):
            gw, gh = gt[g, 2] - gt[g, 0], gt[g, 3] - gt[g, 1]
            dw, dh = det[d, 2] - det[d, 0], det[d, 3] - det[d, 1]
            if dw <= 0 or dh <= 0:
                continue
            rows.append(
                (
                    ((gt[g, 0] + gt[g, 2]) - (det[d, 0] + det[d, 2])) / 2 / dw,
                    ((gt[g, 1] + gt[g, 3]) - (det[d, 1] + det[d, 3])) / 2 / dh,
                    gw / dw,
                    gh / dh,
                )
            )
    if not rows:
        return BoxCorrection()
    m = np.median(np.array(rows), axis=0)
    return BoxCorrection(float(m[0]), float(m[1]), float(m[2]), float(m[3]))


@dataclass
class Counts:
    found: int = 0
    total: int = 0

    def rate(self) -> float | None:
        return self.found / self.total if self.total else None


def score(annotated: list[Annotated], detections: list[np.ndarray], min_face_px: float) -> dict[str, object]:
    """Recall per class and size, raw and cross-fitted, plus precision; ``detections[i]`` for image i."""
    halves = [list(range(0, len(annotated), 2)), list(range(1, len(annotated), 2))]
    corrected: list[np.ndarray] = [np.zeros((0, 4))] * len(annotated)
    corrections = []
    for fit_on, apply_to in (halves, halves[::-1]):
        corr = fit_correction([annotated[i].boxes for i in fit_on], [detections[i] for i in fit_on])
        corrections.append(corr)
        for i in apply_to:
            corrected[i] = corr.apply(detections[i])
    out: dict[str, object] = {}
    for mode, dets in (("raw", detections), ("corrected", corrected)):
        counts: dict[str, Counts] = {}
        true_dets = n_dets = 0
        for ann, det in zip(annotated, dets, strict=True):
            matched = {g for g, _ in greedy_match(ann.boxes, det, MATCH_IOU)}
            true_dets += len(matched)
            n_dets += len(det)
            for g, label in enumerate(ann.labels):
                big = ann.boxes[g, 2] - ann.boxes[g, 0] >= min_face_px
                for key in (label, "all", f"{label}_big" if big else None, "all_big" if big else None):
                    if key is None:
                        continue
                    c = counts.setdefault(key, Counts())
                    c.total += 1
                    c.found += g in matched
        out[mode] = {
            "recall": {k: c.rate() for k, c in sorted(counts.items())},
            "boxes": {k: c.total for k, c in sorted(counts.items())},
            "precision": true_dets / n_dets if n_dets else None,
            "detections": n_dets,
        }
    out["corrections"] = [c.__dict__ for c in corrections]
    return out
