"""Synthetic masks: seeded, varied, and covering the nose bridge down to the chin but not the eyes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edged.vision.masked.draw import SHAPES, draw_mask, mask_polygon, style_for


def _landmarks() -> np.ndarray:
    """A frontal 68-point face, about 120 px wide, in a 200×200 frame (iBUG order)."""
    lm = np.zeros((68, 2))
    t = np.linspace(np.pi, 0, 17)
    lm[0:17] = np.stack([100 + 60 * np.cos(t), 90 + 80 * np.sin(t)], axis=1)  # jaw, ear to ear via the chin
    lm[17:27] = np.stack([np.linspace(55, 145, 10), np.full(10, 60)], axis=1)  # brows
    lm[27:31] = np.stack([np.full(4, 100), np.linspace(75, 115, 4)], axis=1)  # nose bridge to tip
    lm[31:36] = np.stack([np.linspace(88, 112, 5), np.full(5, 120)], axis=1)  # nostrils
    lm[36:42] = np.stack([np.linspace(65, 85, 6), np.full(6, 78)], axis=1)  # left eye
    lm[42:48] = np.stack([np.linspace(115, 135, 6), np.full(6, 78)], axis=1)  # right eye
    lm[48:68] = np.stack([np.linspace(80, 120, 20), np.full(20, 140)], axis=1)  # mouth
    return lm


def test_style_is_seeded_and_varied() -> None:
    assert style_for("a/b.jpg") == style_for("a/b.jpg")
    assert style_for("a/b.jpg", 0) != style_for("a/b.jpg", 1)
    styles = [style_for(f"p/{i}.jpg") for i in range(60)]
    assert {s.shape for s in styles} == set(SHAPES)
    assert len({s.colour for s in styles}) > 10


@pytest.mark.parametrize("key", [f"k{i}" for i in range(6)])
def test_mask_covers_nose_mouth_chin_not_eyes(key: str) -> None:
    frame = np.full((200, 200, 3), 128, np.uint8)
    lm = _landmarks()
    style = style_for(key)
    out = draw_mask(frame, lm, style)
    changed = np.abs(out.astype(int) - frame.astype(int)).sum(axis=2) > 10
    if np.allclose(style.colour, 128, atol=12):
        pytest.skip("mask colour too close to the test background to see")
    for i in (30, 33, 51, 57, 8 - 0):  # nose tip, under the nose, lips, just above the chin
        x, y = np.round(lm[i] if i != 8 else lm[8] - [0, 3]).astype(int)
        assert changed[y, x], f"landmark {i} not covered ({style})"
    for i in (36, 39, 42, 45, 19, 24):  # eye corners, brows
        x, y = np.round(lm[i]).astype(int)
        assert not changed[y, x], f"landmark {i} covered ({style})"
    assert (frame == 128).all(), "input image modified"


def test_bad_landmarks_are_refused() -> None:
    with pytest.raises(ValueError, match="68 landmarks"):
        mask_polygon(np.zeros((5, 2)), style_for("x"))


def _covered(style_key: str, worn: str, low: float) -> tuple[np.ndarray, np.ndarray]:
    frame = np.full((200, 200, 3), 128, np.uint8)
    style = dataclasses.replace(style_for(style_key), worn=worn, low=low, colour=(20, 200, 20))
    out = draw_mask(frame, _landmarks(), style)
    return np.abs(out.astype(int) - frame.astype(int)).sum(axis=2) > 10, _landmarks()


def _at(changed: np.ndarray, p: np.ndarray) -> bool:
    x, y = np.round(p).astype(int)
    return bool(changed[y, x])


@pytest.mark.parametrize("low", [0.1, 0.5, 0.8])
def test_mask_under_the_nose_leaves_the_nose_bare_and_covers_the_mouth(low: float) -> None:
    changed, lm = _covered("u", "under_nose", low)
    assert not any(_at(changed, lm[i]) for i in (27, 30, 33)), "nose covered"
    assert _at(changed, lm[57]) and _at(changed, lm[8] - [0, 3]), "mouth or chin bare"
    assert not changed[: int(lm[33][1])].any(), "paint above the nose base"


@pytest.mark.parametrize("low", [0.05, 0.4])
def test_mask_on_the_chin_leaves_nose_and_mouth_bare(low: float) -> None:
    changed, lm = _covered("c", "chin", low)
    assert not any(_at(changed, lm[i]) for i in (30, 33, 51, 57)), "nose or mouth covered"
    assert _at(changed, lm[8] - [0, 3]), "chin bare"


def test_unknown_way_of_wearing_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown way of wearing"):
        mask_polygon(_landmarks(), dataclasses.replace(style_for("x"), worn="on_forehead"))
