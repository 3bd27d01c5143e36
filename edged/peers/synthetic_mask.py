"""Synthetic masks on LFW faces (MaskTheFace-style): the convex hull of jaw points 1–15 and nose
point 29 of the 68 landmarks, filled with one flat colour, so every pipeline sees the same masked image."""

from __future__ import annotations

import zlib

import cv2
import numpy as np

# BGR: surgical blue, white, black, grey, dark blue (colour chosen per image, reproducibly)
COLOURS = ((200, 170, 120), (235, 235, 235), (30, 30, 30), (150, 150, 150), (110, 50, 20))
HULL_POINTS = [*range(1, 16), 29]


def colour_for(key: str) -> tuple[int, int, int]:
    return COLOURS[zlib.crc32(key.encode()) % len(COLOURS)]


def draw_mask(bgr: np.ndarray, landmarks: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """A copy of ``bgr`` with the lower face covered; ``landmarks`` is (68, 2) in frame pixels."""
    if landmarks.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got {landmarks.shape}")
    hull = cv2.convexHull(np.round(landmarks[HULL_POINTS]).astype(np.int32))
    out = bgr.copy()
    cv2.fillConvexPoly(out, hull, colour, lineType=cv2.LINE_AA)
    return out
