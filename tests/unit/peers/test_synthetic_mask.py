from __future__ import annotations

import numpy as np
import pytest

from edged.peers.synthetic_mask import COLOURS, colour_for, draw_mask


def _landmarks() -> np.ndarray:
    """A plausible 68-point face in a 200×200 frame: jaw on a half ellipse, the rest in the middle."""
    lm = np.zeros((68, 2), np.float32)
    t = np.linspace(np.pi, 0, 17)
    lm[:17] = np.stack([100 + 60 * np.cos(t), 90 + 80 * np.sin(t)], axis=1)
    lm[17:] = [100, 90]
    lm[29] = [100, 100]
    return lm


def test_covers_the_lower_face_only() -> None:
    img = np.full((200, 200, 3), 50, np.uint8)
    out = draw_mask(img, _landmarks(), (10, 200, 30))
    assert (out[150, 100] == [10, 200, 30]).all()  # chin area
    assert (out[40, 100] == 50).all()  # forehead untouched
    assert (img == 50).all()  # the input is not modified


def test_colour_is_reproducible_per_image() -> None:
    assert colour_for("a/b.jpg") == colour_for("a/b.jpg")
    assert {colour_for(f"img{i}") for i in range(50)} <= set(COLOURS)


def test_rejects_wrong_landmarks() -> None:
    with pytest.raises(ValueError, match="68"):
        draw_mask(np.zeros((10, 10, 3), np.uint8), np.zeros((5, 2)), (0, 0, 0))
