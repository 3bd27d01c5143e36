"""Passages and faults as the console shows them, taken from the daemon's event stream (a listener on
the same fan-out that feeds the outbox). No images are kept: the records carry no face crops."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

PASSAGE_KINDS = {"passage.granted", "passage.denied", "passage.timeout", "passage.passed"}
PASSAGE_FIELDS = (
    "track_id",
    "person_id",
    "name",
    "decision",
    "reasons",
    "alarms",
    "similarity",
    "masked_match",
    "mask_state",
    "liveness",
    "temperature_c",
    "latency_ms",
    "gate",
    "direction",
    "remote",
    "detail",
)
FAULTS_KEPT = 50


def is_fault(kind: str, payload: dict[str, Any]) -> bool:
    if kind.startswith("alarm.") or kind in ("gate.fail_state", "gate.link_down", "config.rejected"):
        return True
    return kind == "camera.status" and payload.get("state") != "online"


class Journal:
    def __init__(self, passages_kept: int) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self.passages: deque[dict[str, Any]] = deque(maxlen=passages_kept)
        self.faults: deque[dict[str, Any]] = deque(maxlen=FAULTS_KEPT)

    def on_event(self, kind: str, payload: dict[str, Any]) -> None:
        """Called on the publishing thread for every event; must be quick and must not raise."""
        if kind in PASSAGE_KINDS:
            entry = {k: payload[k] for k in PASSAGE_FIELDS if k in payload}
            with self._lock:
                self._seq += 1
                self.passages.append({"seq": self._seq, "kind": kind, "at": time.time(), **entry})
        elif is_fault(kind, payload):
            detail = {
                k: v
                for k, v in payload.items()
                if isinstance(v, (str, int, float, bool, list)) and k != "lane"
            }
            with self._lock:
                self.faults.append({"kind": kind, "at": time.time(), "detail": detail})

    def passages_after(self, seq: int) -> list[dict[str, Any]]:
        with self._lock:
            return [p for p in self.passages if p["seq"] > seq]

    def last_faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.faults)
