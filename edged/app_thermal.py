"""The thermal camera as the lane's temperature probe: its own supervised source, the newest frame kept,
each face measured on the thermal frame nearest in time to the RGB frame it came from."""

from __future__ import annotations

import logging
import threading

from edged.capture.config import SupervisorConfig
from edged.capture.source import Frame
from edged.capture.supervisor import CaptureSupervisor, StatusListener
from edged.health.heartbeat import Heartbeats
from edged.thermal.config import ThermalConfig
from edged.vision.faces import Face

log = logging.getLogger(__name__)

MAX_SKEW_S = 0.5  # a thermal frame further than this from the RGB frame is not used for it


class ThermalFeed:
    def __init__(
        self,
        cfg: ThermalConfig,
        supervisor_cfg: SupervisorConfig,
        on_status: StatusListener | None = None,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        from edged.capture.radiometric import open_radiometric_source
        from edged.thermal.measure import ThermalScreener

        if cfg.source is None:
            raise ValueError("thermal.enabled needs thermal.source")
        source = open_radiometric_source(cfg.source)
        self.screener = ThermalScreener(cfg)
        self.capture = CaptureSupervisor(source, supervisor_cfg, on_status, heartbeats, name="thermal")
        self._latest: Frame | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread = threading.Thread(target=self._run, name="thermal-feed", daemon=True)
        self.measured = 0
        self.unmeasured: dict[str, int] = {}

    def start(self) -> None:
        self.capture.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.capture.stop()
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self.capture.slot.take(0.2)
            if frame is None:
                if self.capture.slot.closed:
                    return
                continue
            self.screener.observe_frame(frame)
            with self._lock:
                self._latest = frame
            self._first.set()

    def wait_first_frame(self, timeout_s: float) -> bool:
        """Block until the thermal camera delivered a frame (so both cameras start together)."""
        return self._first.wait(timeout_s)

    def measure(self, face: Face, rgb_timestamp: float) -> float | None:
        with self._lock:
            frame = self._latest
        if frame is None or face.landmarks is None or abs(frame.timestamp - rgb_timestamp) > MAX_SKEW_S:
            return None
        m = self.screener.measure(face.landmarks, frame)
        status = "not_skin" if m.status == "ok" and m.live_skin is False else m.status
        if status != "ok" or m.temperature_c is None:
            # e.g. the face is outside the thermal view, too few pixels, or what is there is not warm skin
            self.unmeasured[status] = self.unmeasured.get(status, 0) + 1
            return None
        self.measured += 1
        return float(m.temperature_c)
