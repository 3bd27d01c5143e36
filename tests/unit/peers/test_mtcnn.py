from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edged.peers.mtcnn import Mtcnn, crops, nms, regress, to_square


def test_nms_union_and_min() -> None:
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [20, 20, 29, 29], [2, 2, 5, 5]], np.float64)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    assert nms(boxes, scores, 0.5).tolist() == [3, 0, 2]  # the small box overlaps little by union
    assert nms(boxes, scores, 0.5, "min").tolist() == [3, 2]  # ...but lies inside both by the smaller area


def test_square_and_regression() -> None:
    sq = to_square(np.array([[10.0, 10.0, 30.0, 20.0]]))
    np.testing.assert_allclose(sq, [[10, 5, 30, 25]])
    moved = regress(np.array([[0.0, 0.0, 9.0, 9.0]]), np.array([[0.1, 0.0, 0.1, -0.1]]))
    np.testing.assert_allclose(moved, [[1.0, 0.0, 10.0, 8.0]])


def test_crops_are_transposed_and_zero_padded() -> None:
    rgb = np.zeros((20, 20, 3), np.uint8)
    rgb[:, :10] = 255  # left half white
    c = crops(rgb, np.array([[1.0, 1.0, 20.0, 20.0]]), 24)[0]
    assert c.shape == (24, 24, 3)
    assert c[0, 5, 0] > 0.9 and c[23, 5, 0] < -0.9  # first axis is x after the transpose
    outside = crops(rgb, np.array([[-40.0, -40.0, -21.0, -21.0]]), 24)[0]
    assert np.allclose(outside, -127.5 / 128)  # all padding


def test_scale_pyramid_stops_at_the_net_size(peers_dir: Path) -> None:
    m = Mtcnn(peers_dir, min_face=20)
    scales = m.scales(250, 250)
    assert scales[0] == pytest.approx(12 / 20)
    assert 250 * scales[-1] >= 12 > 250 * scales[-1] * m.factor


def test_finds_face_and_five_points_in_order(shared_data: Path, peers_dir: Path) -> None:
    img = cv2.imread(str(shared_data / "lfw/lfw-deepfunneled/Aaron_Eckhart/Aaron_Eckhart_0001.jpg"))
    boxes, scores, points = Mtcnn(peers_dir).detect(img)
    assert len(boxes) == 1 and scores[0] > 0.9
    p = points[0]
    assert p[0, 0] < p[2, 0] < p[1, 0]  # left eye, nose, right eye from left to right
    assert p[0, 1] < p[2, 1] < p[3, 1]  # eyes above the nose above the mouth
    x1, y1, x2, y2 = boxes[0]
    assert (x1 <= p[:, 0]).all() and (p[:, 0] <= x2).all() and (y1 <= p[:, 1]).all() and (p[:, 1] <= y2).all()
    assert not len(Mtcnn(peers_dir).detect(np.full((200, 200, 3), 127, np.uint8))[0])
