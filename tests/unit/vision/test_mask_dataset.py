"""The mask data set's reading, fixed split by image, box matching and metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edged.vision.mask import CLASSES
from edged.vision.masked import dataset
from edged.vision.masked.mask_eval import accuracy_by_face_px, faces_at_least, metrics

VOC = """<annotation><filename>{name}</filename>
<object><name>{label}</name><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>50</xmax><ymax>70</ymax></bndbox></object>
</annotation>"""


def _images(n: int, seed: int = 0) -> list[dataset.AnnotatedImage]:
    rng = np.random.default_rng(seed)
    return [
        dataset.AnnotatedImage(f"img{i}.png", np.zeros((2, 4), np.float32), rng.integers(0, 3, 2).tolist())
        for i in range(n)
    ]


def test_split_is_by_image_fixed_and_complete() -> None:
    images = _images(300)
    a, b = dataset.split_images(images), dataset.split_images(list(reversed(images)))
    assert a == b
    parts = [set(v) for v in a.values()]
    assert sum(len(p) for p in parts) == 300 and set().union(*parts) == {im.name for im in images}
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert abs(len(a["test"]) - 45) <= 3


def test_split_puts_rare_class_images_in_every_part() -> None:
    images = _images(200)
    incorrect = {im.name for im in images if CLASSES.index("incorrect") in im.labels}
    for names in dataset.split_images(images).values():
        assert incorrect & set(names)


def test_read_annotations_maps_spanish_names(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "a.xml").write_text(VOC.format(name="a.png", label="mascarilla_mal_puesta"))
    (tmp_path / "annotations" / "b.xml").write_text(VOC.format(name="b.png", label="sin_mascarilla"))
    images = dataset.read_annotations(tmp_path)
    assert [im.labels for im in images] == [[CLASSES.index("incorrect")], [CLASSES.index("no_mask")]]
    assert images[0].boxes.tolist() == [[10, 20, 50, 70]]


@pytest.mark.parametrize(
    "content,message",
    [("<annotation>", "not valid XML"), (VOC.format(name="a.png", label="helmet"), "unknown class")],
)
def test_bad_annotation_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "a.xml").write_text(content)
    with pytest.raises(dataset.MaskDataError, match=message):
        dataset.read_annotations(tmp_path)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(dataset.MaskDataError, match="no VOC annotation"):
        dataset.read_annotations(tmp_path)


def test_match_is_one_to_one_by_best_iou() -> None:
    voc = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [100, 100, 110, 110]], np.float32)
    det = np.array([[21, 0, 31, 10], [1, 0, 11, 10], [0, 1, 10, 11]], np.float32)
    idx = dataset.match(voc, det)
    assert idx[1] == 0 and idx[0] in (1, 2) and idx[2] == -1


def test_offset_round_trip() -> None:
    voc = np.array([[10, 20, 50, 80]], np.float32)
    det = np.array([[8, 25, 54, 86]], np.float32)
    off = dataset.relative_offset(voc, det)[0]
    assert np.allclose(dataset.apply_offset(voc, off), det)


def test_metrics_confusion_and_recall() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 2, 1, 0, 2])
    m = metrics(labels, predicted)
    assert m["confusion"] == [[2, 0, 1], [1, 1, 0], [0, 0, 1]]
    assert m["recall"] == {"mask": pytest.approx(2 / 3), "no_mask": 0.5, "incorrect": 1.0}
    assert m["accuracy"] == pytest.approx(4 / 6) and m["n"] == 6


def test_accuracy_by_face_px_bands_by_box_width() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    box_px = np.array([10.0, 23.9, 24.0, 60.0, 96.0, 300.0])
    bands = accuracy_by_face_px(labels, predicted, box_px)
    assert [(b["min_px"], b["max_px"], b["n"]) for b in bands] == [
        (0, 24, 2),
        (24, 48, 1),
        (48, 96, 1),
        (96, None, 2),
    ]
    assert [b["accuracy"] for b in bands] == [0.5, 1.0, 1.0, 0.5]
    assert accuracy_by_face_px(labels[:1], predicted[:1], box_px[:1])[3] == {
        "min_px": 96,
        "max_px": None,
        "n": 0,
        "accuracy": None,
    }


def test_faces_at_least_keeps_each_field_of_the_wide_faces_together() -> None:
    crops = dataset.CropSet(
        crops=np.arange(4, dtype=np.uint8).reshape(4, 1, 1, 1) * np.ones((4, 2, 2, 3), np.uint8),
        labels=np.array([0, 1, 2, 0]),
        images=["a", "b", "c", "d"],
        matched=np.array([True, False, True, False]),
        box_px=np.array([39.9, 40.0, 12.0, 120.0]),
        info={"offset": [0.0, 0.1, 1.0, 1.0], "matched": 2, "total": 4},
    )
    wide = faces_at_least(crops, 40)
    assert wide.images == ["b", "d"]
    assert wide.labels.tolist() == [1, 0] and wide.matched.tolist() == [False, False]
    assert wide.box_px.tolist() == [40.0, 120.0] and wide.crops[:, 0, 0, 0].tolist() == [1, 3]
    assert wide.info == {"offset": [0.0, 0.1, 1.0, 1.0], "matched": 0, "total": 2}, (
        "counts are of the kept faces"
    )
    assert len(faces_at_least(crops, 0).images) == 4
