"""Keeps one source delivering: reads in its own thread into a latest-frame slot, reconnects with
exponential backoff, declares the camera offline after a stall, and reports every status change."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edged.capture.config import SupervisorConfig
from edged.capture.slot import LatestFrameSlot
from edged.capture.source import FrameSource, SourceError
from edged.health.heartbeat import Heartbeats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraStatus:
    camera: str
    state: str  # "online" | "offline" | "ended"
    reason: str
    reconnects: int

    @property
    def online(self) -> bool:
        return self.state == "online"


StatusListener = Callable[[CameraStatus], None]


class CaptureSupervisor:
    def __init__(
        self,
        source: FrameSource,
        cfg: SupervisorConfig,
        on_status: StatusListener | None = None,
        heartbeats: Heartbeats | None = None,
        name: str | None = None,
    ):
        self.name = name or source.name  # how the camera is called in status, logs and heartbeats
        self.source = source
        self.cfg = cfg
        self.slot = LatestFrameSlot()
        self.on_status = on_status
        self.heartbeats = heartbeats
        self.reconnects = 0
        self.last_frame_at: float | None = None
        self._state = "offline"
        self._reason = "not started"
        self._reported = False  # the first status is always reported, even "offline" (never started)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.name}", daemon=True)

    @property
    def status(self) -> CameraStatus:
        return CameraStatus(self.name, self._state, self._reason, self.reconnects)

    @property
    def dropped(self) -> int:
        return self.slot.dropped

    @property
    def delivered(self) -> int:
        return self.slot.delivered

    def _set(self, state: str, reason: str) -> None:
        if state == self._state and reason == self._reason:
            return
        changed = state != self._state or not self._reported
        self._state, self._reason = state, reason
        if not changed:
            return
        self._reported = True
        (log.info if state != "offline" else log.warning)("camera %s %s: %s", self.name, state, reason)
        if self.on_status is not None:
            try:
                self.on_status(self.status)
            except Exception:  # a listener's bug must not stop capture
                log.exception("camera status listener failed")

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout)
        self.slot.close()
        self.source.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _beat(self) -> None:
        if self.heartbeats is not None:
            self._hb.beat()

    def _run(self) -> None:
        cfg = self.cfg
        if self.heartbeats is not None:
            # the reader loop never blocks longer than one read (or one backoff step) between beats
            self._hb = self.heartbeats.register(
                f"capture.{self.name}", cfg.read_timeout_s + cfg.backoff_max_s + 5.0
            )
        backoff = cfg.backoff_initial_s
        try:
            while not self._stop.is_set():
                self._beat()
                try:
                    self.source.open()
                except SourceError as exc:
                    self._set("offline", str(exc))
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2.0, cfg.backoff_max_s)
                    self.reconnects += 1
                    continue
                outcome = self._read_until_lost()
                self.source.close()
                if outcome == "ended":
                    self._set("ended", "end of file")
                    return
                if outcome == "stopped":
                    return
                if outcome == "delivered":
                    backoff = cfg.backoff_initial_s  # it worked for a while: start the backoff again
                self._stop.wait(backoff)
                backoff = min(backoff * 2.0, cfg.backoff_max_s)
                self.reconnects += 1
        finally:
            if self.heartbeats is not None:
                self.heartbeats.unregister(f"capture.{self.name}")
            self.slot.close()

    def _read_until_lost(self) -> str:
        """Read frames until the source fails or stalls; "ended", "stopped", "delivered" or "failed"."""
        cfg = self.cfg
        opened_at = time.monotonic()
        got_any = False
        while not self._stop.is_set():
            self._beat()
            try:
                frame = self.source.read(cfg.read_timeout_s)
            except SourceError as exc:
                self._set("offline", str(exc))
                return "delivered" if got_any else "failed"
            now = time.monotonic()
            if frame is None:
                if self.source.ended:
                    return "ended"
                since = self.last_frame_at if got_any and self.last_frame_at else opened_at
                if now - since > cfg.stall_s:
                    self._set("offline", f"no frame for {now - since:.1f} s (stalled)")
                    return "delivered" if got_any else "failed"
                continue
            got_any = True
            self.last_frame_at = now
            self.slot.put(frame)
            self._set("online", "frames arriving")
        return "stopped"
