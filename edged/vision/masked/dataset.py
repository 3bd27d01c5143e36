"""The mask training/evaluation set: VOC boxes of face_mask_detection_853, a fixed seeded split by image,
and the crops the classifier reads, cut around the detector's own boxes where the detector finds the face.

Serving crops come from detector boxes, so training uses them too: every annotated face is matched to a
detection (IoU ≥ MATCH_IOU, greedy by IoU). An annotated face the detector misses (mostly tiny faces)
is cut around its VOC box moved and scaled by the mean detector-vs-VOC offset of the matched faces, so
its crop is framed like a detector crop.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edged.vision.image_io import load_image
from edged.vision.mask import CLASSES, CROP_PX, classifier_crop

LABELS = {
    "con_mascarilla": "mask",
    "sin_mascarilla": "no_mask",
    "mascarilla_mal_puesta": "incorrect",
    "with_mask": "mask",
    "without_mask": "no_mask",
    "mask_weared_incorrect": "incorrect",
}
SPLIT_SEED = 853
SPLIT_FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}
MATCH_IOU = 0.4


class MaskDataError(Exception):
    pass


@dataclass
class AnnotatedImage:
    name: str  # file name in images/
    boxes: np.ndarray  # (K, 4) float32 x1, y1, x2, y2
    labels: list[int]  # index into CLASSES


@dataclass
class CropSet:
    crops: np.ndarray  # (N, 64, 64, 3) BGR uint8
    labels: np.ndarray  # (N,) int64
    images: list[str]  # source image per crop
    matched: np.ndarray  # (N,) bool: cut around a detector box (else around the adjusted VOC box)
    box_px: np.ndarray  # (N,) width of the annotated box in pixels
    info: dict[str, float] = field(default_factory=dict)


def read_annotations(data_dir: Path) -> list[AnnotatedImage]:
    folder = Path(data_dir) / "annotations"
    files = sorted(folder.glob("*.xml"))
    if not files:
        raise MaskDataError(
            f"{folder}: no VOC annotation files (expected face_mask_detection_853/annotations)"
        )
    out = []
    for f in files:
        try:
            root = ET.parse(f).getroot()
        except ET.ParseError as exc:
            raise MaskDataError(f"{f}: not valid XML: {exc}") from None
        boxes, labels = [], []
        for obj in root.iter("object"):
            name = (obj.findtext("name") or "").strip()
            if name not in LABELS:
                raise MaskDataError(f"{f}: unknown class {name!r}")
            bb = obj.find("bndbox")
            if bb is None:
                raise MaskDataError(f"{f}: object without bndbox")
            boxes.append([float(bb.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax")])
            labels.append(CLASSES.index(LABELS[name]))
        out.append(
            AnnotatedImage(
                root.findtext("filename") or f.stem + ".png",
                np.array(boxes, np.float32).reshape(-1, 4),
                labels,
            )
        )
    return out


def split_images(images: list[AnnotatedImage]) -> dict[str, list[str]]:
    """Fixed split by image (never by box), stratified on whether the image holds an `incorrect` or a
    `no_mask` face so that the rare classes land in every part. Same seed, same split, on any machine."""
    rng = np.random.default_rng(SPLIT_SEED)
    groups: dict[int, list[str]] = {}
    for im in sorted(images, key=lambda i: i.name):
        rare = (
            2
            if CLASSES.index("incorrect") in im.labels
            else 1
            if CLASSES.index("no_mask") in im.labels
            else 0
        )
        groups.setdefault(rare, []).append(im.name)
    split: dict[str, list[str]] = {k: [] for k in SPLIT_FRACTIONS}
    for _, names in sorted(groups.items()):
        order = [names[i] for i in rng.permutation(len(names))]
        n_test = round(len(order) * SPLIT_FRACTIONS["test"])
        n_val = round(len(order) * SPLIT_FRACTIONS["val"])
        split["test"] += order[:n_test]
        split["val"] += order[n_test : n_test + n_val]
        split["train"] += order[n_test + n_val :]
    return {k: sorted(v) for k, v in split.items()}


def split_digest(names: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) boxes."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9))


def match(voc: np.ndarray, det: np.ndarray, min_iou: float = MATCH_IOU) -> np.ndarray:
    """For each VOC box the index of its detection, or −1; greedy by IoU, one detection per box."""
    out = np.full(len(voc), -1)
    if len(voc) == 0 or len(det) == 0:
        return out
    m = iou(voc, det)
    while True:
        i, j = np.unravel_index(int(np.argmax(m)), m.shape)
        if m[i, j] < min_iou:
            return out
        out[i] = j
        m[i, :] = -1
        m[:, j] = -1


def relative_offset(voc: np.ndarray, det: np.ndarray) -> np.ndarray:
    """(dx1, dy1, dx2, dy2) of the detector box against the VOC box, in units of the VOC box size."""
    w = voc[:, 2] - voc[:, 0]
    h = voc[:, 3] - voc[:, 1]
    size = np.stack([w, h, w, h], axis=1)
    return np.asarray((det - voc) / np.maximum(size, 1.0))


def apply_offset(voc: np.ndarray, offset: np.ndarray) -> np.ndarray:
    w = voc[:, 2] - voc[:, 0]
    h = voc[:, 3] - voc[:, 1]
    return np.asarray(voc + offset[None, :] * np.stack([w, h, w, h], axis=1), np.float32)


Detect = Callable[[np.ndarray], np.ndarray]  # BGR frame → (M, 4) detector boxes


def build_crops(
    data_dir: Path,
    images: list[AnnotatedImage],
    detect: Detect,
    offset: np.ndarray | None = None,
    px: int = CROP_PX,
) -> CropSet:
    """``px`` square crops of every annotated face. ``offset`` (from the training images) frames the
    unmatched faces; when ``None`` it is measured here from the matched ones."""
    rows: list[tuple[np.ndarray, int, str, bool, float]] = []
    unmatched: list[tuple[np.ndarray, np.ndarray, int, str]] = []
    offsets = []
    for im in images:
        bgr = load_image(Path(data_dir) / "images" / im.name)
        det = detect(bgr)
        idx = match(im.boxes, det)
        for k, (box, label) in enumerate(zip(im.boxes, im.labels, strict=True)):
            if idx[k] >= 0:
                rows.append(
                    (classifier_crop(bgr, det[idx[k]], px), label, im.name, True, float(box[2] - box[0]))
                )
                offsets.append(relative_offset(box[None], det[idx[k]][None])[0])
            else:
                unmatched.append((bgr, box, label, im.name))
    measured = np.median(np.array(offsets), axis=0) if offsets else np.zeros(4)
    use = measured if offset is None else offset
    for bgr, box, label, name in unmatched:
        framed = apply_offset(box[None], use)[0]
        rows.append((classifier_crop(bgr, framed, px), label, name, False, float(box[2] - box[0])))
    return CropSet(
        crops=np.stack([r[0] for r in rows]) if rows else np.zeros((0, px, px, 3), np.uint8),
        labels=np.array([r[1] for r in rows], np.int64),
        images=[r[2] for r in rows],
        matched=np.array([r[3] for r in rows], bool),
        box_px=np.array([r[4] for r in rows], np.float32),
        info={"offset": use.tolist(), "matched": int(sum(r[3] for r in rows)), "total": len(rows)},
    )


def training_detector(models_dir: Path | None = None) -> Detect:
    """The pipeline's detector with the size floor lowered, so that small annotated faces can be matched."""
    from edged.models import resolve_models_dir, verified_path
    from edged.vision.config import DetectorConfig, OnnxRuntimeEngineConfig
    from edged.vision.detector import FaceDetector
    from edged.vision.engines import create_engine

    path = verified_path(resolve_models_dir(models_dir), "fr_detect.onnx")
    detector = FaceDetector(
        create_engine(path, OnnxRuntimeEngineConfig()), DetectorConfig(min_face_px=8, max_faces=256)
    )

    def detect(bgr: np.ndarray) -> np.ndarray:
        return detector.detect(bgr)[0]

    return detect
