"""Config of the camera sources and of the capture supervisor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from edged.capture.gstreamer import JetsonCsiSourceConfig, JetsonRtspSourceConfig, JetsonUsbSourceConfig
from edged.config.base import StrictModel


class _OpenCvCommon(StrictModel):
    width: int | None = Field(default=None, ge=16, le=8192, description="ask the device for this width")
    height: int | None = Field(default=None, ge=16, le=8192)
    fps: float | None = Field(
        default=None, gt=0.0, le=240.0, description="ask the device for this frame rate"
    )


class V4l2SourceConfig(_OpenCvCommon):
    type: Literal["v4l2"] = "v4l2"
    device: str = Field(default="/dev/video0", description="device node (or its index, e.g. '0')")
    fourcc: str | None = Field(default=None, min_length=4, max_length=4, description="e.g. MJPG")


class GStreamerSourceConfig(_OpenCvCommon):
    type: Literal["gstreamer"] = "gstreamer"
    pipeline: str = Field(..., min_length=1, description="a GStreamer launch string ending in appsink")


class RtspSourceConfig(_OpenCvCommon):
    type: Literal["rtsp"] = "rtsp"
    url: str = Field(..., pattern=r"^rtsps?://", description="never logged (it may hold credentials)")
    transport: Literal["tcp", "udp"] = "tcp"


class FileSourceConfig(_OpenCvCommon):
    type: Literal["file"] = "file"
    path: Path
    realtime: bool = Field(
        default=True, description="pace frames at the file's own frame rate (as a camera would)"
    )
    loop: bool = Field(default=False, description="start again at the end instead of ending")


OpenCvSourceConfig = V4l2SourceConfig | GStreamerSourceConfig | RtspSourceConfig | FileSourceConfig
JetsonSourceConfig = JetsonCsiSourceConfig | JetsonUsbSourceConfig | JetsonRtspSourceConfig
# jetson-csi / jetson-usb / jetson-rtsp: edged.capture.gstreamer builds their pipeline (hardware decode, VIC)
RgbSourceConfig = Annotated[OpenCvSourceConfig | JetsonSourceConfig, Field(discriminator="type")]


class SupervisorConfig(StrictModel):
    read_timeout_s: float = Field(
        default=1.0, gt=0.0, le=30.0, description="one read waits at most this long"
    )
    stall_s: float = Field(
        default=2.0, gt=0.0, le=120.0, description="no frame for this long = camera offline"
    )
    backoff_initial_s: float = Field(default=0.5, gt=0.0, le=60.0)
    backoff_max_s: float = Field(default=10.0, gt=0.0, le=600.0)


class CamerasConfig(StrictModel):
    rgb: RgbSourceConfig | None = Field(
        default=None, description="the visible-light camera; none = no camera"
    )
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig)
