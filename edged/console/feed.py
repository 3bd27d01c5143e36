"""The live view: the vision thread hands over each frame and its tracks (a reference, no copy, no
drawing); a console request renders at most ``fps`` JPEGs a second from the latest one, on its own
thread, so the decisions never wait for the console."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

JPEG_QUALITY = 70
THERMAL_ALPHA = 0.35
COLOURS = {"grant": (60, 200, 60), "deny": (40, 40, 230), None: (0, 200, 255)}


@dataclass(frozen=True)
class TrackView:
    track_id: int
    box: tuple[float, float, float, float]
    decision: str | None  # "grant" | "deny" once decided
    person_id: str | None
    similarity: float | None
    mask: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "box": [round(v, 1) for v in self.box],
            "decision": self.decision,
            "person_id": self.person_id,
            "similarity": None if self.similarity is None else round(self.similarity, 3),
            "mask": self.mask,
        }


def describe(track: Any, case: Any) -> TrackView:
    """What the overlay shows of one track (its box, and the lane's case for it when there is one)."""
    verdict = getattr(case, "verdict", None)
    ev = getattr(case, "evidence", None)
    match = getattr(ev, "match", None)
    face = track.latest.face if track.latest is not None else None
    mask = face.mask.state if face is not None and face.mask is not None else getattr(ev, "mask_state", None)
    x1, y1, x2, y2 = (float(v) for v in track.box)
    return TrackView(
        track.id,
        (x1, y1, x2, y2),
        verdict.decision if verdict is not None else None,
        verdict.person_id if verdict is not None else None,
        float(match.similarity) if match is not None else None,
        mask,
    )


class LiveFeed:
    def __init__(
        self,
        fps: float,
        region: tuple[float, float, float, float],
        thermal: Any = None,
        registration: Any = None,
    ) -> None:
        self.period_s = 1.0 / fps
        self.region = region
        self.thermal = thermal
        self.registration = registration
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()
        self._image: np.ndarray | None = None
        self._tracks: list[TrackView] = []
        self._seq = 0
        self._stamp = 0.0
        self._drawn: deque[tuple[int, bytes, list[TrackView], float]] = deque(maxlen=4)
        self._drawn_at = 0.0
        self.rendered = 0

    def observe(self, image: np.ndarray, tracks: list[TrackView]) -> None:
        """On the vision thread: keep references only."""
        with self._lock:
            self._image = image
            self._tracks = tracks
            self._seq += 1
            self._stamp = time.time()

    def crop(self, track_id: int, margin: float = 0.2) -> np.ndarray | None:
        """A copy of the face of ``track_id`` in the latest frame (None if it is not in it)."""
        with self._lock:
            image, tracks = self._image, self._tracks
        track = next((t for t in tracks if t.track_id == track_id), None)
        if image is None or track is None:
            return None
        x1, y1, x2, y2 = track.box
        dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
        h, w = image.shape[:2]
        left, top = max(0, int(x1 - dx)), max(0, int(y1 - dy))
        right, bottom = min(w, int(x2 + dx)), min(h, int(y2 + dy))
        if right <= left or bottom <= top:
            return None
        return image[top:bottom, left:right].copy()

    def latest_image(self) -> np.ndarray | None:
        with self._lock:
            return None if self._image is None else self._image.copy()

    def state(self) -> dict[str, Any]:
        """The frame last drawn (drawn anew when due) and its tracks: what ``jpeg(seq)`` shows."""
        drawn = self._render()
        with self._lock:
            h, w = self._image.shape[:2] if self._image is not None else (0, 0)
        seq, _, tracks, stamp = drawn if drawn is not None else (0, b"", [], 0.0)
        return {
            "frame": seq,
            "at": stamp,
            "size": [w, h],
            "region": list(self.region),
            "thermal": self.thermal is not None and self.registration is not None,
            "tracks": [t.to_json() for t in tracks],
        }

    def jpeg(self, seq: int | None = None) -> bytes | None:
        """The drawn frame ``seq`` while it is still held, else the latest one (drawn anew when due)."""
        with self._render_lock:
            for held in self._drawn:
                if held[0] == seq:
                    return held[1]
        drawn = self._render()
        return None if drawn is None else drawn[1]

    def _render(self) -> tuple[int, bytes, list[TrackView], float] | None:
        """Draw the latest frame with its overlay, at most once every ``period_s``."""
        with self._render_lock:
            now = time.monotonic()
            last = self._drawn[-1] if self._drawn else None
            if last is not None and now - self._drawn_at < self.period_s:
                return last
            with self._lock:
                image, tracks, seq, stamp = self._image, list(self._tracks), self._seq, self._stamp
            if image is None:
                return None
            if last is not None and last[0] == seq:
                return last
            ok, buf = cv2.imencode(
                ".jpg", self._draw(image, tracks), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
            )
            if not ok:
                return last
            self._drawn.append((seq, buf.tobytes(), tracks, stamp))
            self._drawn_at = now
            self.rendered += 1
            return self._drawn[-1]

    def _draw(self, image: np.ndarray, tracks: list[TrackView]) -> np.ndarray:
        out = image.copy()
        h, w = out.shape[:2]
        overlay = self._thermal_overlay(w, h)
        if overlay is not None:
            out = cv2.addWeighted(out, 1.0 - THERMAL_ALPHA, overlay, THERMAL_ALPHA, 0.0)
        rx1, ry1, rx2, ry2 = self.region
        cv2.rectangle(
            out, (int(rx1 * w), int(ry1 * h)), (int(rx2 * w) - 1, int(ry2 * h) - 1), (255, 200, 0), 1
        )
        for t in tracks:
            colour = COLOURS.get(t.decision, COLOURS[None])
            x1, y1, x2, y2 = (int(v) for v in t.box)
            cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
            words = [f"#{t.track_id}", t.decision or "", t.person_id or "", t.mask or ""]
            if t.similarity is not None:
                words.append(f"{t.similarity:.2f}")
            label = " ".join(x for x in words if x)
            cv2.putText(
                out, label, (x1, max(12, y1 - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA
            )
        return out

    def _thermal_overlay(self, w: int, h: int) -> np.ndarray | None:
        """The latest thermal frame warped into RGB pixels by the configured registration, colour-mapped."""
        if self.thermal is None or self.registration is None:
            return None
        frame = getattr(self.thermal, "_latest", None)
        if frame is None:
            return None
        celsius = np.asarray(frame.image, np.float32)
        lo, hi = np.percentile(celsius, (2, 98))
        grey = np.clip((celsius - lo) / max(float(hi - lo), 1e-3) * 255.0, 0, 255).astype(np.uint8)
        matrix = np.asarray(self.registration.homography, np.float64)  # RGB → thermal
        warped = cv2.warpPerspective(grey, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        return cv2.applyColorMap(warped, cv2.COLORMAP_INFERNO)
