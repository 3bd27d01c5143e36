"""Feeds the systemd watchdog only while every heartbeat is fresh: a hung loop gets the service restarted."""

from __future__ import annotations

import logging
import threading

from edged.health.heartbeat import Heartbeats
from edged.health.sdnotify import SdNotifier

log = logging.getLogger(__name__)


class WatchdogFeeder:
    def __init__(self, notifier: SdNotifier, heartbeats: Heartbeats, interval_s: float):
        self.notifier = notifier
        self.heartbeats = heartbeats
        self.interval_s = interval_s
        self.fed = 0
        self.withheld = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._last_stale: list[str] = []

    def start(self) -> None:
        self._thread.start()

    def tick(self) -> bool:
        """One check: feed if all heartbeats are fresh. Returns whether it fed."""
        stale = self.heartbeats.stale()
        if stale:
            self.withheld += 1
            if stale != self._last_stale:
                log.error("watchdog not fed: stale heartbeat %s", ", ".join(stale))
                self.notifier.status("stalled: " + ", ".join(stale))
            self._last_stale = stale
            return False
        if self._last_stale:
            log.info("all heartbeats fresh again")
            self.notifier.status("running")
        self._last_stale = []
        self.notifier.watchdog()
        self.fed += 1
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
