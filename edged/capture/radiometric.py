"""Radiometric ``FrameSource`` kinds: each frame's image is float32 °C of shape (H, W).

* :class:`Y16UvcSource`: a UVC thermal camera in Y16 (FLIR Lepton on PureThermal) through OpenCV/V4L2;
  flat-field-correction frames (closed shutter: a uniform image) are dropped and counted;
* :class:`FileSequenceSource`: FLIR R-JPEGs or Fluke CSV exports, one frame per file;
* :class:`RawReplaySource`: a recorded ``.npz`` sequence, paced at its recorded intervals.

:func:`open_radiometric_source` builds one from its config.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edged.capture.radiometric_config import (
    FlirRjpegSourceConfig,
    FlukeCsvSourceConfig,
    RadiometricSourceConfig,
    RawReplaySourceConfig,
    Y16UvcSourceConfig,
)
from edged.capture.radiometric_files import read_fluke_csv, read_raw_sequence
from edged.capture.radiometric_rjpeg import RjpegError, decode_rjpeg
from edged.capture.source import Frame, FrameSource, SourceError

KELVIN_OFFSET = 273.15


def y16_to_celsius(raw: np.ndarray, kelvin_per_count: float) -> np.ndarray:
    """TLinear Y16 counts (centi- or decikelvin) → °C."""
    if raw.dtype != np.uint16:
        raise SourceError(f"expected 16-bit Y16 data, got {raw.dtype}")
    return (raw.astype(np.float32) * np.float32(kelvin_per_count) - np.float32(KELVIN_OFFSET)).astype(
        np.float32
    )


def y16_frame(raw: np.ndarray, width: int, height: int) -> np.ndarray:
    """OpenCV gives Y16 either as (H, W) uint16 or, with some backends, as the raw byte buffer."""
    if raw.dtype == np.uint8 and raw.size == width * height * 2:
        raw = raw.reshape(-1).view("<u2")
    if raw.dtype != np.uint16 or raw.size != width * height:
        raise SourceError(
            f"frame of {raw.size} {raw.dtype} values, expected {width}x{height} Y16 "
            "(is the FOURCC supported?)"
        )
    return raw.reshape(height, width)


def is_ffc_frame(image_c: np.ndarray, previous: np.ndarray | None, uniform_std_c: float) -> bool:
    """A flat-field correction shows the closed shutter (a near-uniform frame) or freezes the last frame."""
    if float(np.std(image_c)) <= uniform_std_c:
        return True
    return (
        previous is not None and previous.shape == image_c.shape and bool(np.array_equal(previous, image_c))
    )


class Y16UvcSource(FrameSource):
    def __init__(self, config: Y16UvcSourceConfig):
        self.config = config
        self.name = f"y16_uvc:{config.device}"
        self._cap: cv2.VideoCapture | None = None
        self._index = 0
        self._previous: np.ndarray | None = None
        self.dropped_ffc = 0

    def open(self) -> None:
        dev: int | str = int(self.config.device) if self.config.device.isdigit() else self.config.device
        cap = cv2.VideoCapture(dev, cv2.CAP_V4L2)
        if not cap.isOpened():
            raise SourceError(f"cannot open thermal camera {self.config.device}")
        # The order matters: FOURCC first, then disable RGB conversion, or OpenCV hands back 8-bit frames.
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc("Y", "1", "6", " "))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
        cap.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        self._cap = cap
        self._index = 0
        self._previous = None

    def read(self, timeout: float) -> Frame | None:
        if self._cap is None:
            raise SourceError(f"{self.name}: read before open")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok, raw = self._cap.read()
            if not ok or raw is None:
                raise SourceError(f"{self.name}: camera stopped delivering frames")
            image = y16_to_celsius(
                y16_frame(np.asarray(raw), self.config.width, self.config.height),
                self.config.kelvin_per_count,
            )
            if is_ffc_frame(image, self._previous, self.config.ffc_uniform_std_c):
                self.dropped_ffc += 1
                self._previous = image
                continue
            self._previous = image
            frame = Frame(image=image, timestamp=time.monotonic(), index=self._index)
            self._index += 1
            return frame
        return None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _file_list(path: Path, suffix: str) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == suffix)
    elif path.is_file():
        files = [path]
    else:
        raise SourceError(f"{path} does not exist")
    if not files:
        raise SourceError(f"no {suffix} files in {path}")
    return files


class FileSequenceSource(FrameSource):
    """One radiometric frame per file, read in name order."""

    def __init__(
        self, name: str, files: list[Path], decode: Callable[[Path], np.ndarray], loop: bool = False
    ):
        self.name = name
        self._files = files
        self._decode = decode
        self._loop = loop
        self._pos = 0
        self._index = 0
        self._ended = False

    def open(self) -> None:
        self._pos = 0
        self._index = 0
        self._ended = False

    def read(self, timeout: float) -> Frame | None:
        if self._pos >= len(self._files):
            if not self._loop:
                self._ended = True
                return None
            self._pos = 0
        path = self._files[self._pos]
        self._pos += 1
        try:
            image = self._decode(path)
        except RjpegError as exc:
            raise SourceError(str(exc)) from None
        frame = Frame(image=image, timestamp=time.monotonic(), index=self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        self._pos = len(self._files)

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def current_file(self) -> Path | None:
        return self._files[self._pos - 1] if self._pos else None


class RawReplaySource(FrameSource):
    def __init__(self, config: RawReplaySourceConfig):
        self.config = config
        self.name = f"raw_replay:{config.path}"
        self._frames: np.ndarray | None = None
        self._stamps: np.ndarray | None = None
        self._pos = 0
        self._index = 0
        self._start_wall = 0.0
        self._ended = False

    def open(self) -> None:
        self._frames, self._stamps = read_raw_sequence(self.config.path)
        self._pos = 0
        self._index = 0
        self._ended = False
        self._start_wall = time.monotonic()

    def read(self, timeout: float) -> Frame | None:
        if self._frames is None or self._stamps is None:
            raise SourceError(f"{self.name}: read before open")
        if self._pos >= len(self._frames):
            if not self.config.loop:
                self._ended = True
                return None
            self._pos = 0
            self._start_wall = time.monotonic()
        if self.config.realtime:
            due = self._start_wall + float(self._stamps[self._pos] - self._stamps[0])
            wait = due - time.monotonic()
            if wait > timeout:
                time.sleep(max(timeout, 0.0))
                return None
            if wait > 0:
                time.sleep(wait)
        frame = Frame(image=self._frames[self._pos].copy(), timestamp=time.monotonic(), index=self._index)
        self._pos += 1
        self._index += 1
        return frame

    def close(self) -> None:
        self._frames = None
        self._stamps = None

    @property
    def ended(self) -> bool:
        return self._ended


def open_radiometric_source(config: RadiometricSourceConfig) -> FrameSource:
    """The source for ``config`` (not yet opened)."""
    if isinstance(config, Y16UvcSourceConfig):
        return Y16UvcSource(config)
    if isinstance(config, FlirRjpegSourceConfig):
        emissivity = config.emissivity
        return FileSequenceSource(
            f"flir_rjpeg:{config.path}",
            _file_list(config.path, ".jpg"),
            lambda p: decode_rjpeg(p, emissivity)[0],
            config.loop,
        )
    if isinstance(config, FlukeCsvSourceConfig):
        return FileSequenceSource(
            f"fluke_csv:{config.path}", _file_list(config.path, ".csv"), read_fluke_csv, config.loop
        )
    return RawReplaySource(config)
