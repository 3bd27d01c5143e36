"""GStreamer launch strings for the cameras of a Jetson, for OpenCV's ``CAP_GSTREAMER`` backend.

Every pipeline converts on the VIC (``nvvidconv``) to BGRx in system memory; one ``videoconvert`` drops
the x to give the BGR that OpenCV's appsink accepts. The appsink keeps only the newest frame
(``drop=true max-buffers=1 sync=false``): a late frame is dropped, never queued.

- CSI (MIPI) cameras: ``nvarguscamerasrc`` (the ISP through libargus), NV12 in NVMM memory.
- USB (UVC) cameras: ``v4l2src``; MJPEG is decoded by ``nvv4l2decoder mjpeg=1`` (hardware) or
  ``jpegdec`` (CPU, for modules without a JPEG decoder), raw YUYV goes straight to ``nvvidconv``.
- RTSP cameras: ``rtspsrc`` → depayload → parse → ``nvv4l2decoder`` (NVDEC hardware decode).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from edged.config.base import StrictModel
from edged.config.secrets import SecretRef

APPSINK = "appsink drop=true max-buffers=1 sync=false"


class GStreamerError(Exception):
    pass


class _Size(StrictModel):
    width: int = Field(1280, ge=16, le=8192)
    height: int = Field(720, ge=16, le=8192)
    fps: int = Field(30, ge=1, le=240)
    output_width: int | None = Field(None, ge=16, le=8192, description="scale on the VIC (default: width)")
    output_height: int | None = Field(None, ge=16, le=8192)


class JetsonCsiSourceConfig(_Size):
    type: Literal["jetson-csi"] = "jetson-csi"
    sensor_id: int = Field(0, ge=0, le=7)
    flip_method: int = Field(0, ge=0, le=7, description="nvvidconv flip-method: 0 none, 2 rotate 180, ...")


class JetsonUsbSourceConfig(_Size):
    type: Literal["jetson-usb"] = "jetson-usb"
    device: str = Field("/dev/video0", pattern=r"^/dev/video[0-9]{1,3}$")
    format: Literal["mjpeg", "yuyv"] = "mjpeg"
    mjpeg_decoder: Literal["nvv4l2decoder", "jpegdec"] = "nvv4l2decoder"


class JetsonRtspSourceConfig(_Size):
    type: Literal["jetson-rtsp"] = "jetson-rtsp"
    url: str = Field(..., description="rtsp://host[:port]/path, without credentials")
    codec: Literal["h264", "h265"] = "h264"
    latency_ms: int = Field(200, ge=0, le=10000, description="rtspsrc jitter buffer")
    transport: Literal["tcp", "udp"] = "tcp"
    username: str | None = Field(None, pattern=r"^[^\s\"'\\]{1,128}$")
    password: SecretRef | None = Field(None, description="from a credential, file or env; never in the YAML")

    @field_validator("url")
    @classmethod
    def _plain_url(cls, url: str) -> str:
        if not re.fullmatch(r"rtsps?://[^\s\"'\\@/]+(/[^\s\"'\\]*)?", url):
            raise ValueError("url must be rtsp[s]://host[:port]/path with no credentials, spaces or quotes")
        return url


JetsonSourceConfig = Annotated[
    JetsonCsiSourceConfig | JetsonUsbSourceConfig | JetsonRtspSourceConfig, Field(discriminator="type")
]


def _scaled(cfg: _Size) -> str:
    w = cfg.output_width or cfg.width
    h = cfg.output_height or cfg.height
    return f"video/x-raw,width={w},height={h},format=BGRx ! videoconvert ! video/x-raw,format=BGR"


def csi_pipeline(cfg: JetsonCsiSourceConfig) -> str:
    return (
        f"nvarguscamerasrc sensor-id={cfg.sensor_id} ! "
        f"video/x-raw(memory:NVMM),width={cfg.width},height={cfg.height},"
        f"framerate={cfg.fps}/1,format=NV12 ! "
        f"nvvidconv flip-method={cfg.flip_method} ! {_scaled(cfg)} ! {APPSINK}"
    )


def usb_pipeline(cfg: JetsonUsbSourceConfig) -> str:
    caps = f"width={cfg.width},height={cfg.height},framerate={cfg.fps}/1"
    src = f"v4l2src device={cfg.device} io-mode=2"
    if cfg.format == "yuyv":
        decode = f"video/x-raw,format=YUY2,{caps} ! nvvidconv"
    elif cfg.mjpeg_decoder == "nvv4l2decoder":
        decode = f"image/jpeg,{caps} ! nvv4l2decoder mjpeg=1 ! nvvidconv"
    else:
        decode = f"image/jpeg,{caps} ! jpegdec ! videoconvert ! video/x-raw,format=I420 ! nvvidconv"
    return f"{src} ! {decode} ! {_scaled(cfg)} ! {APPSINK}"


def _gst_quote(value: str) -> str:
    if '"' in value or "\\" in value:
        raise GStreamerError("values with quotes or backslashes cannot be put in a launch string")
    return f'"{value}"'


def rtsp_pipeline(cfg: JetsonRtspSourceConfig, *, password: str | None = None) -> str:
    """``password`` is the secret's value, read by the caller; ``describe`` gives the loggable form."""
    auth = ""
    if cfg.username is not None:
        auth = f" user-id={_gst_quote(cfg.username)}"
        if password is not None:
            auth += f" user-pw={_gst_quote(password)}"
    codec = cfg.codec
    return (
        f"rtspsrc location={_gst_quote(cfg.url)} latency={cfg.latency_ms} protocols={cfg.transport}"
        f" drop-on-latency=true{auth} ! rtp{codec}depay ! {codec}parse ! nvv4l2decoder ! nvvidconv ! "
        f"{_scaled(cfg)} ! {APPSINK}"
    )


def pipeline_for(cfg: JetsonCsiSourceConfig | JetsonUsbSourceConfig | JetsonRtspSourceConfig) -> str:
    """The launch string for ``cfg``; an RTSP password is read from its secret here."""
    if isinstance(cfg, JetsonCsiSourceConfig):
        return csi_pipeline(cfg)
    if isinstance(cfg, JetsonUsbSourceConfig):
        return usb_pipeline(cfg)
    password = cfg.password.read_text() if cfg.password is not None else None
    return rtsp_pipeline(cfg, password=password)


def describe(cfg: JetsonCsiSourceConfig | JetsonUsbSourceConfig | JetsonRtspSourceConfig) -> str:
    """The launch string with any password replaced by where it comes from: safe to log."""
    if isinstance(cfg, JetsonRtspSourceConfig):
        shown = f"<{cfg.password.describe()}>" if cfg.password is not None else None
        if shown is not None:
            return rtsp_pipeline(cfg, password=shown)
        return rtsp_pipeline(cfg)
    return pipeline_for(cfg)


def opencv_has_gstreamer(build_information: str | None = None) -> bool:
    """pip's OpenCV wheels are built without GStreamer; JetPack's OpenCV has it (docs/jetson.md)."""
    if build_information is None:
        import cv2

        build_information = cv2.getBuildInformation()
    match = re.search(r"^\s*GStreamer:\s*(\S+)", build_information, re.MULTILINE)
    return bool(match and match.group(1).upper().startswith("YES"))
