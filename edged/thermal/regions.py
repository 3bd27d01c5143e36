"""Face regions in thermal pixels, derived from 68 iBUG landmarks already mapped into the thermal frame."""

from __future__ import annotations

import cv2
import numpy as np

JAW = list(range(0, 17))
BROWS = list(range(17, 27))
INNER_CANTHI = (39, 42)  # inner corners of the right and left eye
OUTER_CANTHI = (36, 45)
NOSE_BRIDGE, NOSE_TIP = 27, 30


def inter_ocular(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[OUTER_CANTHI[1]] - landmarks[OUTER_CANTHI[0]]))


def forehead_polygon(landmarks: np.ndarray) -> np.ndarray:
    """Brow line lifted by 0.6 × the nose-bridge length: the forehead band above the brows."""
    up = landmarks[NOSE_BRIDGE] - landmarks[NOSE_TIP]
    return np.vstack([landmarks[BROWS], (landmarks[BROWS] + 0.6 * up)[::-1]]).astype(np.float32)


def face_polygon(landmarks: np.ndarray) -> np.ndarray:
    """Jaw line closed over the forehead band (the whole face)."""
    up = landmarks[NOSE_BRIDGE] - landmarks[NOSE_TIP]
    top = (landmarks[BROWS] + 0.6 * up)[::-1]
    return np.vstack([landmarks[JAW], top]).astype(np.float32)


def polygon_mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return mask.astype(bool)


def disk_mask(shape: tuple[int, int], centre: np.ndarray, radius: float) -> np.ndarray:
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return np.asarray((xx - float(centre[0])) ** 2 + (yy - float(centre[1])) ** 2 <= radius**2, dtype=bool)
