"""Blackbody reference: a patch of known temperature in every thermal frame gives that frame's offset.

The camera's own reading drifts with its temperature (up to about 1 °C across an ambient range); the
reference cancels it (Wang et al., Sensors 2023: within 0.12 °C). A reference that is out of frame,
occluded (non-uniform or far from its set point) or jumping from one frame to the next (slow drift is
fine) is a fault: no corrected reading is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from edged.thermal.config import ReferenceConfig

ReferenceStatus = Literal["ok", "out_of_frame", "occluded", "unstable", "bad_values"]


@dataclass(frozen=True)
class ReferenceReading:
    status: ReferenceStatus
    offset_c: float | None  # add to the frame's readings; None unless status is ok
    measured_c: float | None
    detail: str = ""


class BlackbodyReference:
    def __init__(self, config: ReferenceConfig):
        self.config = config
        self._previous: float | None = None

    def update(self, image_c: np.ndarray, remember: bool = True) -> ReferenceReading:
        """Read the patch in this frame; call once per thermal frame, in order. ``remember=False`` judges a
        frame older than the last one seen against the history without moving it."""
        c = self.config
        height, width = image_c.shape[:2]
        if c.x + c.width > width or c.y + c.height > height:
            return ReferenceReading(
                "out_of_frame",
                None,
                None,
                f"patch ends at ({c.x + c.width}, {c.y + c.height}), frame is {width}x{height}",
            )
        patch = image_c[c.y : c.y + c.height, c.x : c.x + c.width]
        if not np.isfinite(patch).all():
            return ReferenceReading("bad_values", None, None, "non-finite values in the reference patch")
        measured = float(np.median(patch))
        spread = float(np.percentile(patch, 95) - np.percentile(patch, 5))
        if spread > c.max_spread_c:
            return ReferenceReading("occluded", None, measured, f"patch not uniform (spread {spread:.2f} °C)")
        if abs(c.set_temperature_c - measured) > c.max_offset_c:
            return ReferenceReading(
                "occluded",
                None,
                measured,
                f"patch reads {measured:.2f} °C, set to {c.set_temperature_c:.2f} °C",
            )
        previous = self._previous if self._previous is not None else measured
        if remember:
            self._previous = measured
        if abs(measured - previous) > c.max_step_c:
            return ReferenceReading("unstable", None, measured, f"patch jumped {measured - previous:+.2f} °C")
        return ReferenceReading("ok", c.set_temperature_c - measured, measured)
