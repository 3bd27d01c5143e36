"""Passages and faults as the console shows them, taken from the daemon's event stream (a listener on
the same fan-out that feeds the outbox). No face image is kept unless snapshots are switched on
(``mqtt.snapshots.enabled``, the same opt-in as the MQTT snapshots): then each decision keeps the face
crop of its track from the live view, and it is JPEG-encoded only when a page asks for it."""

from __future__ import annotations

import base64
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

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
    def __init__(self, passages_kept: int, crops: Callable[[int], np.ndarray | None] | None = None) -> None:
        self.crops = crops  # track id -> its face in the latest frame; None: no face images
        self._faces: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self._seq = 0
        self.passages: deque[dict[str, Any]] = deque(maxlen=passages_kept)
        self.faults: deque[dict[str, Any]] = deque(maxlen=FAULTS_KEPT)

    def on_event(self, kind: str, payload: dict[str, Any]) -> None:
        """Called on the publishing thread for every event; must be quick and must not raise."""
        if kind in PASSAGE_KINDS:
            entry = {k: payload[k] for k in PASSAGE_FIELDS if k in payload}
            face = None
            if (
                self.crops is not None
                and kind != "passage.passed"
                and isinstance(payload.get("track_id"), int)
            ):
                face = self.crops(payload["track_id"])
            with self._lock:
                self._seq += 1
                self.passages.append({"seq": self._seq, "kind": kind, "at": time.time(), **entry})
                if face is not None:
                    self._faces[self._seq] = face
                oldest = self.passages[0]["seq"]
                for seq in [s for s in self._faces if s < oldest]:
                    del self._faces[seq]
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
            out = [dict(p) for p in self.passages if p["seq"] > seq]
            faces = {p["seq"]: self._faces.get(p["seq"]) for p in out}
        for p in out:
            face = faces[p["seq"]]
            if face is not None:
                ok, buf = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 80])
                if ok:
                    p["face_jpeg_b64"] = base64.b64encode(buf.tobytes()).decode()
        return out

    def last_faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.faults)
