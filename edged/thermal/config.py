"""Config of thermal screening: source, RGB→thermal registration, blackbody reference, measurement,
skin→core offsets, fever decision (absolute or relative) and thermal liveness."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from edged.capture.radiometric_config import RadiometricSourceConfig
from edged.config.base import StrictModel

Site = Literal["inner_canthus", "forehead", "face_max"]


class RegistrationConfig(StrictModel):
    """Homography mapping RGB pixels to thermal pixels, as printed by ``edged calibrate registration``."""

    homography: list[list[float]] = Field(default=..., description="3×3, RGB (x, y, 1) → thermal (x, y, 1)")
    rgb_size: tuple[int, int] = Field(
        default=..., description="[width, height] of the RGB frames it was made for"
    )
    thermal_size: tuple[int, int] = Field(default=..., description="[width, height] of the thermal frames")
    calibrated_distance_m: float = Field(
        default=1.0, gt=0.05, le=20.0, description="the depth where it is exact"
    )

    @field_validator("homography")
    @classmethod
    def _three_by_three(cls, value: list[list[float]]) -> list[list[float]]:
        matrix = np.asarray(value, dtype=np.float64)
        if matrix.shape != (3, 3) or not np.isfinite(matrix).all():
            raise ValueError("must be 3 rows of 3 finite numbers")
        if abs(float(np.linalg.det(matrix))) < 1e-12:
            raise ValueError("is singular (cannot map points)")
        return value

    @field_validator("rgb_size", "thermal_size")
    @classmethod
    def _positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 8:
            raise ValueError("width and height must be at least 8 pixels")
        return value


class ReferenceConfig(StrictModel):
    """A blackbody of known temperature inside the thermal field of view (thermal pixel rectangle)."""

    x: int = Field(default=..., ge=0)
    y: int = Field(default=..., ge=0)
    width: int = Field(default=..., ge=1)
    height: int = Field(default=..., ge=1)
    set_temperature_c: float = Field(
        default=37.0, ge=20.0, le=50.0, description="36–37 °C is best (Wang 2023)"
    )
    max_spread_c: float = Field(
        default=0.4, gt=0.0, le=5.0, description="p95−p5 inside the patch; more = occluded"
    )
    max_offset_c: float = Field(
        default=5.0, gt=0.0, le=20.0, description="|set − measured| beyond this = not seen"
    )
    max_step_c: float = Field(
        default=0.3, gt=0.0, le=5.0, description="jump from the previous frame = unstable"
    )


class MeasurementConfig(StrictModel):
    min_face_pixels: int = Field(
        default=150, ge=1, description="fewer thermal pixels on the face = no number"
    )
    min_canthus_pixels: int = Field(
        default=4, ge=1, description="per eye; ≈4×4 px is the standard's guidance"
    )
    canthus_radius: float = Field(
        default=0.15, gt=0.0, le=0.5, description="canthus region, × inter-ocular distance"
    )
    hot_spot_px: int = Field(default=3, ge=1, le=9, description="robust maximum = max of this k×k local mean")
    fov_margin_px: float = Field(
        default=1.0, ge=0.0, description="landmarks this close to the edge count as outside"
    )
    valid_range_c: tuple[float, float] = Field(
        default=(-40.0, 150.0), description="values outside = bad frame"
    )


def _physionet_flir_offsets() -> dict[Site, float]:
    return {"inner_canthus": 1.22, "face_max": 0.94, "forehead": 1.58}


class CoreConfig(StrictModel):
    """Skin→core: a constant offset per site (Wang et al. 2022); defaults fitted on PhysioNet (FLIR)."""

    site_offsets_c: dict[Site, float] = Field(default_factory=_physionet_flir_offsets)

    @field_validator("site_offsets_c")
    @classmethod
    def _all_sites(cls, value: dict[str, float]) -> dict[str, float]:
        missing = {"inner_canthus", "face_max", "forehead"} - set(value)
        if missing:
            raise ValueError(f"offset missing for {', '.join(sorted(missing))}")
        if any(not -5.0 <= v <= 10.0 for v in value.values()):
            raise ValueError("offsets must lie within −5 … 10 °C")
        return value


class FeverConfig(StrictModel):
    mode: Literal["absolute", "relative"] = "absolute"
    threshold_c: float = Field(
        default=37.5, ge=35.0, le=42.0, description="on the estimated core temperature"
    )
    relative_delta_c: float = Field(
        default=1.0, gt=0.0, le=5.0, description="alarm above the running average + this"
    )
    relative_window: int = Field(default=10, ge=3, le=1000, description="people in the running average")
    relative_trim: int = Field(default=1, ge=0, description="highest and lowest dropped from each side")
    relative_min_people: int = Field(default=5, ge=1, description="before this many, decide in absolute mode")

    @model_validator(mode="after")
    def _trim_fits(self) -> FeverConfig:
        if 2 * self.relative_trim >= self.relative_window:
            raise ValueError("relative_trim removes the whole window")
        return self


class LivenessConfig(StrictModel):
    """A printed photo is at room temperature; a phone screen is warm but flat."""

    min_skin_c: float = Field(default=30.0, ge=10.0, le=40.0)
    max_skin_c: float = Field(default=43.0, ge=35.0, le=50.0)
    min_face_spread_c: float = Field(
        default=1.5, ge=0.0, le=10.0, description="p95−p5 on a real face is 2–6 °C"
    )


class ThermalConfig(StrictModel):
    enabled: bool = False
    source: RadiometricSourceConfig | None = Field(
        default=None, description="the thermal camera; none = no screening"
    )
    registration: RegistrationConfig | None = None
    reference: ReferenceConfig | None = Field(
        default=None, description="blackbody; none = uncorrected readings"
    )
    measurement: MeasurementConfig = Field(default_factory=MeasurementConfig)
    core: CoreConfig = Field(default_factory=CoreConfig)
    fever: FeverConfig = Field(default_factory=FeverConfig)
    liveness: LivenessConfig = Field(default_factory=LivenessConfig)

    @model_validator(mode="after")
    def _reference_in_frame(self) -> ThermalConfig:
        ref, reg = self.reference, self.registration
        if ref is not None and reg is not None:
            width, height = reg.thermal_size
            if ref.x + ref.width > width or ref.y + ref.height > height:
                raise ValueError(f"reference patch lies outside the {width}x{height} thermal frame")
        if self.enabled and self.source is None:
            raise ValueError("thermal screening is enabled but no thermal source is configured")
        return self
