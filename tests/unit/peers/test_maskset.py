from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edged.peers import maskset

XML = """<annotation><filename>a.png</filename>
<object><name>con_mascarilla</name><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>60</xmax><ymax>80</ymax></bndbox></object>
<object><name>sin_mascarilla</name><bndbox><xmin>100</xmin><ymin>20</ymin><xmax>120</xmax><ymax>45</ymax></bndbox></object>
</annotation>"""


def test_reads_voc_boxes_and_english_labels(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text(XML)
    ann = maskset.read_annotation(tmp_path / "a.xml", tmp_path / "images")
    assert ann.image == tmp_path / "images" / "a.png"
    assert ann.labels == ["with_mask", "without_mask"]
    np.testing.assert_array_equal(ann.boxes[0], [10, 20, 60, 80])


@pytest.mark.parametrize(
    "bad",
    [
        "<annotation><filename>a.png</filename><object><name>cat</name></object></annotation>",
        "<annotation>",
        "",
    ],
)
def test_malformed_annotation_is_a_clear_error(tmp_path: Path, bad: str) -> None:
    (tmp_path / "b.xml").write_text(bad)
    with pytest.raises(maskset.MaskSetError, match="b.xml"):
        maskset.read_annotation(tmp_path / "b.xml", tmp_path)


def test_empty_set_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    with pytest.raises(maskset.MaskSetError, match="no VOC XML"):
        maskset.read_set(tmp_path)


def test_iou_and_one_to_one_matching() -> None:
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    det = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    iou = maskset.iou_matrix(gt, det)
    assert iou[0, 0] == pytest.approx(1.0)
    assert iou[0, 1] == pytest.approx(90 / 110)
    assert maskset.greedy_match(gt, det, 0.5) == [(0, 0)]  # det 1 may not take gt 0 a second time


def _distort(boxes: np.ndarray, dx: float, dy: float, sw: float, sh: float) -> np.ndarray:
    """Boxes as a detector with another box style would draw them (the inverse of a correction)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    nw, nh = w / sw, h / sh
    cx, cy = boxes[:, 0] + w / 2 - dx * nw, boxes[:, 1] + h / 2 - dy * nh
    return np.stack([cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2], axis=1)


def test_correction_recovers_a_box_style_and_restores_recall() -> None:
    rng = np.random.default_rng(3)
    anns, dets = [], []
    for i in range(40):
        xy = rng.uniform(0, 400, size=(3, 2))
        wh = rng.uniform(40, 120, size=(3, 2))
        boxes = np.hstack([xy, xy + wh]).astype(np.float32)
        anns.append(maskset.Annotated(Path(f"{i}.jpg"), boxes, ["with_mask"] * 3))
        dets.append(_distort(boxes, 0.0, -0.12, 0.7, 0.65))  # shifted up, larger: IoU < 0.5 raw
    corr = maskset.fit_correction([a.boxes for a in anns], dets)
    assert corr.dy == pytest.approx(-0.12, abs=1e-4)
    assert corr.sw == pytest.approx(0.7, abs=1e-4) and corr.sh == pytest.approx(0.65, abs=1e-4)
    sc = maskset.score(anns, dets, min_face_px=40)
    assert sc["raw"]["recall"]["with_mask"] < 0.5  # type: ignore[index]
    assert sc["corrected"]["recall"]["with_mask"] == pytest.approx(1.0)  # type: ignore[index]


def test_score_counts_sizes_and_precision() -> None:
    boxes = np.array([[0, 0, 50, 50], [100, 100, 120, 120]], np.float32)
    ann = maskset.Annotated(Path("x.jpg"), boxes, ["with_mask", "with_mask"])
    det = np.array([[0, 0, 50, 50], [300, 300, 340, 340]], np.float32)  # finds the big one, one false alarm
    sc = maskset.score([ann, ann], [det, det], min_face_px=40)
    raw = sc["raw"]
    assert raw["boxes"]["with_mask_big"] == 2 and raw["boxes"]["with_mask"] == 4  # type: ignore[index]
    assert raw["recall"]["with_mask_big"] == 1.0 and raw["recall"]["with_mask"] == 0.5  # type: ignore[index]
    assert raw["precision"] == 0.5  # type: ignore[index]
