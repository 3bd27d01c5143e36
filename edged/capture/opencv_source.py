"""RGB cameras through OpenCV: a V4L2 device, a GStreamer launch string, an RTSP stream or a video file."""

from __future__ import annotations

import logging
import os
import threading
import time

import cv2
import numpy as np

from edged.capture.config import (
    FileSourceConfig,
    GStreamerSourceConfig,
    RgbSourceConfig,
    RtspSourceConfig,
    V4l2SourceConfig,
)
from edged.capture.gstreamer import (
    GStreamerError,
    JetsonCsiSourceConfig,
    JetsonRtspSourceConfig,
    JetsonUsbSourceConfig,
    opencv_has_gstreamer,
    pipeline_for,
)
from edged.capture.source import Frame, FrameSource, SourceError
from edged.config.secrets import SecretError

log = logging.getLogger(__name__)


class OpenCvSource(FrameSource):
    """One ``cv2.VideoCapture``. ``read`` blocks in OpenCV; the supervisor's timeout covers hangs.

    A file is paced at its own frame rate when ``realtime`` is set, so that replaying a clip
    behaves like a camera (frames not taken in time are superseded, not queued).
    """

    def __init__(self, cfg: RgbSourceConfig, name: str = "rgb"):
        self.cfg = cfg
        self.name = name
        self._cap: cv2.VideoCapture | None = None
        self._index = 0
        self._ended = False
        self._fps = 0.0
        self._t0 = 0.0
        self._lock = threading.Lock()

    def describe(self) -> str:
        cfg = self.cfg
        if isinstance(cfg, V4l2SourceConfig):
            return f"v4l2 {cfg.device}"
        if isinstance(cfg, GStreamerSourceConfig):
            return "gstreamer pipeline"
        if isinstance(cfg, RtspSourceConfig):
            return "rtsp stream"  # the URL may hold credentials: never logged
        if isinstance(cfg, FileSourceConfig):
            return f"file {cfg.path}"
        return f"{cfg.type} camera"

    def _open_capture(self) -> cv2.VideoCapture:
        cfg = self.cfg
        if isinstance(cfg, V4l2SourceConfig):
            if not cfg.device.isdigit() and not os.path.exists(cfg.device):
                raise SourceError(f"{self.name}: {cfg.device} does not exist")
            target: str | int = int(cfg.device) if cfg.device.isdigit() else cfg.device
            cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
            if cfg.fourcc:
                cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*cfg.fourcc))
        elif isinstance(cfg, GStreamerSourceConfig):
            cap = cv2.VideoCapture(cfg.pipeline, cv2.CAP_GSTREAMER)
        elif isinstance(cfg, RtspSourceConfig):
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", f"rtsp_transport;{cfg.transport}")
            cap = cv2.VideoCapture(cfg.url, cv2.CAP_FFMPEG)
        elif isinstance(cfg, (JetsonCsiSourceConfig, JetsonUsbSourceConfig, JetsonRtspSourceConfig)):
            cap = self._open_jetson(cfg)
        else:
            if not cfg.path.is_file():
                raise SourceError(f"{self.name}: video file {cfg.path} does not exist")
            cap = cv2.VideoCapture(str(cfg.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.name}: cannot open {self.describe()}")
        if isinstance(cfg, (V4l2SourceConfig, RtspSourceConfig, GStreamerSourceConfig)):
            if cfg.width:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
            if cfg.height:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
            if cfg.fps:
                cap.set(cv2.CAP_PROP_FPS, cfg.fps)
        return cap

    def _open_jetson(
        self, cfg: JetsonCsiSourceConfig | JetsonUsbSourceConfig | JetsonRtspSourceConfig
    ) -> cv2.VideoCapture:
        if not opencv_has_gstreamer():
            raise SourceError(f"{self.name}: {cfg.type} needs OpenCV built with GStreamer (JetPack's OpenCV)")
        try:
            pipeline = pipeline_for(cfg)
        except (GStreamerError, SecretError) as exc:
            raise SourceError(f"{self.name}: {exc}") from None
        return cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)

    def open(self) -> None:
        with self._lock:
            self._close_locked()
            self._cap = self._open_capture()
            self._index = 0
            self._ended = False
            fps = self.cfg.fps or float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
            self._fps = fps if 0.0 < fps < 1000.0 else 25.0
            self._t0 = time.monotonic()
        log.info("%s: opened %s", self.name, self.describe())

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def ended(self) -> bool:
        return self._ended

    def _pace(self, timeout: float) -> bool:
        """For a real-time file: wait until this frame is due. False if it is not due within ``timeout``."""
        due = self._t0 + self._index / self._fps
        wait = due - time.monotonic()
        if wait > timeout:
            time.sleep(timeout)
            return False
        if wait > 0:
            time.sleep(wait)
        return True

    def read(self, timeout: float) -> Frame | None:
        with self._lock:
            cap = self._cap
            if cap is None:
                raise SourceError(f"{self.name}: read before open")
            if self._ended:
                return None
            realtime = isinstance(self.cfg, FileSourceConfig) and self.cfg.realtime
            if realtime and not self._pace(timeout):
                return None
            ok, image = cap.read()
            if not ok or image is None:
                if isinstance(self.cfg, FileSourceConfig):
                    if self.cfg.loop and self._index > 0:
                        # reopen rather than seek: a file that was replaced or removed behaves like a camera
                        cap.release()
                        self._cap = None
                        self._cap = self._open_capture()
                        self._index, self._t0 = 0, time.monotonic()
                        return None
                    self._ended = True
                    return None
                raise SourceError(f"{self.name}: {self.describe()} stopped delivering frames")
            frame = Frame(image=np.ascontiguousarray(image), timestamp=time.monotonic(), index=self._index)
            self._index += 1
            return frame

    def _close_locked(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()


def create_rgb_source(cfg: RgbSourceConfig, name: str = "rgb") -> FrameSource:
    return OpenCvSource(cfg, name)
