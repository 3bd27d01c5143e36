"""Thermal liveness: a real face is warm (skin temperature) and structured (canthi and forehead warmer than
nose and cheeks). A printed photo sits at room temperature; a phone or tablet screen is warm but flat."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edged.thermal.config import LivenessConfig


@dataclass(frozen=True)
class LivenessResult:
    live_skin: bool
    reason: str  # why not, or "" when live


def check_skin(face_values_c: np.ndarray, hottest_c: float, config: LivenessConfig) -> LivenessResult:
    """``face_values_c``: corrected temperatures of every face pixel; ``hottest_c``: its robust maximum."""
    if hottest_c < config.min_skin_c:
        return LivenessResult(
            False, f"face at most {hottest_c:.1f} °C, colder than skin ({config.min_skin_c} °C)"
        )
    if hottest_c > config.max_skin_c:
        return LivenessResult(
            False, f"face reaches {hottest_c:.1f} °C, hotter than skin ({config.max_skin_c} °C)"
        )
    spread = float(np.percentile(face_values_c, 95) - np.percentile(face_values_c, 5))
    if spread < config.min_face_spread_c:
        return LivenessResult(
            False, f"face thermally flat (spread {spread:.2f} °C): a screen or a warm print"
        )
    return LivenessResult(True, "")
