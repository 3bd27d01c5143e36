"""Config of the camera sources (extend here)."""

from __future__ import annotations

from edged.config.base import StrictModel


class CamerasConfig(StrictModel):
    pass
