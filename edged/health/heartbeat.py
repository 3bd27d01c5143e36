"""Heartbeats: every loop beats; the systemd watchdog is fed only while all of them are fresh."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class Heartbeat:
    name: str
    max_age_s: float
    last: float

    def beat(self) -> None:
        self.last = time.monotonic()

    def age(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.last


class Heartbeats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._beats: dict[str, Heartbeat] = {}

    def register(self, name: str, max_age_s: float) -> Heartbeat:
        """A new (or renewed) heartbeat that counts as fresh from now."""
        with self._lock:
            hb = Heartbeat(name, max_age_s, time.monotonic())
            self._beats[name] = hb
            return hb

    def unregister(self, name: str) -> None:
        with self._lock:
            self._beats.pop(name, None)

    def stale(self, now: float | None = None) -> list[str]:
        """Names of heartbeats older than their limit, with their age; empty = all fresh."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return [
                f"{h.name} ({h.age(now):.1f} s)" for h in self._beats.values() if h.age(now) > h.max_age_s
            ]

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._beats)
