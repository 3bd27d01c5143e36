"""RGB→thermal registration: a homography estimated from point pairs, and the parallax it leaves.

A homography is exact for points on one plane only (the calibration target at ``calibrated_distance_m``).
A face at another depth Z is displaced in the thermal image by f·B·|1/Z − 1/Z₀| pixels (f the thermal focal
length in pixels, B the distance between the two lenses), which :func:`parallax_px` reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edged.thermal.config import RegistrationConfig


class RegistrationError(Exception):
    """Too few, degenerate or inconsistent point pairs."""


@dataclass(frozen=True)
class HomographyFit:
    matrix: np.ndarray  # (3, 3), normalised so matrix[2, 2] == 1
    rms_px: float  # reprojection error in thermal pixels over the given pairs
    max_px: float


def estimate_homography(rgb_points: np.ndarray, thermal_points: np.ndarray) -> HomographyFit:
    """Least-squares homography from ≥ 4 pairs (RGB pixel → thermal pixel)."""
    src = np.asarray(rgb_points, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(thermal_points, dtype=np.float64).reshape(-1, 2)
    if len(src) != len(dst):
        raise RegistrationError(f"{len(src)} RGB points but {len(dst)} thermal points")
    if len(src) < 4:
        raise RegistrationError(f"need at least 4 point pairs, got {len(src)}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise RegistrationError("point coordinates must be finite numbers")
    for name, pts in (("RGB", src), ("thermal", dst)):
        centred = pts - pts.mean(axis=0)
        if np.linalg.matrix_rank(centred, tol=1e-6 * max(1.0, float(np.abs(centred).max()))) < 2:
            raise RegistrationError(f"the {name} points are collinear: spread them over the field of view")
    matrix, _ = cv2.findHomography(src, dst, 0)
    if matrix is None or not np.isfinite(matrix).all() or abs(matrix[2, 2]) < 1e-12:
        raise RegistrationError("no homography fits these point pairs")
    matrix = matrix / matrix[2, 2]
    errors = np.linalg.norm(map_points(matrix, src) - dst, axis=1)
    return HomographyFit(matrix=matrix, rms_px=float(np.sqrt(np.mean(errors**2))), max_px=float(errors.max()))


def map_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
    return np.asarray(cv2.perspectiveTransform(pts, np.asarray(matrix, dtype=np.float64))).reshape(-1, 2)


def focal_px_from_fov(width_px: int, horizontal_fov_deg: float) -> float:
    return (width_px / 2.0) / math.tan(math.radians(horizontal_fov_deg) / 2.0)


def parallax_px(focal_px: float, baseline_m: float, calibrated_m: float, distance_m: float) -> float:
    return focal_px * baseline_m * abs(1.0 / distance_m - 1.0 / calibrated_m)


def usable_range_m(
    focal_px: float, baseline_m: float, calibrated_m: float, max_parallax_px: float
) -> tuple[float, float | None]:
    """Nearest and farthest depth whose parallax stays within ``max_parallax_px`` (None = unbounded)."""
    if baseline_m <= 0 or focal_px <= 0:
        return 0.0, None
    slack = max_parallax_px / (focal_px * baseline_m)
    near = 1.0 / (1.0 / calibrated_m + slack)
    inv_far = 1.0 / calibrated_m - slack
    return near, (1.0 / inv_far if inv_far > 0 else None)


class Registration:
    """Maps RGB landmarks into the thermal frame."""

    def __init__(self, config: RegistrationConfig):
        self.config = config
        self.matrix = np.asarray(config.homography, dtype=np.float64)
        self.thermal_size = config.thermal_size

    def to_thermal(self, rgb_points: np.ndarray) -> np.ndarray:
        return map_points(self.matrix, rgb_points)
