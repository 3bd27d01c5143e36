from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edged.capture.config import CamerasConfig, FileSourceConfig, V4l2SourceConfig
from edged.capture.opencv_source import OpenCvSource
from edged.capture.slot import LatestFrameSlot
from edged.capture.source import Frame, SourceError


def write_clip(path: Path, frames: int = 10, fps: float = 50.0) -> None:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    assert w.isOpened()
    for i in range(frames):
        img = np.full((48, 64, 3), i * 20 % 256, np.uint8)
        w.write(img)
    w.release()


def test_file_source_reads_every_frame_then_ends(tmp_path: Path) -> None:
    clip = tmp_path / "c.avi"
    write_clip(clip)
    src = OpenCvSource(FileSourceConfig(path=clip, realtime=False))
    src.open()
    got = []
    while (f := src.read(1.0)) is not None:
        got.append(f)
    assert src.ended
    assert [f.index for f in got] == list(range(10))
    assert got[0].image.shape == (48, 64, 3) and got[0].image.dtype == np.uint8
    assert src.fps == pytest.approx(50.0)
    src.close()


def test_realtime_file_is_paced_at_its_frame_rate(tmp_path: Path) -> None:
    clip = tmp_path / "c.avi"
    write_clip(clip, frames=6, fps=20.0)
    src = OpenCvSource(FileSourceConfig(path=clip, realtime=True))
    opened = time.monotonic()
    src.open()
    stamps = []
    while (f := src.read(1.0)) is not None:
        stamps.append(f.timestamp)
    # the 6th frame is due 5/20 s after the open: a paced source never delivers it sooner (however slow
    # the machine is, it can only be later)
    assert len(stamps) == 6 and stamps[-1] - opened >= 5 / 20.0


def test_looping_file_starts_again(tmp_path: Path) -> None:
    clip = tmp_path / "c.avi"
    write_clip(clip, frames=3)
    src = OpenCvSource(FileSourceConfig(path=clip, realtime=False, loop=True))
    src.open()
    indices = [f.index for f in (src.read(1.0) for _ in range(8)) if f is not None]
    assert not src.ended and indices[:4] == [0, 1, 2, 0]


def test_missing_inputs_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        OpenCvSource(FileSourceConfig(path=tmp_path / "nope.mp4")).open()
    with pytest.raises(SourceError, match="/dev/video-missing does not exist"):
        OpenCvSource(V4l2SourceConfig(device="/dev/video-missing")).open()
    bad = tmp_path / "junk.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(SourceError, match="cannot open"):
        OpenCvSource(FileSourceConfig(path=bad)).open()
    with pytest.raises(SourceError, match="before open"):
        OpenCvSource(FileSourceConfig(path=bad)).read(0.1)


def test_config_variants_are_chosen_by_type() -> None:
    cfg = CamerasConfig.model_validate({"rgb": {"type": "rtsp", "url": "rtsp://cam/stream"}})
    assert cfg.rgb is not None and cfg.rgb.type == "rtsp"
    with pytest.raises(ValueError):
        CamerasConfig.model_validate({"rgb": {"type": "rtsp", "url": "http://cam"}})
    with pytest.raises(ValueError):
        CamerasConfig.model_validate({"rgb": {"type": "usb"}})


def frame(i: int) -> Frame:
    return Frame(np.zeros((2, 2, 3), np.uint8), time.monotonic(), i)


def test_slot_keeps_only_the_newest_and_counts_drops() -> None:
    slot = LatestFrameSlot()
    for i in range(5):
        slot.put(frame(i))
    got = slot.take(0.0)
    assert got is not None and got.index == 4
    assert slot.take(0.0) is None
    assert (slot.delivered, slot.dropped) == (5, 4)
    slot.put(frame(5))
    assert slot.take(0.0) is not None
    assert slot.dropped == 4  # taken in time: no drop


def test_looping_file_that_disappears_fails_like_a_camera(tmp_path: Path) -> None:
    clip = tmp_path / "c.avi"
    write_clip(clip, frames=2)
    src = OpenCvSource(FileSourceConfig(path=clip, realtime=False, loop=True))
    src.open()
    assert src.read(1.0) is not None and src.read(1.0) is not None
    clip.unlink()
    with pytest.raises(SourceError, match="does not exist"):
        src.read(1.0)


def test_jetson_camera_without_gstreamer_opencv_says_so() -> None:
    from edged.capture.gstreamer import opencv_has_gstreamer

    cfg = CamerasConfig.model_validate({"rgb": {"type": "jetson-csi", "sensor_id": 0}})
    assert cfg.rgb is not None
    src = OpenCvSource(cfg.rgb)
    if opencv_has_gstreamer():
        pytest.skip("this OpenCV has GStreamer: the refusal path does not apply")
    with pytest.raises(SourceError, match="needs OpenCV built with GStreamer"):
        src.open()
