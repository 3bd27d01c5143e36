"""Masks drawn on the training split's bare faces: what is drawn, where from, and how often it is sampled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edged.vision.mask import CLASSES, CROP_PX
from edged.vision.masked import dataset, synthetic

MASK, NO_MASK, INCORRECT = (CLASSES.index(c) for c in ("mask", "no_mask", "incorrect"))


def test_without_drawn_faces_weights_are_the_plain_class_balance() -> None:
    labels = np.array([MASK] * 6 + [NO_MASK] * 3 + [INCORRECT])
    counts = np.bincount(labels, minlength=3).astype(float)
    w = synthetic.sampling_weights(labels, len(labels), counts, 1.0)
    np.testing.assert_allclose(w, 1.0 / counts[labels])


@pytest.mark.parametrize("power", [1.0, 0.75])
def test_drawn_faces_take_at_most_half_of_their_class_and_class_shares_stay(power: float) -> None:
    real = np.array([MASK] * 60 + [NO_MASK] * 20 + [INCORRECT] * 4)
    drawn = np.array([MASK] * 5 + [INCORRECT] * 30)
    labels = np.concatenate([real, drawn])
    counts = np.bincount(real, minlength=3).astype(float)
    w = synthetic.sampling_weights(labels, len(real), counts, power)
    plain = synthetic.sampling_weights(real, len(real), counts, power)
    for c in range(3):
        np.testing.assert_allclose(w[labels == c].sum(), plain[real == c].sum())  # class shares unchanged
    is_drawn = np.arange(len(labels)) >= len(real)
    incorrect_drawn = w[is_drawn & (labels == INCORRECT)].sum() / w[labels == INCORRECT].sum()
    mask_drawn = w[is_drawn & (labels == MASK)].sum() / w[labels == MASK].sum()
    assert incorrect_drawn == pytest.approx(0.5)  # 30 drawn against 4 real: capped at half
    assert mask_drawn == pytest.approx(5 / 65)  # fewer than half: their natural part
    assert np.ptp(w[~is_drawn & (labels == INCORRECT)]) == 0  # real faces of a class weigh alike


@pytest.fixture(scope="module")
def drawn(shared_data: Path, models_dir: Path) -> tuple[dataset.CropSet, list[dataset.AnnotatedImage]]:
    data = shared_data / "masks" / "face_mask_detection_853"
    images = dataset.read_annotations(data)
    train = set(dataset.split_images(images)["train"])
    chosen = [im for im in images if im.name in train][:60]
    return synthetic.synthetic_crops(data, chosen, synthetic.Landmarker(models_dir)), chosen


def test_drawn_faces_come_from_bare_training_faces_in_every_variant(drawn: tuple) -> None:
    crops, chosen = drawn
    sources = {im.name for im in chosen if any(lab == NO_MASK for lab in im.labels)}
    assert len(crops.labels) > 0 and len(crops.labels) % len(synthetic.VARIANTS) == 0
    assert set(crops.images) <= sources
    assert crops.crops.shape[1:] == (CROP_PX, CROP_PX, 3)
    per_source = np.bincount(crops.labels, minlength=3) / (len(crops.labels) // len(synthetic.VARIANTS))
    np.testing.assert_allclose(
        per_source, np.bincount([CLASSES.index(c) for c, _ in synthetic.VARIANTS], minlength=3)
    )
    assert crops.box_px.min() >= synthetic.SMALLEST_PX * 0.8  # shrunk, but not below the smallest width
    assert crops.box_px.max() <= 1.25 * max(
        float(b[2] - b[0])
        for im in chosen
        for b, lab in zip(im.boxes, im.labels, strict=True)
        if lab == NO_MASK
    )


def test_drawn_faces_are_reproducible_and_differ_by_variant(
    drawn: tuple, models_dir: Path, shared_data: Path
) -> None:
    crops, chosen = drawn
    data = shared_data / "masks" / "face_mask_detection_853"
    again = synthetic.synthetic_crops(data, chosen[:20], synthetic.Landmarker(models_dir))
    n = len(again.labels)
    assert n > 0 and np.array_equal(again.crops, crops.crops[:n])
    v = len(synthetic.VARIANTS)
    first = crops.crops[:v].astype(int)  # one source face, every variant: different masks, different crops
    assert all(np.abs(first[i] - first[j]).mean() > 2 for i in range(v) for j in range(i + 1, v))
