"""Passages carry no face image unless snapshots are on; then the face of the decided track is kept."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from edged.console.feed import LiveFeed, TrackView
from edged.console.journal import Journal

GRANT = {"track_id": 7, "person_id": "ann", "decision": "grant", "reasons": [], "lane": "lane-1"}


def feed_with_a_face() -> LiveFeed:
    feed = LiveFeed(2.0, (0.0, 0.0, 1.0, 1.0))
    image = np.zeros((240, 320, 3), np.uint8)
    image[60:160, 100:180] = 200
    feed.observe(image, [TrackView(7, (100.0, 60.0, 180.0, 160.0), "grant", "ann", 0.8, None)])
    return feed


def test_no_face_image_without_snapshots() -> None:
    journal = Journal(10)
    journal.on_event("passage.granted", dict(GRANT))
    (p,) = journal.passages_after(0)
    assert p["person_id"] == "ann" and "face_jpeg_b64" not in p and "lane" not in p


def test_with_snapshots_the_decided_face_is_kept_and_old_ones_go() -> None:
    journal = Journal(2, feed_with_a_face().crop)
    for _ in range(3):
        journal.on_event("passage.granted", dict(GRANT))
    journal.on_event("passage.denied", dict(GRANT, track_id=99))  # not in the frame: no face
    out = journal.passages_after(0)
    assert [p["seq"] for p in out] == [3, 4]
    face = cv2.imdecode(np.frombuffer(base64.b64decode(out[0]["face_jpeg_b64"]), np.uint8), cv2.IMREAD_COLOR)
    assert face is not None and face.shape[:2] == (140, 112)  # the box with a 20 % margin
    assert "face_jpeg_b64" not in out[1]
    assert sorted(journal._faces) == [3]
