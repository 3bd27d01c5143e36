"""The point-pair file read by ``edged calibrate registration``.

YAML (or JSON)::

    rgb_size: [1280, 720]         # width, height of the RGB frames
    thermal_size: [160, 120]
    calibrated_distance_m: 1.0    # distance of the target (e.g. a heated checkerboard) from the cameras
    baseline_m: 0.03              # distance between the two lenses (for the parallax report)
    thermal_hfov_deg: 57          # horizontal field of view of the thermal camera
    pairs:                        # x_rgb, y_rgb, x_thermal, y_thermal
      - [412.0, 233.5, 51.2, 38.9]
      ...
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from edged.config.base import StrictModel
from edged.config.loader import load_model


class PointPairsFile(StrictModel):
    rgb_size: tuple[int, int]
    thermal_size: tuple[int, int]
    calibrated_distance_m: float = Field(default=1.0, gt=0.05, le=20.0)
    baseline_m: float = Field(default=0.0, ge=0.0, le=2.0)
    thermal_hfov_deg: float = Field(default=57.0, gt=1.0, lt=179.0)
    pairs: list[tuple[float, float, float, float]] = Field(default=..., min_length=4)

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        arr = np.asarray(self.pairs, dtype=np.float64)
        return arr[:, :2], arr[:, 2:]


def read_point_pairs(path: Path) -> PointPairsFile:
    """Raises :class:`edged.config.ConfigError` with ``FILE:LINE: message`` lines when the file is wrong."""
    return load_model(PointPairsFile, path)
