from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edged.peers.convert import HEADS
from edged.peers.ssd import PRIOR_LAYERS, Res10Ssd, decode, postprocess, prior_boxes


def test_priors_match_the_network_heads() -> None:
    priors = prior_boxes()
    assert len(priors) * 4 == HEADS["mbox_loc"] and len(priors) * 2 == HEADS["mbox_conf_flatten"]
    first = PRIOR_LAYERS[0]
    # first cell of the first layer: min-size square, then sqrt(min·max) square, then 2:1 and 1:2
    np.testing.assert_allclose(priors[0] * 300, [4, 4, 30, 30], atol=1e-4)
    np.testing.assert_allclose(priors[1, 2] * 300, np.sqrt(first.min_size * first.max_size), atol=1e-3)
    np.testing.assert_allclose(priors[2, 2:] * 300, [30 * np.sqrt(2), 30 / np.sqrt(2)], atol=1e-3)


def test_zero_deltas_decode_to_the_priors() -> None:
    priors = prior_boxes()[:10]
    boxes = decode(np.zeros((10, 4), np.float32), priors)
    np.testing.assert_allclose((boxes[:, :2] + boxes[:, 2:]) / 2, priors[:, :2], atol=1e-6)
    np.testing.assert_allclose(boxes[:, 2:] - boxes[:, :2], priors[:, 2:], atol=1e-6)


def test_postprocess_thresholds_and_suppresses_duplicates() -> None:
    priors = np.array([[0.5, 0.5, 0.2, 0.2], [0.505, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]], np.float32)
    conf = np.array([[0.1, 0.9], [0.2, 0.8], [0.7, 0.3]], np.float32)
    boxes, scores = postprocess(np.zeros((3, 4), np.float32), conf, priors, 200, 100, threshold=0.5)
    assert scores.tolist() == pytest.approx([0.9])
    np.testing.assert_allclose(boxes[0], [80, 40, 120, 60], atol=1e-4)


def test_finds_the_face_in_an_lfw_image(shared_data: Path, peers_dir: Path) -> None:
    img = cv2.imread(str(shared_data / "lfw/lfw-deepfunneled/Aaron_Eckhart/Aaron_Eckhart_0001.jpg"))
    boxes, scores = Res10Ssd(peers_dir).detect(img)
    assert len(boxes) == 1 and scores[0] > 0.9
    cx, cy = (boxes[0, :2] + boxes[0, 2:]) / 2
    assert 100 < cx < 150 and 100 < cy < 150  # LFW centres the face in 250×250
