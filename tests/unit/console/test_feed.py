"""The live view: boxes drawn where the tracks are, the thermal frame warped onto the RGB frame by the
configured registration, and no more drawing than the configured rate asks for."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np

from edged.console.feed import LiveFeed, TrackView
from edged.thermal.config import RegistrationConfig


def decode(data: bytes | None) -> np.ndarray:
    assert data is not None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_a_track_is_drawn_in_its_decision_colour_and_described_in_the_state() -> None:
    feed = LiveFeed(2.0, (0.0, 0.0, 1.0, 1.0))
    grey = np.full((240, 320, 3), 128, np.uint8)
    feed.observe(grey, [TrackView(3, (100.0, 60.0, 180.0, 160.0), "grant", "ann", 0.81, "no_mask")])
    state = feed.state()
    assert state["size"] == [320, 240] and state["tracks"][0]["person_id"] == "ann"
    image = decode(feed.jpeg(state["frame"]))
    edge = image[110, 99:102].astype(int)  # the box's left edge, green
    assert (edge[:, 1] > edge[:, 2] + 50).any()
    assert abs(int(image[110, 140, 1]) - 128) < 10  # inside the box: the frame untouched


def test_the_thermal_frame_lands_where_the_registration_maps_it() -> None:
    celsius = np.full((120, 160), 22.0, np.float32)
    celsius[38:43, 48:53] = 36.5  # a warm spot around thermal (50, 40)
    thermal = SimpleNamespace(_latest=SimpleNamespace(image=celsius))
    registration = RegistrationConfig(
        homography=[[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]],
        rgb_size=(320, 240),
        thermal_size=(160, 120),
    )
    feed = LiveFeed(2.0, (0.0, 0.0, 1.0, 1.0), thermal, registration)
    feed.observe(np.zeros((240, 320, 3), np.uint8), [])
    assert feed.state()["thermal"] is True
    image = decode(feed.jpeg()).astype(int).sum(axis=2)
    assert image[80, 100] > image[80, 200] + 60  # RGB (100, 80) is thermal (50, 40): warm; elsewhere cold
    assert image[20, 20] < image[80, 100] - 60


def test_frames_are_drawn_at_most_at_the_configured_rate() -> None:
    feed = LiveFeed(0.001, (0.0, 0.0, 1.0, 1.0))  # one drawing every 1000 s
    for n in range(20):
        feed.observe(np.full((48, 64, 3), n, np.uint8), [])
        feed.state()
        feed.jpeg()
    assert feed.rendered == 1
