"""The supervisor against sources that fail the way cameras do (no camera device exists here)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from edged.capture.config import FileSourceConfig, SupervisorConfig
from edged.capture.opencv_source import OpenCvSource
from edged.capture.source import Frame, FrameSource, SourceError
from edged.capture.supervisor import CameraStatus, CaptureSupervisor
from edged.health import Heartbeats
from tests.unit.capture.test_sources import write_clip

FAST = SupervisorConfig(read_timeout_s=0.05, stall_s=0.3, backoff_initial_s=0.05, backoff_max_s=0.2)


def wait_for(cond, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


class Recorder:
    def __init__(self) -> None:
        self.states: list[CameraStatus] = []
        self.lock = threading.Lock()

    def __call__(self, s: CameraStatus) -> None:
        with self.lock:
            self.states.append(s)

    def names(self) -> list[str]:
        with self.lock:
            return [s.state for s in self.states]


def test_camera_unplugged_and_back(tmp_path: Path) -> None:
    clip = tmp_path / "cam.avi"
    write_clip(clip, frames=5)
    rec = Recorder()
    src = OpenCvSource(FileSourceConfig(path=clip, realtime=False, loop=True), name="rgb")

    class Unpluggable(FrameSource):
        """A real (looping file) source behind a plug: unplugged, reads and opens fail like a gone device."""

        name = "rgb"
        plugged = True

        def open(self) -> None:
            if not self.plugged:
                raise SourceError("rgb: /dev/video0 does not exist")
            src.open()

        def read(self, timeout: float) -> Frame | None:
            if not self.plugged:
                raise SourceError("rgb: device gone")
            return src.read(timeout)

        def close(self) -> None:
            src.close()

    dev = Unpluggable()
    sup = CaptureSupervisor(dev, FAST, rec)
    sup.start()
    try:
        assert wait_for(lambda: sup.status.online)
        dev.plugged = False
        assert wait_for(lambda: rec.names()[-1:] == ["offline"])
        assert "gone" in rec.states[-1].reason or "does not exist" in rec.states[-1].reason
        before = sup.reconnects
        assert wait_for(lambda: sup.reconnects >= before + 2)  # keeps trying, with backoff
        dev.plugged = True
        assert wait_for(lambda: sup.status.online)
        assert rec.names()[:3] == ["online", "offline", "online"]
    finally:
        sup.stop()
    assert not sup.running


class StallingSource(FrameSource):
    """Delivers a few frames, then nothing (a hung USB camera), until reopened."""

    name = "rgb"

    def __init__(self) -> None:
        self.opens = 0
        self.sent = 0

    def open(self) -> None:
        self.opens += 1
        self.sent = 0

    def read(self, timeout: float) -> Frame | None:
        if self.sent >= 3:
            time.sleep(timeout)
            return None
        self.sent += 1
        return Frame(np.zeros((4, 4, 3), np.uint8), time.monotonic(), self.sent - 1)

    def close(self) -> None:
        pass


def test_stall_is_detected_and_the_source_reopened() -> None:
    rec = Recorder()
    src = StallingSource()
    beats = Heartbeats()
    sup = CaptureSupervisor(src, FAST, rec, beats)
    sup.start()
    try:
        assert wait_for(lambda: "offline" in rec.names())
        assert "stalled" in [s for s in rec.states if s.state == "offline"][0].reason
        assert wait_for(lambda: src.opens >= 2)
        assert beats.names() == ["capture.rgb"] and beats.stale() == []
    finally:
        sup.stop()
    assert beats.names() == []


def test_file_end_is_reported_and_frames_not_taken_are_dropped(tmp_path: Path) -> None:
    clip = tmp_path / "c.avi"
    write_clip(clip, frames=10)
    rec = Recorder()
    sup = CaptureSupervisor(OpenCvSource(FileSourceConfig(path=clip, realtime=False)), FAST, rec)
    sup.start()
    assert wait_for(lambda: not sup.running)
    assert rec.names() == ["online", "ended"]
    last = sup.slot.take(0.0)
    assert last is not None and last.index == 9
    assert sup.delivered == 10 and sup.dropped == 9  # nobody consumed: all but the newest were dropped


def test_a_camera_that_never_starts_is_reported_at_once_with_its_reason(tmp_path: Path) -> None:
    rec = Recorder()
    src = OpenCvSource(FileSourceConfig(path=tmp_path / "no-such-camera.avi", realtime=False), name="rgb")
    sup = CaptureSupervisor(src, FAST, rec)
    sup.start()
    try:
        assert wait_for(lambda: rec.names()[:1] == ["offline"])
        assert rec.states[0].reason != "not started" and "no-such-camera" in rec.states[0].reason
    finally:
        sup.stop()
