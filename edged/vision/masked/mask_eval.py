"""Accuracy of the mask classifier on a split of the mask data set: accuracy, recall per class, confusion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edged.vision.mask import CLASSES, CROP_PX, MaskClassifier
from edged.vision.masked.dataset import (
    CropSet,
    Detect,
    build_crops,
    read_annotations,
    split_digest,
    split_images,
)


def metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """``confusion[i][j]`` counts faces of true class i predicted as j (order: CLASSES)."""
    k = len(CLASSES)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    support = confusion.sum(axis=1)
    recall = {c: (float(confusion[i, i] / support[i]) if support[i] else None) for i, c in enumerate(CLASSES)}
    return {
        "n": int(len(labels)),
        "accuracy": float((labels == predicted).mean()) if len(labels) else float("nan"),
        "recall": recall,
        "support": {c: int(support[i]) for i, c in enumerate(CLASSES)},
        "classes": list(CLASSES),
        "confusion": confusion.tolist(),
    }


SIZE_BINS_PX = (0, 24, 48, 96)


def accuracy_by_face_px(
    labels: np.ndarray, predicted: np.ndarray, box_px: np.ndarray
) -> list[dict[str, Any]]:
    """Accuracy per band of annotated box width: the data set's faces are mostly small, a gate's are large."""
    bands = []
    for lo, hi in zip(SIZE_BINS_PX, (*SIZE_BINS_PX[1:], None), strict=True):
        inside = (box_px >= lo) & (box_px < hi if hi is not None else True)
        n = int(inside.sum())
        accuracy = float((labels[inside] == predicted[inside]).mean()) if n else None
        bands.append({"min_px": lo, "max_px": hi, "n": n, "accuracy": accuracy})
    return bands


def faces_at_least(crops: CropSet, min_px: float) -> CropSet:
    """The faces whose annotated box is at least ``min_px`` wide: a gate's detector drops smaller ones
    (``vision.detector.min_face_px``), so these are the faces the classifier is served on a gate."""
    keep = crops.box_px >= min_px
    matched = crops.matched[keep]
    return CropSet(
        crops=crops.crops[keep],
        labels=crops.labels[keep],
        images=[im for im, k in zip(crops.images, keep, strict=True) if k],
        matched=matched,
        box_px=crops.box_px[keep],
        info={**crops.info, "matched": int(matched.sum()), "total": int(keep.sum())},
    )


def held_out_crops(
    data_dir: Path, detect: Detect, split: str = "test", px: int = CROP_PX
) -> tuple[CropSet, str]:
    images = read_annotations(data_dir)
    names = set(split_images(images)[split])
    chosen = [im for im in images if im.name in names]
    return build_crops(data_dir, chosen, detect, px=px), split_digest(sorted(names))


def evaluate(classifier: MaskClassifier, crops: CropSet) -> dict[str, Any]:
    predicted = np.argmax(classifier.probabilities(crops.crops), axis=1)
    out = metrics(crops.labels, predicted)
    detector_framed = crops.matched
    out["detector_matched"] = int(detector_framed.sum())
    out["detector_matched_accuracy"] = (
        float((crops.labels[detector_framed] == predicted[detector_framed]).mean())
        if detector_framed.any()
        else None
    )
    out["accuracy_by_face_px"] = accuracy_by_face_px(crops.labels, predicted, crops.box_px)
    return out
