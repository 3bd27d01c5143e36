"""IoU tracker: follows each face from frame to frame so that a person is decided once, not per frame.

Each track keeps its best few observations by quality (the frames worth embedding) and the time of its
first usable frame (where decision latency starts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edged.vision.faces import Face


@dataclass
class Observation:
    face: Face
    frame: np.ndarray  # the BGR frame the face came from (liveness needs the surroundings)
    timestamp: float  # monotonic seconds
    index: int  # frame index
    quality: float  # Quality.score(), 0 when unknown
    used: bool = False  # already embedded / checked


@dataclass
class Track:
    id: int
    box: np.ndarray
    first_seen: float
    last_seen: float
    hits: int = 1
    misses: int = 0
    first_usable: float | None = None  # time of the first frame good enough to identify
    best: list[Observation] = field(default_factory=list)  # best first
    latest: Observation | None = None
    used_quality: float | None = None  # best quality among the observations already used
    attempts: int = 0

    def observe(self, obs: Observation, keep: int) -> None:
        self.latest = obs
        self.box = obs.face.box
        self.last_seen = obs.timestamp
        usable = obs.face.quality is None or obs.face.quality.ok
        if not usable:
            return
        if self.first_usable is None:
            self.first_usable = obs.timestamp
        self.best.append(obs)
        self.best.sort(key=lambda o: o.quality, reverse=True)
        while len(self.best) > keep:
            self.best.pop()

    def next_candidate(self, min_gain: float) -> Observation | None:
        """The best unused observation, if it beats every used one by ``min_gain`` (or none was used)."""
        for o in self.best:
            if o.used:
                continue
            if self.used_quality is None or o.quality >= self.used_quality + min_gain:
                return o
            return None
        return None

    def mark_used(self, obs: Observation) -> None:
        obs.used = True
        self.attempts += 1
        self.used_quality = obs.quality if self.used_quality is None else max(self.used_quality, obs.quality)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, float(x2 - x1)) * max(0.0, float(y2 - y1))
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


class IouTracker:
    """Greedy IoU association; a face that moved further than IoU allows may still match by centre
    distance (relative to its size), which covers people walking fast towards the camera."""

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_misses: int = 10,
        keep_best: int = 3,
        max_centre_shift: float = 0.5,
    ):
        self.iou_threshold = iou_threshold
        self.max_misses = max_misses
        self.keep_best = keep_best
        self.max_centre_shift = max_centre_shift
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def _affinity(self, t: Track, f: Face, index: int) -> float:
        v = iou(t.box, f.box)
        if v >= self.iou_threshold:
            return 1.0 + v
        tc = (t.box[:2] + t.box[2:]) / 2.0
        fc = (f.box[:2] + f.box[2:]) / 2.0
        size = max(float(t.box[2] - t.box[0]), float(t.box[3] - t.box[1]), 1.0)
        shift = float(np.linalg.norm(tc - fc)) / size
        # frames the source produced since this track was last seen (dropped or faceless): a person moves
        # further in more frames, so the allowed shift grows with the gap, up to three frames' worth
        last = t.latest.index if t.latest is not None else index - 1
        gap = min(max(index - last, 1), 3)
        limit = self.max_centre_shift * gap
        return (1.0 - shift / limit) if shift <= limit else 0.0

    def update(
        self, faces: list[Face], frame: np.ndarray, timestamp: float, index: int
    ) -> tuple[list[Track], list[Track]]:
        """Associate this frame's faces; returns (tracks seen in this frame, tracks that just ended)."""
        pairs = sorted(
            (
                (self._affinity(t, f, index), tid, fi)
                for tid, t in self.tracks.items()
                for fi, f in enumerate(faces)
            ),
            reverse=True,
        )
        used_t: set[int] = set()
        used_f: set[int] = set()
        seen: list[Track] = []
        for score, tid, fi in pairs:
            if score <= 0.0 or tid in used_t or fi in used_f:
                continue
            used_t.add(tid)
            used_f.add(fi)
            t = self.tracks[tid]
            t.hits += 1
            t.misses = 0
            t.observe(self._obs(faces[fi], frame, timestamp, index), self.keep_best)
            seen.append(t)
        for fi, f in enumerate(faces):
            if fi in used_f:
                continue
            t = Track(self._next_id, f.box, timestamp, timestamp)
            self._next_id += 1
            t.observe(self._obs(f, frame, timestamp, index), self.keep_best)
            self.tracks[t.id] = t
            seen.append(t)
        ended: list[Track] = []
        for tid in list(self.tracks):
            if any(t.id == tid for t in seen):
                continue
            t = self.tracks[tid]
            t.misses += 1
            if t.misses > self.max_misses:
                ended.append(self.tracks.pop(tid))
        return seen, ended

    def flush(self) -> list[Track]:
        """End every track (the source ended or the daemon stops)."""
        ended = list(self.tracks.values())
        self.tracks.clear()
        return ended

    @staticmethod
    def _obs(face: Face, frame: np.ndarray, timestamp: float, index: int) -> Observation:
        q = face.quality.score() if face.quality is not None else 0.0
        return Observation(face, frame, timestamp, index, q)
