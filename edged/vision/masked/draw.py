"""Synthetic face masks drawn from the 68 iBUG landmarks (MaskTheFace-style), for benchmarks and training.

A mask covers the nose bridge down to below the chin and out to the jaw line, as real masks do. The shape
and colour are drawn from a seeded generator, so a given image always gets the same mask. For training the
mask classifier a mask can also be worn wrongly (``worn``): under the nose, or on the chin below the mouth.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

SHAPES = ("surgical", "kn95", "cloth")
WORN = ("over_nose", "under_nose", "chin")  # worn right; nose bare; nose and mouth bare
COLOURS_BGR = (
    (230, 200, 160),  # surgical light blue
    (245, 245, 245),  # white
    (40, 40, 40),  # black
    (150, 150, 150),  # grey
    (120, 60, 20),  # navy
    (190, 170, 240),  # pink
    (90, 130, 90),  # olive
)


@dataclass(frozen=True)
class MaskStyle:
    shape: str
    colour: tuple[int, int, int]
    top: float  # over_nose: 0 = nose tip (point 30), 1 = nose bridge top (27); how high the mask reaches
    chin_drop: float  # extension below the chin, in units of the nose length
    shade: float  # strength of the vertical shading gradient, 0..0.3
    pleats: bool
    worn: str = "over_nose"  # one of WORN
    low: float = 0.5  # top edge: nose base (33) 0 .. upper lip (51) 1; chin: lower lip (57) 0 .. chin (8) 1


def style_for(key: str, variant: int = 0) -> MaskStyle:
    """The seeded style for ``key`` (e.g. an image path) and ``variant``: stable across runs and machines."""
    seed = int.from_bytes(hashlib.sha256(f"{key}#{variant}".encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    colour = COLOURS_BGR[int(rng.integers(len(COLOURS_BGR)))]
    jitter = rng.integers(-15, 16, size=3)
    return MaskStyle(
        shape=shape,
        colour=tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(colour, jitter, strict=True)),  # type: ignore[arg-type]
        top=float(rng.uniform(0.45, 0.75)),
        chin_drop=float(rng.uniform(0.1, 0.35)),
        shade=float(rng.uniform(0.0, 0.25)),
        pleats=shape == "surgical" and bool(rng.integers(2)),
    )


def mask_polygon(landmarks: np.ndarray, style: MaskStyle) -> np.ndarray:
    """(K, 2) int32 outline of the mask in frame pixels."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected 68 landmarks, got shape {lm.shape}")
    bridge_top, tip = lm[27], lm[30]
    nose_len = float(np.linalg.norm(tip - bridge_top)) or 1.0
    top = tip + style.top * (bridge_top - tip)
    down = (lm[8] - top) / (np.linalg.norm(lm[8] - top) or 1.0)
    chin = lm[8] + down * style.chin_drop * nose_len
    jaw = lm[2:15].copy()
    jaw[4:9] += down * style.chin_drop * nose_len * np.array([0.5, 0.8, 1.0, 0.8, 0.5])[:, None]
    jaw[6] = chin
    left, right = lm[1], lm[15]
    if style.worn != "over_nose":
        return _worn_low(lm, jaw, style)
    if style.shape == "kn95":
        upper = [left, top, right]
    elif style.shape == "cloth":
        upper = [
            left,
            (left + top) / 2 + (top - tip) * 0.15,
            top,
            (right + top) / 2 + (top - tip) * 0.15,
            right,
        ]
    else:  # surgical: flat top edge level with the bridge point
        lift = top - (left + right) / 2
        upper = [left, left + lift * 0.8, top, right + lift * 0.8, right]
    outline = np.vstack([np.array(upper), jaw[::-1]])  # over the top left→right, back along the jaw
    return np.round(outline).astype(np.int32)


def _worn_low(lm: np.ndarray, jaw: np.ndarray, style: MaskStyle) -> np.ndarray:
    """A mask pulled down: its top edge below the nose (under_nose) or below the lower lip (chin)."""
    if style.worn == "under_nose":
        top = lm[33] + style.low * (lm[51] - lm[33])
        side = 1  # the top edge meets the jaw between points 3 and 4 (13 and 12)
    elif style.worn == "chin":
        top = lm[57] + style.low * (lm[8] - lm[57])
        side = 3  # between points 5 and 6 (11 and 10)
    else:
        raise ValueError(f"unknown way of wearing a mask {style.worn!r}; expected one of {WORN}")
    left = jaw[side] + 0.5 * (jaw[side + 1] - jaw[side])
    right = jaw[-1 - side] + 0.5 * (jaw[-2 - side] - jaw[-1 - side])
    upper = [left, (left + top) / 2, top, (right + top) / 2, right]
    below = jaw[side + 1 : len(jaw) - 1 - side]
    outline = np.vstack([np.array(upper), below[::-1]])
    return np.round(outline).astype(np.int32)


def draw_mask(bgr: np.ndarray, landmarks: np.ndarray, style: MaskStyle) -> np.ndarray:
    """A copy of ``bgr`` with the mask painted on (the input is left untouched)."""
    out = bgr.copy()
    poly = mask_polygon(landmarks, style)
    region = np.zeros(bgr.shape[:2], np.uint8)
    cv2.fillPoly(region, [poly], 255, lineType=cv2.LINE_AA)
    y0, y1 = int(poly[:, 1].min()), int(poly[:, 1].max())
    rows = np.arange(bgr.shape[0], dtype=np.float32)
    gradient = 1.0 - style.shade * np.clip((rows - y0) / max(y1 - y0, 1), 0, 1)
    paint = np.empty_like(bgr, dtype=np.float32)
    paint[:] = np.array(style.colour, np.float32)
    paint *= gradient[:, None, None]
    if style.pleats:
        height = max(y1 - y0, 1)
        for k in (0.3, 0.5, 0.7):
            y = int(y0 + k * height)
            cv2.line(
                paint, (0, y), (bgr.shape[1] - 1, y), tuple(0.8 * c for c in style.colour), 1, cv2.LINE_AA
            )
    alpha = (region.astype(np.float32) / 255.0)[:, :, None]
    out = (out.astype(np.float32) * (1 - alpha) + np.clip(paint, 0, 255) * alpha).astype(np.uint8)
    return out
