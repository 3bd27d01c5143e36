"""Config of thermal screening (owned by the thermal issue; extend here)."""

from __future__ import annotations

from edged.config.base import StrictModel


class ThermalConfig(StrictModel):
    enabled: bool = False
