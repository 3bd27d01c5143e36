"""Config of the radiometric (thermal) sources; chosen by ``type:`` under ``thermal.source``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from edged.config.base import StrictModel


class Y16UvcSourceConfig(StrictModel):
    """A UVC thermal camera streaming Y16 (e.g. FLIR Lepton on a PureThermal board) through OpenCV/V4L2."""

    type: Literal["y16_uvc"] = "y16_uvc"
    device: str = Field(default="/dev/video1", description="device node (or its index, e.g. '1')")
    width: int = Field(default=160, ge=16, le=4096)
    height: int = Field(default=120, ge=16, le=4096)
    tlinear: Literal["centikelvin", "decikelvin"] = Field(
        default="centikelvin",
        description="TLinear resolution of the camera: 0.01 K (default) or 0.1 K per count",
    )
    ffc_uniform_std_c: float = Field(
        default=0.05,
        ge=0.0,
        le=5.0,
        description="a frame this uniform is the closed shutter of a flat-field correction",
    )

    @property
    def kelvin_per_count(self) -> float:
        return 0.01 if self.tlinear == "centikelvin" else 0.1


class FlirRjpegSourceConfig(StrictModel):
    """FLIR radiometric JPEG files: one file, or every ``*.jpg`` of a folder in name order."""

    type: Literal["flir_rjpeg"] = "flir_rjpeg"
    path: Path
    emissivity: float | None = Field(
        default=None, gt=0.0, le=1.0, description="override the file's emissivity"
    )
    loop: bool = False


class FlukeCsvSourceConfig(StrictModel):
    """Fluke thermogram CSV exports (UTF-16, °F or °C): one file or every ``*.csv`` of a folder."""

    type: Literal["fluke_csv"] = "fluke_csv"
    path: Path
    loop: bool = False


class RawReplaySourceConfig(StrictModel):
    """A recorded sequence (``.npz`` with ``frames_c`` (N, H, W) float32 °C and ``timestamps`` (N,) s)."""

    type: Literal["raw_replay"] = "raw_replay"
    path: Path
    realtime: bool = Field(default=True, description="pace frames at their recorded intervals")
    loop: bool = False


RadiometricSourceConfig = Annotated[
    Y16UvcSourceConfig | FlirRjpegSourceConfig | FlukeCsvSourceConfig | RawReplaySourceConfig,
    Field(discriminator="type"),
]
